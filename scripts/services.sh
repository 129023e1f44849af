#!/usr/bin/env bash
# Makes sure the servers the tests use are up: PostgreSQL on 127.0.0.1:5432
# (trust auth, user postgres). Uses a running one; else starts the
# installed cluster; else installs Debian's postgresql and starts it.
set -euo pipefail

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
