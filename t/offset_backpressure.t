#!/usr/bin/perl

# Tests for ngx_beacon_module: backpressure through an Offset relay tunnel
# (2 workers).  t/tools/offset_node's slow-reader scenario offers 256 MiB
# from A while B does not read its socket: A must get blocked and the
# workers' memory must stay bounded (beacon_offset_buffer 64k; then the
# default 256k with 128 MiB offered); once B reads, every byte arrives in
# order and B->A still works.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Offset;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream http beacon/);
has_offset_node();

plan(skip_all => 'no /proc') unless -r "/proc/$$/status";

$t->plan(13);

write_ident($t);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:8m;

    # no keepalive from the relay during a run: a write wakeup lost after
    # the stall would not be covered up by a timer (the node then fails
    # with "not done within -t")
    beacon_offset_keepalive 50s;

    # B does not read for seconds: neither hop may time out meanwhile
    beacon_offset_idle_timeout 60s;

    server {
        listen 127.0.0.1:%%PORT_8990%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_buffer 64k;
    }

    # the default buffer (256k)
    server {
        listen 127.0.0.1:%%PORT_8991%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
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
my $D = port(8991);
my $H = port(8081);

my $MiB = 1024 * 1024;

# what the kernel may hold between A and B while B does not read: A's
# send buffer, the relay's receive buffer (autotuned, it reads A), its send
# buffer towards B and B's receive buffer (not autotuned: B does not read);
# at least 64 MiB

sub sysctl {
	my ($name, $i) = @_;
	open my $fh, '<', "/proc/sys/net/$name" or return 0;
	my @v = split ' ', scalar(<$fh>) // '';
	close $fh;
	return $v[$i] // 0;
}

my $inflight = 2 * sysctl('ipv4/tcp_wmem', 2) + sysctl('ipv4/tcp_rmem', 2)
    + sysctl('ipv4/tcp_rmem', 1) + 8 * $MiB;
my $LIMIT = $inflight > 64 * $MiB ? $inflight : 64 * $MiB;

# the sum of the workers' VmRSS, in bytes, and the workers

sub rss {
	my @w = $t->worker_pids();
	my $sum = 0;

	foreach my $pid (@w) {
		open my $fh, '<', "/proc/$pid/status" or return (undef, '');
		while (<$fh>) {
			$sum += $1 * 1024 if /^VmRSS:\s+(\d+)\s+kB/;
		}
		close $fh;
	}

	return ($sum, "@w");
}

# slow-reader: the node's result, the RSS growth while A was blocked and
# whether "# ready" came

sub slow_reader {
	my ($port, $bytes, $base) = @_;

	my $h = node_spawn($port, { stdin => 1 }, '-t', 40, '-b', $bytes,
		'slow-reader');

	my $ready = node_wait_line($h, qr/^# ready$/m, 60);
	my ($rss, $w) = rss();

	node_go($h);
	my $r = node_wait($h, 90);

	my $growth = $ready && defined $rss && defined $base->[0]
		&& $w eq $base->[1] ? $rss - $base->[0] : undef;

	diag(sprintf('%s: stalled_bytes %s, later %s, at go %s, worker RSS '
		. '+%.1f MiB, drain %s s', $bytes,
		map({ node_note($r, $_) // '?' } qw/ stalled_bytes
			stalled_bytes_later stalled_bytes_go /),
		($growth // 0) / $MiB, node_note($r, 'drain_seconds') // '?'))
		if $ENV{TEST_NGINX_VERBOSE};

	return ($r, $ready, $growth);
}

my $before = offset_status($H);

# warm-up: both workers have spliced, their pools are allocated

node_ok(node($P, '-t', 30, '-n', 4, '-b', '4M', 'splice'),
    'warm-up: 4 tunnels, 4 MiB each way');

my @base = rss();

# beacon_offset_buffer 64k, 256 MiB offered

my ($r, $ready, $growth) = slow_reader($P, '256M', \@base);

ok($ready, 'A blocked, B not reading: ready') or diag(explain($r));

ok(defined $growth && $growth < 24 * $MiB,
    'workers\' RSS grew by less than 24 MiB while 256 MiB were offered')
    or diag('growth ' . ($growth // 'unknown (a worker changed?)')
    . ", workers $base[1]");

my $sb = node_note($r, 'stalled_bytes');

ok((node_note($r, 'stalled') // 0) == 1 && defined $sb && $sb < $LIMIT,
    'A blocked after less than ' . int($LIMIT / $MiB) . ' MiB')
    or diag(explain($r->{notes}));

my $more = (node_note($r, 'stalled_bytes_go') // 0) - ($sb // 0);

ok(defined $sb && $more < $MiB,
    "A stayed blocked while B did not read ($more more bytes)")
    or diag(explain($r->{notes}));

node_ok($r, '256 MiB A->B in order, byte-exact once B reads; B->A works');

# the default buffer, 128 MiB offered

@base = rss();

($r, $ready, $growth) = slow_reader($D, '128M', \@base);

ok($ready, 'default buffer: ready') or diag(explain($r));

ok(defined $growth && $growth < 24 * $MiB,
    'default buffer: workers\' RSS grew by less than 24 MiB')
    or diag('growth ' . ($growth // 'unknown (a worker changed?)'));

$sb = node_note($r, 'stalled_bytes');

ok((node_note($r, 'stalled') // 0) == 1 && defined $sb && $sb < $LIMIT,
    'default buffer: A blocked after less than ' . int($LIMIT / $MiB)
    . ' MiB')
    or diag(explain($r->{notes}));

node_ok($r, 'default buffer: 128 MiB byte-exact once B reads');

# counters and gauges

my $o = offset_wait($H, sub {
    $_[0]->{connections} == 0 && $_[0]->{tunnels} == 0
}, 8);

ok($o && $o->{connections} == 0 && $o->{half_tunnels} == 0
    && $o->{tunnels} == 0, 'gauges back to 0') or diag(explain($o));

ok($o && $o->{tunnels_total} - $before->{tunnels_total} == 6
    && $o->{bytes_spliced} - $before->{bytes_spliced} >= 384 * $MiB,
    'tunnels_total, bytes_spliced') or diag(explain($o));

ok($o && $o->{bad_frames} == 0 && $o->{timeouts} == 0
    && $o->{handoff_failed} == 0, 'no bad frame, no timeout')
    or diag(explain($o));

###############################################################################
