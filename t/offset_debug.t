#!/usr/bin/perl

# Tests for ngx_beacon_module: the Offset relay's decisions in the debug
# log (issue 11, part 3), with 4 workers and reuseport, driven by
# t/tools/offset_node.  With error_log at debug (nginx is built
# --with-debug on Debian; the file skips otherwise), every decision says
# what happened to a connection: handshake done or failed (and why),
# Listen registered, replaced or refused, Connect pending or unpaired,
# Accept paired or unpaired, Reject, the handoff of an acceptor's socket
# to the connector's worker (sent by one worker, received by the other),
# the tunnel spliced and closed (with its bytes), rekeys, timeouts and
# limit hits.  The info lines carry the connection's action ("while
# relaying an Offset tunnel").

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Offset;

use IO::Socket::INET;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream http beacon/);
has_offset_node();

plan(skip_all => 'nginx built without --with-debug')
    unless `$Test::Nginx::NGINX -V 2>&1` =~ /--with-debug/;

$t->plan(28);

write_ident($t);

# the allow-list server: the first seed may Listen, the second not

my @seed = map { sprintf('%064x', $_) } 0xdeb001, 0xdeb002;
my @b;

foreach my $s (@seed) {
    my $out = `@{[ offset_node() ]} -s $s keys`;
    my ($k) = $out =~ /^# b=([A-Za-z0-9_-]{43})$/m;
    push @b, $k;
}

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

error_log %%TESTDIR%%/debug.log debug;

daemon off;
worker_processes 4;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:8m;

    server {
        listen 127.0.0.1:%%PORT_8990%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_handshake_timeout 2s;
        beacon_offset_half_tunnel_timeout 2s;
    }

    server {
        listen 127.0.0.1:%%PORT_8991%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_listen_allow $b[0];
    }

    server {
        listen 127.0.0.1:%%PORT_8992%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_handshake_timeout 2s;
        beacon_offset_handshakes 1;
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
my $A = port(8991);
my $L = port(8992);
my $H = port(8081);

# the debug log's lines that match, after a bounded wait for the first

sub logged {
    my ($re, $secs) = @_;

    my $end = time() + ($secs || 5);
    my @m;

    while (1) {
        @m = grep { $_ =~ $re } split /\n/, $t->read_file('debug.log');
        last if @m || time() > $end;
        sleep 0.05;
    }

    return @m;
}

# a key's fingerprint in the log: its first 11 base64url characters

sub fp {
    return substr($_[0], 0, 11);
}

my $FP = qr/[A-Za-z0-9_-]{11}/;

# tunnels: Listen, Connect, Accept, splice, close; 8 at once on 4 workers
# hand some acceptors off (P(no handoff) = 4^-8); a few more rounds if not

my $handoffs;

for my $round (1 .. 4) {
    node_ok(node($P, '-t', 30, '-n', 8, '-b', '64K', 'splice'),
        "round $round: 8 concurrent tunnels, 64 KiB each way")
        if $round == 1;
    node($P, '-t', 30, '-n', 8, '-b', '64K', 'splice') if $round > 1;

    $handoffs = () = logged(qr/beacon offset handoff for connection \d+ received/, 1);
    last if $handoffs;
}

ok(logged(qr/beacon offset connection \d+ admitted, handshake/),
    'debug: connection admitted');
ok(logged(qr/beacon offset handshake done with $FP/),
    'debug: handshake done');
ok(logged(qr/beacon offset listen $FP registered, connection \d+\/\d+$/),
    'debug: Listen registered');
ok(logged(qr/beacon offset connect $FP -> $FP pending, connection \d+\/\d+, listener \d+\/\d+/),
    'debug: Connect pending, with the listener\'s owner');
ok(logged(qr/beacon offset notify of $FP sent to the listener/),
    'debug: the listener notified');
ok(logged(qr/beacon offset accept $FP <- $FP paired with connection \d+\/\d+/),
    'debug: Accept paired');
ok(logged(qr/beacon offset tunnel $FP -> $FP spliced, connections \d+ and \d+/),
    'debug: tunnel spliced');

# the handoff: sent by the acceptor's worker to the connector's worker,
# which says it received it for that connection

my @sent = map { [ /^\S+ \S+ \[debug\] (\d+)#\d+: .*handoff of connection \d+ to (\d+)\/(\d+) sent/ ] }
    logged(qr/beacon offset handoff of connection \d+ to \d+\/\d+ sent/);
my %got = map { /^\S+ \S+ \[debug\] (\d+)#\d+: .*handoff for connection (\d+) received/ ? ("$1/$2" => 1) : () }
    logged(qr/beacon offset handoff for connection \d+ received/);

ok(@sent, 'debug: handoff sent') or diag("no handoff in 4 rounds");
my @across = grep { @$_ == 3 && $_->[0] != $_->[1] && $got{"$_->[1]/$_->[2]"} } @sent;
ok(@across, 'debug: a handoff sent by one worker, received by the '
    . 'connector\'s worker for its connection (' . scalar(@across) . ' of '
    . scalar(@sent) . ')');

my @closed = map { [ /closed by $FP: (\d+) bytes in \d+ messages from it, (\d+) bytes/ ] }
    logged(qr/beacon offset tunnel closed by $FP: \d+ bytes/);
ok((grep { @$_ == 2 && $_->[0] >= 65536 && $_->[1] >= 65536 } @closed),
    'debug: tunnel closed, with at least 64 KiB each way')
    or diag(explain(\@closed));

ok(logged(qr/offset relay: tunnel $FP -> $FP spliced while relaying an Offset tunnel/),
    'info: the tunnel\'s action, a gerund');
ok(logged(qr/offset relay: $FP listens while holding an Offset Listen/),
    'info: the Listen\'s action');

# Listen replaced, Connect and Accept unpaired, Reject

node_ok(node($P, '-t', 20, 'dup-listen'), 'duplicate Listen');
ok(logged(qr/beacon offset listen $FP registered, connection \d+\/\d+, replaces \d+\/\d+/),
    'debug: Listen replaced');

node_ok(node($P, '-t', 20, 'connect-nolistener'), 'Connect, no listener');
ok(logged(qr/beacon offset connect $FP -> $FP unpaired: no listener/),
    'debug: Connect unpaired, no listener');

node_ok(node($P, '-t', 20, 'accept-nothing'), 'Accept, nothing pending');
ok(logged(qr/beacon offset accept $FP <- $FP unpaired: nothing pending/),
    'debug: Accept unpaired');

node_ok(node($P, '-t', 20, 'reject'), 'Reject');
ok(logged(qr/beacon offset reject by $FP of $FP: closing connection \d+\/\d+/),
    'debug: Reject closes the connector');

# refused: a Listen not on the allow-list, a bad handshake

node_ok(node($A, '-t', 10, '-s', $seed[1], 'listen-refused'),
    'an unlisted key\'s Listen is closed');
ok(logged(qr/beacon offset listen \Q@{[ fp($b[1]) ]}\E refused: not in beacon_offset_allow/),
    'debug: Listen refused, the key named');

node($P, '-t', 10, 'bad-sig');
ok(logged(qr/beacon offset handshake failed: bad ExchangeDh signature/),
    'debug: handshake failed, and why');

# a timeout and a limit hit: one silent connection holds the one
# handshake slot of $L, the next is refused; then the silent one times out

my $s = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => "127.0.0.1:$L",
    Timeout => 3);
offset_wait($H, sub { $_[0]->{handshakes_in_progress} >= 1 }, 3);
my $s2 = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => "127.0.0.1:$L",
    Timeout => 3);

ok(logged(qr/beacon offset connection refused: limit hit \(connections \d+, per_ip \d+, handshakes 1\)/),
    'debug: connection refused, limit hit');
ok(logged(qr/beacon offset timeout in state handshake: handshake timed out/, 6),
    'debug: handshake timeout');

close $s if $s;
close $s2 if $s2;

# the half-tunnel expires; a rekey

node(port(8990), '-t', 15, 'half-expiry');
ok(logged(qr/beacon offset half-tunnel expired/, 6),
    'debug: half-tunnel expired');

node($P, '-t', 30, 'rekey');
ok(logged(qr/beacon offset rekey of the hop to $FP/), 'debug: rekey');

###############################################################################
