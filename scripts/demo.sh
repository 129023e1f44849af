#!/usr/bin/env bash
# make demo: starts a worker on the embedded default engine (River on a
# SQLite file, no server), submits core tasks and workflows, prints their
# results, and stops the worker cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
host=./bin/host
work=$(mktemp -d)
export DATABASE_URL="$work/taskhost.db"
port=${DEMO_HEALTH_PORT:-18089}
step() { printf '\n$ %s\n' "$*"; "$@"; }

step $host plugins verify
printf '\n$ %s\n' "$host worker --health-addr 127.0.0.1:$port &"
$host worker --health-addr 127.0.0.1:$port --log-level info > "$work/worker.log" 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true; rm -rf "$work"' EXIT
# readyz prints the worker's /readyz answer (bash's /dev/tcp: no curl needed).
readyz() {
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
	local reply
	reply=$(cat <&3)
	exec 3<&-
	[[ $reply == "HTTP/1.0 200"* || $reply == "HTTP/1.1 200"* ]] || return 1
	printf '%s\n' "${reply##*$'\r\n\r\n'}"
}
for _ in $(seq 1 150); do
	readyz 2>/dev/null && break
	sleep 0.1
done

step $host submit add '{"a":2,"b":3}' --wait
step $host submit word_count '{"text":"the cat and the hat"}' --wait -o json
id=$($host submit csv_to_json '{"csv":"name,team\nada,core\nlin,data\n"}')
step $host wait "$id"
printf '\n$ %s\n' "$host submit fail '{\"message\":\"on purpose\"}' --wait   # a typed, non-retryable failure"
$host submit fail '{"message":"on purpose"}' --wait || echo "(exit $?)"
step $host workflow list
step $host workflow submit text_stats '{"text":"to be or not to be"}' --wait
step $host workflow submit csv_people '{"csv":"name,team,age\nada,core,36\nlin,data,41\n"}' --wait
step $host run --progress progress_demo '{"steps":4,"delay_ms":100}'

printf '\n$ kill -TERM %s   # the worker drains and stops\n' "$worker"
kill -TERM $worker
wait $worker
echo "worker exited with $?"
grep -E 'worker (started|stopped)' "$work/worker.log" | sed 's/^/  /'
