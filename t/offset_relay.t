#!/usr/bin/perl

# Tests for ngx_beacon_module: the Offset relay protocol, spec
# offset-relay.md section 6.3 scenarios 10 - 23, driven by
# t/tools/offset_node, with 2 and then 4 workers (the Listen, Connect and
# Accept connections of a tunnel land on different workers): first-message
# timeout, invalid first message, keepalive emission and idle drop,
# Connect without listener, notification, splice with F1/F2 sent before
# the Accept, Reject, half-tunnel expiry, Accept with nothing pending,
# duplicate Listen (the newer replaces the older, a deliberate deviation),
# duplicate Connect, teardown both ways, listener gone; the status
# counters and gauges.  Short timers; the strelay defaults (keepalive 16 s,
# idle 32 s, half-tunnel 32 s, first message 4 s) are checked once on a
# second server.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Offset;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream http beacon/);
has_offset_node();

my @fast = (
    [ 'invalid-first', 'invalid first message: closed (11)' ],
    [ 'connect-nolistener', 'Connect with no listener: closed (14)' ],
    [ 'notify', 'notification IncomingConnection{A} (15)' ],
    [ 'splice', 'splice: F1, F2 before Accept, 1 MiB each way (16)',
        '-b', '1M' ],
    [ 'reject', 'Reject closes the connector, Listen stays (17)' ],
    [ 'accept-nothing', 'Accept with nothing pending: closed (19)' ],
    [ 'dup-listen', 'duplicate Listen: the newer replaces the older (20)' ],
    [ 'dup-connect', 'duplicate Connect: the second closed (21)' ],
    [ 'teardown', 'teardown from either side (22)' ],
    [ 'listener-gone', 'listener gone: tunnel lives, new Connect closed (23)' ],
    [ 'listener-leaves', 'a listener that leaves takes its pending Connects '
        . '(3.6.2), not another listener\'s' ],
);

my $per_pass = @fast + 7 + 5 + 2;

$t->plan(2 * $per_pass + 7);

write_ident($t);

my $conf = <<'EOF';

%%TEST_GLOBALS%%

daemon off;
worker_processes WORKERS;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:8m;

    server {
        listen 127.0.0.1:%%PORT_8990%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_handshake_timeout 3s;
        beacon_offset_init_timeout 2s;
        beacon_offset_keepalive 2s;
        beacon_offset_idle_timeout 5s;
        beacon_offset_half_tunnel_timeout 3s;
    }

    # the defaults
    server {
        listen 127.0.0.1:%%PORT_8991%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8081%%;

        location = /status {
            beacon_status;
        }
    }
}

EOF

my $P = port(8990);
my $D = port(8991);
my $H = port(8081);

sub in_range {
    my ($r, $key, $lo, $hi, $name) = @_;

    my $v = node_note($r, $key);
    ok(defined $v && $v >= $lo && $v <= $hi, $name)
        or diag("$key " . ($v // 'none') . ", expected $lo .. $hi");
}

foreach my $workers (2, 4) {
    (my $c = $conf) =~ s/WORKERS/$workers/;
    $t->write_file_expand('nginx.conf', $c);
    $t->run();

    my @defaults;

    if ($workers == 4) {
        # the strelay defaults, in the background meanwhile
        @defaults = (
            node_spawn($D, '-t', 45, 'keepalive'),
            node_spawn($D, '-t', 45, 'half-expiry'),
            node_spawn($D, '-t', 20, 'silent'),
        );
    }

    my $ka = node_spawn($P, '-t', 15, 'keepalive');
    my $half = node_spawn($P, '-t', 15, 'half-expiry');
    my $silent = node_spawn($P, '-t', 15, 'silent');

    foreach my $f (@fast) {
        my ($sc, $name, @args) = @$f;
        node_ok(node($P, '-t', 20, @args, $sc), "$workers workers: $name");
    }

    # W18: a connector that leaves while pending is dropped at once, so
    # the listener's Accept finds nothing instead of a dead peer

    my $b0 = offset_status($H);
    node_ok(node($P, '-t', 20, 'connector-leaves'), "$workers workers: "
        . 'connector leaves while pending, then Accept: closed (W18)');
    my $b1 = offset_status($H);
    ok($b0 && $b1 && $b1->{tunnels_total} == $b0->{tunnels_total}
        && $b1->{unpaired} == $b0->{unpaired} + 1,
        "$workers workers: nothing spliced with the departed connector")
        or diag(explain([$b0, $b1]));

    my $r = node_wait($silent, 30);
    node_ok($r, "$workers workers: silent after the handshake: closed (10)");
    in_range($r, 'closed_after', 1.5, 3.5,
        "$workers workers: closed about 2 s after the handshake");

    $r = node_wait($ka, 30);
    node_ok($r, "$workers workers: keepalives to a silent listener, "
        . "idle drop (12, 13)");
    in_range($r, 'first_keepalive', 1.5, 3.5,
        "$workers workers: first keepalive after about 2 s");
    in_range($r, 'closed_after', 4.5, 6.5,
        "$workers workers: dropped about 5 s after our last frame");

    $r = node_wait($half, 30);
    node_ok($r, "$workers workers: half-tunnel expiry (18)");
    in_range($r, 'closed_after', 2.5, 4.5,
        "$workers workers: connector closed about 3 s after Connect");

    if (@defaults) {
        $r = node_wait($defaults[0], 60);
        node_ok($r, 'defaults: keepalives and idle drop');
        in_range($r, 'first_keepalive', 15, 17.5,
            'defaults: first keepalive after about 16 s');
        in_range($r, 'closed_after', 31, 33.5,
            'defaults: dropped about 32 s after our last frame');

        $r = node_wait($defaults[1], 60);
        node_ok($r, 'defaults: half-tunnel expiry');
        in_range($r, 'closed_after', 31, 33.5,
            'defaults: connector closed about 32 s after Connect');

        $r = node_wait($defaults[2], 60);
        node_ok($r, 'defaults: silent after the handshake');
        in_range($r, 'closed_after', 3.5, 5.5,
            'defaults: closed about 4 s after the handshake');
    }

    # counters and gauges

    my $o = offset_wait($H, sub {
        $_[0]->{connections} == 0 && $_[0]->{listeners} == 0
    }, 8);

    ok($o && $o->{connections} == 0 && $o->{listeners} == 0
        && $o->{half_tunnels} == 0 && $o->{tunnels} == 0,
        "$workers workers: gauges back to 0") or diag(explain($o));
    ok($o && $o->{rejects} >= 1 && $o->{expired} >= 1,
        "$workers workers: rejects, expired") or diag(explain($o));
    ok($o && $o->{listen_replaced} >= 1,
        "$workers workers: listen_replaced") or diag(explain($o));
    ok($o && $o->{unpaired} >= 4, "$workers workers: unpaired")
        or diag(explain($o));
    ok($o && $o->{tunnels_total} >= 5 && $o->{accepts} >= 7
        && $o->{listens} >= 10 && $o->{bytes_spliced} >= 2 * 1024 * 1024,
        "$workers workers: tunnels_total, accepts, listens, bytes_spliced")
        or diag(explain($o));

    $t->stop();
}

###############################################################################
