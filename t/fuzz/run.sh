#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for a share of a bounded time.
#
#   bash t/fuzz/run.sh [SECONDS] [TARGET...]     (default 60, all targets)
#
# Targets, their sources, libraries, seed corpora and input size limits are
# listed in t/fuzz/targets (one line each).
#
# SECONDS is split evenly between the targets run (at least 1 s each).
# Each seed corpus is copied to build/fuzz-corpus-<target> first, so new
# inputs found by the run never modify the committed files.  Crash
# reproducers are written to build/fuzz-artifacts/<target>-crash-*.
# Every target runs even if an earlier one crashed; the exit status is
# non-zero on any crash, or if clang/libFuzzer is not available.

set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_TO_RUN=${1:-60}
CC_FUZZ=${CC_FUZZ:-clang}
B=${BUILD:-build}

case "$SECONDS_TO_RUN" in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

shift $(( $# > 0 ? 1 : 0 ))

TARGET_LIST=t/fuzz/targets

ALL=()
while read -r name _; do
    ALL+=("$name")
done < <(grep -v '^[[:space:]]*\(#\|$\)' "$TARGET_LIST")

TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=("${ALL[@]}")
fi

# sets src, libs, corpus and maxlen for a target from t/fuzz/targets
spec() {
    local name len cor srcs lib
    while read -r name len cor srcs lib; do
        if [ "$name" = "$1" ]; then
            maxlen=$len corpus=$cor src=${srcs//,/ }
            if [ "$lib" = - ]; then libs=""; else libs=${lib//,/ }; fi
            return 0
        fi
    done < <(grep -v '^[[:space:]]*\(#\|$\)' "$TARGET_LIST")
    return 1
}

for t in "${TARGETS[@]}"; do
    if ! spec "$t"; then
        echo "fuzz: unknown target '$t' (${ALL[*]})" >&2
        exit 2
    fi
done

if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
    echo "fuzz: $CC_FUZZ not found; install clang and libclang-rt-14-dev" >&2
    exit 1
fi

SHARE=$(( SECONDS_TO_RUN / ${#TARGETS[@]} ))
if [ "$SHARE" -lt 1 ]; then
    SHARE=1
fi

mkdir -p "$B" "$B/fuzz-artifacts"

# every folder of the module is an include directory (README, Layout)
BEACON_INCS=$(for d in ngx_beacon_module ngx_beacon_module/*/; do
                  printf -- "-I%s " "${d%/}"; done)

# UBSan findings abort so that they count as crashes
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()

for t in "${TARGETS[@]}"; do
    spec "$t"

    # shellcheck disable=SC2086
    if ! "$CC_FUZZ" -g -O1 -fsanitize=fuzzer,address,undefined \
            $BEACON_INCS -o "$B/fuzz_$t" \
            "t/fuzz/fuzz_$t.c" $src $libs
    then
        echo "fuzz: building fuzz_$t with -fsanitize=fuzzer failed; is" \
             "libFuzzer installed (Debian: libclang-rt-14-dev), with" \
             "libsodium-dev and libssl-dev?" >&2
        exit 1
    fi

    rm -rf "$B/fuzz-corpus-$t"
    mkdir -p "$B/fuzz-corpus-$t"
    cp "$corpus"/* "$B/fuzz-corpus-$t/"

    echo "fuzz: running $B/fuzz_$t for ${SHARE}s"

    if ! "$B/fuzz_$t" -max_total_time="$SHARE" -max_len="$maxlen" \
            -artifact_prefix="$B/fuzz-artifacts/$t-" -print_final_stats=1 \
            "$B/fuzz-corpus-$t"
    then
        failed+=("$t")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]} (see $B/fuzz-artifacts/)" >&2
    exit 1
fi

echo "fuzz: ${TARGETS[*]}: no crashes"
