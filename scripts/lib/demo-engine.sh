#!/usr/bin/env bash
# JobKit in under a minute: a private Redis (unless REDIS_URL is set), two jobnodes, a mixed batch of jobs,
# queue counts as they change, then the outcome of every job. Cleans up after itself.
#
#   scripts/demo engine     # builds jobnode (debug; the first build takes a few minutes), then runs the demo
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib/redis-server.sh

missing=()
for tool in redis-server redis-cli python3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]} > 0)); then
    if [[ $(id -u) != 0 ]]; then
        echo "demo: missing ${missing[*]}; install with: sudo apt-get install -y redis-server redis-tools python3" >&2
        exit 2
    fi
    echo "==> installing redis-server redis-tools python3 (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools python3 >/dev/null
fi

echo "==> building jobnode"
swift build --product jobnode 2>&1 | grep -E "error|Compiling jobnode|Build complete" || true
JOBNODE="$(swift build --show-bin-path)/jobnode"
[ -x "$JOBNODE" ] || { echo "demo: build failed" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jobkit-demo.XXXXXX")
node_pids=()
started_redis=0
cleanup() {
    local status=$?
    for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${node_pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
    if ((started_redis)); then
        jk_stop_redis || true
    elif [ -n "${ns:-}" ]; then
        redis-cli -u "$REDIS_URL" --scan --pattern "$ns:*" | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${REDIS_URL:-}" ]; then
    jk_start_redis "$tmp/redis" >/dev/null
    started_redis=1
    export REDIS_URL="redis://127.0.0.1:$JK_REDIS_PORT/0"
    echo "==> started a private redis-server (pid $JK_REDIS_PID) at $REDIS_URL"
else
    echo "==> using REDIS_URL"
fi
ns="demo-$(date +%s)-$$"
jn() { "$JOBNODE" "$@" --namespace "$ns"; }

echo "==> starting two jobnodes (queues critical:3,default:1, 4 slots each)"
for name in node-a node-b; do
    "$JOBNODE" run --namespace "$ns" --queues critical:3,default:1 --concurrency 4 --name "$name" \
        --log-level notice >"$tmp/$name.log" 2>&1 &
    node_pids+=($!)
done

for _ in $(seq 1 50); do [ "$(jn nodes --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] && break; sleep 0.1; done
echo "==> live nodes"
jn nodes | sed 's/^/  /'

echo "==> enqueuing a mixed batch"
ids="$tmp/ids"
: >"$ids"
add() { local label=$1; shift; jn enqueue "$@" | while read -r id; do echo "$id $label" >>"$ids"; done; }
add "sleep 400ms"                 jobkit.sleep --json '{"ms":400}' --count 6
add "priority 10 (critical)"      jobkit.noop --queue critical --priority 10 --count 2
add "delayed 3s"                  jobkit.noop --delay 3s
add "fails twice, then succeeds"  jobkit.fail --json '{"times":2}' --max-attempts 5
add "always fails (2 attempts)"   jobkit.fail --json '{"times":-1}' --max-attempts 2
add "unknown job name"            reports.quarterly.generate --json '{"quarter":"2026-Q4"}'
add "bad payload"                 jobkit.sleep --json '{"seconds":1}'
add "records its run"             jobkit.record --json '{"key":"demo"}' --count 3
echo "    $(wc -l <"$ids") jobs"

echo "==> queue counts as they change"
last=""
for _ in $(seq 1 240); do
    now=$(jn queues --json | python3 scripts/lib/demo_format.py counts && echo DONE || true)
    line=${now%DONE}
    [ "$line" != "$last" ] && echo "  $(date +%T)  $line" && last=$line
    [[ $now == *DONE ]] && break
    sleep 0.25
done

echo "==> outcome of each job"
while read -r id label; do
    jn jobs show "$id" --json | python3 scripts/lib/demo_format.py outcome "$label"
done <"$ids"
echo "==> jobkit.record wrote: $(redis-cli -u "$REDIS_URL" lrange "$ns:diag:demo" 0 -1 | tr '\n' ' ')"
echo "==> stopping the nodes (SIGTERM: graceful)"
