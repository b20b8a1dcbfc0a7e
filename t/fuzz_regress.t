#!/usr/bin/perl

# Fuzz regression: builds every libFuzzer target listed in t/fuzz/targets the
# way t/fuzz/run.sh does and runs each once over its committed seed corpus and
# over every input that once crashed it (t/fuzz/crashes-<name>/, if present);
# no fuzzing: libFuzzer executes file arguments once each.
#
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

# target, sources, libraries, seed corpus (t/fuzz/targets)
my @targets;
open my $tl, '<', 't/fuzz/targets' or die "t/fuzz/targets: $!";
while (<$tl>) {
    next if /^\s*(#|$)/;
    my ($name, $len, $corpus, $srcs, $libs) = split;
    $srcs =~ s/,/ /g;
    $libs = $libs eq '-' ? '' : join ' ', split /,/, $libs;
    push @targets, [ $name, $srcs, $libs, $corpus ];
}
close $tl;

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

plan tests => 3 * @targets;

system('mkdir', '-p', $build) == 0 or die "mkdir $build";

local $ENV{UBSAN_OPTIONS} = 'halt_on_error=1:print_stacktrace=1';

# every folder of the module is an include directory (README, Layout)
my $incs = join " ", map { "-I$_" } "ngx_beacon_module",
    grep { -d } glob "ngx_beacon_module/*";

for my $t (@targets) {
    my ($name, $src, $libs, $corpus) = @$t;

    my @seeds = sort grep { -f } glob "$corpus/*";
    my @crashes = sort grep { -f } glob "t/fuzz/crashes-$name/*";

    ok(scalar @seeds, "$name: seed corpus $corpus present ("
       . scalar(@seeds) . ' files)');

    my $bin = "$build/fuzz_$name";
    my $out = `$cc @san $incs -o $bin t/fuzz/fuzz_$name.c \\
               $src $libs 2>&1`;

    ok($? == 0, "$name: build $bin") or diag($out);

    SKIP: {
        skip "$bin not built", 1 if $? != 0;
        skip "no seeds in $corpus", 1 unless @seeds;

        # artifacts of a crash go to the temp dir, never into the corpus
        my @inputs = (@seeds, @crashes);
        $out = `$bin -artifact_prefix=$tmp/$name- @inputs 2>&1`;
        my $rc = $?;

        my $runs = () = $out =~ /^Running: /mg;

        ok($rc == 0 && $runs == @inputs,
           "$name: all $runs/" . scalar(@inputs) . " seeds and past crash"
           . " inputs run clean")
            or diag("exit status $rc\n$out");
    }
}
