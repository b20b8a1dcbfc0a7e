#!/usr/bin/perl

# Tests for ngx_beacon_module: the reaper and the other workers' clocks.
# Each worker has its own cached clock (ngx_current_msec, updated once per
# pass of its event loop), so a node refreshed by one worker can carry a
# stamp a few milliseconds ahead of the reaping worker's "now".  Such a
# node is fresh, not 2^32 ms old: before the fix the reaper removed it
# (seen in the hostile soak under the sanitizers, a live flow's node gone
# until its next DISCOVER).
#
# gdb stops the lease holder inside ngx_beacon_shm_expire(), after its
# clock was read for this pass; meanwhile the other worker registers a
# node (its clock is later); then the reaper goes on.  The node must stay.

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

my $gdb = `command -v gdb 2>/dev/null`;
chomp $gdb;

plan(skip_all => 'gdb not installed (make test-deps)') unless $gdb;

my $probe = ($ENV{TEST_BEACON_BUILD} || "$FindBin::Bin/../build")
    . '/beacon-probe';
plan(skip_all => "beacon-probe not built: $probe") unless -x $probe;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(7);

# no reuseport: both workers read the one socket, so a DISCOVER sent while
# the reaper is stopped reaches the other worker

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:1m;

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp;
        beacon on;
        beacon_reply_limit off;
        beacon_register_limit off;
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8080%%;

        location /status {
            beacon_status;
        }
    }
}

EOF

$t->run();

###############################################################################

my $P = port(8980, udp => 1);
my $H = port(8080);
my $dir = $t->testdir();

sub gdb {
    my ($pid, @cmd) = @_;

    $t->write_file('gdb.cmd', join("\n", @cmd, 'detach', 'quit') . "\n");
    return `$gdb -q -batch -nx -p $pid -x $dir/gdb.cmd 2>&1`;
}

# the lease holder, as the zone records it

my @w = $t->worker_pids();
my $holder;
my $deadline = time() + 10;

while (time() < $deadline) {
    my $out = gdb($w[0],
        'set $part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part',
        'set $z = (ngx_beacon_zone_t *) '
            . '((ngx_shm_zone_t *) $part->elts)[0].data',
        'printf "lease %d\n", $z->sh->lease_pid');

    ($holder) = $out =~ /^lease (\d+)$/m;
    last if $holder && grep { $_ == $holder } @w;
    sleep 0.2;
}

ok($holder && grep({ $_ == $holder } @w), 'a worker holds the reaping lease')
    or diag("workers @w, holder " . ($holder // 'none'));

my ($other) = grep { $_ != ($holder // 0) } @w;

# stopped in the reaper, with its clock read: the other worker registers
# node 4242 (its clock now later), then the reaper goes on

my $out = gdb($holder,
    'break ngx_beacon_shm_expire',
    'continue',
    'shell sleep 0.2',
    "shell '$probe' -n 4242 -t 3 127.0.0.1:$P > $dir/probe.out 2>&1;"
        . " echo \"probe exit \$?\" >> $dir/probe.out",
    'shell sleep 0.2',
    'delete');

like($out, qr/Breakpoint 1, .*ngx_beacon_shm_expire/,
    'the reaper stopped in ngx_beacon_shm_expire') or diag($out);
like($t->read_file('probe.out'), qr/probe exit 0/,
    'the other worker registered node 4242 meanwhile')
    or diag($t->read_file('probe.out'));

# the reaper's pass is over once it ran again (every second)

my $c;
$deadline = time() + 5;

while (time() < $deadline) {
    $c = counters($H);
    last if $c && $c->{nodes} == 1 && $c->{expired} == 0
        && time() > $deadline - 3;
    last if $c && $c->{expired};
    sleep 0.1;
}

is($c && $c->{expired}, 0, 'the reaper expired nothing');
is($c && $c->{nodes}, 1, 'node 4242 is still in the zone');

# and it answers as registered: a second DISCOVER refreshes it

my $s = dgram("127.0.0.1:$P");
$s->send(discover(4242));
my ($r) = $s->recv(3);
ok(defined $r && ord($r) == 2, 'node 4242 answers a DISCOVER');
is(counters($H)->{nodes}, 1, 'still one node');

###############################################################################
