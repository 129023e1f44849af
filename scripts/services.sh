#!/usr/bin/env bash
# Makes sure the servers the tests use are up: Redis on 127.0.0.1:6379 and
# PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres). Uses running
# ones; else starts the installed ones; else installs Debian's packages and
# starts them.
set -euo pipefail

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! { command -v redis-cli >/dev/null && redis_up; }; then
	if ! command -v redis-server >/dev/null; then
		echo "services: installing Redis (apt-get)"
		(apt-get update -qq || true)
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
	fi
	echo "services: starting Redis"
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
	for _ in $(seq 1 50); do redis_up && break; sleep 0.1; done
	redis_up || { echo "services: Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
fi

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if command -v pg_isready >/dev/null && pg_up; then
	exit 0
fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
	echo "services: installing PostgreSQL (apt-get)"
	(apt-get update -qq || true)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -1)
conf=/etc/postgresql/$version/main
# Trust local connections on loopback, as the tests expect.
if ! grep -q "^host all all 127.0.0.1/32 trust" "$conf/pg_hba.conf"; then
	sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf/pg_hba.conf"
fi
echo "services: starting PostgreSQL $version"
pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main restart
for _ in $(seq 1 50); do
	pg_up && exit 0
	sleep 0.2
done
echo "services: PostgreSQL did not come up on 127.0.0.1:5432" >&2
exit 1
