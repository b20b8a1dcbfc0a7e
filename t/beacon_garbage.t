#!/usr/bin/perl

# Tests for ngx_beacon_module: 10 000 random datagrams (random types biased
# towards beacon types, lengths around every parser boundary, some large)
# crash nothing, and normal service continues.

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(10);

$t->write_file_expand('nginx.conf',
    beacon_conf(zone => '4m', beacon => <<'EOF'));
beacon_punch_grants on;
beacon_punch_whitelist all;
EOF

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

my $seed = $ENV{TEST_BEACON_SEED} || 20261122;
srand($seed);
note("seed $seed");

my @workers = $t->worker_pids();
my $c0 = counters($H);

my @lengths = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 17, 18, 36, 37, 38,
    80, 81, 82, 100, 1400, 1500);

sub garbage {
    my ($i) = @_;

    my $len;
    my $r = rand();

    if ($i % 1000 == 999) {
        $len = 60000 + int(rand(5507));           # large, up to 65507

    } elsif ($r < 0.6) {
        $len = $lengths[int(rand(@lengths))];

    } else {
        $len = int(rand(300));
    }

    my $d = join('', map { chr(int(rand(256))) }
        1 .. ($len > 300 ? 300 : $len));
    $d .= "\0" x ($len - length($d)) if $len > length($d);

    # mostly beacon types; node ids from a small range so that relays and
    # punches sometimes find nodes registered by other garbage

    if ($len > 0 && rand() < 0.7) {
        substr($d, 0, 1) = chr(int(rand(12)));

        if ($len >= 5 && rand() < 0.5) {
            substr($d, 1, 4) = pack('N', int(rand(64)));
        }

        if ($len >= 9 && rand() < 0.5) {
            substr($d, 5, 4) = pack('N', int(rand(64)));
        }

        if ($len >= 7 && ord($d) == 7 && rand() < 0.5) {
            substr($d, 5, 2) = pack('n', int(rand(65536)));
        }
    }

    return $d;
}

my @s = map { dgram($B, local => "127.0.3.$_") } 1 .. 8;

{
    local $ENV{TEST_NGINX_VERBOSE};

    for my $i (0 .. 9999) {
        $s[$i % @s]->send(garbage($i));

        if ($i % 100 == 99) {
            $_->drain() foreach @s;
            sleep 0.002;
        }
    }

    ok(udp_drained(port(8980, udp => 1)), 'garbage read by nginx');
    $_->drain() foreach @s;
}

my @now = $t->worker_pids();
is("@now", "@workers", 'no worker crashed');

my ($code) = http_get($H, "/status");
is($code, 200, 'status after garbage');

my $c1 = counters($H);

my $got = ($c1->{datagrams} || 0) - ($c0->{datagrams} || 0);
cmp_ok($got, '>', 5000, "garbage received ($got)");

cmp_ok(($c1->{malformed} - $c0->{malformed})
    + ($c1->{unknown_type} - $c0->{unknown_type}), '>', 1000,
    'garbage counted as malformed or unknown');

# normal service

my $C = dgram($B, local => '127.0.0.50');
my $D = dgram($B, local => '127.0.0.51');

my ($r) = $C->io(discover(100001));
is(tohex($r), tohex(reply_for($C)), 'discover after garbage');

($r) = $D->io(discover(100002, hx(RFC_PUB)));
is(tohex($r), tohex(reply_for($D)), 'discover with key after garbage');

$C->send(relay(100001, 100002, 'alive'));
is(tohex($D->recv(2)), tohex(deliver(100001, 'alive')), 'relay after garbage');

$C->send(grant_request(RFC_SEED, 100001, 100002, int(time()) + 60));
is(tohex($C->recv(2)), tohex(command_for($D)), 'punch after garbage');
is(tohex($D->recv(2)), tohex(command_for($C)), 'punch target after garbage');

###############################################################################
