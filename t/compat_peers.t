#!/usr/bin/perl

# Tests for ngx_beacon_module: the compat bridge peer table with four
# workers (spec 7.4, scenarios 44-47): a newer login replaces the older
# one across workers (1000 "replaced"), a stalled reader is dropped after
# the write timeout without holding up other peers, the per-peer relay
# budget, the peer cap (503) and the per-IP cap.

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

my $t = compat_nginx(45);

my ($crt, $key) = make_cert($t);

my %S = compat_keys($t, 1001, 1002, 4242 .. 4249, 4300, 4301, 5000 .. 5015);

my $tls = <<"EOF";
        ssl_certificate $crt;
        ssl_certificate_key $key;
EOF

$t->write_file_expand('nginx.conf',
    beacon_conf(workers => 4, stream => <<"EOF", http => <<"EOF2"));
beacon_zone beacon:4m;
beacon_zone cap:1m;
beacon_zone ip:1m;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    beacon zone=beacon;
    beacon_reply_limit off;
    beacon_register_limit off;
}

server {
    listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
    beacon zone=cap;
}

server {
    listen 127.0.0.1:%%PORT_8982_UDP%% udp reuseport;
    beacon zone=ip;
}
EOF
    beacon_compat_key_file %%TESTDIR%%/keys;

    server {
        listen 127.0.0.1:%%PORT_8443%% ssl reuseport;
$tls
        location = /v1/compat { beacon_compat zone=beacon; }
    }

    # stalled readers
    server {
        listen 127.0.0.1:%%PORT_8444%% ssl;
$tls
        beacon_compat_write_timeout 1s;
        beacon_compat_queue 64k;

        location = /v1/compat { beacon_compat zone=beacon; }
    }

    # peer cap
    server {
        listen 127.0.0.1:%%PORT_8445%% ssl;
$tls
        beacon_compat_max_peers 1;

        location = /v1/compat { beacon_compat zone=cap; }
    }

    # per-IP cap
    server {
        listen 127.0.0.1:%%PORT_8446%% ssl;
$tls
        beacon_compat_max_per_ip 2;

        location = /v1/compat { beacon_compat zone=ip; }
    }
EOF2

$t->run();

###############################################################################

my $P = port(8443);
my $PS = port(8444);
my $PC = port(8445);
my $PI = port(8446);
my $H = port(8080);
my $B = '127.0.0.1:' . port(8980, udp => 1);

my ($c, $r, $m, $u, $c0);

sub node { return udp_node($B, @_); }

my $S = node(9999, '127.0.0.61');

# 44. replacement, across workers

$c0 = ccounters($H, 'beacon');

my $A = ws_login($P, 4242, $S{4242});
ok(!$A->{failed}, 'replace: first login');
$A->{pid} = conn_worker($t, $A->local_addr());

my $Bc = ws_connect_avoiding($t, $P, $A->{pid});
$u = $Bc->upgrade();
$r = $Bc->auth($S{4242}, 4242);
ok($r->{ok}, 'replace: second login for the same id');
ok(defined $A->{pid} && defined $Bc->{pid} && $A->{pid} != $Bc->{pid},
    'replace: the connections are owned by different workers');

$r = $A->expect_close(3000);
is($r->{close}, 1000, 'replace: old connection closed 1000');
is($r->{reason}, 'replaced', 'replace: reason "replaced"');

is(cdelta($H, 'beacon', $c0, 'compat.replaced', 1), 1, 'replaced +1');
is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 1 }), 1,
    'replace: one active peer');

$S->send(relay(9999, 4242, 'to the new one'));
$m = $Bc->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(9999, 'to the new one')),
    'replace: deliveries reach the new connection');

# the old connection is gone; its end did not evict the replacement

is(cwait($H, 'beacon', 'compat.connections', sub { $_[0] == 1 }), 1,
    'replace: the old connection has ended');

$S->send(relay(9999, 4242, 'still new'));
$m = $Bc->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(9999, 'still new')),
    'replace: the end of the old one keeps the new one');

$A->quit();

# the new one sends as 4242

my $D = node(20, '127.0.0.60', rcvbuf => 16 * 1024 * 1024);

$Bc->binary(relay(4242, 20, 'from new'));
is(tohex($D->recv(2)), tohex(deliver(4242, 'from new')),
    'replace: the new connection relays');

# a third login (any worker) replaces the second

my $C3 = ws_login($P, 4242, $S{4242});
ok(!$C3->{failed}, 'replace: third login');
$r = $Bc->expect_close(3000);
ok(($r->{close} // 0) == 1000 && ($r->{reason} // '') eq 'replaced',
    'replace: second closed 1000 replaced');

$S->send(relay(9999, 4242, 'third'));
$m = $C3->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(9999, 'third')),
    'replace: deliveries reach the third');

# replacement by a connection on the same worker

my $C4 = ws();
$C4->connect($P);
$C4->upgrade();
$r = $C4->auth($S{4242}, 4242);
ok($r->{ok}, 'replace: fourth login');
$r = $C3->expect_close(3000);
is($r->{reason}, 'replaced', 'replace: third replaced');
is(cdelta($H, 'beacon', $c0, 'compat.replaced', 3), 3, 'replaced +3');

$Bc->quit();
$C3->quit();
$C4->quit();

# 45. stalled reader (write timeout 1s, queue 64k): dropped, others served

cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 0 });

my $W = ws_login($PS, 4300, $S{4300}, connect => { rcvbuf => 4096 });
my $O = ws_login($PS, 4301, $S{4301});
ok(!$W->{failed} && !$O->{failed}, 'stall: two peers');

my $F = node(9998, '127.0.0.62');

$c0 = ccounters($H, 'beacon');

$W->start('stall 5000');

my $start = time();
my $big = 'f' x 30000;
my $flood = 0;

{
    local $ENV{TEST_NGINX_VERBOSE};

    while (time() - $start < 2.5 && $flood < 1000) {
        $F->send(relay(9998, 4300, $big));
        $flood++;
        sleep 0.004;
    }
}

# another peer is not held up by the stalled one

$S->send(relay(9999, 4301, 'not blocked'));
$m = $O->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(9999, 'not blocked')),
    'stall: another peer still served during the stall');

$W->finish();

my @e = $W->recv_all(quiet => 1000, max => 10000);
my ($closed) = grep { $_->{ev} eq 'closed' } @e;
my $got = grep { $_->{ev} eq 'msg' } @e;

ok($closed, "stall: stalled peer dropped ($got of $flood delivered)");
cmp_ok(cdelta($H, 'beacon', $c0, 'compat.dropped.write_timeout', 1), '>=', 1,
    'stall: dropped.write_timeout');

is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 1 }), 1,
    'stall: one active peer left');

$c0 = ccounters($H, 'beacon');
$F->send(relay(9998, 4300, 'after'));
is(cdelta($H, 'beacon', $c0, 'relay_not_found', 1), 1,
    'stall: later relays to it not found');

$S->send(relay(9999, 4301, 'after stall'));
$m = $O->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(9999, 'after stall')),
    'stall: other peer still fine');

$W->quit();
$O->quit();

# the stalled peer can come back

$W = ws_login($PS, 4300, $S{4300});
ok(!$W->{failed}, 'stall: the dropped peer logs in again');
$F->send(relay(9998, 4300, 'back'));
$m = $W->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(9998, 'back')),
    'stall: deliveries after coming back');
$W->quit();

# 46. bridged relay budget: per login, not per connection or sender_id

my $P1 = ws_login($P, 1001, $S{1001});
my $P2 = ws_login($P, 1002, $S{1002});
ok(!$P1->{failed} && !$P2->{failed}, 'budget: two peers');

$D->drain();
sleep 1.1;

$c0 = ccounters($H, 'beacon');

$start = time();
$P1->many(5000, relay(1001, 20, 'b'));
$P2->binary(relay(1002, 20, 'second'));
my $elapsed = time() - $start;

my @d = map { $_->[0] } $D->recv_all(0.5, limit => 15);
my $flooded = grep { $_ eq deliver(1001, 'b') } @d;
my $second = grep { $_ eq deliver(1002, 'second') } @d;

is($second, 1, 'budget: the other peer relays in the same window');
cmp_ok($flooded, '>=', 1, "budget: the flood relays ($flooded)");

SKIP: {
    skip "flood took ${elapsed}s, longer than one window", 2
        if $elapsed > 0.9;

    cmp_ok($flooded, '<=', 4000, 'budget: at most 4000 in the window');
    cmp_ok(cdelta($H, 'beacon', $c0, 'relay_dropped.rate_limited'), '>=',
        5000 - $flooded, 'budget: the excess counted as rate_limited');
}

# a new window, a new budget

sleep 1.1;
$P1->binary(relay(1001, 20, 'next window'));
is(tohex($D->recv(2)), tohex(deliver(1001, 'next window')),
    'budget: next window');

$P1->quit();
$P2->quit();

# 47. peer cap: 503 "wss: at capacity"

my $c1 = ws_login($PC, 4242, $S{4242});
ok(!$c1->{failed}, 'cap: first peer');

$c0 = ccounters($H, 'cap');

$c = ws();
$c->connect($PC);
$u = $c->upgrade();
is($u->{code}, 503, 'cap: second upgrade 503');
like($u->{body}, qr/^wss: at capacity\n?\z/, 'cap: body');
$c->quit();

is(cdelta($H, 'cap', $c0, 'compat.upgrade_fail', 1), 1, 'cap: upgrade_fail');

$c1->close_ws(1000);
cwait($H, 'cap', 'compat.active_peers', sub { $_[0] == 0 });

$c = ws_login($PC, 4243, $S{4243});
ok(!$c->{failed}, 'cap: a slot again after the first left');
$c->quit();
$c1->quit();

# per-IP cap (2 here)

my $i1 = ws_login($PI, 4244, $S{4244}, connect => { bind => '127.0.0.21' });
my $i2 = ws_login($PI, 4245, $S{4245}, connect => { bind => '127.0.0.21' });
ok(!$i1->{failed} && !$i2->{failed}, 'per ip: two peers from one address');

$c = ws();
$c->connect($PI, bind => '127.0.0.21');
$u = $c->upgrade();
is($u->{code}, 503, 'per ip: third from the same address 503');
$c->quit();

my $i3 = ws_login($PI, 4246, $S{4246}, connect => { bind => '127.0.0.22' });
ok(!$i3->{failed}, 'per ip: another address');

$i1->close_ws(1000);
cwait($H, 'ip', 'compat.active_peers', sub { $_[0] == 2 });

$c = ws_login($PI, 4247, $S{4247}, connect => { bind => '127.0.0.21' });
ok(!$c->{failed}, 'per ip: a slot again after one left');
$c->quit();

$_->quit() for $i1, $i2, $i3;

# the default per-IP cap is 16

my @many;

for my $id (5000 .. 5015) {
    my $p = ws_login($P, $id, $S{$id}, connect => { bind => '127.0.0.30' });
    push @many, $p unless $p->{failed};
}

is(scalar @many, 16, 'default per ip: 16 peers from one address');

$c = ws();
$c->connect($P, bind => '127.0.0.30');
$u = $c->upgrade();
is($u->{code}, 503, 'default per ip: the 17th gets 503');
$c->quit();

$_->quit() for @many;

# connections that never authenticate count too (spec W20)

my @pre;

for my $i (1 .. 2) {
    my $p = ws();
    $p->connect($PI, bind => '127.0.0.23');
    $u = $p->upgrade();
    $p->challenge();
    push @pre, $p if $u->{upgraded};
}

is(scalar @pre, 2, 'per ip: two unauthenticated connections');

$c = ws();
$c->connect($PI, bind => '127.0.0.23');
$u = $c->upgrade();
is($u->{code}, 503, 'per ip: unauthenticated connections count');
$c->quit();

$_->quit() for @pre;

###############################################################################
