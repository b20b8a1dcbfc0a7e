#!/usr/bin/perl

# Tests for ngx_beacon_module: compat bridge peers across "nginx -s reload"
# and shutdown (spec 7.9): connected and half-authenticated peers are
# closed with 1001 "beacon shutting down", the old workers exit, the peers
# log in again to the new workers and get deliveries; the website beside
# the bridge keeps serving throughout.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Compat;

use POSIX qw//;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = compat_nginx(37);

my ($crt, $key) = make_cert($t);

my %S = compat_keys($t, 1001 .. 1004);

mkdir $t->testdir() . '/www';
$t->write_file('www/index.html', "hello website\n");

sub config {
    my ($limit) = @_;

    $t->write_file_expand('nginx.conf', compat_conf(cert => [ $crt, $key ],
        beacon => "beacon_relay_limit $limit;",
        server => 'location / { root %%TESTDIR%%/www; }'));
}

config(4000);
$t->run();

###############################################################################

my $P = port(8443);
my $H = port(8080);
my $B = '127.0.0.1:' . port(8980, udp => 1);

my ($m, $r, $c0);

sub website {
    my ($code, $h, $body) = https_get($P, '/index.html');
    return defined $code && $code == 200 && $body eq "hello website\n";
}

my $S = dgram($B, local => '127.0.0.61');
$S->io(discover(9999));

sub delivered {
    my ($peer, $id, $payload) = @_;

    $S->send(relay(9999, $id, $payload));
    my $m = $peer->recv_msg(2000);

    return $m && $m->{data} eq deliver(9999, $payload);
}

# a child polls the website every 100 ms during the reloads

my $polls = $t->testdir() . '/polls';

sub poller {
    my ($seconds) = @_;

    return $t->run_daemon(sub {
        Test::Nginx::Compat::WS::forget_all();

        my $end = time() + $seconds;

        while (time() < $end) {
            my ($code, $h, $body) = https_get($P, '/index.html');
            open my $fh, '>>', $polls or return;
            print $fh (defined $code ? $code : 'none'), "\n";
            close $fh;
            sleep 0.1;
        }
    });
}

sub poll_results {
    my ($pid) = @_;

    my $deadline = time() + 10;
    while (waitpid($pid, POSIX::WNOHANG()) == 0 && time() < $deadline) {
        sleep 0.1;
    }

    my @l = -f $polls ? split /\n/, $t->read_file('polls') : ();
    unlink $polls;
    return @l;
}

ok(website(), 'website');

my $p1 = ws_login($P, 1001, $S{1001});
my $p2 = ws_login($P, 1002, $S{1002});
ok(!$p1->{failed} && !$p2->{failed}, 'two peers');
ok(delivered($p1, 1001, 'before'), 'delivery before the reload');

# a connection in the middle of the auth handshake

my $half = ws();
$half->connect($P);
$half->upgrade();
$r = $half->challenge();
ok($r->{challenge}, 'half-authenticated connection');

is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 2 }), 2,
    'two active peers');

my $auth_ok = ccounters($H, 'beacon')->{'compat.auth_ok'};

# reload

$p1->start('expect_close timeout=15000');
$p2->start('expect_close timeout=15000');
$half->start('expect_close timeout=15000');

my $poller = poller(2);
sleep 0.3;

my @old = $t->worker_pids();

config(3000);
ok($t->reload(), 'reload: old workers exited');

my @new = $t->worker_pids();
ok(@new == 2 && !grep({ my $o = $_; grep { $_ == $o } @new } @old),
    'reload: new workers');

foreach my $x ([ $p1, 'peer 1001' ], [ $p2, 'peer 1002' ]) {
    my @e = $x->[0]->events($x->[0]->finish());
    my ($cl) = grep { $_->{ev} eq 'close' } @e;
    my ($end) = grep { $_->{ev} eq 'closed' } @e;

    is($cl && $cl->{code}, 1001, "reload: $x->[1] closed 1001");
    is($cl && $cl->{reason}, 'beacon shutting down',
        "reload: $x->[1] reason");
    ok($end, "reload: $x->[1] connection ended");
}

my @e = $half->events($half->finish());
ok(scalar(grep { $_->{ev} eq 'closed' } @e),
    'reload: half-authenticated connection closed');

ok(website(), 'website after the reload');

is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 0 }), 0,
    'reload: no active peers');
cmp_ok(ccounters($H, 'beacon')->{'compat.auth_ok'}, '>=', $auth_ok,
    'reload: counters kept');

# the peers come back

$p1->quit();
$p2->quit();
$half->quit();

$p1 = ws_login($P, 1001, $S{1001});
$p2 = ws_login($P, 1002, $S{1002});
ok(!$p1->{failed} && !$p2->{failed}, 'peers log in again');
ok(delivered($p1, 1001, 'after'), 'delivery after the reload');
ok(delivered($p2, 1002, 'after'), 'delivery to the other after the reload');

$p1->binary(relay(1001, 1002, 'between'));
$m = $p2->recv_msg(2000);
is($m && tohex($m->{data}), tohex(deliver(1001, 'between')),
    'wss -> wss after the reload');

is(cwait($H, 'beacon', 'compat.active_peers', sub { $_[0] == 2 }), 2,
    'two active peers again');

my @polls = poll_results($poller);
ok(@polls >= 5 && !grep({ $_ ne '200' } @polls),
    'website served during the reload (' . scalar(@polls) . ' polls: '
    . join(',', @polls[0 .. ($#polls > 9 ? 9 : $#polls)]) . ')');

# a second reload with logged in peers

$p1->start('expect_close timeout=15000');
$p2->start('expect_close timeout=15000');

config(4000);
ok($t->reload(), 'second reload');

@e = $p1->events($p1->finish());
my ($cl) = grep { $_->{ev} eq 'close' } @e;
is($cl && $cl->{code}, 1001, 'second reload: closed 1001');
$p2->finish();

$p1->quit();
$p2->quit();

$p1 = ws_login($P, 1003, $S{1003});
ok(!$p1->{failed} && delivered($p1, 1003, 'again'),
    'second reload: login and delivery');

# a peer that does not read (its output blocked) does not hold the old
# worker: it gets the write timeout (2s by default) to take the close

$p1->quit();

my $st = ws_login($P, 1002, $S{1002}, connect => { rcvbuf => 4096 });
ok(!$st->{failed}, 'blocked peer: logged in');

my $F = dgram($B, local => '127.0.0.62');
$F->io(discover(9998));

$st->start('stall 9000');

{
    local $ENV{TEST_NGINX_VERBOSE};

    my $start = time();
    while (time() - $start < 0.5) {
        $F->send(relay(9998, 1002, 'f' x 30000));
        sleep 0.003;
    }
}

my $rstart = time();
config(4000);
ok($t->reload(), 'blocked peer: reload');
my $rtime = time() - $rstart;
cmp_ok($rtime, '<', 8, sprintf('blocked peer: old workers gone in %.1fs',
    $rtime));

$st->finish();
@e = $st->recv_all(quiet => 1000, max => 10000);
ok(scalar(grep { $_->{ev} eq 'closed' } @e), 'blocked peer: disconnected');
$st->quit();

$p1 = ws_login($P, 1003, $S{1003});
ok(!$p1->{failed}, 'blocked peer: others log in after the reload');

# the key file is read again on reload

my $newseed = seed_for(1004, 'rotated');
write_keyfile($t, 'keys', { %S, 1004 => $newseed });

$p1->start('expect_close timeout=15000');
config(3000);
ok($t->reload(), 'reload with a new key file');
$p1->finish();
$p1->quit();

my $old = ws_login($P, 1004, $S{1004});
ok($old->{failed}, 'rotated key: the old key is refused');
is($old->{auth_result} && $old->{auth_result}{close}, 1008,
    'rotated key: 1008');
$old->quit();

$p1 = ws_login($P, 1004, $newseed);
ok(!$p1->{failed}, 'rotated key: the new key logs in');

# shutdown closes peers the same way

$p1->start('expect_close timeout=15000');
$t->stop();

@e = $p1->events($p1->finish());
($cl) = grep { $_->{ev} eq 'close' } @e;
is($cl && $cl->{code}, 1001, 'shutdown: closed 1001');
is($cl && $cl->{reason}, 'beacon shutting down', 'shutdown: reason');

$p1->quit();

###############################################################################
