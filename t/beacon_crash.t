#!/usr/bin/perl

# Tests for ngx_beacon_module: a worker killed with SIGKILL (possibly while
# holding the zone lock, under traffic) is respawned by the master and
# every registration stays reachable.

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(13);

# nginx logs "worker process ... exited on signal 9" at the alert level
$t->todo_alerts();

$t->write_file_expand('nginx.conf',
    beacon_conf(zone => '2m', beacon => <<'EOF'));
beacon_reply_limit off;
beacon_register_limit off;
EOF

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

my %node = udp_nodes($B, { map { $_ => '127.0.0.' . (100 + $_) } 1 .. 20 });

my $S = dgram($B, local => '127.0.0.99');
$S->io(discover(100));

sub reachable { return relay_reachable($S, 100, \%node); }

# background traffic: registrations, refreshes, probes, relays to unknown
# ids, from several sockets, for a bounded time

sub traffic {
    my ($seconds) = @_;

    local $ENV{TEST_NGINX_VERBOSE};

    my @s = map { dgram($B, local => "127.0.2.$_") } 1 .. 8;
    my $deadline = time() + $seconds;
    my $i = 0;

    while (time() < $deadline && $i < 200000) {
        my $s = $s[$i % @s];
        my $k = $i++ % 4;

        $s->send($k == 0 ? discover(5000 + $i % 2000)
            : $k == 1 ? discover(0)
            : $k == 2 ? relay(5000 + $i % 2000, 90000 + $i % 100, 'x')
            : relay(5000 + ($i - 2) % 2000, 5000 + $i % 2000, 'y'));

        sleep 0.001 if $i % 50 == 0;
    }
}

sub kill_worker {
    my ($victim) = @_;

    my $daemon = $t->run_daemon(\&traffic, 1.5);

    sleep 0.5;
    kill 'KILL', $victim;

    # the master respawns a worker

    my $deadline = time() + 10;
    my @w;

    while (time() < $deadline) {
        @w = $t->worker_pids();
        last if @w == 2 && !grep { $_ == $victim } @w;
        sleep 0.05;
    }

    $t->stop_daemons();

    return @w == 2 && !grep { $_ == $victim } @w;
}

is(reachable(), 20, 'all reachable');

my @w = $t->worker_pids();
is(scalar @w, 2, 'two workers');

ok(kill_worker($w[0]), 'first worker killed and respawned');

is(reachable(), 20, 'after kill: all reachable');
cmp_ok(status($H)->{nodes}, '>=', 21, 'after kill: nodes kept');

# new registrations work

my $N = dgram($B, local => '127.0.0.98');
my ($r) = $N->io(discover(200));
is(tohex($r), tohex(reply_for($N)), 'after kill: new node registers');

$S->send(relay(100, 200, 'new'));
is(tohex($N->recv(2)), tohex(deliver(100, 'new')),
    'after kill: new node reachable');

# the other (original) worker too

ok(kill_worker($w[1]), 'second worker killed and respawned');

is(reachable(), 20, 'after second kill: all reachable');

$S->send(relay(100, 200, 'again'));
is(tohex($N->recv(2)), tohex(deliver(100, 'again')),
    'after second kill: new node reachable');

my @now = $t->worker_pids();
ok(!grep({ $_ == $w[0] || $_ == $w[1] } @now), 'both workers replaced');

# shutdown still works, and nothing but the two kills was alarming

$t->stop();

my @alerts = grep { /\[(alert|emerg|crit)\]|exited on signal/ }
    split /\n/, $t->read_file('error.log');
my @killed = grep { /exited on signal 9/ } @alerts;

is(scalar @killed, 2, 'two workers exited on signal 9');
is(join("\n", grep { !/exited on signal 9/ } @alerts), '',
    'no other alerts');

###############################################################################
