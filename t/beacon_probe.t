#!/usr/bin/perl

# beacon-probe (README's quick start, shipped in the package): sends a
# DISCOVER and prints the DISCOVER_REPLY; node 0 is a probe that is not
# registered, -n registers a node, -x sends DISCOVER_EX; no reply, a
# malformed reply and bad usage exit non-zero with a message.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $probe = ($ENV{TEST_BEACON_BUILD} || "$FindBin::Bin/../build")
	. '/beacon-probe';
plan(skip_all => "beacon-probe not built: $probe") unless -x $probe;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(22);

$t->write_file_expand('nginx.conf', beacon_conf());

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

# runs the probe; returns (exit status, stdout, stderr)

sub probe {
	my (@args) = @_;
	my $dir = $t->testdir();

	system("'$probe' " . join(' ', map { "'$_'" } @args)
		. " >$dir/probe.out 2>$dir/probe.err");

	return ($? >> 8, $t->read_file('probe.out'), $t->read_file('probe.err'));
}

my ($rc, $out, $err, $c0);

# a probe (node 0): answered, not registered

$c0 = counters($H);
($rc, $out, $err) = probe($B);
is($rc, 0, 'probe: exit 0') or diag($err);
like($out, qr/^sent: +DISCOVER node 0 to \Q$B\E \(01 00 00 00 00\)$/m,
	'probe: the DISCOVER sent');
like($out, qr/^reply: +DISCOVER_REPLY after \d+ ms \(02 04 7f 00 00 01 [0-9a-f]{2} [0-9a-f]{2}\)$/m,
	'probe: the reply bytes');
like($out, qr/^observed: 127\.0\.0\.1:\d+ /m, 'probe: the observed address');
is(counter_delta($H, undef, $c0, 'probes', 1), 1, 'probe: counted as a probe');
is(counter_delta($H, undef, $c0, 'nodes'), 0, 'probe: nothing registered');

# -n registers the node, -x asks for DISCOVER_EX

$c0 = counters($H);
($rc, $out, $err) = probe('-n', 42, $B);
is($rc, 0, 'node 42: exit 0') or diag($err);
like($out, qr/^sent: +DISCOVER node 42 to \S+ \(01 00 00 00 2a\)$/m,
	'node 42: the DISCOVER sent');
is(counter_delta($H, undef, $c0, 'nodes', 1), 1, 'node 42: registered');

($rc, $out, $err) = probe('-x', '-n', 43, '-t', 5, $B);
is($rc, 0, 'DISCOVER_EX: exit 0') or diag($err);
like($out, qr/^sent: +DISCOVER_EX node 43 to \S+ \(08 00 00 00 2b\)$/m,
	'DISCOVER_EX: sent');

# nobody answers: a socket that reads and says nothing

my $quiet = dgram('127.0.0.1:1', local => '127.0.0.1');
my $Q = '127.0.0.1:' . $quiet->sockport();

($rc, $out, $err) = probe('-t', 1, $Q);
is($rc, 1, 'no reply: exit 1');
like($err, qr/^beacon-probe: \Q$Q\E: no reply within 1 s$/m,
	'no reply: message');
my @got = $quiet->recv_all(0, limit => 1);
cmp_ok(scalar @got, '>=', 2, 'no reply: the DISCOVER was resent');

# a malformed reply: a responder answers with a 9-byte datagram

my $dir = $t->testdir();
my $pid = open(my $ph, '-|', "'$probe' -t 5 $Q 2>$dir/bad.err")
	or die "can't run $probe: $!";
my ($d, $ip, $port) = $quiet->recv(5);
$quiet->send(hx('02 04 7f000001 1f90 00'), "$ip:$port") if defined $d;
my $bad = join '', <$ph>;
close $ph;
is($? >> 8, 1, 'malformed reply: exit 1');
like($bad, qr/^reply: +02 04 7f 00 00 01 1f 90 00$/m,
	'malformed reply: shown');
like($t->read_file('bad.err'), qr/not a DISCOVER_REPLY/,
	'malformed reply: message');

# usage

($rc, $out, $err) = probe();
is($rc, 2, 'no target: exit 2');
($rc, $out, $err) = probe('127.0.0.1');
is($rc, 2, 'no port: exit 2');
like($err, qr/is not HOST:PORT/, 'no port: message');
($rc, $out, $err) = probe('-n', 'x', $B);
like($err, qr/invalid -n "x"/, 'bad node id: message');
($rc, $out, $err) = probe('--help');
ok($rc == 0 && $out =~ /^usage: beacon-probe /m && $out =~ /-n NODE_ID/
	&& $out =~ /-x / && $out =~ /-t SECONDS/, '--help: every option');

###############################################################################
