#!/usr/bin/perl

# Tests for ngx_beacon_module: STUN Binding (RFC 8489) with "beacon_stun":
# on a Pilot beacon's own port ("on", batched datapath, wildcard listen:
# responses leave from the address the request reached) and as a STUN-only
# server ("only", IPv4 and IPv6, "beacon_datapath sessions" with $beacon_*
# in the access log, SOFTWARE configured); Pilot traffic beside STUN; every
# drop reason counted; the reply budget; counters in JSON and Prometheus;
# a reload.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Stun;

use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:1m;
    beacon_zone stun:1m;
    beacon_zone lim:1m;

    log_format stun '$remote_addr:$remote_port $beacon_msg_type '
                    '$beacon_action';

    # Pilot and STUN on one wildcard port
    server {
        listen %%PORT_8980_UDP%% udp reuseport;
        beacon zone=beacon;
        beacon_stun on;
    }

    # STUN only, IPv4 and IPv6, one nginx session per datagram
    server {
        listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
        listen [::1]:%%PORT_8981_UDP%% udp reuseport;
        beacon zone=stun;
        beacon_stun only;
        beacon_stun_software "nginx beacon";
        beacon_datapath sessions;
        access_log %%TESTDIR%%/stun.log stun;
    }

    # STUN only, a small reply budget
    server {
        listen 127.0.0.1:%%PORT_8982_UDP%% udp reuseport;
        beacon zone=lim;
        beacon_stun only;
        beacon_reply_limit rate=1 burst=5;
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8080%%;

        location = /status {
            beacon_status;
        }

        location = /metrics {
            beacon_status format=prometheus;
        }
    }
}

EOF

my $has_v6 = IO::Socket::IP->new(Proto => 'udp', LocalHost => '::1');

$t->run()->plan(60);

###############################################################################

my $P = port(8980, udp => 1);
my $B = "127.0.0.1:$P";
my $S = '127.0.0.1:' . port(8981, udp => 1);
my $S6 = '[::1]:' . port(8981, udp => 1);
my $L = '127.0.0.1:' . port(8982, udp => 1);
my $H = port(8080);

my $COOKIE = $STUN_COOKIE;

sub txid { stun_txid() }
sub crc32 { stun_crc32(@_) }

sub mapped_of {
    my ($c) = @_;
    my ($ip, $port) = $c->endpoint();
    return $ip =~ /:/ ? "[$ip]:$port" : "$ip:$port";
}

my ($c, $r, $ip, $port, $type, $id, $a, $order, $c0, $len);

###############################################################################

# 1. a Binding request on the Pilot port

$c = dgram($B);
$id = $COOKIE . txid();

($r, $ip, $port) = $c->io(stun_msg(0x0001, $id));
($type, my $rid, $a, $order, $len) = stun_parse($r);

is(sprintf('%04x', $type // 0), '0101', 'binding success response');
is(tohex($rid // ''), tohex($id), 'transaction id echoed');
is(stun_addr($a->{0x0020}, $id, 1), mapped_of($c),
    'XOR-MAPPED-ADDRESS is the source address and port');
is("$ip:$port", $B, 'response from the address and port the request reached');
is(join(',', @{$order || []}), '32', 'XOR-MAPPED-ADDRESS only, no SOFTWARE');
is(length($r // ''), 32, 'IPv4 response: 32 bytes');

# with FINGERPRINT

($r) = $c->io(stun_msg(0x0001, $id, [], 1));
($type, $rid, $a, $order) = stun_parse($r);
is(join(',', @{$order || []}), '32,32808', 'FINGERPRINT last when asked');
is(unpack('N', $a->{0x8028} // "\0" x 4),
    crc32(substr($r, 0, -8)) ^ 0x5354554e, 'response FINGERPRINT valid');

# a wildcard listen: another local address, the response leaves from it

SKIP: {
    my $c2 = dgram("127.0.0.2:$P");
    ($r, $ip, $port) = $c2->io(stun_msg(0x0001, $id));
    skip 'no reply via 127.0.0.2', 2 unless defined $r;
    is("$ip:$port", "127.0.0.2:$P", 'wildcard: response from 127.0.0.2');
    ($type, $rid, $a) = stun_parse($r);
    is(stun_addr($a->{0x0020}, $id, 1), mapped_of($c2),
        'wildcard: mapped address');
}

# 2. Pilot on the same port is unaffected

($r, $ip, $port) = $c->io(hx('01 0000002a'));
is(tohex($r // ''), tohex(reply_for($c)), 'Pilot DISCOVER beside STUN');

my $s = dgram($B);
$s->io(discover(7));
$s->send(relay(7, 42, 'x'));
is(tohex($c->recv(2) // ''), tohex(deliver(7, 'x')),
    'Pilot relay beside STUN');

# a Pilot DISCOVER whose bytes 4-7 are the magic cookie stays Pilot

($r) = $c->io(hx('01 0000002a') . "\x12\xa4\x42" . "\0" x 32);
ok(defined $r && substr($r, 0, 1) eq "\x02", 'DISCOVER with a cookie at '
    . 'bytes 4-7 (bytes 4-7 = 2a 21 12 a4) answered as Pilot');

$c0 = counters($H, 'beacon');
($r) = $c->io("\x01" . "\0\0\0\x2a" . $COOKIE . "\0" x 12);
ok(defined $r && substr($r, 0, 1) eq "\x02",
    'DISCOVER-typed 21 bytes with the cookie: Pilot');
is(counter_delta($H, 'beacon', $c0, 'stun.requests'), 0,
    'no STUN request counted for it');

# 3. RFC 3489 client: MAPPED-ADDRESS

my $old = join '', map { chr(int(rand(256))) } 1 .. 16;
substr($old, 0, 4) = "\x01\x02\x03\x04";
($r) = $c->io(stun_msg(0x0001, $old));
($type, $rid, $a, $order) = stun_parse($r);
is(join(',', @{$order || []}), '1', 'RFC 3489 request: MAPPED-ADDRESS only');
is(stun_addr($a->{0x0001}, $old, 0), mapped_of($c),
    'RFC 3489: MAPPED-ADDRESS is the source');
is(tohex($rid // ''), tohex($old), 'RFC 3489: 16-byte id echoed');

# 4. indications, unknown attributes, other methods, responses

$c0 = counters($H, 'beacon');

$c->send(stun_msg(0x0011, $id));
ok($c->expect_nothing(0.3), 'Binding indication: no answer');
is(counter_delta($H, 'beacon', $c0, 'stun.indications', 1), 1,
    'indication counted');

($r) = $c->io(stun_msg(0x0001, $id, [ [ 0x7777, 'abcd' ], [ 0x8777, 'x' ] ],
    1));
($type, $rid, $a, $order) = stun_parse($r);
is(sprintf('%04x', $type // 0), '0111', 'unknown attribute: error response');
is(tohex(substr($a->{0x0009} // '', 2, 2)), '0414', 'ERROR-CODE 420');
is(tohex($a->{0x000a} // ''), '7777', 'UNKNOWN-ATTRIBUTES lists 0x7777 only');
ok(exists $a->{0x8028}, '420 carries FINGERPRINT as the request did');

($r) = $c->io(stun_msg(0x0003, $id));
($type, $rid, $a) = stun_parse($r);
is(sprintf('%04x:%s', $type // 0, tohex(substr($a->{0x0009} // '', 2, 2))),
    '0113:0400', 'Allocate request: 400');

($r) = $c->io(stun_msg(0x0001, $id, [ [ 0x0003, "\0\0\0\x06" ] ]));
($type, $rid, $a) = stun_parse($r);
is(tohex(substr($a->{0x0009} // '', 2, 2)) . ':' . tohex($a->{0x000a} // ''),
    '0414:0003', 'CHANGE-REQUEST: 420 (no alternate address)');

is(counter_delta($H, 'beacon', $c0, 'stun_errors.420', 2), 2,
    '420s counted');
is(counter_delta($H, 'beacon', $c0, 'stun_errors.400', 1), 1,
    '400 counted');

# 5. malformed STUN: dropped and counted by reason

my @bad = (
    [ 'bad_length', stun_msg(0x0001, $id) . "\0\0" ],
    [ 'bad_length', pack('nn', 1, 8) . $id ],
    [ 'attr_overrun', pack('nn', 1, 4) . $id . pack('nn', 0x8022, 8) ],
    [ 'bad_fingerprint', stun_msg(0x0001, $id, [], 1) ^ ("\0" x 27 . "\1") ],
    [ 'bad_attribute', stun_msg(0x0001, $id, [ [ 0x0008, 'abcd' ] ]) ],
);

$c0 = counters($H, 'beacon');

foreach my $b (@bad) {
    $c->send($b->[1]);
}

ok($c->expect_nothing(0.5), 'malformed STUN: no answer');

my %want;
$want{$_->[0]}++ foreach @bad;

foreach my $reason (sort keys %want) {
    is(counter_delta($H, 'beacon', $c0, "stun_dropped.$reason",
        $want{$reason}), $want{$reason}, "dropped as $reason");
}

# 6. STUN only: IPv4 with SOFTWARE, sessions datapath

$c = dgram($S);
($r, $ip, $port) = $c->io(stun_msg(0x0001, $id));
($type, $rid, $a, $order) = stun_parse($r);
is(stun_addr($a->{0x0020}, $id, 1), mapped_of($c), 'STUN only: mapped');
is($a->{0x8022}, 'nginx beacon', 'STUN only: SOFTWARE as configured');
is("$ip:$port", $S, 'STUN only: response source');

$c0 = counters($H, 'stun');
$c->send(hx('01 0000002a'));
ok($c->expect_nothing(0.3), 'STUN only: Pilot DISCOVER unanswered');
is(counter_delta($H, 'stun', $c0, 'stun_dropped.short', 1), 1,
    'STUN only: DISCOVER dropped as short STUN');
is(counter_delta($H, 'stun', $c0, 'nodes'), 0, 'STUN only: no node');

$c->send(stun_msg(0x0111, $id));
ok($c->expect_nothing(0.3), 'STUN only: an error response unanswered');
is(counter_delta($H, 'stun', $c0, 'stun_dropped.wrong_class', 1), 1,
    'counted as wrong_class');

$c->send("\xc0" . "\0" x 19);
ok($c->expect_nothing(0.3), 'STUN only: first bits 11 unanswered');
is(counter_delta($H, 'stun', $c0, 'stun_dropped.not_stun', 1), 1,
    'counted as not_stun');

SKIP: {
    skip 'no IPv6 loopback', 4 unless $has_v6;

    my $c6 = dgram($S6);
    ($r, $ip, $port) = $c6->io(stun_msg(0x0001, $id, [], 1));
    ($type, $rid, $a, $order) = stun_parse($r);
    is(stun_addr($a->{0x0020}, $id, 1), mapped_of($c6),
        'IPv6: XOR-MAPPED-ADDRESS');
    is("[$ip]:$port", $S6, 'IPv6: response source');
    is(join(',', @{$order || []}), '32,32802,32808',
        'IPv6: XOR-MAPPED-ADDRESS, SOFTWARE, FINGERPRINT');
    is(length($r // ''), 20 + 24 + 16 + 8, 'IPv6 response size');
}

# the access log of the sessions datapath

my $log = '';
my $deadline = time() + 3;

while (time() < $deadline) {
    $log = $t->read_file('stun.log') if -e $t->testdir() . '/stun.log';
    last if $log =~ /^127\.0\.0\.1:\d+ stun_binding stun_success$/m
        && $log =~ /stun malformed/
        && (!$has_v6 || $log =~ /^::1:\d+ stun_binding stun_success$/m);
    sleep 0.05;
}

SKIP: {
    skip 'no IPv6 loopback', 1 unless $has_v6;
    like($log, qr/^::1:\d+ stun_binding stun_success$/m,
        'access log: the IPv6 request');
}
like($log, qr/^127\.0\.0\.1:\d+ stun_binding stun_success$/m,
    'access log: stun_binding stun_success');
like($log, qr/^127\.0\.0\.1:\d+ stun malformed$/m,
    'access log: stun malformed');

# 7. the reply budget: burst 5, then silence

$c = dgram($L);
$c0 = counters($H, 'lim');

for my $i (1 .. 20) {
    $c->send(stun_msg(0x0001, $COOKIE . txid()));
}

my @got = $c->recv_all(0.5, max => 20, limit => 5);
ok(@got >= 5 && @got <= 7, 'budget: ' . scalar(@got) . ' of 20 answered');
is(counter_delta($H, 'lim', $c0, 'stun.requests', 20), 20,
    'budget: 20 requests counted');
is(counter_delta($H, 'lim', $c0, 'stun.rate_limited', 20 - @got),
    20 - @got, 'budget: the rest counted as rate_limited');
is(counter_delta($H, 'lim', $c0, 'stun.responses'), scalar @got,
    'budget: responses counted');

# 8. Prometheus

my (undef, undef, $prom) = http_get($H, '/metrics');
like($prom, qr/^beacon_stun_requests_total\{zone="lim"\} [1-9]\d*$/m,
    'prometheus: requests');
like($prom, qr/^beacon_stun_rate_limited_total\{zone="lim"\} [1-9]\d*$/m,
    'prometheus: rate limited');
like($prom,
    qr/^beacon_stun_dropped_total\{zone="stun",reason="wrong_class"\} 1$/m,
    'prometheus: drops by reason');
like($prom, qr/^beacon_stun_errors_total\{zone="beacon",code="420"\} 2$/m,
    'prometheus: errors by code');

# 9. reload: STUN answered by the new workers

$t->reload();

$c = dgram($S);
$deadline = time() + 5;
my $ok = 0;

while (time() < $deadline) {
    ($r) = $c->io(stun_msg(0x0001, $id), 0.5);
    ($type, $rid, $a) = stun_parse($r);
    $ok = 1, last if defined $type && $type == 0x0101;
}

ok($ok, 'after reload: answered');
is(stun_addr($a->{0x0020}, $id, 1), mapped_of($c), 'after reload: mapped');

###############################################################################
