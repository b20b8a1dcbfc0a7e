#!/usr/bin/perl

# Tests for ngx_beacon_module: "nginx -t" and the Offset relay directives.
# Every directive is accepted with good values (stream and server level,
# identity files of 32 bytes, seed || public key and legacy PKCS#8);
# a missing, malformed or wrong-length identity file is refused with a
# message naming the file and the directive; bad directive values and
# bad placements are refused with a message naming the directive.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Offset;

use MIME::Base64 qw/ encode_base64url /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream http beacon/);

my $dir = $t->testdir();

# identity files: V1 (spec Appendix A), seed || public key, legacy PKCS#8

my $seed = "\x11" x 32;
my $v2 = pack('H*',
    'd04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737');
my $pkcs8 = pack('H*', '3053020101300506032b657004220420') . $seed
    . pack('H*', 'a123032100') . $v2;

sub ident {
    my ($key) = @_;
    return qq({\n  "privateKey": ") . encode_base64url($key) . qq("\n});
}

write_ident($t, 'good.ident');
$t->write_file('seedpk.ident', ident($seed . $v2));
$t->write_file('legacy.ident', ident($pkcs8));
$t->write_file('garbage.ident', "this is not json\n");
$t->write_file('empty.ident', '');
$t->write_file('short.ident', ident("\x11" x 31));
$t->write_file('nokey.ident', qq({"publicKey": "@{[ V2_KEY ]}"}));
$t->write_file('mismatch.ident', ident($seed . ("\x00" x 32)));

my $K1 = V2_KEY;
my $K2 = encode_base64url("\x07" x 32);
my $GOOD = "identity=$dir/good.ident";

# [ name, stream main, server, expected message, listen ]

my @cases = (
    [ 'identity file missing', 'beacon_zone x:1m;',
        "beacon_offset_relay identity=$dir/missing.ident;",
        qr/beacon_offset_relay.*missing\.ident.*No such file/ ],
    [ 'identity file not JSON', 'beacon_zone x:1m;',
        "beacon_offset_relay identity=$dir/garbage.ident;",
        qr/beacon_offset_relay.*garbage\.ident.*malformed/ ],
    [ 'identity file empty', 'beacon_zone x:1m;',
        "beacon_offset_relay identity=$dir/empty.ident;",
        qr/beacon_offset_relay.*empty\.ident/ ],
    [ 'identity key of 31 bytes', 'beacon_zone x:1m;',
        "beacon_offset_relay identity=$dir/short.ident;",
        qr/beacon_offset_relay.*short\.ident.*length/ ],
    [ 'identity file without privateKey', 'beacon_zone x:1m;',
        "beacon_offset_relay identity=$dir/nokey.ident;",
        qr/beacon_offset_relay.*nokey\.ident/ ],
    [ 'identity seed || wrong public key', 'beacon_zone x:1m;',
        "beacon_offset_relay identity=$dir/mismatch.ident;",
        qr/beacon_offset_relay.*mismatch\.ident.*match/ ],
    [ 'identity file is a directory', 'beacon_zone x:1m;',
        "beacon_offset_relay identity=$dir;",
        qr/beacon_offset_relay.*\Q$dir\E/ ],
    [ 'relay without identity', 'beacon_zone x:1m;',
        'beacon_offset_relay zone=x;', qr/beacon_offset_relay.*identity/ ],
    [ 'relay unknown parameter', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD foo=bar;",
        qr/beacon_offset_relay.*foo=bar/ ],
    [ 'relay duplicate', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_relay $GOOD;",
        qr/beacon_offset_relay/ ],
    [ 'relay without beacon_zone', '', "beacon_offset_relay $GOOD;",
        qr/beacon_offset_relay|beacon_zone/ ],
    [ 'relay zone=unknown', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD zone=unknown;",
        qr/beacon_offset_relay.*unknown|unknown.*beacon_offset_relay/ ],
    [ 'relay with several zones, none named',
        'beacon_zone x:1m; beacon_zone y:1m;', "beacon_offset_relay $GOOD;",
        qr/beacon_offset_relay/ ],
    [ 'relay on a UDP listener', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD;", qr/beacon_offset_relay/, 'udp' ],
    [ 'relay and proxy_pass', 'beacon_zone x:1m;',
        "proxy_pass 127.0.0.1:1; beacon_offset_relay $GOOD;",
        qr/beacon_offset_relay/ ],
    [ 'frame_max abc', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_frame_max abc;",
        qr/beacon_offset_frame_max/ ],
    [ 'frame_max 1k', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_frame_max 1k;",
        qr/beacon_offset_frame_max/ ],
    [ 'frame_max 1g', 'beacon_zone x:1m; beacon_offset_frame_max 1g;',
        "beacon_offset_relay $GOOD;", qr/beacon_offset_frame_max/ ],
    [ 'buffer 1k', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_buffer 1k;",
        qr/beacon_offset_buffer/ ],
    [ 'handshake_timeout abc', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_handshake_timeout abc;",
        qr/beacon_offset_handshake_timeout/ ],
    [ 'handshake_timeout 0', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_handshake_timeout 0;",
        qr/beacon_offset_handshake_timeout/ ],
    [ 'init_timeout abc', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_init_timeout abc;",
        qr/beacon_offset_init_timeout/ ],
    [ 'keepalive abc', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_keepalive abc;",
        qr/beacon_offset_keepalive/ ],
    [ 'idle_timeout 0', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_idle_timeout 0;",
        qr/beacon_offset_idle_timeout/ ],
    [ 'half_tunnel_timeout abc', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_half_tunnel_timeout abc;",
        qr/beacon_offset_half_tunnel_timeout/ ],
    [ 'rekey_interval abc', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_rekey_interval abc;",
        qr/beacon_offset_rekey_interval/ ],
    [ 'rekey_interval 500ms', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_rekey_interval 500ms;",
        qr/beacon_offset_rekey_interval/ ],
    [ 'padding 65536', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_padding 65536;",
        qr/beacon_offset_padding/ ],
    [ 'padding abc', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_padding abc;",
        qr/beacon_offset_padding/ ],
    [ 'handshakes abc', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_handshakes abc;",
        qr/beacon_offset_handshakes/ ],
    [ 'connections -1', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_connections -1;",
        qr/beacon_offset_connections/ ],
    [ 'connections_per_ip abc', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_connections_per_ip abc;",
        qr/beacon_offset_connections_per_ip/ ],
    [ 'listen_allow not a key', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_listen_allow notakey;",
        qr/beacon_offset_listen_allow.*notakey/ ],
    [ 'listen_allow a 31-byte key', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_listen_allow "
        . encode_base64url("\x01" x 31) . ';',
        qr/beacon_offset_listen_allow/ ],
    [ 'listen_allow base64 with + and /', 'beacon_zone x:1m;',
        "beacon_offset_relay $GOOD; beacon_offset_listen_allow "
        . ('+/' x 21) . 'A;', qr/beacon_offset_listen_allow/ ],
);

$t->plan(5 + 2 * @cases);

# errors found after parsing go to the configured error_log as well: keep
# them out of error.log, which must have no alerts

sub write_conf {
    my ($name, $text) = @_;

    $text = $t->expand($text);
    $text =~ s!(error_log \S+/)error\.log!${1}test_config.log!;

    $t->write_file($name, $text);
}

sub config {
    my ($main, $server, $udp) = @_;

    my $listen = $udp ? '127.0.0.1:%%PORT_8990_UDP%% udp reuseport'
        : '127.0.0.1:%%PORT_8990%% reuseport';

    return <<"EOF";

%%TEST_GLOBALS%%

daemon off;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    $main

    server {
        listen $listen;
        $server
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8081%%;
    }
}

EOF
}

# every directive, good values

write_conf('good.conf', config(
    'beacon_zone x:1m; beacon_zone y:1m;'
    . ' beacon_offset_keepalive 10s; beacon_offset_padding 0;',
    "beacon_offset_relay $GOOD zone=x;"
    . ' beacon_offset_frame_max 1m; beacon_offset_buffer 128k;'
    . ' beacon_offset_handshake_timeout 5s; beacon_offset_init_timeout 3s;'
    . ' beacon_offset_keepalive 8s; beacon_offset_idle_timeout 20s;'
    . ' beacon_offset_half_tunnel_timeout 20s;'
    . ' beacon_offset_rekey_interval 30m; beacon_offset_padding 65535;'
    . ' beacon_offset_handshakes 100; beacon_offset_connections 1000;'
    . ' beacon_offset_connections_per_ip 10;'
    . " beacon_offset_listen_allow $K1 $K2;"
    . " beacon_offset_listen_allow $K2;"));

my ($rc, $out) = $t->test_config('good.conf');
is($rc, 0, 'every directive accepted') or diag($out);

write_conf('good2.conf', config('beacon_zone x:1m;',
    "beacon_offset_relay $GOOD; beacon_offset_rekey_interval off;"
    . ' beacon_offset_connections 0; beacon_offset_connections_per_ip 0;'
    . ' beacon_offset_frame_max 64m;'));

($rc, $out) = $t->test_config('good2.conf');
is($rc, 0, 'rekey_interval off, no limits, frame_max 64m') or diag($out);

write_conf('seedpk.conf', config('beacon_zone x:1m;',
    "beacon_offset_relay identity=$dir/seedpk.ident;"));

($rc, $out) = $t->test_config('seedpk.conf');
is($rc, 0, 'identity of seed || public key accepted') or diag($out);

write_conf('legacy.conf', config('beacon_zone x:1m;',
    "beacon_offset_relay identity=$dir/legacy.ident;"));

($rc, $out) = $t->test_config('legacy.conf');
is($rc, 0, 'legacy PKCS#8 identity accepted') or diag($out);

write_conf('relative.conf', config('beacon_zone x:1m;',
    'beacon_offset_relay identity=good.ident;'));

($rc, $out) = $t->test_config('relative.conf');
is($rc, 0, 'identity path relative to the prefix') or diag($out);

my $i = 0;

foreach my $case (@cases) {
    my ($name, $main, $server, $re, $udp) = @$case;

    my $file = 'c' . $i++ . '.conf';
    write_conf($file, config($main, $server, $udp));

    ($rc, $out) = $t->test_config($file);

    isnt($rc, 0, "$name: refused");
    like($out, $re, "$name: message") or diag($out);
}

###############################################################################
