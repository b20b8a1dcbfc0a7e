#!/usr/bin/perl

# Runs the state file codec unit test (t/unit/state_test.c, built by `make tools`)
# and passes its TAP through unchanged.

use strict;
use warnings;

use FindBin;

chdir "$FindBin::Bin/.." or die "chdir: $!";

my $build = $ENV{TEST_BEACON_BUILD} || 'build';
my $bin = "$build/unit_state";

unless (-x $bin) {
    print "1..0 # SKIP unit_state not built (run `make tools`): $bin\n";
    exit 0;
}

exec { $bin } $bin or do {
    print "1..1\nnot ok 1 - exec $bin: $!\n";
    exit 1;
};
