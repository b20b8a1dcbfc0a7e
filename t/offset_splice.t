#!/usr/bin/perl

# Tests for ngx_beacon_module: Offset relay tunnels with 4 workers and
# reuseport, driven by t/tools/offset_node: 8 concurrent tunnels (the
# Listen, Connect and Accept of a tunnel land on different workers, so
# acceptors' sockets are handed off), 64 MiB each way through one tunnel
# byte for byte, Rust-sized random padding, both nodes rekeying their
# hops during a transfer, responder and simultaneous rekeys (spec 6.3
# scenarios 16, 24 - 26), multi-segment Cap'n Proto messages with far
# pointers, and the counters.

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

$t->plan(14);

write_ident($t);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 4;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:8m;

    beacon_offset_keepalive 3s;
    beacon_offset_idle_timeout 10s;

    # which worker saw which Listen, Connect and Accept
    error_log %%TESTDIR%%/offset.log info;

    server {
        listen 127.0.0.1:%%PORT_8990%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
    }

    # the relay starts rekeys too
    server {
        listen 127.0.0.1:%%PORT_8991%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_rekey_interval 1s;
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
my $R = port(8991);
my $H = port(8081);

my $before = offset_status($H);

node_ok(node($P, '-t', 60, '-n', 8, '-b', '2M', 'splice'),
    '8 concurrent tunnels, 2 MiB each way, byte-exact (16)');

my $o = offset_status($H);
ok($o && $o->{handoffs} > 0, 'acceptors handed off to the connectors\' '
    . 'workers') or diag(explain($o));

# 24 more tunnels: the Listen, the Connect and the Accept of one of them
# land on three different workers (each does with probability 3/8)

node_ok(node($P, '-t', 60, '-n', 24, '-b', '64K', 'splice'),
    '24 concurrent tunnels, byte-exact');

my (%listen, %connect, @accept);

for (split /\n/, $t->read_file('offset.log')) {
	next unless /\[info\] (\d+)#\d+: .*offset relay: (\S+) (listens|connects to|accepts) ?([^\s,]*)/;
	my ($pid, $who, $what, $whom) = ($1, $2, $3, $4);

	if ($what eq 'listens') { $listen{$who} = $pid; }
	elsif ($what eq 'connects to') { $connect{"$who $whom"} = $pid; }
	else { push @accept, [ $pid, $who, $whom ]; }
}

my $three = grep {
	my ($pid, $b, $a) = @$_;
	defined $listen{$b} && defined $connect{"$a $b"}
		&& $listen{$b} != $connect{"$a $b"} && $listen{$b} != $pid
		&& $connect{"$a $b"} != $pid;
} @accept;

ok($three, "a tunnel whose Listen, Connect and Accept were on three "
	. "workers ($three of " . scalar(@accept) . ')');

my $r = node($P, '-t', 90, '-b', '64M', 'splice');
node_ok($r, '64 MiB each way through one tunnel, byte-exact');
diag('64 MiB each way: ' . (node_note($r, 'seconds') // '?') . ' s')
    if $ENV{TEST_NGINX_VERBOSE};

node_ok(node($P, '-t', 60, '-b', '4M', '-p', 65535, 'splice'),
    'random padding up to 64 KiB on every message (Rust-sized)');

node_ok(node($P, '-t', 60, '-b', '8M', 'tunnel-rekey'),
    'both nodes rekey their hops 4 times during 8 MiB each way');

node_ok(node($R, '-t', 60, '-n', 2, '-b', '16M', 'tunnel-rekey'),
    'the same while the relay starts rekeys too');

node_ok(node($P, '-t', 30, 'rekey'),
    'responder rekey on each hop: old-key frames accepted, new key from '
    . 'nonce 0 (24)');

node_ok(node($R, '-t', 30, 'rekey-simul'),
    'simultaneous rekeys on each hop (25)');

node_ok(node($P, '-t', 30, 'multiseg'),
    'multi-segment messages with far pointers, 60000 B padding (26)');

# counters and gauges

$o = offset_wait($H, sub {
    $_[0]->{connections} == 0 && $_[0]->{tunnels} == 0
}, 8);

ok($o && $o->{connections} == 0 && $o->{listeners} == 0
    && $o->{half_tunnels} == 0 && $o->{tunnels} == 0,
    'gauges back to 0') or diag(explain($o));

ok($o && $o->{tunnels_total} - $before->{tunnels_total} >= 15
    && $o->{bytes_spliced} - $before->{bytes_spliced} >= 128 * 1024 * 1024,
    'tunnels_total, bytes_spliced') or diag(explain($o));

ok($o && $o->{rekeys} >= 24 && $o->{handoff_failed} == 0
    && $o->{bad_frames} == 0, 'rekeys counted, no failed handoff, no bad '
    . 'frame') or diag(explain($o));

###############################################################################
