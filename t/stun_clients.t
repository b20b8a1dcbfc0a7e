#!/usr/bin/perl

# STUN Binding against real clients: the "stun" program (Debian stun-client,
# an RFC 3489 client), coturn's turnutils_stunclient (RFC 5389) and the
# aioice library (PyPI) gathering a server-reflexive candidate, against a
# STUN-only server and a Pilot beacon port with "beacon_stun on", two
# workers.  Each client must report the address and port nginx saw, which
# nginx logs ($remote_addr:$remote_port, "beacon_datapath sessions").

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

my $t = Test::Nginx->new()->has(qw/stream udp beacon/);

$t->write_file_expand('nginx.conf', <<'EOF2');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:1m;

    log_format stun '$remote_addr:$remote_port $beacon_msg_type '
                    '$beacon_action';

    server {
        listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
        beacon on;
        beacon_stun only;
        beacon_datapath sessions;
        access_log %%TESTDIR%%/only.log stun;
    }

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
        beacon on;
        beacon_stun on;
        beacon_datapath sessions;
        access_log %%TESTDIR%%/pilot.log stun;
    }
}

EOF2

$t->run()->plan(9);

###############################################################################

my $ONLY = port(8981, udp => 1);
my $PILOT = port(8980, udp => 1);

sub have { my ($p) = @_; grep { -x "$_/$p" } split /:/, $ENV{PATH} }

# the first line of the log naming addr, polled (bounded)

sub logged {
    my ($log, $addr) = @_;

    my $deadline = time() + 3;

    while (time() < $deadline) {
        my $text = -e $t->testdir() . "/$log" ? $t->read_file($log) : '';
        return $1 if $text =~ /^\Q$addr\E (stun_\S+ \S+)$/m;
        sleep 0.05;
    }

    return '';
}

sub run_client {
    my $out = `timeout 30 @_ 2>&1`;
    return $out;
}

# coturn's turnutils_stunclient

SKIP: {
    skip 'turnutils_stunclient not installed (Debian coturn)', 4
        unless have('turnutils_stunclient');

    for my $case ([ 'only', $ONLY ], [ 'pilot', $PILOT ]) {
        my ($log, $port) = @$case;

        my $out = run_client("turnutils_stunclient -p $port 127.0.0.1");
        my ($addr) = $out =~ /UDP reflexive addr: (127\.0\.0\.1:\d+)/;

        ok(defined $addr, "turnutils_stunclient ($log): reflexive address")
            or diag($out);
        is(logged("$log.log", $addr // 'none'), 'stun_binding stun_success',
            "turnutils_stunclient ($log): the address and port nginx saw");
    }
}

# the RFC 3489 "stun" client

SKIP: {
    skip 'stun not installed (Debian stun-client)', 2 unless have('stun');

    my $out = run_client("stun -v 127.0.0.1:$ONLY");
    my ($addr) = $out =~ /MappedAddress = (127\.0\.0\.1:\d+)/;

    ok(defined $addr, 'stun (RFC 3489): MappedAddress') or diag($out);
    is(logged('only.log', $addr // 'none'), 'stun_binding stun_success',
        'stun (RFC 3489): the address and port nginx saw');
}

# aioice: a server-reflexive candidate

SKIP: {
    my $build = $ENV{TEST_BEACON_BUILD} || '../build';
    my $py = -x "$build/pyenv/bin/python" ? "$build/pyenv/bin/python"
        : 'python3';

    skip "aioice not importable by $py (make stun-deps)", 3
        unless system("$py -c 'import aioice' >/dev/null 2>&1") == 0;

    my $out = run_client("$py tools/stun_ice.py 127.0.0.1 $ONLY");
    my ($host, $port, $rhost, $rport) =
        $out =~ /^srflx (\S+) (\d+) (\S+) (\d+)$/m;

    skip 'aioice found no non-loopback IPv4 host address', 3
        if !defined $host && $out !~ /^host \d+\.\d+\.\d+\.\d+ /m;

    ok(defined $host, 'aioice: srflx candidate gathered') or diag($out);
    is(logged('only.log', ($host // 'none') . ':' . ($port // 0)),
        'stun_binding stun_success',
        'aioice: srflx is the address and port nginx saw');
    ok(defined $host && $out =~ /^host \Q$rhost\E \Q$rport\E /m,
        'aioice: srflx related to its host candidate');
}

###############################################################################
