package Test::Nginx;

# Test harness for ngx_beacon_module, written for this project.  It keeps the
# API shape of the nginx-tests harness (new, has, plan, write_file_expand,
# run, reload, stop, run_daemon, ...) so tests read like nginx-tests files,
# and it controls the order of load_module lines: the stream core must be
# loaded before the beacon module.
#
# Environment:
#   TEST_NGINX_BINARY          nginx binary (default /usr/sbin/nginx)
#   TEST_NGINX_MODULES         directory of stock dynamic modules
#                              (default /usr/lib/nginx/modules)
#   TEST_NGINX_BEACON_MODULE   path of ngx_stream_beacon_module.so; empty or
#                              unset means the module is static
#   TEST_NGINX_GLOBALS, TEST_NGINX_GLOBALS_STREAM, TEST_NGINX_GLOBALS_HTTP
#                              extra directives for those contexts
#   TEST_NGINX_LEAVE           keep the temporary directory
#   TEST_NGINX_VERBOSE         dump error.log on failures, log I/O
#   TEST_NGINX_CATLOG          always dump error.log at the end
#   TEST_NGINX_LOGLEVEL        error_log level (default info)
#   ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS
#                              when set (make test-sanitize), log_path is
#                              pointed into the test directory for every
#                              process the test starts; any report there
#                              fails the test file ("no sanitizer errors")

use warnings;
use strict;

use Exporter qw/ import /;
our @EXPORT = qw/ port /;

use Cwd qw/ abs_path /;
use File::Path qw/ rmtree /;
use File::Spec;
use File::Temp qw/ tempdir /;
use IO::Socket::INET;
use IO::Socket::IP;
use POSIX qw/ WNOHANG /;
use Scalar::Util qw//;
use Test::More qw//;
use Time::HiRes qw/ sleep time /;

our $NGINX = defined $ENV{TEST_NGINX_BINARY}
    ? $ENV{TEST_NGINX_BINARY} : '/usr/sbin/nginx';

our %PORTS;          # n => { port => N, held => [sockets] }
our @INSTANCES;      # weak references to every Test::Nginx object

sub new {
    my ($class, %opts) = @_;

    my $self = bless { _pid => $$, _daemons => [], _alerts => 1 }, $class;

    push @INSTANCES, $self;
    Scalar::Util::weaken($INSTANCES[-1]);

    Test::More::BAIL_OUT("nginx binary \"$NGINX\" is not executable")
        unless -f $NGINX && -x _;

    $self->{_testdir} = tempdir('nginx-test-XXXXXXXXXX', TMPDIR => 1);
    chmod(0755, $self->{_testdir});

    # sanitizer reports of nginx (master, workers, "nginx -t") and of
    # anything else this test runs go to <testdir>/san/report.<pid> (the
    # workers run as another user); a process started after a second
    # Test::Nginx object reports into that one's

    my $san = "$self->{_testdir}/san";
    mkdir $san;
    chmod(0777, $san);

    foreach my $v (qw/ ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS /) {
        next unless defined $ENV{$v};
        (my $o = $ENV{$v}) =~ s/(^|:)log_path=[^:]*//g;
        $o =~ s/^://;
        $ENV{$v} = ($o ne '' ? "$o:" : '') . "log_path=$san/report";
    }

    return $self;
}

# objects still alive at the end (e.g. captured by a named sub) are
# finished before Test::More checks the plan and before global destruction

END {
    foreach my $self (grep { defined } @INSTANCES) {
        $self->DESTROY();
    }
}

sub DESTROY {
    my ($self) = @_;

    return unless defined $self->{_pid} && $self->{_pid} == $$;
    return if $self->{_destroyed}++;

    local $?;

    $self->stop();
    $self->stop_daemons();

    my $log = File::Spec->catfile($self->{_testdir}, 'error.log');

    if ($self->{_planned} && Test::More->builder->expected_tests) {
        my $text = -f $log ? $self->read_file('error.log') : '';

        my @alerts = grep { /\[(alert|emerg)\]|exited on signal/ }
            split /\n/, $text;

        {
            my $builder = Test::More->builder;

            if (!$self->{_alerts}) {
                $builder->todo_start('alerts');
            }

            Test::More::is(join("\n", @alerts), '', 'no alerts');

            if (!$self->{_alerts}) {
                $builder->todo_end();
            }
        }

        my @san = grep { /Sanitizer|runtime error:/ } split /\n/, $text;
        my $stderr = File::Spec->catfile($self->{_testdir}, 'stderr');
        if (-f $stderr) {
            push @san, grep { /Sanitizer|runtime error:/ }
                split /\n/, $self->read_file('stderr');
        }

        # log_path files: every line of a report, with its stack

        if (opendir(my $dh, "$self->{_testdir}/san")) {
            foreach my $f (sort grep { /^report\./ } readdir $dh) {
                my $text = $self->read_file("san/$f");
                push @san, "--- san/$f:", $text if $text =~ /\S/;
            }
            closedir $dh;
        }

        Test::More::is(join("\n", @san), '', 'no sanitizer errors');
    }

    if ($ENV{TEST_NGINX_CATLOG}
        || ($ENV{TEST_NGINX_VERBOSE} && !Test::More->builder->is_passing))
    {
        if (-f $log) {
            Test::More::diag("--- error.log ---\n"
                . $self->read_file('error.log'));
        }
    }

    if ($ENV{TEST_NGINX_LEAVE}) {
        Test::More::diag("test directory left: $self->{_testdir}");

    } else {
        rmtree($self->{_testdir});
    }
}

sub testdir {
    my ($self) = @_;
    return $self->{_testdir};
}

sub todo_alerts {
    my ($self) = @_;
    $self->{_alerts} = 0;
    return $self;
}

sub plan {
    my ($self, $n) = @_;

    Test::More::plan(tests => $n + 2);
    $self->{_planned} = 1;

    return $self;
}

###############################################################################
# features

sub nginx_v {
    my ($self) = @_;

    our $NGINX_V;
    $NGINX_V = `$NGINX -V 2>&1` unless defined $NGINX_V;

    return $NGINX_V;
}

sub modules_dir {
    return defined $ENV{TEST_NGINX_MODULES} && $ENV{TEST_NGINX_MODULES} ne ''
        ? $ENV{TEST_NGINX_MODULES} : '/usr/lib/nginx/modules';
}

sub dynamic_stream {
    my ($self) = @_;
    return $self->nginx_v() =~ /--with-stream=dynamic/ ? 1 : 0;
}

sub beacon_module {
    return defined $ENV{TEST_NGINX_BEACON_MODULE}
        && $ENV{TEST_NGINX_BEACON_MODULE} ne ''
        ? $ENV{TEST_NGINX_BEACON_MODULE} : undef;
}

# a binary with the module linked in statically (--add-module) knows the
# directive without any load_module line: ask "nginx -t"

sub static_beacon {
    my ($self) = @_;

    my $dir = File::Temp::tempdir('nginx-probe-XXXXXXXXXX',
        TMPDIR => 1, CLEANUP => 1);

    open my $fh, '>', "$dir/nginx.conf" or return 0;
    print $fh "pid $dir/nginx.pid; error_log $dir/error.log;\n"
        . "events {}\nstream { beacon_zone probe:1m; }\n";
    close $fh;

    my $bin = $NGINX;
    my %env = no_leak_env();
    local @ENV{keys %env} = values %env;
    system("$bin -p $dir/ -c $dir/nginx.conf -e $dir/error.log -t"
        . " >/dev/null 2>&1");

    return $? == 0 ? 1 : 0;
}

# "nginx -t" returns from main() with the configuration's cycle (and every
# pool allocation of every module) still allocated, by design: under ASan,
# processes that only test a configuration run with leak detection off
# (the environment this returns); the master and the workers keep it

sub no_leak_env {
    return defined $ENV{ASAN_OPTIONS}
        ? (ASAN_OPTIONS => "$ENV{ASAN_OPTIONS}:detect_leaks=0") : ();
}

sub has_feature {
    my ($self, $feature) = @_;

    my $v = $self->nginx_v();

    if ($feature eq 'stream') {
        return 1 if $v =~ /--with-stream(?!_|=dynamic)/;
        return 1 if $v =~ /--with-stream=dynamic/
            && -f $self->modules_dir() . '/ngx_stream_module.so';
        return 0;
    }

    if ($feature eq 'udp') {
        my $s = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1');
        return $s ? 1 : 0;
    }

    if ($feature eq 'inet6') {
        my $s = IO::Socket::IP->new(Proto => 'udp', LocalHost => '::1',
            LocalPort => 0);
        return $s ? 1 : 0;
    }

    if ($feature eq 'http') {
        return $v =~ /--without-http(?!_)/ ? 0 : 1;
    }

    if ($feature eq 'beacon') {
        my $m = beacon_module();

        if (defined $m) {
            Test::More::BAIL_OUT("TEST_NGINX_BEACON_MODULE=$m does not exist"
                . " (run \"make module\")") unless -f $m;
            return 1;
        }

        return $self->static_beacon();
    }

    if ($feature eq 'openssl') {
        return system('openssl version >/dev/null 2>&1') == 0 ? 1 : 0;
    }

    # "foo" => --with-foo or a http_foo / stream_foo module not disabled

    return 1 if $v =~ /--with-\Q$feature\E\b/;
    return 0;
}

sub has {
    my ($self, @features) = @_;

    foreach my $feature (@features) {
        next if $self->has_feature($feature);
        Test::More::plan(skip_all => "no $feature available");
    }

    return $self;
}

sub has_daemon {
    my ($self, $daemon) = @_;

    Test::More::plan(skip_all => "$daemon not found")
        unless grep { -x "$_/$daemon" } split /:/, $ENV{PATH} || '';

    return $self;
}

sub has_version {
    my ($self, $need) = @_;

    $self->nginx_v() =~ m!nginx version: nginx/([0-9.]+)!;
    my @have = split /\./, $1 || '0';
    my @want = split /\./, $need;

    while (@want) {
        my $h = shift(@have) || 0;
        my $w = shift @want;
        return 1 if $h > $w;
        return 0 if $h < $w;
    }

    return 1;
}

###############################################################################
# ports

sub port {
    shift if @_ && ref $_[0];
    my ($n, %opts) = @_;

    my $udp = $opts{udp} ? 1 : 0;

    if (my $p = $PORTS{$n}) {
        return $p->{port};
    }

    my $port = $n;

    for my $attempt (1 .. 1000) {
        $port = int($n / 500) * 500 + int(rand(500)) if $attempt > 1;
        $port = 1024 + int(rand(30000)) if $port < 1024 || $port > 32767;

        # the port must be free for both protocols; keep the socket of the
        # other protocol open, so nginx can bind the one it needs while no
        # other test run can take the number

        my $tcp = IO::Socket::INET->new(
            Proto => 'tcp',
            LocalAddr => "0.0.0.0:$port",
            Listen => 1,
            ReuseAddr => 1,
        ) or next;

        my $dgram = IO::Socket::INET->new(
            Proto => 'udp',
            LocalAddr => "0.0.0.0:$port",
        ) or next;

        my $tcp6 = IO::Socket::IP->new(Proto => 'tcp', Listen => 1,
            LocalHost => '::', LocalPort => $port, ReuseAddr => 1,
            V6Only => 1);
        my $dgram6 = IO::Socket::IP->new(Proto => 'udp',
            LocalHost => '::', LocalPort => $port, V6Only => 1);

        next if has_ipv6() && !($tcp6 && $dgram6);

        $PORTS{$n} = {
            port => $port,
            held => $udp ? [ $tcp, $tcp6 ] : [ $dgram, $dgram6 ],
        };

        return $port;
    }

    die "no free port for $n\n";
}

sub has_ipv6 {
    our $HAS_IPV6;
    $HAS_IPV6 = IO::Socket::IP->new(Proto => 'udp', LocalHost => '::1',
        LocalPort => 0) ? 1 : 0 unless defined $HAS_IPV6;
    return $HAS_IPV6;
}

###############################################################################
# configuration

sub test_globals {
    my ($self) = @_;

    my $dir = $self->{_testdir};
    my $level = $ENV{TEST_NGINX_LOGLEVEL} || 'info';
    my $s = '';

    $s .= "pid $dir/nginx.pid;\n";
    $s .= "error_log $dir/error.log $level;\n";

    if ($self->dynamic_stream()) {
        $s .= "load_module " . $self->modules_dir()
            . "/ngx_stream_module.so;\n";
    }

    if (defined(my $m = beacon_module())) {
        $m = abs_path($m) || $m;
        $s .= "load_module $m;\n";
    }

    $s .= $ENV{TEST_NGINX_GLOBALS} . "\n" if $ENV{TEST_NGINX_GLOBALS};

    return $s;
}

sub test_globals_stream {
    my ($self) = @_;

    my $s = '';
    $s .= $ENV{TEST_NGINX_GLOBALS_STREAM} . "\n"
        if $ENV{TEST_NGINX_GLOBALS_STREAM};

    return $s;
}

sub test_globals_http {
    my ($self) = @_;

    my $dir = $self->{_testdir};
    my $v = $self->nginx_v();
    my $s = '';

    $s .= "access_log $dir/access.log;\n";
    $s .= "client_body_temp_path $dir/client_body_temp;\n";

    foreach my $m (qw/ proxy fastcgi uwsgi scgi /) {
        next if $v =~ /--without-http_${m}_module/;
        $s .= "${m}_temp_path $dir/${m}_temp;\n";
    }

    $s .= $ENV{TEST_NGINX_GLOBALS_HTTP} . "\n"
        if $ENV{TEST_NGINX_GLOBALS_HTTP};

    return $s;
}

sub write_file {
    my ($self, $name, $content) = @_;

    my $path = File::Spec->catfile($self->{_testdir}, $name);

    open my $fh, '>', $path or die "Can't create $path: $!";
    binmode $fh;
    print $fh $content;
    close $fh;

    return $self;
}

sub expand {
    my ($self, $content) = @_;

    $self->{_used_globals} = 1 if $content =~ /%%TEST_GLOBALS%%/;

    $content =~ s/%%TEST_GLOBALS%%/$self->test_globals()/ge;
    $content =~ s/%%TEST_GLOBALS_STREAM%%/$self->test_globals_stream()/ge;
    $content =~ s/%%TEST_GLOBALS_HTTP%%/$self->test_globals_http()/ge;
    $content =~ s/%%TESTDIR%%/$self->{_testdir}/g;
    $content =~ s/%%PORT_(\d+)_UDP%%/port($1, udp => 1)/ge;
    $content =~ s/%%PORT_(\d+)%%/port($1)/ge;

    return $content;
}

sub write_file_expand {
    my ($self, $name, $content) = @_;
    return $self->write_file($name, $self->expand($content));
}

sub read_file {
    my ($self, $name) = @_;

    my $path = File::Spec->catfile($self->{_testdir}, $name);

    open my $fh, '<', $path or die "Can't open $path: $!";
    binmode $fh;
    local $/;
    my $content = <$fh>;
    close $fh;

    return defined $content ? $content : '';
}

###############################################################################
# processes

sub nginx_cmd {
    my ($self, @extra) = @_;

    my $dir = $self->{_testdir};
    my @cmd = ($NGINX, '-p', "$dir/", '-c', 'nginx.conf', '-e', 'error.log');

    if (!$self->{_used_globals}) {
        push @cmd, '-g', "pid $dir/nginx.pid; error_log $dir/error.log "
            . ($ENV{TEST_NGINX_LOGLEVEL} || 'info') . ';';
    }

    return (@cmd, @extra);
}

# runs "nginx -t" on a configuration file of the test directory;
# returns (exit status, combined output)

sub test_config {
    my ($self, $conf) = @_;

    $conf = 'nginx.conf' unless defined $conf;

    my $dir = $self->{_testdir};
    my @cmd = ($NGINX, '-t', '-q', '-p', "$dir/", '-c', $conf,
        '-e', 'test_config.log');

    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        %ENV = (%ENV, no_leak_env());
        exec @cmd or POSIX::_exit(127);
    }

    local $/;
    my $out = <$fh>;
    close $fh;

    return ($? >> 8, defined $out ? $out : '');
}

sub run {
    my ($self, $conf) = @_;

    my $dir = $self->{_testdir};
    my $pidfile = "$dir/nginx.pid";

    $self->write_file('nginx.conf', $conf) if defined $conf;

    unlink $pidfile;

    my $pid = fork();
    die "Unable to fork(): $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>>', "$dir/stderr";
        open STDERR, '>>', "$dir/stderr";
        exec($self->nginx_cmd()) or POSIX::_exit(127);
    }

    $self->{_child} = $pid;

    # wait for the pid file (daemon off) or for the daemonizing parent

    my $deadline = time() + 10;
    my $exited;

    while (time() < $deadline) {
        last if -s $pidfile && $self->_read_pid();

        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) {
            $exited = $?;
            delete $self->{_child};
            last if -s $pidfile && $self->_read_pid();
            last if $exited != 0;
        }

        sleep 0.05;
    }

    unless (-s $pidfile && $self->_read_pid()) {
        my $log = -f "$dir/error.log" ? $self->read_file('error.log') : '';
        my $err = -f "$dir/stderr" ? $self->read_file('stderr') : '';
        my $tail = join("\n", grep { /\[(emerg|alert|crit)\]|nginx:/ }
            split(/\n/, $log . "\n" . $err));
        die "Can't start nginx" . ($tail ? ":\n$tail\n" : "\n");
    }

    $self->{_started} = 1;
    $self->_wait_workers(10);

    return $self;
}

sub try_run {
    my ($self, $message) = @_;

    eval { $self->run(); };

    if ($@) {
        if ($ENV{TEST_NGINX_VERBOSE}) {
            my $log = -f "$self->{_testdir}/error.log"
                ? $self->read_file('error.log') : '';
            Test::More::diag("--- error.log ---\n$log");
        }

        Test::More::plan(skip_all => $message || "can't start nginx: $@");
    }

    return $self;
}

sub _read_pid {
    my ($self) = @_;

    open my $fh, '<', "$self->{_testdir}/nginx.pid" or return undef;
    my $pid = <$fh>;
    close $fh;

    return undef unless defined $pid && $pid =~ /^(\d+)/;
    return $1;
}

sub master_pid {
    my ($self) = @_;
    return $self->_read_pid();
}

# children of the master, with their process titles

sub _children {
    my ($self, $ppid) = @_;

    my @children;

    opendir(my $dh, '/proc') or return ();

    foreach my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh>;
        close $fh;
        next unless defined $stat;

        # "pid (comm) state ppid ..."; comm may contain spaces or ')'
        my $rest = substr($stat, rindex($stat, ')') + 2);
        my ($state, $parent) = split / /, $rest;
        next unless $parent == $ppid;
        next if $state eq 'Z' || $state eq 'X';

        my $cmd = '';
        if (open my $ch, '<', "/proc/$pid/cmdline") {
            local $/;
            $cmd = <$ch> // '';
            close $ch;
            $cmd =~ s/\0+/ /g;
        }

        push @children, [ $pid, $cmd ];
    }

    closedir $dh;

    return @children;
}

# current (not shutting down) worker processes of the master

sub worker_pids {
    my ($self, %opts) = @_;

    my $master = $self->master_pid() or return ();

    my @w = grep { $_->[1] =~ /worker process/ } $self->_children($master);
    @w = grep { $_->[1] !~ /shutting down/ } @w unless $opts{all};

    return sort { $a <=> $b } map { $_->[0] } @w;
}

sub _worker_processes {
    my ($self) = @_;

    my $conf = eval { $self->read_file('nginx.conf') } || '';

    if ($conf =~ /^\s*worker_processes\s+(\S+?)\s*;/m) {
        my $n = $1;
        if ($n eq 'auto') {
            my $cpus = `nproc 2>/dev/null` || 1;
            return int($cpus) || 1;
        }
        return int($n);
    }

    return 1;
}

sub _wait_workers {
    my ($self, $timeout, @old) = @_;

    my $want = $self->_worker_processes();
    my %old = map { $_ => 1 } @old;
    my $deadline = time() + $timeout;

    while (1) {
        my @all = $self->worker_pids(all => 1);
        my @new = grep { !$old{$_} } $self->worker_pids();
        my @left = grep { kill(0, $_) && _alive($_) } @old;

        return 1 if @new >= $want && !@left
            && !grep { $old{$_} } @all;

        last if time() >= $deadline;

        sleep 0.05;
    }

    return 0;
}

sub _alive {
    my ($pid) = @_;

    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh>;
    close $fh;
    return 0 unless defined $stat;

    my $rest = substr($stat, rindex($stat, ')') + 2);
    my ($state) = split / /, $rest;

    return $state eq 'Z' || $state eq 'X' ? 0 : 1;
}

# HUP, then wait until the old workers are gone and the new ones are up;
# returns true on success

sub reload {
    my ($self, %opts) = @_;

    my $master = $self->master_pid() or return 0;
    my @old = $self->worker_pids(all => 1);
    my $log = -f "$self->{_testdir}/error.log"
        ? length($self->read_file('error.log')) : 0;

    kill 'HUP', $master or return 0;

    # a failed reconfiguration keeps the old workers; notice it early

    my $deadline = time() + ($opts{timeout} || 20);

    while (time() < $deadline) {
        my $text = substr($self->read_file('error.log'), $log);
        return 0 if $text =~ /\[emerg\]/;

        return 1 if $self->_wait_workers(0.2, @old);
    }

    return 0;
}

sub stop {
    my ($self) = @_;

    return $self unless $self->{_started};

    my $pid = $self->master_pid();

    if ($pid) {
        kill 'QUIT', $pid;

        my $deadline = time() + 20;
        my $signal = 'TERM';

        while (1) {
            if (defined $self->{_child}) {
                my $r = waitpid($self->{_child}, WNOHANG);
                if ($r == $self->{_child} || $r == -1) {
                    delete $self->{_child};
                    last;
                }

            } else {
                last unless kill(0, $pid) && _alive($pid);
            }

            if (time() > $deadline) {
                last if $signal eq 'none';
                kill $signal, $pid;
                $signal = $signal eq 'TERM' ? 'KILL' : 'none';
                $deadline = time() + 5;
            }

            sleep 0.05;
        }
    }

    $self->{_started} = 0;
    unlink "$self->{_testdir}/nginx.pid";

    return $self;
}

sub run_daemon {
    my ($self, $code, @args) = @_;

    my $pid = fork();
    die "Can't run daemon: $!" unless defined $pid;

    if ($pid == 0) {
        $self->{_pid} = -1;    # no DESTROY work in the child

        if (ref $code eq 'CODE') {
            eval { $code->(@args); };
            POSIX::_exit($@ ? 1 : 0);
        }

        exec($code, @args) or POSIX::_exit(127);
    }

    push @{$self->{_daemons}}, $pid;

    return $pid;
}

sub stop_daemons {
    my ($self) = @_;

    while (my $pid = shift @{$self->{_daemons}}) {
        kill 'TERM', $pid;

        my $deadline = time() + 5;

        while (waitpid($pid, WNOHANG) == 0) {
            if (time() > $deadline) {
                kill 'KILL', $pid;
                waitpid($pid, 0);
                last;
            }

            sleep 0.02;
        }
    }

    return $self;
}

sub waitforfile {
    my ($self, $file, $pid, $timeout) = @_;

    $timeout ||= 5;
    my $deadline = time() + $timeout;

    while (time() < $deadline) {
        return 1 if -e $file;
        return 0 if defined $pid && waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }

    return 0;
}

sub waitforsocket {
    my ($self, $peer, $timeout) = @_;

    $timeout ||= 5;
    my $deadline = time() + $timeout;

    while (time() < $deadline) {
        my $s = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => $peer,
            Timeout => 1);
        return 1 if $s;
        sleep 0.05;
    }

    return 0;
}

1;
