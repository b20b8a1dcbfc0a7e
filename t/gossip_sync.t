#!/usr/bin/perl

# Tests for ngx_beacon_module: gossip between beacons seen from one beacon
# (spec 2.7, 6.1, 6.2, 5.2 tier 2; scenarios 25-28 and 30; W7, W10).
# The Perl sockets act exactly like reference beacons: they send SYNC
# "07 <beacon_id> <N> <ids>" from a UDP socket, receive the beacon's own
# SYNCs and the relays it forwards.
#
# Zones: "g" (open gossip, beacon_id 7, one configured peer P), "s"
# (beacon_gossip_strict), "k" (beacon_gossip_secret, beacon_id 9).
# Route expiry after 90 s is in gossip_expiry.t; more than 16375 local ids
# (W9, several SYNC datagrams) is not tested.

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

my $SECRET = 'gossip-test-secret-0123';

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(79);

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone g:4m;
    beacon_zone s:4m;
    beacon_zone k:4m;

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
        beacon zone=g;
        beacon_id 7;
        beacon_peers 127.0.0.1:%%PORT_8990_UDP%%;
        beacon_relay_limit 50;
        beacon_peer_relay_limit 20;
    }

    server {
        listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
        beacon zone=s;
        beacon_peers 127.0.0.1:%%PORT_8991_UDP%%;
        beacon_gossip_strict on;
    }

    server {
        listen 127.0.0.1:%%PORT_8982_UDP%% udp reuseport;
        beacon zone=k;
        beacon_id 9;
        beacon_peers 127.0.0.1:%%PORT_8992_UDP%%;
        beacon_gossip_secret "$SECRET";
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8080%%;

        location = /status {
            beacon_status;
        }
    }
}

EOF

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $BS = '127.0.0.1:' . port(8981, udp => 1);
my $BK = '127.0.0.1:' . port(8982, udp => 1);
my $PPORT = port(8990, udp => 1);
my $PSPORT = port(8991, udp => 1);
my $PKPORT = port(8992, udp => 1);
my $H = port(8080);

# the configured peers, bound before nginx starts sending to them

my $P = dgram($B, local => "127.0.0.1:$PPORT");
my $PS = dgram($BS, local => "127.0.0.1:$PSPORT");
my $PK = dgram($BK, local => "127.0.0.1:$PKPORT");

$t->run();

my $start = time();

###############################################################################

my ($r, $ip, $port, $c0, $p);

# a SYNC is handled by whichever worker reads it; before a datagram from
# another socket (another worker) depends on it, wait until the zone shows
# its outcome: synced() until the source has that many routes (and that
# beacon_id), rejected() until sync_rejected moved by $n since $c

sub synced {
    my ($zone, $sock, $routes, $id) = @_;

    return 1 if wait_for(sub {
        my $e = gpeer($zone, $sock);
        $e && $e->{routes} == $routes
            && (!defined $id || $e->{beacon_id} == $id);
    });

    diag("zone $zone: no $routes routes from " . $sock->sockhost() . ':'
        . $sock->sockport());
    return 0;
}

sub rejected {
    my ($zone, $c, $n) = @_;
    return (counter_delta($H, $zone, $c, 'sync_rejected', $n) // -1) == $n;
}

# sends $relay from $from, returns what $to got: (data, "ip:port")

sub fwd {
    my ($from, $relay, $to, $timeout) = @_;

    $from->send($relay);
    my ($d, $ip, $port) = recv_type($to, 5, defined $timeout ? $timeout : 2);

    return (defined $d ? tohex($d) : '(none)', defined $ip ? "$ip:$port" : '');
}

# the status entry of a gossip source (zones.NAME.gossip.peers)

sub gpeer {
    my ($zone, $sock) = @_;

    my $z = status($H, $zone) or return undef;
    my $addr = $sock->sockhost() . ':' . $sock->sockport();
    my ($e) = grep { $_->{addr} eq $addr } @{$z->{gossip}{peers} || []};

    return $e;
}

# zone g: client nodes, an unconfigured gossip source Q (a reference
# beacon), a second source Q2 on the same IP

my $D = register($B, 20, '127.0.0.60', rcvbuf => 4 * 1024 * 1024);
my $S = register($B, 10, '127.0.0.61');
my $S2 = register($B, 11, '127.0.0.62');
my $Q = dgram($B, local => '127.0.0.50', rcvbuf => 4 * 1024 * 1024);
my $Q2 = dgram($B, local => '127.0.0.50');

# 25. three routes to Q; a relay for 200 goes to Q unchanged, from the
# beacon's listening address

$c0 = counters($H, 'g');
$Q->send(hx('07 00000002 0003 00000064 000000c8 0000012c'));
synced('g', $Q, 3, 2);

is(counter_delta($H, 'g', $c0, 'sync_received', 1), 1, 'sync_received');

my ($got, $src) = fwd($S, relay(10, 200, 'hello'), $Q);
is($got, '050000000a000000c868656c6c6f', 'relay for 200 forwarded unchanged');
is($src, $B, 'forwarded from the beacon address');
is((fwd($S, relay(10, 100, 'a'), $Q))[0], tohex(relay(10, 100, 'a')),
    'route 100');
is((fwd($S, relay(10, 300, ''), $Q))[0], tohex(relay(10, 300)),
    'route 300, empty payload');
is(counter_delta($H, 'g', $c0, 'relay_peer_forwarded', 3), 3,
    'relay_peer_forwarded');
is(counter_delta($H, 'g', $c0, 'relay_forwarded', 3), 3,
    'relay_forwarded counts tier 2');
is(counter_delta($H, 'g', $c0, 'relay_not_found'), 0, 'no relay_not_found');

my $gs = status($H, 'g');
is($gs && $gs->{gossip} && $gs->{gossip}{routes}, 3, 'status: 3 gossip routes');
$p = gpeer('g', $Q);
is($p && "$p->{beacon_id} $p->{routes} $p->{forwarded}", '2 3 3',
    'status: Q listed with beacon_id, routes, forwarded');
ok($p && $p->{age_ms} < 5000, 'status: age_ms');

# the largest payload forwarded whole

my $big = join('', map { chr($_ % 253) } 1 .. 65498);
$S->send(relay(10, 200, $big));
($r) = recv_type($Q, 5, 2);
ok(defined $r && $r eq relay(10, 200, $big), 'largest relay forwarded whole');

# 26. malformed SYNCs are dropped and do not touch Q's routes

$c0 = counters($H, 'g');
$Q->send(hx('07 00000058 0005 00000001 00000002'));
$Q->send(hx('07 000000'));
$Q->send(hx('07'));

is(counter_delta($H, 'g', $c0, 'malformed', 3), 3, 'malformed SYNCs counted');
is((fwd($S, relay(10, 1, 'x'), $Q, 0.5))[0], '(none)',
    'claims 5 carries 2: no route');
is((fwd($S, relay(10, 200, 'y'), $Q))[0], tohex(relay(10, 200, 'y')),
    'malformed SYNC kept the routes');
is(counter_delta($H, 'g', $c0, 'relay_not_found', 1), 1,
    'relay_not_found for the ignored id');

# 27. replace, never merge; keyed on IP and port

$Q->send(sync(2, 400));
$Q2->send(sync(3, 500));
synced('g', $Q, 1);
synced('g', $Q2, 1, 3);

is((fwd($S, relay(10, 100, 'x'), $Q, 0.5))[0], '(none)', 'replaced: 100 gone');
is((fwd($S, relay(10, 200, 'x'), $Q, 0.2))[0], '(none)', 'replaced: 200 gone');
is((fwd($S, relay(10, 300, 'x'), $Q, 0.2))[0], '(none)', 'replaced: 300 gone');
is((fwd($S, relay(10, 400, 'x'), $Q))[0], tohex(relay(10, 400, 'x')),
    'replaced: 400 routes to Q');
($got, $src) = fwd($S, relay(10, 500, 'z'), $Q2);
is("$got $src", tohex(relay(10, 500, 'z')) . " $B",
    'same IP, other port: a separate source');

# duplicates collapse; the latest announcement of an id wins

$Q->send(sync(2, 401, 401, 600));
synced('g', $Q, 2);
$Q2->send(sync(3, 500, 600));
synced('g', $Q2, 2);

is((fwd($S, relay(10, 401, 'd'), $Q))[0], tohex(relay(10, 401, 'd')),
    'duplicate ids');
is((fwd($S, relay(10, 600, 'w'), $Q2))[0], tohex(relay(10, 600, 'w')),
    'latest announcement wins');
ok($Q->expect_nothing(0.2), 'earlier announcer gets nothing');

# N = 0 withdraws every route of that source only

$Q->send(sync(2));
synced('g', $Q, 0);

is(gpeer('g', $Q) && gpeer('g', $Q)->{routes}, 0,
    'status: N=0 leaves Q without routes');

$c0 = counters($H, 'g');
is((fwd($S, relay(10, 401, 'x'), $Q, 0.5))[0], '(none)', 'N=0 withdraws');
is((fwd($S, relay(10, 500, 'x'), $Q2))[0], tohex(relay(10, 500, 'x')),
    'N=0 kept the other source');
is(counter_delta($H, 'g', $c0, 'relay_not_found', 1), 1,
    'withdrawn: relay_not_found');

# ids registered here are ours: a relay to a local node goes to the node

$Q->send(sync(2, 20, 700));
synced('g', $Q, 1);

$S->send(relay(10, 20, 'local'));
is(tohex($D->recv(2)), tohex(deliver(10, 'local')), 'local id: delivered');
ok($Q->expect_nothing(0.3), 'local id: not forwarded');
is((fwd($S, relay(10, 700, 'x'), $Q))[0], tohex(relay(10, 700, 'x')),
    'other id of that SYNC routed');
is(gpeer('g', $Q) && gpeer('g', $Q)->{routes}, 1,
    'status: the local id was not installed');

# W10: a relay from a peer beacon is never forwarded again.  Q is a live
# gossip source, P a configured peer that never sent a SYNC.

my $qf = gpeer('g', $Q);
$qf = $qf ? $qf->{forwarded} : -1;

$c0 = counters($H, 'g');
$Q->send(relay(555, 700, 'loop'));
ok(expect_no_type($Q, 5, 0.5), 'relay from a gossip source: not bounced');
$P->send(relay(556, 700, 'loop'));
ok(expect_no_type($Q, 5, 0.5), 'relay from a configured peer: not forwarded');

# the configured peer's relay is a loop; the unconfigured source is not
# trusted with foreign sender ids at all (hardening: anyone can send SYNC)

is(counter_delta($H, 'g', $c0, 'relay_loop', 1), 1, 'relay_loop');
is(counter_delta($H, 'g', $c0, 'relay_peer_forwarded'), 0,
    'loop: nothing forwarded');
is(gpeer('g', $Q) && gpeer('g', $Q)->{forwarded}, $qf,
    'loop: not counted as forwarded to Q in the status');

# configured peers' relays are delivered locally, exempt from the sender
# binding; a source that merely sent a SYNC is not (W11 kept for it)

$Q->send(relay(555, 20, 'from Q'));
ok($D->expect_nothing(0.5),
    'unconfigured gossip source: sender binding applies');
$P->send(relay(556, 20, 'from P'));
is(tohex(($D->recv(2))[0]), tohex(deliver(556, 'from P')),
    'configured peer: delivered with its sender id');

$c0 = counters($H, 'g');
my $X = dgram($B, local => '127.0.0.63');
$X->send(relay(557, 20, 'spoof'));
ok($D->expect_nothing(0.5), 'not a peer: sender binding applies');
is(counter_delta($H, 'g', $c0, 'relay_dropped.sender_mismatch', 1), 1,
    'not a peer: sender_mismatch');
$X->send(relay(557, 700, 'spoof'));
ok(expect_no_type($Q, 5, 0.5), 'not a peer: no tier 2 without binding');

# beacon_peer_relay_limit 20: a peer's budget, not beacon_relay_limit 50

sleep 1.1;

$c0 = counters($H, 'g');
$P->send(relay(556, 20, pack('N', $_))) for 1 .. 60;
my @got = $D->recv_all(0.3, max => 60, limit => 5);
ok(@got >= 15 && @got <= 20, 'peer relay budget: ' . scalar(@got) . ' of 60');
ok((counter_delta($H, 'g', $c0, 'relay_dropped.rate_limited') // 0) >= 40,
    'peer relay budget: rate_limited');

# beacon_relay_limit applies to relays forwarded to a peer too (spec 5.1:
# the per-source budget comes before the tiers)

sleep 1.1;

$qf = gpeer('g', $Q);
$qf = $qf ? $qf->{forwarded} : -1;

$S2->send(relay(11, 700, pack('N', $_))) for 1 .. 120;
@got = grep { ord($_->[0]) == 5 } $Q->recv_all(0.3, max => 120, limit => 5);
ok(@got >= 1 && @got <= 50,
    'relay budget on tier 2: ' . scalar(@got) . ' of 120 (limit 50)');
$p = gpeer('g', $Q);
is($p && $p->{forwarded} - $qf, scalar @got,
    'status: forwarded to Q counts what was sent');

###############################################################################

# 28. strict: only the configured peer, IP and port both

my $SS = register($BS, 10, '127.0.0.64');
my $X1 = dgram($BS, local => '127.0.0.1');
my $X2 = dgram($BS, local => "127.0.0.2:$PSPORT");

$c0 = counters($H, 's');

$X1->send(sync(3, 800));
rejected('s', $c0, 1);
$SS->send(relay(10, 800, 'x'));
ok(expect_no_type($X1, 5, 0.5), 'strict: other port ignored');

$X2->send(sync(3, 800));
rejected('s', $c0, 2);
$SS->send(relay(10, 800, 'x'));
ok(expect_no_type($X2, 5, 0.5), 'strict: other IP, same port ignored');

is(counter_delta($H, 's', $c0, 'sync_rejected', 2), 2, 'strict: sync_rejected');
$gs = status($H, 's');
is($gs && $gs->{gossip} && scalar @{$gs->{gossip}{peers}}, 0,
    'strict: rejected sources not listed');

$PS->send(sync(3, 800));
synced('s', $PS, 1, 3);
($got, $src) = fwd($SS, relay(10, 800, 'ok'), $PS);
is("$got $src", tohex(relay(10, 800, 'ok')) . " $BS",
    'strict: configured peer accepted');
is(counter_delta($H, 's', $c0, 'sync_received', 3), 3,
    'strict: sync_received');

###############################################################################

# beacon_gossip_secret: received SYNCs need a valid trailer within 60 s

my $SK = register($BK, 10, '127.0.0.65');
my $now = int(time());
my $m = sync(5, 900);

my @bad = (
    [ 'no trailer', $m ],
    [ 'wrong secret', signed_sync('another-secret-0123', 5, [ 900 ]) ],
    [ 'time 120 s ago', signed_sync($SECRET, 5, [ 900 ], time => $now - 120) ],
    [ 'time 120 s ahead', signed_sync($SECRET, 5, [ 900 ], time => $now + 120) ],
    [ 'ids changed after signing',
        sync(5, 901) . substr(signed_sync($SECRET, 5, [ 900 ]), 11) ],
    [ 'MAC bit flipped', do {
        my $s = signed_sync($SECRET, 5, [ 900 ]);
        substr($s, -1, 1) = chr(ord(substr($s, -1)) ^ 1);
        $s } ],
    [ 'trailer cut to 27 bytes',
        substr(signed_sync($SECRET, 5, [ 900 ]), 0, -1) ],
    [ 'trailer not where the id list ends',
        sync(5, 900) . "\0" . sync_trailer($SECRET, $m) ],
);

$c0 = counters($H, 'k');

foreach my $b (@bad) {
    $PK->send($b->[1]);
}

rejected('k', $c0, scalar @bad);

$SK->send(relay(10, 900, 'x'));
ok(expect_no_type($PK, 5, 0.5), 'secret: no route from bad SYNCs');
is(counter_delta($H, 'k', $c0, 'sync_rejected', scalar @bad), scalar @bad,
    'secret: every bad SYNC counted in sync_rejected');
ok(status($H, 'k')->{gossip} && !gpeer('k', $PK),
    'secret: the sender of bad SYNCs is no peer');

$PK->send(signed_sync($SECRET, 5, [ 900 ]));
synced('k', $PK, 1, 5);
($got, $src) = fwd($SK, relay(10, 900, 'signed'), $PK);
is("$got $src", tohex(relay(10, 900, 'signed')) . " $BK",
    'secret: signed SYNC accepted');

$PK->send(signed_sync($SECRET, 5, [ 900, 901 ], time => $now - 50));
synced('k', $PK, 2, 5);
is((fwd($SK, relay(10, 901, 'x'), $PK))[0], tohex(relay(10, 901, 'x')),
    'secret: 50 s old trailer accepted');

# W7: an unsigned N = 0 cannot wipe the routes

$c0 = counters($H, 'k');
$PK->send(sync(5));
rejected('k', $c0, 1);
is((fwd($SK, relay(10, 900, 'x'), $PK))[0], tohex(relay(10, 900, 'x')),
    'secret: unsigned withdrawal ignored');

###############################################################################

# 30. the beacon's own SYNC: every 10 s, from its address, its beacon_id,
# exactly its node ids, most recently refreshed first, exactly 7 + 4N
# bytes (no secret here)

my @seen;

# what arrived so far (the first round is 1-2 s after start)

my @early = drain_type($P, 7);

$_->[0]->io(discover($_->[1])) for [ $D, 20 ], [ $S2, 11 ], [ $S, 10 ];
my $refreshed = time();

my ($sync) = wait_sync($P, from => $B, timeout => 11, seen => \@seen);

if ($sync && $seen[-1][2] - $refreshed < 0.05
    && join(',', @{$sync->{ids}}) ne '10,11,20')
{
    # a round that started while we refreshed: take the next one
    ($sync) = wait_sync($P, from => $B, timeout => 11, seen => \@seen);
}

ok($sync, 'own SYNC arrives within 11 s') or diag(explain(\@seen));
is($sync && $sync->{beacon_id}, 7, 'own SYNC: beacon_id');
is($sync && join(',', @{$sync->{ids}}), '10,11,20',
    'own SYNC: local ids, most recently refreshed first');
is($sync && $sync->{len}, 7 + 4 * 3, 'own SYNC: exact length, no trailer');
ok(!grep({ !ref $_->[0] } @seen), 'own SYNCs well formed');

# one SYNC per round for the zone, whatever the number of workers

my $elapsed = time() - $start;
my $n = @early + @seen;
ok($n >= 1 && $n <= int($elapsed / 10) + 2,
    "$n SYNCs in " . int($elapsed) . ' s: one per 10 s round');

my $cs = counters($H, 'g');
ok($cs->{sync_sent} && $cs->{sync_sent} <= int($elapsed / 10) + 2,
    'sync_sent: one per round and peer');

# the signed one: a reference SYNC (ids, beacon_id) followed by a trailer
# that verifies with the secret

my @ks;
my ($ksync, $kraw) = wait_sync($PK, from => $BK, timeout => 11,
    secret => $SECRET, seen => \@ks,
    until => sub { grep { $_ == 10 } @{$_[0]{ids}} });

ok($ksync, 'signed own SYNC verifies') or diag(explain(\@ks));
is($ksync && join(',', $ksync->{beacon_id}, @{$ksync->{ids}}), '9,10',
    'signed own SYNC: beacon_id and ids');
ok($ksync && abs($ksync->{time} - time()) <= 12, 'signed own SYNC: time');
is($kraw && length($kraw), 7 + 4 + 28, 'signed own SYNC: 28-byte trailer');
$p = parse_sync($kraw && substr($kraw, 0, 11));
is(ref $p && join(',', @{$p->{ids}}), '10',
    'signed own SYNC: a reference SYNC without its trailer');
ok(!grep({ !ref $_->[0] } @ks), 'every signed SYNC verifies')
    or diag(explain([ map { $_->[0] } @ks ]));

# routes learned at the start are still live 10+ s later

is((fwd($S, relay(10, 500, 'late'), $Q2))[0], tohex(relay(10, 500, 'late')),
    'route still live after ' . int(time() - $start) . ' s');

# status: the gossip counters exist

$cs = counters($H, 'g');
ok(defined $cs->{$_}, "status has $_")
    for qw/ sync_received sync_rejected sync_sent routes_full
        relay_peer_forwarded relay_loop /;

is($cs->{routes_full}, 0, 'routes_full 0');

###############################################################################
