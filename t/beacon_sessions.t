#!/usr/bin/perl

# Tests for ngx_beacon_module: the core checks with
# "beacon_datapath sessions;" (datagrams through nginx UDP sessions instead
# of the module's own receive loop).

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(31);

$t->write_file_expand('nginx.conf', beacon_conf(stream => <<'EOF'));
beacon_zone beacon:1m;
beacon_zone wild:1m;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    beacon zone=beacon;
    beacon_datapath sessions;
    beacon_reply_limit off;
}

server {
    listen 0.0.0.0:%%PORT_8981_UDP%% udp reuseport;
    beacon zone=wild;
    beacon_datapath sessions;
    beacon_punch_limit global=0 per_ip=0;
}
EOF

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $P2 = port(8981, udp => 1);
my $H = port(8080);

my ($r, $ip, $port, $c0);

# discover

my $C = dgram($B, local => '127.0.0.70');
($r, $ip, $port) = $C->io(hx('01 0000002a'));
is(tohex($r), tohex(reply_for($C)), 'discover reply');
is("$ip:$port", $B, 'discover reply source');

$c0 = counters($H, 'beacon');
$C->send(hx('01 000000'));
ok($C->expect_nothing(), 'short discover: nothing');
is(counter_delta($H, 'beacon', $c0, 'malformed', 1), 1, 'short: counted');

# many datagrams from one client (later datagrams of one session)

$C->send(discover(42)) for 1 .. 100;
my $n = grep { $_->[0] eq reply_for($C) } $C->recv_all(0.5, max => 100);
is($n, 100, '100 datagrams of one session answered');

# probe

my $P = dgram($B, local => '127.0.0.71');
$c0 = counters($H, 'beacon');
($r) = $P->io(discover(0));
is(tohex($r), tohex(reply_for($P)), 'probe reply');
is(counter_delta($H, 'beacon', $c0, 'probes', 1), 1, 'probe counted');

# throttle

my $D = dgram($B, local => '127.0.0.72');
$c0 = counters($H, 'beacon');
($r) = $D->io(discover(42));
is(tohex($r), tohex(reply_for($D)), 'throttled: reply');
is(counter_delta($H, 'beacon', $c0, 'discover_throttled', 1), 1,
    'throttled: counted');

# relay

my $S = dgram($B, local => '127.0.0.73');
$S->io(discover(10));

$c0 = counters($H, 'beacon');
$S->send(relay(10, 42, 'hello'));
($r, $ip, $port) = $C->recv(2);
is(tohex($r), tohex(deliver(10, 'hello')), 'relay delivered to C, not D');
is("$ip:$port", $B, 'relay delivery source');
is(counter_delta($H, 'beacon', $c0, 'relay_forwarded', 1), 1,
    'relay_forwarded');

$S->send(relay(10, 42, ''));
is(tohex($C->recv(2)), '060000000a', 'empty payload');

$c0 = counters($H, 'beacon');
$D->send(relay(10, 42, 'spoof'));
ok($C->expect_nothing(), 'sender mismatch: nothing');
is(counter_delta($H, 'beacon', $c0, 'relay_dropped.sender_mismatch', 1), 1,
    'sender mismatch: counted');

my $E = dgram($B, local => '127.0.0.74');
$E->io(discover_ex(21));
$S->send(relay(10, 21, 'hello'));
is(tohex($E->recv(2)), tohex(deliver_dest(10, 21, 'hello')),
    'DISCOVER_EX delivery');

# punch

my $T = dgram($B, local => '127.0.0.75');
$T->io(discover(9002));

$S->send(punch(10, 9002));
is(tohex($S->recv(2)), tohex(command_for($T)), 'punch: requester');
is(tohex($T->recv(2)), tohex(command_for($S)), 'punch: target');

# relays between nodes of different workers

my $map = map_workers(peer => $B, http => $H, zone => 'beacon',
    locals => [ map { "127.0.4.$_" } 1 .. 32 ], max => 32, want => 2);

my @w = sort keys %$map;
is(scalar @w, 2, 'sockets on both workers');

my ($x, $y) = ($map->{$w[0]}[0], $map->{$w[-1]}[0]);
$x->io(discover(301));
$y->io(discover(302));

$x->send(relay(301, 302, 'xw'));
is(tohex($y->recv(2)), tohex(deliver(301, 'xw')), 'relay across workers');
$y->send(relay(302, 301, 'yw'));
is(tohex($x->recv(2)), tohex(deliver(302, 'yw')), 'relay across workers back');

# wildcard listen: the source is the address the node talked to

my $W1 = dgram("127.0.0.1:$P2", local => '127.0.0.76');
my $W2 = dgram("127.0.0.2:$P2", local => '127.0.0.77');

($r, $ip, $port) = $W2->io(discover(2));
is("$ip:$port", "127.0.0.2:$P2", 'wildcard: reply source .2');

$W1->io(discover(1));
$W1->send(relay(1, 2, 'w'));
($r, $ip, $port) = $W2->recv(2);
is(defined $r ? tohex($r) . " $ip:$port" : undef,
    tohex(deliver(1, 'w')) . " 127.0.0.2:$P2", 'wildcard: delivery source');

$W1->send(punch(1, 2));
($r, $ip, $port) = $W2->recv(2);
is(defined $r ? tohex($r) . " $ip:$port" : undef,
    tohex(command_for($W1)) . " 127.0.0.2:$P2", 'wildcard: command source');

# garbage

my @workers = $t->worker_pids();

srand(4242);

for my $i (1 .. 500) {
    my $len = int(rand(100));
    my $d = join('', map { chr(int(rand(256))) } 1 .. $len);
    substr($d, 0, 1) = chr(int(rand(12))) if $len && rand() < 0.7;
    $S->send($d);
}

$S->drain();
ok(udp_drained(port(8980, udp => 1)), 'garbage: read by nginx');
$S->drain();

is("@{[ $t->worker_pids() ]}", "@workers", 'garbage: no crash');

($r) = $C->io(discover(42));
is(tohex($r), tohex(reply_for($C)), 'garbage: still serving');

# reload: sessions do not hold old workers; state kept

ok($t->reload(), 'reload');

$S->send(relay(10, 42, 'reloaded'));
is(tohex($C->recv(2)), tohex(deliver(10, 'reloaded')), 'relay after reload');

($r) = $P->io(discover(0));
is(tohex($r), tohex(reply_for($P)), 'old session socket after reload');

# shutdown is not delayed by sessions

my $start = time();
$t->stop();
cmp_ok(time() - $start, '<', 5, 'quick shutdown');

###############################################################################
