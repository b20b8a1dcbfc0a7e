#!/usr/bin/perl

# The zone's node table under concurrency (issue 11, part 1): many more
# processes than cores run 10 million mixed operations (lookups, moves,
# refreshes, expiry with the records reused by other ids, inserts) on
# one table in shared memory, with the module's own code
# (ngx_beacon_ntab.c, driven by t/unit/ntab_stress.c).  Every lookup must
# return one whole endpoint really written for the id it asked for.
#
# Also: a process killed while holding a stripe, its record half
# written; the others take the stripe over and finish.  And the checker
# itself: a build without the seqlock re-check is caught.

use strict;
use warnings;

use FindBin;
use Test::More;

chdir "$FindBin::Bin/.." or die "chdir: $!";

my $build = $ENV{TEST_BEACON_BUILD} || 'build';
my ($bin, $broken) = ("$build/ntab_stress", "$build/ntab_stress_broken");

plan(skip_all => "ntab_stress not built (run `make tools`)")
    unless -x $bin && -x $broken;

sub run {
    my @args = @_;
    my $out = `timeout 300 @args 2>&1`;
    my $rc = $? >> 8;
    my %f = $out =~ /(\w+)=([\d.]+)/g;
    diag($out =~ s/\n\z//r);
    return ($rc, \%f);
}

my $procs = 16;

my ($rc, $f) = run($bin, $procs, 10_000_000);
is($rc, 0, 'stress: exit 0');
is($f->{operations}, 10_000_000, 'stress: 10 million operations');
is($f->{processes}, $procs, "stress: $procs processes");
cmp_ok($f->{lookups}, '>', 5_000_000, 'stress: lookups');
cmp_ok($f->{found}, '>', 1_000_000, 'stress: found');
cmp_ok($f->{removes}, '>', 100_000, 'stress: expiry with reuse');
is($f->{violations}, 0, 'stress: every lookup got an endpoint of its id');
is($f->{odd}, 0, 'stress: no record left half written');
is($f->{linked}, $f->{nodes}, 'stress: node count matches the chains');

($rc, $f) = run($bin, $procs, 2_000_000, 'kill');
is($rc, 0, 'killed holder: the others finish');
cmp_ok($f->{recovered}, '>=', 1, 'killed holder: stripe taken over');
is($f->{dead}, 1, 'killed holder: its half-written record is never found');
is($f->{violations}, 0, 'killed holder: no torn endpoint returned');

# the checker catches a seqlock without its re-check (bounded tries)

my $caught = 0;

for my $try (1 .. 6) {
    ($rc, $f) = run($broken, $procs, 4_000_000);

    if (($f->{violations} || 0) > 0) {
        $caught = 1;
        last;
    }
}

ok($caught, 'broken seqlock: torn reads detected');

done_testing();
