#!/usr/bin/perl

# Self-test of the t/lib harness against plain nginx (no beacon module):
# stream UDP "return", an http location, worker pids, reload, stop.

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

# the harness itself, without our module
$ENV{TEST_NGINX_BEACON_MODULE} = '';

my $t = Test::Nginx->new()->has(qw/stream udp http/)->plan(15);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
        return "udp-ok";
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8080%%;

        location = /t {
            return 200 "http-ok";
        }
    }
}

EOF

# Debian's nginx has the stream module as a .so, a sanitizer build has it
# built in: the harness must load it in the first case only

if ($t->dynamic_stream()) {
    like($t->read_file('nginx.conf'), qr/load_module .*ngx_stream_module\.so;/,
        'stream module loaded');

} else {
    unlike($t->read_file('nginx.conf'), qr/ngx_stream_module\.so/,
        'static stream: no load_module line');
}

$t->run();

my $udp = port(8980, udp => 1);
my $http = port(8080);

isnt($udp, $http, 'distinct ports');

my $s = dgram("127.0.0.1:$udp");
my ($data, $ip, $port) = $s->io('x');
is($data, 'udp-ok', 'udp return');
is("$ip:$port", "127.0.0.1:$udp", 'udp reply source');

my $b = dgram("127.0.0.1:$udp", local => '127.0.0.9');
is(($b->io('y'))[0], 'udp-ok', 'udp from another loopback address');

my ($code, $h, $body) = http_get($http, '/t');
is($code, 200, 'http status');
is($body, 'http-ok', 'http body');

my @w = $t->worker_pids();
is(scalar @w, 2, 'two workers');

ok($t->reload(), 'reload');

my @n = $t->worker_pids();
is(scalar @n, 2, 'two workers after reload');
ok(!grep({ my $o = $_; grep { $_ == $o } @n } @w), 'new worker pids');

is(($s->io('z'))[0], 'udp-ok', 'udp after reload');

ok($s->expect_nothing(0.2), 'expect_nothing: nothing pending');
$s->send('w');
ok(!$s->expect_nothing(3), 'expect_nothing: sees a reply');

$t->stop();

ok(!kill(0, $n[0]), 'stopped');

###############################################################################
