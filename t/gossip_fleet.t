#!/usr/bin/perl

# Tests for ngx_beacon_module: several beacons (nginx instances on
# loopback) gossiping with static peers and a shared secret, strict mode.
# Scenario 24 (cross-beacon relay) with two beacons and with three; W7 (a
# spoofed SYNC from a peer's address); W10 (two beacons whose stale routes
# point at each other do not bounce a relay); a beacon without a secret
# (like a reference beacon) accepts signed SYNCs while the signed side
# refuses its unsigned ones.
#
# A Perl socket P is a peer of every beacon: it only watches their SYNCs,
# which are sent to all peers at once, to know when gossip has happened.
# The spoofing checks send raw IPv4 datagrams on loopback (root only).
# More than 16375 local ids (W9) is not tested here.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Gossip;

use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $SECRET = 'fleet-gossip-secret-4567';

my $t1 = Test::Nginx->new()->has(qw/stream udp http beacon/);
my $t2 = Test::Nginx->new();
my $t3 = Test::Nginx->new();

# every instance checks its error.log for alerts at the end (2 tests each)
$t1->plan(42 + 4);
$_->{_planned} = 1 for $t2, $t3;

my %B = map { $_ => "127.0.0.$_:" . port(8980 + $_, udp => 1) } 1 .. 3;
my %H = map { $_ => port(8080 + $_) } 1 .. 3;
my $PPORT = port(8990, udp => 1);
my $PADDR = "127.0.0.1:$PPORT";

sub conf {
    my ($n, %o) = @_;

    my $peers = join(' ', (map { $B{$_} } grep { $_ != $n } 1 .. 3), $PADDR);
    my $secret = $o{secret} ? "beacon_gossip_secret \"$SECRET\";" : '';
    my $strict = $o{strict} ? 'beacon_gossip_strict on;' : '';

    return <<"EOF";

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:4m;

    server {
        listen $B{$n} udp reuseport;
        beacon on;
        beacon_id $n;
        beacon_peers $peers;
        $secret
        $strict
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:$H{$n};

        location = /status {
            beacon_status;
        }
    }
}

EOF
}

my $P = dgram($B{1}, local => $PADDR);

$t1->write_file_expand('nginx.conf', conf(1, secret => 1, strict => 1));
$t2->write_file_expand('nginx.conf', conf(2, secret => 1, strict => 1));
$t3->write_file_expand('nginx.conf', conf(3, secret => 1, strict => 1));

$t1->run();
$t2->run();

###############################################################################

# what P saw: the latest SYNC of each beacon, and when

my (%last, %when, @bad, $plain3);

sub watch {
    my ($cond, $timeout) = @_;

    my $deadline = time() + $timeout;

    while (1) {
        return 1 if $cond->();
        my $left = $deadline - time();
        return 0 if $left <= 0;

        my ($d, $ip, $port) = recv_type($P, 7, $left < 0.5 ? $left : 0.5)
            or next;

        my $from = "$ip:$port";
        my ($n) = grep { $B{$_} eq $from } keys %B;
        my $p = parse_sync($d, $n && $n == 3 && $plain3
            ? () : (secret => $SECRET));

        if (!ref $p) {
            push @bad, "$from: $p";
            next;
        }

        $last{$from} = $p;
        $when{$from} = time();
    }
}

# beacon $n announced these ids (after time $since)

sub announced {
    my ($n, $since, @ids) = @_;

    my $p = $last{$B{$n}} or return 0;
    return 0 if defined $since && $when{$B{$n}} < $since;

    my %h = map { $_ => 1 } @{$p->{ids}};
    return !grep { !$h{$_} } @ids;
}

# sends $relay from $from to beacon $b, returns (hex, "ip:port") of what
# $to received

sub via {
    my ($from, $b, $relay, $to, $timeout) = @_;

    $from->send($relay, $b);
    my ($d, $ip, $port) = $to->recv(defined $timeout ? $timeout : 2);

    return (defined $d ? tohex($d) : '(none)', defined $ip ? "$ip:$port" : '');
}

my ($got, $src, %c0);

# beacon $n has installed the routes of beacon $m's latest SYNC: its status
# lists $m's address with beacon_id $m and $routes routes (or any, if
# undefined); P saw the SYNC, polled for up to $timeout s (default 5)

sub heard {
    my ($n, $m, $routes, $timeout) = @_;

    return wait_for(sub {
        my $z = status($H{$n}) or return 0;
        my ($e) = grep { $_->{addr} eq $B{$m} }
            @{$z->{gossip} ? $z->{gossip}{peers} : []};
        $e && $e->{beacon_id} == $m
            && (defined $routes ? $e->{routes} == $routes : $e->{routes} > 0);
    }, $timeout);
}

sub snap { %c0 = map { $_ => counters($H{$_}) } @_; }
sub delta { my ($n, $k, $want) = @_; counter_delta($H{$n}, undef, $c0{$n}, $k, $want) }

###############################################################################

# two beacons: node 10 on B1, node 20 on B2

my $N10 = register($B{1}, 10, '127.0.0.61');
my $N20 = register($B{2}, 20, '127.0.0.62', rcvbuf => 4 * 1024 * 1024);

ok(watch(sub { announced(1, undef, 10) && announced(2, undef, 20) }, 12),
    'B1 and B2 gossiped their nodes');
ok(heard(1, 2) && heard(2, 1), 'B1 and B2 installed the routes');

# 24. node 10 relays through B1; B1 forwards the RELAY to B2, which
# delivers it from its own address

snap(1, 2);

($got, $src) = via($N10, $B{1}, relay(10, 20, 'hello'), $N20);
is($got, tohex(deliver(10, 'hello')), 'B1 -> B2: delivered');
is($src, $B{2}, 'B1 -> B2: from B2');

is(delta(1, 'relay_peer_forwarded', 1), 1, 'B1 relay_peer_forwarded');
is(delta(2, 'relay_received', 1), 1, 'B2 relay_received');
is(delta(2, 'relay_forwarded', 1), 1, 'B2 relay_forwarded');
is(delta(2, 'relay_dropped.sender_mismatch'), 0,
    'B2: the peer is exempt from the sender binding');

($got, $src) = via($N20, $B{2}, relay(20, 10, 'back'), $N10);
is("$got $src", tohex(deliver(20, 'back')) . " $B{1}", 'B2 -> B1');

# order is kept across two beacons

$N10->send(relay(10, 20, pack('N', $_)), $B{1}) for 1 .. 200;
my @seq = map { unpack('N', substr($_->[0], 5)) }
    $N20->recv_all(0.3, max => 200, limit => 5);
my $inv = grep { $seq[$_] < $seq[$_ - 1] } 1 .. $#seq;
ok(@seq >= 180 && $inv == 0,
    'B1 -> B2 keeps order: ' . scalar(@seq) . " received, $inv inversions");

my $c = counters($H{1});
ok($c && $c->{sync_received} && $c->{sync_sent}, 'B1 sync counters');

my $z1 = status($H{1});
my ($e2) = grep { $_->{addr} eq $B{2} } @{$z1 && $z1->{gossip}
    ? $z1->{gossip}{peers} : []};
is($e2 && "$e2->{beacon_id} $e2->{routes}", '2 1',
    'B1 status: B2 listed, beacon_id 2, one route');
is($c && $c->{sync_rejected}, 0, 'B1 sync_rejected 0');

SKIP: {
skip 'raw sockets needed for spoofing', 7 unless can_spoof();

# W7: a spoofed SYNC from B2's address does not wipe B2's routes at B1
# without the secret

snap(1);

spoof_udp($B{2}, $B{1}, sync(2));
spoof_udp($B{2}, $B{1}, signed_sync('not-the-fleet-secret', 2, []));

is(delta(1, 'sync_rejected', 2), 2, 'W7: spoofed SYNCs rejected');
is((via($N10, $B{1}, relay(10, 20, 'still'), $N20))[0],
    tohex(deliver(10, 'still')), 'W7: routes kept');

# W10: B1 believes node 99 is behind B2, and B2 that it is behind B1 (the
# secret is known here, so the SYNCs verify).  A relay for 99 goes to B2
# once and stops there.

my $ok;

for my $try (1 .. 3) {
    watch(sub { 0 }, 0.05);
    my $t = time();

    spoof_udp($B{1}, $B{2}, signed_sync($SECRET, 1, [ 10, 99 ]));
    spoof_udp($B{2}, $B{1}, signed_sync($SECRET, 2, [ 20, 99 ]));
    heard(2, 1, 2, 1) && heard(1, 2, 2, 1) or next;

    snap(1, 2);
    $N10->send(relay(10, 99, 'loop'), $B{1});

    # B2 got it from B1 and counted it as a loop: nothing more can follow
    delta(2, 'relay_loop', 1);

    # a real round in between may have replaced a forged route: again
    watch(sub { 0 }, 0.1);
    next if grep { ($when{$B{$_}} || 0) > $t - 0.05 } 1, 2;

    $ok = 1;
    last;
}

ok($ok, 'W10: forged routes in place');
is(delta(1, 'relay_peer_forwarded'), 1, 'W10: B1 forwarded once');
is(delta(2, 'relay_loop'), 1, 'W10: B2 counted relay_loop');
is(delta(2, 'relay_peer_forwarded'), 0, 'W10: B2 did not send it back');
is(delta(1, 'relay_received'), 1, 'W10: no bounce back to B1');

}

###############################################################################

# three beacons: node 30 on B3, all peers of each other

$t3->run();
my $up3 = time();

my $N30 = register($B{3}, 30, '127.0.0.63');

ok(watch(sub {
    announced(3, undef, 30)
        && announced(1, $up3, 10) && announced(2, $up3, 20)
}, 12), 'B3 gossiped, and heard B1 and B2');
ok(heard(3, 1) && heard(3, 2) && heard(1, 3) && heard(2, 3),
    'B3, B1 and B2 installed the routes');

snap(1, 2, 3);

($got, $src) = via($N10, $B{1}, relay(10, 30, 'to three'), $N30);
is("$got $src", tohex(deliver(10, 'to three')) . " $B{3}", 'B1 -> B3');
($got, $src) = via($N30, $B{3}, relay(30, 10, 'from three'), $N10);
is("$got $src", tohex(deliver(30, 'from three')) . " $B{1}", 'B3 -> B1');
($got, $src) = via($N30, $B{3}, relay(30, 20, 'to two'), $N20);
is("$got $src", tohex(deliver(30, 'to two')) . " $B{2}", 'B3 -> B2');
($got, $src) = via($N20, $B{2}, relay(20, 30, 'two to three'), $N30);
is("$got $src", tohex(deliver(20, 'two to three')) . " $B{3}", 'B2 -> B3');

is(delta(1, 'relay_received', 2), 2, 'B1 saw its two relays only');
is(delta(3, 'relay_peer_forwarded', 2), 2, 'B3 relay_peer_forwarded');

# a node on two beacons at once: each delivers its own

my $N40a = register($B{1}, 40, '127.0.0.64');
my $N40b = register($B{2}, 40, '127.0.0.65');

is((via($N30, $B{1}, relay(30, 40, 'local'), $N40a, 1))[0], '(none)',
    'unregistered sender at B1: refused');
is((via($N10, $B{1}, relay(10, 40, 'mine'), $N40a))[0],
    tohex(deliver(10, 'mine')), 'node on B1 and B2: B1 delivers locally');
ok($N40b->expect_nothing(0.3), 'node on B1 and B2: not forwarded to B2');

# one SYNC per round to every peer: 3 peers each

$c = counters($H{3});
ok($c && $c->{sync_sent} && $c->{sync_sent} % 3 == 0,
    'B3 sync_sent: ' . ($c ? $c->{sync_sent} // 'none' : 'none')
    . ', 3 per round');

is(join("\n", @bad), '', 'every SYNC seen verifies with the secret');

###############################################################################

# B3 restarted without a secret and not strict, like a reference beacon:
# it accepts the signed SYNCs of B1 and B2 (trailing bytes ignored); they
# refuse its unsigned SYNCs

$t3->stop();
$t3->write_file_expand('nginx.conf', conf(3));
$t3->run();
my $up3b = time();
$plain3 = 1;
delete $last{$B{3}};

my $N31 = register($B{3}, 31, '127.0.0.66');

snap(1);

ok(watch(sub { announced(3, $up3b, 31) && announced(1, $up3b, 10) }, 12),
    'plain B3 gossiped, and heard B1');
ok(heard(3, 1), 'plain B3 installed the routes of B1');

is($last{$B{3}} && $last{$B{3}}{len}, 7 + 4, 'plain B3: SYNC has no trailer');

($got, $src) = via($N31, $B{3}, relay(31, 10, 'plain'), $N10);
is("$got $src", tohex(deliver(31, 'plain')) . " $B{1}",
    'plain B3 accepted the signed SYNC of B1');

ok((delta(1, "sync_rejected") // 0) >= 1, 'B1 rejected the unsigned SYNC');
is((via($N10, $B{1}, relay(10, 31, 'x'), $N31, 1))[0], '(none)',
    'B1 has no route from the unsigned SYNC');

# the route to 30 that B3 announced before its restart lives on at B1
# (90 s from its last signed SYNC; unsigned SYNCs neither refresh nor
# replace it): B1 still forwards, the restarted B3 does not know 30

snap(1, 3);
is((via($N10, $B{1}, relay(10, 30, 'stale'), $N30, 1))[0], '(none)',
    'stale route: nothing delivered');
is(delta(1, 'relay_peer_forwarded', 1), 1, 'stale route: B1 forwarded');
is(delta(3, 'relay_not_found', 1), 1, 'stale route: B3 relay_not_found');

###############################################################################
