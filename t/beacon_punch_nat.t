#!/usr/bin/perl

# Tests for ngx_beacon_module: many daemons behind one address (a NAT) punch
# at once with the default beacon_punch_limit (per-IP and global token
# buckets with bursts); a flood from one address, or from many, is still
# held to the budget.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

use Time::HiRes qw/ time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(11);

# the defaults: no beacon_punch_limit; 2 workers share the budgets

$t->write_file_expand('nginx.conf', beacon_conf(beacon => <<'EOF'));
beacon_reply_limit off;
beacon_register_limit off;
EOF

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

sub node { return udp_node($B, @_); }

# the PUNCH_COMMANDs a socket got until it was quiet for a while

sub commands {
    my ($s, $quiet) = @_;
    return map { $_->[0] } $s->recv_all($quiet || 0.5, limit => 10);
}

my $T = node(7000, '127.0.0.41');

# 8 daemons behind one address (127.0.0.40, 8 ports) punch within 100 ms

my @nat = map { node(7100 + $_, '127.0.0.40') } 1 .. 8;

my $c0 = counters($H);
my $start = time();
$nat[$_ - 1]->send(punch(7100 + $_, 7000)) for 1 .. 8;
my $spent = time() - $start;

my $got = 0;
foreach my $i (1 .. 8) {
    my @c = commands($nat[$i - 1]);
    $got++ if @c == 1 && $c[0] eq command_for($T);
}

my %to_t = map { $_ => 1 } commands($T);

note(sprintf('nat: 8 requests sent in %.1f ms', $spent * 1000));
is($got, 8, 'nat: all 8 daemons got their PUNCH_COMMAND');
is(scalar(grep { $to_t{command_for($_)} } @nat), 8,
    'nat: the target got all 8 PUNCH_COMMANDs');
is(counter_delta($H, undef, $c0, 'punch_rate_limited'), 0,
    'nat: nothing rate limited');

# a flood from one address: the burst of 8, then 1 per second

my $F = node(7200, '127.0.0.42');
$T->drain();

$c0 = counters($H);
$start = time();
$F->send(punch(7200, 7000)) for 1 .. 200;
$spent = time() - $start;

my $n = scalar commands($F);
my $allowed = 8 + int($spent + 0.5) + 1;

cmp_ok($n, '>=', 8, "flood from one address: the burst answered ($n)");
cmp_ok($n, '<=', $allowed,
    "flood from one address: held to the budget ($n <= $allowed)");
is(scalar commands($T), $n, 'flood from one address: as many to the target');
is(counter_delta($H, undef, $c0, 'punch_rate_limited', 200 - $n), 200 - $n,
    'flood from one address: the rest counted');

# a flood from many addresses, one request each: the global burst of 20,
# then 10 per second; the global bucket is full again after 2 s

my @many = map { node(7300 + $_, '127.0.0.' . (100 + $_)) } 1 .. 60;
$T->drain();

select(undef, undef, undef, 2.1);

$c0 = counters($H);
$start = time();
$many[$_ - 1]->send(punch(7300 + $_, 7000)) for 1 .. 60;
$spent = time() - $start;

$n = 0;
$n += scalar commands($_, 0.05) for @many;
my $s_all = time() - $start;
$allowed = 20 + int($spent * 10 + 0.5) + 1;

cmp_ok($n, '>=', 20, "flood from many addresses: the global burst ($n)");
cmp_ok($n, '<=', $allowed,
    "flood from many addresses: held to the global budget ($n <= $allowed)");
is(scalar commands($T), $n, 'flood from many addresses: as many to target');
is(counter_delta($H, undef, $c0, 'punch_rate_limited', 60 - $n), 60 - $n,
    'flood from many addresses: the rest counted');

###############################################################################
