#!/usr/bin/perl

# Tests for ngx_beacon_module: the Offset relay's limits, which strelay
# does not have (spec offset-relay.md section 9, W1, W4, W5, W17):
# concurrent handshakes, connections per client IP and in total (silent
# TCP connections hold the slots; the next connection is closed at once
# and counted in limit_hits; once the silent ones time out, handshakes work
# again), the listen allow-list (listed keys may Listen, others are closed
# and counted; anyone may Connect), and the frame size cap before and
# after the handshake.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Offset;

use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream http beacon/);
has_offset_node();

plan(skip_all => '127.0.0.2 not usable')
    unless IO::Socket::INET->new(LocalAddr => '127.0.0.2', Proto => 'udp');

$t->plan(23);

write_ident($t);

# nodes of three seeds: B of the first two may Listen, B of the third not

my @seed = map { sprintf('%064x', $_) } 0x5eed01, 0x5eed02, 0x5eed03;
my @b;

foreach my $s (@seed) {
    my $out = `@{[ offset_node() ]} -s $s keys`;
    my ($k) = $out =~ /^# b=([A-Za-z0-9_-]{43})$/m;
    push @b, $k;
}

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:8m;

    beacon_offset_handshake_timeout 2s;

    server {
        listen 127.0.0.1:%%PORT_8990%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_handshakes 4;
    }

    server {
        listen 127.0.0.1:%%PORT_8991%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_connections_per_ip 3;
    }

    server {
        listen 127.0.0.1:%%PORT_8992%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_connections 3;
    }

    server {
        listen 127.0.0.1:%%PORT_8993%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_listen_allow $b[0];
        beacon_offset_listen_allow $b[1] $b[0];
    }

    server {
        listen 127.0.0.1:%%PORT_8994%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_frame_max 64k;
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

my $H = port(8081);

sub silent {
    my ($port, $local) = @_;

    return IO::Socket::INET->new(
        Proto => 'tcp',
        PeerAddr => "127.0.0.1:$port",
        LocalAddr => $local || '127.0.0.1',
        Timeout => 3,
    );
}

# true if the relay closes $s within $secs (what it sent before is read)

sub closed_within {
    my ($s, $secs) = @_;

    return 1 unless $s;

    my $sel = IO::Select->new($s);
    my $deadline = time() + $secs;

    while (time() < $deadline) {
        next unless $sel->can_read($deadline - time());
        my $n = sysread($s, my $buf, 4096);
        return 1 if !defined $n || $n == 0;
    }

    return 0;
}

sub all_open {
    my (@s) = @_;
    foreach my $s (@s) {
        return 0 if !$s || closed_within($s, 0.05);
    }
    return 1;
}

# the relay closes every one of @s within $secs (its handshake timeout)

sub expire {
    my ($secs, @s) = @_;
    foreach my $s (@s) {
        return 0 unless closed_within($s, $secs);
    }
    return 1;
}

sub idle {
    return offset_wait($H, sub { $_[0]->{connections} == 0 }, 6);
}

my ($o, $before, @s);

# concurrent handshakes

$before = offset_status($H);

@s = map { silent(port(8990)) } 1 .. 4;
$o = offset_wait($H, sub { $_[0]->{handshakes_in_progress} == 4 }, 3);
is($o && $o->{handshakes_in_progress}, 4,
    '4 silent connections hold the 4 handshake slots');

ok(closed_within(silent(port(8990)), 1), 'the 5th connection is closed at once');
ok(all_open(@s), 'the 4 silent connections stay');

$o = offset_status($H);
ok($o && $o->{limit_hits} > $before->{limit_hits}, 'limit_hits counted')
    or diag(explain($o));

ok(expire(4, @s), 'the silent connections time out');
idle();
node_ok(node(port(8990), '-t', 10, 'proof'),
    'after the handshake timeout a handshake works again');

# connections per IP

idle();
@s = map { silent(port(8991)) } 1 .. 3;
offset_wait($H, sub { $_[0]->{connections} == 3 }, 3);

ok(closed_within(silent(port(8991)), 1),
    'a 4th connection from the same IP is closed at once');
node_ok(node(port(8991), '-t', 10, '-l', '127.0.0.2', 'proof'),
    'another IP is served meanwhile');

ok(expire(4, @s), 'the silent connections time out');
idle();
node_ok(node(port(8991), '-t', 10, 'proof'),
    'after the timeouts the first IP is served again');

# connections in total

idle();
$before = offset_status($H);
@s = map { silent(port(8992)) } 1 .. 3;
offset_wait($H, sub { $_[0]->{connections} == 3 }, 3);

ok(closed_within(silent(port(8992), '127.0.0.2'), 1),
    'a 4th connection, from another IP, is closed at once');
$o = offset_status($H);
ok($o && $o->{limit_hits} > $before->{limit_hits}, 'limit_hits counted');

ok(expire(4, @s), 'the silent connections time out');
idle();
node_ok(node(port(8992), '-t', 10, 'proof'),
    'after the timeouts a handshake works again');

# the listen allow-list

node_ok(node(port(8993), '-t', 10, '-s', $seed[0], 'notify'),
    'a listed key Listens and is notified of an unlisted connector');
node_ok(node(port(8993), '-t', 10, '-s', $seed[1], 'notify'),
    'a key listed in the second directive Listens');
node_ok(node(port(8993), '-t', 10, '-s', $seed[2], 'listen-refused'),
    'an unlisted key\'s Listen is closed');
node_ok(node(port(8993), '-t', 10, '-s', $seed[1], 'splice'),
    'a listed key\'s tunnels work');

$o = offset_status($H);
ok($o && $o->{listen_refused} >= 1, 'listen_refused counted')
    or diag(explain($o));

# the frame cap: 4k before the handshake, beacon_offset_frame_max after

$before = offset_status($H);

node_ok(node(port(8994), '-t', 10, 'oversize', 100000),
    'frame_max 64k: a 100000-byte frame closes, before and after the '
    . 'handshake');
node_ok(node(port(8994), '-t', 10, 'oversize', 5000, 'pre'),
    'a 5000-byte frame before the handshake closes');
node_ok(node(port(8994), '-t', 20, '-m', 60000, '-b', 600000, 'splice'),
    'messages of 60000 bytes (frames under 64k) pass');

$o = offset_status($H);
ok($o && $o->{bad_frames} >= $before->{bad_frames} + 2,
    'bad_frames counted') or diag(explain($o));

###############################################################################
