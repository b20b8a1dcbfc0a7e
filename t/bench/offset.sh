#!/usr/bin/env bash
#
# Offset relay benchmark: spliced tunnel throughput through
# beacon_offset_relay against plain nginx proxy_pass TCP carrying the same
# traffic between the same endpoints, in the same nginx and the same run,
# plus secure-channel handshakes per second.  Loopback only.
#
#   bash t/bench/offset.sh        (make bench runs it after t/bench/run.sh)
#
# The endpoints are build/offset_node (t/tools/offset_node.c):
#   relay   bench-tunnel: node A Connects, node B Listens and Accepts; each
#           message is sealed by its sender for the hop to the relay, which
#           opens it, re-wraps it and seals it for the other hop
#   proxy   bench-direct: the same two nodes run the same secure channel
#           directly with each other, A through nginx proxy_pass to B
# so the endpoints do the same work per message in both runs and the
# ratio relay/proxy shows what the relay's own work costs.  Rounds of the
# two are interleaved; medians are reported.  Reports only: exit 0 unless
# the setup itself is broken.
#
# Knobs: BENCH_WORKERS=2 BENCH_OFFSET_ROUNDS=3 BENCH_OFFSET_BYTES=268435456
# (per direction, one tunnel) BENCH_OFFSET_BYTES64=8388608 (per direction,
# each of 64 tunnels) BENCH_OFFSET_MSG=16384 BENCH_OFFSET_HS_SECONDS=5
# BENCH_OFFSET_HS_CONC=32 NGINX_BIN=/usr/sbin/nginx BEACON_MODULE=<path>

set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$REPO/$BUILD ;; esac
OUT=$B/bench-offset
MODULE=${BEACON_MODULE:-$B/ngx_stream_beacon_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
STREAM_MODULE=${STREAM_MODULE:-/usr/lib/nginx/modules/ngx_stream_module.so}
NODE=$B/offset_node

WORKERS=${BENCH_WORKERS:-2}
ROUNDS=${BENCH_OFFSET_ROUNDS:-3}
BYTES1=${BENCH_OFFSET_BYTES:-268435456}
BYTES64=${BENCH_OFFSET_BYTES64:-8388608}
MSG=${BENCH_OFFSET_MSG:-16384}
HS_SECONDS=${BENCH_OFFSET_HS_SECONDS:-5}
HS_CONC=${BENCH_OFFSET_HS_CONC:-32}
LIMIT=300                             # seconds, any single run

# the Appendix A relay identity (seed 11..): its public key is V2
RELAY_KEY=0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc

NGX_PID=

log() { printf '%s\n' "$*"; }

cleanup() {
    trap - EXIT INT TERM
    if [ -n "$NGX_PID" ]; then
        kill -TERM "$NGX_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$NGX_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$NGX_PID" 2>/dev/null
    fi
    wait 2>/dev/null
}

trap cleanup EXIT
trap 'log "bench-offset: interrupted"; exit 1' INT TERM

field() {
    sed -n "s/^# $1=\([^ ]*\).*/\1/p" <<<"$2" | tail -n 1
}

median() {
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk '
        { a[NR] = $1 }
        END {
            if (NR == 0) { print ""; exit }
            if (NR % 2) { printf "%.1f\n", a[(NR + 1) / 2] }
            else { printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }
        }'
}

ratio() {
    if [ -z "$1" ] || [ -z "$2" ] || [ "$2" = 0 ]; then
        echo "-"
        return
    fi
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

for f in "$MODULE" "$NODE" "$NGINX_BIN" "$STREAM_MODULE"; do
    if [ ! -e "$f" ]; then
        log "bench-offset: missing $f (run make first)"
        exit 1
    fi
done

rm -rf "$OUT"
mkdir -p "$OUT/logs"

RELAY_PORT=$(free_port)
PROXY_PORT=$(free_port)
BACKEND_PORT=$(free_port)
while [ "$PROXY_PORT" = "$RELAY_PORT" ]; do PROXY_PORT=$(free_port); done
while [ "$BACKEND_PORT" = "$RELAY_PORT" ] || [ "$BACKEND_PORT" = "$PROXY_PORT" ]
do
    BACKEND_PORT=$(free_port)
done

printf '{\n  "privateKey": "ERERERERERERERERERERERERERERERERERERERERERE"\n}' \
    > "$OUT/relay.ident"
chmod 600 "$OUT/relay.ident"

cat > "$OUT/nginx.conf" <<EOF
load_module $STREAM_MODULE;
load_module $MODULE;

worker_processes $WORKERS;
error_log $OUT/logs/error.log warn;
pid $OUT/nginx.pid;
daemon off;

events {
    worker_connections 4096;
}

stream {
    beacon_zone beacon:16m;

    server {
        listen 127.0.0.1:$RELAY_PORT reuseport backlog=4096;
        beacon_offset_relay identity=$OUT/relay.ident;
        beacon_offset_handshakes 4096;
    }

    server {
        listen 127.0.0.1:$PROXY_PORT reuseport backlog=4096;
        proxy_pass 127.0.0.1:$BACKEND_PORT;
    }
}
EOF

if ! "$NGINX_BIN" -p "$OUT" -c "$OUT/nginx.conf" -t > "$OUT/t.log" 2>&1; then
    cat "$OUT/t.log"
    exit 1
fi

"$NGINX_BIN" -p "$OUT" -c "$OUT/nginx.conf" &
NGX_PID=$!
sleep 1

if ! kill -0 "$NGX_PID" 2>/dev/null; then
    log "bench-offset: nginx did not start"
    cat "$OUT/logs/error.log"
    exit 1
fi

# CPU seconds the nginx workers used so far (utime + stime, all workers)
ngx_cpu() {
    local p sum=0 ticks f
    ticks=$(getconf CLK_TCK)
    for p in $(pgrep -P "$NGX_PID"); do
        f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
        sum=$(( sum + ${f% *} + ${f#* } ))
    done
    awk -v s="$sum" -v t="$ticks" 'BEGIN { printf "%.3f\n", s / t }'
}

# run LABEL MODE N BYTES: prints "mbps mb_per_nginx_cpu_second" (empty on
# failure)
run() {
    local label=$1 mode=$2 n=$3 bytes=$4 out rc c0 c1 per
    local args=(-r "127.0.0.1:$RELAY_PORT" -k "$RELAY_KEY")

    if [ "$mode" = bench-direct ]; then
        args=(-r "127.0.0.1:$PROXY_PORT" -L "$BACKEND_PORT")
    fi

    c0=$(ngx_cpu)
    out=$(timeout "$LIMIT" "$NODE" "${args[@]}" -n "$n" -b "$bytes" \
              -m "$MSG" -t "$LIMIT" "$mode" 2>&1)
    rc=$?
    c1=$(ngx_cpu)

    if [ $rc != 0 ] || [ -z "$(field mbps "$out")" ]; then
        log "bench-offset: $label failed (exit $rc):" >&2
        printf '%s\n' "$out" | tail -n 5 >&2
        return
    fi

    per=$(awk -v b="$(field bytes "$out")" -v a="$c0" -v z="$c1" \
              'BEGIN { if (z > a) printf "%.1f", b / (z - a) / 1e6 }')

    log "  $label: $(field mbps "$out") MB/s in $(field seconds "$out") s," \
        "${per:-?} MB per nginx CPU-second" >&2
    printf '%s %s\n' "$(field mbps "$out")" "$per"
}

log "bench-offset: nginx $WORKERS workers, message $MSG B, $ROUNDS rounds"
log "  one tunnel: $BYTES1 B each way; 64 tunnels: $BYTES64 B each way each"

R1=() P1=() R64=() P64=() CR1=() CP1=() CR64=() CP64=()

for i in $(seq 1 "$ROUNDS"); do
    log "round $i"
    read -r a b <<<"$(run "relay  1 tunnel " bench-tunnel 1 "$BYTES1")"
    R1+=("${a:-}") CR1+=("${b:-}")
    read -r a b <<<"$(run "proxy  1 stream " bench-direct 1 "$BYTES1")"
    P1+=("${a:-}") CP1+=("${b:-}")
    read -r a b <<<"$(run "relay 64 tunnels" bench-tunnel 64 "$BYTES64")"
    R64+=("${a:-}") CR64+=("${b:-}")
    read -r a b <<<"$(run "proxy 64 streams" bench-direct 64 "$BYTES64")"
    P64+=("${a:-}") CP64+=("${b:-}")
done

out=$(timeout "$LIMIT" "$NODE" -r "127.0.0.1:$RELAY_PORT" -k "$RELAY_KEY" \
          -n "$HS_CONC" -t "$HS_SECONDS" bench-handshakes 2>&1)
HPS=$(field hps "$out")
HS_FAIL=$(field failures "$out")

mr1=$(median "${R1[@]}")
mp1=$(median "${P1[@]}")
mr64=$(median "${R64[@]}")
mp64=$(median "${P64[@]}")

log ""
log "bench-offset summary (payload MB/s, both directions together; medians)"
log "  1 tunnel:   relay $mr1   proxy_pass $mp1   ratio $(ratio "$mr1" "$mp1")"
log "  64 tunnels: relay $mr64   proxy_pass $mp64   ratio $(ratio "$mr64" "$mp64")"
log "  MB per nginx CPU-second: relay $(median "${CR1[@]}") / $(median "${CR64[@]}")," \
    "proxy_pass $(median "${CP1[@]}") / $(median "${CP64[@]}") (1 / 64 tunnels)"
log "  handshakes: ${HPS:-?}/s with $HS_CONC concurrent clients (${HS_FAIL:-?} failed)"
log "  (target: ratio >= 0.80)"

grep -E '\[(alert|crit|emerg)\]' "$OUT/logs/error.log" | head -n 5

exit 0
