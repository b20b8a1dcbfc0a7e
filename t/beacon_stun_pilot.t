#!/usr/bin/perl

# Pilot traffic is unaffected by STUN on the same port: runs the Pilot
# beacon test files again with "beacon_stun on;" for every beacon server
# (stream-wide, through TEST_NGINX_GLOBALS_STREAM), each as its own
# process; each file must pass as it does without STUN.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

###############################################################################

my @files = qw/ beacon_discover.t beacon_punch.t beacon_relay.t
    beacon_garbage.t beacon_wildcard.t beacon_ipv6.t beacon_workers.t
    beacon_limits.t beacon_sessions.t /;

unless ($ENV{TEST_NGINX_BEACON_MODULE} || $ENV{TEST_NGINX_BINARY}) {
    plan skip_all => 'TEST_NGINX_BINARY / TEST_NGINX_BEACON_MODULE not set';
}

plan tests => scalar @files;

local $ENV{TEST_NGINX_GLOBALS_STREAM} =
    join "\n", grep { defined && length } $ENV{TEST_NGINX_GLOBALS_STREAM},
    'beacon_stun on;';

foreach my $f (@files) {
    my $out = `$^X $f 2>&1`;
    my $rc = $?;
    my ($n) = $out =~ /^1\.\.(\d+)/m;
    my $fails = () = $out =~ /^not ok/mg;

    ok($rc == 0 && $fails == 0 && $out !~ /^1\.\.0 # SKIP/m,
       "$f with beacon_stun on: " . ($n // '?') . " tests, $fails failed")
        or diag($out);
}

###############################################################################
