#!/usr/bin/perl

# The gossip route table under concurrency (issue 11, part 3, the gossip
# room): many more processes than cores run 10 million mixed operations
# on one table in shared memory, with the module's own code
# (pilot/ngx_beacon_gtab.c, driven by t/unit/gtab_stress.c): lock-free
# route lookups, SYNCs from more peer addresses than there are source
# slots (silent sources die, their slots go to other addresses), and
# sweeps that free dead routes for other ids.  Every route a lookup
# returns must lead to an address that really announced that id in that
# generation.
#
# Also: a process killed holding the table lock in the middle of a
# source's write; the others take the lock over, finish, and never route
# through the half-written source.  And the checker itself: a build that
# gives a slot to a new address without a new generation is caught.

use strict;
use warnings;

use FindBin;
use Test::More;

chdir "$FindBin::Bin/.." or die "chdir: $!";

my $build = $ENV{TEST_BEACON_BUILD} || 'build';
my ($bin, $broken) = ("$build/gtab_stress", "$build/gtab_stress_broken");

plan(skip_all => "gtab_stress not built (run `make tools`)")
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
cmp_ok($f->{lookups}, '>', 9_000_000, 'stress: lookups');
cmp_ok($f->{found}, '>', 1_000_000, 'stress: routes found');
cmp_ok($f->{syncs}, '>', 50_000, 'stress: SYNCs');
cmp_ok($f->{swept}, '>', 10_000, 'stress: dead routes freed and reused');
is($f->{violations}, 0, 'stress: every route led to its announcer');
is($f->{odd}, 0, 'stress: no record left half written');
is($f->{bad_bucket}, 0, 'stress: every route in its own chain');
is($f->{linked}, $f->{routes}, 'stress: route count matches the chains');
is($f->{routes_off}, 0, 'stress: each source counts its routes exactly');

($rc, $f) = run($bin, $procs, 2_000_000, 'kill');
is($rc, 0, 'killed holder: the others finish');
cmp_ok($f->{recovered}, '>=', 1, 'killed holder: lock taken over');
is($f->{violations}, 0, 'killed holder: no half-written source used');
is($f->{odd}, 0, 'killed holder: its write neutralized');

# the checker catches routes that lead to a slot's next address

($rc, $f) = run($broken, $procs, 4_000_000);
cmp_ok($f->{violations} || 0, '>', 0,
    'broken generation: wrong routes detected');

done_testing();
