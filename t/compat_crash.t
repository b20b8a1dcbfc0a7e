#!/usr/bin/perl

# Tests for ngx_beacon_module: the compat bridge when the worker holding a
# WebSocket is killed (kill -9).  Its owner record goes stale: the first
# relay that finds the owner's channel gone drops the record (counted
# stale_owner), later relays count not_found, the connection gauges drop
# back when the replacement worker takes the dead one's slot, and the node
# can log in again and receive.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Compat;

use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = compat_nginx(10)->todo_alerts();

my ($crt, $key) = make_cert($t);

my %S = compat_keys($t, 3001);

$t->write_file_expand('nginx.conf', compat_conf(cert => [ $crt, $key ],
    workers => 4, listen => 'reuseport'));

$t->run();

###############################################################################

my $P = port(8443);
my $H = port(8080);
my $B = '127.0.0.1:' . port(8980, udp => 1);

# UDP senders from many source addresses, so that relays reach every worker

my @S;

for my $i (1 .. 12) {
    my $s = udp_node($B, 100 + $i, '127.0.0.' . (40 + $i), try => 1);
    push @S, [$s, 100 + $i] if defined $s;
}

my $W = ws_login($P, 3001, $S{3001});
ok($W && !$W->{failed}, 'logged in');

my $pid = conn_worker($t, $W->local_addr());
ok($pid, 'the owning worker found');

$S[0][0]->send(relay($S[0][1], 3001, 'before'));
my $m = $W->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver($S[0][1], 'before')),
    'delivered before the crash');

my $c0 = ccounters($H, 'beacon');

kill 'KILL', $pid;

# the master has replaced the killed worker: four workers, $pid not among
# them

ok(wait_for(sub {
    my @w = $t->worker_pids();
    @w == 4 && !grep { $_ == $pid } @w;
}, 10), 'killed worker replaced');

# every worker, the replacement included, finds the owner gone

$_->[0]->send(relay($_->[1], 3001, 'after')) for @S;

my ($stale, $lost);

for (1 .. 30) {
    $stale = cdelta($H, 'beacon', $c0, 'compat.dropped.stale_owner', 0, 0);
    $lost = cdelta($H, 'beacon', $c0, 'relay_not_found', 0, 0);
    last if $lost >= @S;
    sleep 0.1;
}

# the relay that finds the owner gone has no UDP endpoint to fall back on
# either: it counts stale_owner and not_found; the others not_found

ok($stale >= 1, "stale owner dropped and counted ($stale)");
is($lost, scalar @S, "every relay counted not found ($lost)");

is(cwait($H, 'beacon', 'compat.connections', sub { $_[0] == 0 }, 5), 0,
    'connection gauge back to 0');

# the node comes back through another connection

my $W2 = ws_login($P, 3001, $S{3001});
ok($W2 && !$W2->{failed}, 'logged in again');

$S[1][0]->send(relay($S[1][1], 3001, 'again'));
$m = $W2->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver($S[1][1], 'again')),
    'delivered after the crash');

is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 1 }, 3), 1,
    'one active peer');

###############################################################################
