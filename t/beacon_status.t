#!/usr/bin/perl

# Tests for ngx_beacon_module: the beacon_status JSON document, several
# zones, "beacon_status zone=NAME", the Offset relay's "offset" object.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

use JSON::PP;
use Time::HiRes qw/ sleep time /;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(35);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone one:1m;
    beacon_zone two:2m max_nodes=1000 node_ttl=5m;

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
        beacon zone=one;
    }

    server {
        listen 127.0.0.1:%%PORT_8981_UDP%% udp reuseport;
        beacon zone=two;
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8080%%;

        location = /status {
            beacon_status;
        }

        location = /one {
            beacon_status zone=one;
        }

        location = /two {
            beacon_status zone=two;
        }
    }
}

EOF

$t->run();

###############################################################################

my $B1 = '127.0.0.1:' . port(8980, udp => 1);
my $B2 = '127.0.0.1:' . port(8981, udp => 1);
my $H = port(8080);

my @numbers = qw/ size used free nodes max_nodes node_ttl refused_capacity
    datagrams malformed unknown_type discover discover_replies
    discover_throttled probes register_rate_limited reply_rate_limited
    punch_requests punch_coordinated punch_rate_limited punch_grant_rejected
    punch_not_found punch_endpoint_mismatch sync_received relay_received
    relay_forwarded relay_not_found send_errors /;

my @dropped = qw/ total rate_limited oversize malformed sender_mismatch
    send_failed /;

my @offset = qw/ connections handshakes_in_progress listeners half_tunnels
    tunnels connections_total handshakes_ok handshakes_failed listens
    connects accepts tunnels_total bytes_spliced messages_spliced rejects
    expired unpaired limit_hits handoffs handoff_failed listen_replaced
    listen_refused bad_frames timeouts rekeys /;

sub is_uint {
    my ($v) = @_;
    return defined $v && !ref $v && $v =~ /^\d+$/;
}

sub zone_shape {
    my ($z) = @_;

    return 'not an object' unless ref $z eq 'HASH';

    my @bad = grep { !is_uint($z->{$_}) } @numbers;
    push @bad, 'relay_dropped' unless ref $z->{relay_dropped} eq 'HASH';
    push @bad, map { "relay_dropped.$_" }
        grep { !is_uint($z->{relay_dropped}{$_}) } @dropped
        if ref $z->{relay_dropped} eq 'HASH';

    push @bad, 'offset' unless ref $z->{offset} eq 'HASH';
    push @bad, map { "offset.$_" }
        grep { !is_uint($z->{offset}{$_}) } @offset
        if ref $z->{offset} eq 'HASH';

    if (ref $z->{workers} eq 'ARRAY') {
        push @bad, 'workers[]' if grep {
            ref $_ ne 'HASH' || !is_uint($_->{worker})
                || !is_uint($_->{datagrams})
        } @{$z->{workers}};

    } else {
        push @bad, 'workers';
    }

    return join(', ', @bad);
}

# some traffic on zone two

my $C = dgram($B2, local => '127.0.0.90');
$C->io(discover($_)) for 1 .. 3;
$C->io(discover(0));
$C->send(hx('ff'));
$C->send(relay(1, 2, 'x'));
$C->recv(1);

my ($code, $h, $body) = http_get($H, '/status');

is($code, 200, 'status 200');
like($h->{'content-type'} || '', qr!application/json!, 'content type');

my $doc = eval { JSON::PP->new->decode($body) };
ok(ref $doc eq 'HASH', 'valid JSON');

ok(defined $doc->{version} && !ref $doc->{version} && $doc->{version} ne '',
    'version string');
is(join(',', sort keys %{$doc->{zones} || {}}), 'one,two', 'two zones');

is(zone_shape($doc->{zones}{one}), '', 'zone one: every field');
is(zone_shape($doc->{zones}{two}), '', 'zone two: every field');

my ($one, $two) = @{$doc->{zones}}{qw/ one two /};

is(join(',', grep { $_ != 0 } map { $two->{offset}{$_} } @offset), '',
    'two: no Offset relay, offset all zero');

is($one->{size}, 1024 * 1024, 'one: size');
is($two->{size}, 2 * 1024 * 1024, 'two: size');
cmp_ok($one->{used}, '>', 0, 'one: used');
cmp_ok($one->{used} + $one->{free}, '<=', $one->{size}, 'one: used + free');
is($one->{max_nodes}, 500000, 'one: default max_nodes');
is($one->{node_ttl}, 600, 'one: default node_ttl');
is($two->{max_nodes}, 1000, 'two: max_nodes');
is($two->{node_ttl}, 300, 'two: node_ttl');

is($one->{nodes}, 0, 'one: no nodes');
is($two->{nodes}, 3, 'two: 3 nodes');
is($two->{datagrams}, 6, 'two: 6 datagrams');
is($one->{datagrams}, 0, 'one: no datagrams');
is($two->{discover}, 4, 'two: discover');
is($two->{discover_replies}, 4, 'two: discover_replies');
is($two->{probes}, 1, 'two: probes');
is($two->{unknown_type}, 1, 'two: unknown_type');
is($two->{relay_received}, 1, 'two: relay_received');
is($two->{relay_forwarded}, 1, 'two: relay_forwarded');

my $sum = 0;
$sum += $_->{datagrams} foreach @{$two->{workers}};
is($sum, 6, 'two: workers add up');

# zone=NAME

my $only = status_doc($H, '/one');
is(join(',', sort keys %{$only->{zones} || {}}), 'one', 'zone=one: one zone');
is(zone_shape($only->{zones}{one}), '', 'zone=one: every field');

$only = status_doc($H, '/two');
is($only->{zones}{two}{nodes}, 3, 'zone=two: nodes');

# other methods

# HEAD: the GET response's status and headers, no body

my ($hh, $hbody);
($code, $hh, $hbody) = http_get($H, '/status', method => 'HEAD');
is($code, 200, 'HEAD allowed');
is($hh->{'content-type'}, 'application/json', 'HEAD: content type');
cmp_ok($hh->{'content-length'} // 0, '>', 100, 'HEAD: length of the document');
is($hbody, '', 'HEAD: no body');

($code) = http_get($H, '/status', method => 'POST');
is($code, 405, 'POST not allowed');

###############################################################################
