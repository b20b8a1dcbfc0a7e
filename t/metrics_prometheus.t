#!/usr/bin/perl

# Tests for ngx_beacon_module: "beacon_status format=prometheus", the
# "?format=" argument, and the Prometheus text format (0.0.4) agreeing
# with the JSON document, value for value, the Offset relay's families
# included; "promtool check metrics" when promtool is installed.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

use JSON::PP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(47);

# zone "q"x\y" has a name that needs escaping in both formats

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
    beacon_zone "q\"x\\y:1m";

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

        location = /metrics {
            beacon_status format=prometheus;
        }

        location = /metrics/two {
            beacon_status format=prometheus zone=two;
        }

        location = /json/two {
            beacon_status zone=two format=json;
        }
    }
}

EOF

$t->run();

###############################################################################

my $B2 = '127.0.0.1:' . port(8981, udp => 1);
my $H = port(8080);

my $PROM_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

# the Offset relay's "offset" object: gauges, then counters
our @OFFSET_GAUGES = qw/ connections handshakes_in_progress listeners
    half_tunnels tunnels /;
our @OFFSET_COUNTERS = qw/ connections_total handshakes_ok handshakes_failed
    listens connects accepts tunnels_total bytes_spliced messages_spliced
    rejects expired unpaired limit_hits handoffs handoff_failed
    listen_replaced listen_refused bad_frames timeouts rekeys /;
my $WEIRD = 'q"x\\y';

# traffic on zone two: 3 nodes, a probe, an unknown type, a relay
# delivered, a malformed relay

my $C = dgram($B2, local => '127.0.0.90');
$C->io(discover($_)) for 1 .. 3;
$C->io(discover(0));
$C->send(hx('ff'));
$C->send(relay(1, 2, 'x'));
$C->recv(1);
$C->send(hx('05 00 00'));
$C->io(discover(1));

# the documents

my ($code, $h, $prom) = http_get($H, '/metrics');

is($code, 200, 'metrics 200');
is($h->{'content-type'}, $PROM_TYPE, 'metrics content type');

($code, $h, my $body) = http_get($H, '/status');
my $doc = eval { JSON::PP->new->decode($body) };
ok(ref $doc eq 'HASH', 'JSON');

is(join(',', sort keys %{$doc->{zones}}), join(',', sort 'one', 'two', $WEIRD),
    'JSON: three zones, escaped name decodes');

my $p = parse($prom);

is(join("\n", @{$p->{errors}}), '', 'exposition syntax');
like($prom, qr/\n\z/, 'ends with a newline');
unlike($prom, qr/\n\n/, 'no blank lines');

# HELP and TYPE

my @families = @{$p->{order}};
cmp_ok(scalar @families, '>=', 40, 'families') or diag("@families");
is(join(' ', grep { !/^beacon_/ } @families), '', 'every name prefixed');
is(join(' ', grep { !$p->{help}{$_} } @families), '', 'every family has HELP');
is(join(' ', grep { !$p->{type}{$_} } @families), '', 'every family has TYPE');
is(join(' ', grep { ($p->{type}{$_} eq 'counter') != /_total$/ } @families),
    '', 'counters and only counters end in _total');
is(join(' ', grep { !$p->{labels}{$_}{zone} } keys %{$p->{samples}}), '',
    'every sample has a zone label');

like($prom, qr/^# TYPE beacon_nodes gauge$/m, 'nodes is a gauge');
like($prom, qr/^# TYPE beacon_relay_dropped_total counter$/m,
    'relay drops: one counter family');
like($prom, qr/^beacon_relay_dropped_total\{zone="two",reason="malformed"\} 1$/m,
    'relay drops: reason label');
like($prom, qr/^beacon_zone_bytes\{zone="one",state="total"\} 1048576$/m,
    'zone bytes: state label');
like($prom, qr/^beacon_worker_datagrams_total\{zone="two",worker="\d+"\} \d+$/m,
    'per-worker datagrams: worker label');
like($prom, qr/^beacon_draining\{zone="one"\} 0$/m, 'draining gauge');
like($prom, qr/^beacon_nodes\{zone="q\\"x\\\\y"\} 0$/m, 'label value escaped');

# the Offset relay: every field in JSON, every family on the page, all
# zero with no relay configured

is(join(',', sort keys %{$doc->{zones}{one}{offset} || {}}),
    join(',', sort @OFFSET_GAUGES, @OFFSET_COUNTERS),
    'offset: every JSON field, and only those');
is(join(' ', grep { $doc->{zones}{one}{offset}{$_} ne '0' }
    keys %{$doc->{zones}{one}{offset} || {}}), '', 'offset: JSON all zero');

my @offset_families = ((map { "beacon_offset_$_" } @OFFSET_GAUGES),
    map { my $m = $_; $m .= '_total' unless /_total$/; "beacon_offset_$m" }
    @OFFSET_COUNTERS);

is(join(' ', grep { ($p->{type}{$_} || '') ne 'gauge' }
    map { "beacon_offset_$_" } @OFFSET_GAUGES), '', 'offset: gauges');
is(join(' ', grep { ($p->{type}{$_} || '') ne 'counter' }
    @offset_families[@OFFSET_GAUGES .. $#offset_families]), '',
    'offset: counters');
is(join(' ', grep { !defined $p->{samples}{$_}{one}{''}
    || $p->{samples}{$_}{one}{''} != 0 } @offset_families), '',
    'offset: every family, zero in zone one');
like($prom, qr/^beacon_offset_bytes_spliced_total\{zone="two"\} 0$/m,
    'offset: bytes spliced');
is(scalar(grep { /^beacon_offset_/ } @families), scalar @offset_families,
    'offset: no other families');

# the same values as the JSON document, both ways

for my $zone (sort keys %{$doc->{zones}}) {
    is_deeply(prom_zone($p, $zone), from_json_zone($doc->{zones}{$zone}),
        "zone $zone: every JSON value, and only those");
}

is($p->{samples}{beacon_nodes}{two}{''}, 3, 'two: 3 nodes');
is($p->{samples}{beacon_datagrams_total}{two}{''}, 8, 'two: 8 datagrams');
is($p->{samples}{beacon_relay_forwarded_total}{two}{''}, 1,
    'two: relay forwarded');

my $sum = 0;
$sum += $_ for values %{$p->{samples}{beacon_worker_datagrams_total}{two}};
is($sum, 8, 'two: workers add up');

# format=, zone= and the request argument

($code, $h, $body) = http_get($H, '/metrics/two');
my $p2 = parse($body);
is(join(',', sort keys %{$p2->{zones}}), 'two', 'zone=two: one zone');
is_deeply(prom_zone($p2, 'two'), prom_zone($p, 'two'), 'zone=two: same values');

($code, $h, $body) = http_get($H, '/status?format=prometheus');
is($h->{'content-type'}, $PROM_TYPE, '?format=prometheus');
is(scalar @{parse($body)->{order}}, scalar @families,
    '?format=prometheus: same families');

($code, $h, $body) = http_get($H, '/metrics?format=json');
like($h->{'content-type'}, qr!application/json!, '?format=json');
ok(eval { JSON::PP->new->decode($body)->{zones}{two} }, '?format=json: JSON');

($code, $h, $body) = http_get($H, '/json/two?x=1&format=prometheus&y=2');
is($h->{'content-type'}, $PROM_TYPE, '?format= among other arguments');

($code) = http_get($H, '/metrics?format=xml');
is($code, 400, 'unknown format: 400');

($code, $h, $body) = http_get($H, '/metrics', method => 'HEAD');
is($code, 200, 'HEAD');
is($body, '', 'HEAD: no body');

($code) = http_get($H, '/metrics', method => 'POST');
is($code, 405, 'POST: 405');

# promtool

SKIP: {
    my $promtool = promtool();
    skip 'promtool not installed (Debian: apt-get install prometheus)', 2
        unless $promtool;

    my ($rc, $out) = promtool_check($promtool, $prom);
    is($rc, 0, 'promtool check metrics: every zone') or diag($out);

    ($rc, $out) = promtool_check($promtool, http_get_body($H, '/metrics/two'));
    is($rc, 0, 'promtool check metrics: zone=two') or diag($out);
}

###############################################################################

sub http_get_body {
    my (undef, undef, $body) = http_get(@_);
    return $body;
}

# the Prometheus text format, strictly: "# HELP", "# TYPE", then the
# family's samples, each family once

sub parse {
    my ($text) = @_;

    my %p = (order => [], errors => [], help => {}, type => {},
        samples => {}, labels => {}, zones => {});
    my $family;

    for my $line (split /\n/, $text) {

        if ($line =~ /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (\S.*)$/) {
            push @{$p{errors}}, "HELP $1 twice" if $p{help}{$1}++;
            push @{$p{order}}, $1;
            $family = $1;
            next;
        }

        if ($line =~ /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/) {
            push @{$p{errors}}, "TYPE $1 not after its HELP"
                unless defined $family && $family eq $1 && !$p{type}{$1};
            $p{type}{$1} = $2;
            next;
        }

        if ($line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\d+)$/) {
            my ($name, $labels, $v) = ($1, $2, $3);

            push @{$p{errors}}, "sample $name outside its family"
                unless defined $family && $family eq $name;

            my %l;

            while ($labels =~ /\G([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/gc) {
                my ($k, $lv) = ($1, $2);
                $lv =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
                $l{$k} = $lv;
                $p{labels}{$name}{$k} = 1;
            }

            push @{$p{errors}}, "labels of $name: $labels"
                unless (pos($labels) || 0) == length $labels;

            my $zone = delete $l{zone};
            push @{$p{errors}}, "$name without zone" unless defined $zone;
            push @{$p{errors}}, "$name: more than one other label"
                if keys %l > 1;

            my ($other) = values %l;
            $other = '' unless defined $other;

            push @{$p{errors}}, "$name duplicate sample"
                if exists $p{samples}{$name}{$zone}{$other};

            $p{samples}{$name}{$zone}{$other} = $v;
            $p{zones}{$zone} = 1;
            next;
        }

        push @{$p{errors}}, "bad line: $line";
    }

    return \%p;
}

# { metric => { label value or '' => value } } of one zone

sub prom_zone {
    my ($p, $zone) = @_;

    my %z;

    for my $name (keys %{$p->{samples}}) {
        next unless $p->{samples}{$name}{$zone};
        $z{$name} = { %{$p->{samples}{$name}{$zone}} };
    }

    return \%z;
}

# what the Prometheus page must hold for one JSON zone

sub from_json_zone {
    my ($j) = @_;

    my %gauge = (nodes => 'nodes', max_nodes => 'nodes_max',
        node_ttl => 'node_ttl_seconds');
    my %renamed = (datagrams => 'datagrams_total',
        malformed => 'datagrams_malformed_total',
        unknown_type => 'datagrams_unknown_type_total');
    my %state = (size => 'total', used => 'used', free => 'free');
    my %offset_gauge = map { $_ => 1 } @OFFSET_GAUGES;

    my %e;

    for my $k (keys %$j) {
        my $v = $j->{$k};

        if ($k eq 'draining') {
            $e{beacon_draining}{''} = $v ? 1 : 0;

        } elsif ($state{$k}) {
            $e{beacon_zone_bytes}{$state{$k}} = $v;

        } elsif ($gauge{$k}) {
            $e{"beacon_$gauge{$k}"}{''} = $v;

        } elsif ($k eq 'workers') {
            $e{beacon_worker_datagrams_total}{$_->{worker}} = $_->{datagrams}
                for @$v;

        } elsif ($k eq 'relay_dropped') {
            for my $r (grep { $_ ne 'total' } keys %$v) {
                $e{beacon_relay_dropped_total}{$r} = $v->{$r};
            }

        } elsif ($k eq 'gossip') {
            $e{beacon_gossip_routes}{''} = $v->{routes};
            $e{beacon_gossip_peers}{''} = scalar @{$v->{peers}};

            for my $peer (@{$v->{peers}}) {
                $e{beacon_gossip_peer_routes}{$peer->{addr}} = $peer->{routes};
                $e{beacon_gossip_peer_forwarded_total}{$peer->{addr}}
                    = $peer->{forwarded};
            }

        } elsif ($k eq 'offset') {
            for my $o (keys %$v) {
                my $m = $o;
                $m .= '_total' unless $offset_gauge{$o} || $m =~ /_total$/;
                $e{"beacon_offset_$m"}{''} = $v->{$o};
            }

        } elsif ($k eq 'stun') {
            $e{"beacon_stun_${_}_total"}{''} = $v->{$_} for keys %$v;

        } elsif ($k eq 'stun_errors' || $k eq 'stun_dropped') {
            $e{"beacon_${k}_total"}{$_} = $v->{$_} for keys %$v;

        } elsif ($k eq 'compat') {
            for my $c (keys %$v) {
                if ($c eq 'dropped') {
                    $e{beacon_compat_dropped_total}{$_} = $v->{dropped}{$_}
                        for keys %{$v->{dropped}};

                } elsif ($c eq 'active_peers' || $c eq 'connections') {
                    $e{"beacon_compat_$c"}{''} = $v->{$c};

                } else {
                    $e{"beacon_compat_${c}_total"}{''} = $v->{$c};
                }
            }

        } else {
            $e{'beacon_' . ($renamed{$k} || "${k}_total")}{''} = $v;
        }
    }

    # the JSON lists only the workers that received something; so does
    # the Prometheus page (a family with no sample in a zone is absent)

    delete $e{beacon_worker_datagrams_total}
        unless %{$e{beacon_worker_datagrams_total} || {}};

    for my $m (qw/ beacon_gossip_peer_routes
        beacon_gossip_peer_forwarded_total /)
    {
        delete $e{$m} unless %{$e{$m} || {}};
    }

    return \%e;
}

sub promtool {
    for my $dir (split /:/, $ENV{PATH} || '/usr/bin:/bin') {
        return "$dir/promtool" if -x "$dir/promtool";
    }

    return undef;
}

sub promtool_check {
    my ($promtool, $text) = @_;

    my $file = $t->testdir() . '/metrics.txt';
    $t->write_file('metrics.txt', $text);

    my $out = `$promtool check metrics < $file 2>&1`;

    return ($? >> 8, $out);
}

###############################################################################
