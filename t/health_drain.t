#!/usr/bin/perl

# Tests for ngx_beacon_module: "beacon_health" and "beacon_drain" (W15).
# 200 "ok" while serving, 503 "unhealthy" from every worker once drained,
# the flag in the status page, kept across a reload, per zone, guarded by
# allow/deny; the beacon itself keeps answering while draining.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)->plan(44);

# reuseport on the http listener: connections spread over both workers

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:1m;
    beacon_zone other:1m;

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
        beacon zone=beacon;
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8080%% reuseport;

        add_header X-Worker $pid always;

        location = /health {
            beacon_health zone=beacon;
        }

        location = /health/other {
            beacon_health zone=other;
        }

        location = /drain {
            allow 127.0.0.1;
            deny all;
            beacon_drain zone=beacon;
        }

        location = /drain/locked {
            deny all;
            beacon_drain zone=beacon;
        }

        location = /status {
            beacon_status;
        }
    }
}

EOF

$t->run();

###############################################################################

my $B = '127.0.0.1:' . port(8980, udp => 1);
my $H = port(8080);

# serving

my ($code, $h, $body) = http_get($H, '/health');
is($code, 200, 'healthy: 200');
is($body, "ok\n", 'healthy: ok');
like($h->{'content-type'} || '', qr!^text/plain!, 'text/plain');

($code, $h, $body) = http_get($H, '/health', method => 'HEAD');
is($code, 200, 'HEAD healthy: 200');
is($body, '', 'HEAD: no body');

($code, $h, $body) = http_get($H, '/drain');
is($body, "serving\n", 'drain GET: serving');
is(draining_json(), 'false', 'status: draining false');

# every worker answers 200, then 503 once drained

my %r = sweep('/health');
is(join(',', sort keys %{$r{codes}}), '200', 'every request 200');
is(scalar keys %{$r{workers}}, 2, 'both workers seen');

($code, $h, $body) = http_get($H, '/drain', method => 'POST');
is($code, 204, 'drain POST: 204');
is($body, '', 'drain POST: no body');

($code) = http_get($H, '/drain', method => 'POST');
is($code, 204, 'drain POST again: 204');

($code, $h, $body) = http_get($H, '/drain');
is($code, 200, 'drain GET: 200');
is($body, "draining\n", 'drain GET: draining');

%r = sweep('/health');
is(join(',', sort keys %{$r{codes}}), '503', 'draining: every request 503');
is(join(',', sort keys %{$r{bodies}}), "unhealthy\n", 'draining: unhealthy');
is(join(',', sort keys %{$r{workers}}), join(',', sort $t->worker_pids()),
    'draining: from both workers');

($code, $h, $body) = http_get($H, '/health', method => 'HEAD');
is($code, 503, 'HEAD draining: 503');
is($body, '', 'HEAD draining: no body');

($code, $h, $body) = http_get($H, '/health/other');
is($code, 200, 'another zone stays healthy');

is(draining_json(), 'true', 'status: draining true');
is(draining_json('other'), 'false', 'status: other zone not draining');

($code, $h, $body) = http_get($H, '/status?format=prometheus');
like($body, qr/^beacon_draining\{zone="beacon"\} 1$/m,
    'prometheus: beacon_draining 1');
like($body, qr/^beacon_draining\{zone="other"\} 0$/m,
    'prometheus: other zone 0');

like($t->read_file('error.log'), qr/beacon zone "beacon" is draining/,
    'drain logged');

# the beacon is not affected

my @ok;

for my $id (11 .. 14) {
    my $s = dgram($B);
    my $reply = $s->io(discover($id));
    push @ok, $id if defined $reply && substr($reply, 0, 1) eq "\x02";
}

is("@ok", '11 12 13 14', 'DISCOVER answered while draining');

# methods, allow/deny

($code) = http_get($H, '/health', method => 'POST');
is($code, 405, 'health POST: 405');

($code) = http_get($H, '/health', method => 'DELETE');
is($code, 405, 'health DELETE: 405');

($code) = http_get($H, '/drain', method => 'PUT');
is($code, 405, 'drain PUT: 405');

($code) = http_get($H, '/drain/locked', method => 'DELETE');
is($code, 403, 'drain denied: 403');

($code) = http_get($H, '/health');
is($code, 503, 'denied DELETE changed nothing');

# kept across a reload

my @old = $t->worker_pids();

ok($t->reload(), 'reload');

my @new = $t->worker_pids();
is(scalar(grep { my $o = $_; grep { $_ == $o } @new } @old), 0,
    'new workers');

%r = sweep('/health');
is(join(',', sort keys %{$r{codes}}), '503', 'after reload: still 503');
is(join(',', sort keys %{$r{workers}}), join(',', sort @new),
    'after reload: from both new workers');

($code, $h, $body) = http_get($H, '/drain');
is($body, "draining\n", 'after reload: drain GET draining');
is(draining_json(), 'true', 'after reload: status draining true');

# serving again

($code, $h, $body) = http_get($H, '/drain', method => 'DELETE');
is($code, 204, 'drain DELETE: 204');

($code, $h, $body) = http_get($H, '/drain');
is($body, "serving\n", 'drain GET: serving again');

%r = sweep('/health');
is(join(',', sort keys %{$r{codes}}), '200', 'serving again: every request 200');
is(join(',', sort keys %{$r{bodies}}), "ok\n", 'serving again: ok');
is(scalar keys %{$r{workers}}, 2, 'serving again: both workers');

is(draining_json(), 'false', 'status: draining false again');

like($t->read_file('error.log'), qr/beacon zone "beacon" serves again/,
    'undrain logged');

###############################################################################

# requests until both workers answered (at most 60): status codes, bodies
# and worker pids seen

sub sweep {
    my ($uri) = @_;

    my (%codes, %bodies, %workers);

    for (1 .. 60) {
        my ($code, $h, $body) = http_get($H, $uri);

        $codes{defined $code ? $code : 'none'}++;
        $bodies{$body}++;
        $workers{$h->{'x-worker'}}++ if defined $h->{'x-worker'};

        last if $_ >= 8 && keys %workers >= 2;
    }

    return (codes => \%codes, bodies => \%bodies, workers => \%workers);
}

# the JSON status "draining" of a zone, as written

sub draining_json {
    my ($zone) = @_;

    $zone = 'beacon' unless defined $zone;

    my ($code, $h, $body) = http_get($H, '/status');
    my ($v) = $body =~ /"\Q$zone\E":\{[^{}]*"draining":(true|false)/;

    return defined $v ? $v : 'missing';
}

###############################################################################
