#!/usr/bin/perl

# Tests for ngx_beacon_module: the gossip and registry rooms explain
# their decisions with error_log at debug (issue 11, part 3): SYNCs
# accepted with the routes they learned, renewed, replaced and withdrew,
# SYNCs rejected with the reason (beacon_gossip_strict, a missing
# beacon_gossip_secret trailer), dead routes freed, the beacon's own
# SYNCs sent, relays forwarded to a peer beacon (with its address), and
# registry rounds started, answered (registered, a new peer set) and
# failed.  nginx is built --with-debug on Debian; the file skips
# otherwise.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Gossip;

use JSON::PP;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/);

plan(skip_all => 'nginx built without --with-debug')
    unless `$Test::Nginx::NGINX -V 2>&1` =~ /--with-debug/;

$t->plan(18);

my $SECRET = 'gossip-debug-secret-0123';

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $BS = '127.0.0.1:' . port(8981, udp => 1);
my $BK = '127.0.0.1:' . port(8982, udp => 1);
my $PPORT = port(8990, udp => 1);
my $R = port(8991);
my $RDEAD = port(8992);
my $H = port(8080);

# the configured peer of zone g, bound before nginx sends to it; L, the
# peer the registry lists

my $P = dgram($B, local => "127.0.0.1:$PPORT");
my $L = dgram($B, local => '127.0.0.1');
my $LADDR = '127.0.0.1:' . $L->sockport();

$t->write_file('script.json', JSON::PP->new->canonical->encode({
    7 => [ { beacons => [ { id => 70, addr => $LADDR } ] } ],
}));

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

error_log %%TESTDIR%%/debug.log debug;

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone g:4m;
    beacon_zone s:1m;
    beacon_zone k:1m;

    server {
        listen $B udp reuseport;
        beacon zone=g;
        beacon_id 7;
        beacon_peers 127.0.0.1:$PPORT;
        beacon_registry 127.0.0.1:$R;
        beacon_reply_limit off;
        beacon_register_limit off;
    }

    server {
        listen $BS udp reuseport;
        beacon zone=s;
        beacon_id 8;
        beacon_peers 127.0.0.1:$PPORT;
        beacon_gossip_strict on;
        beacon_registry 127.0.0.1:$RDEAD timeout=1s;
    }

    server {
        listen $BK udp reuseport;
        beacon zone=k;
        beacon_id 9;
        beacon_gossip_secret "$SECRET";
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:$H;

        location = /status {
            beacon_status;
        }
    }
}

EOF

my $d = $t->testdir();
my $ready = "$d/registry.ready";
my $rpid = $t->run_daemon($^X, "$FindBin::Bin/tools/fake_beacon_registry.pl",
    '--port', $R, '--script', "$d/script.json", '--log', "$d/registry.log",
    '--ready', $ready, '--lifetime', 60);
$t->waitforfile($ready, $rpid, 5) or die "fake registry did not start\n";

$t->run();

###############################################################################

# bounded wait for a line in the debug log

sub logged {
    my ($re) = @_;

    my $end = time() + 5;

    while (time() < $end) {
        my $log = $t->read_file('debug.log');
        return 1 if $log =~ $re;
        sleep 0.05;
    }

    diag("not in debug.log: $re");
    return 0;
}

# until the status shows that many routes from that source

sub synced {
    my ($zone, $sock, $routes) = @_;

    my $addr = $sock->sockhost() . ':' . $sock->sockport();

    return wait_for(sub {
        my $z = status($H, $zone) or return 0;
        my ($e) = grep { $_->{addr} eq $addr } @{$z->{gossip}{peers} || []};
        $e && $e->{routes} == $routes;
    });
}

my $S = register($B, 10, '127.0.0.61');
my $Q = dgram($B, local => '127.0.0.50', rcvbuf => 4 * 1024 * 1024);
my $Q2 = dgram($B, local => '127.0.0.51', rcvbuf => 4 * 1024 * 1024);
my $QA = $Q->sockhost() . ':' . $Q->sockport();
my $Q2A = $Q2->sockhost() . ':' . $Q2->sockport();

# a real exchange: three routes learned from a new source

$Q->send(sync(2, 100, 200, 300));
ok(logged(qr/beacon gossip SYNC from \Q$QA\E beacon 2, 3 ids: accepted \(a new source\), routes 3 learned, 0 renewed, 0 replaced, 0 withdrawn/),
    'debug: SYNC accepted, routes learned');

# the next SYNC of that source renews one, learns one, withdraws two

synced('g', $Q, 3);
$Q->send(sync(2, 200, 400));
ok(logged(qr/beacon gossip SYNC from \Q$QA\E beacon 2, 2 ids: accepted, routes 1 learned, 1 renewed, 0 replaced, 2 withdrawn/),
    'debug: SYNC accepted, routes renewed and withdrawn');

# another source takes 400 over

synced('g', $Q, 2);
$Q2->send(sync(3, 400));
ok(logged(qr/beacon gossip SYNC from \Q$Q2A\E beacon 3, 1 ids: accepted \(a new source\), routes 0 learned, 0 renewed, 1 replaced, 0 withdrawn/),
    'debug: SYNC accepted, a route replaced');

# the two withdrawn routes are freed by the reaper

ok(logged(qr/beacon zone "g": gossip routes expired, \d+ freed/),
    'debug: dead routes freed');

# an id registered here stays ours

synced('g', $Q2, 1);
$Q2->send(sync(3, 10, 400));
ok(logged(qr/beacon gossip SYNC from \Q$Q2A\E: 1 ids registered here kept/),
    'debug: local id kept');

# a relay for 400 goes to Q2, and says so

synced('g', $Q2, 1);
$S->send(relay(10, 400, 'via peer'));
my ($r) = recv_type($Q2, 5, 3);
ok(defined $r, 'relay forwarded to Q2');
ok(logged(qr/beacon relay 10 -> 400: forwarded to peer beacon #\d+ \Q$Q2A\E/),
    'debug: relay forwarded to the peer beacon');

# rejected, with the reason

my $X = dgram($BS, local => '127.0.0.52');
my $XA = $X->sockhost() . ':' . $X->sockport();
$X->send(sync(4, 500));
ok(logged(qr/beacon gossip SYNC from \Q$XA\E beacon 4, 1 ids: rejected, not a configured peer \(beacon_gossip_strict\)/),
    'debug: SYNC rejected, strict');

my $Y = dgram($BK, local => '127.0.0.53');
my $YA = $Y->sockhost() . ':' . $Y->sockport();
$Y->send(sync(5, 600));
ok(logged(qr/beacon gossip SYNC from \Q$YA\E beacon 5, 1 ids: rejected, no valid trailer/),
    'debug: SYNC rejected, no trailer');
$Y->send(signed_sync($SECRET, 5, [ 600 ]));
ok(logged(qr/beacon gossip SYNC from \Q$YA\E beacon 5, 1 ids: accepted/),
    'debug: signed SYNC accepted');

# the beacon's own SYNCs (every 10 s, the first 1-2 s after start), to
# the configured peer and to the peer the registry listed

my $end = time() + 12;
my $log = '';

while (time() < $end) {
    $log = $t->read_file('debug.log');
    last if $log =~ /beacon gossip SYNC to \Q$LADDR\E/;
    sleep 0.2;
}

like($log,
    qr/beacon gossip SYNC to 127\.0\.0\.1:$PPORT from \Q$B\E beacon 7: 1 ids/,
    'debug: own SYNC sent to the configured peer');
like($log, qr/beacon gossip SYNC to \Q$LADDR\E from \Q$B\E beacon 7: 1 ids/,
    'debug: own SYNC sent to the listed peer');

# registry rounds: one that works, one whose registry is not there

ok(logged(qr/beacon registry 127\.0\.0\.1:$R: round started, beacon 7 of zone "g"/),
    'debug: registry round started');
ok(logged(qr/beacon registry 127\.0\.0\.1:$R: beacon_register ok/),
    'debug: registry result, registered');
ok(logged(qr/beacon registry 127\.0\.0\.1:$R: beacon_list, 1 peers: the new peer set/),
    'debug: registry result, the peer set');
ok(logged(qr/beacon registry 127\.0\.0\.1:$RDEAD: round started, beacon 8/),
    'debug: registry round started, dead registry');
ok(logged(qr/beacon registry 127\.0\.0\.1:$RDEAD: error/),
    'debug: registry error');

# and no SYNC was rejected for lack of room

unlike($t->read_file('debug.log'), qr/no room in the zone|no free source/,
    'debug: no table trouble');

###############################################################################
