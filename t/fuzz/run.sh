#!/usr/bin/env bash
# Builds the codec fuzz target and runs it for a bounded time.
#
#   bash t/fuzz/run.sh [SECONDS]      (default 60)
#
# The committed seed corpus (t/fuzz/corpus) is copied to build/fuzz-corpus
# first, so new inputs found by the run never modify the committed files.
# Crash reproducers are written to build/fuzz-artifacts/.
# Exits non-zero on a crash, or if clang/libFuzzer is not available.

set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_TO_RUN=${1:-60}
CC_FUZZ=${CC_FUZZ:-clang}
B=${BUILD:-build}

case "$SECONDS_TO_RUN" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
    echo "fuzz: $CC_FUZZ not found; install clang and libclang-rt-14-dev" >&2
    exit 1
fi

mkdir -p "$B" "$B/fuzz-artifacts"

if ! "$CC_FUZZ" -g -O1 -fsanitize=fuzzer,address,undefined \
        -Ingx_beacon_module -o "$B/fuzz_proto" \
        t/fuzz/fuzz_proto.c ngx_beacon_module/ngx_beacon_proto.c -lsodium
then
    echo "fuzz: building with -fsanitize=fuzzer failed; is libFuzzer" \
         "installed (Debian: libclang-rt-14-dev) and libsodium-dev?" >&2
    exit 1
fi

rm -rf "$B/fuzz-corpus"
mkdir -p "$B/fuzz-corpus"
cp t/fuzz/corpus/* "$B/fuzz-corpus/"

echo "fuzz: running $B/fuzz_proto for ${SECONDS_TO_RUN}s"

# UBSan findings abort so that they count as crashes
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

"$B/fuzz_proto" -max_total_time="$SECONDS_TO_RUN" -max_len=65535 \
    -artifact_prefix="$B/fuzz-artifacts/" -print_final_stats=1 \
    "$B/fuzz-corpus"
