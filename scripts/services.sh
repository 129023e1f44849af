#!/usr/bin/env bash
# Makes sure the servers the tests use are up: Redis on 127.0.0.1:6379 and
# PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres). Uses running
# ones; else starts the installed ones; else installs Debian's packages and
# starts them. It changes no server's configuration. The tests that need
# special settings start servers of their own (hatchet-up.sh's cluster,
# the fault tests' redis-server).
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
# Its configuration is the machine's: nothing here changes it. The tests
# connect as postgres over 127.0.0.1 without a password (trust, as this
# machine's server is set up); elsewhere set TASKHOST_TEST_POSTGRES.
echo "services: starting PostgreSQL $version"
pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main restart
for _ in $(seq 1 50); do
	pg_up && exit 0
	sleep 0.2
done
echo "services: PostgreSQL did not come up on 127.0.0.1:5432" >&2
exit 1
