#!/usr/bin/perl

# Tests for ngx_beacon_module: a full zone (max_nodes reached, or zone
# memory exhausted) refuses new nodes without a reply and counts them,
# never evicts live nodes, and accepts new nodes once old ones expired
# (node_ttl; spec scenarios 31, 32).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(24);

$t->write_file_expand('nginx.conf', beacon_conf(stream => <<'EOF'));
beacon_zone full:1m max_nodes=64 node_ttl=2s;
beacon_zone tiny:256k node_ttl=2s;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    beacon zone=full;
    beacon_register_limit off;
    beacon_reply_limit off;
}

server {
    listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
    beacon zone=tiny;
    beacon_register_limit off;
    beacon_reply_limit off;
}
EOF

$t->run();

###############################################################################

my $B1 = '127.0.0.1:' . port(8980, udp => 1);
my $B2 = '127.0.0.1:' . port(8981, udp => 1);
my $H = port(8080);

my ($r, $c0, $wait);

# relays from node $from to each of @to, all hosted on socket $s

sub reachable {
    my ($s, $from, @to) = @_;

    $s->send(relay($from, $_, "n$_")) foreach @to;

    my %want = map { deliver($from, "n$_") => 1 } @to;
    my $got = grep { delete $want{$_->[0]} }
        $s->recv_all(0.3, max => scalar @to);

    return $got;
}

# max_nodes=64

my $C = dgram($B1, local => '127.0.0.40', rcvbuf => 1024 * 1024);

my $start = time();
my $ok = 0;

for my $id (1 .. 64) {
    ($r) = $C->io(discover($id), 1);
    $ok++ if defined $r && $r eq reply_for($C);
}

is($ok, 64, 'max_nodes: 64 nodes registered');
is(status($H, 'full')->{nodes}, 64, 'max_nodes: status nodes');
is(status($H, 'full')->{max_nodes}, 64, 'max_nodes: status max_nodes');

my $N = dgram($B1, local => '127.0.0.41');

$c0 = counters($H, 'full');
$N->send(discover(65));
ok($N->expect_nothing(), 'max_nodes: new node refused without reply');
is(counter_delta($H, 'full', $c0, 'refused_capacity', 1), 1,
    'max_nodes: refused_capacity');

$N->send(discover(128));
ok($N->expect_nothing(), 'max_nodes: any id refused');

($r) = $C->io(discover(10));
is(tohex($r), tohex(reply_for($C)), 'max_nodes: refresh of a live node');

is(status($H, 'full')->{nodes}, 64, 'max_nodes: still 64 nodes');
is(reachable($C, 1, 2 .. 64), 63, 'max_nodes: no live node evicted');

# once the nodes expire, a new node is accepted

my $accepted;
my $deadline = time() + 8;

while (time() < $deadline) {
    ($r) = $N->io(discover(65), 0.25);
    if (defined $r) {
        $accepted = time();
        last;
    }
}

ok(defined $accepted, 'max_nodes: new node accepted after expiry');
cmp_ok(($accepted || 0) - $start, '>=', 1.8, 'max_nodes: not before node_ttl');

# 31. an expired node is gone (node_ttl plus at most one reap period):
# relays to it are not found

$wait = $start + 2 + 1.5 - time();
sleep $wait if $wait > 0;

$c0 = counters($H, 'full');
$N->send(relay(65, 50, 'late'));
ok($C->expect_nothing(), 'expired node: no delivery');
is(counter_delta($H, 'full', $c0, 'relay_not_found', 1), 1,
    'expired node: relay_not_found');

cmp_ok(status($H, 'full')->{nodes}, '<=', 64, 'max_nodes: never above');

# a tiny zone: memory runs out before max_nodes

my $T = dgram($B2, local => '127.0.0.42', rcvbuf => 1024 * 1024);
my $n = 0;

$start = time();
$c0 = counters($H, 'tiny');

for my $id (1 .. 50000) {
    ($r) = $T->io(discover($id), 0.5);
    last unless defined $r;
    $n = $id;
}

cmp_ok($n, '>', 10, "tiny zone: some nodes registered ($n)");
cmp_ok($n, '<', 50000, 'tiny zone: memory exhausted');
is(counter_delta($H, 'tiny', $c0, 'refused_capacity', 1), 1,
    'tiny zone: refused_capacity');

my $z = status($H, 'tiny');
is($z->{nodes}, $n, 'tiny zone: status nodes');
cmp_ok($z->{used} + $z->{free}, '<=', $z->{size}, 'tiny zone: used + free');

$T->send(discover($n + 2));
ok($T->expect_nothing(), 'tiny zone: still refused');

is(reachable($T, 1, 1, int($n / 2), $n), 3, 'tiny zone: live nodes kept');
is(status($H, 'tiny')->{nodes}, $n, 'tiny zone: nothing evicted');

# after expiry there is room again

$wait = $start + 2.5 - time();
sleep $wait if $wait > 0;

$accepted = undef;
$deadline = time() + 8;

my $U = dgram($B2, local => '127.0.0.43');

while (time() < $deadline) {
    ($r) = $U->io(discover(60000), 0.25);
    if (defined $r) {
        $accepted = 1;
        last;
    }
}

ok($accepted, 'tiny zone: new node accepted after expiry');

$U->send(relay(60000, 60000, 'room'));
is(tohex($U->recv(2)), tohex(deliver(60000, 'room')),
    'tiny zone: new node reachable');

###############################################################################
