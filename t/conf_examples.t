#!/usr/bin/perl

# The configurations in conf.examples/ pass "nginx -t" (with test paths for
# certificates, key files and the Offset relay's identity file, and
# loopback for the registry's name).

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;

###############################################################################

my @files = glob('../conf.examples/*.conf');

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)
    ->plan(scalar @files);

my $d = $t->testdir();
mkdir "$d/logs";
my $module = $ENV{TEST_NGINX_BEACON_MODULE};
my $modules = $ENV{TEST_NGINX_MODULES} || '/usr/lib/nginx/modules';

system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
    . "-nodes -keyout $d/key.pem -out $d/cert.pem -days 2 -subj /CN=test "
    . ">/dev/null 2>&1") == 0 or die "openssl: $?";

$t->write_file('keys',
    "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n");

# an Offset relay identity file (seed 11 x 32, spec offset-relay.md V1)
$t->write_file('relay.ident',
    qq({\n  "privateKey": "ERERERERERERERERERERERERERERERERERERERERERE"\n}));
chmod 0600, "$d/relay.ident";

for my $file (@files) {
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    my $conf = <$fh>;
    close $fh;

    if ($t->dynamic_stream()) {
        $conf =~ s!load_module modules/ngx_stream_module\.so;!load_module $modules/ngx_stream_module.so;!;
    } else {
        $conf =~ s!load_module modules/ngx_stream_module\.so;!!;
    }

    if ($module) {
        $conf =~ s!load_module modules/ngx_stream_beacon_module\.so;!load_module $module;!;
    } else {
        $conf =~ s!load_module modules/ngx_stream_beacon_module\.so;!!;
    }

    $conf =~ s!/etc/nginx/beacon-keys!$d/keys!g;
    $conf =~ s!/etc/nginx/offset/[^;\s]+\.ident!$d/relay.ident!g;
    $conf =~ s!/etc/ssl/certs/[^;]+\.pem!$d/cert.pem!g;
    $conf =~ s!/etc/ssl/private/[^;]+\.key!$d/key.pem!g;
    $conf =~ s!registry\.example\.net!127.0.0.1!g;

    # loopback and free ports: "nginx -t" binds reuseport UDP listeners
    $conf =~ s!192\.0\.2\.(\d+)!127.0.0.$1!g;
    $conf =~ s!:9001\b!':' . port(8980, udp => 1)!ge;
    $conf =~ s!listen 9001 !'listen 127.0.0.1:' . port(8980, udp => 1) . ' '!ge;
    $conf =~ s!:8080;!':' . port(8081) . ';'!ge;
    $conf =~ s!listen 443 !'listen 127.0.0.1:' . port(8443) . ' '!ge;
    $conf =~ s!listen 4567 !'listen 127.0.0.1:' . port(8982) . ' '!ge;
    $conf =~ s!listen 3478 !'listen 127.0.0.1:' . port(8983, udp => 1) . ' '!ge;
    $conf =~ s!listen \[::\]:3478 !'listen [::1]:' . port(8983, udp => 1) . ' '!ge;

    (my $name = $file) =~ s!.*/!!;
    $conf = "pid $d/$name.pid;\n" . $conf unless $conf =~ /^pid /m;
    $conf =~ s!^pid logs/!pid $d/!m;
    $t->write_file($name, "error_log $d/$name.log;\n" . $conf);

    my %env = Test::Nginx::no_leak_env();
    local @ENV{keys %env} = values %env;
    my $out = `$Test::Nginx::NGINX -p $d/ -c $d/$name -e $d/$name.log -t 2>&1`;
    is($? >> 8, 0, "$name: nginx -t") or diag($out);
}

###############################################################################
