#!/usr/bin/perl

# Tests for ngx_beacon_module: the shared zone survives "nginx -s reload"
# with the same size (registrations, keys of the throttle), and is reset
# when the zone size changes.

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(20);

sub config {
    my ($size, $limit) = @_;

    $t->write_file_expand('nginx.conf', beacon_conf(zone => $size,
        beacon => "beacon_relay_limit $limit;"));
}

config('1m', 4000);
$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

my ($r, $c0);

# ten nodes from ten addresses (spread over both workers), one sender

my %node = udp_nodes($B, { map { $_ => '127.0.0.' . (80 + $_) } 1 .. 10 });

my $S = dgram($B, local => '127.0.0.79');
$S->io(discover(100));

sub reachable { return relay_reachable($S, 100, \%node); }

is(scalar keys %node, 10, 'ten nodes registered');
is(reachable(), 10, 'all reachable');
is(status($H, 'beacon')->{nodes}, 11, 'status: 11 nodes');

# reload, same zone size, another relay limit

my @old = $t->worker_pids();

config('1m', 3000);
ok($t->reload(), 'reload');

my @new = $t->worker_pids();
is(scalar @new, 2, 'two new workers');
ok(!grep({ my $o = $_; grep { $_ == $o } @new } @old), 'old workers gone');

is(status($H, 'beacon')->{nodes}, 11, 'after reload: 11 nodes');
is(reachable(), 10, 'after reload: all reachable');

# the sender is still bound to its endpoint, the throttle still applies

my $X = dgram($B, local => '127.0.0.78');

$c0 = counters($H, 'beacon');
$X->send(relay(100, 1, 'spoof'));
ok($node{1}->expect_nothing(), 'after reload: sender binding kept');

($r) = $X->io(discover(1));
is(tohex($r), tohex(reply_for($X)), 'after reload: discover reply');
is(counter_delta($H, 'beacon', $c0, 'discover_throttled', 1), 1,
    'after reload: throttle state kept');

$S->send(relay(100, 1, 'kept'));
is(tohex($node{1}->recv(2)), tohex(deliver(100, 'kept')),
    'after reload: node not moved');

# a second reload

config('1m', 4000);
ok($t->reload(), 'second reload');
is(reachable(), 10, 'after second reload: all reachable');

# another zone size: state lost

config('2m', 4000);
ok($t->reload(), 'reload with another zone size');

my $z = status($H, 'beacon');
is($z->{nodes}, 0, 'zone size changed: no nodes');
is($z->{size}, 2 * 1024 * 1024, 'zone size changed: new size');

($r) = $S->io(discover(100));
is(tohex($r), tohex(reply_for($S)), 'zone size changed: sender registers');

$c0 = counters($H, 'beacon');
$S->send(relay(100, 1, 'gone'));
ok($node{1}->expect_nothing(), 'zone size changed: old node gone');
is(counter_delta($H, 'beacon', $c0, 'relay_not_found', 1), 1,
    'zone size changed: relay_not_found');

###############################################################################
