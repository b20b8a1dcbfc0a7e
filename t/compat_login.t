#!/usr/bin/perl

# Tests for ngx_beacon_module: compat bridge authentication (spec 7.3,
# scenarios 39 and 40): the challenge, the happy path, every refusal
# (close 1008 "auth failed", auth_fail counted, server still up), the auth
# timeout, the per-IP auth failure limit (429), and key lookups in a
# (fake) registry: caching in the zone, not found, garbage, slow and
# unreachable registries, the key file staying authoritative, a registry
# behind TLS.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Compat;

use JSON::PP;
use MIME::Base64 qw/ encode_base64 /;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = compat_nginx(94, 'stream_ssl_module');

my ($crt, $key) = make_cert($t);

my %S = map { $_ => seed_for($_) }
    qw/ 4242 4243 4343 5001 5006 5009 5020 5021 5022 9 /;

write_keyfile($t, 'keys', { 4242 => $S{4242}, 4243 => $S{4243} });
write_keyfile($t, 'keys2', { 4343 => $S{4343} });

mkdir $t->testdir() . '/www';
$t->write_file('www/index.html', "hello website\n");

my $RPORT = port(8990);

start_registry($t, port => $RPORT, keys => {
    4242 => $S{4242},
    4343 => $S{9},                                   # not the file's key
    5001 => $S{5001},
    5002 => '!garbage',
    5003 => '!badjson',
    5004 => '!badkey',
    5005 => 'b64:' . encode_base64('k' x 16, ''),    # 16 bytes
    5006 => '!slow 3 ' . encode_base64(pubkey_of($S{5006}), ''),
    5007 => '!close',
    5008 => '!hugelen',
    5009 => '!wrongid ' . encode_base64(pubkey_of($S{5009}), ''),
    5011 => '!shortframe',
    5012 => '!error internal',
    5020 => $S{5020},
    5021 => $S{5021},
    5022 => $S{5022},
    5030 => '!slow 20',
});

my $tls = <<"EOF";
        ssl_certificate $crt;
        ssl_certificate_key $key;
EOF

$t->write_file_expand('nginx.conf',
    beacon_conf(stream => <<"EOF", http => <<"EOF2"));
    beacon_zone beacon:4m;

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
        beacon on;
        beacon_reply_limit off;
        beacon_register_limit off;
    }

    # the registry behind TLS
    server {
        listen 127.0.0.1:%%PORT_8992%% ssl;
$tls
        proxy_pass 127.0.0.1:$RPORT;
    }
EOF
    beacon_compat_auth_fail_limit 1000;
    beacon_compat_auth_timeout 5s;

    # key file only
    server {
        listen 127.0.0.1:%%PORT_8443%% ssl;
$tls
        beacon_compat_key_file %%TESTDIR%%/keys;
        beacon_compat_auth_timeout 2s;

        location = /v1/compat { beacon_compat; }
        location / { root %%TESTDIR%%/www; }
    }

    # auth failure limit
    server {
        listen 127.0.0.1:%%PORT_8444%% ssl;
$tls
        beacon_compat_key_file %%TESTDIR%%/keys;
        beacon_compat_auth_fail_limit 3;

        location = /v1/compat { beacon_compat; }
    }

    # registry only
    server {
        listen 127.0.0.1:%%PORT_8445%% ssl reuseport;
$tls
        beacon_compat_registry 127.0.0.1:$RPORT ttl=3s timeout=1s;

        location = /v1/compat { beacon_compat; }
    }

    # key file and registry
    server {
        listen 127.0.0.1:%%PORT_8446%% ssl;
$tls
        beacon_compat_key_file %%TESTDIR%%/keys2;
        beacon_compat_registry 127.0.0.1:$RPORT ttl=3s timeout=1s;

        location = /v1/compat { beacon_compat; }
    }

    # unreachable registry
    server {
        listen 127.0.0.1:%%PORT_8447%% ssl;
$tls
        beacon_compat_registry 127.0.0.1:%%PORT_8991%% timeout=1s;

        location = /v1/compat { beacon_compat; }
    }

    # registry over TLS
    server {
        listen 127.0.0.1:%%PORT_8448%% ssl;
$tls
        beacon_compat_registry 127.0.0.1:%%PORT_8992%% tls tls_ca=$crt
                               tls_name=localhost timeout=2s;

        location = /v1/compat { beacon_compat; }
    }

    # registry over TLS, its certificate not trusted
    server {
        listen 127.0.0.1:%%PORT_8449%% ssl;
$tls
        beacon_compat_registry 127.0.0.1:%%PORT_8992%% tls timeout=2s;

        location = /v1/compat { beacon_compat; }
    }

    # registry over TLS, another name
    server {
        listen 127.0.0.1:%%PORT_8450%% ssl;
$tls
        beacon_compat_registry 127.0.0.1:%%PORT_8992%% tls tls_ca=$crt
                               tls_name=registry.example timeout=2s;

        location = /v1/compat { beacon_compat; }
    }
EOF2

$t->run();

###############################################################################

my $P = port(8443);
my $PL = port(8444);
my $PR = port(8445);
my $PK = port(8446);
my $PU = port(8447);
my $PT = port(8448);
my $PTU = port(8449);
my $PTN = port(8450);
my $H = port(8080);

my ($c, $r, $u, $c0);

sub website {
    my ($code, $h, $body) = https_get($P, '/index.html');
    return defined $code && $code == 200 && $body eq "hello website\n";
}

sub json {
    my ($bytes) = @_;
    return eval { JSON::PP->new->decode($bytes) };
}

# a login attempt that must be refused with 1008 "auth failed"

sub refused {
    my ($name, $port, $bind, $seed, $id, @opts) = @_;

    my $c = ws();

    unless ($c->connect($port, bind => $bind)) {
        fail("$name: connect");
        return 0;
    }

    my $u = $c->upgrade();

    unless ($u->{upgraded}) {
        fail("$name: upgrade (" . ($u->{code} // 'none') . ')');
        return 0;
    }

    my $start = time();
    my $a = $c->auth($seed, $id, @opts);

    if (!$a->{ok} && !defined $a->{closed}) {
        my $e = $c->expect_close(4000);
        $a->{close} //= $e->{close};
        $a->{reason} //= $e->{reason};
        $a->{closed} //= $e->{closed};
    }

    $c->{elapsed} = time() - $start;

    my $good = !$a->{ok} && defined $a->{close} && $a->{close} == 1008
        && ($a->{reason} // '') eq 'auth failed' && defined $a->{closed};

    ok($good, "$name: closed 1008 auth failed")
        or diag(join("\n", grep { !/^msg text/ } @{$a->{lines}}));

    $c->quit();
    return $good ? $c : 0;
}

ok(website(), 'website');

# 39. happy path

$c0 = ccounters($H, 'beacon');

$c = ws();
ok($c->connect($P), 'connect');
$u = $c->upgrade();
ok($u->{upgraded}, 'upgraded');

$r = $c->challenge();
my $m = $r->{challenge_msg};
ok($m && $m->{kind} eq 'text', 'challenge is a text message');
is($m && $m->{frames}, 1, 'challenge in one frame');

my $j = json($m ? $m->{data} : '');
is($j && $j->{type}, 'auth_challenge', 'challenge type');
like($j && $j->{nonce}, qr/^[0-9a-f]{64}$/, 'nonce: 64 lowercase hex');
ok($j && defined $j->{ts} && $j->{ts} =~ /^\d+$/ && !ref $j->{ts},
    'ts: integer');
cmp_ok(abs(($j && $j->{ts} || 0) - time()), '<=', 5, 'ts: server time');

my @l = $c->auth_reply($S{4242}, 4242);
$m = $c->recv_msg(3000);
ok($m && $m->{kind} eq 'text', 'auth_ok is a text message');
is_deeply(json($m ? $m->{data} : ''), { type => 'auth_ok' }, 'auth_ok');

ok($c->alive(), 'peer connected after auth_ok');

is(cdelta($H, 'beacon', $c0, 'compat.upgrade_ok', 1), 1, 'upgrade_ok +1');
is(cdelta($H, 'beacon', $c0, 'compat.auth_ok', 1), 1, 'auth_ok +1');
is(cdelta($H, 'beacon', $c0, 'compat.auth_fail'), 0, 'auth_fail unchanged');
is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 1 }), 1,
    'active_peers 1');

# every challenge has a fresh nonce

my $c2 = ws();
$c2->connect($P);
$c2->upgrade();
my $r2 = $c2->challenge();
ok($r2->{challenge} && $r->{challenge}
    && $r2->{challenge}{nonce} ne $r->{challenge}{nonce}, 'fresh nonce');

# the public_key field of the reply is ignored

my @a = $c2->auth_reply($S{4243}, 4243,
    'pubkey=' . encode_base64(pubkey_of($S{9}), ''));
$m = $c2->recv_msg(3000);
is_deeply(json($m ? $m->{data} : ''), { type => 'auth_ok' },
    'public_key of the reply ignored');
$c2->quit();

$c2 = ws_login($P, 4243, $S{4243}, auth => [ 'pubkey=none' ]);
ok(!$c2->{failed}, 'no public_key in the reply');
$c2->quit();

$c->quit();

# 40. refusals

$c0 = ccounters($H, 'beacon');
my $n = 0;

$n++ if refused('wrong key', $P, '127.0.0.1', $S{4242}, 4242,
    "sigseed=$S{9}");
$n++ if refused('unknown id', $P, '127.0.0.1', $S{9}, 7777);
$n++ if refused('node_id 0', $P, '127.0.0.1', $S{4242}, 4242, 'node=0',
    'sigid=0');
$n++ if refused('wrong type', $P, '127.0.0.1', $S{4242}, 4242,
    'type=auth_hello');
$n++ if refused('sig not base64', $P, '127.0.0.1', $S{4242}, 4242, 'badsig');
$n++ if refused('sig too short', $P, '127.0.0.1', $S{4242}, 4242,
    'sig=' . encode_base64("\0" x 32, ''));
$n++ if refused('old 2-field preimage', $P, '127.0.0.1', $S{4242}, 4242,
    'old');
$n++ if refused('signed for another id', $P, '127.0.0.1', $S{4242}, 4242,
    'sigid=4243');
$n++ if refused('signed with another ts', $P, '127.0.0.1', $S{4242}, 4242,
    'ts=1');
$n++ if refused('reply as binary', $P, '127.0.0.1', $S{4242}, 4242,
    'binary');
$n++ if refused('reply not JSON', $P, '127.0.0.1', $S{4242}, 4242,
    'notjson');
$n++ if refused('node_id as a string', $P, '127.0.0.1', $S{4242}, 4242,
    'node="4242"');
$n++ if refused('node_id above u32 (wraps to 4242)', $P, '127.0.0.1',
    $S{4242}, 4242, 'node=4294971538', 'sigid=4294971538');
$n++ if refused('node_id above u32, signed as 4242', $P, '127.0.0.1',
    $S{4242}, 4242, 'node=4294971538', 'sigid=4242');
$n++ if refused('negative node_id', $P, '127.0.0.1', $S{4242}, 4242,
    'node=-4242');

is(cdelta($H, 'beacon', $c0, 'compat.auth_fail', $n), $n,
    "auth_fail counted ($n)");
is(cdelta($H, 'beacon', $c0, 'compat.auth_ok'), 0, 'no auth_ok');
is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 0 }), 0,
    'no active peers');

# still up

$c = ws_login($P, 4242, $S{4242});
ok(!$c->{failed}, 'login after the refusals');
$c->quit();
ok(website(), 'website after the refusals');

# auth timeout (2s here): the challenge is not answered

$c = ws();
$c->connect($P);
$c->upgrade();
$c->challenge();

my $start = time();
my $e = $c->expect_close(6000);
my $el = time() - $start;

is($e->{close}, 1008, 'auth timeout: close 1008');
ok($el > 1.2 && $el < 4, "auth timeout: after about 2s ($el)");
$c->quit();

# pings do not extend the auth time

$c = ws();
$c->connect($P);
$c->upgrade();
$c->challenge();

$start = time();
my @ev = $c->keepalive(300, 5000);
$el = time() - $start;

my ($cl) = grep { $_->{ev} eq 'close' } @ev;
ok($cl && $cl->{code} == 1008 && $el < 4.5,
    "auth timeout: pings do not extend it ($el)");
ok(scalar(grep { $_->{ev} eq 'pong' } @ev), 'auth phase: pings answered');
$c->quit();

# nothing at all after the upgrade: the challenge is sent, then 1008

$c = ws();
$c->connect($P);
$c->upgrade();
$e = $c->expect_close(6000);
ok(scalar(grep { $_->{ev} eq 'msg' } @{$e->{events}}),
    'silent client: challenge came');
is($e->{close}, 1008, 'silent client: 1008');
$c->quit();

# the auth failure limit (3 per IP per minute here)

$c0 = ccounters($H, 'beacon');

for my $i (1 .. 3) {
    refused("limit: failure $i", $PL, '127.0.0.9', $S{4242}, 4242,
        "sigseed=$S{9}");
}

$c = ws();
$c->connect($PL, bind => '127.0.0.9');
$u = $c->upgrade();
is($u->{code}, 429, 'limit: next upgrade 429');
$c->quit();

$c = ws();
$c->connect($PL, bind => '127.0.0.9');
$u = $c->upgrade();
is($u->{code}, 429, 'limit: even with good credentials');
$c->quit();

is(cdelta($H, 'beacon', $c0, 'compat.auth_rate_limited', 2), 2,
    'limit: auth_rate_limited +2');
is(cdelta($H, 'beacon', $c0, 'compat.upgrade_fail', 2), 2,
    'limit: upgrade_fail +2');

$c = ws_login($PL, 4242, $S{4242}, connect => { bind => '127.0.0.10' });
ok(!$c->{failed}, 'limit: another IP logs in');
$c->quit();

# registry: lookups, caching in the zone (ttl 3s)

$c0 = ccounters($H, 'beacon');

$c = ws_login($PR, 5001, $S{5001}, connect => { bind => '127.0.0.2' });
ok(!$c->{failed}, 'registry: login');
$c->quit();

is(registry_lookups($t, 5001), 1, 'registry: one lookup');
is(cdelta($H, 'beacon', $c0, 'compat.key_lookups', 1), 1,
    'registry: key_lookups +1');

my $logins = 0;

for my $i (1 .. 4) {
    $c = ws_login($PR, 5001, $S{5001}, connect => { bind => '127.0.0.2' });
    $logins++ unless $c->{failed};
    $c->quit();
}

is($logins, 4, 'registry: cached logins');
is(registry_lookups($t, 5001), 1, 'registry: cached, no new lookup');
is(cdelta($H, 'beacon', $c0, 'compat.key_cache_hits', 4), 4,
    'registry: key_cache_hits +4');

sleep 3.3;

$c = ws_login($PR, 5001, $S{5001}, connect => { bind => '127.0.0.2' });
ok(!$c->{failed}, 'registry: login after the ttl');
$c->quit();
is(registry_lookups($t, 5001), 2, 'registry: looked up again after the ttl');

# registry refusals

$c0 = ccounters($H, 'beacon');
$n = 0;

$n++ if refused('registry: not found', $PR, '127.0.0.2', $S{9}, 7000);
$n++ if refused('registry: wrong key', $PR, '127.0.0.2', $S{9}, 5001);
$n++ if refused('registry: garbage', $PR, '127.0.0.2', $S{9}, 5002);
$n++ if refused('registry: no public_key', $PR, '127.0.0.2', $S{9}, 5003);
$n++ if refused('registry: key not base64', $PR, '127.0.0.2', $S{9}, 5004);
$n++ if refused('registry: key of 16 bytes', $PR, '127.0.0.2', $S{9}, 5005);
$n++ if refused('registry: closes', $PR, '127.0.0.2', $S{9}, 5007);
$n++ if refused('registry: huge length', $PR, '127.0.0.2', $S{9}, 5008);
$n++ if refused('registry: short frame', $PR, '127.0.0.2', $S{9}, 5011);
$n++ if refused('registry: error reply', $PR, '127.0.0.2', $S{9}, 5012);

# slower than the lookup timeout (1s): refused, not accepted late

my $slow = refused('registry: slow (3s, timeout 1s)', $PR, '127.0.0.2',
    $S{5006}, 5006);
$n++ if $slow;
ok($slow && $slow->{elapsed} < 2.8,
    'registry: slow lookup given up after the timeout ('
    . ($slow ? sprintf('%.1f', $slow->{elapsed}) : '-') . 's)');

# a registry that never answers: the lookup connection is closed at the
# lookup timeout, it does not outlive the login

sub registry_conns {
    my $hex = sprintf(':%04X', $RPORT);
    open my $fh, '<', '/proc/net/tcp' or return -1;
    my $n = grep { my @f = split ' '; @f > 3 && $f[2] =~ /\Q$hex\E$/
        && $f[3] eq '01' } <$fh>;
    close $fh;
    return $n;
}

my $mute = refused('registry: never answers', $PR, '127.0.0.2', $S{9}, 5030);
$n++ if $mute;
ok($mute && $mute->{elapsed} < 2.8,
    'registry: never answers, given up after the timeout ('
    . ($mute ? sprintf('%.1f', $mute->{elapsed}) : '-') . 's)');

my $open;
for (1 .. 20) {
    $open = registry_conns();
    last if $open == 0;
    sleep 0.1;
}
is($open, 0, 'registry: no lookup connection left open');

is(cdelta($H, 'beacon', $c0, 'compat.auth_fail', $n), $n,
    "registry: auth_fail counted ($n)");
cmp_ok(registry_lookups($t, 7000), '>=', 1, 'registry: unknown id asked');

# a reply naming another node is not an answer about this one

refused('registry: reply for another node', $PR, '127.0.0.2',
    $S{5009}, 5009);

# unreachable registry

$c = refused('registry unreachable', $PU, '127.0.0.3', $S{5001}, 5021);
ok($c && $c->{elapsed} < 3, 'registry unreachable: refused quickly');

# the key file is authoritative; the registry serves the other ids

$c = ws_login($PK, 4343, $S{4343}, connect => { bind => '127.0.0.4' });
ok(!$c->{failed}, 'key file and registry: file key');
$c->quit();
is(registry_lookups($t, 4343), 0, 'key file and registry: no lookup');

refused('key file and registry: registry key refused for a file id',
    $PK, '127.0.0.4', $S{9}, 4343);

$c = ws_login($PK, 5021, $S{5021}, connect => { bind => '127.0.0.4' });
ok(!$c->{failed}, 'key file and registry: registry key');
$c->quit();
is(registry_lookups($t, 5021), 1, 'key file and registry: one lookup');

# registry over TLS

$c = ws_login($PT, 5020, $S{5020}, connect => { bind => '127.0.0.5' });
ok(!$c->{failed}, 'TLS registry: login');
$c->quit();
is(registry_lookups($t, 5020), 1, 'TLS registry: looked up');

# a registry whose certificate is not trusted, or names another host, is
# not asked

refused('TLS registry: untrusted certificate', $PTU, '127.0.0.6',
    $S{5022}, 5022);
refused('TLS registry: another name', $PTN, '127.0.0.7', $S{5022}, 5022);
is(registry_lookups($t, 5022), 0, 'TLS registry: no lookup without trust');

# still up

$c = ws_login($P, 4242, $S{4242});
ok(!$c->{failed}, 'login at the end');
ok($c->alive(), 'alive at the end');
$c->quit();

ok(website(), 'website at the end');

###############################################################################
