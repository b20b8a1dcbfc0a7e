#!/usr/bin/perl

# "make deb" builds a libnginx-mod-stream-beacon package that installs, loads
# after the stream module through /etc/nginx/modules-enabled, and goes away
# cleanly: build, inspect (dpkg-deb -c/-f/-e), dpkg -i, nginx -t, dpkg -r,
# reinstall, dpkg --purge, nginx -t.  The installed tools work:
# beacon-offset-tool (--help names every command; identity, ticket, show)
# and beacon-probe, against a beacon the installed module serves.
#
# This test changes the system (it installs and purges a package), so it runs
# only as root on a Debian system with nginx and libnginx-mod-stream, and not
# when the package is already installed. Whatever happens, the END block purges
# what it installed and removes any link it left. The nginx reload that dpkg
# triggers goes to the system nginx only if "invoke-rc.d nginx status" says it
# runs.

###############################################################################

use warnings;
use strict;

use Test::More;
use File::Basename qw/ dirname /;
use File::Temp qw/ tempdir /;
use Cwd qw/ abs_path /;
use IO::Socket::INET;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $root = abs_path(dirname(__FILE__) . '/..');
my $pkg = 'libnginx-mod-stream-beacon';
my $nginx = '/usr/sbin/nginx';          # Debian's nginx: what the package is for
my $enabled = '/etc/nginx/modules-enabled';
my $link = "$enabled/70-mod-stream-beacon.conf";
my $avail = '/usr/share/nginx/modules-available/mod-stream-beacon.conf';
my $so = '/usr/lib/nginx/modules/ngx_stream_beacon_module.so';
my $tool = '/usr/bin/beacon-offset-tool';
my $probe = '/usr/bin/beacon-probe';
my @man = map { "/usr/share/man/man1/$_.1.gz" } qw/ beacon-offset-tool beacon-probe /;

sub have { system("command -v $_[0] >/dev/null 2>&1") == 0 }

sub pkg_status {
	my $s = `dpkg-query -W -f '\${db:Status-Abbrev}' $_[0] 2>/dev/null`;
	return $? == 0 ? $s : '';
}

plan(skip_all => 'TEST_BEACON_SANITIZE: the package is for Debian\'s nginx,'
    . ' not the sanitizer build (make test runs this)')
    if $ENV{TEST_BEACON_SANITIZE};
plan(skip_all => 'installs a package: needs root') unless $> == 0;
plan(skip_all => 'needs dpkg, dpkg-deb and dpkg-query')
	unless have('dpkg') && have('dpkg-deb') && have('dpkg-query');
plan(skip_all => "needs Debian's nginx ($nginx, /etc/nginx/nginx.conf)")
	unless -x $nginx && -f '/etc/nginx/nginx.conf' && -d $enabled;
plan(skip_all => 'needs libnginx-mod-stream installed (make deps)')
	unless pkg_status('libnginx-mod-stream') =~ /^ii/;
plan(skip_all => "$pkg is already installed; not touching it")
	if pkg_status($pkg) =~ /^[a-z][^n]/;
plan(skip_all => "$link already exists; not touching it")
	if -e $link || -l $link || -l "$link.removed";

plan(skip_all => "$tool or $probe already exists; not touching it")
	if -e $tool || -e $probe;

plan(tests => 57);

###############################################################################

my $tmp = tempdir('deb-package-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
my $touched = 0;

sub cleanup {
	return unless $touched;
	$touched = 0;
	system("dpkg --purge $pkg >/dev/null 2>&1")
		if pkg_status($pkg) =~ /^[a-z][^n]/;
	unlink($link, "$link.removed");
}

END { local $?; cleanup(); }
$SIG{$_} = sub { exit 1 } for qw/ INT TERM HUP /;

sub run {
	my $out = `$_[0] 2>&1`;
	return ($? >> 8, $out);
}

sub enabled_list {
	opendir(my $d, $enabled) or return '';
	return join ' ', map { $_ . (-l "$enabled/$_" ? '->' . readlink("$enabled/$_") : '') }
		sort grep { !/^\.\.?$/ } readdir($d);
}

sub nginx_t_stock { run("$nginx -t") }

# a configuration that loads what modules-enabled says, plus a beacon zone:
# it passes only if the beacon module is loaded, after the stream module

open(my $fh, '>', "$tmp/beacon.conf") or die "$tmp/beacon.conf: $!";
print $fh <<"EOF";
pid $tmp/nginx.pid;
error_log $tmp/error.log;
include $enabled/*.conf;
events { }
stream { beacon_zone z:1m; }
EOF
close($fh);

open($fh, '>', "$tmp/plain.conf") or die "$tmp/plain.conf: $!";
print $fh <<"EOF";
pid $tmp/nginx.pid;
error_log $tmp/error.log;
include $enabled/*.conf;
events { }
EOF
close($fh);

sub nginx_t { run("$nginx -t -c $tmp/$_[0] -e $tmp/error.log") }

my $before = enabled_list();
my ($stock_rc, $stock_out) = nginx_t_stock();
my $stock_ok = $stock_rc == 0;
diag("nginx -t fails before the test, so only the minimal configuration "
	. "is checked:\n$stock_out") unless $stock_ok;

###############################################################################

# build

my ($rc, $out) = run("make -C $root deb");
is($rc, 0, 'make deb') or diag($out);

my ($version) = `sed -n 's/.*NGX_BEACON_VERSION[[:space:]]*"\\([^"]*\\)".*/\\1/p' $root/ngx_beacon_module/ngx_beacon.h` =~ /(\S+)/;
my $arch = `dpkg --print-architecture`;
chomp($arch);
my $deb = "$root/build/${pkg}_$version-1_$arch.deb";
ok(-f $deb, "built build/${pkg}_$version-1_$arch.deb")
	or BAIL_OUT('no package, nothing else to test');

# inspect

sub field { my $v = `dpkg-deb -f $deb $_[0]`; chomp($v); $v }

is(field('Package'), $pkg, 'Package');
is(field('Version'), "$version-1", 'Version');
is(field('Architecture'), $arch, 'Architecture');

my $depends = field('Depends');
my %dep = map { /^\s*([^\s(]+)/ ? ($1 => $_) : () } split /,/, $depends;
ok($dep{'libnginx-mod-stream'}, 'Depends: libnginx-mod-stream') or diag($depends);

my $abi = 'nginx-abi-1.22.1-7';
if (open(my $sv, '<', '/usr/share/nginx/src/debian/libnginx-mod.abisubstvars')) {
	while (<$sv>) { $abi = $1 if /^nginx:abi=(\S+)/ }
}
ok($dep{$abi}, "Depends: $abi") or diag($depends);
ok($dep{libsodium23}, 'Depends: libsodium23') or diag($depends);
ok($dep{libc6}, 'Depends: libc6') or diag($depends);
like(field('Description'), qr/\S/, 'Description');

my @files = map { (split ' ', $_, 6)[5] } split /\n/, `dpkg-deb -c $deb`;
s/^\.// for @files;
ok((grep { $_ eq $so } @files), "contains $so");
ok((grep { $_ eq $avail } @files), "contains $avail");
ok((grep { $_ eq $tool } @files), "contains $tool");
ok((grep { $_ eq $probe } @files), "contains $probe");
is(scalar(grep { my $m = $_; grep { $_ eq $m } @files } @man), 2,
	'contains both man pages');
is((grep { m!^/etc/! } @files), 0, 'nothing under /etc');

system("dpkg-deb -x $deb $tmp/root && dpkg-deb -e $deb $tmp/ctrl");
open(my $conf, '<', "$tmp/root$avail");
like(join('', <$conf>), qr/^load_module modules\/ngx_stream_beacon_module\.so;$/m,
	'mod-stream-beacon.conf loads the module');
ok(!-e "$tmp/ctrl/conffiles" || -z "$tmp/ctrl/conffiles", 'no conffiles');
is(join(' ', map { -x "$tmp/ctrl/$_" && system("sh -n $tmp/ctrl/$_") == 0
	? $_ : "!$_" } qw/ postinst prerm postrm /),
	'postinst prerm postrm', 'maintainer scripts present and parse');

###############################################################################

# install

$touched = 1;

($rc, $out) = run("dpkg -i $deb");
is($rc, 0, 'dpkg -i') or diag($out);
like(pkg_status($pkg), qr/^ii/, 'installed');
ok(-f $so, 'module installed');
is(readlink($link), $avail, '70-mod-stream-beacon.conf enabled');

# the link sorts after the stream module's
my @confs = map { s!.*/!!r } sort glob("$enabled/*.conf");
my ($i_stream) = grep { $confs[$_] eq '50-mod-stream.conf' } 0 .. $#confs;
my ($i_beacon) = grep { $confs[$_] eq '70-mod-stream-beacon.conf' } 0 .. $#confs;
ok(defined $i_stream && defined $i_beacon && $i_stream < $i_beacon,
	'loads after 50-mod-stream.conf') or diag("@confs");

SKIP: {
	skip 'stock nginx -t failed before the test', 1 unless $stock_ok;
	($rc, $out) = nginx_t_stock();
	is($rc, 0, 'nginx -t, stock configuration, module loaded') or diag($out);
}

($rc, $out) = nginx_t('beacon.conf');
is($rc, 0, 'nginx -t, modules-enabled + beacon_zone') or diag($out);

# the installed tools: what an Offset relay operator runs

($rc, $out) = run("$tool --help");
is($rc, 0, 'beacon-offset-tool --help');
is(scalar(grep { $out =~ /^\s+\Q$_\E\s/m } qw/ gen-ident relay-ticket show /), 3,
	'--help describes gen-ident, relay-ticket and show') or diag($out);

my $man = `gzip -dc $man[0] 2>&1`;
is(scalar(grep { $man =~ /^\.B\s+\Q$_\E$/m } qw/ gen-ident relay-ticket show /), 3,
	'the man page has a section for every command') or diag($man);

($rc, $out) = run("$tool gen-ident --output $tmp/relay.ident");
is($rc, 0, 'installed gen-ident') or diag($out);
is((stat "$tmp/relay.ident")[2] & 07777, 0600, 'identity file mode 0600');
($rc, $out) = run("$tool relay-ticket --idfile $tmp/relay.ident "
	. "--address relay.example.org:4567 --output $tmp/relay.ticket");
is($rc, 0, 'installed relay-ticket') or diag($out);
my ($pk_id) = `$tool show $tmp/relay.ident` =~ /^publicKey: (\S+)$/m;
($rc, $out) = run("$tool show $tmp/relay.ticket");
ok($rc == 0 && defined $pk_id && $out =~ /^publicKey: \Q$pk_id\E$/m
	&& $out =~ /^address: relay\.example\.org:4567$/m,
	'installed show: the ticket carries the identity\'s key') or diag($out);

# beacon-probe against a beacon served by the installed module

($rc, $out) = run("$probe --help");
ok($rc == 0 && $out =~ /^usage: beacon-probe /m, 'beacon-probe --help');

my $port = do {
	my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1')
		or die "udp socket: $!";
	$s->sockport();
};

open($fh, '>', "$tmp/serve.conf") or die "$tmp/serve.conf: $!";
print $fh <<"EOF";
pid $tmp/serve.pid;
error_log $tmp/serve.log;
include $enabled/*.conf;
events { }
stream {
    beacon_zone z:1m;
    server { listen 127.0.0.1:$port udp reuseport; beacon on; }
}
EOF
close($fh);

($rc, $out) = run("$nginx -c $tmp/serve.conf -e $tmp/serve.log");
is($rc, 0, 'nginx with the installed module serves a beacon') or diag($out);
($rc, $out) = run("$probe -t 5 127.0.0.1:$port");
is($rc, 0, 'installed beacon-probe gets a DISCOVER_REPLY') or diag($out);
like($out, qr/^observed: 127\.0\.0\.1:\d+ /m, 'beacon-probe: observed address');
if (-f "$tmp/serve.pid") {
	run("$nginx -c $tmp/serve.conf -e $tmp/serve.log -s stop");
	my $until = time() + 10;
	select(undef, undef, undef, 0.1) while -f "$tmp/serve.pid" && time() < $until;
}
ok(!-f "$tmp/serve.pid", 'that nginx stopped');

# remove: disabled, not deleted, so a reinstall enables it again

($rc, $out) = run("dpkg -r $pkg");
is($rc, 0, 'dpkg -r') or diag($out);
ok(!-e $link && !-l $link, 'link gone after remove');
ok(!-e $so, 'module gone after remove');
ok(!-e $tool && !-e $probe, 'tools gone after remove');

SKIP: {
	skip 'stock nginx -t failed before the test', 1 unless $stock_ok;
	($rc, $out) = nginx_t_stock();
	is($rc, 0, 'nginx -t, stock configuration, after remove') or diag($out);
}

($rc, $out) = run("dpkg -i $deb");
is($rc, 0, 'dpkg -i after remove') or diag($out);
is(readlink($link), $avail, 'reinstall enables the module again');
($rc, $out) = nginx_t('beacon.conf');
is($rc, 0, 'nginx -t after reinstall') or diag($out);

# purge

($rc, $out) = run("dpkg --purge $pkg");
is($rc, 0, 'dpkg --purge') or diag($out);
is(pkg_status($pkg) =~ /^[a-z][^n]/ ? 'present' : 'gone', 'gone', 'purged');
ok(!-e $link && !-l $link, 'link gone after purge');
ok(!-l "$link.removed", 'no .removed link left');
ok(!-e $avail && !-e $so, 'files gone after purge');
ok(!grep({ -e } $tool, $probe, @man), 'tools and man pages gone after purge');
is(enabled_list(), $before, 'modules-enabled as before');

SKIP: {
	skip 'stock nginx -t failed before the test', 1 unless $stock_ok;
	($rc, $out) = nginx_t_stock();
	is($rc, 0, 'nginx -t, stock configuration, after purge') or diag($out);
}

($rc, $out) = nginx_t('plain.conf');
is($rc, 0, 'nginx -t, modules-enabled, after purge') or diag($out);

($rc, $out) = nginx_t('beacon.conf');
isnt($rc, 0, 'beacon_zone unknown after purge');
like($out, qr/unknown directive "beacon_zone"/, 'unknown directive message')
	or diag($out);

$touched = 0;

###############################################################################
