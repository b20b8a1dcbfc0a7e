#!/usr/bin/perl

# Tests for ngx_beacon_module: registry-based peer discovery (spec 6.3,
# scenarios 34-36, W16).  Fake registries (t/tools/fake_beacon_registry.pl)
# log every framed request and answer per a script; Perl UDP sockets stand
# in for the beacons the registry lists and observe discovery through the
# SYNCs ("07 <beacon_id> <N> <ids>") the beacon sends them every 10 s.
#
# Rounds run ~0.5-1.5 s after start, then every 30 s; this test watches
# two rounds per zone (about 45 s).  Zones, one per server, each a script:
#
#   a  beacon_id 1, advertise 203.0.113.7:9001, token, static peer SA:
#      round 1 lists {1: own id, 2: P2, 3: invalid addr, 4: no addr}
#      (scenario 34), round 2 answers beacon_list with an error
#   b  beacon_id 5, listen 0.0.0.0 (scenario 35): round 1 lists P6,
#      round 2 answers both requests with garbage
#   c  beacon_id 7, its own registry R2: round 1 lists P7, then R2 is
#      stopped: round 2 finds it unreachable
#   d  beacon_id 8, timeout=2s: round 1 refuses beacon_register (the round
#      goes on) and lists P8, round 2 never answers beacon_list
#   e  beacon_id 9, static peer SE: round 1 lists P9a, round 2 lists P9b
#      (the discovered set is replaced, the static peer stays)
#   f  beacon_id 10: round 1 lists P10, round 2 lists only unusable
#      entries
#   g  beacon_id 11: round 1 lists P11, round 2 has no "beacons"
#   z  beacon_id 0, its own registry R3, static peer SZ (scenario 36):
#      no TCP connection at all

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Gossip;

use IO::Select;
use JSON::PP;
use POSIX qw/ WNOHANG /;
use Socket qw/ inet_ntoa unpack_sockaddr_in /;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(74);

my %LPORT = (a => port(8980, udp => 1), b => port(8981, udp => 1),
    c => port(8982, udp => 1), d => port(8983, udp => 1),
    e => port(8984, udp => 1), f => port(8985, udp => 1),
    g => port(8986, udp => 1), z => port(8987, udp => 1));
my ($R1, $R2, $R3) = (port(8990), port(8991), port(8992));
my $H = port(8080);

my $A = "127.0.0.1:$LPORT{a}";

# the sockets the registries list, the static peers, a node and a stranger

my %SOCK;

foreach my $name (qw/ sa p2 self p6 p7 p8 p9a p9b se p10 p11 sz x /) {
    $SOCK{$name} = dgram($A, local => '127.0.0.1');
}

sub pport { $SOCK{$_[0]}->sockport() }
sub paddr { '127.0.0.1:' . pport($_[0]) }

my $SA = paddr('sa');
my $SE = paddr('se');
my $SZ = paddr('sz');

my %SCRIPT = (
    1 => [
        { beacons => [
            { id => 1, addr => paddr('self') },
            { id => 2, addr => paddr('p2') },
            { id => 3, addr => 'not a valid addr' },
            { id => 4 },
        ] },
        { list => 'error', error => 'registry overloaded' },
    ],
    5 => [
        { beacons => [ { id => 6, addr => paddr('p6') } ] },
        { register => 'garbage', list => 'garbage' },
    ],
    7 => [
        { beacons => [ { id => 70, addr => paddr('p7') } ] },
    ],
    8 => [
        { register => 'error', error => 'invalid admin token',
            beacons => [ { id => 80, addr => paddr('p8') } ] },
        { list => 'silent' },
    ],
    9 => [
        { beacons => [ { id => 90, addr => paddr('p9a') } ] },
        { beacons => [ { id => 91, addr => paddr('p9b') } ] },
    ],
    10 => [
        { beacons => [ { id => 100, addr => paddr('p10') } ] },
        { beacons => [
            { id => 10, addr => paddr('self') },
            { id => '103', addr => paddr('self') },
            { id => 101, addr => 'localhost:' . pport('self') },
            { id => 104, addr => '127.0.0.1:0' },
            { id => 105, addr => '127.0.0.1:70000' },
            { id => 106, addr => '' },
            { id => -1, addr => paddr('self') },
            { id => 102 },
            'not an object',
        ] },
    ],
    11 => [
        { beacons => [ { id => 110, addr => paddr('p11') } ] },
        { list => 'raw', raw => '{"type":"beacon_list_ok"}' },
    ],
);

$t->write_file('script.json', JSON::PP->new->canonical->encode(\%SCRIPT));

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone a:1m;
    beacon_zone b:1m;
    beacon_zone c:1m;
    beacon_zone d:1m;
    beacon_zone e:1m;
    beacon_zone f:1m;
    beacon_zone g:1m;
    beacon_zone z:1m;

    server {
        listen 127.0.0.1:$LPORT{a} udp reuseport;
        beacon zone=a;
        beacon_id 1;
        beacon_registry 127.0.0.1:$R1;
        beacon_registry_token hunter2;
        beacon_advertise 203.0.113.7:9001;
        beacon_peers $SA;
    }

    server {
        listen 0.0.0.0:$LPORT{b} udp reuseport;
        beacon zone=b;
        beacon_id 5;
        beacon_registry 127.0.0.1:$R1;
    }

    server {
        listen 127.0.0.1:$LPORT{c} udp reuseport;
        beacon zone=c;
        beacon_id 7;
        beacon_registry 127.0.0.1:$R2;
    }

    server {
        listen 127.0.0.1:$LPORT{d} udp reuseport;
        beacon zone=d;
        beacon_id 8;
        beacon_registry 127.0.0.1:$R1 timeout=2s;
    }

    server {
        listen 127.0.0.1:$LPORT{e} udp reuseport;
        beacon zone=e;
        beacon_id 9;
        beacon_registry 127.0.0.1:$R1;
        beacon_peers $SE;
    }

    server {
        listen 127.0.0.1:$LPORT{f} udp reuseport;
        beacon zone=f;
        beacon_id 10;
        beacon_registry 127.0.0.1:$R1;
    }

    server {
        listen 127.0.0.1:$LPORT{g} udp reuseport;
        beacon zone=g;
        beacon_id 11;
        beacon_registry 127.0.0.1:$R1;
    }

    server {
        listen 127.0.0.1:$LPORT{z} udp reuseport;
        beacon zone=z;
        beacon_id 0;
        beacon_registry 127.0.0.1:$R3;
        beacon_registry_token hunter2;
        beacon_peers $SZ;
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:$H;

        location = /status {
            beacon_status;
        }
    }
}

EOF

###############################################################################
# the fake registries

sub start_registry {
    my ($name, $port) = @_;

    my $d = $t->testdir();
    my $ready = "$d/$name.ready";

    my $pid = $t->run_daemon($^X, "$FindBin::Bin/tools/fake_beacon_registry.pl",
        '--port', $port, '--script', "$d/script.json",
        '--log', "$d/$name.log", '--ready', $ready, '--lifetime', 150);

    $t->waitforfile($ready, $pid, 5) or die "fake registry $name did not start\n";

    return $pid;
}

start_registry('r1', $R1);
my $r2pid = start_registry('r2', $R2);
start_registry('r3', $R3);

# connections of a registry log: [ { n, peer, connect, reqs => [ [t,
# body] ], replies => [ [t, what] ], bid, round, eof } ]

sub conns {
    my ($name) = @_;

    my $f = $t->testdir() . "/$name.log";
    return () unless -f $f;

    my (%c, @order);

    foreach my $l (split /\n/, $t->read_file("$name.log")) {
        my ($time, $n, $ev, $rest) = $l =~ /^(\S+) c(\d+) (\S+) ?(.*)$/
            or next;

        push @order, $n unless $c{$n};
        my $c = $c{$n} ||= { n => $n, reqs => [], replies => [] };

        if ($ev eq 'connect') {
            $c->{peer} = $rest;
            $c->{connect} = $time;
        } elsif ($ev eq 'req') {
            push @{$c->{reqs}}, [ $time, $rest ];
        } elsif ($ev eq 'reply') {
            push @{$c->{replies}}, [ $time, $rest ];
        } elsif ($ev eq 'round') {
            @$c{qw/ bid round /} = split / /, $rest;
        } elsif ($ev eq 'eof') {
            $c->{eof} = $time;
        }
    }

    return map { $c{$_} } @order;
}

# the connection of round $round (from 0) of beacon $bid

sub round_of {
    my ($name, $bid, $round) = @_;

    my ($c) = grep { defined $_->{bid} && $_->{bid} eq $bid
        && $_->{round} == $round } conns($name);

    return $c;
}

# when a round ended: the reply to beacon_list was sent (or, with
# $eof, the beacon closed the connection)

sub round_done {
    my ($name, $bid, $round, $eof) = @_;

    my $c = round_of($name, $bid, $round) or return undef;

    return $c->{eof} if $eof;
    return @{$c->{replies}} >= 2 ? $c->{replies}[1][0] : undef;
}

###############################################################################
# datagrams: every socket is read continuously, with the time of arrival

my %GOT;    # name => [ [ time, data, ip, port ] ]
my $SEL = IO::Select->new();
my %BYFD;

sub watch {
    my ($name) = @_;
    $SEL->add($SOCK{$name}->socket());
    $BYFD{fileno $SOCK{$name}->socket()} = $name;
}

watch($_) foreach keys %SOCK;

# reads everything for up to $secs seconds, until $until returns true

sub pump {
    my ($secs, $until) = @_;

    my $end = time() + $secs;

    for my $i (1 .. 100000) {
        return 1 if $until && $until->();

        my $left = $end - time();
        last if $left <= 0;

        foreach my $fh ($SEL->can_read($left < 0.1 ? $left : 0.1)) {
            my $from = recv($fh, my $d, 70000, 0);
            next unless defined $from;

            my ($port, $ip) = unpack_sockaddr_in($from);
            push @{$GOT{$BYFD{fileno $fh}}},
                [ time(), $d, inet_ntoa($ip), $port ];
        }
    }

    return $until ? $until->() : 1;
}

# SYNCs a socket got after $since: list of [ time, data, ip, port ]

sub syncs {
    my ($name, $since) = @_;

    $since = 0 unless defined $since;

    return grep { $_->[0] > $since && length($_->[1]) && ord($_->[1]) == 7 }
        @{$GOT{$name} || []};
}

sub first_sync {
    my ($name, $since) = @_;
    my ($s) = syncs($name, $since);
    return $s;
}

# the status counters, polled at most every 0.5 s while pumping

my %CACHE;

sub zone_counter {
    my ($zone, $key) = @_;

    if (!$CACHE{$zone} || time() - $CACHE{$zone}{t} > 0.5) {
        $CACHE{$zone} = { t => time(), c => counters($H, $zone) || {} };
    }

    return $CACHE{$zone}{c}{$key};
}

###############################################################################

my $T0 = time();
$t->run();
my $T1 = time();

my @workers = $t->worker_pids();

# a node at zone a (its id goes in zone a's SYNCs)

my $D = register($A, 20, '127.0.0.1');
$SOCK{d} = $D;
watch('d');

###############################################################################
# round 1: every zone discovers its peer

my @R1 = ([ 'r1', 1, 0 ], [ 'r1', 5, 0 ], [ 'r1', 8, 0 ], [ 'r1', 9, 0 ],
    [ 'r1', 10, 0 ], [ 'r1', 11, 0 ], [ 'r2', 7, 0, 1 ]);

# R2 goes away once zone c's first round is over

pump(8, sub { round_done('r2', 7, 0, 1) });
ok(round_done('r2', 7, 0, 1), 'zone c: round 1 over');

kill 'TERM', $r2pid;
for my $i (1 .. 100) {
    last if waitpid($r2pid, WNOHANG) == $r2pid;
    sleep 0.05;
}
@{$t->{_daemons}} = grep { $_ != $r2pid } @{$t->{_daemons}};

pump(16, sub {
    !grep { !round_done(@$_) } @R1
        and !grep { !first_sync($_) } qw/ p2 p6 p7 p8 p9a p10 p11 /
});

pump(0.3);

# 34. the exact frames, then the connection is closed

my $c1 = round_of('r1', 1, 0);

is($c1 && $c1->{reqs}[0][1],
    '{"type":"beacon_register","beacon_id":1,"addr":"203.0.113.7:9001",'
    . '"admin_token":"hunter2"}', 'scenario 34: beacon_register frame');
is($c1 && $c1->{reqs}[1][1], '{"type":"beacon_list"}',
    'scenario 34: beacon_list frame');
is($c1 && scalar @{$c1->{reqs}}, 2, 'scenario 34: two requests per round');
ok($c1 && $c1->{eof} && $c1->{eof} - $c1->{replies}[1][0] < 1,
    'scenario 34: connection closed after the list');
ok($c1 && $c1->{connect} > $T0 - 0.1 && $c1->{connect} < $T1 + 2,
    'first round soon after start') or diag(sprintf "round at %.2f s",
    $c1 ? $c1->{connect} - $T1 : -1);

# 34. peer set = {P2}: SYNC "07 00000001 0001 00000014" from the beacon

my $s = first_sync('p2');
is($s && tohex($s->[1]), tohex(sync(1, 20)), 'scenario 34: SYNC to id 2');
is($s && "$s->[2]:$s->[3]", $A, 'scenario 34: SYNC from the listener');

is(scalar @{$GOT{self} || []}, 0, 'scenario 34: own id not a peer');

# static peers are kept beside the discovered ones (W16)

$s = first_sync('p2');
ok($s && grep({ abs($_->[0] - $s->[0]) < 1 } syncs('sa')),
    'static peer in the same round as the discovered one');

# 35. wildcard listen: the registry connection's local IP, the UDP port

my $c5 = round_of('r1', 5, 0);

is($c5 && $c5->{reqs}[0][1],
    '{"type":"beacon_register","beacon_id":5,"addr":"127.0.0.1:'
    . $LPORT{b} . '"}', 'scenario 35: addr, no admin_token');
is($c5 && (split /:/, $c5->{peer})[0], '127.0.0.1',
    'scenario 35: host is the connection\'s local IP');

$s = first_sync('p6');
is($s && tohex($s->[1]), tohex(sync(5)), 'scenario 35: SYNC to P6');
is($s && "$s->[2]:$s->[3]", "127.0.0.1:$LPORT{b}", 'scenario 35: SYNC source');

# the other zones

$s = first_sync('p7');
is($s && tohex($s->[1]), tohex(sync(7)), 'zone c: SYNC to P7');

# a refused beacon_register: warned, counted, the round goes on

my $c8 = round_of('r1', 8, 0);

is($c8 && $c8->{replies}[0][1],
    '{"error":"invalid admin token","type":"error"}', 'zone d: refused');
is($c8 && $c8->{reqs}[1][1], '{"type":"beacon_list"}',
    'zone d: beacon_list after a refusal');

$s = first_sync('p8');
is($s && tohex($s->[1]), tohex(sync(8)), 'zone d: SYNC to P8');

like($t->read_file('error.log'),
    qr/\[warn\].*refused beacon_register: \{\\"error\\":\\"invalid admin token\\",\\"type\\":\\"error\\"\}/,
    'zone d: refusal logged at warn');

$s = first_sync('p9a');
is($s && tohex($s->[1]), tohex(sync(9)), 'zone e: SYNC to P9a');
ok(first_sync('se'), 'zone e: static peer');
is(scalar(syncs('p9b')), 0, 'zone e: nothing to P9b yet');

$s = first_sync('p10');
is($s && tohex($s->[1]), tohex(sync(10)), 'zone f: SYNC to P10');

$s = first_sync('p11');
is($s && tohex($s->[1]), tohex(sync(11)), 'zone g: SYNC to P11');

# a discovered peer is a peer: its relays are exempt from
# beacon_relay_bind_sender; a stranger's are not

my $c0 = counters($H, 'a');

$SOCK{p2}->send(relay(555, 20, 'via-discovered'));
pump(2, sub { grep { ord($_->[1]) == 6 } @{$GOT{d} || []} });

my ($dl) = grep { ord($_->[1]) == 6 } @{$GOT{d} || []};
is($dl && tohex($dl->[1]), tohex(deliver(555, 'via-discovered')),
    'relay from a discovered peer delivered');

$SOCK{x}->send(relay(556, 20, 'from-stranger'));
pump(1);

is(scalar(grep { ord($_->[1]) == 6 } @{$GOT{d} || []}), 1,
    'relay from a stranger not delivered');
is(counter_delta($H, 'a', $c0, 'relay_dropped.sender_mismatch', 1), 1,
    'relay from a stranger: sender_mismatch');

###############################################################################
# round 2

my %T2;     # zone => when its second round ended

my %R2 = (
    a => sub { round_done('r1', 1, 1) },
    b => sub { round_done('r1', 5, 1) },
    d => sub { round_done('r1', 8, 1, 1) },
    e => sub { round_done('r1', 9, 1) },
    f => sub { round_done('r1', 10, 1) },
    g => sub { round_done('r1', 11, 1) },
    c => sub {
        (zone_counter('c', 'registry_errors') || 0) >= 1 ? time() : undef
    },
);

my %AFTER = (a => 'p2', b => 'p6', c => 'p7', d => 'p8', e => 'p9b',
    f => 'p10', g => 'p11');

# until every zone had its second round and sent SYNCs after it; the
# third round comes 60 s after the first

pump($T1 + 57 - time(), sub {
    foreach my $z (keys %R2) {
        $T2{$z} = $R2{$z}->() unless defined $T2{$z};
    }

    return 0 if grep { !defined $T2{$_} } keys %R2;
    return 0 if grep { !first_sync($AFTER{$_}, $T2{$_} + 0.5) } keys %AFTER;
    return 1;
});

pump(0.5);

foreach my $z (sort keys %R2) {
    ok(defined $T2{$z}, "zone $z: round 2 over");
}

my $ca = round_of('r1', 1, 1);

ok($ca && $c1 && abs($ca->{connect} - $c1->{connect} - 30) < 2,
    'rounds 30 s apart') or diag(sprintf "%.2f s",
    $ca && $c1 ? $ca->{connect} - $c1->{connect} : -1);

# W16: a beacon_list error keeps the set

is($ca && $ca->{replies}[1][1],
    '{"error":"registry overloaded","type":"error"}', 'zone a: list error');
ok(first_sync('p2', ($T2{a} || 1e10) + 0.5), 'zone a: set kept after error');

my @sa = map { $_->[0] } syncs('sa');
ok(@sa >= 4 && $sa[-1] > ($T2{a} || 1e10), 'static peer throughout')
    or diag('static SYNCs at ' . join(' ', map { sprintf '%.1f', $_ - $T1 } @sa));
ok(!grep({ $sa[$_] - $sa[$_ - 1] > 11 } 1 .. $#sa), 'static peer every 10 s')
    or diag('static SYNCs at ' . join(' ', map { sprintf '%.1f', $_ - $T1 } @sa));

# garbage answers: the round goes on, the set is kept

my $cb = round_of('r1', 5, 1);

is($cb && $cb->{replies}[0][1], 'garbage', 'zone b: garbage register reply');
is($cb && $cb->{reqs}[1][1], '{"type":"beacon_list"}',
    'zone b: beacon_list after garbage');
ok(first_sync('p6', ($T2{b} || 1e10) + 0.5), 'zone b: set kept after garbage');
like($t->read_file('error.log'),
    qr/\[warn\].*refused beacon_register: \\u0000\xffnot json/s,
    'zone b: garbage logged at warn');

# an unreachable registry keeps the set

ok(first_sync('p7', ($T2{c} || 1e10) + 0.5), 'zone c: set kept, unreachable');

# a timeout keeps the set; the beacon gives up after timeout=2s

my $cd = round_of('r1', 8, 1);

ok($cd && $cd->{eof} && @{$cd->{reqs}} == 2
    && $cd->{eof} - $cd->{reqs}[1][0] > 1.5
    && $cd->{eof} - $cd->{reqs}[1][0] < 4, 'zone d: closed after the timeout')
    or diag(sprintf "%.2f s", $cd && $cd->{eof} && @{$cd->{reqs}} == 2
        ? $cd->{eof} - $cd->{reqs}[1][0] : -1);
ok(first_sync('p8', ($T2{d} || 1e10) + 0.5), 'zone d: set kept after timeout');

# a new list replaces the discovered set; the static peer stays

$s = first_sync('p9b');
is($s && tohex($s->[1]), tohex(sync(9)), 'zone e: SYNC to P9b');
is(scalar(syncs('p9a', ($T2{e} || 0) + 0.5)), 0, 'zone e: P9a dropped');
ok(first_sync('se', ($T2{e} || 1e10) + 0.5), 'zone e: static peer kept');

# a list without a usable entry, a reply without "beacons": set kept

ok(first_sync('p10', ($T2{f} || 1e10) + 0.5), 'zone f: set kept, no usable');
ok(first_sync('p11', ($T2{g} || 1e10) + 0.5), 'zone g: set kept, no beacons');

is(scalar @{$GOT{self} || []}, 0, 'unusable entries never peers');
is(scalar @{$GOT{x} || []}, 0, 'stranger got nothing');

# 36. beacon_id 0: no TCP connection at all, but gossip to static peers

my @r3 = conns('r3');
is(scalar @r3, 0, 'scenario 36: no connection with beacon_id 0');
is(zone_counter('z', 'registry_rounds'), 0, 'scenario 36: no rounds');

$s = first_sync('sz');
is($s && tohex($s->[1]), tohex(sync(0)), 'scenario 36: static peer SYNC');

###############################################################################
# counters: registry_rounds, registry_errors

%CACHE = ();

my %WANT = (
    a => [ 2, 1 ],      # list error
    b => [ 2, 2 ],      # garbage register reply, garbage list
    c => [ 2, 1 ],      # unreachable
    d => [ 2, 2 ],      # register refused, list timeout
    e => [ 2, 0 ],
    f => [ 2, 1 ],      # no usable entry
    g => [ 2, 1 ],      # no "beacons"
);

foreach my $z (sort keys %WANT) {
    is(zone_counter($z, 'registry_rounds'), $WANT{$z}[0],
        "zone $z: registry_rounds");
    is(zone_counter($z, 'registry_errors'), $WANT{$z}[1],
        "zone $z: registry_errors");
}

# every registry connection was a round of a configured zone, closed

my @all = conns('r1');
is(scalar(grep { !defined $_->{bid} } @all), 0, 'no stray connections');
is(scalar(grep { !$_->{eof} } @all), 0, 'every connection closed');

###############################################################################
# no crash, no alert: the harness checks the error log at the end

is(join(' ', $t->worker_pids()), join(' ', @workers), 'workers survived');

my @crit = grep { /\[crit\]/ } split /\n/, $t->read_file('error.log');
is(join("\n", @crit), '', 'no crit');

diag(sprintf 'took %.1f s', time() - $T0) if $ENV{TEST_NGINX_VERBOSE};

###############################################################################
