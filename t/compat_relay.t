#!/usr/bin/perl

# Tests for ngx_beacon_module: relay through the compat bridge with four
# workers (spec 5.2 tier 0, 7.5, 7.8, scenarios 41 and 42): UDP -> WSS
# from every worker, WSS -> UDP, WSS -> WSS between connections owned by
# different workers, per-destination order, the hardened bridged control
# messages (DISCOVER only for oneself, nothing sent back, SYNC refused,
# PUNCH ignored, sender_id bound to the login), deliveries above 32768
# bytes dropped and counted, WSS taking precedence over a UDP entry.

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

my $t = compat_nginx(55);

my ($crt, $key) = make_cert($t);

my %S = compat_keys($t, 1001 .. 1004, 2000 .. 2015);

$t->write_file_expand('nginx.conf', compat_conf(cert => [ $crt, $key ],
    workers => 4, listen => 'reuseport'));

$t->run();

###############################################################################

my $P = port(8443);
my $H = port(8080);
my $B = '127.0.0.1:' . port(8980, udp => 1);

my ($r, $m, $c0, $ip, $port, $c);

sub node { return udp_node($B, @_); }

# a logged in peer on a worker other than those of @avoid (pids)

sub peer_on_other_worker {
    my ($id, @avoid) = @_;
    return ws_login_avoiding($t, $P, $id, $S{$id}, @avoid);
}

my $D = node(20, '127.0.0.60', rcvbuf => 4 * 1024 * 1024);
my $S = node(9999, '127.0.0.61');

my $W1 = peer_on_other_worker(1001);
my $W2 = peer_on_other_worker(1002, $W1 && $W1->{pid});

ok($W1 && $W2, 'two peers logged in');
ok($W1 && $W2 && defined $W1->{pid} && defined $W2->{pid}
    && $W1->{pid} != $W2->{pid}, 'peers owned by different workers');

diag("peer 1001 on pid " . ($W1->{pid} // '?') . ", 1002 on pid "
    . ($W2->{pid} // '?')) if $ENV{TEST_NGINX_VERBOSE};

# 41. UDP -> WSS

$c0 = ccounters($H, 'beacon');

$S->send(hx('05 0000270f 000003e9 50494e47'));
$m = $W1->recv_msg(2000);
is($m && tohex($m->{data}), '060000270f50494e47', 'udp -> wss: delivered');
ok($m && $m->{kind} eq 'binary' && $m->{frames} == 1,
    'udp -> wss: one binary frame');
is(cdelta($H, 'beacon', $c0, 'relay_forwarded', 1), 1,
    'udp -> wss: relay_forwarded +1');
is(cdelta($H, 'beacon', $c0, 'compat.frames_out', 1), 1,
    'udp -> wss: frames_out +1');

# from every worker: UDP sockets mapped to the worker that reads them;
# the connection lives in one worker, so most of these cross workers

my $map = map_workers(
    peer => $B,
    http => $H,
    zone => 'beacon',
    locals => [ map { "127.0.1.$_" } 1 .. 64 ],
    max => 64,
    want => 4,
);

my @w = sort { $a <=> $b } keys %$map;
is(scalar @w, 4, 'udp sockets on all four workers');

my ($sent, $got) = (0, 0);

foreach my $w (@w) {
    my $s = $map->{$w}[0];
    my $id = 9100 + $w;

    my ($reply) = $s->io(discover($id));
    next unless defined $reply;

    $sent++;
    $s->send(relay($id, 1001, "from worker $w"));

    $m = $W1->recv_msg(2000);
    $got++ if $m && $m->{data} eq deliver($id, "from worker $w");
}

ok($sent == 4 && $got == $sent,
    "udp -> wss from every worker ($got of $sent)");

# order: one UDP source, one WSS destination

for my $burst (0 .. 5) {
    $S->send(relay(9999, 1001, pack('N', $burst * 50 + $_))) for 0 .. 49;
    sleep 0.01;
}

my @seq = map { unpack('N', substr($_->{data}, 5)) }
    grep { $_->{ev} eq 'msg' && length($_->{data}) == 9 }
    $W1->recv_all(quiet => 500, max => 10000, count => 300);

cmp_ok(scalar @seq, '>=', 270, 'order: at least 270 of 300 delivered');
is(scalar(grep { $seq[$_] < $seq[$_ - 1] } 1 .. $#seq), 0,
    'order: no inversions');

# WSS -> UDP, from both workers; the delivery leaves from the beacon address

$W1->binary(relay(1001, 20, 'hi from 1001'));
($r, $ip, $port) = $D->recv(2);
is(tohex($r), tohex(deliver(1001, 'hi from 1001')), 'wss -> udp');
is("$ip:$port", $B, 'wss -> udp: from the beacon address');

$W2->binary(relay(1002, 20, 'hi from 1002'));
is(tohex($D->recv(2)), tohex(deliver(1002, 'hi from 1002')),
    'wss -> udp from the other worker');

# WSS -> WSS across workers, both ways

$c0 = ccounters($H, 'beacon');

$W1->binary(relay(1001, 1002, 'w1 to w2'));
$m = $W2->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(1001, 'w1 to w2')),
    'wss -> wss across workers');

$W2->binary(relay(1002, 1001, 'w2 to w1'));
$m = $W1->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(1002, 'w2 to w1')),
    'wss -> wss back');

is(cdelta($H, 'beacon', $c0, 'relay_forwarded', 2), 2,
    'wss -> wss: relay_forwarded +2');

# 42. DISCOVER over the bridge: nothing comes back

$c0 = ccounters($H, 'beacon');

$W1->binary(discover(1001));
is($W1->recv(600)->{ev}, 'timeout', 'discover: nothing back over wss');
ok($D->expect_nothing(0.1) && $S->expect_nothing(0.1),
    'discover: nothing to udp nodes');

$W1->binary(discover_ex(1001));
is($W1->recv(600)->{ev}, 'timeout', 'discover_ex: nothing back over wss');

$S->send(relay(9999, 1001, 'after ex'));
$m = $W1->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(9999, 'after ex')),
    'discover_ex: deliveries over wss stay 0x06');

is(cdelta($H, 'beacon', $c0, 'compat.dropped.not_allowed'), 0,
    'discover for oneself: not refused');

# DISCOVER for another id: refused, the id is not registered

$c0 = ccounters($H, 'beacon');

$W1->binary(discover(5555));
$W1->binary(discover_ex(5556));
is(cdelta($H, 'beacon', $c0, 'compat.dropped.not_allowed', 2), 2,
    'discover for other ids: not_allowed +2');

$S->send(relay(9999, 5555, 'x'));
is(cdelta($H, 'beacon', $c0, 'relay_not_found', 1), 1,
    'discover for another id: id not registered');
ok($W1->recv(300)->{ev} eq 'timeout' && $D->expect_nothing(0.1),
    'discover for another id: nothing anywhere');

# RELAY with a sender_id other than the login: dropped and counted

$c0 = ccounters($H, 'beacon');

$W1->binary(relay(1002, 20, 'spoof'));
$W1->binary(relay(20, 1002, 'spoof'));
ok($D->expect_nothing(0.5) && $W2->recv(300)->{ev} eq 'timeout',
    'sender mismatch: nothing delivered');

my $mm = cdelta($H, 'beacon', $c0, 'compat.dropped.not_allowed', 2);
my $sm = cdelta($H, 'beacon', $c0, 'relay_dropped.sender_mismatch', 0);
ok(($mm // 0) == 2 || ($sm // 0) == 2,
    'sender mismatch: counted (not_allowed ' . ($mm // '-')
    . ', sender_mismatch ' . ($sm // '-') . ')');

# SYNC over the bridge is refused: no route appears

$c0 = ccounters($H, 'beacon');

$W1->binary(sync(0, 7777));
$S->send(relay(9999, 7777, 'via sync'));
is(cdelta($H, 'beacon', $c0, 'relay_not_found', 1), 1,
    'sync: no route installed');
is($W1->recv(300)->{ev}, 'timeout', 'sync: nothing back');

# PUNCH over the bridge is ignored

$W1->binary(punch(1001, 20));
ok($D->expect_nothing(0.5), 'punch: nothing to the target');
is($W1->recv(200)->{ev}, 'timeout', 'punch: nothing back');

# deliveries above 32768 bytes are dropped and counted

$c0 = ccounters($H, 'beacon');

$S->send(relay(9999, 1001, 'x' x 32764));
is($W1->recv(1000)->{ev}, 'timeout', '32769-byte delivery: not sent');
is(cdelta($H, 'beacon', $c0, 'compat.dropped.oversize', 1), 1,
    '32769-byte delivery: dropped.oversize +1');

$S->send(relay(9999, 1001, 'y' x 32763));
$m = $W1->recv_msg(2000);
is($m && $m->{len}, 32768, '32768-byte delivery: sent');
ok($m && $m->{data} eq deliver(9999, 'y' x 32763),
    '32768-byte delivery: content');

$c0 = ccounters($H, 'beacon');

$W1->binary(relay(1001, 1002, 'z' x 32764));
is($W2->recv(1000)->{ev}, 'timeout', 'wss -> wss 32769 bytes: not sent');
is(cdelta($H, 'beacon', $c0, 'compat.dropped.oversize', 1), 1,
    'wss -> wss 32769 bytes: dropped.oversize +1');

# unknown destination from the bridge

$c0 = ccounters($H, 'beacon');
$W1->binary(relay(1001, 4444, 'nobody'));
is(cdelta($H, 'beacon', $c0, 'relay_not_found', 1), 1,
    'wss -> unknown: relay_not_found +1');

# a WSS peer takes precedence over a UDP entry of the same id

my $U = node(1001, '127.0.0.62');

$S->send(relay(9999, 1001, 'precedence'));
$m = $W1->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(9999, 'precedence')),
    'wss before udp: delivered over wss');
ok($U->expect_nothing(0.3), 'wss before udp: nothing to the udp entry');

# more peers, every pair

my $W3 = peer_on_other_worker(1003, $W1->{pid}, $W2->{pid});
my $W4 = peer_on_other_worker(1004, $W1->{pid}, $W2->{pid}, $W3 && $W3->{pid});

my %peer = (1001 => $W1, 1002 => $W2, 1003 => $W3, 1004 => $W4);
my ($pairs, $ok) = (0, 0);

foreach my $from (sort keys %peer) {
    foreach my $to (sort keys %peer) {
        next if $from == $to || !$peer{$from} || !$peer{$to};

        $pairs++;
        $peer{$from}->binary(relay($from, $to, "$from>$to"));
        $m = $peer{$to}->recv_msg(2000);
        $ok++ if $m && $m->{data} eq deliver($from, "$from>$to");
    }
}

is($ok, 12, "wss -> wss every pair of four peers ($ok of $pairs)");

my %pids = map { ($_->{pid} // 'none') => 1 } grep { $_ } values %peer;
diag('peers on ' . scalar(keys %pids) . ' workers')
    if $ENV{TEST_NGINX_VERBOSE};

# a connection that has not authenticated yet gets nothing

$c0 = ccounters($H, 'beacon');

my $pre = ws();
$pre->connect($P);
$pre->upgrade();
$pre->challenge();

is(cdelta($H, 'beacon', $c0, 'compat.connections', 1), 1,
    'pre-auth: counted in connections');
is(cdelta($H, 'beacon', $c0, 'compat.active_peers', 0), 0,
    'pre-auth: not an active peer');

$S->send(relay(9999, 2015, 'too early'));
is($pre->recv(500)->{ev}, 'timeout', 'pre-auth: no delivery');
is(cdelta($H, 'beacon', $c0, 'relay_not_found', 1), 1,
    'pre-auth: relay_not_found');

$pre->auth_reply($S{2015}, 2015);
$m = $pre->recv_msg(2000);
like($m && $m->{data}, qr/auth_ok/, 'pre-auth: auth_ok');

$S->send(relay(9999, 2015, 'in time'));
$m = $pre->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(9999, 'in time')),
    'pre-auth: delivery after auth_ok');
$pre->quit();

# a ring of 15 peers spread over the workers (and addresses, the per-IP
# cap is 16 by default): each relays to the next

my @ring;

for my $id (2000 .. 2014) {
    my $p = ws_login($P, $id, $S{$id},
        connect => { bind => '127.0.2.' . ($id - 1999) });
    next if $p->{failed};
    $p->{pid} = conn_worker($t, $p->local_addr());
    push @ring, [ $id, $p ];
}

is(scalar @ring, 15, 'ring: 15 peers');

my %rpids = map { ($_->[1]{pid} // 'none') => 1 } @ring;
cmp_ok(scalar(keys %rpids), '>=', 2,
    'ring: peers on ' . scalar(keys %rpids) . ' workers');

for my $i (0 .. $#ring) {
    my ($id, $p) = @{$ring[$i]};
    my $next = $ring[($i + 1) % @ring][0];
    $p->binary(relay($id, $next, "ring $id"));
}

my $rok = 0;

for my $i (0 .. $#ring) {
    my ($id, $p) = @{$ring[$i]};
    my $prev = $ring[$i - 1][0];
    $m = $p->recv_msg(2000);
    $rok++ if $m && $m->{data} eq deliver($prev, "ring $prev");
}

is($rok, scalar @ring, "ring: every peer got its delivery ($rok)");

$_->[1]->quit() for @ring;

# a burst from one UDP source: every relay is delivered or counted

cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 4 });

$c0 = ccounters($H, 'beacon');

{
    local $ENV{TEST_NGINX_VERBOSE};

    for my $i (0 .. 2999) {
        $S->send(relay(9999, 1001, pack('N', $i) . ('b' x 96)));
        sleep 0.002 if $i % 100 == 99;
    }
}

my @burst = grep { $_->{ev} eq 'msg' }
    $W1->recv_all(quiet => 700, max => 15000, count => 3000);

ok(udp_drained(port(8980, udp => 1)), 'burst: read by nginx');
my $c1 = ccounters($H, 'beacon');
my %d = map { $_ => ($c1->{$_} // 0) - ($c0->{$_} // 0) }
    grep { /^(relay_|compat\.dropped\.)/ } keys %$c1;

my $drops = 0;
$drops += $d{$_} for grep { /^compat\.dropped\./ } keys %d;
$drops += $d{'relay_dropped.total'} // 0;

cmp_ok(scalar @burst, '>=', 2700,
    'burst: at least 2700 of 3000 delivered (' . scalar(@burst) . ')');
is($d{relay_forwarded}, scalar @burst,
    'burst: relay_forwarded equals what the peer read');
is($d{relay_received}, $d{relay_forwarded} + $drops
    + ($d{relay_not_found} // 0),
    "burst: every received relay forwarded or counted ($d{relay_received}"
    . " received, $drops dropped)");

my @bseq = map { unpack('N', substr($_->{data}, 5, 4)) } @burst;
is(scalar(grep { $bseq[$_] < $bseq[$_ - 1] } 1 .. $#bseq), 0,
    'burst: no inversions');

# a peer that left: relays to it are not found

$c0 = ccounters($H, 'beacon');

$W2->close_ws(1000, 'bye');
cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 3 });

$S->send(relay(9999, 1002, 'gone'));
is(cdelta($H, 'beacon', $c0, 'relay_not_found', 1), 1,
    'peer gone: relay_not_found +1');

$_->quit() for grep { $_ } values %peer;

###############################################################################
