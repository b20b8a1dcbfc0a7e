#!/usr/bin/perl

# Tests for ngx_beacon_module: RELAY / RELAY_DELIVER / RELAY_DELIVER_DEST
# (spec scenarios 18-23), relay drop counters, sender binding (W11),
# DISCOVER_EX mark rules (W4), per-source budget.

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(38);

$t->write_file_expand('nginx.conf', beacon_conf(stream => <<'EOF'));
beacon_zone r1:1m;
beacon_zone r2:1m;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    beacon zone=r1;
    beacon_endpoint_throttle 2s;
}

server {
    listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
    beacon zone=r2;
    beacon_relay_bind_sender off;
    beacon_relay_limit 4000;
}
EOF

$t->run();

###############################################################################

my $B1 = '127.0.0.1:' . port(8980, udp => 1);
my $B2 = '127.0.0.1:' . port(8981, udp => 1);
my $H = port(8080);

my ($r, $ip, $port, $c0);

my $D = udp_node($B1, 20, "127.0.0.60", rcvbuf => 4 * 1024 * 1024);
my $S = udp_node($B1, 10, '127.0.0.61');

# 18. delivery

$c0 = counters($H, 'r1');
$S->send(relay(10, 20, 'hello'));
($r, $ip, $port) = $D->recv(2);
is(tohex($r), tohex(hx('06 0000000a 68656c6c6f')), 'relay delivered');
is("$ip:$port", $B1, 'relay delivery source');
is(counter_delta($H, 'r1', $c0, 'relay_received', 1), 1, 'relay_received');
is(counter_delta($H, 'r1', $c0, 'relay_forwarded', 1), 1, 'relay_forwarded');

# 19. empty payload

$S->send(hx('05 0000000a 00000014'));
is(tohex($D->recv(2)), '060000000a', 'empty payload delivered');

# the largest payload a UDP/IPv4 datagram can carry

my $big = join('', map { chr($_ % 251) } 1 .. 65498);
$S->send(relay(10, 20, $big));
$r = $D->recv(2);
ok(defined $r && $r eq deliver(10, $big), 'largest payload delivered');

# relay to the sender itself

$S->send(relay(10, 10, 'self'));
is(tohex($S->recv(2)), tohex(deliver(10, 'self')), 'relay to itself');

# 20. unknown destination, short relay

$c0 = counters($H, 'r1');
$S->send(relay(10, 999, 'x'));
ok($S->expect_nothing() && $D->expect_nothing(0.05), 'unknown dest: nothing');
is(counter_delta($H, 'r1', $c0, 'relay_not_found', 1), 1,
    'unknown dest: relay_not_found');

$c0 = counters($H, 'r1');
$S->send(hx('05 0000000a 00'));
ok($S->expect_nothing() && $D->expect_nothing(0.05), 'short relay: nothing');
is(counter_delta($H, 'r1', $c0, 'relay_dropped.malformed', 1), 1,
    'short relay: relay_dropped.malformed');
is(counter_delta($H, 'r1', $c0, 'relay_dropped.total', 1), 1,
    'short relay: relay_dropped.total');
is(counter_delta($H, 'r1', $c0, 'relay_not_found'), 0,
    'short relay: not counted as not found');

# sender binding: sender_id must be registered at the datagram's source

my $X = dgram($B1, local => '127.0.0.62');

$c0 = counters($H, 'r1');
$X->send(relay(10, 20, 'spoof'));
ok($D->expect_nothing(), 'unregistered source claiming 10: nothing');
is(counter_delta($H, 'r1', $c0, 'relay_dropped.sender_mismatch', 1), 1,
    'unregistered source: sender_mismatch');

my $Y = udp_node($B1, 11, '127.0.0.63');

$c0 = counters($H, 'r1');
$Y->send(relay(10, 20, 'spoof'));
$Y->send(relay(12345, 20, 'spoof'));
ok($D->expect_nothing(), 'node 11 claiming 10 or 12345: nothing');
is(counter_delta($H, 'r1', $c0, 'relay_dropped.sender_mismatch', 2), 2,
    'node 11 claiming others: sender_mismatch');

my $S2 = dgram($B1, local => '127.0.0.61');

$c0 = counters($H, 'r1');
$S2->send(relay(10, 20, 'port'));
ok($D->expect_nothing(), 'same IP, other port: nothing');
is(counter_delta($H, 'r1', $c0, 'relay_dropped.sender_mismatch', 1), 1,
    'same IP, other port: sender_mismatch');

$Y->send(relay(11, 20, 'own'));
is(tohex($D->recv(2)), tohex(deliver(11, 'own')), 'node 11 as itself');

# 21. order: 600 sequenced relays in bursts of 50

for my $burst (0 .. 11) {
    $S->send(relay(10, 20, pack('N', $burst * 50 + $_))) for 0 .. 49;
    sleep 0.01;
}

my @seq = map { unpack('N', substr($_->[0], 5)) }
    grep { length($_->[0]) == 9 } $D->recv_all(0.5, max => 600);

my $inversions = grep { $seq[$_] < $seq[$_ - 1] } 1 .. $#seq;
cmp_ok(scalar @seq, '>=', 540, 'order: at least 540 of 600 delivered');
is($inversions, 0, 'order: no inversions');

# 23. DISCOVER_EX: deliveries carry the destination

my $E = udp_node($B1, 21, '127.0.0.64', ex => 1);

$S->send(relay(10, 21, 'hello'));
is(tohex($E->recv(2)), tohex(hx('09 0000000a 00000015 68656c6c6f')),
    'dest-carrying delivery');

# the mark is only set by a non-throttled write

my $F = udp_node($B1, 22, '127.0.0.65');
my $Z = dgram($B1, local => '127.0.0.66');

($r) = $Z->io(discover_ex(22));
is(tohex($r), tohex(reply_for($Z)), 'throttled DISCOVER_EX: reply');

$S->send(relay(10, 22, 'w4'));
is(tohex($F->recv(2)), tohex(deliver(10, 'w4')),
    'throttled DISCOVER_EX: no mark');

# a plain DISCOVER from the same endpoint keeps the mark

$E->io(discover(21));
my $refreshed = time();

$S->send(relay(10, 21, 'keep'));
is(tohex($E->recv(2)), tohex(deliver_dest(10, 21, 'keep')),
    'plain refresh keeps the mark');

# a plain DISCOVER that moves the node clears it

sleep $refreshed + 2.3 - time();

my $G = udp_node($B1, 21, '127.0.0.67');

$S->send(relay(10, 21, 'moved'));
is(tohex($G->recv(2)), tohex(deliver(10, 'moved')),
    'moved by plain DISCOVER: mark cleared');
ok($E->expect_nothing(0.2), 'moved: nothing to the old endpoint');

# DISCOVER_EX moving a node sets the mark

my $E2 = dgram($B1, local => '127.0.0.68');

sleep 2.3;

$E2->io(discover_ex(21));
$S->send(relay(10, 21, 'ex'));
is(tohex($E2->recv(2)), tohex(deliver_dest(10, 21, 'ex')),
    'moved by DISCOVER_EX: mark set');

# 22. per-source budget (sender binding off: every relay has another
# sender_id)

my $D1 = udp_node($B2, 30, '127.0.0.70', rcvbuf => 16 * 1024 * 1024);
my $D2 = udp_node($B2, 31, '127.0.0.71');
my $F1 = dgram($B2, local => '127.0.0.72');
my $S3 = dgram($B2, local => '127.0.0.73');

$F1->send(relay(99, 31, 'unbound'));
is(tohex($D2->recv(2)), tohex(deliver(99, 'unbound')),
    'binding off: unregistered sender relays');

sleep 1.1;

$c0 = counters($H, 'r2');

my $start = time();

{
    local $ENV{TEST_NGINX_VERBOSE};

    for my $i (0 .. 11999) {
        $F1->send(relay(100000 + $i, 30, 'f'));
        sleep 0.004 if $i % 200 == 199;
    }
}

my $elapsed = time() - $start;

$S3->send(relay(7, 31, 'second'));
is(tohex($D2->recv(2)), tohex(deliver(7, 'second')),
    'budget: another source in the same second');

my $flood = () = $D1->recv_all(0.5, limit => 10);

ok(udp_drained(port(8981, udp => 1)), 'budget: flood read by nginx');

my $c1 = counters($H, 'r2');
my %d = map { $_ => $c1->{$_} - $c0->{$_} } qw/ relay_received
    relay_forwarded relay_dropped.rate_limited relay_dropped.send_failed /;

diag("flood: sent in ${elapsed}s, received $d{relay_received}, forwarded "
    . "$d{relay_forwarded}, limited $d{'relay_dropped.rate_limited'}, "
    . "delivered $flood") if $ENV{TEST_NGINX_VERBOSE};

cmp_ok($d{relay_received}, '>', 4001, 'budget: the flood reached the beacon');

is($d{relay_forwarded} + $d{'relay_dropped.rate_limited'}
    + $d{'relay_dropped.send_failed'}, $d{relay_received},
    'budget: every relay forwarded or counted');

SKIP: {
    skip "flood took ${elapsed}s, longer than one window", 3
        if $elapsed > 0.9;

    cmp_ok($d{relay_forwarded} - 1, '<=', 4000,
        'budget: at most 4000 forwarded in the window');
    cmp_ok($flood, '<=', 4000, 'budget: at most 4000 delivered');
    cmp_ok($d{'relay_dropped.rate_limited'}, '>=',
        $d{relay_received} - 4001, 'budget: the excess is rate limited');
}

# a new window opens a new budget

sleep 1.1;

$F1->send(relay(99, 31, 'next'));
is(tohex($D2->recv(2)), tohex(deliver(99, 'next')), 'budget: next window');

###############################################################################
