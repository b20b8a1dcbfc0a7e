#!/usr/bin/perl

# A fake Pilot registry for the compat bridge tests of ngx_beacon_module.
# Written for this project.
#
# Listens on a loopback TCP port and speaks the registry framing: 4-byte
# big-endian length, then one JSON object.  Answers
#
#   {"type":"lookup","node_id":N}
#     -> {"type":"lookup_ok","node_id":N,"public_key":"<base64>"}
#     -> {"type":"error","error":"not found"}
#
# and any other request with {"type":"error","error":"unknown request"}.
#
# The key table is a file re-read on every request (tests may rewrite it),
# one entry per line:
#
#   N BASE64KEY          the key of node N
#   N !garbage           a well-framed reply that is not JSON
#   N !badjson           lookup_ok without public_key
#   N !badkey            lookup_ok with a public_key that is not base64
#   N !wrongid           lookup_ok naming node N+1 (with a valid key)
#   N !hugelen           a length prefix of 0x7fffffff, then close
#   N !shortframe        a length prefix of 100 and 5 bytes, then close
#   N !close             close without a reply
#   N !slow SECONDS [KEY]  sleep, then reply (with KEY if given)
#   N !error TEXT        {"type":"error","error":TEXT}
#   # comment
#
# --mode garbage|close|slow|hugelen answers every request that way.
#
# Every request is logged to --log as one line:
#   <unix time> <peer ip:port> <request json>
# and every reply as "<unix time> reply <what>".
#
# Usage:
#   fake_registry.pl --port P --keys FILE --log FILE [--addr 127.0.0.1]
#       [--mode M] [--delay S] [--lifetime S] [--ready FILE]
#
# Bounded: exits after --lifetime seconds (default 300); a connection is
# closed after 30 s without a request; at most 64 connections at a time.

use warnings;
use strict;

use Getopt::Long;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use POSIX qw/ WNOHANG _exit /;
use Time::HiRes qw/ time sleep /;

my %o = (addr => '127.0.0.1', lifetime => 300, delay => 5, mode => '');

GetOptions(\%o, 'port=i', 'addr=s', 'keys=s', 'log=s', 'mode=s',
    'delay=f', 'lifetime=i', 'ready=s') or die "bad options\n";

die "--port is required\n" unless $o{port};
die "only loopback addresses\n" unless $o{addr} =~ /^(127\.|::1$)/;

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
my %kids;

$SIG{TERM} = sub {
    kill 'TERM', keys %kids;
    _exit(0);
};

my $sel = IO::Select->new($srv);

while (time() < $end) {
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        delete $kids{$pid};
    }

    next unless $sel->can_read(0.5);

    my $c = $srv->accept() or next;

    if (keys %kids >= 64) {
        close $c;
        next;
    }

    my $pid = fork();

    if (!defined $pid) {
        close $c;
        next;
    }

    if ($pid == 0) {
        close $srv;
        eval { serve($c) };
        _exit(0);
    }

    $kids{$pid} = 1;
    close $c;
}

kill 'TERM', keys %kids;
exit 0;

###############################################################################

sub logline {
    my ($line) = @_;

    return unless $o{log};

    open my $fh, '>>', $o{log} or return;
    printf $fh "%.3f %s\n", time(), $line;
    close $fh;
}

sub table {
    my %t;

    return \%t unless $o{keys} && open my $fh, '<', $o{keys};

    while (my $l = <$fh>) {
        chomp $l;
        $l =~ s/^\s+|\s+$//g;
        next if $l eq '' || $l =~ /^#/;

        my ($id, $rest) = split /\s+/, $l, 2;
        $t{$id} = defined $rest ? $rest : '';
    }

    close $fh;
    return \%t;
}

sub read_n {
    my ($c, $n, $deadline) = @_;

    my $buf = '';
    my $sel = IO::Select->new($c);

    while (length($buf) < $n) {
        my $left = $deadline - time();
        return undef if $left <= 0;
        return undef unless $sel->can_read($left);

        my $r = sysread($c, $buf, $n - length($buf), length($buf));
        return undef unless $r;
    }

    return $buf;
}

sub send_frame {
    my ($c, $data) = @_;

    my $frame = pack('N', length($data)) . $data;
    my $off = 0;

    while ($off < length($frame)) {
        my $w = syswrite($c, $frame, length($frame) - $off, $off);
        return unless defined $w && $w > 0;
        $off += $w;
    }
}

sub send_json {
    my ($c, $obj) = @_;

    my $j = JSON::PP->new->canonical->encode($obj);
    logline("reply $j");
    send_frame($c, $j);
}

sub serve {
    my ($c) = @_;

    my $peer = $c->peerhost() . ':' . $c->peerport();
    logline("connect $peer");

    for my $n (1 .. 1000) {
        my $len = read_n($c, 4, time() + 30);

        if (!defined $len) {
            logline("eof $peer");
            last;
        }

        $len = unpack('N', $len);

        if ($len > 1024 * 1024) {
            logline("toolong $peer $len");
            last;
        }

        my $body = read_n($c, $len, time() + 10);
        last unless defined $body;

        logline("$peer $body");

        my $req = eval { JSON::PP->new->decode($body) };

        if (!$req || ref $req ne 'HASH') {
            send_json($c, { type => 'error', error => 'bad request' });
            next;
        }

        if (($req->{type} || '') ne 'lookup') {
            send_json($c, { type => 'error', error => 'unknown request' });
            next;
        }

        my $id = $req->{node_id};
        $id = '' unless defined $id;

        my $entry = table()->{$id};

        if ($o{mode}) {
            $entry = '!' . $o{mode}
                . ($o{mode} eq 'slow' ? " $o{delay}" : '');
        }

        if (!defined $entry) {
            send_json($c, { type => 'error', error => 'not found' });
            next;
        }

        if ($entry !~ /^!/) {
            send_json($c, { type => 'lookup_ok', node_id => $id + 0,
                public_key => $entry });
            next;
        }

        my ($what, @args) = split /\s+/, substr($entry, 1);

        if ($what eq 'garbage') {
            logline('reply garbage');
            send_frame($c, "\x00\xffnot json at all{{{");

        } elsif ($what eq 'badjson') {
            send_json($c, { type => 'lookup_ok', node_id => $id + 0 });

        } elsif ($what eq 'badkey') {
            send_json($c, { type => 'lookup_ok', node_id => $id + 0,
                public_key => '***not base64***' });

        } elsif ($what eq 'wrongid') {
            send_json($c, { type => 'lookup_ok', node_id => $id + 1,
                public_key => $args[0] || ('A' x 43 . '=') });

        } elsif ($what eq 'hugelen') {
            logline('reply hugelen');
            syswrite($c, pack('N', 0x7fffffff) . '{"type":');
            last;

        } elsif ($what eq 'shortframe') {
            logline('reply shortframe');
            syswrite($c, pack('N', 100) . '{"typ');
            last;

        } elsif ($what eq 'close') {
            logline('reply close');
            last;

        } elsif ($what eq 'slow') {
            my $delay = @args ? $args[0] : $o{delay};
            $delay = 30 if $delay > 30;
            sleep $delay;

            if (defined $args[1]) {
                send_json($c, { type => 'lookup_ok', node_id => $id + 0,
                    public_key => $args[1] });
            } else {
                send_json($c, { type => 'error', error => 'not found' });
            }

        } elsif ($what eq 'error') {
            send_json($c, { type => 'error', error => join(' ', @args) });

        } else {
            send_json($c, { type => 'error', error => 'not found' });
        }
    }

    close $c;
}
