#!/usr/bin/perl

# Tests for ngx_beacon_module: several workers share one zone.  Client
# sockets are mapped to the worker that receives their datagrams (the
# per-worker counters of the status page); relays, punches and the
# endpoint throttle must work between nodes registered through different
# workers.  The same checks run with 4 workers and with 1.

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

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(16);

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

foreach my $workers (4, 1) {
    $t->write_file_expand('nginx.conf', beacon_conf(workers => $workers,
        beacon => <<~'EOF'));
        beacon_punch_limit global=0 per_ip=0;
        beacon_reply_limit off;
        EOF
    $t->run();

    run_checks($workers);

    $t->stop();
}

###############################################################################

sub run_checks {
    my ($n) = @_;

    my $map = map_workers(
        peer => $B,
        http => $H,
        zone => 'beacon',
        locals => [ map { "127.0.1.$_" } 1 .. 64 ],
        max => 64,
        want => $n,
        each => 2,
    );

    my @w = sort { $a <=> $b } keys %$map;
    is(scalar @w, $n, "$n workers: sockets mapped to every worker");

    # two nodes per worker: ids 1000 + 10 * worker + k

    my (@nodes, %sock, %worker);

    foreach my $w (@w) {
        my @s = @{$map->{$w}}[0 .. 1];

        for my $k (0 .. 1) {
            next unless defined $s[$k];

            my $id = 1000 + 10 * $w + $k;
            my ($r) = $s[$k]->io(discover($id));
            next unless defined $r && $r eq reply_for($s[$k]);

            push @nodes, $id;
            $sock{$id} = $s[$k];
            $worker{$id} = $w;
        }
    }

    # every ordered pair of nodes, most of them across workers

    my ($pairs, $delivered, $cross, $sources) = (0, 0, 0, 0);

    foreach my $from (@nodes) {
        foreach my $to (@nodes) {
            next if $from == $to;

            $pairs++;
            $cross++ if $worker{$from} != $worker{$to};

            my $p = "$from->$to";
            $sock{$from}->send(relay($from, $to, $p));

            my ($r, $ip, $port) = $sock{$to}->recv(2);
            $delivered++ if defined $r && $r eq deliver($from, $p);
            $sources++ if defined $ip && "$ip:$port" eq $B;
        }
    }

    ok($pairs >= 2 && $delivered == $pairs,
        "$n workers: relays delivered ($delivered of $pairs, "
        . "$cross across workers)");
    is($sources, $pairs, "$n workers: deliveries from the beacon address");

    # punch between nodes of different workers (or the same, with 1)

    my ($punches, $coordinated) = (0, 0);

    for my $i (0 .. $#nodes) {
        my $a = $nodes[$i];
        my $b = $nodes[($i + (@nodes > 2 ? 2 : 1)) % @nodes];
        next if $a == $b;

        $punches++;
        $sock{$a}->send(punch($a, $b));

        my $ra = $sock{$a}->recv(2);
        my $rb = $sock{$b}->recv(2);

        $coordinated++ if defined $ra && $ra eq command_for($sock{$b})
            && defined $rb && $rb eq command_for($sock{$a});
    }

    ok($punches >= 1 && $coordinated == $punches,
        "$n workers: punches coordinated ($coordinated of $punches)");

    # the endpoint throttle is shared: node registered through one worker,
    # a DISCOVER from another endpoint (another worker, if any) is throttled

    my $first = $nodes[0];
    my ($other) = grep { $worker{$_} != $worker{$first} } @nodes;
    $other = $nodes[1] unless defined $other;

    my $c0 = counters($H, 'beacon');
    $sock{$other}->io(discover($first));

    is(counter_delta($H, 'beacon', $c0, 'discover_throttled', 1), 1,
        "$n workers: throttle shared");

    $sock{$nodes[-1]}->send(relay($nodes[-1], $first, 'still'));
    is(tohex($sock{$first}->recv(2)), tohex(deliver($nodes[-1], 'still')),
        "$n workers: throttled node not moved");

    # status

    my $z = status($H, 'beacon');
    is($z->{nodes}, scalar @nodes, "$n workers: nodes counted once");

    my %seen = map { $_->{worker} => $_->{datagrams} } @{$z->{workers}};
    is(scalar(grep { ($seen{$_} || 0) > 0 } 0 .. $n - 1), $n,
        "$n workers: per-worker counters");
}

###############################################################################
