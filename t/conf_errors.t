#!/usr/bin/perl

# Tests for ngx_beacon_module: "nginx -t" accepts a configuration using
# every directive, and rejects bad configurations with the message nginx
# prints, naming the directive (and, for key files, the file and line).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream http beacon/);

my $dir = $t->testdir();

$t->write_file('keys-good', "# comment\n\n1 " . b64("\x01" x 32) . "\n"
    . "4294967295 " . b64("\x02" x 32) . "\n");
$t->write_file('keys-bad-line', "1 " . b64("\x01" x 32) . "\nnot a key line\n");
$t->write_file('keys-short-key', "7 " . b64("\x01" x 31) . "\n");
$t->write_file('keys-bad-id', "1 " . b64("\x01" x 32) . "\n"
    . "# ok\n" . "x12 " . b64("\x01" x 32) . "\n");

# [ name, stream main, server, http location, expected message ]

my @cases = (
    [ 'beacon without zone', '', 'beacon on;', '',
        qr/"beacon" directive in \S+:\d+ requires a "beacon_zone" in the stream block/ ],
    [ 'zone bad size', 'beacon_zone x:abc;', '', '',
        qr/"beacon_zone" directive: invalid zone size "x:abc"/ ],
    [ 'zone missing size', 'beacon_zone x;', '', '',
        qr/"beacon_zone" directive: invalid zone "x", expected NAME:SIZE/ ],
    [ 'zone empty name', 'beacon_zone :1m;', '', '',
        qr/"beacon_zone" directive: invalid zone ":1m", expected NAME:SIZE/ ],
    [ 'zone too small', 'beacon_zone x:8k;', '', '',
        qr/"beacon_zone" directive: zone "x:8k" is too small \(at least 256k\)/ ],
    [ 'zone duplicate', 'beacon_zone x:1m; beacon_zone x:1m;', '', '',
        qr/"beacon_zone" directive: zone "x" is already declared/ ],
    [ 'zone duplicate, other size', 'beacon_zone x:1m; beacon_zone x:2m;',
        '', '', qr/the size 2097152 of shared memory zone "x" conflicts with already declared size 1048576/ ],
    [ 'zone max_nodes=0', 'beacon_zone x:64m max_nodes=0;', '', '',
        qr/"beacon_zone" directive: invalid max_nodes "max_nodes=0"/ ],
    [ 'zone max_nodes=abc', 'beacon_zone x:1m max_nodes=abc;', '', '',
        qr/"beacon_zone" directive: invalid max_nodes "max_nodes=abc"/ ],
    [ 'zone node_ttl=abc', 'beacon_zone x:1m node_ttl=abc;', '', '',
        qr/"beacon_zone" directive: invalid node_ttl "node_ttl=abc" \(1s to 1d\)/ ],
    [ 'zone node_ttl=0', 'beacon_zone x:1m node_ttl=0;', '', '',
        qr/"beacon_zone" directive: invalid node_ttl "node_ttl=0" \(1s to 1d\)/ ],
    [ 'zone unknown parameter', 'beacon_zone x:1m foo=bar;', '', '',
        qr/"beacon_zone" directive: invalid parameter "foo=bar"/ ],
    [ 'zone state= empty', 'beacon_zone x:1m state=;', '', '',
        qr/"beacon_zone" directive: invalid state "state="/ ],
    [ 'zone in server', 'beacon_zone x:1m;', 'beacon_zone y:1m; beacon on;',
        '', qr/"beacon_zone" directive is not allowed here/ ],
    [ 'relay_limit -1', 'beacon_zone x:1m;',
        'beacon on; beacon_relay_limit -1;', '',
        qr/"beacon_relay_limit" directive invalid number/ ],
    [ 'relay_limit abc', 'beacon_zone x:1m;',
        'beacon on; beacon_relay_limit abc;', '',
        qr/"beacon_relay_limit" directive invalid number/ ],
    [ 'relay_bind_sender maybe', 'beacon_zone x:1m;',
        'beacon on; beacon_relay_bind_sender maybe;', '',
        qr/invalid value "maybe" in "beacon_relay_bind_sender" directive, it must be "on" or "off"/ ],
    [ 'punch_limit global=abc', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_limit global=abc;', '',
        qr/"beacon_punch_limit" directive: invalid parameter "global=abc", expected "global=N", "per_ip=N"/ ],
    [ 'punch_limit per_ip=-1', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_limit global=10 per_ip=-1;', '',
        qr/"beacon_punch_limit" directive: invalid parameter "per_ip=-1"/ ],
    [ 'punch_limit burst=0', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_limit per_ip=1 burst=0;', '',
        qr/"beacon_punch_limit" directive: invalid burst "burst=0"/ ],
    [ 'punch_limit burst=abc', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_limit burst=abc;', '',
        qr/"beacon_punch_limit" directive: invalid burst "burst=abc"/ ],
    [ 'punch_limit global_burst=0', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_limit global_burst=0;', '',
        qr/"beacon_punch_limit" directive: invalid burst "global_burst=0"/ ],
    [ 'punch_limit global_burst too big', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_limit global_burst=1000001;', '',
        qr/"beacon_punch_limit" directive: invalid burst/ ],
    [ 'punch_limit unknown', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_limit bogus=1;', '',
        qr/"beacon_punch_limit" directive: invalid parameter "bogus=1"/ ],
    [ 'punch_whitelist bad address', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_whitelist 300.1.1.1;', '',
        qr/"beacon_punch_whitelist" directive: invalid address "300\.1\.1\.1"/ ],
    [ 'punch_grants max_lifetime=0', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_grants on max_lifetime=0;', '',
        qr/"beacon_punch_grants" directive: invalid max_lifetime "max_lifetime=0"/ ],
    [ 'punch_grants maybe', 'beacon_zone x:1m;',
        'beacon on; beacon_punch_grants maybe;', '',
        qr/"beacon_punch_grants" directive: invalid value "maybe", expected "on" or "off"/ ],
    [ 'key_file missing', 'beacon_zone x:1m;',
        'beacon on; beacon_key_file /nonexistent/beacon-keys;', '',
        qr/"beacon_key_file" directive: open\(\) "\/nonexistent\/beacon-keys" failed/ ],
    [ 'key_file malformed line', 'beacon_zone x:1m;',
        "beacon on; beacon_key_file $dir/keys-bad-line;", '',
        qr/"beacon_key_file" directive: key file "\Q$dir\E\/keys-bad-line", line 2: expected "<node_id> <base64 Ed25519 key>"/ ],
    [ 'key_file short key', 'beacon_zone x:1m;',
        "beacon on; beacon_key_file $dir/keys-short-key;", '',
        qr/"beacon_key_file" directive: key file "\Q$dir\E\/keys-short-key", line 1: expected/ ],
    [ 'key_file bad id', 'beacon_zone x:1m;',
        "beacon on; beacon_key_file $dir/keys-bad-id;", '',
        qr/"beacon_key_file" directive: key file "\Q$dir\E\/keys-bad-id", line 3: expected/ ],
    [ 'reply_limit rate=0', 'beacon_zone x:1m;',
        'beacon on; beacon_reply_limit rate=0;', '',
        qr/"beacon_reply_limit" directive: invalid parameter "rate=0", expected "rate=N" \(per second, at least 1\), "burst=N" or "off"/ ],
    [ 'reply_limit burst=abc', 'beacon_zone x:1m;',
        'beacon on; beacon_reply_limit rate=10 burst=abc;', '',
        qr/"beacon_reply_limit" directive: invalid parameter "burst=abc"/ ],
    [ 'register_limit rate=0', 'beacon_zone x:1m;',
        'beacon on; beacon_register_limit rate=0;', '',
        qr/"beacon_register_limit" directive: invalid parameter "rate=0"/ ],
    [ 'endpoint_throttle abc', 'beacon_zone x:1m;',
        'beacon on; beacon_endpoint_throttle abc;', '',
        qr/"beacon_endpoint_throttle" directive invalid value/ ],
    [ 'datapath foo', 'beacon_zone x:1m;',
        'beacon on; beacon_datapath foo;', '',
        qr/"beacon_datapath" directive: invalid value "foo", expected "batched" or "sessions"/ ],
    [ 'beacon_id abc', 'beacon_zone x:1m;',
        'beacon on; beacon_id abc;', '',
        qr/"beacon_id" directive invalid number/ ],
    [ 'beacon maybe', 'beacon_zone x:1m;', 'beacon maybe;', '',
        qr/"beacon" directive: invalid parameter "maybe", expected "on", "off" or "zone=NAME"/ ],
    [ 'beacon zone=unknown', 'beacon_zone x:1m;', 'beacon zone=unknown;', '',
        qr/"beacon" directive in \S+:\d+: unknown zone "unknown" \(not declared by "beacon_zone"\)/ ],
    [ 'beacon on with several zones', 'beacon_zone x:1m; beacon_zone y:1m;',
        'beacon on;', '',
        qr/"beacon" directive in \S+:\d+ must name its zone with "zone=" when several "beacon_zone" are declared/ ],
    [ 'beacon_status zone=unknown', 'beacon_zone x:1m;', 'beacon on;',
        'beacon_status zone=unknown;',
        qr/"beacon_status" directive in \S+:\d+: unknown zone "unknown" \(not declared by "beacon_zone"\)/ ],
    [ 'beacon_stun bad value', 'beacon_zone x:1m;',
        'beacon on; beacon_stun maybe;', '',
        qr/"beacon_stun" directive: invalid value "maybe", expected "on", "off" or "only"/ ],
    [ 'beacon_stun without beacon', 'beacon_zone x:1m;',
        'proxy_pass 127.0.0.1:1; beacon_stun only;', '',
        qr/"beacon_stun" requires "beacon" in the same server/ ],
    [ 'beacon_stun_rfc5780 bad address', 'beacon_zone x:1m;',
        'beacon on; beacon_stun only; beacon_stun_rfc5780 1.2.3 1.2.3.4:5;',
        '', qr/"beacon_stun_rfc5780" directive: expects two ip:port, got "1\.2\.3" "1\.2\.3\.4:5"/ ],
    [ 'beacon_stun_rfc5780 same port', 'beacon_zone x:1m;',
        'beacon on; beacon_stun only;'
        . ' beacon_stun_rfc5780 127.0.0.1:5 127.0.0.2:5;',
        '', qr/"beacon_stun_rfc5780" directive: the primary and the alternate must differ in both address and port, in the same family/ ],
    [ 'beacon_stun_software too long', 'beacon_zone x:1m;',
        'beacon on; beacon_stun on; beacon_stun_software ' . ('x' x 129)
        . ';', '', qr/"beacon_stun_software" must not exceed 128 bytes/ ],
);

# a TCP listener is not a beacon

push @cases, [ 'beacon on a TCP listener', 'beacon_zone x:1m;', 'beacon on;',
    '', qr/"beacon" directive in \S+:\d+ requires "listen \.\.\. udp", but "127\.0\.0\.1:\d+" is TCP/,
    'tcp' ];

$t->plan(2 + 2 * @cases);

# errors found after parsing go to the configured error_log as well: keep
# them out of error.log, which must have no alerts

sub write_conf {
    my ($name, $text) = @_;

    $text = $t->expand($text);
    $text =~ s!(error_log \S+/)error\.log!${1}test_config.log!;

    $t->write_file($name, $text);
}

sub config {
    my ($main, $server, $location, $tcp) = @_;

    my $listen = $tcp ? '127.0.0.1:%%PORT_8990%%'
        : '127.0.0.1:%%PORT_8980_UDP%% udp reuseport';

    $location = "location = /status { $location }" if $location ne '';

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
        listen 127.0.0.1:%%PORT_8080%%;
        $location
    }
}

EOF
}

# every directive, correct

write_conf('good.conf', config(
    'beacon_zone a:1m max_nodes=1000 node_ttl=5m; beacon_zone b:1m;',
    'beacon zone=a; beacon_id 7; beacon_endpoint_throttle 30s;'
    . ' beacon_relay_limit 4000; beacon_relay_bind_sender off;'
    . ' beacon_punch_limit global=10 per_ip=1 burst=8 global_burst=20;'
    . ' beacon_punch_whitelist 127.0.0.5 10.0.0.0/8 ::1 fd00::/8;'
    . ' beacon_punch_grants on max_lifetime=120s;'
    . " beacon_key_file $dir/keys-good;"
    . ' beacon_reply_limit rate=100 burst=200;'
    . ' beacon_register_limit off; beacon_datapath sessions;'
    . ' beacon_stun on; beacon_stun_software "nginx";',
    'beacon_status zone=b;'));

my ($rc, $out) = $t->test_config('good.conf');
is($rc, 0, 'every directive accepted') or diag($out);

write_conf('good2.conf', config(
    'beacon_zone a:1m;',
    'beacon on; beacon_relay_limit 0;'
    . ' beacon_punch_limit global=0 per_ip=0; beacon_punch_whitelist all;'
    . ' beacon_punch_grants off; beacon_reply_limit off;'
    . ' beacon_register_limit rate=10 burst=100;'
    . ' beacon_endpoint_throttle 0; beacon_datapath batched; beacon_stun only;'
    . ' beacon_stun_rfc5780 127.0.0.1:3478 127.0.0.2:3479;',
    'beacon_status;'));

($rc, $out) = $t->test_config('good2.conf');
is($rc, 0, 'other values accepted') or diag($out);

my $i = 0;

foreach my $case (@cases) {
    my ($name, $main, $server, $location, $re, $tcp) = @$case;

    my $file = 'c' . $i++ . '.conf';
    write_conf($file, config($main, $server, $location, $tcp));

    ($rc, $out) = $t->test_config($file);

    isnt($rc, 0, "$name: rejected");
    like($out, $re, "$name: message") or diag($out);
}

###############################################################################
