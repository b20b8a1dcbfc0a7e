#!/usr/bin/perl

# Tests for ngx_beacon_module: gossip routes of a source silent for 90 s
# are dead (spec 6.2, scenario 29), at once and not at the next reap, and
# the source stops being a peer beacon.  A source that keeps sending SYNCs
# keeps its routes.  With error_log at debug, the silence is explained
# (when nginx is built --with-debug).  This file takes about 95 seconds.

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(15);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

error_log %%TESTDIR%%/debug.log debug;

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone e:4m;

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
        beacon zone=e;
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

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

my $S = register($B, 10, '127.0.0.61');
my $D = register($B, 20, '127.0.0.60');
my $A = dgram($B, local => '127.0.0.70');    # goes silent
my $K = dgram($B, local => '127.0.0.71');    # keeps talking

sub fwd {
    my ($relay, $to, $timeout) = @_;

    $S->send($relay);
    my ($d) = recv_type($to, 5, defined $timeout ? $timeout : 2);

    return defined $d ? tohex($d) : '(none)';
}

# the zone has the routes of the latest SYNC from $sock: its gossip source
# entry has $routes routes, from a SYNC less than a second old

sub synced {
    my ($sock, $routes) = @_;

    my $addr = $sock->sockhost() . ':' . $sock->sockport();

    return wait_for(sub {
        my $z = status($H, 'e') or return 0;
        my ($e) = grep { $_->{addr} eq $addr }
            @{$z->{gossip} ? $z->{gossip}{peers} : []};
        $e && $e->{routes} == $routes && $e->{age_ms} < 1000;
    });
}

sub until_t {
    my ($at) = @_;
    my $left = $at - time();
    sleep $left if $left > 0;
}

my $t0 = time();
$A->send(sync(1, 100));
$K->send(sync(2, 200));
ok(synced($A, 1) && synced($K, 1), 'routes installed');

is(fwd(relay(10, 100, 'a'), $A), tohex(relay(10, 100, 'a')), 'route at 0 s');

foreach my $at (30, 60, 85) {
    until_t($t0 + $at);
    $K->send(sync(2, 200));
}

until_t($t0 + 88.5);

is(fwd(relay(10, 100, 'b'), $A), tohex(relay(10, 100, 'b')),
    'route at 88.5 s');

$A->send(relay(555, 20, 'peer'));
ok($D->expect_nothing(0.5),
    'live but unconfigured source: sender binding still applies');

until_t($t0 + 90.6);

my $c0 = counters($H, 'e');

is(fwd(relay(10, 100, 'c'), $A, 0.5), '(none)', 'route dead at 90.6 s');
is(counter_delta($H, 'e', $c0, 'relay_not_found', 1), 1,
    'dead route: relay_not_found');

is(fwd(relay(10, 200, 'd'), $K), tohex(relay(10, 200, 'd')),
    'refreshed source keeps its route');

$A->send(relay(555, 20, 'peer'));
ok($D->expect_nothing(0.5), 'silent source is no peer any more');
is(counter_delta($H, 'e', $c0, 'relay_dropped.sender_mismatch', 1), 1,
    'silent source: sender_mismatch');

$A->send(relay(555, 100, 'loop?'));
ok(expect_no_type($A, 5, 0.5), 'silent source: its relay is not forwarded');

# the same source announces again: a fresh start

$A->send(sync(1, 100, 101));
ok(synced($A, 2), 'source back: routes installed');

is(fwd(relay(10, 101, 'e'), $A), tohex(relay(10, 101, 'e')),
    'source back: new route');
is(fwd(relay(10, 100, 'f'), $A), tohex(relay(10, 100, 'f')),
    'source back: old id announced again');

ok(time() - $t0 < 95, 'timing held (' . int(time() - $t0) . ' s)');

# the reaper found the source silent and said so, once

SKIP: {
    skip 'nginx built without --with-debug', 1
        unless `$Test::Nginx::NGINX -V 2>&1` =~ /--with-debug/;

    my $addr = quotemeta($A->sockhost() . ':' . $A->sockport());
    my $re = qr/beacon gossip source $addr beacon 1: silent for 90 s, its routes expired/;

    ok(wait_for(sub { $t->read_file('debug.log') =~ $re }),
        'debug: silent source, its routes expired');
}

###############################################################################
