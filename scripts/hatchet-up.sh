#!/usr/bin/env bash
# Brings a real hatchet-lite engine (github.com/hatchet-dev/hatchet v0.104.7)
# up on 127.0.0.1:7077 from nothing, on the local PostgreSQL, and writes the
# client's environment to $TASKHOST_STATE_DIR/hatchet/env (default
# /tmp/taskhost-hatchet/env), which it also prints:
#
#   1. builds hatchet-migrate, hatchet-admin and hatchet-lite from the Go
#      module, once (about 7 minutes on 2 cores), into a cache outside the
#      checkout; the checksum database does not know
#      github.com/hatchet-dev/pgoutbox, so the module's own go.sum is used;
#   2. makes the PostgreSQL role hatchet and a fresh database hatchet
#      (max_connections raised to 200, as the engine opens about 67; fsync
#      and synchronous_commit off, for tests, about 3x faster);
#   3. migrates, writes a config (quickstart), creates a token, starts
#      hatchet-lite with an index.html stub (it panics without one);
#   4. waits until the tenant has its three partitions, assigning them at
#      once (the engine does it 10-30 s after start, and runs wait until).
#
#   scripts/hatchet-down.sh stops it.
set -euo pipefail

version=v0.104.7
tools="${TASKHOST_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskhost/tools}/hatchet-$version"
state="${TASKHOST_STATE_DIR:-${TMPDIR:-/tmp}/taskhost-hatchet}"
pg="postgres://postgres@127.0.0.1:5432"
psql_su() { psql "$pg/postgres?sslmode=disable" -v ON_ERROR_STOP=1 -qAt "$@"; }

# The stamp says the binaries carry their version (-X main.Version): the
# Go SDK falls back to a deprecated legacy worker registration for an engine
# that reports the source default, v0.1.0-alpha.0.
stamp="$tools/.built-v2"
if [ ! -f "$stamp" ] || [ ! -x "$tools/hatchet-lite" ] || [ ! -x "$tools/hatchet-admin" ] || [ ! -x "$tools/hatchet-migrate" ]; then
	echo "hatchet-up: building the hatchet $version engine commands (several minutes, once)" >&2
	scratch="$(mktemp -d)"
	(
		cd "$scratch"
		go mod init scratch >/dev/null 2>&1
		GONOSUMDB=github.com/hatchet-dev/pgoutbox GOFLAGS=-mod=mod go get "github.com/hatchet-dev/hatchet@$version" >/dev/null 2>&1 || true
		cat "$(go env GOMODCACHE)/github.com/hatchet-dev/hatchet@$version/go.sum" >>go.sum
		mkdir -p "$tools"
		GONOSUMDB=github.com/hatchet-dev/pgoutbox GOFLAGS=-mod=mod go build -ldflags "-X main.Version=$version" -o "$tools/" \
			github.com/hatchet-dev/hatchet/cmd/hatchet-migrate \
			github.com/hatchet-dev/hatchet/cmd/hatchet-admin \
			github.com/hatchet-dev/hatchet/cmd/hatchet-lite
	)
	touch "$stamp"
	rm -rf "$scratch"
fi

# A previous engine of ours goes first.
"$(dirname "$0")/hatchet-down.sh"

# PostgreSQL: settings, role, a fresh database.
restart=0
if [ "$(psql_su -c 'show max_connections')" -lt 200 ]; then
	psql_su -c "alter system set max_connections = 200"
	restart=1
fi
psql_su -c "alter system set fsync = off" -c "alter system set synchronous_commit = off"
if [ "$restart" = 1 ]; then
	version_pg=$(ls /etc/postgresql | sort -V | tail -1)
	pg_ctlcluster --skip-systemctl-redirect "$version_pg" main restart
	for _ in $(seq 1 50); do psql_su -c 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
else
	psql_su -c "select pg_reload_conf()" >/dev/null
fi
psql_su -c "do \$\$ begin if not exists (select from pg_roles where rolname = 'hatchet') then create role hatchet login password 'hatchet'; end if; end \$\$"
psql_su -c "drop database if exists hatchet with (force)" -c "create database hatchet owner hatchet"

mkdir -p "$state/static"
echo '<!doctype html><title>hatchet-lite</title>' >"$state/static/index.html"
export DATABASE_URL="postgresql://hatchet:hatchet@127.0.0.1:5432/hatchet?sslmode=disable"
export SERVER_MSGQUEUE_KIND=postgres SERVER_GRPC_INSECURE=t SERVER_GRPC_BIND_ADDRESS=127.0.0.1 SERVER_GRPC_PORT=7077
export SERVER_GRPC_BROADCAST_ADDRESS=127.0.0.1:7077 SERVER_INTERNAL_CLIENT_INTERNAL_GRPC_BROADCAST_ADDRESS=127.0.0.1:7077
export SERVER_AUTH_COOKIE_DOMAIN=localhost SERVER_AUTH_COOKIE_INSECURE=t SERVER_AUTH_SET_EMAIL_VERIFIED=t
export SERVER_URL=http://localhost:8888 LITE_STATIC_ASSET_DIR="$state/static" LITE_FRONTEND_PORT=8081 LITE_RUNTIME_PORT=8888
export SERVER_LOGGER_LEVEL=error SERVER_LOGGER_FORMAT=console DATABASE_LOGGER_LEVEL=error DATABASE_LOGGER_FORMAT=console

"$tools/hatchet-migrate" >"$state/migrate.log" 2>&1
rm -rf "$state/config"
"$tools/hatchet-admin" quickstart --skip certs --generated-config-dir "$state/config" --overwrite=false >"$state/quickstart.log" 2>&1
token="$("$tools/hatchet-admin" token create --config "$state/config" --name taskhost 2>/dev/null | tail -1)"
nohup "$tools/hatchet-lite" --config "$state/config" >"$state/lite.log" 2>&1 &
echo $! >"$state/lite.pid"

ready=0
for _ in $(seq 1 300); do
	if ! kill -0 "$(cat "$state/lite.pid")" 2>/dev/null; then
		echo "hatchet-up: hatchet-lite exited; its log:" >&2
		tail -50 "$state/lite.log" >&2
		exit 1
	fi
	if psql "$DATABASE_URL" -qAt -c 'select 1 from "ControllerPartition" limit 1' 2>/dev/null | grep -q 1 &&
		psql "$DATABASE_URL" -qAt -c 'select 1 from "SchedulerPartition" limit 1' 2>/dev/null | grep -q 1 &&
		psql "$DATABASE_URL" -qAt -c 'select 1 from "TenantWorkerPartition" limit 1' 2>/dev/null | grep -q 1; then
		psql "$DATABASE_URL" -qAt -c 'UPDATE "Tenant" SET "controllerPartitionId"=COALESCE("controllerPartitionId",(SELECT id FROM "ControllerPartition" LIMIT 1)), "workerPartitionId"=COALESCE("workerPartitionId",(SELECT id FROM "TenantWorkerPartition" LIMIT 1)), "schedulerPartitionId"=COALESCE("schedulerPartitionId",(SELECT id FROM "SchedulerPartition" LIMIT 1))' >/dev/null
		ready=1
		break
	fi
	sleep 0.2
done
if [ "$ready" != 1 ]; then
	echo "hatchet-up: the engine did not make its partitions within 60 s; log in $state/lite.log" >&2
	exit 1
fi
cat >"$state/env" <<ENV
HATCHET_CLIENT_TOKEN=$token
HATCHET_CLIENT_HOST_PORT=127.0.0.1:7077
HATCHET_CLIENT_TLS_STRATEGY=none
HATCHET_CLIENT_LOG_LEVEL=warn
ENV
cat "$state/env"
