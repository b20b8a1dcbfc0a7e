#!/usr/bin/perl

# Tests for ngx_beacon_module: beacon_zone ... state= (issue 11, part 4).
# Registered nodes survive a restart of nginx: relays to them (and their
# own, with beacon_relay_bind_sender on) work at once, without a new
# DISCOVER.  A missing, corrupted, truncated, foreign or older-format
# state file is one error line and an empty zone, never a crash.

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

my $t = Test::Nginx->new()->has(qw/stream udp beacon/)->plan(25);

my $state = $t->testdir() . '/beacon.state';

$t->write_file_expand('nginx.conf',
    beacon_conf(status => 0, stream => <<"EOF"));
beacon_zone beacon:1m state=$state;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    beacon on;
    beacon_relay_bind_sender on;
    beacon_reply_limit off;
    beacon_register_limit off;
}
EOF

# the workers write the file (user nobody when started as root)
chmod 0777, $t->testdir();

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);

sub state_lines {
    my @l = grep { /state file/ } split /\n/, $t->read_file('error.log');
    return @l;
}

sub wait_file {
    my $deadline = time() + 15;

    while (time() < $deadline) {
        return 1 if -s $state;
        sleep 0.1;
    }

    return 0;
}

# restarts nginx; the state lines it logged

sub restart {
    my $n = () = state_lines();
    $t->stop();
    $t->run();
    my @l = state_lines();
    return @l[$n .. $#l];
}

# a fresh start without a file: one line, an empty zone

my @l = state_lines();
is(scalar @l, 1, 'no file: one line');
like($l[0] || '', qr/\[warn\].*not read, the zone starts empty/,
    'no file: warn, empty zone');

ok(wait_file(), 'the lease holder writes the file');

# nodes, with their endpoints and a relay between them

my $A = dgram($B, local => '127.0.0.71');
my $C = dgram($B, local => '127.0.0.72');

ok(defined(($A->io(discover(100)))[0]), 'node 100 registered');
ok(defined(($C->io(discover(200)))[0]), 'node 200 registered');

$A->send(relay(100, 200, 'before'));
is(($C->recv(2))[0], deliver(100, 'before'), 'relay before the restart');

# a restart: the file written at exit, loaded at start

@l = restart();
is(scalar @l, 1, 'restart: one line');
like($l[0] || '', qr/\[notice\].* 2 nodes and 0 grants loaded/,
    'restart: 2 nodes loaded');

$A->send(relay(100, 200, 'after'));
is(($C->recv(2))[0], deliver(100, 'after'),
    'relay after the restart, no new DISCOVER');

$C->send(relay(200, 100, 'back'));
is(($A->recv(2))[0], deliver(200, 'back'), 'and back (sender bound)');

# every kind of bad file: one error line, an empty zone, DISCOVER works

sub bad_file {
    my ($name, $mangle, $why) = @_;

    $t->stop();

    open my $fh, '<:raw', $state or die "state: $!";
    my $d = do { local $/; <$fh> };
    close $fh;

    $d = $mangle->($d);

    open $fh, '>:raw', $state or die "state: $!";
    print $fh $d;
    close $fh;

    my $ino = (stat $state)[1];

    my $n = () = state_lines();
    $t->run();
    my @all = state_lines();
    my @new = @all[$n .. $#all];

    ok(@new == 1 && $new[0] =~ /\[error\].*ignored \($why\), the zone/,
        "$name: one error line") or diag(explain(\@new));

    $A->send(relay(100, 200, 'x'));
    ok($C->expect_nothing(0.5), "$name: empty zone");

    ok(defined(($A->io(discover(100)))[0])
        && defined(($C->io(discover(200)))[0]), "$name: DISCOVER works");

    # the lease holder replaces the bad file (rename: a new inode)
    my $deadline = time() + 15;
    sleep 0.1 while (stat $state)[1] == $ino && time() < $deadline;
}

bad_file('corrupted', sub { my $d = shift;
    substr($d, 60, 1) = chr(ord(substr($d, 60, 1)) ^ 0x55); $d },
    'checksum mismatch');
bad_file('truncated', sub { substr(shift, 0, 70) }, 'truncated');
bad_file('older format', sub { my $d = shift;
    substr($d, 4, 4) = pack('V', 0); $d }, 'another format version');
bad_file('foreign', sub { my $d = shift;
    substr($d, 34, 1) = 'X'; $d }, 'written for another zone');
bad_file('garbage', sub { "not a state file at all\n" x 3 },
    'not a beacon state file');

$t->stop();

###############################################################################
