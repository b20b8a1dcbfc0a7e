#!/usr/bin/perl

# Tests for ngx_beacon_module: bridge peers that are gone while the bridge
# still handles what they sent, two use-after-free cases found by
# t/soak_hostile.t (visible under AddressSanitizer: TEST_NGINX_BINARY of a
# sanitizer build):
#   - a bad auth reply followed at once by a FIN or RST: the bridge answers
#     with a Close and finalizes the request, which frees it (and the
#     connection state in its pool) right there; the input loop must not
#     touch it afterwards;
#   - a logged-in peer relaying to itself and resetting: the delivery to its
#     own connection fails, and that connection must not be freed under the
#     input loop that is still parsing its frames (it is closed from its
#     write event instead).
# Every bad reply is counted once in compat.auth_fail, every connection is
# gone at the end, and the bridge keeps serving.  Also here, from the same
# soak: an empty binary message from a peer that has no message buffer yet
# (UBSan: memcpy to a null pointer, even of 0 bytes).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Compat;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = compat_nginx(8);

my ($crt, $key) = make_cert($t);

my %S = compat_keys($t, 5001 .. 5030);

$t->write_file_expand('nginx.conf', compat_conf(cert => [ $crt, $key ],
    http => 'beacon_compat_auth_fail_limit 0;', stream => <<'EOF'));
beacon_zone beacon:1m;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp;
    beacon on;
}
EOF

$t->run();

###############################################################################

my $P = port(8443);
my $H = port(8080);

my $c0 = ccounters($H, 'beacon');
my $n = 0;

# 40 peers: challenge, a reply with a bad signature, and gone at once
# (half with a FIN, half with a RST)

for my $i (1 .. 40) {
    my $c = ws();

    next unless $c->connect($P) && $c->upgrade()->{upgraded};
    next unless $c->challenge()->{challenge};

    $c->auth_reply($S{5001}, 5001, 'badsig');
    $c->disconnect($i % 2);
    $c->quit();

    $n++;
}

is($n, 40, '40 bad replies sent, each peer gone right after');
is(cdelta($H, 'beacon', $c0, 'compat.auth_fail', 40), 40,
    'each counted in compat.auth_fail');

# 20 peers logged in, each relaying 200 messages to itself, then a RST

$n = 0;

for my $id (5011 .. 5030) {
    my $c = ws_login($P, $id, $S{$id});
    next if $c->{failed};

    $c->cmd('many 200 hex:' . unpack('H*', relay($id, $id, 'x' x 1000)));
    $c->disconnect(1);
    $c->quit();

    $n++;
}

is($n, 20, '20 peers relayed to themselves and reset');
is(cwait($H, 'beacon', 'compat.connections', sub { $_[0] == 0 }, 5), 0,
    'their connections closed');

# the bridge still serves

my $c = ws_login($P, 5002, $S{5002});
ok(!$c->{failed}, 'a good login afterwards');

# an empty binary message as the first message (no message buffer yet):
# a failed login

my $e = ws();
$c0 = ccounters($H, 'beacon');

ok($e->connect($P) && $e->upgrade()->{upgraded}
    && $e->challenge()->{challenge}, 'another peer upgraded');
$e->binary('');
is($e->expect_close(3000)->{close}, 1008,
    'an empty binary message as the auth reply: closed (policy)');
$e->quit();
is(cwait($H, 'beacon', 'compat.connections', sub { $_[0] == 1 }, 5), 1,
    'only that connection open');

$c->close_ws(1000);
$c->quit();

###############################################################################
