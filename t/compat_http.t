#!/usr/bin/perl

# Tests for ngx_beacon_module: the compat bridge HTTP surface (spec 7.2,
# scenario 38): /health, every rejection row of the upgrade, the 101
# vector, subprotocol and extension negotiation, capacity checked first,
# upgrade counters; the website location beside the bridge keeps serving.

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

my $t = compat_nginx(78);

my ($crt, $key) = make_cert($t);

compat_keys($t, 4242, 4243);

mkdir $t->testdir() . '/www';
$t->write_file('www/index.html', "hello website\n");

$t->write_file_expand('nginx.conf',
    beacon_conf(stream => <<"EOF", http => <<"EOF2"));
beacon_zone beacon:4m;
beacon_zone cap:1m;

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
EOF
beacon_compat_key_file %%TESTDIR%%/keys;

server {
    listen 127.0.0.1:%%PORT_8443%% ssl;
    server_name localhost;

    ssl_certificate $crt;
    ssl_certificate_key $key;

    location = /v1/compat {
        beacon_compat zone=beacon;
    }

    location = /health {
        beacon_compat_health;
    }

    location / {
        root %%TESTDIR%%/www;
    }
}

server {
    listen 127.0.0.1:%%PORT_8444%% ssl;
    server_name localhost;

    ssl_certificate $crt;
    ssl_certificate_key $key;

    beacon_compat_max_peers 1;

    location = /v1/compat {
        beacon_compat zone=cap;
    }

    location / {
        root %%TESTDIR%%/www;
    }
}
EOF2

$t->run();

###############################################################################

my $P = port(8443);
my $PC = port(8444);
my $H = port(8080);

my ($r, $c);

sub hdr {
    my ($r, $name) = @_;
    my $v = $r->{headers}{lc $name};
    return defined $v ? join(', ', @$v) : undef;
}

# the comma-separated tokens of a header (all its lines), lowercased

sub tokens {
    my ($r, $name) = @_;
    my $v = $r->{headers}{lc $name} or return ();
    return map { lc } grep { $_ ne '' } map { split /\s*,\s*/ } @$v;
}

sub has_token {
    my ($r, $name, $token) = @_;
    return scalar grep { $_ eq $token } tokens($r, $name);
}

sub nhdr {
    my ($r, $name) = @_;
    my $v = $r->{headers}{lc $name};
    return defined $v ? scalar @$v : 0;
}

# one request on a new connection

sub up {
    my (%o) = @_;

    my $port = delete $o{port} || $P;
    my $c = ws();

    $c->connect($port, %{delete $o{connect} || {}}) or return {};

    my $r = defined $o{raw} ? $c->request($o{raw}) : $c->upgrade(%o);
    $c->quit();

    return $r;
}

sub website {
    my ($code, $h, $body) = https_get($P, '/index.html');
    return defined $code && $code == 200 && $body eq "hello website\n";
}

my $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
my $ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

my $c0 = ccounters($H, 'beacon');
my ($ok, $fail) = (0, 0);

ok(website(), 'website before');

# health

my ($code, $h, $body) = https_get($P, '/health');
is($code, 200, 'health: 200');
is($body, '', 'health: empty body');

# 38. a plain GET is 426 with the upgrade headers (daemons probe with it)

$r = up(raw => "GET /v1/compat HTTP/1.1\r\nHost: localhost\r\n\r\n");
is($r->{code}, 426, 'plain GET: 426');
is(lc(hdr($r, 'upgrade') // ''), 'websocket', 'plain GET: Upgrade header');
ok(has_token($r, 'connection', 'upgrade'),
    'plain GET: Connection header (' . (hdr($r, 'connection') // '') . ')');
$fail++;

# Connection without the upgrade token

$r = up(connection => 'keep-alive');
is($r->{code}, 426, 'Connection: keep-alive: 426');
is(lc(hdr($r, 'upgrade') // ''), 'websocket',
    'Connection: keep-alive: Upgrade header');
$fail++;

$r = up(connection => 'none');
is($r->{code}, 426, 'no Connection: 426');
$fail++;

# Upgrade without the websocket token

$r = up(upgradehdr => 'h2c');
is($r->{code}, 426, 'Upgrade: h2c: 426');
ok(has_token($r, 'connection', 'upgrade'), 'Upgrade: h2c: Connection');
$fail++;

$r = up(upgradehdr => 'none');
is($r->{code}, 426, 'no Upgrade: 426');
$fail++;

$r = up(upgradehdr => 'websocketx');
is($r->{code}, 426, 'Upgrade: websocketx: 426');
$fail++;

# token lists, any case

$r = up(connection => 'keep-alive, Upgrade', upgradehdr => 'WebSocket');
is($r->{code}, 101, 'Connection list, Upgrade case: 101');
$ok++;

$r = up(connection => 'UPGRADE', upgradehdr => 'foo/1, websocket');
is($r->{code}, 101, 'Upgrade list: 101');
$ok++;

# HTTP/1.0

$r = up(httpver => 'HTTP/1.0');
is($r->{code}, 426, 'HTTP/1.0: 426');
$fail++;

# method

$r = up(method => 'POST', headers => [ 'Content-Length: 0' ]);
is($r->{code}, 405, 'POST: 405');
$fail++;

$r = up(method => 'PUT', headers => [ 'Content-Length: 0' ]);
is($r->{code}, 405, 'PUT: 405');
$fail++;

# version

$r = up(version => '8');
is($r->{code}, 400, 'version 8: 400');
is(hdr($r, 'sec-websocket-version'), '13', 'version 8: version header');
$fail++;

$r = up(version => 'none');
is($r->{code}, 400, 'no version: 400');
is(hdr($r, 'sec-websocket-version'), '13', 'no version: version header');
$fail++;

$r = up(version => '13, 8');
is($r->{code}, 400, 'version list: 400');
$fail++;

# key

$r = up(key => 'none');
is($r->{code}, 400, 'no key: 400');
$fail++;

$r = up(key => 'dup');
is($r->{code}, 400, 'repeated key: 400');
$fail++;

$r = up(key => 'not*base64*at*all!');
is($r->{code}, 400, 'key not base64: 400');
$fail++;

$r = up(key => 'AAAAAAAAAAAAAAAAAAAA');
is($r->{code}, 400, 'key of 15 bytes: 400');
$fail++;

$r = up(key => 'AAAAAAAAAAAAAAAAAAAAAAA=');
is($r->{code}, 400, 'key of 17 bytes: 400');
$fail++;

# origin

$r = up(origin => 'https://evil.example');
is($r->{code}, 403, 'foreign origin: 403');
$fail++;

$r = up(origin => 'null');
is($r->{code}, 403, 'origin null: 403');
$fail++;

$r = up(origin => "https://127.0.0.1:$P");
is($r->{code}, 101, 'origin host equal to Host: 101');
$ok++;

$r = up(origin => 'pilot://node-4242');
is($r->{code}, 101, 'pilot:// origin: 101');
$ok++;

# 38. the 101 vector

$c = ws();
ok($c->connect($P), 'vector: connect');
is($c->{alpn}, 'http/1.1', 'vector: ALPN http/1.1');

$r = $c->upgrade(key => $KEY,
    headers => [ 'Sec-WebSocket-Extensions: permessage-deflate' ]);
$ok++;

is($r->{code}, 101, 'vector: 101');
like($r->{status_line}, qr!^HTTP/1\.1 101 !, 'vector: status line');
is(lc(hdr($r, 'upgrade') // ''), 'websocket', 'vector: Upgrade');
is(lc(hdr($r, 'connection') // ''), 'upgrade', 'vector: Connection');
is(hdr($r, 'sec-websocket-accept'), $ACCEPT, 'vector: accept');
is(nhdr($r, 'sec-websocket-accept'), 1, 'vector: one accept header');
is(hdr($r, 'sec-websocket-protocol'), 'pilot.v1', 'vector: protocol');
is(hdr($r, 'sec-websocket-extensions'), undef, 'vector: no extensions');

# the bridge speaks first: the challenge comes without any client frame

$r = $c->challenge(timeout => 3000);
ok($r->{challenge}, 'vector: challenge after the upgrade');

ok(website(), 'website while a WebSocket is open');

$c->quit();

# subprotocol

$r = up(proto => 'none');
is($r->{code}, 101, 'no subprotocol offered: 101');
is(hdr($r, 'sec-websocket-protocol'), undef,
    'no subprotocol offered: none selected');
is($r->{accept}, 'ok', 'no subprotocol offered: accept valid');
$ok++;

$r = up(proto => 'chat, pilot.v1');
is($r->{code}, 101, 'subprotocol list: 101');
is(hdr($r, 'sec-websocket-protocol'), 'pilot.v1', 'subprotocol list: pilot.v1');
$ok++;

$r = up(proto => 'chat');
is($r->{code}, 101, 'other subprotocol: 101 (not rejected)');
is(hdr($r, 'sec-websocket-protocol'), undef, 'other subprotocol: none');
$ok++;

# ALPN offering h2 first still ends in HTTP/1.1

$r = up(connect => { alpn => 'h2,http/1.1' });
is($r->{code}, 101, 'ALPN h2,http/1.1: 101');
$ok++;

# keep-alive: a request, then the upgrade on the same connection

$c = ws();
$c->connect($P);
$r = $c->request("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
is($r->{code}, 200, 'keep-alive: health first');
$r = $c->upgrade();
is($r->{code}, 101, 'keep-alive: then the upgrade');
$ok++;
$c->quit();

$c = ws();
$c->connect($P);
$r = $c->request("GET /v1/compat HTTP/1.1\r\nHost: localhost\r\n\r\n");
is($r->{code}, 426, 'keep-alive: a 426 probe first');
$fail++;
$r = $c->upgrade();
is($r->{code}, 101, 'keep-alive: then the upgrade');
$ok++;
$c->quit();

$c = ws();
$c->connect($P);
$r = $c->request("HEAD /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
is($r->{code}, 200, 'HEAD /health: 200');
$c->quit();

# other paths

$r = up(path => '/v1/compat/other');
is($r->{code}, 404, 'other path: 404');

$r = up(path => '/v1/compatx');
is($r->{code}, 404, 'longer path: 404');

($code) = https_get($P, '/nonexistent');
is($code, 404, 'website: missing page 404');

# a request line with a query string is still the bridge

$r = up(path => '/v1/compat?x=1');
is($r->{code}, 101, 'query string: 101');
$ok++;

# counters

is(cdelta($H, 'beacon', $c0, 'compat.upgrade_ok', $ok), $ok,
    "upgrade_ok counted ($ok)");
is(cdelta($H, 'beacon', $c0, 'compat.upgrade_fail', $fail), $fail,
    "upgrade_fail counted ($fail)");
is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 0 }), 0,
    'no active peers (nobody logged in)');
is(cdelta($H, 'beacon', $c0, 'compat.auth_ok'), 0, 'no auth_ok');

# 47 / 7.2: at capacity the 503 comes before any other check

my $cc0 = ccounters($H, 'cap');

my $p1 = ws_login($PC, 4242, seed_for(4242));
ok(!$p1->{failed}, 'capacity: first peer logged in');
is(cwait($H, 'cap', 'compat.active_peers', sub { $_[0] == 1 }), 1,
    'capacity: one active peer');

$r = up(port => $PC, raw => "GET /v1/compat HTTP/1.1\r\nHost: localhost\r\n\r\n");
is($r->{code}, 503, 'capacity: plain GET 503 (before the 426 check)');
like($r->{body}, qr/^wss: at capacity\n?\z/, 'capacity: body');

$r = up(port => $PC);
is($r->{code}, 503, 'capacity: upgrade 503');
like($r->{body}, qr/^wss: at capacity\n?\z/, 'capacity: upgrade body');

$r = up(port => $PC, method => 'POST', headers => [ 'Content-Length: 0' ]);
is($r->{code}, 503, 'capacity: POST 503 (before the 405 check)');

is(cdelta($H, 'cap', $cc0, 'compat.upgrade_fail', 3), 3,
    'capacity: upgrade_fail counted');

ok(website(), 'website at capacity');

# the slot is free again once the peer is gone

my @e = $p1->close_ws(1000, 'bye');
ok(scalar(grep { $_->{ev} eq 'closed' } @e), 'capacity: peer closed');

cwait($H, 'cap', 'compat.active_peers', sub { $_[0] == 0 });

my $p2 = ws_login($PC, 4243, seed_for(4243));
ok(!$p2->{failed}, 'capacity: another peer after the first left');

$p2->quit();

# the server is still fine

ok(website(), 'website after');

($code) = https_get($P, '/health');
is($code, 200, 'health after');

###############################################################################
