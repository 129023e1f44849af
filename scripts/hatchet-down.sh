#!/usr/bin/env bash
# Stops what scripts/hatchet-up.sh started: hatchet-lite, its bridges, the
# process holding its network namespace (the namespace goes with it) and
# its PostgreSQL cluster. The cluster's files stay for the next run.
set -euo pipefail
state="${TASKHOST_STATE_DIR:-${TMPDIR:-/tmp}/taskhost-hatchet}"
# shellcheck source=scripts/hatchet-pg.sh
. "$(dirname "$0")/hatchet-pg.sh"

# stop ends the process pid and the process group it leads (a bridge's
# forked copies), waiting up to 5 s before SIGKILL.
stop() {
	local pid=$1
	kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
}

for f in lite.pid bridge.pids netns.pid; do
	if [ -f "$state/$f" ]; then
		while read -r pid; do [ -n "$pid" ] && stop "$pid"; done <"$state/$f"
		rm -f "$state/$f"
	fi
done
rm -f "$state"/*.sock "$state/env"
if [ -f "$pgdata/postmaster.pid" ] && [ -x "$pgbin/pg_ctl" ]; then
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m fast -w -t 30 stop >/dev/null 2>&1 || true
fi
