#!/usr/bin/perl

# A fake Pilot registry for the registry discovery tests of
# ngx_beacon_module (spec 6.3): beacon_register and beacon_list.  Written
# for this project.
#
# Listens on a loopback TCP port and speaks the registry framing: 4-byte
# big-endian length, then one JSON object, in both directions.  One
# process, no fork: every connection is served from one select loop, so a
# connection left without an answer ("silent") does not hold up others.
#
# What it answers is scripted per beacon id and per round (the n-th
# beacon_register of that id, counted from 0; the last entry repeats),
# in a JSON file re-read on every beacon_register:
#
#   { "7": [ { "register": "ok", "list": "ok",
#              "beacons": [ {"id":2,"addr":"127.0.0.1:9000"}, ... ] },
#            { "list": "error", "error": "text" } ] }
#
# register / list actions:
#   ok        beacon_register_ok / beacon_list_ok with "beacons" (default [])
#   error     {"type":"error","error":"<error or 'refused'>"}
#   garbage   a well-framed reply that is not JSON
#   raw       the frame body given in "raw", as is
#   close     close the connection without a reply
#   silent    never answer (the connection stays open until the peer
#             closes it, or 30 s)
# A beacon_list on a connection without beacon_register gets an empty
# list; any other request {"type":"error","error":"unknown request"}.
#
# Every event is logged to --log as one line:
#   <unix time> c<N> connect <peer ip:port>
#   <unix time> c<N> req <request json, verbatim>
#   <unix time> c<N> round <beacon_id> <round>
#   <unix time> c<N> reply <json> | garbage | silent | close
#   <unix time> c<N> eof
#
# Usage:
#   fake_beacon_registry.pl --port P --script FILE --log FILE
#       [--addr 127.0.0.1] [--lifetime S] [--ready FILE]
#
# Bounded: exits after --lifetime seconds (default 120); connections idle
# for 30 s are closed; at most 64 connections at a time; frames over 1 MiB
# close the connection.

use warnings;
use strict;

use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw/ time /;

my %o = (addr => '127.0.0.1', lifetime => 120);

GetOptions(\%o, 'port=i', 'addr=s', 'script=s', 'log=s', 'lifetime=i',
    'ready=s') or die "bad options\n";

die "--port is required\n" unless $o{port};
die "only loopback addresses\n" unless $o{addr} =~ /^127\./;

$o{lifetime} = 600 if $o{lifetime} > 600;

my $srv = IO::Socket::INET->new(
    LocalAddr => "$o{addr}:$o{port}",
    Listen => 64,
    ReuseAddr => 1,
    Proto => 'tcp',
) or die "listen $o{addr}:$o{port}: $@\n";

if ($o{ready}) {
    open my $fh, '>', $o{ready} or die "$o{ready}: $!\n";
    print $fh "$$\n";
    close $fh;
}

my $end = time() + $o{lifetime};
my $sel = IO::Select->new($srv);
my %conns;      # fileno => { sock, n, peer, buf, bid, round, seen }
my %rounds;     # beacon id => beacon_register requests so far
my $seq = 0;

while (time() < $end) {
    my @ready = $sel->can_read(0.2);

    foreach my $fh (@ready) {
        if ($fh == $srv) {
            accept_one();
            next;
        }

        my $c = $conns{fileno $fh} or next;
        read_some($c);
    }

    foreach my $c (values %conns) {
        if (time() - $c->{seen} > 30) {
            logline($c, 'idle');
            drop($c);
        }
    }
}

exit 0;

###############################################################################

sub logline {
    my ($c, $line) = @_;

    return unless $o{log};

    open my $fh, '>>', $o{log} or return;
    printf $fh "%.3f c%d %s\n", time(), $c->{n}, $line;
    close $fh;
}

sub accept_one {
    my $s = $srv->accept() or return;

    if (keys %conns >= 64) {
        close $s;
        return;
    }

    my $c = {
        sock => $s,
        n => ++$seq,
        peer => $s->peerhost() . ':' . $s->peerport(),
        buf => '',
        seen => time(),
    };

    $conns{fileno $s} = $c;
    $sel->add($s);

    logline($c, "connect $c->{peer}");
}

sub drop {
    my ($c) = @_;

    $sel->remove($c->{sock});
    delete $conns{fileno $c->{sock}};
    close $c->{sock};
}

sub read_some {
    my ($c) = @_;

    my $n = sysread($c->{sock}, my $data, 65536);

    if (!$n) {
        logline($c, 'eof');
        drop($c);
        return;
    }

    $c->{seen} = time();
    $c->{buf} .= $data;

    while (length($c->{buf}) >= 4) {
        my $len = unpack('N', $c->{buf});

        if ($len > 1024 * 1024) {
            logline($c, "toolong $len");
            drop($c);
            return;
        }

        last if length($c->{buf}) < 4 + $len;

        my $body = substr($c->{buf}, 4, $len);
        substr($c->{buf}, 0, 4 + $len) = '';

        logline($c, "req $body");

        return unless request($c, $body);
    }
}

sub script {
    my ($bid, $round) = @_;

    return {} unless $o{script} && open my $fh, '<', $o{script};
    local $/;
    my $text = <$fh>;
    close $fh;

    my $s = eval { JSON::PP->new->decode($text) } || {};
    my $list = $s->{$bid};

    return {} unless ref $list eq 'ARRAY' && @$list;
    return $round < @$list ? $list->[$round] : $list->[-1];
}

sub send_frame {
    my ($c, $data, $what) = @_;

    logline($c, 'reply ' . (defined $what ? $what : $data));

    my $frame = pack('N', length($data)) . $data;
    my $off = 0;

    for my $try (1 .. 1000) {
        last if $off >= length($frame);
        my $w = syswrite($c->{sock}, $frame, length($frame) - $off, $off);
        return unless defined $w && $w > 0;
        $off += $w;
    }
}

# returns false when the connection was closed

sub act {
    my ($c, $action, $spec, $ok) = @_;

    $action = 'ok' unless defined $action;

    if ($action eq 'ok') {
        send_frame($c, JSON::PP->new->canonical->encode($ok));

    } elsif ($action eq 'error') {
        send_frame($c, JSON::PP->new->canonical->encode({ type => 'error',
            error => defined $spec->{error} ? $spec->{error} : 'refused' }));

    } elsif ($action eq 'garbage') {
        send_frame($c, "\x00\xffnot json at all{{{", 'garbage');

    } elsif ($action eq 'raw') {
        send_frame($c, defined $spec->{raw} ? $spec->{raw} : '');

    } elsif ($action eq 'close') {
        logline($c, 'reply close');
        drop($c);
        return 0;

    } elsif ($action eq 'silent') {
        logline($c, 'reply silent');

    } else {
        send_frame($c, '{"type":"error","error":"bad script"}');
    }

    return 1;
}

sub request {
    my ($c, $body) = @_;

    my $req = eval { JSON::PP->new->decode($body) };
    my $type = ref $req eq 'HASH' && defined $req->{type} ? $req->{type} : '';

    if ($type eq 'beacon_register') {
        my $bid = defined $req->{beacon_id} ? $req->{beacon_id} : '';
        my $round = $rounds{$bid}++ || 0;

        $c->{bid} = $bid;
        $c->{round} = $round;
        $c->{spec} = script($bid, $round);

        logline($c, "round $bid $round");

        return act($c, $c->{spec}{register}, $c->{spec},
            { type => 'beacon_register_ok', beacon_id => $bid });
    }

    if ($type eq 'beacon_list') {
        my $spec = $c->{spec} || {};

        return act($c, $spec->{list}, $spec,
            { type => 'beacon_list_ok', beacons => $spec->{beacons} || [] });
    }

    send_frame($c, '{"type":"error","error":"unknown request"}');
    return 1;
}
