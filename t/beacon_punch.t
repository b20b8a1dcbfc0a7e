#!/usr/bin/perl

# Tests for ngx_beacon_module: PUNCH_REQUEST / PUNCH_COMMAND without grants
# (spec scenarios 10-13), punch whitelist, requester endpoint hardening
# (W1: a request from another endpoint cannot move the requester).

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(41);

$t->write_file_expand('nginx.conf', beacon_conf(beacon => <<'EOF'));
beacon_endpoint_throttle 2s;
beacon_punch_limit global=10 per_ip=1 burst=1 global_burst=1;
beacon_punch_whitelist 127.0.0.5 127.0.0.128/25 10.0.0.0/8;
EOF

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

my ($r, $ip, $port, $c0);

sub node { return udp_node($B, @_); }

# commands received by a socket within a short time

sub commands {
    my ($s, $quiet) = @_;
    return map { $_->[0] } $s->recv_all($quiet || 0.3, limit => 3);
}

my $T = node(9002, '127.0.0.22');
my $A = node(9001, '127.0.0.21');

# 10. coordination

$c0 = counters($H);
$A->send(punch(9001, 9002));

($r, $ip, $port) = $A->recv(2);
is(tohex($r), tohex(command_for($T)), 'punch: requester gets target');
is("$ip:$port", $B, 'punch: requester command source');

($r, $ip, $port) = $T->recv(2);
is(tohex($r), tohex(command_for($A)), 'punch: target gets requester');
is("$ip:$port", $B, 'punch: target command source');

is(counter_delta($H, undef, $c0, 'punch_requests', 1), 1, 'punch_requests');
is(counter_delta($H, undef, $c0, 'punch_coordinated', 1), 1,
    'punch_coordinated');

# 11. short request

$c0 = counters($H);
$A->send(hx('03 00000001'));
ok($A->expect_nothing() && $T->expect_nothing(0.1), 'short punch: nothing');
is(counter_delta($H, undef, $c0, 'malformed', 1), 1, 'short punch counted');

# 12. unknown target

my $U = node(9003, '127.0.0.23');

sleep 0.15;

$c0 = counters($H);
$U->send(punch(9003, 999));
ok($U->expect_nothing() && $T->expect_nothing(0.1), 'unknown target: nothing');
is(counter_delta($H, undef, $c0, 'punch_not_found', 1), 1,
    'unknown target counted');

# 13. per-IP limit: one request per second per source IP

my $R = node(9004, '127.0.0.24');

sleep 0.15;

my $first = time();
$R->send(punch(9004, 9002));
is(tohex($R->recv(2)), tohex(command_for($T)), 'per-ip: first coordinated');
is(tohex($T->recv(2)), tohex(command_for($R)), 'per-ip: first to target');

sleep 0.15;

$c0 = counters($H);
$R->send(punch(9004, 9002));
ok($R->expect_nothing() && $T->expect_nothing(0.1),
    'per-ip: second within 1s dropped');
is(counter_delta($H, undef, $c0, 'punch_rate_limited', 1), 1,
    'per-ip: counted');

sleep 1.2 - (time() - $first) if time() - $first < 1.2;

$R->send(punch(9004, 9002));
is(tohex($R->recv(2)), tohex(command_for($T)), 'per-ip: after 1s coordinated');
is(tohex($T->recv(2)), tohex(command_for($R)), 'per-ip: after 1s to target');

# global limit: 10 per second, at least 100 ms apart, whatever the source

my $G1 = node(9005, '127.0.0.25');
my $G2 = node(9006, '127.0.0.26');
my $G3 = node(9007, '127.0.0.27');

sleep 0.15;

$c0 = counters($H);
$G1->send(punch(9005, 9002));
$G2->send(punch(9006, 9002));

my @g = (commands($G1), commands($G2));
my @tg = commands($T);

is(scalar @g, 1, 'global: one of two requesters answered');
is(scalar @tg, 1, 'global: one command to the target');
is(counter_delta($H, undef, $c0, 'punch_rate_limited', 1), 1,
    'global: counted');

sleep 0.15;

$G3->send(punch(9007, 9002));
is(tohex($G3->recv(2)), tohex(command_for($T)), 'global: 100ms later ok');
is(tohex($T->recv(2)), tohex(command_for($G3)),
    'global: 100ms later to target');

# whitelisted source: never limited, not even right after another request

my $W = node(9008, '127.0.0.5');
my $V = node(9011, '127.0.0.31');

sleep 0.15;

$c0 = counters($H);
$V->send(punch(9011, 9002));
$W->send(punch(9008, 9002)) for 1 .. 5;

my @w = commands($W);
my @tw = grep { $_ eq command_for($W) } commands($T);
is(scalar @w, 5, 'whitelist: 5 commands to the requester');
ok(!grep({ $_ ne command_for($T) } @w), 'whitelist: commands name target');
is(scalar @tw, 5, 'whitelist: 5 commands to the target');
is(scalar commands($V, 0.1), 1, 'whitelist: the other request coordinated');
is(counter_delta($H, undef, $c0, 'punch_rate_limited'), 0,
    'whitelist: nothing limited');

# whitelisted network

my $W2 = node(9012, '127.0.0.200');

$W2->send(punch(9012, 9002)) for 1 .. 3;
is(scalar commands($W2), 3, 'whitelisted network: 3 commands');
is(scalar(grep { $_ eq command_for($W2) } commands($T, 0.1)), 3,
    'whitelisted network: 3 commands to the target');

# requester endpoint: a request from another endpoint does not move the
# requester inside the throttle window, and is dropped

my $M1 = node(9009, '127.0.0.28');
my $registered = time();
my $M2 = dgram($B, local => '127.0.0.29');

sleep 0.15;

$c0 = counters($H);
$M2->send(punch(9009, 9002));
ok($M2->expect_nothing(), 'mismatch: nothing to the sender');
ok($M1->expect_nothing(0.1), 'mismatch: nothing to the registered endpoint');
ok($T->expect_nothing(0.1), 'mismatch: nothing to the target');
is(counter_delta($H, undef, $c0, 'punch_endpoint_mismatch', 1), 1,
    'mismatch: counted');

# same IP, another port: also a different endpoint

my $M3 = dgram($B, local => '127.0.0.28');

sleep 0.15;

$c0 = counters($H);
$M3->send(punch(9009, 9002));
ok($M3->expect_nothing() && $M1->expect_nothing(0.1)
    && $T->expect_nothing(0.1), 'mismatch (port): nothing');
is(counter_delta($H, undef, $c0, 'punch_endpoint_mismatch', 1), 1,
    'mismatch (port): counted');

# after the throttle window, the request moves the requester (the same
# rule as DISCOVER)

my $wait = $registered + 2.4 - time();
sleep $wait if $wait > 0;

$M2->send(punch(9009, 9002));
is(tohex($M2->recv(2)), tohex(command_for($T)), 'after window: coordinated');
is(tohex($T->recv(2)), tohex(command_for($M2)), 'after window: target told');
ok($M1->expect_nothing(0.1), 'after window: old endpoint told nothing');

# an unregistered requester is registered by its request

my $N = dgram($B, local => '127.0.0.30');

sleep 0.15;

$N->send(punch(9010, 9002));
is(tohex($N->recv(2)), tohex(command_for($T)), 'new requester: coordinated');
is(tohex($T->recv(2)), tohex(command_for($N)), 'new requester: target told');

# the requester registered at the same endpoint as in the request is
# reachable by punch from others

sleep 0.15;

$T->send(punch(9002, 9010));
is(tohex($T->recv(2)), tohex(command_for($N)), 'reverse: target gets new');
is(tohex($N->recv(2)), tohex(command_for($T)), 'reverse: new gets target');

###############################################################################
