#!/usr/bin/perl

# A real browser against "beacon_stun only": headless Chromium loads a page
# whose RTCPeerConnection has iceServers [ "stun:<nginx>" ] and reports its
# ICE candidates back to nginx over HTTP; it must gather a server-reflexive
# (srflx) candidate whose address and port are those nginx logged for the
# Binding request.  Browsers skip loopback for ICE, so Chromium runs in a
# network namespace that the test creates, joined to this one by a veth
# pair with addresses of its own (198.18.0.0/15, the benchmarking range);
# nginx listens on this side.  The namespace and the veth are removed at
# the end, also on failure.  Needs root, iproute2 and Chromium.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

use POSIX qw/ setpgid WNOHANG /;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/);

sub have { my ($p) = @_; grep { -x "$_/$p" } split /:/, $ENV{PATH} }

plan(skip_all => 'needs root for ip netns and veth') if $> != 0;
plan(skip_all => 'ip (iproute2) not found') unless have('ip');
plan(skip_all => 'chromium not found (Debian chromium)')
    unless have('chromium');

# a namespace, a veth pair and a /30 of this process's own

my $ns = "bstun$$";
my $vh = "vbs${$}h";
my $vn = "vbs${$}n";
my $net = sprintf('198.%d.%d', 18 + (($$ >> 14) & 1), ($$ >> 6) & 0xff);
my $base = ($$ & 63) * 4;
my $HOST = "$net." . ($base + 1);     # nginx, this namespace
my $PEER = "$net." . ($base + 2);     # Chromium, the test's namespace
my $made = 0;

sub sh { system(@_) == 0 }

sub cleanup {
    return unless $made;
    system("ip netns del $ns >/dev/null 2>&1");
    system("ip link del $vh >/dev/null 2>&1");
    $made = 0;
}

END { cleanup(); }
$SIG{INT} = $SIG{TERM} = sub { cleanup(); exit 1; };

$made = 1;

sh("ip netns add $ns")
    or plan(skip_all => 'ip netns add failed (no network namespaces here)');

sh("ip link add $vh type veth peer name $vn")
    && sh("ip link set $vn netns $ns")
    && sh("ip addr add $HOST/30 dev $vh")
    && sh("ip link set $vh up")
    && sh("ip -n $ns addr add $PEER/30 dev $vn")
    && sh("ip -n $ns link set $vn up")
    && sh("ip -n $ns link set lo up")
    or plan(skip_all => 'cannot set up the veth pair');

# the address needs a moment to leave "tentative" state; poll it

my $deadline = time() + 5;
sleep 0.05 while time() < $deadline
    && `ip -o addr show dev $vh` !~ /\Q$HOST\E/;

$t->write_file_expand('nginx.conf', <<"EOF2");

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone stun:1m;

    log_format stun '\$remote_addr:\$remote_port \$beacon_action';

    server {
        listen $HOST:%%PORT_8981_UDP%% udp reuseport;
        beacon on;
        beacon_stun only;
        beacon_datapath sessions;
        access_log %%TESTDIR%%/stun.log stun;
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format ice '\$request_uri';

    server {
        listen $HOST:%%PORT_8080%%;
        root %%TESTDIR%%;

        location = /result {
            access_log %%TESTDIR%%/ice.log ice;
            return 204;
        }
    }
}

EOF2

my $SP = port(8981, udp => 1);

$t->write_file('ice.html', <<"EOF2");
<!DOCTYPE html>
<html><body><script>
const pc = new RTCPeerConnection({
    iceServers: [ { urls: 'stun:$HOST:$SP' } ]
});
pc.createDataChannel('stun');
pc.onicecandidate = (e) => {
    const c = e.candidate ? e.candidate.candidate : 'done';
    fetch('/result?c=' + encodeURIComponent(c));
};
pc.createOffer().then((o) => pc.setLocalDescription(o));
</script></body></html>
EOF2

$t->run()->plan(4);

###############################################################################

my $dir = $t->testdir();
my $url = "http://$HOST:" . port(8080) . '/ice.html';

my $pid = fork();
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    setpgid(0, 0);
    open STDOUT, '>', "$dir/chromium.log";
    open STDERR, '>&', \*STDOUT;
    $ENV{HOME} = $dir;
    exec('ip', 'netns', 'exec', $ns, 'chromium', '--headless', '--no-sandbox',
        '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update',
        '--disable-sync', "--user-data-dir=$dir/chromium-profile", $url);
    exit 127;
}

# the candidates, as the page reports them (bounded wait)

my $ice = '';
$deadline = time() + 30;

while (time() < $deadline) {
    $ice = -e "$dir/ice.log" ? $t->read_file('ice.log') : '';
    last if $ice =~ /c=done/;
    last if waitpid($pid, WNOHANG) == $pid;
    sleep 0.1;
}

kill 'TERM', -$pid;
$deadline = time() + 5;
sleep 0.1 while waitpid($pid, WNOHANG) == 0 && time() < $deadline;
kill 'KILL', -$pid;
waitpid($pid, 0);

my @cands = map { s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge; $_ }
    $ice =~ /c=([^\s]+)/g;
my ($srflx) = grep { / typ srflx / } @cands;
my ($addr, $port) = ($srflx // '') =~ /^candidate:\S+ \d+ udp \d+ (\S+) (\d+) /;

ok(defined $srflx, 'Chromium gathered a srflx candidate')
    or diag("candidates: @cands\n" . $t->read_file('chromium.log'));
is($addr, $PEER, 'srflx address is the browser\'s address nginx saw');

my $log = -e "$dir/stun.log" ? $t->read_file('stun.log') : '';
like($log, qr/^\Q$PEER:\E\Q${\($port \/\/ 'none')}\E stun_success$/m,
    'srflx port is the port nginx saw and answered');

cleanup();
ok(`ip netns list` !~ /^\Q$ns\E\b/m, 'namespace removed');

###############################################################################
