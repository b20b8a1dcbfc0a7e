#!/usr/bin/perl

# Tests for ngx_beacon_module: the source address of every datagram the
# beacon sends is the exact address the destination node talked to (W23),
# with a wildcard listen and with several explicit listen addresses.

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(24);

$t->write_file_expand('nginx.conf', beacon_conf(stream => <<'EOF'));
beacon_zone w:1m;
beacon_zone e:1m;

server {
    listen 0.0.0.0:%%PORT_8980_UDP%% udp reuseport;
    beacon zone=w;
    beacon_punch_limit global=0 per_ip=0;
}

server {
    listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
    listen 127.0.0.2:%%PORT_8981_UDP%% udp reuseport;
    beacon zone=e;
    beacon_punch_limit global=0 per_ip=0;
}
EOF

$t->run();

###############################################################################

my $P1 = port(8980, udp => 1);
my $P2 = port(8981, udp => 1);

my $H = port(8080);

run_checks('wildcard', 'w', $P1);
run_checks('explicit', 'e', $P2);

###############################################################################

sub run_checks {
    my ($name, $zone, $p) = @_;

    my ($r, $ip, $port);

    my $b1 = "127.0.0.1:$p";
    my $b2 = "127.0.0.2:$p";

    # replies from the address the client sent to

    my $c1 = dgram($b1, local => '127.0.0.11');
    ($r, $ip, $port) = $c1->io(discover(1));
    is(tohex($r), tohex(reply_for($c1)), "$name: reply via .1");
    is("$ip:$port", $b1, "$name: reply source .1");

    my $c2 = dgram($b2, local => '127.0.0.12');
    ($r, $ip, $port) = $c2->io(discover(2));
    is(tohex($r), tohex(reply_for($c2)), "$name: reply via .2");
    is("$ip:$port", $b2, "$name: reply source .2");

    # relay deliveries from the address the destination talked to

    $c1->send(relay(1, 2, 'a'));
    ($r, $ip, $port) = $c2->recv(2);
    is(tohex($r), tohex(deliver(1, 'a')), "$name: relay .1 -> .2");
    is("$ip:$port", $b2, "$name: relay delivery source .2");

    $c2->send(relay(2, 1, 'b'));
    ($r, $ip, $port) = $c1->recv(2);
    is("$ip:$port", $b1, "$name: relay delivery source .1");

    # many senders (both workers): the source never changes

    my ($n, $good) = (0, 0);

    for my $i (1 .. 8) {
        my $s = dgram($b1, local => "127.0.0." . (20 + $i));
        $s->io(discover(100 + $i));
        $s->send(relay(100 + $i, 2, "s$i"));

        $n++;
        ($r, $ip, $port) = $c2->recv(2);
        $good++ if defined $r && $r eq deliver(100 + $i, "s$i")
            && "$ip:$port" eq $b2;
    }

    is($good, $n, "$name: deliveries from 8 senders come from .2");

    # punch commands

    $c1->send(punch(1, 2));

    ($r, $ip, $port) = $c1->recv(2);
    is(defined $r ? tohex($r) . " $ip:$port" : undef,
        tohex(command_for($c2)) . " $b1", "$name: punch command to requester");

    ($r, $ip, $port) = $c2->recv(2);
    is(defined $r ? tohex($r) . " $ip:$port" : undef,
        tohex(command_for($c1)) . " $b2", "$name: punch command to target");

    # a node that switches to the other beacon address is served from it

    my $m = dgram($b1, local => '127.0.0.13');
    $m->io(discover(3));

    my $c0 = counters($H, $zone);
    ($r, $ip, $port) = $m->io(discover(3), 2, $b2);
    is(counter_delta($H, $zone, $c0, 'discover_throttled'), 0,
        "$name: same source via the other address is a refresh");

    $c1->send(relay(1, 3, 'moved'));
    ($r, $ip, $port) = $m->recv(2);
    is(defined $r ? tohex($r) . " $ip:$port" : undef,
        tohex(deliver(1, 'moved')) . " $b2",
        "$name: delivery follows the address the node talks to");
}

###############################################################################
