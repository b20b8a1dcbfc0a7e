#!/usr/bin/env bash
#
# Worker-count sweep of the beacon benchmark (issue 11): t/bench/run.sh
# with 1, 2, 4, ... workers up to the CPU count (and the count itself),
# reporting for DISCOVER and RELAY the replies/s and the server CPU per
# reply of nginx+module and of the reference reflector, so scaling with
# workers can be measured on a many-core machine.  Reports, never fails.
#
#   bash t/bench/sweep.sh       (make bench runs it after run.sh)
#
# Knobs: SWEEP_MAX=<cpus> SWEEP_ROUNDS=1 SWEEP_DURATION=2 SWEEP_NODES=10000
# and run.sh's own BENCH_* variables.

set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MAX=${SWEEP_MAX:-$(nproc)}
OUT=${BUILD:-build}/bench-sweep
mkdir -p "$OUT"

counts=()
w=1
while [ "$w" -lt "$MAX" ]; do
    counts+=("$w")
    w=$(( w * 2 ))
done
counts+=("$MAX")


us() {
    awk -v v="$1" 'BEGIN { if (v + 0 > 0) printf "%.2f", 1e6 / v;
                           else print "-" }'
}

rows=()

for w in "${counts[@]}"; do
    log=$OUT/workers-$w.log
    echo "== sweep: $w worker(s), log $log"

    BENCH_WORKERS=$w BENCH_WSS=0 BENCH_ROUNDS=${SWEEP_ROUNDS:-1} \
    BENCH_DURATION=${SWEEP_DURATION:-2} BENCH_NODES=${SWEEP_NODES:-10000} \
        bash "$REPO/t/bench/run.sh" > "$log" 2>&1

    read -r rd nd < <(grep -E '^DISCOVER replies/s' "$log" \
                      | awk '{ print $3, $4 }')
    read -r rr nr < <(grep -E '^RELAY deliveries/s' "$log" \
                      | awk '{ print $3, $4 }')
    read -r rdp ndp < <(grep -A1 -E '^DISCOVER replies/s' "$log" | tail -1 \
                        | awk '{ print $4, $5 }')
    read -r rrp nrp < <(grep -A1 -E '^RELAY deliveries/s' "$log" | tail -1 \
                        | awk '{ print $4, $5 }')

    rows+=("$(printf '%7s  %12s %12s %9s %9s   %12s %12s %9s %9s' "$w" \
        "${nd:--}" "${rd:--}" "$(us "${ndp:-}")" "$(us "${rdp:-}")" \
        "${nr:--}" "${rr:--}" "$(us "${nrp:-}")" "$(us "${rrp:-}")")")
done

echo
echo "== worker sweep: $(nproc) CPUs shared by servers and load generator"
printf '%7s  %12s %12s %9s %9s   %12s %12s %9s %9s\n' workers \
    "DISC/s ngx" "DISC/s ref" "us/rep ngx" "us/rep ref" \
    "RELAY/s ngx" "RELAY/s ref" "us/rel ngx" "us/rel ref"
for r in "${rows[@]}"; do
    echo "$r"
done
echo "(us/rep: server CPU microseconds per reply or delivery; on a machine"
echo " with fewer cores than workers + load generator the figures mostly"
echo " show contention, not scaling)"
