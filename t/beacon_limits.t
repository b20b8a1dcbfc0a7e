#!/usr/bin/perl

# Tests for ngx_beacon_module: beacon_reply_limit (DISCOVER_REPLY and
# PUNCH_COMMAND per destination IP) and beacon_register_limit (new nodes
# per source IP).

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(20);

$t->write_file_expand('nginx.conf', beacon_conf(stream => <<'EOF'));
beacon_zone la:1m;
beacon_zone lb:1m;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    beacon zone=la;
    beacon_reply_limit rate=1 burst=20;
    beacon_register_limit off;
    beacon_punch_limit global=0 per_ip=0;
}

server {
    listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
    beacon zone=lb;
    beacon_register_limit rate=1 burst=20;
    beacon_reply_limit off;
}
EOF

$t->run();

###############################################################################

my $B1 = '127.0.0.1:' . port(8980, udp => 1);
my $B2 = '127.0.0.1:' . port(8981, udp => 1);
my $H = port(8080);

my ($r, $c0, $start, $elapsed, $n);

# reply limit (1 per second, burst 20): 100 probes from one address; the
# other sockets of a check only send once the flood was answered (another
# worker may read them first), and the low rate leaves no time to refill

my $P = dgram($B1, local => '127.0.0.60', rcvbuf => 1024 * 1024);
my $P2 = dgram($B1, local => '127.0.0.60');
my $Q = dgram($B1, local => '127.0.0.61');

$c0 = counters($H, 'la');
$start = time();

$P->send(discover(0)) for 1 .. 100;
$n = () = $P->recv_all(0.3);

$elapsed = time() - $start;

$P2->send(discover(0));

my $allowed = 20 + int($elapsed) + 1;

cmp_ok($n, '>=', 20, "reply limit: burst answered ($n)");
cmp_ok($n, '<=', $allowed, "reply limit: the rest dropped (<= $allowed)");
cmp_ok(counter_delta($H, 'la', $c0, 'reply_rate_limited'), '>=',
    100 - $allowed, 'reply limit: counted');

ok($P2->expect_nothing(0.3), 'reply limit: per IP, not per port');

($r) = $Q->io(discover(0));
is(tohex($r), tohex(reply_for($Q)), 'reply limit: another IP answered');

# punch commands to an exhausted address are limited too

my $T = dgram($B1, local => '127.0.0.62');
my $A = dgram($B1, local => '127.0.0.63');

$T->io(discover(7002));
$A->io(discover(7001));

$c0 = counters($H, 'la');

$T->send(discover(0)) for 1 .. 60;
$T->recv_all(0.2);
$A->send(punch(7001, 7002));

is(tohex($A->recv(2)), tohex(command_for($T)),
    'reply limit: requester gets its command');
ok(!grep({ $_->[0] eq command_for($A) } $T->recv_all(0.3)),
    'reply limit: no command to exhausted target');
cmp_ok(counter_delta($H, 'la', $c0, 'reply_rate_limited', 41), '>=', 39,
    'reply limit: probes and the command counted');

# the budget refills

sleep 1.2;

($r) = $P->io(discover(0));
is(tohex($r), tohex(reply_for($P)), 'reply limit: refilled after 1s');

# register limit (1 per second, burst 20): 60 new nodes from one address

my $R = dgram($B2, local => '127.0.0.70', rcvbuf => 1024 * 1024);
my $R2 = dgram($B2, local => '127.0.0.70');
my $S = dgram($B2, local => '127.0.0.71');

$c0 = counters($H, 'lb');
$start = time();

$R->send(discover($_)) for 1 .. 60;
$R->recv_all(0.3);

$elapsed = time() - $start;

$R2->send(discover(500));
$R2->recv_all(0.3);

my $c1 = counters($H, 'lb');
$n = $c1->{nodes} - $c0->{nodes};
$allowed = 20 + int($elapsed) + 1;

cmp_ok($n, '>=', 20, "register limit: burst registered ($n)");
cmp_ok($n, '<=', $allowed, "register limit: the rest refused (<= $allowed)");
is($c1->{register_rate_limited} - $c0->{register_rate_limited}, 61 - $n,
    'register limit: counted (other port of the same IP included)');

$c0 = counters($H, 'lb');
$R->send(relay(1, 500, 'x'));
ok($R2->expect_nothing(), 'register limit: limited node not registered');
is(counter_delta($H, 'lb', $c0, 'relay_not_found', 1), 1,
    'register limit: relay to it not found');

# refreshes are not new registrations

$c0 = counters($H, 'lb');
($r) = $R->io(discover(1));
is(tohex($r), tohex(reply_for($R)), 'register limit: refresh answered');
is(counter_delta($H, 'lb', $c0, 'register_rate_limited'), 0,
    'register limit: refresh not limited');

# another address registers

($r) = $S->io(discover(600));
is(tohex($r), tohex(reply_for($S)), 'register limit: another IP registers');

$R->send(relay(1, 600, 'y'));
is(tohex($S->recv(2)), tohex(deliver(1, 'y')), 'register limit: it is a node');

# the budget refills

sleep 1.2;

$c0 = counters($H, 'lb');
($r) = $R->io(discover(700));
is(tohex($r), tohex(reply_for($R)), 'register limit: refilled after 1s');
is(counter_delta($H, 'lb', $c0, 'nodes', 1), 1,
    'register limit: new node after 1s');

###############################################################################
