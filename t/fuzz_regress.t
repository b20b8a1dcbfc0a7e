#!/usr/bin/perl

# Fuzz regression: builds the libFuzzer target t/fuzz/fuzz_proto.c the way
# t/fuzz/run.sh does and runs it once over every committed seed in
# t/fuzz/corpus (no fuzzing; libFuzzer executes file arguments once each).
# Skipped when clang cannot build -fsanitize=fuzzer binaries.

use strict;
use warnings;

use FindBin;
use File::Temp qw(tempdir);
use Test::More;

chdir "$FindBin::Bin/.." or die "chdir: $!";

my $build = $ENV{TEST_BEACON_BUILD} || 'build';
my $cc = $ENV{CC_FUZZ} || 'clang';
my @san = ('-g', '-O1', '-fsanitize=fuzzer,address,undefined');

# probe: can this compiler link a trivial libFuzzer target?

my $tmp = tempdir(CLEANUP => 1);

open my $fh, '>', "$tmp/probe.c" or die "$tmp/probe.c: $!";
print $fh <<'PROBE';
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return (int) (data == NULL && size > 0);
}
PROBE
close $fh;

if (system("$cc @san -o $tmp/probe $tmp/probe.c >/dev/null 2>&1") != 0) {
    plan skip_all => "$cc cannot build -fsanitize=fuzzer binaries "
        . "(needs clang and libFuzzer, Debian: libclang-rt-14-dev)";
}

my @seeds = sort grep { -f } glob 't/fuzz/corpus/*';

plan tests => 3;

ok(scalar @seeds, 'seed corpus present (' . scalar(@seeds) . ' files)');

system('mkdir', '-p', $build) == 0 or die "mkdir $build";

my $bin = "$build/fuzz_proto";
my $out = `$cc @san -Ingx_beacon_module -o $bin t/fuzz/fuzz_proto.c \\
           ngx_beacon_module/ngx_beacon_proto.c -lsodium 2>&1`;

ok($? == 0, "build $bin") or diag($out);

SKIP: {
    skip "$bin not built", 1 if $? != 0;

    local $ENV{UBSAN_OPTIONS} = 'halt_on_error=1:print_stacktrace=1';

    # artifacts of a crash go to the temp dir, never into the corpus
    $out = `$bin -artifact_prefix=$tmp/ @seeds 2>&1`;
    my $rc = $?;

    my $runs = () = $out =~ /^Running: /mg;

    ok($rc == 0 && $runs == @seeds,
       "all $runs/" . scalar(@seeds) . " seeds run clean")
        or diag("exit status $rc\n$out");
}
