#!/usr/bin/perl

# Tests for ngx_beacon_module: IPv6 (spec scenario 4), mixed IPv4/IPv6
# nodes on one server, IPv4-mapped sources on a dual-stack socket.

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon inet6/)->plan(24);

$t->write_file_expand('nginx.conf', beacon_conf(stream => <<'EOF'));
beacon_zone beacon:1m;
beacon_zone dual:1m;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    listen [::1]:%%PORT_8980_UDP%% udp reuseport;
    beacon zone=beacon;
    beacon_punch_limit global=0 per_ip=0;
}

server {
    listen [::]:%%PORT_8981_UDP%% udp reuseport ipv6only=off;
    beacon zone=dual;
    beacon_punch_limit global=0 per_ip=0;
}
EOF

$t->run();

###############################################################################

my $P = port(8980, udp => 1);
my $P2 = port(8981, udp => 1);
my $H = port(8080);

my $B4 = "127.0.0.1:$P";
my $B6 = "[::1]:$P";

my ($r, $ip, $port, $c0);

sub got {
    my ($s) = @_;
    my ($r, $ip, $port) = $s->recv(2);
    return defined $r ? tohex($r) . " $ip:$port" : '(none)';
}

# 4. DISCOVER from ::1

my $v6 = dgram($B6);

($r, $ip, $port) = $v6->io(hx('01 0000002a'));
is(tohex($r), '0210' . '00000000000000000000000000000001'
    . sprintf('%04x', $v6->sockport()), 'ipv6 discover reply');
is("$ip:$port", "::1:$P", 'ipv6 reply source');

# relay and punch between IPv6 nodes

my $w6 = dgram($B6);
$w6->io(discover(43));

$v6->send(relay(42, 43, 'six'));
is(got($w6), tohex(deliver(42, 'six')) . " ::1:$P", 'ipv6 relay');

$v6->send(punch(42, 43));
is(got($v6), tohex(command_for($w6)) . " ::1:$P", 'ipv6 punch: requester');
is(got($w6), tohex(command_for($v6)) . " ::1:$P", 'ipv6 punch: target');
is(length(command_for($w6)), 20, 'ipv6 punch command is 20 bytes');

# mixed families on one server

my $v4 = dgram($B4, local => '127.0.0.15');
($r, $ip, $port) = $v4->io(discover(44));
is(tohex($r), tohex(reply_for($v4)), 'ipv4 discover on the same server');
is("$ip:$port", $B4, 'ipv4 reply source');

$v4->send(relay(44, 42, 'to6'));
is(got($v6), tohex(deliver(44, 'to6')) . " ::1:$P", 'relay ipv4 -> ipv6');

$v6->send(relay(42, 44, 'to4'));
is(got($v4), tohex(deliver(42, 'to4')) . " $B4", 'relay ipv6 -> ipv4');

$v4->send(punch(44, 42));
is(got($v4), tohex(command_for($v6)) . " $B4", 'punch ipv4 -> ipv6: requester');
is(got($v6), tohex(command_for($v4)) . " ::1:$P", 'punch ipv4 -> ipv6: target');

# the throttle does not care about the family

$c0 = counters($H, 'beacon');
($r) = $v4->io(discover(42));
is(tohex($r), tohex(reply_for($v4)), 'throttled from ipv4: reply');
is(counter_delta($H, 'beacon', $c0, 'discover_throttled', 1), 1,
    'throttled from ipv4: counted');

$w6->send(relay(43, 42, 'still'));
is(got($v6), tohex(deliver(43, 'still')) . " ::1:$P", 'ipv6 node not moved');

# probes and garbage over IPv6

my $p6 = dgram($B6);
($r) = $p6->io(discover(0));
is(tohex($r), tohex(reply_for($p6)), 'ipv6 probe reply');

$p6->send($_) foreach ('', hx('01 000000'), hx('ff'), hx('05 00000001 00'));
ok($p6->expect_nothing(), 'ipv6 garbage: nothing');

($r) = $p6->io(discover(0));
is(tohex($r), tohex(reply_for($p6)), 'ipv6 still served');

# dual-stack socket: IPv4 sources arrive IPv4-mapped, replies use L = 4

my $d4 = dgram("127.0.0.1:$P2", local => '127.0.0.16');
($r, $ip, $port) = $d4->io(discover(50));
is(tohex($r), tohex(reply_for($d4)),
    'dual-stack: ipv4-mapped reply is 8 bytes');
is("$ip:$port", "127.0.0.1:$P2", 'dual-stack: ipv4 reply source');

my $d6 = dgram("[::1]:$P2");
($r, $ip, $port) = $d6->io(discover(51));
is(tohex($r), tohex(reply_for($d6)), 'dual-stack: ipv6 reply');

$d6->send(relay(51, 50, 'm'));
is(got($d4), tohex(deliver(51, 'm')) . " 127.0.0.1:$P2",
    'dual-stack: relay to the ipv4 node');

$d4->send(punch(50, 51));
is(got($d4), tohex(command_for($d6)) . " 127.0.0.1:$P2",
    'dual-stack: punch requester');
is(got($d6), tohex(command_for($d4)) . " ::1:$P2", 'dual-stack: punch target');

###############################################################################
