#!/usr/bin/env bash
# make test-sanitize: the module built as a .so against the same nginx tree
# loads into that tree's (sanitized) nginx and passes "nginx -t".
set -euo pipefail
san=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cat > "$d/nginx.conf" <<CONF
load_module $san/ngx_stream_beacon_module.so;
pid $d/nginx.pid;
error_log $d/error.log;
events {}
stream {
    beacon_zone probe:1m;
}
CONF
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}suppressions=$(dirname "$0")/asan.supp:log_path=$d/san"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$d/san"
out=$("$san/nginx-dynamic" -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" -t 2>&1) || {
    echo "dynamic module: nginx -t failed: $out" >&2; exit 1; }
if ls "$d"/san.* >/dev/null 2>&1; then
    echo "dynamic module: sanitizer report:" >&2; cat "$d"/san.* >&2; exit 1
fi
echo "dynamic module: $san/ngx_stream_beacon_module.so loads into $san/nginx-dynamic"
