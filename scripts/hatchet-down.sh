#!/usr/bin/env bash
# Stops the hatchet-lite engine that scripts/hatchet-up.sh started.
set -euo pipefail
state="${TASKHOST_STATE_DIR:-${TMPDIR:-/tmp}/taskhost-hatchet}"
if [ -f "$state/lite.pid" ]; then
	pid="$(cat "$state/lite.pid")"
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$state/lite.pid"
fi
