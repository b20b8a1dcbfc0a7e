#!/usr/bin/perl

# Tests for ngx_beacon_module: gossip beyond one datagram (W9).  A zone
# with more than 16375 nodes is announced in several SYNCs, each from
# another listener of the beacon server, so that a reference receiver
# (replace per source IP:port) keeps every chunk.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

use IO::Socket::INET;
use Time::HiRes qw/ time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp beacon/)->plan(8);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:16m;

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
        listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
        beacon on;
        beacon_id 7;
        beacon_peers 127.0.0.1:%%PORT_8990_UDP%%;
        beacon_reply_limit off;
        beacon_register_limit off;
    }
}

EOF

my $peer_port = port(8990, udp => 1);
my $p1 = port(8980, udp => 1);
my $p2 = port(8981, udp => 1);

$t->run();

###############################################################################

my $peer = IO::Socket::INET->new(Proto => 'udp',
    LocalAddr => "127.0.0.1:$peer_port") or die "peer: $@";

# 20000 nodes, waiting for the replies every 50 so nothing is dropped: 200
# replies in flight could overrun this socket's receive buffer (each small
# datagram costs about 1 KiB of it), which made the count flaky under load

my $s = dgram("127.0.0.1:$p1");
my $replies = 0;

for my $id (1 .. 20000) {
    $s->send(discover($id));

    next if $id % 50;

    while ($replies < $id) {
        my ($r) = $s->recv(2);
        last unless defined $r;
        $replies++;
    }
}

is($replies, 20000, '20000 nodes registered');

# one round: two SYNCs, one per listener, the first listener's first.  The
# peer socket also holds rounds sent while the nodes were registering (many
# under a sanitizer build), with other ids in each chunk: a round is a
# SYNC from the first listener followed by one from the second

my (%from, %ids);
my $deadline = time() + 25;

# what was sent before the last registration
while (1) {
    my $rin = '';
    vec($rin, fileno($peer), 1) = 1;
    last unless select($rin, undef, undef, 0);
    $peer->recv(my $old, 70000);
}

# a round that began before the other worker had registered the last
# nodes (possible on a loaded machine) is followed by another within 10 s:
# the first round after the registrations is the one checked

while (time() < $deadline) {
    if ($from{$p2}) {
        last if keys %ids == 20000 || $deadline - time() < 11;
        (%from, %ids) = ();
    }

    my $rin = '';
    vec($rin, fileno($peer), 1) = 1;
    last unless select($rin, undef, undef, $deadline - time());

    my $addr = $peer->recv(my $d, 70000);
    my ($port) = (unpack_sockaddr_in($addr))[0];

    my ($type, $bid, $n) = unpack('C N n', $d);
    next unless $type == 7;

    if ($port == $p1) {
        (%from, %ids) = ();

    } elsif (!$from{$p1}) {
        next;
    }

    my @list = unpack("x7 N$n", $d);
    $from{$port} = { beacon_id => $bid, n => $n, len => length $d };
    $ids{$_}++ for @list;
}

ok($from{$p1}, 'a SYNC from the first listener');
ok($from{$p2}, 'a SYNC from the second listener');
is($from{$p1} && $from{$p1}{n}, 16375, 'first: a full datagram of ids');
cmp_ok($from{$p1} && $from{$p1}{len}, '<=', 65507, 'first: fits UDP');
is($from{$p2} && $from{$p2}{n}, 20000 - 16375, 'second: the rest');
is(scalar keys %ids, 20000, 'every node announced');
is((grep { $_ > 1 } values %ids), 0, 'no node announced twice');

###############################################################################
