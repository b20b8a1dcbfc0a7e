#!/usr/bin/perl

# Tests for ngx_beacon_module: the Offset relay's connection set-up, spec
# offset-relay.md section 6.3 scenarios 1 - 9 and 27 - 30, driven by
# t/tools/offset_node: version frame, version mismatch and bad length,
# the relay identity and its signed ExchangeDh, a wrong echoed nonce and a
# bad signature, the handshake timeout (short, and the 8 s default), the
# counter nonces of transport frames, short, oversize, garbage and
# undecodable frames before and after the handshake, and the Appendix A
# known-answer replay.  Every bad input closes only its own connection:
# the node checks a bystander connection and a new handshake, and a fresh
# "identity" run follows each of them here.

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

my @bad = qw/ version-mismatch bad-version-len wrong-nonce bad-sig
    short-frame oversize bad-tag garbage-pre garbage-post invalid-first /;

$t->plan(16 + 2 * @bad);

write_ident($t);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:8m;

    server {
        listen 127.0.0.1:%%PORT_8990%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_handshake_timeout 2s;
        beacon_offset_init_timeout 3s;
        beacon_offset_keepalive 2s;
        beacon_offset_idle_timeout 5s;
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

$t->run();

###############################################################################

my $P = port(8990);
my $D = port(8991);
my $H = port(8081);

# the 8 s default handshake timeout runs in the background meanwhile
my $bg = node_spawn($D, '-t', 20, 'hs-timeout');

node_ok(node($P, '-t', 10, 'version'), 'version frame (1)');
node_ok(node($P, '-t', 10, 'identity'), 'relay identity (4)');
node_ok(node($P, '-t', 10, 'proof'), 'relay proof: nonce echo and signature (5)');
node_ok(node($P, '-t', 10, 'transport'), 'transport frames: counter nonces (9)');
node_ok(node($P, '-t', 10, 'known-answer'),
    'Appendix A known answer: V15, then V27 as Listen (30)');

# bad inputs: each closes only its connection, the relay keeps serving

foreach my $sc (@bad) {
    node_ok(node($P, '-t', 10, $sc), "$sc: closed, the relay keeps serving");
    node_ok(node($P, '-t', 10, 'identity'), "after $sc: a fresh handshake");
}

# handshake timeouts: 2s here, the 8s default on the other server

my $r = node($P, '-t', 10, 'hs-timeout');
node_ok($r, 'silent in the handshake: closed (8)');
my $v = node_note($r, 'closed_after');
ok(defined $v && $v >= 1.5 && $v <= 3.5, 'closed about 2 s after accept')
    or diag('closed_after ' . ($v // 'none'));

$r = node_wait($bg, 40);
node_ok($r, 'default handshake timeout: closed');
$v = node_note($r, 'closed_after');
ok(defined $v && $v >= 7 && $v <= 9.5, 'closed about 8 s after accept')
    or diag('closed_after ' . ($v // 'none'));

# counters

my $o = offset_wait($H, sub { $_[0]->{connections} == 0 }, 5);

ok($o && $o->{connections} == 0 && $o->{handshakes_in_progress} == 0,
    'no connection left open') or diag(explain($o));
ok($o && $o->{handshakes_ok} >= 20, 'handshakes_ok counted')
    or diag(explain($o));
ok($o && $o->{handshakes_failed} >= 8, 'handshakes_failed counted')
    or diag(explain($o));
ok($o && $o->{bad_frames} >= 8, 'bad_frames counted') or diag(explain($o));
ok($o && $o->{timeouts} >= 2, 'timeouts counted') or diag(explain($o));

my ($code, undef, $body) = http_get($H, '/status?format=prometheus');
like($body, qr/^beacon_offset_bad_frames_total\{zone="beacon"\} [1-9]\d*$/m,
    'Prometheus: beacon_offset_bad_frames_total');
like($body, qr/^beacon_offset_handshakes_ok_total\{zone="beacon"\} [1-9]/m,
    'Prometheus: beacon_offset_handshakes_ok_total');

###############################################################################
