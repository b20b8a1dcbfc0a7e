#!/usr/bin/perl

# Tests for ngx_beacon_module: a daemon that restarts with the same node id
# on a new port.  Its first DISCOVER from the new port inside the endpoint
# throttle window is refused, but remembered and applied when the window
# ends, so deliveries to it and its own relays (beacon_relay_bind_sender on)
# work again at the end of the window, not at its next DISCOVER.  A move
# claimed from elsewhere is forgotten when the endpoint in use sends a
# DISCOVER or a RELAY inside the window (a live original wins).
#
# The throttle is 3 s here (TEST_BEACON_RESTART_THROTTLE=30 measures with
# the defaults); the daemons send a DISCOVER every two windows, as real ones
# do (60 s to the default 30 s), and restart 5/30, 20/30 and 40/30 of a
# window after their last write.  The windows measured are printed.

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

my $TH = $ENV{TEST_BEACON_RESTART_THROTTLE} || 3;
my $CADENCE = 2 * $TH;
my $SLACK = 0.8;

my $t = Test::Nginx->new()->has(qw/stream udp beacon/)->plan(20);

$t->write_file_expand('nginx.conf',
    beacon_conf(status => 0, beacon => <<"EOF"));
beacon_endpoint_throttle ${TH}s;
beacon_relay_bind_sender on;
beacon_reply_limit off;
beacon_register_limit off;
EOF

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);

sub node { return udp_node($B, @_); }

# the peer the restarted daemons talk to

my $Q = node(8000, '127.0.0.61');

# Restart node $id (registered by $old at $t0) on a new port at $t0 + $at;
# the new daemon sends a DISCOVER at once and then every $CADENCE seconds.
# Returns the seconds from the restart until a relay to it is delivered
# and until its own relay is delivered, probed every 0.1 s (undef: not
# within two cadences).

sub restart {
    my ($id, $old, $t0, $at) = @_;

    my $wait = $t0 + $at - time();
    sleep $wait if $wait > 0;

    # a new port: bound before the old socket goes
    my $new = dgram($B, local => '127.0.0.60');
    $old->socket()->close();
    my $tr = time();
    my $next = $tr;
    my ($in, $out, $seq);

    while (time() < $tr + 2 * $CADENCE + 1) {
        if (time() >= $next) {
            $new->send(discover($id));
            $next += $CADENCE;
        }

        $seq++;
        my $sent = time() - $tr;

        $Q->send(relay(8000, $id, "p$seq")) unless defined $in;
        $new->send(relay($id, 8000, "q$seq")) unless defined $out;

        my $until = time() + 0.1;
        while ((my $left = $until - time()) > 0) {
            my ($d) = $new->recv($left) or last;
            next unless defined $d && !defined $in;
            $in = $sent if $d eq deliver(8000, "p$seq");
        }

        unless (defined $out) {
            while (my ($d) = $Q->recv(0.01)) {
                $out = $sent if $d eq deliver($id, "q$seq");
            }
        }

        last if defined $in && defined $out;
    }

    $new->socket()->close();
    $Q->drain();

    return ($in, $out);
}

# restarts 0, 5/30, 20/30 and 40/30 of a window after the last write

my $k = 0;

foreach my $frac (0, 5 / 30, 20 / 30, 40 / 30) {
    my $id = 8100 + $k++;
    my $at = $frac * $TH;
    my $left = $TH - $at;
    $left = 0 if $left < 0;

    my $old = dgram($B, local => '127.0.0.60');
    my $t0 = time();
    $old->io(discover($id)) or die "no reply registering $id\n";

    my ($in, $out) = restart($id, $old, $t0, $at);
    my $w = (defined $in && defined $out) ? ($in > $out ? $in : $out) : undef;

    my $name = sprintf('restart %.1f s after the last write', $at);
    diag(sprintf('%s (throttle %d s, DISCOVER every %d s): '
        . 'deliveries after %s s, own relays after %s s',
        $name, $TH, $CADENCE, map { defined $_ ? sprintf('%.1f', $_) : 'never' }
        $in, $out));

    ok(defined $w && $w <= $left + $SLACK,
        "$name: reachable and relaying when the window ends ("
        . (defined $w ? sprintf('%.1f', $w) : 'never')
        . sprintf(' s <= %.1f s)', $left + $SLACK));

    if ($left > $SLACK) {
        ok(defined $w && $w >= $left - 0.3,
            "$name: not moved before the window ends");

    } else {
        ok(defined $w && $w <= $SLACK, "$name: moved at once");
    }
}

# a spoofed DISCOVER does not move a node before the window ends

my $S = node(8200, '127.0.0.62');
my $t0 = time();
my $X = dgram($B, local => '127.0.0.63');

$X->io(discover(8200));
$Q->send(relay(8000, 8200, 's1'));
is(tohex($S->recv(2)), tohex(deliver(8000, 's1')), 'spoof: still at the owner');
ok($X->expect_nothing(0.2), 'spoof: nothing to the claimant');

# ... nor after it when the owner refreshed inside the window: its
# DISCOVER forgets the claim (then it is silent until after the window)

sleep $TH / 2 - (time() - $t0) if time() - $t0 < $TH / 2;
ok($S->io(discover(8200), 1), 'spoof: the owner refreshes inside the window');

my $wait = $t0 + $TH + 0.3 - time();
sleep $wait if $wait > 0;

$Q->send(relay(8000, 8200, 's2'));
is(tohex($S->recv(2)), tohex(deliver(8000, 's2')),
    'spoof: a live owner keeps the node after the window');
ok($X->expect_nothing(0.2), 'spoof: the claim was forgotten');

# ... nor when the owner only relays inside the window (its RELAYs come
# from the endpoint in use, beacon_relay_bind_sender checks that)

my $R = node(8202, '127.0.0.65');
$t0 = time();

$X->io(discover(8202));

$wait = $t0 + $TH / 2 - time();
sleep $wait if $wait > 0;

$R->send(relay(8202, 8000, 'r1'));
is(tohex($Q->recv(2)), tohex(deliver(8202, 'r1')),
    'relaying owner: its relay delivered inside the window');

$wait = $t0 + $TH + 0.3 - time();
sleep $wait if $wait > 0;

$Q->send(relay(8000, 8202, 'r2'));
is(tohex($R->recv(2)), tohex(deliver(8000, 'r2')),
    'relaying owner: keeps the node after the window');
ok($X->expect_nothing(0.2), 'relaying owner: the claim was forgotten');

# a silent owner: the claim is applied when the window ends, not before

my $U = node(8201, '127.0.0.64');
$t0 = time();

$X->io(discover(8201));

$Q->send(relay(8000, 8201, 'u1'));
is(tohex($U->recv(2)), tohex(deliver(8000, 'u1')),
    'silent owner: still at the owner inside the window');

$wait = $t0 + $TH + 0.2 - time();
sleep $wait if $wait > 0;

$Q->send(relay(8000, 8201, 'u2'));
is(tohex($X->recv(2)), tohex(deliver(8000, 'u2')),
    'silent owner: moved when the window ended, without another DISCOVER');
ok($U->expect_nothing(0.2), 'silent owner: nothing to the old endpoint');

# once moved, the next move waits a whole window again

$U->io(discover(8201));
$Q->send(relay(8000, 8201, 'u3'));
is(tohex($X->recv(2)), tohex(deliver(8000, 'u3')),
    'silent owner: the old endpoint cannot move it straight back');

###############################################################################
