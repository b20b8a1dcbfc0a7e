package Test::Nginx::Offset;

# Helpers for the Offset relay tests: runs t/tools/offset_node (the node
# side of the protocol, built by `make tools`) against the relay under
# test and turns its "ok - ..." / "not ok - ..." / "# key=value" lines into
# results; reads the "offset" object of the status page.  Written for this
# project.
#
# All traffic goes to loopback addresses only.

use warnings;
use strict;

use Exporter qw/ import /;
our @EXPORT = qw/
    offset_node has_offset_node write_ident node node_spawn node_wait
    node_wait_line node_go node_ok node_note offset_status offset_wait
    V1_IDENT V2_KEY
/;

use Cwd qw/ abs_path /;
use File::Basename qw/ dirname /;
use File::Temp qw/ tempdir /;
use JSON::PP;
use POSIX qw/ WNOHANG /;
use Test::More qw//;
use Time::HiRes qw/ sleep time /;

use Test::Nginx qw/ port /;
use Test::Nginx::Beacon qw/ status_doc /;

# spec Appendix A: identity V1 (seed 11..) and its public key V2
use constant V1_IDENT => qq({\n  "privateKey": )
    . qq("ERERERERERERERERERERERERERERERERERERERERERE"\n});
use constant V2_KEY => '0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc';

our $TMP;

sub _tmp {
    $TMP = tempdir('offset-node-XXXXXXXX', TMPDIR => 1, CLEANUP => 1)
        unless defined $TMP;
    return $TMP;
}

sub offset_node {
    my $root = abs_path(dirname(__FILE__) . '/../../../..');
    my $build = $ENV{TEST_BEACON_BUILD} || "$root/build";
    return "$build/offset_node";
}

sub has_offset_node {
    my $bin = offset_node();
    Test::More::plan(skip_all => "offset_node not built (make tools): $bin")
        unless -x $bin;
}

sub write_ident {
    my ($t, $name) = @_;
    $t->write_file($name || 'relay.ident', V1_IDENT);
}

# the command line: -r 127.0.0.1:PORT -k V2 -A 1.5 (unless given) ARGS

sub _cmd {
    my ($port, @args) = @_;

    my @pre = ('-r', "127.0.0.1:$port", '-k', V2_KEY);
    push @pre, '-A', '1.5' unless grep { $_ eq '-A' } @args;

    return (offset_node(), @pre, @args);
}

our $SEQ = 0;

# starts offset_node in the background; with stdin => 1 its stdin is a
# pipe (see node_go)

sub node_spawn {
    my ($port, @args) = @_;

    my %o;
    %o = %{shift @args} if ref $args[0] eq 'HASH';

    my $dir = _tmp();
    my $n = $SEQ++;
    my $h = {
        cmd => [ _cmd($port, @args) ],
        out => "$dir/out.$n",
        err => "$dir/err.$n",
        start => time(),
    };

    my ($r, $w);
    pipe($r, $w) or die "pipe: $!" if $o{stdin};

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        if ($o{stdin}) {
            close $w;
            open STDIN, '<&', $r or POSIX::_exit(127);

        } else {
            open STDIN, '<', '/dev/null';
        }

        open STDOUT, '>', $h->{out} or POSIX::_exit(127);
        open STDERR, '>', $h->{err} or POSIX::_exit(127);
        exec @{$h->{cmd}} or POSIX::_exit(127);
    }

    if ($o{stdin}) {
        close $r;
        my $old = select $w;
        $| = 1;
        select $old;
        $h->{stdin} = $w;
    }

    $h->{pid} = $pid;

    return $h;
}

sub _slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    my $d = <$fh>;
    close $fh;
    return defined $d ? $d : '';
}

# waits (at most $timeout seconds, then kills) and parses the output:
# { rc, out, err, ok => [ lines ], notok => [ lines ], notes => { key =>
# [ values ] }, seconds }

sub node_wait {
    my ($h, $timeout) = @_;

    $timeout = 120 unless defined $timeout;
    my $deadline = time() + $timeout;
    my $rc;

    while (1) {
        my $r = waitpid($h->{pid}, WNOHANG);

        if ($r == $h->{pid} || $r == -1) {
            $rc = $? >> 8;
            $rc = 255 if $? & 127;
            last;
        }

        if (time() > $deadline) {
            kill 'KILL', $h->{pid};
            waitpid($h->{pid}, 0);
            $rc = 254;
            last;
        }

        sleep 0.02;
    }

    close $h->{stdin} if $h->{stdin};

    my $out = _slurp($h->{out});
    my $err = _slurp($h->{err});

    my %r = (rc => $rc, out => $out, err => $err, ok => [], notok => [],
        notes => {}, seconds => time() - $h->{start},
        cmd => join(' ', @{$h->{cmd}}));

    foreach my $l (split /\n/, $out) {
        if ($l =~ /^ok - (.*)/) {
            push @{$r{ok}}, $1;

        } elsif ($l =~ /^not ok - (.*)/) {
            push @{$r{notok}}, $1;

        } elsif ($l =~ /^# (\w+)=(.*)/) {
            push @{$r{notes}{$1}}, $2;
        }
    }

    Test::More::diag("$r{cmd}\n$out" . ($err ne '' ? "stderr: $err" : ''))
        if $ENV{TEST_NGINX_VERBOSE};

    return \%r;
}

# runs offset_node in the foreground: node($port, [ { opts }, ] ARGS)

sub node {
    my ($port, @args) = @_;

    my $t = 120;
    for my $i (0 .. $#args - 1) {
        $t = $args[$i + 1] + 30 if $args[$i] eq '-t';
    }

    return node_wait(node_spawn($port, @args), $t);
}

# waits until a line matching $re is in the output; true if seen

sub node_wait_line {
    my ($h, $re, $timeout) = @_;

    my $deadline = time() + ($timeout || 20);

    while (time() < $deadline) {
        return 1 if _slurp($h->{out}) =~ $re;
        return 0 if waitpid($h->{pid}, WNOHANG) == $h->{pid};
        sleep 0.05;
    }

    return 0;
}

sub node_go {
    my ($h) = @_;
    my $w = $h->{stdin} or return;
    print $w "go\n";
}

# one test: exit status 0, no "not ok", at least one "ok"

sub node_ok {
    my ($r, $name) = @_;

    my $pass = $r->{rc} == 0 && !@{$r->{notok}} && @{$r->{ok}};

    Test::More::ok($pass, $name) or Test::More::diag(
        "exit $r->{rc}: $r->{cmd}\n"
        . join('', map { "not ok - $_\n" } @{$r->{notok}})
        . ($r->{err} ne '' ? "stderr: $r->{err}" : ''));

    return $pass;
}

# the first (or $i-th) value of a "# key=value" line

sub node_note {
    my ($r, $key, $i) = @_;
    my $v = $r->{notes}{$key} or return undef;
    return $v->[$i || 0];
}

# the "offset" object of a zone of the status page

sub offset_status {
    my ($http, $zone) = @_;

    my $doc = status_doc($http) or return undef;
    my $zones = $doc->{zones} or return undef;

    $zone = 'beacon' unless defined $zone;
    my $z = $zones->{$zone} || (values %$zones)[0] or return undef;

    return $z->{offset};
}

# polls (up to $timeout s) until $cond->(offset) is true; returns the last
# offset object

sub offset_wait {
    my ($http, $cond, $timeout) = @_;

    my $deadline = time() + ($timeout || 5);
    my $o;

    while (1) {
        $o = offset_status($http);
        return $o if $o && $cond->($o);
        return $o if time() > $deadline;
        sleep 0.1;
    }
}

1;
