package Test::Nginx::Gossip;

# Helpers for the gossip tests (spec 2.7, 6.1, 6.2): SYNC builders and a
# strict SYNC parser, the HMAC trailer of beacon_gossip_secret, a datagram
# reader that sorts SYNCs from other traffic, node registration, and a raw
# IPv4 sender that puts another loopback address:port in the UDP source
# (to stand in for a peer beacon).  Written for this project.
#
# All traffic goes to loopback addresses only.

use warnings;
use strict;

use Exporter qw/ import /;
our @EXPORT = qw/
    signed_sync sync_trailer parse_sync
    recv_type drain_type expect_no_type wait_sync register
    can_spoof spoof_udp
/;

use Digest::SHA qw/ sha256 hmac_sha256 /;
use Socket qw/ AF_INET PF_INET SOCK_RAW inet_pton pack_sockaddr_in /;
use Time::HiRes qw/ time /;

use Test::Nginx::Beacon;

###############################################################################
# SYNC

# the 28-byte trailer: "NBG1", i64 BE time, first 16 bytes of
# HMAC-SHA-256(key = SHA-256(secret), message . "NBG1" . time)

sub sync_trailer {
    my ($secret, $msg, $time) = @_;

    $time = int(time()) unless defined $time;

    my $head = 'NBG1' . pack('q>', $time);
    my $mac = hmac_sha256($msg . $head, sha256($secret));

    return $head . substr($mac, 0, 16);
}

sub signed_sync {
    my ($secret, $beacon_id, $ids, %o) = @_;

    my $m = sync($beacon_id, @$ids);
    return $m . sync_trailer($secret, $m, $o{time});
}

# parse_sync($data, secret => S, now => T, window => W): a hash with
# beacon_id, n, ids (array), trailer (undef or 28 bytes), time, or a
# string saying what is wrong.  Without a secret the datagram must be
# exactly 7 + 4N bytes; with one, 7 + 4N + 28 with a valid trailer.

sub parse_sync {
    my ($d, %o) = @_;

    return 'no datagram' unless defined $d;
    return 'not a SYNC' unless length($d) >= 1 && ord($d) == 7;
    return 'shorter than 7 bytes' if length($d) < 7;

    my ($type, $bid, $n) = unpack('CNn', $d);
    my $body = 7 + 4 * $n;

    return "claims $n ids, carries " . int((length($d) - 7) / 4)
        if length($d) < $body;

    my %s = (
        beacon_id => $bid,
        n => $n,
        ids => [ unpack('N*', substr($d, 7, 4 * $n)) ],
        len => length($d),
    );

    my $rest = substr($d, $body);

    if (!defined $o{secret}) {
        return length($rest) . ' trailing bytes' if length $rest;
        return \%s;
    }

    return 'trailer is ' . length($rest) . ' bytes, not 28'
        unless length($rest) == 28;
    return 'no "NBG1" magic' unless substr($rest, 0, 4) eq 'NBG1';

    my $t = unpack('q>', substr($rest, 4, 8));
    my $now = defined $o{now} ? $o{now} : time();
    my $window = defined $o{window} ? $o{window} : 60;

    return "trailer time $t is not within ${window}s of " . int($now)
        if abs($t - $now) > $window;

    my $want = sync_trailer($o{secret}, substr($d, 0, $body), $t);
    return 'bad MAC' unless $want eq $rest;

    $s{trailer} = $rest;
    $s{time} = $t;

    return \%s;
}

###############################################################################
# sockets

# the first datagram of this type (first byte) within $timeout seconds:
# (data, ip, port) or ().  Datagrams of other types are kept in the
# socket's backlog (and copied to @$stash when given) for a later call.

sub recv_type {
    my ($sock, $type, $timeout, $stash) = @_;

    my $bl = $sock->{gossip_backlog} ||= [];

    for my $i (0 .. $#$bl) {
        next unless ord($bl->[$i][0]) == $type;
        my $e = splice(@$bl, $i, 1);
        return @$e[0 .. 2];
    }

    my $deadline = time() + (defined $timeout ? $timeout : 3);

    while (1) {
        my $left = $deadline - time();
        return () if $left <= 0;

        my @r = $sock->recv($left) or return ();

        return @r if length($r[0]) && ord($r[0]) == $type;

        push @$bl, [ @r, time() ] if length($r[0]) && @$bl < 10000;
        push @$stash, [ @r, time() ] if $stash;
    }
}

# every datagram of this type available now (backlog, then the socket,
# until it is quiet for $quiet seconds): list of [ data, ip, port ]

sub drain_type {
    my ($sock, $type, $quiet) = @_;

    my @got;

    for my $i (1 .. 100000) {
        my @r = recv_type($sock, $type, defined $quiet ? $quiet : 0.05)
            or last;
        push @got, [ @r ];
    }

    return @got;
}

# true if no datagram of this type arrives within $timeout (default 0.5)

sub expect_no_type {
    my ($sock, $type, $timeout, $stash) = @_;

    my @r = recv_type($sock, $type, defined $timeout ? $timeout : 0.5,
        $stash);
    return @r ? 0 : 1;
}

# wait_sync($sock, from => 'ip:port', timeout => s, secret => S,
#     until => sub { $parsed }, seen => \@all):
# the first SYNC from that source for which "until" is true: (parsed hash,
# raw data) or ().  Every SYNC from that source read on the way is pushed
# to @$seen as [ parsed-or-error, raw, time ].

sub wait_sync {
    my ($sock, %o) = @_;

    my $deadline = time() + ($o{timeout} || 12);

    while (time() < $deadline) {
        my ($d, $ip, $port) = recv_type($sock, 7, $deadline - time())
            or last;

        next if defined $o{from} && "$ip:$port" ne $o{from};

        my $p = parse_sync($d, secret => $o{secret});
        push @{$o{seen}}, [ $p, $d, time() ] if $o{seen};

        next unless ref $p;
        return ($p, $d) if !$o{until} || $o{until}->($p);
    }

    return ();
}

# a UDP socket at $local registered as node $id at beacon $b

sub register {
    my ($b, $id, $local, %o) = @_;

    my $s = dgram($b, local => $local, %o);
    my ($reply) = $s->io(discover($id));
    die "no reply registering $id at $b\n" unless defined $reply;

    return $s;
}

###############################################################################
# raw IPv4/UDP with a chosen source, loopback only

sub can_spoof {
    socket(my $r, PF_INET, SOCK_RAW, 255) or return 0;    # IPPROTO_RAW
    close $r;
    return 1;
}

our $ID = 1;

sub spoof_udp {
    my ($from, $to, $payload) = @_;

    my ($sip, $sport) = $from =~ /^([\d.]+):(\d+)$/ or die "bad $from\n";
    my ($dip, $dport) = $to =~ /^([\d.]+):(\d+)$/ or die "bad $to\n";

    die "loopback only\n" unless $sip =~ /^127\./ && $dip =~ /^127\./;

    socket(my $r, PF_INET, SOCK_RAW, 255) or die "raw socket: $!\n";

    my $udp = pack('nnnn', $sport, $dport, 8 + length($payload), 0)
        . $payload;

    # the kernel fills in the IP checksum (and the length) with IP_HDRINCL

    my $ip = pack('CCnnnCCn', 0x45, 0, 20 + length($udp), $ID++ & 0xffff,
        0x4000, 64, 17, 0) . inet_pton(AF_INET, $sip) . inet_pton(AF_INET, $dip);

    my $n = send($r, $ip . $udp, 0, pack_sockaddr_in(0, inet_pton(AF_INET, $dip)));
    close $r;

    die "raw send: $!\n" unless defined $n;

    return $n;
}

1;
