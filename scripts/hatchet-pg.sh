# Sourced by hatchet-up.sh and hatchet-down.sh: where the engine's own
# PostgreSQL cluster lives ($state must be set), and its server binaries
# ($TASKHOST_PG_BIN, else the newest under /usr/lib/postgresql).
pgbin="${TASKHOST_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
pgdir="$state/pg"
pgdata="$pgdir/data"
pgrun="$pgdir/run"
