#!/usr/bin/perl

# Tests for ngx_beacon_module: DISCOVER / DISCOVER_REPLY (spec scenarios
# 1-3, 5-9), probes (node 0), endpoint-write throttle and refresh,
# inbound types the beacon must drop.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

use Socket qw/ AF_INET inet_pton /;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(41);

$t->write_file_expand('nginx.conf',
    beacon_conf(beacon => 'beacon_endpoint_throttle 2s;'));

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

my ($r, $ip, $port, $c0);

# 1. DISCOVER: reply with the observed source, from the beacon's address

my $c = dgram($B);

($r, $ip, $port) = $c->io(hx('01 0000002a'));
is(tohex($r), tohex(reply_for($c)), 'discover reply');
is("$ip:$port", $B, 'discover reply source');
is(tohex($r), '02047f000001' . sprintf('%04x', $c->sockport()),
    'discover reply bytes');

# 2. short DISCOVER

$c0 = counters($H);
$c->send(hx('01 000000'));
ok($c->expect_nothing(), 'short discover: no reply');
is(counter_delta($H, undef, $c0, 'malformed', 1), 1, 'short discover counted');
is(counter_delta($H, undef, $c0, 'nodes'), 0, 'short discover: no node');

# 3. trailing bytes are ignored

($r) = $c->io(hx('01 0000002a') . "\0" x 15);
is(tohex($r), tohex(reply_for($c)), 'discover with 15 trailing bytes');

# node 42 maps to C: a relay from a registered sender reaches C

my $s = dgram($B);
$s->io(discover(1));

$s->send(relay(1, 42, 'x'));
($r, $ip, $port) = $c->recv(2);
is(tohex($r), tohex(deliver(1, 'x')), 'node 42 maps to C');
is("$ip:$port", $B, 'delivery source');

# 5. an address hint in the payload is never used

my $hint = dgram($B);

($r) = $c->io(hx('01 00000bbc') . inet_pton(AF_INET, '127.0.0.1')
    . pack('n', $hint->sockport()));
is(tohex($r), tohex(reply_for($c)), 'hint: reply names the source');

$s->send(relay(1, 3004, 'h'));
is(tohex($c->recv(2)), tohex(deliver(1, 'h')), 'hint: node 3004 maps to C');
ok($hint->expect_nothing(0.3), 'hint: nothing to the hinted address');

# 6. endpoint throttle: another endpoint gets its reply but does not move
# the node

my $d = dgram($B, local => '127.0.0.2');

$c0 = counters($H);
($r, $ip, $port) = $d->io(discover(42));
is(tohex($r), tohex(reply_for($d)), 'throttled: reply names D');
is("$ip:$port", $B, 'throttled: reply source');
is(counter_delta($H, undef, $c0, 'discover_throttled', 1), 1,
    'throttled counted');

$s->send(relay(1, 42, 't'));
is(tohex($c->recv(2)), tohex(deliver(1, 't')), 'throttled: node 42 still at C');
ok($d->expect_nothing(0.3), 'throttled: nothing to D');

# a refresh from the same endpoint is not throttled

$c0 = counters($H);
($r) = $c->io(discover(42));
is(tohex($r), tohex(reply_for($c)), 'refresh: reply');
is(counter_delta($H, undef, $c0, 'discover_throttled'), 0,
    'refresh: not throttled');

# after the throttle window another endpoint may take the id (reference
# behaviour, W2)

sleep 2.3;

$c0 = counters($H);
($r) = $d->io(discover(42));
is(tohex($r), tohex(reply_for($d)), 'after window: reply');
is(counter_delta($H, undef, $c0, 'discover_throttled'), 0,
    'after window: not throttled');

$s->send(relay(1, 42, 'm'));
is(tohex($d->recv(2)), tohex(deliver(1, 'm')), 'after window: node 42 at D');
ok($c->expect_nothing(0.3), 'after window: nothing to C');

# 7. pre-emptive claim of a never-seen id (reference behaviour)

$d->io(discover(770001));
$s->send(relay(1, 770001, 'p'));
is(tohex($d->recv(2)), tohex(deliver(1, 'p')), 'pre-emptive claim');

# node 0: a probe gets its reply but is never registered

my $probe = dgram($B, local => '127.0.0.3');

$c0 = counters($H);
($r, $ip, $port) = $probe->io(discover(0));
is(tohex($r), tohex(reply_for($probe)), 'probe reply');
is(counter_delta($H, undef, $c0, 'probes', 1), 1, 'probe counted');
is(counter_delta($H, undef, $c0, 'nodes'), 0, 'probe not registered');

$c0 = counters($H);
$s->send(relay(1, 0, 'z'));
ok($probe->expect_nothing(), 'no relay to node 0');
is(counter_delta($H, undef, $c0, 'relay_not_found', 1), 1,
    'relay to node 0 not found');

# 9. empty and short datagrams, unknown types

$c0 = counters($H);

$c->send($_) foreach ('', hx('01'), hx('03'), hx('05'), hx('07'), hx('00'),
    hx('ff'), hx('ff 000000'));

ok($c->expect_nothing(0.6), 'garbage: no reply');
is(counter_delta($H, undef, $c0, 'datagrams', 8), 8, 'garbage: datagrams');
is(counter_delta($H, undef, $c0, 'unknown_type', 3), 3,
    'garbage: unknown types');
cmp_ok(counter_delta($H, undef, $c0, 'malformed', 3), '>=', 3,
    'garbage: malformed');
is(counter_delta($H, undef, $c0, 'relay_dropped.malformed', 1), 1,
    'garbage: short relay');

# the beacon's own outbound types and reserved ones, well formed

$c0 = counters($H);

$c->send($_) foreach (reply_for($c), command_for($c), deliver(1, 'abcd'),
    deliver_dest(1, 42, 'abcd'), hx('0a 01'), hx('0b 0000002a'),
    hx('50494c50'));

ok($c->expect_nothing(0.3) && $d->expect_nothing(0.3),
    'outbound and reserved types: nothing sent');
is(counter_delta($H, undef, $c0, 'unknown_type', 7), 7,
    'outbound and reserved types counted');

# SYNC is gossip: counted, nothing is sent back

$c0 = counters($H);
$c->send(sync(2, 100, 200, 300));
ok($c->expect_nothing(0.3), 'sync: nothing sent');
is(counter_delta($H, undef, $c0, 'sync_received', 1), 1, 'sync received');

# service continues

($r) = $c->io(discover(42));
is(tohex($r), tohex(reply_for($c)), 'discover after garbage');

# status

my $z = status($H);
is($z->{nodes}, 4, 'nodes: 42, 1, 3004, 770001');

my $sum = 0;
$sum += $_->{datagrams} foreach @{$z->{workers}};
is($sum, $z->{datagrams}, 'per-worker datagrams add up');

###############################################################################
