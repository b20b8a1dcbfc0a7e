#!/usr/bin/perl

# Tests for ngx_beacon_module: stream variables for log_format
# ($beacon_msg_type, $beacon_node_id, $beacon_dest_id, $beacon_action),
# logged by nginx's own access_log with "beacon_datapath sessions;", and
# no per-datagram log lines with the default batched datapath.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

use Time::HiRes qw/ sleep /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp beacon/)->plan(9);

$t->write_file_expand('nginx.conf',
    beacon_conf(status => 0, stream => <<'EOF'));
beacon_zone beacon:1m;

log_format beacon '$remote_addr $beacon_msg_type $beacon_node_id '
                  '$beacon_dest_id $beacon_action';

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    beacon on;
    beacon_datapath sessions;
    beacon_reply_limit off;
    access_log %%TESTDIR%%/beacon.log beacon;
}

server {
    listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
    beacon on;
    access_log %%TESTDIR%%/batched.log beacon;
}
EOF

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);

my $s = dgram($B);
my $d = dgram($B);

$s->io(discover(10));
$d->io(discover(20));
$s->io(discover(0));
$s->send(relay(10, 20, 'hi'));
$d->recv(2);
$s->send(relay(10, 99, 'hi'));
$s->send(hx('ff'));
$s->send(relay(11, 20, 'hi'));

my @lines;

for (1 .. 50) {
    @lines = split /\n/, ($t->read_file('beacon.log') // '');
    last if @lines >= 7;
    sleep 0.1;
}

# $d's one line may land anywhere among $s's: the two sockets can be on
# different workers, each writing its own lines in order

my $second = '127.0.0.1 discover 20 0 registered';
my @other = grep { $_ eq $second } @lines;
my @own = grep { $_ ne $second } @lines;

is($own[0], '127.0.0.1 discover 10 0 registered', 'discover: registered');
is(scalar @other, 1, 'second node');
is($own[1], '127.0.0.1 discover 0 0 probe', 'probe');
is($own[2], '127.0.0.1 relay 10 20 relayed', 'relay delivered');
is($own[3], '127.0.0.1 relay 10 99 not_found', 'relay not found');
is($own[4], '127.0.0.1 unknown 0 0 unknown_type', 'unknown type');
is($own[5], '127.0.0.1 relay 11 20 sender_mismatch', 'sender not bound');

# the batched datapath answers without sessions: nothing is logged

my $b = dgram('127.0.0.1:' . port(8981, udp => 1));
my ($r) = $b->io(discover(30));
ok(defined $r && length($r) == 8, 'batched: replied');
$t->stop();
is(-s $t->testdir() . '/batched.log' || 0, 0, 'batched: no log lines');

###############################################################################
