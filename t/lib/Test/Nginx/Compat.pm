package Test::Nginx::Compat;

# Helpers for the compat bridge (WebSocket over TLS) tests of
# ngx_beacon_module: the nginx.conf they share, the wsc client
# (t/tools/wsc.c) driven line by line, logins on a chosen worker,
# a self-signed certificate, Ed25519 seeds and key files, the fake registry
# (t/tools/fake_registry.pl), nested status counters, and the nginx worker
# that owns a TCP connection.  Written for this project.
#
# All traffic goes to loopback addresses only; every wait is bounded.
#
# Environment:
#   TEST_NGINX_WSC       path of a built wsc (default: $TEST_BEACON_BUILD/wsc
#                        or ../build/wsc when newer than tools/wsc.c, else
#                        compiled into a temporary directory)

use warnings;
use strict;

use Exporter qw/ import /;
our @EXPORT = qw/
    compat_nginx compat_keys compat_conf
    wsc_binary has_wsc make_cert seed_for pubkey_of write_keyfile
    ws ws_login ws_connect_avoiding ws_login_avoiding https_get
    start_registry registry_lookups registry_table
    ccounters cdelta cwait conn_worker
/;

use Cwd qw/ abs_path /;
use Digest::SHA qw/ sha256_hex /;
use File::Temp qw/ tempdir /;
use IO::Select;
use MIME::Base64 qw/ encode_base64 decode_base64 /;
use POSIX qw/ WNOHANG /;
use Test::More qw//;
use Time::HiRes qw/ sleep time /;

use Test::Nginx qw//;
use Test::Nginx::Beacon qw/ status beacon_conf /;

our $VERBOSE = $ENV{TEST_NGINX_VERBOSE};

###############################################################################
# test setup

# compat_nginx($plan, @modules): the Test::Nginx object of a bridge test,
# with $plan tests; the file is skipped without stream, udp, http,
# http_ssl_module, beacon, openssl, @modules, or without wsc

sub compat_nginx {
    my ($plan, @modules) = @_;

    my $t = Test::Nginx->new()
        ->has(qw/stream udp http http_ssl_module beacon openssl/, @modules);
    has_wsc($t);

    return $t->plan($plan);
}

# compat_keys($t, @ids): a seed (seed_for) for each node id, written to the
# key file "keys" of the test; returns the list (id => seed, ...)

sub compat_keys {
    my ($t, @ids) = @_;

    my %seeds = map { $_ => seed_for($_) } @ids;
    write_keyfile($t, 'keys', \%seeds);

    return %seeds;
}

###############################################################################
# nginx.conf

# compat_conf(cert => [ crt, key ], %o): the nginx.conf text of a bridge test
# (beacon_conf): a zone "beacon" (zone => size, default 4m) and its UDP
# server on port 8980 with the reply and register limits off and then the
# directives in beacon => text (or a whole stream => text instead); in http
# the key file %%TESTDIR%%/keys, more directives in http => text, and the
# bridge: a TLS server on port 8443 with the certificate and
# location = /v1/compat { beacon_compat; }, then the lines in
# server => text.  listen => text adds flags to its listen (e.g.
# reuseport); workers, main and status are those of beacon_conf.

sub compat_conf {
    my (%o) = @_;

    my ($crt, $key) = @{$o{cert} || die "compat_conf: no cert\n"};
    my $listen = defined $o{listen} ? " $o{listen}" : '';
    my $http = Test::Nginx::Beacon::_indent($o{http}, 0);
    my $server = Test::Nginx::Beacon::_indent($o{server}, 4);

    my $beacon = "beacon_reply_limit off;\nbeacon_register_limit off;\n"
        . Test::Nginx::Beacon::_indent($o{beacon}, 0);

    $http = <<"EOF";
beacon_compat_key_file %%TESTDIR%%/keys;
$http
server {
    listen 127.0.0.1:%%PORT_8443%% ssl$listen;

    ssl_certificate $crt;
    ssl_certificate_key $key;

    location = /v1/compat { beacon_compat; }
$server}
EOF

    my %b = map { $_ => $o{$_} } grep { defined $o{$_} }
        qw/ workers main stream status /;

    return beacon_conf(zone => defined $o{zone} ? $o{zone} : '4m',
        beacon => $beacon, %b, http => $http);
}

###############################################################################
# the wsc binary

our $WSC;

sub wsc_binary {
    return $WSC if defined $WSC && -x $WSC;

    if ($ENV{TEST_NGINX_WSC}) {
        return $WSC = $ENV{TEST_NGINX_WSC} if -x $ENV{TEST_NGINX_WSC};
        return undef;
    }

    my $src = _tdir() . '/tools/wsc.c';
    my $build = $ENV{TEST_BEACON_BUILD} || _tdir() . '/../build';
    my $bin = "$build/wsc";

    if (-x $bin && (!-f $src || -M $bin <= -M $src)) {
        return $WSC = abs_path($bin);
    }

    return undef unless -f $src;

    my $dir = tempdir('beacon-wsc-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $cc = $ENV{CC} || 'gcc';

    system("$cc -O2 -g -Wall -o $dir/wsc $src -lssl -lcrypto -lsodium"
        . " >$dir/cc.log 2>&1") == 0 or do {
            Test::More::diag("building wsc failed:\n"
                . `cat $dir/cc.log`);
            return undef;
        };

    return $WSC = "$dir/wsc";
}

sub _tdir {
    # tests chdir to t/; the module file is t/lib/Test/Nginx/Compat.pm
    my $f = abs_path(__FILE__);
    $f =~ s{/lib/Test/Nginx/Compat\.pm$}{};
    return $f;
}

# skips the test file when wsc cannot be had

sub has_wsc {
    my ($t) = @_;

    Test::More::plan(skip_all => 'no wsc (gcc, libssl-dev, libsodium-dev)')
        unless defined wsc_binary();

    return $t;
}

###############################################################################
# certificates, seeds, keys

# a self-signed EC certificate for CN=localhost: (cert path, key path)

sub make_cert {
    my ($t, $name) = @_;

    $name = 'localhost' unless defined $name;
    my $d = $t->testdir();

    system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
        . " -nodes -days 2 -subj /CN=$name -keyout $d/$name.key"
        . " -out $d/$name.crt -batch >$d/$name.openssl.log 2>&1") == 0
        or die "openssl req failed\n";

    return ("$d/$name.crt", "$d/$name.key");
}

# a deterministic Ed25519 seed (hex) for node $id

sub seed_for {
    my ($id, $salt) = @_;
    return sha256_hex('compat-test-seed:' . $id
        . (defined $salt ? ":$salt" : ''));
}

# raw 32-byte public key of a seed, through wsc

our %PUB;

sub pubkey_of {
    my ($seed) = @_;

    return $PUB{$seed} if exists $PUB{$seed};

    my $c = Test::Nginx::Compat::WS->new();
    my @l = $c->cmd("pubkey $seed");
    $c->quit();

    my ($hex) = map { /^pubkey ([0-9a-f]{64})$/ ? $1 : () } @l;
    die "pubkey_of: no key for $seed\n" unless defined $hex;

    return $PUB{$seed} = pack('H*', $hex);
}

# write_keyfile($t, 'keys', { id => seed-hex | [ raw-key ] | 'b64:...' })

sub write_keyfile {
    my ($t, $name, $map, %o) = @_;

    my $s = "# node_id base64-key\n";

    foreach my $id (sort { $a <=> $b } keys %$map) {
        my $v = $map->{$id};
        my $b64;

        if (ref $v eq 'ARRAY') {
            $b64 = encode_base64($v->[0], '');
        } elsif ($v =~ /^b64:(.*)$/) {
            $b64 = $1;
        } elsif ($v =~ /^!/) {
            $b64 = $v;       # registry behaviour markers
        } else {
            $b64 = encode_base64(pubkey_of($v), '');
        }

        $s .= "$id $b64\n";
    }

    $s .= $o{extra} if defined $o{extra};

    $t->write_file($name, $s);

    return $t->testdir() . "/$name";
}

###############################################################################
# clients

sub ws {
    return Test::Nginx::Compat::WS->new(@_);
}

# a logged in client, or undef; ws_login($port, $id, $seed, %connect_opts)
# extra: upgrade => { ... }, auth => [ ... ]

sub ws_login {
    my ($port, $id, $seed, %o) = @_;

    my $c = Test::Nginx::Compat::WS->new(%{$o{wsc} || {}});

    return $c->login($port, $id, $seed, %o) ? $c : do {
        Test::More::diag("login of $id failed: "
            . join(' | ', grep { !/^msg / } @{$c->{log}}[-8 .. -1]))
            if $VERBOSE && @{$c->{log}} >= 8;
        $c->{failed} = 1;
        $c;
    };
}

# ws_connect_avoiding($t, $port, @avoid): a client connected (TLS, not yet
# upgraded) to $port whose connection is owned by a worker other than the
# pids in @avoid (undef ones ignored), with that worker's pid in
# $c->{pid}; up to 16 connections are tried, the last one is kept whatever
# its worker; undef when none connected

sub ws_connect_avoiding {
    my ($t, $port, @avoid) = @_;
    return _ws_avoiding($t, $port, undef, @avoid);
}

# ws_login_avoiding($t, $port, $id, $seed, @avoid): the same, logged in as
# $id (upgrade and auth); a try whose upgrade or auth fails is dropped and
# counts as one of the 16

sub ws_login_avoiding {
    my ($t, $port, $id, $seed, @avoid) = @_;
    return _ws_avoiding($t, $port, [ $id, $seed ], @avoid);
}

sub _ws_avoiding {
    my ($t, $port, $login, @avoid) = @_;

    my %avoid = map { $_ => 1 } grep { defined } @avoid;

    for my $try (1 .. 16) {
        my $c = ws();
        $c->connect($port) or next;

        my $pid = conn_worker($t, $c->local_addr());

        if (defined $pid && $avoid{$pid} && $try < 16) {
            $c->quit();
            next;
        }

        if ($login) {
            next unless $c->upgrade()->{upgraded};
            next unless $c->auth($login->[1], $login->[0])->{ok};
        }

        $c->{pid} = $pid;
        return $c;
    }

    return undef;
}

# (code, { lc header => value }, body) of one HTTPS request

sub https_get {
    my ($port, $uri, %o) = @_;

    my $c = Test::Nginx::Compat::WS->new();
    $c->connect($port, %{$o{connect} || {}}) or return (undef, {}, '');

    my $host = $o{host} || "localhost";
    my $method = $o{method} || 'GET';
    my $r = $c->request("$method $uri HTTP/1.1\r\nHost: $host\r\n"
        . "Connection: close\r\n\r\n");
    $c->quit();

    my %h = map { $_ => $r->{headers}{$_}[0] } keys %{$r->{headers}};

    return ($r->{code}, \%h, $r->{body});
}

###############################################################################
# the fake registry

# start_registry($t, port => P, keys => { id => seed | '!mode ...' },
#     mode => ..., delay => ...): returns the log path

sub start_registry {
    my ($t, %o) = @_;

    my $d = $t->testdir();
    my $keys = "$d/registry.keys";
    my $log = "$d/registry.log";
    my $ready = "$d/registry.ready";

    _registry_table($t, $o{keys} || {});

    unlink $ready;

    my @cmd = ($^X, _tdir() . '/tools/fake_registry.pl',
        '--port', $o{port}, '--keys', $keys, '--log', $log,
        '--ready', $ready, '--lifetime', $o{lifetime} || 120);
    push @cmd, '--mode', $o{mode} if $o{mode};
    push @cmd, '--delay', $o{delay} if $o{delay};

    my $pid = $t->run_daemon(@cmd);

    $t->waitforfile($ready, $pid, 5) or die "fake registry did not start\n";

    return $log;
}

# rewrites the registry table (re-read on every request)

sub _registry_table {
    my ($t, $map) = @_;

    my $s = '';

    foreach my $id (sort { $a <=> $b } keys %$map) {
        my $v = $map->{$id};

        if (ref $v eq 'ARRAY') {
            $s .= "$id " . encode_base64($v->[0], '') . "\n";
        } elsif ($v =~ /^!/ || $v =~ /^b64:/) {
            (my $x = $v) =~ s/^b64://;
            $s .= "$id $x\n";
        } else {
            $s .= "$id " . encode_base64(pubkey_of($v), '') . "\n";
        }
    }

    $t->write_file('registry.keys', $s);
}

sub registry_table {
    my ($t, $map) = @_;
    _registry_table($t, $map);
}

# how many lookup requests the registry got (for node $id, or all)

sub registry_lookups {
    my ($t, $id) = @_;

    my $f = $t->testdir() . '/registry.log';
    return 0 unless -f $f;

    my $text = $t->read_file('registry.log');
    my @l = grep { /"type"\s*:\s*"lookup"/ } split /\n/, $text;
    @l = grep { /"node_id"\s*:\s*"?$id\b/ } @l if defined $id;

    return scalar @l;
}

###############################################################################
# counters

# every numeric field of one zone, nested hashes flattened with dots
# ("compat.dropped.oversize"); workers become "workers.<index>"

sub ccounters {
    my ($port, $zone) = @_;

    my $z = status($port, $zone) or return undef;
    my %c;

    _flat(\%c, '', $z);

    return \%c;
}

sub _flat {
    my ($c, $p, $v) = @_;

    if (ref $v eq 'HASH') {
        _flat($c, $p eq '' ? $_ : "$p.$_", $v->{$_}) foreach keys %$v;

    } elsif (ref $v eq 'ARRAY') {
        my $sum = 0;
        foreach my $w (@$v) {
            next unless ref $w eq 'HASH' && defined $w->{worker};
            $c->{"$p.$w->{worker}"} = $w->{datagrams};
            $sum += $w->{datagrams} || 0;
        }
        $c->{"$p.sum"} = $sum;

    } elsif (defined $v && !ref $v) {
        $c->{$p} = $v;
    }
}

# how far $key moved since $before; with $want, polls (up to $wait s,
# default 3) until it moved by exactly $want

sub cdelta {
    my ($port, $zone, $before, $key, $want, $wait) = @_;

    my $deadline = time() + (defined $wait ? $wait : 3);
    my $d;

    while (1) {
        my $now = ccounters($port, $zone) or return undef;
        return undef unless defined $now->{$key};

        $d = $now->{$key} - ($before->{$key} || 0);

        return $d if !defined $want || $d == $want || time() > $deadline;

        sleep 0.05;
    }
}

# polls until $key satisfies $cond (a code ref on the value), up to $wait s;
# returns the last value

sub cwait {
    my ($port, $zone, $key, $cond, $wait) = @_;

    my $deadline = time() + (defined $wait ? $wait : 3);
    my $v;

    while (1) {
        my $now = ccounters($port, $zone);
        $v = $now ? $now->{$key} : undef;

        return $v if defined $v && $cond->($v);
        return $v if time() > $deadline;

        sleep 0.05;
    }
}

###############################################################################
# which nginx worker owns a TCP connection: the pid of the worker holding
# the server side socket of the client address "ip:port"

sub conn_worker {
    my ($t, $client) = @_;

    return undef unless defined $client
        && $client =~ /^(\d+)\.(\d+)\.(\d+)\.(\d+):(\d+)$/;

    # /proc/net/tcp: addresses as little-endian hex ip : hex port
    my $rem = sprintf('%02X%02X%02X%02X:%04X', $4, $3, $2, $1, $5);
    my $inode;

    for my $try (1 .. 20) {
        open my $fh, '<', '/proc/net/tcp' or return undef;

        while (my $l = <$fh>) {
            my @f = split ' ', $l;
            next unless @f > 9 && $f[2] eq $rem && $f[3] eq '01';
            $inode = $f[9];
            last;
        }

        close $fh;
        last if $inode;
        sleep 0.05;
    }

    return undef unless $inode;

    foreach my $pid ($t->worker_pids(all => 1)) {
        opendir(my $dh, "/proc/$pid/fd") or next;

        foreach my $fd (readdir $dh) {
            my $l = readlink("/proc/$pid/fd/$fd") or next;
            if ($l eq "socket:[$inode]") {
                closedir $dh;
                return $pid;
            }
        }

        closedir $dh;
    }

    return undef;
}

###############################################################################

package Test::Nginx::Compat::WS;

# one wsc process: one connection at a time, commands in, events out

use IO::Select;
use POSIX qw/ WNOHANG /;
use Scalar::Util qw//;
use Time::HiRes qw/ sleep time /;

our @ALL;

sub new {
    my ($class, %o) = @_;

    my $bin = Test::Nginx::Compat::wsc_binary()
        or die "no wsc binary\n";

    pipe(my $cr, my $pw) or die "pipe: $!";    # commands: parent -> child
    pipe(my $pr, my $cw) or die "pipe: $!";    # events: child -> parent

    my @args = ('-t', $o{timeout_ms} || 5000, '-T', $o{lifetime} || 300);
    push @args, '-x', $o{max_hex} if defined $o{max_hex};

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        close $pw;
        close $pr;
        open STDIN, '<&', $cr or POSIX::_exit(127);
        open STDOUT, '>&', $cw or POSIX::_exit(127);
        if (defined $o{stderr}) {
            open STDERR, '>>', $o{stderr};
        }
        exec($bin, @args) or POSIX::_exit(127);
    }

    close $cr;
    close $cw;

    my $old = select($pw);
    $| = 1;
    select($old);

    my $self = bless {
        pid => $pid,
        in => $pw,
        out => $pr,
        sel => IO::Select->new($pr),
        buf => '',
        log => [],
        name => $o{name} || "wsc$pid",
        pending => 0,
        owner => $$,
    }, $class;

    push @ALL, $self;
    Scalar::Util::weaken($ALL[-1]);

    return $self;
}

sub name { $_[0]->{name} }

sub _log {
    my ($self, $dir, $line) = @_;

    push @{$self->{log}}, $line;
    shift @{$self->{log}} if @{$self->{log}} > 200;

    return unless $Test::Nginx::Compat::VERBOSE;

    my $l = length($line) > 160 ? substr($line, 0, 160) . '...' : $line;
    Test::More::diag("$self->{name} $dir $l");
}

# how long a command may take: its own timeouts plus a margin

sub _budget {
    my ($line) = @_;

    my $ms = 5000;

    while ($line =~ /\b(?:timeout|max)=(\d+)/g) {
        $ms = $1 if $1 > $ms;
    }

    if ($line =~ /^(?:stall|sleep|wait)\s+(\d+)/) {
        $ms = $1 if $1 > $ms;
    }
    if ($line =~ /^keepalive\s+\d+\s+(\d+)/) {
        $ms = $1 if $1 > $ms;
    }
    if ($line =~ /^(?:close|expect_close|recv_all)\b/) {
        $ms += 5000;
    }

    $ms = 180000 if $ms > 180000;

    return $ms / 1000 + 10;
}

# start a command without waiting for its end

sub start {
    my ($self, $line) = @_;

    die "command has a newline" if $line =~ /\n/;

    $self->_log('>', $line);
    $self->{budget} = _budget($line);
    $self->{pending}++;

    my $fh = $self->{in};
    local $SIG{PIPE} = 'IGNORE';
    print $fh "$line\n" or do {
        $self->{dead} = 1;
    };

    return $self;
}

# the lines of the oldest pending command (without "done")

sub finish {
    my ($self, %o) = @_;

    my $deadline = time() + ($o{timeout} || $self->{budget} || 15);
    my @lines;

    return () unless $self->{pending};

    while (1) {
        while ($self->{buf} =~ s/^([^\n]*)\n//) {
            my $l = $1;

            if ($l eq 'done') {
                $self->{pending}--;
                return @lines;
            }

            $self->_log('<', $l);
            push @lines, $l;
        }

        my $left = $deadline - time();

        if ($left <= 0 || $self->{eof}) {
            push @lines, $self->{eof} ? 'harness eof' : 'harness timeout';
            $self->_log('<', $lines[-1]);
            $self->{pending} = 0;
            return @lines;
        }

        next unless $self->{sel}->can_read($left > 1 ? 1 : $left);

        my $n = sysread($self->{out}, my $chunk, 1 << 20);

        if (!$n) {
            $self->{eof} = 1;
            next;
        }

        $self->{buf} .= $chunk;
    }
}

sub cmd {
    my ($self, $line, %o) = @_;

    $self->start($line);
    return $self->finish(%o);
}

sub quit {
    my ($self) = @_;

    return unless $self->{pid};

    close $self->{in};

    my $deadline = time() + 3;

    while (waitpid($self->{pid}, WNOHANG) == 0) {
        if (time() > $deadline) {
            kill 'KILL', $self->{pid};
            waitpid($self->{pid}, 0);
            last;
        }
        sleep 0.02;
    }

    close $self->{out};
    delete $self->{pid};
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    return if defined $self->{owner} && $self->{owner} != $$;
    $self->quit();
}

# in a forked child: drop the inherited pipes of every client, so that the
# clients of the parent see the end of their input when the parent quits

sub forget_all {
    foreach my $c (grep { defined } @ALL) {
        close $c->{in} if $c->{in};
        close $c->{out} if $c->{out};
        delete $c->{pid};
    }
}

END {
    local $?;
    $_->quit() foreach grep { defined && $_->{owner} == $$ } @ALL;
}

###############################################################################
# events

sub parse_event {
    my ($l) = @_;

    if ($l =~ /^msg (text|binary) (\d+) (\S+) (\d+)$/) {
        return { ev => 'msg', kind => $1, len => $2,
            data => $3 eq '-' ? '' : pack('H*', $3), frames => $4 };
    }
    if ($l =~ /^(ping|pong) (\S+)$/) {
        return { ev => $1, data => $2 eq '-' ? '' : pack('H*', $2) };
    }
    if ($l =~ /^close (\d+) ?(.*)$/) {
        return { ev => 'close', code => $1, reason => $2 };
    }
    if ($l =~ /^close none/) {
        return { ev => 'close', code => undef, reason => '' };
    }
    if ($l =~ /^closed (\d+) ?(.*)$/) {
        return { ev => 'closed', code => $1, why => $2 };
    }
    if ($l =~ /^(timeout|harness timeout|harness eof)$/) {
        return { ev => 'timeout', what => $1 };
    }
    if ($l =~ /^frame_error (.*)$/) {
        return { ev => 'frame_error', why => $1 };
    }
    if ($l =~ /^error (.*)$/) {
        return { ev => 'error', why => $1 };
    }

    return undef;
}

sub events {
    my ($self, @lines) = @_;
    return grep { defined } map { parse_event($_) } @lines;
}

# messages of a list of events

sub msgs {
    my ($self, @ev) = @_;
    return grep { $_->{ev} eq 'msg' } @ev;
}

###############################################################################
# connection

sub _hex {
    my ($bytes) = @_;
    return '-' if !defined $bytes || $bytes eq '';
    return 'hex:' . unpack('H*', $bytes);
}

sub _esc {
    my ($s) = @_;
    $s =~ s/\\/\\\\/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/ /\\s/g;
    $s =~ s/([^\x21-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return $s;
}

# connect($port, plain => 1, sni => .., alpn => .., bind => .., rcvbuf => ..)

sub connect {
    my ($self, $port, %o) = @_;

    my $line = "connect " . ($o{host} || '127.0.0.1') . " $port";
    $line .= ' plain' if $o{plain};
    $line .= " sni=$o{sni}" if defined $o{sni};
    $line .= ' nosni' if $o{nosni};
    $line .= " alpn=$o{alpn}" if defined $o{alpn};
    $line .= " bind=$o{bind}" if defined $o{bind};
    $line .= " rcvbuf=$o{rcvbuf}" if defined $o{rcvbuf};
    $line .= " timeout=$o{timeout}" if defined $o{timeout};

    my @l = $self->cmd($line);

    foreach (@l) {
        if (/^connected (\S+) (\S+) (\S+)$/) {
            $self->{tls} = $1;
            $self->{alpn} = $2;
            $self->{local} = $3;
            return 1;
        }
    }

    $self->{connect_error} = join(' ', @l);
    return 0;
}

sub local_addr { $_[0]->{local} }

sub _http_result {
    my ($self, @l) = @_;

    my %r = (headers => {}, body => '', lines => \@l, events => []);

    foreach (@l) {
        if (/^status (\d+) (.*)$/) {
            $r{code} = $1;
            $r{status_line} = $2;
        } elsif (/^header (\S+) ?(.*)$/) {
            push @{$r{headers}{$1}}, $2;
        } elsif (/^body (\d+) (\S+)$/) {
            $r{body} = $2 eq '-' ? '' : pack('H*', $2);
        } elsif (/^accept (\S+)/) {
            $r{accept} = $1;
        } elsif (/^upgraded$/) {
            $r{upgraded} = 1;
        } elsif (/^http_error (.*)$/) {
            $r{error} = $1;
        } elsif (my $e = parse_event($_)) {
            push @{$r{events}}, $e;
        }
    }

    return \%r;
}

# a raw request text, the parsed response:
# { code, status_line, headers => { lc => [ values ] }, body, error }

sub request {
    my ($self, $text, %o) = @_;

    my $line = 'request ' . _esc($text);
    $line .= " timeout=$o{timeout}" if $o{timeout};

    return $self->_http_result($self->cmd($line));
}

# send raw bytes (no response read)

sub send_raw {
    my ($self, $bytes) = @_;
    return $self->cmd('send_hex ' . unpack('H*', $bytes));
}

sub http {
    my ($self, %o) = @_;
    return $self->_http_result($self->cmd('http'
        . ($o{timeout} ? " timeout=$o{timeout}" : '')));
}

# upgrade(key => .., proto => .., origin => .., version => .., method => ..,
#     httpver => .., connection => .., upgradehdr => .., host => ..,
#     path => .., headers => [ 'Name: value', ... ])

sub upgrade {
    my ($self, %o) = @_;

    my $line = 'upgrade';

    foreach my $k (qw/ path host key proto origin version method httpver
        connection upgradehdr timeout /)
    {
        next unless defined $o{$k};
        $line .= " $k=" . _esc($o{$k});
    }

    foreach my $h (@{$o{headers} || []}) {
        $line .= ' header=' . _esc($h);
    }

    return $self->_http_result($self->cmd($line));
}

# auth($seed, $id, @wsc_options): { ok, challenge => { nonce, ts, text },
#     close => code, reason, closed => code, events => [...] }

sub auth {
    my ($self, $seed, $id, @opts) = @_;

    my @l = $self->cmd(join(' ', 'auth', $seed, $id, @opts));

    return $self->_auth_result(@l);
}

sub _auth_result {
    my ($self, @l) = @_;

    my %r = (events => [], lines => \@l);

    foreach (@l) {
        if (/^challenge (\S+) (-?\d+)$/) {
            $r{challenge} = { nonce => $1, ts => $2 };
        } elsif (/^auth_ok$/) {
            $r{ok} = 1;
        } elsif (/^auth_failed (.*)$/) {
            $r{failed} = $1;
        } elsif (my $e = parse_event($_)) {
            push @{$r{events}}, $e;
            $r{close} = $e->{code}, $r{reason} = $e->{reason}
                if $e->{ev} eq 'close';
            $r{closed} = $e->{code} if $e->{ev} eq 'closed';
        }
    }

    my @m = grep { $_->{ev} eq 'msg' } @{$r{events}};
    $r{challenge_msg} = $m[0] if @m;
    $r{reply_msg} = $m[1] if @m > 1;

    return \%r;
}

sub challenge {
    my ($self, %o) = @_;

    my @l = $self->cmd('challenge'
        . ($o{timeout} ? " timeout=$o{timeout}" : ''));

    return $self->_auth_result(@l);
}

sub auth_reply {
    my ($self, $seed, $id, @opts) = @_;
    return $self->cmd(join(' ', 'auth_reply', $seed, $id, @opts));
}

# connect + upgrade + auth; true when auth_ok came

sub login {
    my ($self, $port, $id, $seed, %o) = @_;

    $self->connect($port, %{$o{connect} || {}}) or return 0;

    my $u = $self->upgrade(%{$o{upgrade} || {}});
    $self->{upgrade_result} = $u;
    return 0 unless $u->{upgraded};

    my $a = $self->auth($seed, $id, @{$o{auth} || []});
    $self->{auth_result} = $a;
    $self->{id} = $id;

    return $a->{ok} ? 1 : 0;
}

###############################################################################
# frames

sub binary {
    my ($self, $bytes) = @_;
    return $self->cmd('binary ' . _hex($bytes));
}

sub binary_spec {
    my ($self, $spec) = @_;
    return $self->cmd("binary $spec");
}

sub text {
    my ($self, $bytes) = @_;
    return $self->cmd('text ' . _hex($bytes));
}

sub ping {
    my ($self, $bytes) = @_;
    return $self->cmd('ping ' . _hex($bytes));
}

sub pong {
    my ($self, $bytes) = @_;
    return $self->cmd('pong ' . _hex($bytes));
}

sub frame {
    my ($self, $op, $fin, $bytes, @opts) = @_;
    return $self->cmd(join(' ', 'frame', $op, $fin, _hex($bytes), @opts));
}

# fragments($op, [ sizes ], $bytes, ping_after => k, ping => bytes)

sub fragments {
    my ($self, $op, $sizes, $bytes, %o) = @_;

    my $line = join(' ', 'fragments', $op, join(',', @$sizes),
        $o{spec} || _hex($bytes));
    $line .= " ping_after=$o{ping_after}" if defined $o{ping_after};
    $line .= ' ping=' . _hex($o{ping}) if defined $o{ping};

    return $self->cmd($line);
}

sub many {
    my ($self, $n, $bytes) = @_;
    return $self->cmd("many $n " . _hex($bytes) . ' timeout=20000');
}

# close($code, $reason): the events up to the end of the connection

sub close_ws {
    my ($self, $code, $reason, %o) = @_;

    my $line = 'close' . (defined $code ? " $code" : ' none');
    $line .= " $reason" if defined $reason && $reason ne '';
    $line .= " timeout=$o{timeout}" if $o{timeout};

    return $self->events($self->cmd($line));
}

# one event (hash), { ev => 'timeout' } after $ms

sub recv {
    my ($self, $ms) = @_;

    my @e = $self->events($self->cmd('recv timeout=' . ($ms || 2000)));
    return @e ? (wantarray ? @e : $e[0]) : { ev => 'timeout' };
}

# one data message (skipping control frames), or undef

sub recv_msg {
    my ($self, $ms) = @_;

    my $deadline = time() + ($ms || 2000) / 1000;

    while (1) {
        my $left = int(($deadline - time()) * 1000);
        return undef if $left <= 0;

        my @e = $self->events($self->cmd("recv timeout=$left"));

        foreach my $e (@e) {
            return $e if $e->{ev} eq 'msg';
            return undef if $e->{ev} =~ /^(closed|timeout|error)$/;
        }
    }
}

sub recv_all {
    my ($self, %o) = @_;

    my $line = 'recv_all quiet=' . ($o{quiet} || 300) . ' max='
        . ($o{max} || 10000);
    $line .= " count=$o{count}" if $o{count};

    return $self->events($self->cmd($line));
}

sub expect_close {
    my ($self, $ms) = @_;

    my @e = $self->events($self->cmd('expect_close timeout='
        . ($ms || 3000)));

    my %r = (events => \@e);

    foreach my $e (@e) {
        $r{close} = $e->{code}, $r{reason} = $e->{reason}
            if $e->{ev} eq 'close' && !defined $r{close};
        $r{closed} = $e->{code} if $e->{ev} eq 'closed';
        $r{timeout} = 1 if $e->{ev} eq 'timeout';
    }

    return \%r;
}

sub stall {
    my ($self, $ms) = @_;
    return $self->cmd("stall $ms");
}

sub wait_events {
    my ($self, $ms) = @_;
    return $self->events($self->cmd("wait $ms"));
}

sub keepalive {
    my ($self, $interval, $total, $bytes) = @_;
    return $self->events($self->cmd("keepalive $interval $total"
        . (defined $bytes ? ' ' . _hex($bytes) : '')));
}

sub state {
    my ($self) = @_;
    my ($l) = $self->cmd('state');
    return defined $l && $l =~ /^state (\S+)/ ? $1 : 'unknown';
}

# an open connection answers a ping with a pong (the payload echoed)

sub alive {
    my ($self, $ms) = @_;

    my $p = 'alive' . int(rand(100000));
    my @e = $self->events($self->cmd('ping ' . _hex($p)));
    my $deadline = time() + ($ms || 2000) / 1000;

    while (1) {
        foreach my $e (@e) {
            return 1 if $e->{ev} eq 'pong' && $e->{data} eq $p;
            return 0 if $e->{ev} =~ /^(closed|error)$/;
        }

        my $left = int(($deadline - time()) * 1000);
        return 0 if $left <= 0;

        @e = $self->events($self->cmd("recv timeout=$left"));
    }
}

sub disconnect {
    my ($self, $rst) = @_;
    return $self->cmd('disconnect' . ($rst ? ' rst' : ''));
}

sub autopong {
    my ($self, $on) = @_;
    return $self->cmd('autopong ' . ($on ? 'on' : 'off'));
}

sub closereply {
    my ($self, $on) = @_;
    return $self->cmd('closereply ' . ($on ? 'on' : 'off'));
}

1;
