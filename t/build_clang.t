#!/usr/bin/perl

# The module builds warning-free (nginx's -W -Wall -Werror) with clang too;
# the gcc build is what every other test runs against.

use warnings;
use strict;

use Test::More;
use File::Basename qw/ dirname /;
use Cwd qw/ abs_path /;

my $root = abs_path(dirname(__FILE__) . '/..');

plan(skip_all => 'TEST_BEACON_SANITIZE: a clang build against Debian\'s'
	. ' nginx-dev, not the sanitizer build (make test runs this)')
	if $ENV{TEST_BEACON_SANITIZE};
plan(skip_all => 'clang not installed')
	unless system('clang --version >/dev/null 2>&1') == 0;
plan(skip_all => 'nginx-dev not installed')
	unless -d '/usr/share/nginx/src';

plan(tests => 3);

my $build = ($ENV{TEST_BEACON_BUILD} || "$root/build") . '/clang';
my $out = `make -C $root CC=clang BUILD=build/clang module 2>&1`;
my $rc = $? >> 8;

is($rc, 0, 'clang build succeeds') or diag($out);
unlike($out, qr/warning:/, 'no warnings') or diag($out);
ok(-f "$root/build/clang/ngx_stream_beacon_module.so", 'module built');
