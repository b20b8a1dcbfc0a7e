#!/usr/bin/env bash
#
# STUN benchmark: Binding responses per second and server CPU per response,
# nginx ("beacon_stun only") against coturn (turnserver --stun-only, no
# auth, no TLS/DTLS, no TCP), same number of workers / relay threads, same
# generator (t/bench/stunload.c), loopback only, rounds interleaved.
#
#   bash t/bench/stun.sh         (make bench-stun builds the module first)
#
# The server CPU is read by the generator from /proc/<pid>/stat of the
# server processes (nginx workers; turnserver with all its threads) over
# the measured window.  Prints each run and a summary with the ratios
# nginx/coturn; target: responses per server CPU-second >= 1.3x coturn's.
# Reports only: exit 0 unless the setup itself is broken.
#
# Knobs: BENCH_WORKERS=2 BENCH_DURATION=3 BENCH_WARMUP=1 BENCH_ROUNDS=3
# BENCH_STUN_SOCKS=64 BENCH_STUN_WINDOW=16 NGINX_BIN=/usr/sbin/nginx
# BEACON_MODULE=<path> TURNSERVER=turnserver

set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$REPO/$BUILD ;; esac
OUT=$B/bench/stun
MODULE=${BEACON_MODULE:-$B/ngx_stream_beacon_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
STREAM_MODULE=${STREAM_MODULE:-/usr/lib/nginx/modules/ngx_stream_module.so}
TURNSERVER=${TURNSERVER:-turnserver}

WORKERS=${BENCH_WORKERS:-2}
DUR=${BENCH_DURATION:-3}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-3}
SOCKS=${BENCH_STUN_SOCKS:-64}
WINDOW=${BENCH_STUN_WINDOW:-16}
RUN_LIMIT=$(( ${DUR%.*} + ${WARMUP%.*} + 20 ))

NGX_PORT=$(( 20000 + RANDOM % 20000 ))
TURN_PORT=$(( NGX_PORT + 1 ))

NGX_PID=
TURN_PID=

log() { printf '%s\n' "$*"; }

cleanup() {
    if [ -n "$NGX_PID" ] && kill -0 "$NGX_PID" 2>/dev/null; then
        kill -QUIT "$NGX_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$NGX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGX_PID" 2>/dev/null
    fi
    if [ -n "$TURN_PID" ] && kill -0 "$TURN_PID" 2>/dev/null; then
        kill -TERM "$TURN_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$TURN_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$TURN_PID" 2>/dev/null
    fi
}

trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$OUT/nginx/logs"

if ! cc -O2 -Wall -Wextra -Werror -o "$OUT/stunload" "$REPO/t/bench/stunload.c"; then
    log "stun bench: cannot build stunload"
    exit 1
fi

if [ ! -f "$MODULE" ]; then
    log "stun bench: $MODULE not built (make)"
    exit 1
fi

# nginx: STUN only, batched datapath, no reply budget (coturn has none)

cat > "$OUT/nginx/nginx.conf" <<EOF
load_module $STREAM_MODULE;
load_module $MODULE;
worker_processes $WORKERS;
error_log $OUT/nginx/logs/error.log notice;
pid $OUT/nginx/nginx.pid;
daemon off;
events { worker_connections 1024; }
stream {
    beacon_zone stun:1m;
    server {
        listen 127.0.0.1:$NGX_PORT udp reuseport;
        beacon on;
        beacon_stun only;
        beacon_reply_limit off;
    }
}
EOF

"$NGINX_BIN" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" &
NGX_PID=$!

# coturn: a plain process, STUN only, as many relay threads as workers

if command -v "$TURNSERVER" >/dev/null 2>&1; then
    "$TURNSERVER" -n --stun-only --no-tls --no-dtls --no-tcp -z --no-cli \
        --no-rfc5780 --no-software-attribute -L 127.0.0.1 -p "$TURN_PORT" \
        -m "$WORKERS" --log-file=stdout --simple-log \
        > "$OUT/turnserver.log" 2>&1 &
    TURN_PID=$!
else
    log "stun bench: $TURNSERVER not found (Debian coturn); nginx only"
fi

# both answer before we start

ready() {
    timeout 5 "$OUT/stunload" -p "$1" -c 1 -w 1 -d 0.3 -W 0.1 2>/dev/null \
        | grep -q 'responses=[1-9]'
}

for _ in $(seq 50); do ready "$NGX_PORT" && break; sleep 0.1; done
ready "$NGX_PORT" || { log "stun bench: nginx does not answer"; exit 1; }

if [ -n "$TURN_PID" ]; then
    for _ in $(seq 50); do ready "$TURN_PORT" && break; sleep 0.1; done
    if ! ready "$TURN_PORT"; then
        log "stun bench: turnserver does not answer (see $OUT/turnserver.log)"
        kill "$TURN_PID" 2>/dev/null
        TURN_PID=
    fi
fi

ngx_pids() { pgrep -P "$NGX_PID" | paste -sd, -; }

run() {   # name port pids
    local line
    line=$(timeout "$RUN_LIMIT" "$OUT/stunload" -p "$2" -c "$SOCKS" \
        -w "$WINDOW" -d "$DUR" -W "$WARMUP" --pids "$3" | grep '^RESULT')
    log "  $1: ${line#RESULT }"
    printf '%s\n' "$line" >> "$OUT/$1.results"
}

rm -f "$OUT"/*.results

log "STUN Binding, $WORKERS workers, $SOCKS sockets x window $WINDOW," \
    "${DUR}s x $ROUNDS rounds"

for r in $(seq "$ROUNDS"); do
    log "round $r"
    [ -n "$TURN_PID" ] && run coturn "$TURN_PORT" "$TURN_PID"
    run nginx "$NGX_PORT" "$(ngx_pids)"
done

median() {   # file key
    sed -n "s/.* $2=\([0-9.]*\).*/\1/p" "$1" | sort -g \
        | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'
}

log ""
log "summary (medians)"
printf '%-8s %12s %14s %12s %10s\n' server resp/s resp/cpu-s us/resp bytes

for s in nginx coturn; do
    [ -f "$OUT/$s.results" ] || continue
    printf '%-8s %12s %14s %12s %10s\n' "$s" \
        "$(median "$OUT/$s.results" rps)" \
        "$(median "$OUT/$s.results" per_cpu_s)" \
        "$(median "$OUT/$s.results" us_per_resp)" \
        "$(median "$OUT/$s.results" resp_bytes)"
done

if [ -f "$OUT/coturn.results" ]; then
    awk -v a="$(median "$OUT/nginx.results" per_cpu_s)" \
        -v b="$(median "$OUT/coturn.results" per_cpu_s)" \
        -v c="$(median "$OUT/nginx.results" rps)" \
        -v d="$(median "$OUT/coturn.results" rps)" 'BEGIN {
        if (b > 0 && d > 0) {
            printf "nginx/coturn: responses per server CPU-second %.2fx " \
                   "(target >= 1.3x), responses per second %.2fx\n", a / b, c / d
        }
    }'
fi

exit 0
