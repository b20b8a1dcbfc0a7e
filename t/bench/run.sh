#!/usr/bin/env bash
#
# Beacon benchmark: nginx + ngx_stream_beacon_module against the reference
# reflector (t/bench/reflector.c, raw recvmmsg/sendmmsg, the physical
# limit), both with the same number of SO_REUSEPORT workers, loopback only.
#
#   bash t/bench/run.sh          (make bench builds the module, then runs this)
#
# Measures, in one run:
#   (a) DISCOVER replies/s            closed loop, median of BENCH_ROUNDS
#   (b) RELAY deliveries/s            closed loop, median of BENCH_ROUNDS
#   (c) loss at a fixed offered rate  BENCH_LOAD_PCT % of the lower capacity
#   (d) zone bytes per node           after registering BENCH_NODES nodes
#   (e) compat bridge delivery        UDP senders -> BENCH_WSS_CONNS
#       WebSocket (TLS) receivers on the same nginx (t/bench/wsload.c):
#       delivered messages/s in a closed loop (median of BENCH_WSS_ROUNDS),
#       its ratio to (b) for nginx, and the loss at BENCH_LOAD_PCT % of it
# and prints a summary with the ratios module/reference.  Reference and
# nginx runs are interleaved so that drifts of a noisy host hit both.
# The benchmark reports; it never fails on a target (exit 0), only on a
# broken setup (the reference itself cannot be built or run).
#
# Knobs (environment): BENCH_WORKERS=2 BENCH_DURATION=3 BENCH_WARMUP=1
# BENCH_ROUNDS=5 BENCH_LOAD_PCT=50 BENCH_NODES=500000 BENCH_SOCKS=64
# BENCH_WINDOW=32 BENCH_DESTS=64 BENCH_PAYLOAD=64 BENCH_RCVBUF=4194304
# BENCH_TIME_LIMIT=300 NGINX_BIN=/usr/sbin/nginx BEACON_MODULE=<path>
# BENCH_WSS=1 (0: no compat bridge run) BENCH_WSS_CONNS=1000
# BENCH_WSS_SENDERS=32 BENCH_WSS_WINDOW=128 BENCH_WSS_ROUNDS=3
# BENCH_WSS_HANDSHAKES=100

set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) B=$BUILD ;; *) B=$REPO/$BUILD ;; esac
OUT=$B/bench
PREFIX=$OUT/nginx
MODULE=${BEACON_MODULE:-$B/ngx_stream_beacon_module.so}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
STREAM_MODULE=${STREAM_MODULE:-/usr/lib/nginx/modules/ngx_stream_module.so}

WORKERS=${BENCH_WORKERS:-2}
DUR=${BENCH_DURATION:-3}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-5}
LOAD_PCT=${BENCH_LOAD_PCT:-50}
NODES=${BENCH_NODES:-500000}
SOCKS=${BENCH_SOCKS:-64}
WINDOW=${BENCH_WINDOW:-32}
DESTS=${BENCH_DESTS:-64}
PAYLOAD=${BENCH_PAYLOAD:-64}
RCVBUF=${BENCH_RCVBUF:-4194304}
TIME_LIMIT=${BENCH_TIME_LIMIT:-300}
WSS=${BENCH_WSS:-1}
WSS_CONNS=${BENCH_WSS_CONNS:-1000}
WSS_SENDERS=${BENCH_WSS_SENDERS:-32}
WSS_WINDOW=${BENCH_WSS_WINDOW:-128}
WSS_ROUNDS=${BENCH_WSS_ROUNDS:-3}
WSS_HANDSHAKES=${BENCH_WSS_HANDSHAKES:-100}
WSS_NODE_BASE=$(( 0x40000000 ))      # WebSocket node ids (the key file)
WSS_SENDER_BASE=$(( 0x50000000 ))    # its UDP senders

RUN_LIMIT=$(( ${DUR%.*} + ${WARMUP%.*} + 30 ))   # per loadgen run, seconds

REF_PIDS=()
NGX_PID=
NGX_WORKERS=
HAVE_NGINX=0
NGINX_NOTE=
HAVE_WSS=0                           # wsload built, cert and keys made
WSS_NOTE=
RUN_NO=0
LAST=

log() { printf '%s\n' "$*"; }

# ---------------------------------------------------------------- cleanup

cleanup() {
    local p i

    trap - EXIT INT TERM

    for p in "${REF_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done

    if [ -n "$NGX_PID" ]; then
        kill -TERM "$NGX_PID" 2>/dev/null
    fi

    for i in $(seq 1 50); do
        p=
        for p in "${REF_PIDS[@]}" $NGX_PID; do
            kill -0 "$p" 2>/dev/null && break
            p=
        done
        [ -z "$p" ] && break
        sleep 0.1
    done

    for p in "${REF_PIDS[@]}" $NGX_PID $NGX_WORKERS; do
        kill -KILL "$p" 2>/dev/null
    done

    wait 2>/dev/null
}

trap cleanup EXIT
trap 'log "bench: interrupted"; exit 1' INT TERM

# ---------------------------------------------------------------- helpers

children_of() {
    if command -v pgrep >/dev/null 2>&1; then
        pgrep -P "$1" | paste -sd, -
        return
    fi

    local f ppid pid out=
    for f in /proc/[0-9]*/stat; do
        read -r pid _ _ ppid _ < "$f" 2>/dev/null || continue
        [ "$ppid" = "$1" ] && out=${out:+$out,}$pid
    done
    printf '%s\n' "$out"
}

# waits until $1 has $2 children, prints them comma separated
wait_children() {
    local i c=
    for i in $(seq 1 50); do
        c=$(children_of "$1")
        if [ -n "$c" ] && [ "$(tr ',' '\n' <<<"$c" | wc -l)" -ge "$2" ]; then
            break
        fi
        sleep 0.1
    done
    printf '%s\n' "$c"
}

used_ports() {
    local f
    for f in /proc/net/tcp /proc/net/udp /proc/net/tcp6 /proc/net/udp6; do
        [ -r "$f" ] || continue
        while read -r _ local _; do
            case $local in *:*) echo $(( 16#${local##*:} )) ;; esac
        done < <(tail -n +2 "$f")
    done | sort -un
}

# a block of 96 free consecutive ports below the ephemeral range
pick_ports() {
    local lo used try base p ok
    read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null \
        || lo=32768
    [ "$lo" -gt 12000 ] || lo=32768
    used=" $(used_ports | tr '\n' ' ') "

    for try in $(seq 1 50); do
        base=$(( 10000 + RANDOM % (lo - 10000 - 200) ))
        ok=1
        for p in $(seq "$base" $(( base + 95 ))); do
            case $used in *" $p "*) ok=0; break ;; esac
        done
        if [ $ok = 1 ]; then
            echo "$base"
            return 0
        fi
    done

    return 1
}

field() {
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

# median [-f] VALUES...: integers, or with -f two decimals
median() {
    local f=%.0f
    [ "${1:-}" = -f ] && { f=%.2f; shift; }
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk -v f="$f" '
        { a[NR] = $1 }
        END {
            if (NR == 0) { print ""; exit }
            if (NR % 2) { printf f "\n", a[(NR + 1) / 2] }
            else { printf f "\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }
        }'
}

ratio() {
    if [ -z "$1" ] || [ -z "$2" ] || [ "$2" = 0 ]; then
        echo "-"
        return
    fi
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
}

rcvbuf_errors() {
    awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) n[$i] = i; h = 1 }
                   else { print $(n["RcvbufErrors"]); exit } }' /proc/net/snmp
}

# run_load TARGET_LABEL PORT CPU_PIDS MODE [extra loadgen args...]
# sets LAST to the RESULT line (kernel rcvbuf drops appended), "" on failure;
# not to be called in a subshell (RUN_NO must advance)
run_load() {
    local label=$1 port=$2 pids=$3 mode=$4 k0 k1 idb
    shift 4

    LAST=

    # every step is bounded by "timeout"; past the budget, steps are skipped
    if [ "$SECONDS" -ge "$TIME_LIMIT" ]; then
        printf '  %s %s: skipped, time budget of %ss used up\n' "$label" \
               "$mode" "$TIME_LIMIT"
        return
    fi

    RUN_NO=$(( RUN_NO + 1 ))

    # fresh node ids per run: the module keeps a node at its first source
    # for 30 s, and every run uses new ephemeral client ports
    if [ "$mode" = relay ]; then
        idb=$(( 0x10000000 + RUN_NO * 4096 ))
    else
        idb=$(( 0x20000000 + RUN_NO * 4096 ))
    fi

    k0=$(rcvbuf_errors)
    LAST=$(timeout "$RUN_LIMIT" "$OUT/loadgen" -m "$mode" -p "$port" \
               -T "$label" -n "$SOCKS" -d "$DUR" -W "$WARMUP" \
               --id-base "$idb" --payload "$PAYLOAD" \
               ${pids:+--cpu-pids "$pids"} -t "$RUN_LIMIT" "$@" \
               2>>"$OUT/loadgen.err" | grep '^RESULT')
    k1=$(rcvbuf_errors)

    if [ -n "$LAST" ]; then
        # host-wide counter: other processes' drops show up here too
        LAST="$LAST host_udp_rcvbuf_errors=$(( k1 - k0 ))"
        printf '%s\n' "$LAST" >> "$OUT/results.txt"
        printf '  %s\n' "$LAST"
    else
        printf '  %s %s: no result (see %s)\n' "$label" "$mode" \
               "$OUT/loadgen.err"
    fi
}

nginx_alive() {
    [ -n "$NGX_PID" ] && kill -0 "$NGX_PID" 2>/dev/null
}

# --------------------------------------------------------------- building

mkdir -p "$OUT"
: > "$OUT/results.txt"
: > "$OUT/loadgen.err"
: > "$OUT/wsload.err"
rm -f "$OUT/wsload.out" "$OUT/status-wss-0.json" "$OUT/status-wss-1.json"

for prog in reflector loadgen; do
    if ! gcc -O2 -Wall -Wextra -Werror -o "$OUT/$prog" \
             "$REPO/t/bench/$prog.c"; then
        log "bench: cannot build $prog"
        exit 1
    fi
done

# the compat bridge client is optional: it needs libssl-dev, libsodium-dev
rm -f "$OUT/wsload"
if [ "$WSS" != 1 ]; then
    WSS_NOTE="not run (BENCH_WSS=$WSS)"
elif ! gcc -O2 -Wall -Wextra -Werror -o "$OUT/wsload" \
           "$REPO/t/bench/wsload.c" -lssl -lcrypto -lsodium \
           > "$OUT/wsload.build.log" 2>&1; then
    WSS_NOTE="cannot build wsload (see $OUT/wsload.build.log)"
    log "bench: $WSS_NOTE"
fi

BASE=$(pick_ports) || { log "bench: no free port block found"; exit 1; }
REF_DISC_PORT=$BASE
REF_RELAY_PORT=$(( BASE + 1 ))
NGX_PORT=$(( BASE + 2 ))
HTTP_PORT=$(( BASE + 3 ))
WSS_PORT=$(( BASE + 4 ))
DEST_BASE=$(( BASE + 10 ))        # destinations at DEST_BASE + 1 .. + DESTS

if [ "$DESTS" -gt 85 ]; then
    log "bench: BENCH_DESTS must be <= 85"
    exit 1
fi

log "== beacon benchmark: $(nproc) CPUs, $WORKERS workers per server," \
    "$SOCKS client sockets, window $WINDOW, ${DUR}s x $ROUNDS rounds =="

# -------------------------------------------------------- reference servers

"$OUT/reflector" -m discover -p "$REF_DISC_PORT" -w "$WORKERS" \
    --rcvbuf "$RCVBUF" --sndbuf "$RCVBUF" -t $(( TIME_LIMIT + 200 )) \
    2>>"$OUT/reflector.log" &
REF_PIDS+=($!)
REF_DISC_CPU=$(wait_children "${REF_PIDS[0]}" "$WORKERS")

"$OUT/reflector" -m relay -p "$REF_RELAY_PORT" -w "$WORKERS" \
    --dest-base "$DEST_BASE" --dests "$DESTS" \
    --rcvbuf "$RCVBUF" --sndbuf "$RCVBUF" -t $(( TIME_LIMIT + 200 )) \
    2>>"$OUT/reflector.log" &
REF_PIDS+=($!)
REF_RELAY_CPU=$(wait_children "${REF_PIDS[1]}" "$WORKERS")

# ------------------------------------------------------------------ nginx

if [ ! -f "$MODULE" ]; then
    NGINX_NOTE="$MODULE is missing: measuring only the reference"
elif [ ! -x "$NGINX_BIN" ]; then
    NGINX_NOTE="$NGINX_BIN is missing: measuring only the reference"
else
    rm -rf "$PREFIX"
    mkdir -p "$PREFIX/conf" "$PREFIX/logs" "$PREFIX/temp" "$PREFIX/modules"

    # a private copy: a rebuild overwriting the .so under running workers
    # would kill them with SIGBUS in the middle of the benchmark
    cp "$MODULE" "$PREFIX/modules/ngx_stream_beacon_module.so"

    # the compat bridge: a self-signed certificate, and the Ed25519 keys
    # of the wsload node ids (deterministic seeds, see wsload.c)
    if [ -x "$OUT/wsload" ] && [ -z "$WSS_NOTE" ]; then
        if ! timeout 30 openssl req -x509 -newkey ec \
                 -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
                 -subj /CN=localhost -keyout "$PREFIX/conf/wss.key" \
                 -out "$PREFIX/conf/wss.crt" -batch \
                 > "$PREFIX/logs/openssl.log" 2>&1; then
            WSS_NOTE="openssl req failed (see $PREFIX/logs/openssl.log)"
        elif ! timeout 30 "$OUT/wsload" --write-keys "$PREFIX/conf/wss.keys" \
                 -c "$WSS_CONNS" --node-base "$WSS_NODE_BASE" \
                 --sender-base "$WSS_SENDER_BASE" -n "$WSS_SENDERS" \
                 2>> "$OUT/wsload.err"; then
            WSS_NOTE="wsload --write-keys failed (see $OUT/wsload.err)"
        else
            chmod 644 "$PREFIX/conf/wss.keys" "$PREFIX/conf/wss.crt"
            HAVE_WSS=1
        fi
    fi

    # write_conf 1|0: with or without the compat bridge
    write_conf() {
        local compat_http= compat_server=

        if [ "$1" = 1 ]; then
            compat_http="
    beacon_compat_key_file $PREFIX/conf/wss.keys;
    beacon_compat_max_per_ip 0;
    beacon_compat_auth_fail_limit 0;
    beacon_compat_queue 1m;"
            compat_server="
    server {
        listen 127.0.0.1:$WSS_PORT ssl reuseport;
        ssl_certificate $PREFIX/conf/wss.crt;
        ssl_certificate_key $PREFIX/conf/wss.key;

        location = /v1/compat { beacon_compat; }
    }"
        fi

    cat > "$PREFIX/conf/nginx.conf" <<EOF
load_module $STREAM_MODULE;
load_module $PREFIX/modules/ngx_stream_beacon_module.so;    # copy of $MODULE

worker_processes $WORKERS;
error_log logs/error.log notice;
pid logs/nginx.pid;
daemon off;

events {
    worker_connections 8192;
    multi_accept on;
}

stream {
    beacon_zone bench:64m max_nodes=600000;

    server {
        listen 127.0.0.1:$NGX_PORT udp reuseport rcvbuf=$RCVBUF sndbuf=$RCVBUF;
        beacon on;
        beacon_reply_limit off;
        beacon_register_limit off;
        beacon_relay_limit 0;
    }
}

http {
    access_log off;
    client_body_temp_path temp/body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
$compat_http

    server {
        listen 127.0.0.1:$HTTP_PORT;
        location = /status { beacon_status; }
    }
$compat_server
}
EOF
    }

    nginx_test() {
        timeout 30 "$NGINX_BIN" -p "$PREFIX/" -c conf/nginx.conf \
            -e logs/error.log -t > "$PREFIX/logs/test.log" 2>&1
    }

    write_conf "$HAVE_WSS"

    # a module without a working bridge still gets its UDP figures
    if [ "$HAVE_WSS" = 1 ] && ! nginx_test; then
        WSS_NOTE="nginx -t failed with the compat bridge:"
        WSS_NOTE="$WSS_NOTE $(grep -m1 emerg "$PREFIX/logs/test.log")"
        HAVE_WSS=0
        write_conf 0
    fi

    if ! nginx_test; then
        NGINX_NOTE="nginx -t failed (module incomplete?):"
        NGINX_NOTE="$NGINX_NOTE measuring only the reference"
        sed 's/^/  nginx -t: /' "$PREFIX/logs/test.log" | tail -n 5
    else
        "$NGINX_BIN" -p "$PREFIX/" -c conf/nginx.conf -e logs/error.log \
            > "$PREFIX/logs/stdout.log" 2>&1 &
        NGX_PID=$!
        NGX_CPU=$(wait_children "$NGX_PID" "$WORKERS")
        NGX_WORKERS=$(tr ',' ' ' <<<"$NGX_CPU")

        if nginx_alive && [ -n "$NGX_CPU" ]; then
            HAVE_NGINX=1
        else
            NGINX_NOTE="nginx did not start: measuring only the reference"
            tail -n 5 "$PREFIX/logs/error.log" 2>/dev/null | sed 's/^/  /'
        fi
    fi
fi

if [ "$HAVE_NGINX" = 0 ]; then
    log "bench: $NGINX_NOTE"
fi

log "ports: reference discover $REF_DISC_PORT," \
    "reference relay $REF_RELAY_PORT, nginx udp $NGX_PORT," \
    "http $HTTP_PORT, destinations" \
    "$(( DEST_BASE + 1 ))..$(( DEST_BASE + DESTS ))"

# ------------------------------------------------------ (a)+(b) capacity

R_DISC=() N_DISC=() R_RELAY=() N_RELAY=()
R_DISC_PC=() N_DISC_PC=() R_RELAY_PC=() N_RELAY_PC=()
R_DISC_LOSS=() N_DISC_LOSS=() R_RELAY_LOSS=() N_RELAY_LOSS=()
P_DISC=() P_DISC_PC=() P_RELAY=() P_RELAY_PC=()   # per-round ratios

nginx_check() {
    [ "$HAVE_NGINX" = 1 ] || return

    if ! nginx_alive; then
        log "bench: nginx died; error log tail:"
        tail -n 10 "$PREFIX/logs/error.log" 2>/dev/null | sed 's/^/  /'
        HAVE_NGINX=0
        NGINX_NOTE="nginx died during the run"

    elif grep -q 'exited on signal' "$PREFIX/logs/error.log" 2>/dev/null; then
        log "bench: nginx workers crashed; no further nginx runs:"
        grep 'exited on signal' "$PREFIX/logs/error.log" | head -n 5 \
            | sed 's/^/  /'
        HAVE_NGINX=0
        NGINX_NOTE="nginx workers crashed (see $PREFIX/logs/error.log)"
    fi
}

for round in $(seq 1 "$ROUNDS"); do
    log "-- round $round/$ROUNDS: capacity (closed loop, window $WINDOW)"

    run_load ref "$REF_DISC_PORT" "$REF_DISC_CPU" discover -w "$WINDOW"
    R_DISC+=("$(field rate "$LAST")")
    R_DISC_PC+=("$(field per_core "$LAST")")
    R_DISC_LOSS+=("$(field loss "$LAST")")

    nginx_check
    if [ "$HAVE_NGINX" = 1 ]; then
        run_load nginx "$NGX_PORT" "$NGX_CPU" discover -w "$WINDOW"
        N_DISC+=("$(field rate "$LAST")")
    N_DISC_PC+=("$(field per_core "$LAST")")
        N_DISC_LOSS+=("$(field loss "$LAST")")
        P_DISC+=("$(ratio "${N_DISC[-1]}" "${R_DISC[-1]}")")
        P_DISC_PC+=("$(ratio "${N_DISC_PC[-1]}" "${R_DISC_PC[-1]}")")
    fi

    run_load ref "$REF_RELAY_PORT" "$REF_RELAY_CPU" relay -w "$WINDOW" \
            --dests "$DESTS" --dest-base "$DEST_BASE"
    R_RELAY+=("$(field rate "$LAST")")
    R_RELAY_PC+=("$(field per_core "$LAST")")
    R_RELAY_LOSS+=("$(field loss "$LAST")")

    nginx_check
    if [ "$HAVE_NGINX" = 1 ]; then
        run_load nginx "$NGX_PORT" "$NGX_CPU" relay -w "$WINDOW" \
                --dests "$DESTS" --dest-base "$DEST_BASE"
        N_RELAY+=("$(field rate "$LAST")")
    N_RELAY_PC+=("$(field per_core "$LAST")")
        N_RELAY_LOSS+=("$(field loss "$LAST")")
        P_RELAY+=("$(ratio "${N_RELAY[-1]}" "${R_RELAY[-1]}")")
        P_RELAY_PC+=("$(ratio "${N_RELAY_PC[-1]}" "${R_RELAY_PC[-1]}")")
    fi
done

RD=$(median "${R_DISC[@]}")   ND=$(median "${N_DISC[@]}")
RR=$(median "${R_RELAY[@]}")  NR=$(median "${N_RELAY[@]}")
RDP=$(median "${R_DISC_PC[@]}")  NDP=$(median "${N_DISC_PC[@]}")
RRP=$(median "${R_RELAY_PC[@]}") NRP=$(median "${N_RELAY_PC[@]}")

worst() {
    printf '%s\n' "$@" | tr -d '%' | grep -E '^[0-9.]+$' | sort -g \
        | tail -n 1 | sed 's/$/%/'
}

RDW=$(worst "${R_DISC_LOSS[@]}")  NDW=$(worst "${N_DISC_LOSS[@]}")
RRW=$(worst "${R_RELAY_LOSS[@]}") NRW=$(worst "${N_RELAY_LOSS[@]}")

# ------------------------------------------- (c) loss below saturation

# the same offered rate for both: LOAD_PCT % of the lower capacity
fixed_rate() {
    local m=$1
    if [ -n "$2" ] && [ "$2" -lt "$m" ]; then
        m=$2
    fi
    echo $(( m * LOAD_PCT / 100 ))
}

FD= FR= RDL= NDL= RRL= NRL=

if [ -n "$RD" ] && [ "$RD" -gt 0 ]; then
    FD=$(fixed_rate "$RD" "$ND")
    log "-- loss at a fixed offered rate: discover $FD/s"
    run_load ref "$REF_DISC_PORT" "$REF_DISC_CPU" discover -r "$FD"
    RDL=$(field loss "$LAST")
    nginx_check
    if [ "$HAVE_NGINX" = 1 ]; then
        run_load nginx "$NGX_PORT" "$NGX_CPU" discover -r "$FD"
        NDL=$(field loss "$LAST")
    fi
fi

if [ -n "$RR" ] && [ "$RR" -gt 0 ]; then
    FR=$(fixed_rate "$RR" "$NR")
    log "-- loss at a fixed offered rate: relay $FR/s"
    run_load ref "$REF_RELAY_PORT" "$REF_RELAY_CPU" relay -r "$FR" \
            --dests "$DESTS" --dest-base "$DEST_BASE"
    RRL=$(field loss "$LAST")
    nginx_check
    if [ "$HAVE_NGINX" = 1 ]; then
        run_load nginx "$NGX_PORT" "$NGX_CPU" relay -r "$FR" \
                --dests "$DESTS" --dest-base "$DEST_BASE"
        NRL=$(field loss "$LAST")
    fi
fi

# --------------------------------- (e) compat bridge (WSS) delivery
#
# Runs before (d), so that the zone is not full of registered nodes.

# a copy of the status JSON into file $1; fails when there is none
status_json() {
    local url=http://127.0.0.1:$HTTP_PORT/status
    if command -v curl >/dev/null 2>&1; then
        curl -s -m 10 "$url" > "$1"
    else
        timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HTTP_PORT;
             printf 'GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3;
             cat <&3" | sed '1,/^\r\{0,1\}$/d' > "$1"
    fi
    [ -s "$1" ]
}

# the first "name":number of a status JSON file (the names used here are
# unique within the one zone "bench")
status_field() {
    tr -d ' \n\t' < "$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}

# status_deltas BEFORE AFTER NAME...: "name=delta ..."
status_deltas() {
    local f a b out=
    for f in "${@:3}"; do
        a=$(status_field "$1" "$f")
        b=$(status_field "$2" "$f")
        if [ -n "$a" ] && [ -n "$b" ]; then
            out="$out $f=$(( b - a ))"
        else
            out="$out $f=?"
        fi
    done
    printf '%s\n' "${out# }"
}

warn_lines() {
    local n
    n=$(grep -cE '\[(warn|error|crit|alert|emerg)\]' \
            "$PREFIX/logs/error.log" 2>/dev/null)
    echo "${n:-0}"
}

WSS_LOGIN= WSS_CAP=() WSS_CAP_PC=() WSS_CAP_LOSS=() WSS_FIXED=
WSS_ADJ=() WSS_ADJ_PC=()             # nginx RELAY runs right before/after
WSS_LINES=() WSS_CAP_LINES=() WSS_STATUS= WSS_ACTIVE= WSS_UDP_DROPS= WSS_ERRLOG=
WSS_LIMIT=$(( 50 + (WSS_ROUNDS + 1) * (${DUR%.*} + ${WARMUP%.*} + 4) ))

nginx_check
if [ "$HAVE_NGINX" = 1 ] && [ "$HAVE_WSS" = 1 ] \
   && [ "$SECONDS" -ge "$TIME_LIMIT" ]; then
    WSS_NOTE="skipped: time budget of ${TIME_LIMIT}s used up"
    log "-- compat bridge: $WSS_NOTE"
elif [ "$HAVE_NGINX" = 1 ] && [ "$HAVE_WSS" = 1 ]; then
    log "-- compat bridge: $WSS_SENDERS UDP senders -> $WSS_CONNS WSS" \
        "receivers: capacity (closed loop, window $WSS_WINDOW per sender)," \
        "then loss at $LOAD_PCT% of it"

    # an nginx UDP -> UDP RELAY run right before and right after: the
    # "adjacent" ratio does not suffer from host drift between (b) and now
    run_load nginx "$NGX_PORT" "$NGX_CPU" relay -w "$WINDOW" \
            --dests "$DESTS" --dest-base "$DEST_BASE"
    WSS_ADJ+=("$(field rate "$LAST")")
    WSS_ADJ_PC+=("$(field per_core "$LAST")")

    status_json "$OUT/status-wss-0.json"
    e0=$(warn_lines)
    k0=$(rcvbuf_errors)

    timeout "$WSS_LIMIT" "$OUT/wsload" -p "$NGX_PORT" -P "$WSS_PORT" \
        -T nginx -c "$WSS_CONNS" -n "$WSS_SENDERS" -w "$WSS_WINDOW" \
        --handshakes "$WSS_HANDSHAKES" --rounds "$WSS_ROUNDS" \
        --load-pct "$LOAD_PCT" -d "$DUR" -W "$WARMUP" --payload "$PAYLOAD" \
        --node-base "$WSS_NODE_BASE" --sender-base "$WSS_SENDER_BASE" \
        --rcvbuf "$RCVBUF" --login-time 30 --cpu-pids "$NGX_CPU" \
        -t $(( WSS_LIMIT - 5 )) \
        > "$OUT/wsload.out" 2>> "$OUT/wsload.err"
    rc=$?

    k1=$(rcvbuf_errors)
    e1=$(warn_lines)
    WSS_UDP_DROPS=$(( k1 - k0 ))

    while read -r l; do
        printf '%s\n' "$l" >> "$OUT/results.txt"
        printf '  %s\n' "$l"
        case $l in
            *mode=wss_login*) WSS_LOGIN=$l ;;
            *phase=capacity*)
                WSS_LINES+=("$l")
                WSS_CAP_LINES+=("$l")
                WSS_CAP+=("$(field rate "$l")")
                WSS_CAP_PC+=("$(field per_core "$l")")
                WSS_CAP_LOSS+=("$(field loss "$l")") ;;
            *phase=fixed*)
                WSS_LINES+=("$l")
                WSS_FIXED=$l ;;
        esac
    done < <(grep '^RESULT' "$OUT/wsload.out")

    if [ "$rc" != 0 ]; then
        log "  wsload exit status $rc; its last messages:"
        tail -n 5 "$OUT/wsload.err" | sed 's/^/    /'
        [ -z "$WSS_FIXED" ] && WSS_NOTE="wsload failed (exit status $rc)"
    fi

    if status_json "$OUT/status-wss-1.json" \
       && [ -s "$OUT/status-wss-0.json" ]; then
        WSS_STATUS=$(status_deltas "$OUT/status-wss-0.json" \
            "$OUT/status-wss-1.json" relay_received relay_forwarded \
            relay_not_found frames_out queue_full channel_full stale_owner \
            write_timeout upgrade_fail auth_ok auth_fail idle_disconnects)
        WSS_ACTIVE=$(status_field "$OUT/status-wss-1.json" active_peers)
        log "  status deltas: $WSS_STATUS"
    fi
    log "  host UDP RcvbufErrors during the run: $WSS_UDP_DROPS"

    WSS_ERRLOG=$(( e1 - e0 ))
    if [ "$WSS_ERRLOG" -gt 0 ]; then
        log "  nginx error log: $WSS_ERRLOG new lines at warn or above:"
        grep -E '\[(warn|error|crit|alert|emerg)\]' "$PREFIX/logs/error.log" \
            | tail -n "$WSS_ERRLOG" | head -n 5 | sed 's/^/    /'
    fi

    nginx_check
    if [ "$HAVE_NGINX" = 1 ]; then
        run_load nginx "$NGX_PORT" "$NGX_CPU" relay -w "$WINDOW" \
                --dests "$DESTS" --dest-base "$DEST_BASE"
        WSS_ADJ+=("$(field rate "$LAST")")
        WSS_ADJ_PC+=("$(field per_core "$LAST")")
    fi
elif [ -z "$WSS_NOTE" ]; then
    WSS_NOTE="nginx is not running"
fi

# ------------------------------------------------ (d) zone bytes per node

# prints "used nodes" of the beacon zone from the status JSON on stdin
zone_usage() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c '
import json, sys

def find(o):
    if isinstance(o, dict):
        if isinstance(o.get("used"), (int, float)) \
           and isinstance(o.get("nodes"), (int, float)):
            return o
        for k in sorted(o, key=lambda k: k != "zone"):
            r = find(o[k])
            if r is not None:
                return r
    elif isinstance(o, list):
        for v in o:
            r = find(v)
            if r is not None:
                return r
    return None

try:
    z = find(json.load(sys.stdin))
except Exception:
    z = None
if z is not None:
    print(int(z["used"]), int(z["nodes"]))
'
    else
        local j u n
        j=$(tr -d ' \n\t')
        u=$(grep -o '"used":[0-9]*' <<<"$j" | head -n 1 | cut -d: -f2)
        n=$(grep -o '"nodes":[0-9]*' <<<"$j" | head -n 1 | cut -d: -f2)
        [ -n "$u" ] && [ -n "$n" ] && echo "$u $n"
    fi
}

status_usage() {
    local url=http://127.0.0.1:$HTTP_PORT/status body
    if command -v curl >/dev/null 2>&1; then
        body=$(curl -s -m 10 "$url")
    else
        body=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HTTP_PORT;
                 printf 'GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3;
                 cat <&3" | sed '1,/^\r\{0,1\}$/d')
    fi
    printf '%s\n' "$body" > "$OUT/status.json"
    zone_usage <<<"$body"
}

ZONE_AVG= ZONE_MARGINAL= ZONE_NOTE=

nginx_check
if [ "$HAVE_NGINX" = 1 ] && [ "$SECONDS" -ge "$TIME_LIMIT" ]; then
    ZONE_NOTE="skipped: time budget of ${TIME_LIMIT}s used up"
    log "-- zone usage: $ZONE_NOTE"
elif [ "$HAVE_NGINX" = 1 ]; then
    log "-- zone usage: registering $NODES nodes"
    s0=$(status_usage)
    l=$(timeout 150 "$OUT/loadgen" -m register -p "$NGX_PORT" -T nginx \
            -k "$NODES" -n 8 -w 32 -t 140 2>>"$OUT/loadgen.err" \
        | grep '^RESULT')
    printf '  %s\n' "${l:-register: no result}"
    [ -n "$l" ] && printf '%s\n' "$l" >> "$OUT/results.txt"
    s1=$(status_usage)

    if [ -n "$s0" ] && [ -n "$s1" ]; then
        read -r u0 n0 <<<"$s0"
        read -r u1 n1 <<<"$s1"
        log "  status before: used=$u0 nodes=$n0; after: used=$u1 nodes=$n1"
        if [ "$n1" -gt 0 ]; then
            ZONE_AVG=$(( u1 / n1 ))
        fi
        if [ "$(( n1 - n0 ))" -gt 0 ]; then
            ZONE_MARGINAL=$(( (u1 - u0) / (n1 - n0) ))
        fi
        ZONE_NOTE="used $u1 B for $n1 nodes"
    else
        ZONE_NOTE="status page not readable (see $OUT/status.json)"
        log "  $ZONE_NOTE"
    fi
fi

# ---------------------------------------------------------------- summary

fmt() { [ -n "${1:-}" ] && printf '%s' "$1" || printf '%s' "-"; }

verdict() {
    local r=$1 t=$2
    [ "$r" = "-" ] && { echo "-"; return; }
    awk -v r="$r" -v t="$t" 'BEGIN { print (r >= t) ? "met" : "NOT met" }'
}

# ratio of the medians, and the median of the per-round ratios (each
# nginx run right after its reference run: robust against host drift)
RAT_D=$(ratio "$ND" "$RD")    RAT_R=$(ratio "$NR" "$RR")
RAT_DP=$(ratio "$NDP" "$RDP") RAT_RP=$(ratio "$NRP" "$RRP")
PAIR_D=$(median -f "${P_DISC[@]}")    PAIR_R=$(median -f "${P_RELAY[@]}")
PAIR_DP=$(median -f "${P_DISC_PC[@]}") PAIR_RP=$(median -f "${P_RELAY_PC[@]}")

log ""
log "== summary: $(nproc) CPUs shared by servers and load generator;" \
    "medians of $ROUNDS x ${DUR}s =="
[ "$HAVE_NGINX" = 1 ] || log "   (${NGINX_NOTE:-nginx not measured})"
printf '%-34s %12s %12s %6s %6s  %s\n' "metric" "reference" "nginx+module" \
       "ratio" "paired" "target (paired ratio)"
printf '%-34s %12s %12s %6s %6s  %s\n' "DISCOVER replies/s" "$(fmt "$RD")" \
       "$(fmt "$ND")" "$RAT_D" "$(fmt "$PAIR_D")" \
       ">= 0.80 $(verdict "$(fmt "$PAIR_D")" 0.80)"
printf '%-34s %12s %12s %6s %6s  %s\n' "  per server CPU-second" \
       "$(fmt "$RDP")" "$(fmt "$NDP")" "$RAT_DP" "$(fmt "$PAIR_DP")" \
       ">= 0.80 $(verdict "$(fmt "$PAIR_DP")" 0.80)"
printf '%-34s %12s %12s %6s %6s  %s\n' "RELAY deliveries/s" "$(fmt "$RR")" \
       "$(fmt "$NR")" "$RAT_R" "$(fmt "$PAIR_R")" \
       ">= 0.70 $(verdict "$(fmt "$PAIR_R")" 0.70)"
printf '%-34s %12s %12s %6s %6s  %s\n' "  per server CPU-second" \
       "$(fmt "$RRP")" "$(fmt "$NRP")" "$RAT_RP" "$(fmt "$PAIR_RP")" \
       ">= 0.70 $(verdict "$(fmt "$PAIR_RP")" 0.70)"
printf '%-34s %12s %12s\n' "DISCOVER loss, closed loop (worst)" \
       "$(fmt "$RDW")" "$(fmt "$NDW")"
printf '%-34s %12s %12s\n' "RELAY loss, closed loop (worst)" \
       "$(fmt "$RRW")" "$(fmt "$NRW")"
printf '%-34s %12s %12s\n' "DISCOVER loss @ $(fmt "$FD")/s" \
       "$(fmt "$RDL")" "$(fmt "$NDL")"
printf '%-34s %12s %12s\n' "RELAY loss @ $(fmt "$FR")/s" \
       "$(fmt "$RRL")" "$(fmt "$NRL")"
printf '%-34s %12s %12s  %s\n' "zone bytes/node @ $NODES (avg)" "-" \
       "$(fmt "$ZONE_AVG")" "${ZONE_NOTE}"
printf '%-34s %12s %12s\n' "zone bytes/node (marginal)" "-" \
       "$(fmt "$ZONE_MARGINAL")"
if [ -f "$PREFIX/logs/error.log" ] && [ -n "$NGX_PID" ]; then
    log "nginx error log: $(grep -cE '\[(warn|error|crit|alert|emerg)\]' \
        "$PREFIX/logs/error.log") lines at warn or above" \
        "($PREFIX/logs/error.log)"
fi

# compat bridge: UDP -> WSS against the UDP -> UDP relay of (b), nginx

WC=$(median "${WSS_CAP[@]}")
WCP=$(median "${WSS_CAP_PC[@]}")
WA=$(median "${WSS_ADJ[@]}")          # the mean of the two adjacent runs
WAP=$(median "${WSS_ADJ_PC[@]}")
WCW=$(worst "${WSS_CAP_LOSS[@]}")
WF_OFF=$(field offered "$WSS_FIXED")
WF_ACH=$(field achieved "$WSS_FIXED")
WF_LOSS=$(field loss "$WSS_FIXED")
WF_LOST=$(field lost "$WSS_FIXED")
WSS_LAST=$WSS_FIXED                  # corrupt, closed: running totals
if [ -z "$WSS_LAST" ] && [ "${#WSS_LINES[@]}" -gt 0 ]; then
    WSS_LAST=${WSS_LINES[$(( ${#WSS_LINES[@]} - 1 ))]}
fi

lat_ms() {
    awk -v u="$1" 'BEGIN { if (u == "") { print "-" }
                           else { printf "%.1f\n", u / 1000 } }'
}

# summed over the phases (inversions, dups are per phase)
wss_sum() {
    local l s= v
    for l in "${WSS_LINES[@]}"; do
        v=$(field "$1" "$l")
        [ -n "$v" ] && s=$(( ${s:-0} + v ))
    done
    printf '%s\n' "${s:--}"
}

# CPUs busy: nginx workers / wsload / whole host, medians over RESULT lines
wss_cpu() {
    local l a=() b=() c=()
    for l in "$@"; do
        a+=("$(field srv_cpu "$l")")
        b+=("$(field lg_cpu "$l")")
        c+=("$(field host_cpu "$l")")
    done
    printf '%s/%s/%s\n' "$(fmt "$(median -f "${a[@]}")")" \
        "$(fmt "$(median -f "${b[@]}")")" "$(fmt "$(median -f "${c[@]}")")"
}

wss_loss_verdict() {
    if [ -z "$WF_LOST" ]; then
        echo "-"
    elif [ "$WF_LOST" = 0 ]; then
        echo "met"
    else
        echo "NOT met ($WF_LOST lost)"
    fi
}

WSS_HEAD="$(fmt "$(field ready "$WSS_LOGIN")")/$WSS_CONNS connections"
if [ -n "$(field conns_w "$WSS_LOGIN")" ]; then
    WSS_HEAD="$WSS_HEAD (per worker $(field conns_w "$WSS_LOGIN"))"
fi

log ""
log "== compat bridge, same nginx: $WSS_SENDERS UDP senders -> $WSS_HEAD," \
    "payload $PAYLOAD; medians of $WSS_ROUNDS x ${DUR}s =="
[ -n "$WSS_NOTE" ] && log "   ($WSS_NOTE)"
printf '%-34s %12s %12s %6s  %s\n' "metric" "UDP->UDP" "UDP->WSS" "ratio" \
       "target"
printf '%-34s %12s %12s %6s  %s\n' "delivered messages/s" "$(fmt "$NR")" \
       "$(fmt "$WC")" "$(ratio "$WC" "$NR")" \
       ">= 50000/s $(verdict "$(fmt "$WC")" 50000)"
printf '%-34s %12s %12s %6s\n' "  per server CPU-second" "$(fmt "$NRP")" \
       "$(fmt "$WCP")" "$(ratio "$WCP" "$NRP")"
printf '%-34s %12s %12s %6s\n' "  vs RELAY right before/after" \
       "$(fmt "$WA")" "$(fmt "$WC")" "$(ratio "$WC" "$WA")"
printf '%-34s %12s %12s %6s\n' "    per server CPU-second" "$(fmt "$WAP")" \
       "$(fmt "$WCP")" "$(ratio "$WCP" "$WAP")"
printf '%-34s %12s %12s\n' "loss, closed loop (worst)" "$(fmt "$NRW")" \
       "$(fmt "$WCW")"
printf '%-34s %12s %12s\n' "  CPUs nginx/wsload/host (median)" "-" \
       "$(wss_cpu "${WSS_CAP_LINES[@]}")"
printf '%-34s %12s %12s %6s  %s\n' \
       "loss @ $(fmt "$WF_OFF")/s ($LOAD_PCT% of cap.)" "-" \
       "$(fmt "$WF_LOSS")" "" "zero $(wss_loss_verdict)"
printf '%-34s %12s %12s\n' "  sent/s achieved" "-" "$(fmt "$WF_ACH")"
printf '%-34s %12s %12s\n' "  CPUs nginx/wsload/host" "-" \
       "$(wss_cpu "$WSS_FIXED")"
printf '%-34s %12s %12s\n' "  latency p50/p99/max, ms" "-" \
       "$(lat_ms "$(field lat_p50_us "$WSS_FIXED")")/$(lat_ms \
        "$(field lat_p99_us "$WSS_FIXED")")/$(lat_ms \
        "$(field lat_max_us "$WSS_FIXED")")"
printf '%-34s %12s %12s\n' "order inversions/dups/corrupt" "-" \
       "$(wss_sum inversions)/$(wss_sum dups)/$(fmt "$(field corrupt \
        "$WSS_LAST")")"
printf '%-34s %12s %12s\n' "conns lost/login failures" "-" \
       "$(fmt "$(field closed "$WSS_LAST")")/$(fmt "$(field failed \
        "$WSS_LOGIN")")"
if [ -n "$WSS_STATUS" ]; then
    log "status deltas: $WSS_STATUS"
fi
if [ -n "$WSS_UDP_DROPS" ]; then
    log "host UDP RcvbufErrors: $WSS_UDP_DROPS; active_peers after:" \
        "$(fmt "$WSS_ACTIVE"); new error.log lines (warn+): $(fmt "$WSS_ERRLOG")"
fi

log ""
log "ratio = nginx/reference of the medians; paired = median of the per-round"
log "ratios.  per server CPU-second = replies / on-CPU time of the server's"
log "workers (/proc/PID/schedstat; includes the loopback delivery of what"
log "they send).  Servers and load generator share the CPUs, so the raw"
log "rate ratio understates differences: a reference slowed to ~2x CPU per"
log "datagram (reflector --work-ns 3000) measured ~0.75 raw, ~0.51 per"
log "CPU-second.  The per CPU-second ratio is the efficiency comparison."
log "Compat bridge: UDP->UDP is RELAY (b) of nginx; UDP->WSS counts the"
log "deliveries that wsload's TLS WebSocket receivers read; the client's"
log "TLS work shares the CPUs with nginx (see t/bench/README.md)."
log "Raw RESULT lines: $OUT/results.txt"

exit 0
