#!/usr/bin/env bash
# Brings a real hatchet-lite engine (github.com/hatchet-dev/hatchet v0.104.7)
# up from nothing, reachable on 127.0.0.1 only, on a PostgreSQL cluster of
# its own, and writes the client's environment to $state/env (state is
# $TASKHOST_STATE_DIR, default /tmp/taskhost-hatchet), which it also prints.
# It changes nothing of the machine's own servers: no ALTER SYSTEM, no
# pg_hba.conf edit, no role or database on the system's PostgreSQL.
#
#   1. builds hatchet-migrate, hatchet-admin and hatchet-lite from the Go
#      module, once (about 7 minutes on 2 cores), into a cache outside the
#      checkout; the checksum database does not know
#      github.com/hatchet-dev/pgoutbox, so the module's own go.sum is used;
#   2. a PostgreSQL cluster of its own, made with initdb (as the postgres
#      user) in $state/pg once and started with pg_ctl: 127.0.0.1:5434 only
#      ($TASKHOST_HATCHET_PG_PORT), its socket in $state/pg/run, trust on
#      its own pg_hba.conf, fsync, synchronous_commit and full_page_writes
#      off (a test cluster: about 3x faster), max_connections 200 (the
#      engine opens about 67); a fresh database hatchet each run;
#   3. migrates, writes a config (quickstart), creates a token;
#   4. starts hatchet-lite in a network namespace of its own, holding only
#      a loopback interface: its API (8080), static file server (8081),
#      reverse proxy (8888) and healthcheck (8733, turned off) bind every
#      interface with no setting to change it (cmd/hatchet-lite/main.go,
#      api/v1/server/run/run.go), so no address but the namespace's own
#      loopback can reach them. It reaches the cluster through its unix
#      socket. socat bridges the two ports a client needs, gRPC 7077 and
#      the REST API 8888, from 127.0.0.1 of this machine through unix
#      sockets in $state into the namespace;
#   5. waits until the tenant has its three partitions, assigning them at
#      once (the engine does it 10-30 s after start, and runs wait until);
#   6. checks with ss that every socket its processes listen on in this
#      machine's namespace is on 127.0.0.1, and that hatchet-lite listens on
#      none here; the namespace's own listeners go to $state/netns-listeners.
#
# It runs as root (unshare, nsenter, runuser). scripts/hatchet-down.sh stops
# the engine, the bridges and the cluster.
set -euo pipefail

version=v0.104.7
tools="${TASKHOST_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskhost/tools}/hatchet-$version"
state="${TASKHOST_STATE_DIR:-${TMPDIR:-/tmp}/taskhost-hatchet}"
pg_port="${TASKHOST_HATCHET_PG_PORT:-5434}"
grpc_port=7077
rest_port=8888
# shellcheck source=scripts/hatchet-pg.sh
. "$(dirname "$0")/hatchet-pg.sh"

fail() {
	echo "hatchet-up: $*" >&2
	exit 1
}

for cmd in unshare nsenter setsid runuser ss ip socat psql; do
	command -v "$cmd" >/dev/null || fail "$cmd is missing (util-linux, iproute2, socat, postgresql-client)"
done
[ "$(id -u)" = 0 ] || fail "run it as root: it starts the engine in a network namespace of its own and the cluster as the postgres user"
[ -x "$pgbin/initdb" ] || fail "no PostgreSQL server binaries in $pgbin (set TASKHOST_PG_BIN)"
case "$state" in *[[:space:]]*) fail "the state folder $state has a space in its path; set TASKHOST_STATE_DIR" ;; esac

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

# A previous engine of ours, and its cluster, go first.
"$(dirname "$0")/hatchet-down.sh"

for p in "$pg_port" "$grpc_port" "$rest_port"; do
	if [ -n "$(ss -ltnH "sport = :$p")" ]; then
		fail "port $p is taken on this machine ($(ss -ltnpH "sport = :$p" | head -1)); stop what holds it, or for the cluster set TASKHOST_HATCHET_PG_PORT"
	fi
done

# The cluster: made once, started each run, a fresh database each run.
mkdir -p "$state"
pgver="$("$pgbin/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')"
if [ "$(cat "$pgdata/PG_VERSION" 2>/dev/null)" != "$pgver" ]; then
	rm -rf "$pgdir"
	mkdir -p "$pgdata" "$pgrun"
	chown -R postgres:postgres "$pgdir"
	chmod 700 "$pgdata"
	runuser -u postgres -- test -w "$pgdata" ||
		fail "the postgres user cannot write $pgdata; set TASKHOST_STATE_DIR to a folder it can reach (not under /root)"
	runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -U hatchet -A trust -E UTF8 --locale=C >"$state/initdb.log" 2>&1 ||
		fail "initdb failed; its log is $state/initdb.log"
	printf '%s\n' '# taskhost hatchet-up.sh: its own cluster, on loopback and its socket only' \
		'local all all trust' 'host all all 127.0.0.1/32 trust' >"$pgdata/pg_hba.conf"
	chown postgres:postgres "$pgdata/pg_hba.conf"
fi
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdir/postgres.log" -w -t 30 -o "-c port=$pg_port \
-c listen_addresses=127.0.0.1 -c unix_socket_directories=$pgrun -c max_connections=200 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off" start >/dev/null || fail "the cluster did not start; its log is $pgdir/postgres.log"
pg="postgresql://hatchet@127.0.0.1:$pg_port"
PGOPTIONS="-c client_min_messages=warning" psql "$pg/postgres?sslmode=disable" -v ON_ERROR_STOP=1 -qAt -c "drop database if exists hatchet with (force)" -c "create database hatchet"

mkdir -p "$state/static"
echo '<!doctype html><title>hatchet-lite</title>' >"$state/static/index.html"
export DATABASE_URL="$pg/hatchet?sslmode=disable"
export SERVER_MSGQUEUE_KIND=postgres SERVER_GRPC_INSECURE=t SERVER_GRPC_BIND_ADDRESS=127.0.0.1 SERVER_GRPC_PORT=$grpc_port
export SERVER_GRPC_BROADCAST_ADDRESS=127.0.0.1:$grpc_port SERVER_INTERNAL_CLIENT_INTERNAL_GRPC_BROADCAST_ADDRESS=127.0.0.1:$grpc_port
export SERVER_AUTH_COOKIE_DOMAIN=localhost SERVER_AUTH_COOKIE_INSECURE=t SERVER_AUTH_SET_EMAIL_VERIFIED=t SERVER_HEALTHCHECK=f
export SERVER_URL=http://127.0.0.1:$rest_port LITE_STATIC_ASSET_DIR="$state/static" LITE_FRONTEND_PORT=8081 LITE_RUNTIME_PORT=$rest_port
export SERVER_LOGGER_LEVEL=error SERVER_LOGGER_FORMAT=console DATABASE_LOGGER_LEVEL=error DATABASE_LOGGER_FORMAT=console

"$tools/hatchet-migrate" >"$state/migrate.log" 2>&1 || fail "migrating failed; its log is $state/migrate.log"
rm -rf "$state/config"
"$tools/hatchet-admin" quickstart --skip certs --generated-config-dir "$state/config" --overwrite=false >"$state/quickstart.log" 2>&1
token="$("$tools/hatchet-admin" token create --config "$state/config" --name taskhost 2>/dev/null | tail -1)"

# The namespace: held by a sleep of its own, its loopback up.
setsid unshare --net sleep infinity </dev/null >/dev/null 2>&1 &
ns=$!
echo "$ns" >"$state/netns.pid"
for _ in $(seq 1 100); do
	[ "$(readlink "/proc/$ns/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
	sleep 0.02
done
[ "$(readlink "/proc/$ns/ns/net")" != "$(readlink /proc/self/ns/net)" ] || fail "no network namespace for the engine"
in_ns() { nsenter --target "$ns" --net -- "$@"; }
in_ns ip link set lo up

# The bridges: 127.0.0.1:PORT here -> $state/PORT.sock -> 127.0.0.1:PORT there.
: >"$state/bridge.pids"
for p in "$grpc_port" "$rest_port"; do
	setsid nsenter --target "$ns" --net -- socat "UNIX-LISTEN:$state/$p.sock,fork,unlink-early" "TCP:127.0.0.1:$p" </dev/null >>"$state/bridge.log" 2>&1 &
	echo $! >>"$state/bridge.pids"
	setsid socat "TCP-LISTEN:$p,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$state/$p.sock" </dev/null >>"$state/bridge.log" 2>&1 &
	echo $! >>"$state/bridge.pids"
done

DATABASE_URL="postgresql://hatchet@/hatchet?host=$pgrun&port=$pg_port&sslmode=disable" \
	setsid nsenter --target "$ns" --net -- "$tools/hatchet-lite" --config "$state/config" </dev/null >"$state/lite.log" 2>&1 &
lite=$!
echo "$lite" >"$state/lite.pid"

ready=0
for _ in $(seq 1 300); do
	kill -0 "$lite" 2>/dev/null || fail "hatchet-lite exited; its log: $(tail -50 "$state/lite.log")"
	if psql "$DATABASE_URL" -qAt -c 'select 1 from "ControllerPartition" limit 1' 2>/dev/null | grep -q 1 &&
		psql "$DATABASE_URL" -qAt -c 'select 1 from "SchedulerPartition" limit 1' 2>/dev/null | grep -q 1 &&
		psql "$DATABASE_URL" -qAt -c 'select 1 from "TenantWorkerPartition" limit 1' 2>/dev/null | grep -q 1; then
		psql "$DATABASE_URL" -qAt -c 'UPDATE "Tenant" SET "controllerPartitionId"=COALESCE("controllerPartitionId",(SELECT id FROM "ControllerPartition" LIMIT 1)), "workerPartitionId"=COALESCE("workerPartitionId",(SELECT id FROM "TenantWorkerPartition" LIMIT 1)), "schedulerPartitionId"=COALESCE("schedulerPartitionId",(SELECT id FROM "SchedulerPartition" LIMIT 1))' >/dev/null
		ready=1
		break
	fi
	sleep 0.2
done
[ "$ready" = 1 ] || fail "the engine did not make its partitions within 60 s; log in $state/lite.log"
for _ in $(seq 1 100); do
	[ -n "$(in_ns ss -ltnH "sport = :$grpc_port")" ] && [ -n "$(in_ns ss -ltnH "sport = :$rest_port")" ] && break
	sleep 0.1
done

# Loopback only: every listener of our processes in this namespace is on
# 127.0.0.1, the ones a client needs are there, and hatchet-lite has none.
in_ns ss -ltunpH >"$state/netns-listeners"
ours=" $(head -1 "$pgdata/postmaster.pid") $(tr '\n' ' ' <"$state/bridge.pids") "
here=0
while read -r proto _ _ _ local _ users; do
	for pid in $(grep -o 'pid=[0-9]*' <<<"$users" | cut -d= -f2); do
		if [ "$pid" = "$lite" ]; then
			fail "hatchet-lite listens on $proto $local outside its namespace"
		fi
		if [[ "$ours" == *" $pid "* ]]; then
			case "$local" in
			127.0.0.1:*) here=$((here + 1)) ;;
			*) fail "process $pid listens on $proto $local, not on loopback only" ;;
			esac
		fi
	done
done < <(ss -ltunpH)
for p in "$pg_port" "$grpc_port" "$rest_port"; do
	[ -n "$(ss -ltnH "src 127.0.0.1 and sport = :$p")" ] || fail "nothing listens on 127.0.0.1:$p"
done
[ "$here" -ge 3 ] || fail "found only $here loopback listeners of ours, want 3 (cluster, two bridges)"

cat >"$state/env" <<ENV
HATCHET_CLIENT_TOKEN=$token
HATCHET_CLIENT_HOST_PORT=127.0.0.1:$grpc_port
HATCHET_CLIENT_TLS_STRATEGY=none
HATCHET_CLIENT_LOG_LEVEL=warn
ENV
cat "$state/env"
