#!/usr/bin/env bash
# Starts a Temporal dev server on 127.0.0.1:7233 for the tests, unless one
# already answers there. The Temporal CLI (v1.5.1, which embeds server
# 1.29) is installed once with go install into a cache outside the
# checkout; the server's history poll rates are raised from 20/s, at which a
# workflow crawls at 20 steps a second.
#
#   scripts/temporal-up.sh        # prints the address
#   scripts/temporal-down.sh      # stops the server this script started
set -euo pipefail

version=v1.5.1
tools="${TASKHOST_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskhost/tools}"
bin="$tools/temporal-$version"
state="${TASKHOST_STATE_DIR:-${TMPDIR:-/tmp}/taskhost-temporal}"
addr=127.0.0.1:7233

if [ ! -x "$bin" ]; then
	echo "temporal-up: installing the Temporal CLI $version (go install, a few minutes the first time)" >&2
	mkdir -p "$tools"
	gobin="$(mktemp -d)"
	GOBIN="$gobin" go install "github.com/temporalio/cli/cmd/temporal@$version"
	mv "$gobin/temporal" "$bin"
	rmdir "$gobin"
fi

healthy() { "$bin" operator cluster health --address "$addr" >/dev/null 2>&1; }

if healthy; then
	echo "$addr"
	exit 0
fi

mkdir -p "$state"
rate=1000
nohup "$bin" server start-dev --headless --ip 127.0.0.1 --port 7233 --log-level error \
	--dynamic-config-value "history.transferProcessorMaxPollRPS=$rate" \
	--dynamic-config-value "history.timerProcessorMaxPollRPS=$rate" \
	--dynamic-config-value "history.visibilityProcessorMaxPollRPS=$rate" \
	--dynamic-config-value "history.outboundProcessorMaxPollRPS=$rate" \
	>"$state/server.log" 2>&1 &
echo $! >"$state/server.pid"

for _ in $(seq 1 150); do
	if healthy; then
		echo "$addr"
		exit 0
	fi
	if ! kill -0 "$(cat "$state/server.pid")" 2>/dev/null; then
		echo "temporal-up: the server exited; its log:" >&2
		cat "$state/server.log" >&2
		exit 1
	fi
	sleep 0.2
done
echo "temporal-up: no healthy server on $addr after 30 s; log in $state/server.log" >&2
exit 1
