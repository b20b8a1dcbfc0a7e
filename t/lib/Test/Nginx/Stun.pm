package Test::Nginx::Stun;

# STUN messages for the tests: build, parse, decode addresses.

use warnings;
use strict;

use Exporter qw/ import /;
our @EXPORT = qw/ stun_msg stun_parse stun_addr stun_crc32 stun_txid
    $STUN_COOKIE /;

use Socket qw/ AF_INET AF_INET6 inet_ntop /;

our $STUN_COOKIE = pack('N', 0x2112a442);

sub stun_txid { join '', map { chr(int(rand(256))) } 1 .. 12 }

sub stun_crc32 {
    my ($data) = @_;
    my $c = 0xffffffff;

    foreach my $b (unpack('C*', $data)) {
        $c ^= $b;
        $c = ($c & 1) ? (0xedb88320 ^ ($c >> 1)) : ($c >> 1) for 1 .. 8;
    }

    return $c ^ 0xffffffff;
}

# a STUN message: type, id (16 bytes: cookie + txid), attributes
# [ type, value ], and a FINGERPRINT if asked for

sub stun_msg {
    my ($type, $id, $attrs, $fp) = @_;

    my $body = '';

    foreach my $a (@{$attrs || []}) {
        my ($at, $v) = @$a;
        $body .= pack('nn', $at, length $v) . $v;
        $body .= "\0" x ((4 - length($v) % 4) % 4);
    }

    my $m = pack('nn', $type, length($body) + ($fp ? 8 : 0)) . $id . $body;

    if ($fp) {
        $m .= pack('nnN', 0x8028, 4, stun_crc32($m) ^ 0x5354554e);
    }

    return $m;
}

# (type, id, { attribute type => value }, [ attribute types in order ],
# length field)

sub stun_parse {
    my ($m) = @_;

    return () unless defined $m && length($m) >= 20;

    my ($type, $len) = unpack('nn', $m);
    my $id = substr($m, 4, 16);
    my (%a, @order);
    my $pos = 20;

    while ($pos + 4 <= length $m) {
        my ($at, $al) = unpack('nn', substr($m, $pos, 4));
        $a{$at} = substr($m, $pos + 4, $al);
        push @order, $at;
        $pos += 4 + $al + (4 - $al % 4) % 4;
    }

    return ($type, $id, \%a, \@order, $len);
}

# an address attribute's value as "ip:port" ("[ip]:port" for IPv6),
# XOR-ed with the id when $xor

sub stun_addr {
    my ($v, $id, $xor) = @_;

    return '' unless defined $v && length($v) >= 8;

    my ($fam, $port) = unpack('xCn', $v);
    my $ip = substr($v, 4);

    if ($xor) {
        $port ^= 0x2112;
        $ip ^= substr($id, 0, length $ip);
    }

    return $fam == 1 ? inet_ntop(AF_INET, $ip) . ":$port"
        : '[' . inet_ntop(AF_INET6, $ip) . "]:$port";
}

1;
