#!/usr/bin/perl

# Runs the Offset relay crypto unit test (t/unit/offset_crypto_test.c,
# built as build/unit_offset_crypto) and passes its TAP through unchanged.

use strict;
use warnings;

use FindBin;

chdir "$FindBin::Bin/.." or die "chdir: $!";

my $build = $ENV{TEST_BEACON_BUILD} || 'build';
my $bin = "$build/unit_offset_crypto";

unless (-x $bin) {
    print "1..0 # SKIP unit_offset_crypto not built (run `make tools`): $bin\n";
    exit 0;
}

exec { $bin } $bin or do {
    print "1..1\nnot ok 1 - exec $bin: $!\n";
    exit 1;
};
