#!/usr/bin/perl

# Tests for ngx_beacon_module: the one relay router behind both faces
# (issue 11, part 2).  A RELAY that comes over the compat bridge is
# decided by the same code as one over UDP: the same drops with the same
# counters, and with error_log at debug, the same decision lines (nginx
# is built --with-debug on Debian; the file skips otherwise).  Also the
# bridge's other decisions (login, frames not allowed) are logged.

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

my $t = Test::Nginx->new()
    ->has(qw/stream udp http http_ssl_module beacon openssl/);
has_wsc($t);

plan(skip_all => 'nginx built without --with-debug')
    unless `$Test::Nginx::NGINX -V 2>&1` =~ /--with-debug/;

$t->plan(21);

my ($crt, $key) = make_cert($t);

my %S = compat_keys($t, 1001 .. 1002);

$t->write_file_expand('nginx.conf', compat_conf(cert => [ $crt, $key ],
    main => 'error_log %%TESTDIR%%/debug.log debug;'));

$t->run();

###############################################################################

my $P = port(8443);
my $H = port(8080);
my $B = '127.0.0.1:' . port(8980, udp => 1);

# bounded wait for a line in the debug log

sub logged {
    my ($re) = @_;

    my $end = time() + 5;

    while (time() < $end) {
        my $log = $t->read_file('debug.log');
        return 1 if $log =~ $re;
        sleep 0.05;
    }

    return 0;
}

my $W = ws_login($P, 1001, $S{1001});
ok(!$W->{failed}, 'compat 1001 logged in');
ok(logged(qr/beacon compat login 1001, connection \d+/),
    'debug: the compat login');

my $U = dgram($B, local => '127.0.0.70');
my ($reply) = $U->io(discover(20));
ok(defined $reply, 'udp node 20 registered');
ok(logged(qr/beacon discover node 20 dest 0: registered/),
    'debug: udp discover, registered');

my $c0 = ccounters($H, 'beacon');

# bridge -> unknown: the router's not_found, counted and explained

$W->binary(relay(1001, 4242, 'nobody'));
is(cdelta($H, 'beacon', $c0, 'relay_not_found', 1), 1,
    'bridge -> unknown: relay_not_found +1');
ok(logged(qr/beacon relay 1001 -> 4242 dropped: not_found/),
    'debug: bridge relay dropped, not_found');

# bridge, another sender id: sender_mismatch and not allowed

$c0 = ccounters($H, 'beacon');

$W->binary(relay(1002, 20, 'not me'));
is(cdelta($H, 'beacon', $c0, 'relay_dropped.sender_mismatch', 1), 1,
    'bridge, foreign sender: sender_mismatch +1');
is(cdelta($H, 'beacon', $c0, 'compat.dropped.not_allowed', 1), 1,
    'bridge, foreign sender: dropped.not_allowed +1');
ok(logged(qr/beacon relay 1002 -> 20 dropped: sender_mismatch/),
    'debug: bridge relay dropped, sender_mismatch');
ok($U->expect_nothing(0.2), 'bridge, foreign sender: nothing delivered');

# bridge -> udp: relayed, the same line as from the udp face

$W->binary(relay(1001, 20, 'hi'));
is(tohex($U->recv(2)), tohex(deliver(1001, 'hi')), 'bridge -> udp');
ok(logged(qr/beacon relay 1001 -> 20: relayed, 2 bytes/),
    'debug: bridge relay relayed');

# udp -> bridge and udp -> unknown: the udp face, the same router

$U->send(relay(20, 1001, 'back'));
my $m = $W->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(20, 'back')), 'udp -> bridge');
ok(logged(qr/beacon relay 20 -> 1001: relayed, 4 bytes \(compat\)/),
    'debug: udp relay to a compat node');

$U->send(relay(20, 4343, 'nobody'));
ok(logged(qr/beacon relay 20 -> 4343 dropped: not_found/),
    'debug: udp relay dropped, not_found');

# the bridge's own drops: a SYNC is not allowed over it

$c0 = ccounters($H, 'beacon');

$W->binary(sync(0, 7777));
is(cdelta($H, 'beacon', $c0, 'compat.dropped.not_allowed', 1), 1,
    'bridge sync: dropped.not_allowed +1');
ok(logged(qr/beacon compat 1001 type 0x07 dropped: not_allowed/),
    'debug: bridge sync dropped, not_allowed');

# a frame that does not parse

$W->binary(hx('05 0000'));
ok(logged(qr/beacon compat 1001 frame dropped: malformed/),
    'debug: bridge frame dropped, malformed');
# the udp face's other decisions: a move at once throttled, a punch to
# nobody, one from the wrong address

my $U2 = dgram($B, local => '127.0.0.71');
($reply) = $U2->io(discover(20));
ok(logged(qr/beacon discover node 20 dest 0: throttled/),
    'debug: udp discover from a new address at once, throttled');

$U->send(punch(20, 4444));
ok(logged(qr/beacon punch_request node 20 dest 4444: not_found/),
    'debug: udp punch, not_found');

$U2->send(punch(20, 4445));
ok(logged(qr/beacon punch_request node 20 dest 4445: endpoint_mismatch/),
    'debug: udp punch from another address, endpoint_mismatch');

###############################################################################
