#!/usr/bin/perl

# Tests for ngx_beacon_module: compat bridge framing after authentication
# (spec 7.5, 7.6, scenario 43, 48): ping/pong, fragmented messages with
# interleaved control frames, empty and text messages ignored, the 65536
# byte message limit (1009), the close handshake, the idle timeout (a
# pinging peer stays, a silent one is dropped).  A relay to oneself makes
# every accepted binary message observable on the same connection.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Compat;

use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = compat_nginx(54);

my ($crt, $key) = make_cert($t);

my %S = compat_keys($t, 4242 .. 4249);

$t->write_file_expand('nginx.conf', compat_conf(cert => [ $crt, $key ],
    http => 'beacon_compat_idle_timeout 2s;'));

$t->run();

###############################################################################

my $P = port(8443);
my $H = port(8080);
my $B = '127.0.0.1:' . port(8980, udp => 1);

my ($c, $r, @e, $m, $c0);

sub ev_of {
    my ($name, @e) = @_;
    return grep { $_->{ev} eq $name } @e;
}

# a UDP node 20

my $D = dgram($B, local => '127.0.0.60');
my ($reply) = $D->io(discover(20));
is(tohex($reply), tohex(reply_for($D)), 'udp node registered');

my $A = ws_login($P, 4242, $S{4242});
ok(!$A->{failed}, 'login');

# ping / pong

@e = $A->events($A->ping('abc'));
push @e, $A->recv(2000) unless ev_of('pong', @e);
my ($pong) = ev_of('pong', @e);
is($pong && $pong->{data}, 'abc', 'pong echoes the payload');

@e = $A->events($A->ping(''));
push @e, $A->recv(2000) unless ev_of('pong', @e);
($pong) = ev_of('pong', @e);
ok($pong && $pong->{data} eq '', 'empty ping: empty pong');

my $p125 = join('', map { chr(65 + $_ % 26) } 1 .. 125);
@e = $A->events($A->ping($p125));
push @e, $A->recv(2000) unless ev_of('pong', @e);
($pong) = ev_of('pong', @e);
is($pong && $pong->{data}, $p125, '125-byte ping: pong');

# an unsolicited pong is ignored

$A->pong('unsolicited');
ok($A->alive(), 'unsolicited pong ignored');

# relay to oneself: the delivery comes back as one unmasked binary message

$c0 = ccounters($H, 'beacon');

$A->binary(relay(4242, 4242, 'self'));
$m = $A->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(4242, 'self')), 'self relay');
ok($m && $m->{kind} eq 'binary' && $m->{frames} == 1,
    'delivery: one binary frame');
is(cdelta($H, 'beacon', $c0, 'compat.frames_in', 1), 1, 'frames_in +1');
is(cdelta($H, 'beacon', $c0, 'compat.frames_out', 1), 1, 'frames_out +1');

# DISCOVER for oneself: counted, nothing comes back

$c0 = ccounters($H, 'beacon');
$A->binary(discover(4242));
is($A->recv(600)->{ev}, 'timeout', 'discover: nothing back');
is(cdelta($H, 'beacon', $c0, 'compat.frames_in', 1), 1,
    'discover: frames_in +1');

# fragmented messages, a ping between the fragments

@e = $A->events($A->fragments('binary', [ 1, 4, 4 ],
    relay(4242, 4242, 'fragmented message'), ping_after => 2,
    ping => 'mid'));
push @e, $A->recv_all(quiet => 500, max => 3000);

($pong) = ev_of('pong', @e);
is($pong && $pong->{data}, 'mid', 'fragmented: interleaved ping answered');
($m) = ev_of('msg', @e);
is($m && tohex($m->{data}), tohex(deliver(4242, 'fragmented message')),
    'fragmented: reassembled');

$A->fragments('binary', [ 3, 3, 3 ], relay(4242, 20, 'to udp'));
is(tohex($D->recv(2)), tohex(deliver(4242, 'to udp')),
    'fragmented: relayed to a udp node');

my $long = join('', map { chr(97 + $_ % 26) } 1 .. 200);
$A->fragments('binary', [ (1) x 60 ], relay(4242, 4242, $long));
$m = $A->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(4242, $long)),
    'fragmented: 61 fragments');

# a fragmented message with an empty final fragment

$A->fragments('binary', [ 9, 4 ], relay(4242, 4242, 'emfin'));
$m = $A->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(4242, 'emfin')),
    'fragmented: empty final fragment');

# text messages are ignored, also fragmented ones

$A->text(relay(4242, 4242, 'as text'));
$A->fragments('text', [ 5 ], relay(4242, 4242, 'as text too'));
is($A->recv(700)->{ev}, 'timeout', 'text messages ignored');
ok($A->alive(), 'text messages: still connected');

# empty binary messages are ignored

$A->binary('');
$A->frame('binary', 0, '');
$A->frame('cont', 1, '');
is($A->recv(700)->{ev}, 'timeout', 'empty binary ignored');
ok($A->alive(), 'empty binary: still connected');

$A->binary(relay(4242, 4242, 'after empty'));
$m = $A->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(4242, 'after empty')),
    'empty binary: next message processed');

# exactly 65536 bytes is accepted (its delivery would exceed 32768 bytes and
# is dropped and counted)

$c0 = ccounters($H, 'beacon');

$A->binary_spec('hex:05+u32:4242+u32:4242+rep:65527:61');
is($A->recv(1000)->{ev}, 'timeout', '65536 bytes: not delivered');
ok($A->alive(), '65536 bytes: still connected');
is(cdelta($H, 'beacon', $c0, 'compat.dropped.oversize', 1), 1,
    '65536 bytes: delivery dropped as oversize');

# 65537 bytes: 1009

$A->binary_spec('hex:05+u32:4242+u32:4242+rep:65528:61');
$r = $A->expect_close(3000);
is($r->{close}, 1009, '65537 bytes: close 1009');
ok(defined $r->{closed}, '65537 bytes: connection closed');
$A->quit();

# 43. 128 KiB: 1009

$c = ws_login($P, 4243, $S{4243});
$c->binary_spec('rep:131072:41');
$r = $c->expect_close(3000);
is($r->{close}, 1009, '128 KiB: close 1009');
ok(defined $r->{closed}, '128 KiB: connection closed');
$c->quit();

# oversize in fragments

$c = ws_login($P, 4243, $S{4243});
$c->fragments('binary', [ 40000 ], undef, spec => 'rep:80000:41');
$r = $c->expect_close(3000);
is($r->{close}, 1009, 'fragmented 80000 bytes: close 1009');
$c->quit();

# RFC 6455 protocol errors: the connection is failed with 1002

my @violations = (
    [ 'unmasked frame', 'frame binary 1 hex:01000010a0 nomask' ],
    [ 'reserved data opcode 3', 'frame 3 1 str:x' ],
    [ 'reserved control opcode 11', 'frame 11 1 str:x' ],
    [ 'ping of 126 bytes', 'frame ping 1 rep:126:41' ],
    [ 'fragmented ping', 'frame ping 0 str:ab' ],
    [ 'RSV1 without an extension', 'frame binary 1 hex:01000010a0 rsv=4' ],
    [ 'continuation without a message', 'frame cont 1 str:x' ],
    [ 'new message inside a fragmented one',
        'frame binary 0 str:ab', 'frame binary 1 str:cd' ],
    [ 'close with a 1-byte payload', 'frame close 1 hex:03' ],
    [ 'close code 1005', 'frame close 1 u16:1005' ],
    [ 'close code 999', 'frame close 1 u16:999' ],
);

foreach my $v (@violations) {
    my ($name, @cmds) = @$v;

    $c = ws_login($P, 4249, $S{4249});
    $c->cmd($_) for @cmds;
    $r = $c->expect_close(3000);

    is($r->{close}, 1002, "$name: close 1002");
    $c->quit();
}

# a frame right behind the auth reply (same write) is handled after auth_ok

$c = ws();
$c->connect($P);
$c->upgrade();
$c->challenge();
$c->start("auth_reply $S{4249} 4249");
$c->start('binary hex:' . unpack('H*', relay(4249, 4249, 'pipelined')));
$c->finish();
$c->finish();

my @m = grep { $_->{ev} eq 'msg' } $c->recv_all(quiet => 500, max => 3000);
ok(@m == 2 && $m[0]->{kind} eq 'text'
    && $m[1]->{data} eq deliver(4249, 'pipelined'),
    'frame behind the auth reply: auth_ok, then its delivery');
$c->quit();

# close handshake: the code is echoed, then the connection ends

$c = ws_login($P, 4244, $S{4244});
@e = $c->close_ws(1000, 'bye');
my ($cl) = ev_of('close', @e);
is($cl && $cl->{code}, 1000, 'close 1000 echoed');
ok(scalar ev_of('closed', @e), 'close 1000: connection ended');
$c->quit();

$c = ws_login($P, 4244, $S{4244});
@e = $c->close_ws(4001, 'app');
($cl) = ev_of('close', @e);
is($cl && $cl->{code}, 4001, 'close 4001 echoed');
$c->quit();

$c = ws_login($P, 4244, $S{4244});
@e = $c->close_ws(undef);
ok(scalar ev_of('close', @e) && scalar ev_of('closed', @e),
    'close without a code answered');
$c->quit();

is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 0 }), 0,
    'no active peers left');

# 48. idle timeout (2s here): a peer that only pings stays, a silent one is
# dropped, a peer sending data stays

$c0 = ccounters($H, 'beacon');

my $silent = ws_login($P, 4245, $S{4245});
my $pinger = ws_login($P, 4246, $S{4246});
my $talker = ws_login($P, 4247, $S{4247});

ok(!$silent->{failed} && !$pinger->{failed} && !$talker->{failed},
    'idle: three peers');

my $start = time();
$silent->start('expect_close timeout=7000');

my $pinged = 0;

for my $i (1 .. 10) {
    $pinger->start('ping ' . 'hex:' . unpack('H*', "k$i"));
    $talker->start('binary ' . 'hex:' . unpack('H*', discover(4247)));
    $pinger->finish();
    $talker->finish();
    $pinged++;
    $pinger->cmd('wait 450');
}

my @se = $silent->events($silent->finish());
my $sel = time() - $start;

ok(scalar ev_of('closed', @se), 'idle: silent peer dropped');

my ($closed) = ev_of('closed', @se);
diag("silent peer events: " . join(' ', map { $_->{ev} } @se))
    unless $closed;

ok(!ev_of('ping', @se), 'idle: the server sends no pings');

$pinger->recv_all(quiet => 100, max => 500);
ok($pinger->alive(), "idle: pinging peer still connected after ${pinged} pings");
ok($talker->alive(), 'idle: peer sending data still connected');

is(cdelta($H, 'beacon', $c0, 'compat.idle_disconnects', 1), 1,
    'idle: idle_disconnects +1');

# the silent peer was dropped after about 2 s, not at once; measured by
# a fresh silent peer

$silent = ws_login($P, 4248, $S{4248});
$start = time();
$r = $silent->expect_close(6000);
my $idle = time() - $start;
ok(defined $r->{closed} && $idle > 1.4 && $idle < 4,
    sprintf('idle: dropped after about 2s (%.1fs)', $idle));

$_->quit() for $silent, $pinger, $talker;

###############################################################################
