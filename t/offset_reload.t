#!/usr/bin/perl

# Tests for ngx_beacon_module: the Offset relay across "nginx -s reload"
# with live tunnels, driven by t/tools/offset_node: two tunnels are set up
# and held, nginx reloads, then they move 8 MiB each way (they must finish
# byte-exact or be closed cleanly); Listen connections of the old workers
# are closed at once; new tunnels work on the new workers; the old workers
# exit once their tunnels end; the counters survive the reload.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Offset;

use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream http beacon/);
has_offset_node();

$t->plan(12);

write_ident($t);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;
worker_shutdown_timeout 60s;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:8m;

    server {
        listen 127.0.0.1:%%PORT_8990%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_keepalive 3s;
        beacon_offset_idle_timeout 10s;
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8081%%;

        location = /status {
            beacon_status;
        }
    }
}

EOF

$t->run();

###############################################################################

my $P = port(8990);
my $H = port(8081);

my @hold = map {
    node_spawn($P, { stdin => 1 }, '-t', 60, '-b', '8M', '-c',
        '-s', sprintf('%064x', 0x401d00 + $_), 'hold')
} 1 .. 2;

my $ready = grep { node_wait_line($_, qr/^# ready$/m, 20) } @hold;
is($ready, 2, 'two tunnels up and held');

my $before = offset_wait($H, sub { $_[0]->{tunnels} == 2 }, 5);
is($before && $before->{tunnels}, 2, 'tunnels gauge: 2');

# a silent listener: the old worker closes it at once on reload
my $listener = node_spawn($P, '-t', 20, 'keepalive');
my $listening = offset_wait($H,
    sub { $_[0]->{listens} > $before->{listens} }, 10);
ok($listening && $listening->{listens} > $before->{listens},
    'the listener has sent its Listen');

my @old = $t->worker_pids();
my $t_reload = time();
kill 'HUP', $t->master_pid();

my @new;
my $deadline = time() + 10;

while (time() < $deadline) {
    my %old = map { $_ => 1 } @old;
    @new = grep { !$old{$_} } $t->worker_pids();
    last if @new >= 2;
    sleep 0.05;
}

is(scalar @new, 2, 'reloaded: two new workers');

node_go($_) foreach @hold;

foreach my $i (0 .. $#hold) {
    my $r = node_wait($hold[$i], 90);
    node_ok($r, "held tunnel $i after the reload: finished byte-exact or "
        . "closed cleanly");
    diag("tunnel $i: " . (grep({ /byte-exact/ } @{$r->{ok}})
        ? 'finished' : 'closed')) if $ENV{TEST_NGINX_VERBOSE};
}

my $r = node_wait($listener, 30);
my $v = node_note($r, 'closed_after');
ok(@{$r->{ok}} && defined $v && $v < time() - $t_reload + 3 && $v < 5,
    'a Listen connection of an old worker is closed at the reload')
    or diag("closed_after " . ($v // 'none') . "\n$r->{out}");

node_ok(node($P, '-t', 30, '-n', 4, '-b', '1M', 'splice'),
    'new tunnels after the reload');
node_ok(node($P, '-t', 10, 'proof'), 'handshakes after the reload');

# the old workers leave once their tunnels are done

$deadline = time() + 15;

while (time() < $deadline) {
    my %new = map { $_ => 1 } @new;
    last unless grep { !$new{$_} } $t->worker_pids(all => 1);
    sleep 0.1;
}

my %new = map { $_ => 1 } @new;
is(scalar(grep { !$new{$_} } $t->worker_pids(all => 1)), 0,
    'the old workers exit');

my $o = offset_wait($H, sub { $_[0]->{connections} == 0 }, 8);

ok($o && $o->{connections} == 0 && $o->{tunnels} == 0
    && $o->{listeners} == 0, 'gauges back to 0') or diag(explain($o));
ok($o && $o->{tunnels_total} >= $before->{tunnels_total} + 4
    && $o->{connections_total} > $before->{connections_total},
    'counters survive the reload') or diag(explain($o));

###############################################################################
