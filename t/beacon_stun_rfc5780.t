#!/usr/bin/perl

# Tests for ngx_beacon_module: RFC 5780 behaviour discovery with
# "beacon_stun_rfc5780 primary alternate": listening on both addresses
# with both ports, nginx answers a CHANGE-REQUEST from the address and
# port asked for, names it in RESPONSE-ORIGIN and the other pair in
# OTHER-ADDRESS, sends to RESPONSE-PORT, and coturn's
# turnutils_stunclient -f completes its RFC 5780 tests against it.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Stun;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp beacon/);

$t->write_file_expand('nginx.conf',
    beacon_conf(status => 0, stream => <<'EOF2'));
beacon_zone stun:1m;

server {
    listen 127.0.0.1:%%PORT_8983_UDP%% udp reuseport;
    listen 127.0.0.1:%%PORT_8984_UDP%% udp reuseport;
    listen 127.0.0.2:%%PORT_8983_UDP%% udp reuseport;
    listen 127.0.0.2:%%PORT_8984_UDP%% udp reuseport;
    beacon on;
    beacon_stun only;
    beacon_stun_rfc5780 127.0.0.1:%%PORT_8983_UDP%%
                        127.0.0.2:%%PORT_8984_UDP%%;
}

# one address only: CHANGE-REQUEST refused
server {
    listen 127.0.0.1:%%PORT_8985_UDP%% udp reuseport;
    beacon on;
    beacon_stun only;
}
EOF2

$t->run()->plan(16);

###############################################################################

my $P1 = port(8983, udp => 1);
my $P2 = port(8984, udp => 1);
my $P3 = port(8985, udp => 1);

my $c = dgram("127.0.0.1:$P1");
my $me = '127.0.0.1:' . $c->sockport();

sub ask {
    my ($to, $flags, @more) = @_;

    my $id = $STUN_COOKIE . stun_txid();
    my @attrs = ((defined $flags ? [ 0x0003, pack('N', $flags) ] : ()),
        @more);
    my ($r, $ip, $port) = $c->io(stun_msg(0x0001, $id, \@attrs), 2, $to);
    my ($type, $rid, $a) = stun_parse($r);

    return ($type // 0, defined $ip ? "$ip:$port" : '', $a || {}, $id);
}

my ($type, $from, $a, $id);

for my $case ([ undef, "127.0.0.1:$P1", 'no CHANGE-REQUEST' ],
    [ 0, "127.0.0.1:$P1", 'no change' ],
    [ 2, "127.0.0.1:$P2", 'change port' ],
    [ 4, "127.0.0.2:$P1", 'change IP' ],
    [ 6, "127.0.0.2:$P2", 'change IP and port' ])
{
    my ($flags, $want, $name) = @$case;

    ($type, $from, $a, $id) = ask("127.0.0.1:$P1", $flags);

    is($from, $want, "$name: response from $want");
    is(stun_addr($a->{0x802b}, $id, 0) . ' ' . stun_addr($a->{0x802c}, $id, 0)
        . ' ' . stun_addr($a->{0x0020}, $id, 1),
        "$want 127.0.0.2:$P2 $me",
        "$name: RESPONSE-ORIGIN, OTHER-ADDRESS, XOR-MAPPED-ADDRESS");
}

# a request to the alternate: the other pair is the primary

($type, $from, $a, $id) = ask("127.0.0.2:$P2", 6);
is("$from " . stun_addr($a->{0x802c}, $id, 0),
    "127.0.0.1:$P1 127.0.0.1:$P1", 'to the alternate: the primary is other');

# RESPONSE-PORT: the same IP, another port

my $c2 = dgram("127.0.0.1:$P1");
$c->send(stun_msg(0x0001, $STUN_COOKIE . stun_txid(),
    [ [ 0x0027, pack('nn', $c2->sockport(), 0) ] ]));
my ($r) = $c2->recv(2);
($type) = stun_parse($r);
is(sprintf('%04x', $type // 0), '0101', 'RESPONSE-PORT: answered there');

# without an alternate: 420

$c = dgram("127.0.0.1:$P3");
($type, $from, $a) = ask("127.0.0.1:$P3", 6);
is(sprintf('%04x', $type) . ' ' . unpack('H*', $a->{0x000a} // ''),
    '0111 0003', 'single address: CHANGE-REQUEST gets 420');
ok(!exists $a->{0x802c}, 'single address: no OTHER-ADDRESS');

# coturn's RFC 5780 client

SKIP: {
    skip 'turnutils_stunclient not installed (Debian coturn)', 2
        unless grep { -x "$_/turnutils_stunclient" } split /:/, $ENV{PATH};

    my $out = `timeout 20 turnutils_stunclient -f -p $P1 127.0.0.1 2>&1`;

    like($out, qr/RFC 5780 response 2.*Other addr: : 127\.0\.0\.2:$P2/s,
        'turnutils_stunclient -f: change request answered, other address')
        or diag($out);
    like($out, qr/Response origin: : 127\.0\.0\.2:$P2/,
        'turnutils_stunclient -f: response from the alternate');
}

###############################################################################
