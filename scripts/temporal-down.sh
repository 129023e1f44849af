#!/usr/bin/env bash
# Stops the Temporal dev server that scripts/temporal-up.sh started.
set -euo pipefail
state="${TASKHOST_STATE_DIR:-${TMPDIR:-/tmp}/taskhost-temporal}"
if [ -f "$state/server.pid" ]; then
	kill "$(cat "$state/server.pid")" 2>/dev/null || true
	rm -f "$state/server.pid"
fi
