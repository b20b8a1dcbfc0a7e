#!/usr/bin/perl

# Tests for ngx_beacon_module: "nginx -t" with "beacon_health",
# "beacon_drain" and "beacon_status format=": accepted forms, and errors
# that name the directive.

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

my $t = Test::Nginx->new()->has(qw/stream http beacon/);

# [ name, stream main, http locations ]

my @good = (
    [ 'one zone, no zone=', 'beacon_zone a:1m;',
        'location = /h { beacon_health; } location = /d { beacon_drain; }' ],
    [ 'zone= with several zones', 'beacon_zone a:1m; beacon_zone b:1m;',
        'location = /h { beacon_health zone=b; }'
        . ' location = /d { beacon_drain zone=a; }' ],
    [ 'status formats', 'beacon_zone a:1m; beacon_zone b:1m;',
        'location = /1 { beacon_status format=prometheus; }'
        . ' location = /2 { beacon_status format=json zone=a; }'
        . ' location = /3 { beacon_status zone=b format=prometheus; }' ],
);

# [ name, stream main, http locations, expected message ]

my @bad = (
    [ 'health, several zones', 'beacon_zone a:1m; beacon_zone b:1m;',
        'location = /h { beacon_health; }',
        qr/beacon_health.*several beacon zones/ ],
    [ 'drain, several zones', 'beacon_zone a:1m; beacon_zone b:1m;',
        'location = /d { beacon_drain; }',
        qr/beacon_drain.*several beacon zones/ ],
    [ 'health, unknown zone', 'beacon_zone a:1m;',
        'location = /h { beacon_health zone=x; }',
        qr/beacon_health.*unknown zone "x"/ ],
    [ 'drain, unknown zone', 'beacon_zone a:1m;',
        'location = /d { beacon_drain zone=x; }',
        qr/beacon_drain.*unknown zone "x"/ ],
    [ 'health, no zone at all', '',
        'location = /h { beacon_health; }',
        qr/beacon_health.*no "beacon_zone"/ ],
    [ 'health, bad parameter', 'beacon_zone a:1m;',
        'location = /h { beacon_health a; }', qr/beacon_health.*"a"/ ],
    [ 'drain, empty zone=', 'beacon_zone a:1m;',
        'location = /d { beacon_drain zone=; }', qr/beacon_drain/ ],
    [ 'status, unknown format', 'beacon_zone a:1m;',
        'location = /s { beacon_status format=xml; }',
        qr/beacon_status.*format=xml/ ],
    [ 'status, two formats', 'beacon_zone a:1m;',
        'location = /s { beacon_status format=json format=prometheus; }',
        qr/beacon_status/ ],
    [ 'status, two zones', 'beacon_zone a:1m; beacon_zone b:1m;',
        'location = /s { beacon_status zone=a zone=b; }',
        qr/beacon_status/ ],
    [ 'status, unknown zone with format', 'beacon_zone a:1m;',
        'location = /s { beacon_status format=prometheus zone=x; }',
        qr/beacon_status.*unknown zone/ ],
    [ 'status and health in one location', 'beacon_zone a:1m;',
        'location = /s { beacon_status; beacon_health; }',
        qr/beacon_health.*already has "beacon_status"/ ],
    [ 'drain twice', 'beacon_zone a:1m;',
        'location = /d { beacon_drain; beacon_drain; }',
        qr/beacon_drain.*already has "beacon_drain"/ ],
    [ 'health in server context', 'beacon_zone a:1m;',
        'beacon_health;', qr/beacon_health.*not allowed/ ],
);

$t->plan(@good + 2 * @bad);

###############################################################################

# errors found after parsing go to the configured error_log as well: keep
# them out of error.log

sub write_conf {
    my ($name, $main, $locations) = @_;

    my $text = $t->expand(<<"EOF");

%%TEST_GLOBALS%%

daemon off;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    $main
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        $locations
    }
}

EOF

    $text =~ s!(error_log \S+/)error\.log!${1}test_config.log!;

    $t->write_file($name, $text);
}

my $i = 0;

foreach my $case (@good) {
    my ($name, $main, $locations) = @$case;

    my $file = 'g' . $i++ . '.conf';
    write_conf($file, $main, $locations);

    my ($rc, $out) = $t->test_config($file);
    is($rc, 0, "$name: accepted") or diag($out);
}

foreach my $case (@bad) {
    my ($name, $main, $locations, $re) = @$case;

    my $file = 'b' . $i++ . '.conf';
    write_conf($file, $main, $locations);

    my ($rc, $out) = $t->test_config($file);

    isnt($rc, 0, "$name: rejected");
    like($out, $re, "$name: message");
}

###############################################################################
