#!/usr/bin/perl

# Tests for ngx_beacon_module: Offset relay keepalives are counted at the
# keepalive layer only (spec offset-relay.md 3.5), with 2 workers.  The
# relay's own Rekeys (every 2 s here) do not stand in for a keepAlive: an
# idle Listen connection and both hops of an idle tunnel still get one
# every 16 s (the strelay default) for 40 s.  A node that sends nothing but
# Rekeys is dropped as idle.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;
use Test::Nginx::Offset;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream beacon/);
has_offset_node();

$t->plan(3);

write_ident($t);

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone beacon:8m;

    # keepalive 16 s and idle timeout 32 s: the defaults
    server {
        listen 127.0.0.1:%%PORT_8990%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_rekey_interval 2s;
    }

    server {
        listen 127.0.0.1:%%PORT_8991%% reuseport;
        beacon_offset_relay identity=%%TESTDIR%%/relay.ident;
        beacon_offset_keepalive 2s;
        beacon_offset_idle_timeout 4s;
        beacon_offset_rekey_interval off;
    }
}

EOF

$t->run();

###############################################################################

my $r = node(port(8990), '-t', 75, '-w', 40, 'keepalive-rekey');
node_ok($r, 'relay rekeys every 2 s: Listen, A and B hops still get a '
    . 'keepAlive every 16 s for 40 s');
diag('longest gaps: ' . join(' ', @{$r->{notes}{longest_keepalive_gap}
    || []})) if $ENV{TEST_NGINX_VERBOSE};

$r = node(port(8991), '-t', 20, 'rekey-silent');
node_ok($r, 'a node that sends only Rekeys is dropped as idle');

my $after = node_note($r, 'closed_after');
ok(defined $after && $after >= 3.5 && $after < 6.5,
    'dropped after the 4 s idle timeout, not later (' . ($after // '?')
    . ' s)');

###############################################################################
