#!/usr/bin/perl

# Tests for ngx_beacon_module: a worker killed while it holds a stripe of
# the Offset pairing tables (offset/ngx_beacon_offset_state.c).  gdb stops
# the worker inside a Listen's insert (the stripe locked, its tree being
# changed) and kills it there; the worker the master starts next takes the
# stripe over from the dead pid, resets the half-changed stripe (one alert
# each), and the same key Listens and is notified again.  Without the
# takeover the new worker would wait for the lock forever (nginx's master
# only frees the slab mutex of a dead worker).
#
# Skipped without gdb (Debian: gdb) or when it cannot attach.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Offset;

use POSIX qw/ WNOHANG /;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream beacon/);
has_offset_node();

plan(skip_all => 'gdb not installed') unless `gdb --version 2>/dev/null`;

# the line of the Listen's insert, with the stripe locked and marked

my $src = "$FindBin::Bin/../ngx_beacon_module/offset/ngx_beacon_offset_state.c";
my $line;

open my $fh, '<', $src or die "$src: $!";
while (<$fh>) {
    if (/^\s+ngx_rbtree_insert\(tree, &n->node\);/) {
        $line = $.;
        last;
    }
}
close $fh;

plan(skip_all => "no insert line in $src") unless $line;

# the kill is logged as an alert: the alerts are checked below

$t->todo_alerts();

$t->plan(8);

write_ident($t);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 1;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:8m;

    server {
        listen 127.0.0.1:%%PORT_8990%%;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
    }
}

EOF

$t->run();

###############################################################################

my $P = port(8990);
my $d = $t->testdir();

node_ok(node($P, '-t', 10, 'notify'), 'Listen and notify before');

my ($victim) = $t->worker_pids();

# gdb: stop at the insert, then kill the worker there

my $gdb = fork();
die "fork: $!" unless defined $gdb;

if ($gdb == 0) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$d/gdb.out" or POSIX::_exit(127);
    open STDERR, '>&', \*STDOUT;
    exec 'gdb', '-q', '-nx', '-batch', '-p', $victim,
        '-ex', 'set pagination off',
        '-ex', 'set confirm off',
        '-ex', "break ngx_beacon_offset_state.c:$line",
        '-ex', 'continue',
        '-ex', 'kill'
        or POSIX::_exit(127);
}

# bounded wait for a condition

sub until_true {
    my ($secs, $cond) = @_;
    my $end = time() + $secs;
    while (time() < $end) {
        return 1 if $cond->();
        sleep 0.05;
    }
    return $cond->();
}

# once the breakpoint is set, any later Listen stops at it (one that
# comes before gdb continues the worker waits in the listen queue)

my $attached = until_true(20, sub {
    (eval { $t->read_file('gdb.out') } || '') =~ /^Breakpoint 1 at /m
});

SKIP: {
    skip 'gdb could not attach or set the breakpoint: '
        . (eval { $t->read_file('gdb.out') } || ''), 7 unless $attached;

    # this Listen stops the worker inside the insert; gdb kills it there

    my $r = node($P, '-t', 5, 'notify');

    my $gone = until_true(20, sub { waitpid($gdb, WNOHANG) == $gdb });
    kill 'KILL', $gdb unless $gone;
    waitpid($gdb, 0) unless $gone;

    my $out = eval { $t->read_file('gdb.out') } || '';
    ok($out =~ /Breakpoint 1, ngx_beacon_offset_put/,
        'the worker stopped inside a Listen\'s insert') or diag($out);

    ok(until_true(10, sub {
        my @w = $t->worker_pids();
        @w == 1 && $w[0] != $victim;
    }), 'killed there, and a new worker started');

    # the new worker: the same key, so the same stripe

    node_ok(node($P, '-t', 10, 'notify'),
        'the same key Listens and is notified after the kill');
    node_ok(node($P, '-t', 20, 'splice'), 'and a tunnel works');

    $t->stop();

    my $log = $t->read_file('error.log');

    ok($log =~ /\[alert\] .*Offset pairing stripe taken over from dead process $victim\b/,
        'alert: the stripe taken over from the dead worker');
    ok($log =~ /\[alert\] .*Offset pairing stripe reset: a process died while changing it/,
        'alert: the half-changed stripe reset');

    my @alerts = grep { /\[(alert|emerg|crit)\]|exited on signal/ }
        split /\n/, $log;
    is(join("\n", grep { !/exited on signal 9|Offset pairing stripe/ }
        @alerts), '', 'no other alert, crit or emerg');
}

###############################################################################
