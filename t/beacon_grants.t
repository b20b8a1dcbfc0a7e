#!/usr/bin/perl

# Tests for ngx_beacon_module: punch grants (spec 4.2, scenarios 8 and
# 14-17): Ed25519 grants signed by the target's key, lifetime cap, replay
# cache, first-write-wins keys learned only from non-throttled DISCOVERs,
# authoritative keys from beacon_key_file.

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon openssl/)
    ->plan(42);

my $RFC = hx(RFC_PUB);
my $K2 = ed25519_pubkey(RFC_SEED2);

$t->write_file('keys', "# authoritative keys\n"
    . "9302 " . b64($RFC) . "\n"
    . "\n"
    . "9303 " . b64($K2) . "\n");

$t->write_file_expand('nginx.conf', beacon_conf(stream => <<'EOF'));
beacon_zone g1:1m;
beacon_zone g2:1m;
beacon_zone g3:1m;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    beacon zone=g1;
    beacon_punch_grants on;
    beacon_punch_limit global=0 per_ip=0;
}

server {
    listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
    beacon zone=g2;
    beacon_punch_grants on max_lifetime=36500d;
    beacon_punch_limit global=0 per_ip=0;
}

server {
    listen 127.0.0.1:%%PORT_8982_UDP%% udp reuseport;
    beacon zone=g3;
    beacon_punch_grants on max_lifetime=120s;
    beacon_punch_limit global=0 per_ip=0;
    beacon_key_file %%TESTDIR%%/keys;
}
EOF

$t->run();

###############################################################################

my $B1 = '127.0.0.1:' . port(8980, udp => 1);
my $B2 = '127.0.0.1:' . port(8981, udp => 1);
my $B3 = '127.0.0.1:' . port(8982, udp => 1);
my $H = port(8080);

my ($r, $c0, $now);

sub node {
    my ($b, $id, $local, $key) = @_;
    return udp_node($b, $id, $local, key => $key);
}

sub nothing {
    my ($first, @others) = @_;

    my $ok = $first->expect_nothing(0.5);
    $ok = $_->expect_nothing(0.05) && $ok foreach @others;

    return $ok;
}

# 14. a grant signed by the target's key (learned from its DISCOVER)

my $T = node($B1, 9402, '127.0.0.40', $RFC);
my $A = node($B1, 9401, '127.0.0.41');
my $X = node($B1, 9403, '127.0.0.42');

$now = int(time());
my $good = grant_request(RFC_SEED, 9401, 9402, $now + 60);

$c0 = counters($H, 'g1');
$A->send($good);
is(tohex($A->recv(2)), tohex(command_for($T)), 'grant: requester told');
is(tohex($T->recv(2)), tohex(command_for($A)), 'grant: target told');
is(counter_delta($H, 'g1', $c0, 'punch_coordinated', 1), 1,
    'grant: coordinated');

# 15. rejected grants: nothing to anyone

$c0 = counters($H, 'g1');
$A->send(punch(9401, 9402));
ok(nothing($A, $T), 'no grant: nothing');
is(counter_delta($H, 'g1', $c0, 'punch_grant_rejected', 1), 1,
    'no grant: rejected');

$c0 = counters($H, 'g1');
$A->send(grant_request(RFC_SEED, 9401, 9402, $now - 60));
ok(nothing($A, $T), 'expired grant: nothing');
is(counter_delta($H, 'g1', $c0, 'punch_grant_rejected', 1), 1,
    'expired grant: rejected');

# a grant minted for 9401, used by an attacker under its own id

my $sig = substr(grant_request(RFC_SEED, 9401, 9402, $now + 70), 17);

$c0 = counters($H, 'g1');
$X->send(punch(9403, 9402, $now + 70, $sig));
ok(nothing($X, $A, $T), 'grant for another requester: nothing');
is(counter_delta($H, 'g1', $c0, 'punch_grant_rejected', 1), 1,
    'grant for another requester: rejected');

# a captured grant of 9401 sent from the attacker's address

$X->send(grant_request(RFC_SEED, 9401, 9402, $now + 71));
ok(nothing($X, $A, $T), 'captured grant from another address: nothing');

# replay of the accepted grant

$c0 = counters($H, 'g1');
$A->send($good);
ok(nothing($A, $T), 'replayed grant: nothing');
is(counter_delta($H, 'g1', $c0, 'punch_grant_rejected', 1), 1,
    'replayed grant: rejected');

# bad signature

my $bad = $good;
substr($bad, 17 + 63, 1) = chr(ord(substr($bad, 17 + 63, 1)) ^ 0x01);
substr($bad, 9, 8) = pack('q>', $now + 72);

$c0 = counters($H, 'g1');
$A->send($bad);
ok(nothing($A, $T), 'bad signature: nothing');
is(counter_delta($H, 'g1', $c0, 'punch_grant_rejected', 1), 1,
    'bad signature: rejected');

# beyond the default lifetime cap

$c0 = counters($H, 'g1');
$A->send(grant_request(RFC_SEED, 9401, 9402, $now + 3600));
ok(nothing($A, $T), 'expiry beyond max_lifetime: nothing');
is(counter_delta($H, 'g1', $c0, 'punch_grant_rejected', 1), 1,
    'expiry beyond max_lifetime: rejected');

# the literal spec vector (expiry 4102444800) is rejected by default ...

my $vector = hx('03 000023f1 000023f2 00000000f4865700'
    . '8024f2293ccfa41a37e7757c3fb7d7a63e0bf5ad3a5bff3359e750bec442a49c'
    . '07c2c38aa01909760d2f3db44bc0dd9d127516f5dcb421a61d96f17ac8f8bc03');

is(tohex(grant_request(RFC_SEED, 9201, 9202, 4102444800)), tohex($vector),
    'spec vector reproduced');

my $T1 = node($B1, 9202, '127.0.0.43', $RFC);
my $A1 = node($B1, 9201, '127.0.0.44');

$c0 = counters($H, 'g1');
$A1->send($vector);
ok(nothing($A1, $T1), 'spec vector, default cap: nothing');
is(counter_delta($H, 'g1', $c0, 'punch_grant_rejected', 1), 1,
    'spec vector, default cap: rejected');

# ... and accepted with a huge max_lifetime

my $T2 = node($B2, 9202, '127.0.0.43', $RFC);
my $A2 = node($B2, 9201, '127.0.0.44');

$A2->send($vector);
is(tohex($A2->recv(2)), tohex(command_for($T2)),
    'spec vector, long cap: requester told');
is(tohex($T2->recv(2)), tohex(command_for($A2)),
    'spec vector, long cap: target told');

$A2->send($vector);
ok(nothing($A2, $T2), 'spec vector, long cap: replay rejected');

# 16. without a grant, unknown and known targets look the same

$A->send(punch(9401, 9499));
ok(nothing($A, $T), 'unknown target without grant: nothing');

# a fresh grant still works after all the rejections

$A->send(grant_request(RFC_SEED, 9401, 9402, $now + 62));
is(tohex($A->recv(2)), tohex(command_for($T)), 'fresh grant: requester told');
is(tohex($T->recv(2)), tohex(command_for($A)), 'fresh grant: target told');

# 8, 17. key rebind: a later DISCOVER with another key does not replace the
# key; a grant signed by that key is rejected, one by the first key works

my $D = node($B1, 9404, '127.0.0.45');
$D->io(discover(9402, $K2));

$c0 = counters($H, 'g1');
$D->send(grant_request(RFC_SEED2, 9404, 9402, $now + 63));
ok(nothing($D, $T), 'rebind: grant by the new key rejected');
is(counter_delta($H, 'g1', $c0, 'punch_grant_rejected', 1), 1,
    'rebind: counted');

$D->send(grant_request(RFC_SEED, 9404, 9402, $now + 64));
is(tohex($D->recv(2)), tohex(command_for($T)), 'rebind: first key still used');
is(tohex($T->recv(2)), tohex(command_for($D)), 'rebind: target told');

# a key is only learned from a non-throttled write

my $C = node($B1, 9405, '127.0.0.46');
$D->io(discover(9405, $K2));            # throttled: other endpoint
$C->io(discover(9405, $RFC));           # refresh from the node itself

$A->send(grant_request(RFC_SEED2, 9401, 9405, $now + 65));
ok(nothing($A, $C), 'throttled key: not learned');

$A->send(grant_request(RFC_SEED, 9401, 9405, $now + 66));
is(tohex($A->recv(2)), tohex(command_for($C)),
    'key from the refresh: requester told');
is(tohex($C->recv(2)), tohex(command_for($A)),
    'key from the refresh: target told');

# key file: authoritative, DISCOVER keys ignored

my $T3 = node($B3, 9302, '127.0.0.50', $K2);
my $A3 = node($B3, 9301, '127.0.0.51');

$A3->send(grant_request(RFC_SEED, 9301, 9302, $now + 60));
is(tohex($A3->recv(2)), tohex(command_for($T3)),
    'key file: requester told');
is(tohex($T3->recv(2)), tohex(command_for($A3)), 'key file: target told');

$c0 = counters($H, 'g3');
$A3->send(grant_request(RFC_SEED2, 9301, 9302, $now + 61));
ok(nothing($A3, $T3), 'key file: DISCOVER key ignored');
is(counter_delta($H, 'g3', $c0, 'punch_grant_rejected', 1), 1,
    'key file: DISCOVER key grant rejected');

my $T4 = node($B3, 9304, '127.0.0.52', $RFC);

$A3->send(grant_request(RFC_SEED, 9301, 9304, $now + 62));
ok(nothing($A3, $T4), 'key file: node without a file key rejected');

my $T5 = node($B3, 9303, '127.0.0.53');

$A3->send(grant_request(RFC_SEED2, 9301, 9303, $now + 63));
is(tohex($A3->recv(2)), tohex(command_for($T5)),
    'key file: second key, requester told');
is(tohex($T5->recv(2)), tohex(command_for($A3)),
    'key file: second key, target told');

# max_lifetime=120s

$A3->send(grant_request(RFC_SEED, 9301, 9302, $now + 200));
ok(nothing($A3, $T3), 'max_lifetime=120s: 200s rejected');

$A3->send(grant_request(RFC_SEED, 9301, 9302, $now + 100));
is(tohex($A3->recv(2)), tohex(command_for($T3)),
    'max_lifetime=120s: 100s accepted');
is(tohex($T3->recv(2)), tohex(command_for($A3)),
    'max_lifetime=120s: 100s, target told');

###############################################################################
