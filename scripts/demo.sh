#!/usr/bin/env bash
# Runs a few core tasks through the sandbox with bin/host (make demo).
set -euo pipefail
cd "$(dirname "$0")/.."
host=./bin/host
step() { printf '\n$ %s\n' "$*"; "$@"; }
step $host plugins verify
step $host run add '{"a":2,"b":3}'
step $host run uppercase '{"text":"hello from a wasm sandbox"}'
step $host run word_count '{"text":"the cat and the hat"}'
step $host run csv_to_json '{"csv":"name,team\nada,core\nlin,data\n"}'
step $host run sha256 '{"text":"abc"}'
step $host run --progress progress_demo '{"steps":4,"delay_ms":100}'
printf '\n$ %s\n' "$host run fail '{\"message\":\"on purpose\"}'   # exits 1 with a typed error"
$host run fail '{"message":"on purpose"}' || echo "(exit $?)"
printf '\n$ %s\n' "$host run --timeout 200ms sleep '{\"ms\":5000}'   # the sandbox stops it"
$host run --timeout 200ms sleep '{"ms":5000}' || echo "(exit $?)"
