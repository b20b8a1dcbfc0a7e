package Test::Nginx::Beacon;

# Helpers for Pilot Protocol beacon tests: the nginx.conf they share, UDP
# client sockets and registered nodes, message builders and decoders, an
# HTTP GET client for the status page, Ed25519 signing through the openssl
# command line tool.  Written for this project.
#
# All traffic goes to loopback addresses only.

use warnings;
use strict;

use Exporter qw/ import /;
our @EXPORT = qw/
    beacon_conf
    dgram udp_node udp_nodes relay_reachable expect_nothing hx tohex
    discover discover_ex punch relay deliver deliver_dest addr_msg sync
    decode_addr_msg decode_reply reply_for command_for
    http_get status status_doc counters counter_delta worker_of map_workers
    udp_drained wait_for
    ed25519_pubkey ed25519_sign grant_request b64
    RFC_SEED RFC_PUB RFC_SEED2
/;

use File::Temp qw/ tempdir /;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::IP;
use JSON::PP;
use MIME::Base64 qw/ encode_base64 /;
use Socket qw/ AF_INET AF_INET6 SOCK_DGRAM SOL_SOCKET SO_RCVBUF
    inet_pton inet_ntop pack_sockaddr_in pack_sockaddr_in6
    unpack_sockaddr_in unpack_sockaddr_in6 sockaddr_family /;
use Time::HiRes qw/ sleep time /;

use constant RFC_SEED =>
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
use constant RFC_PUB =>
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
use constant RFC_SEED2 =>
    '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb';

###############################################################################
# nginx.conf

# beacon_conf(%o): the text of an nginx.conf (for write_file_expand) with
# what the beacon tests share: the globals, "daemon off", worker_processes,
# events, a stream block, and an http block with the status page.
#
#   workers => N     worker_processes (default 2)
#   main => text     more lines of the main context (e.g. error_log)
#   stream => text   the lines of the stream block (zones, servers); without
#                    it the usual one: "beacon_zone beacon:<zone>" and one
#                    server listening on 127.0.0.1, UDP port 8980
#                    (reuseport), with "beacon on;" and then
#   beacon => text   more directives of that server (none by default)
#   zone => size     the size of that zone (default 1m)
#   http => text     lines of the http block before the status server
#   status => 0      no http block at all (by default one, with a server on
#                    port 8080: location = /status { beacon_status; })
#
# Each text is re-indented: its common leading white space gives way to the
# indentation of the block it goes in.

sub beacon_conf {
    my (%o) = @_;

    my $workers = defined $o{workers} ? $o{workers} : 2;
    my $stream = $o{stream};

    if (!defined $stream) {
        my $zone = defined $o{zone} ? $o{zone} : '1m';
        my $beacon = _indent($o{beacon}, 4);

        $stream = <<"EOF";
beacon_zone beacon:$zone;

server {
    listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
    beacon on;
$beacon}
EOF
    }

    my $conf = "\n%%TEST_GLOBALS%%\n\n";
    $conf .= _indent($o{main}, 0) . "\n" if defined $o{main};
    $conf .= "daemon off;\nworker_processes $workers;\n\nevents {\n}\n\n";
    $conf .= "stream {\n    %%TEST_GLOBALS_STREAM%%\n\n"
        . _indent($stream, 4) . "}\n\n";

    if (!defined $o{status} || $o{status}) {
        $conf .= "http {\n    %%TEST_GLOBALS_HTTP%%\n\n";
        $conf .= _indent($o{http}, 4) . "\n" if defined $o{http};
        $conf .= <<'EOF';
    server {
        listen 127.0.0.1:%%PORT_8080%%;

        location = /status {
            beacon_status;
        }
    }
}

EOF
    }

    return $conf;
}

# the lines of $text (none for undef) with their common leading white space
# replaced by $n spaces; blank lines stay empty, the text ends in a newline

sub _indent {
    my ($text, $n) = @_;

    return '' unless defined $text && $text =~ /\S/;

    my @l = split /\n/, $text;
    my ($min) = sort { $a <=> $b }
        map { /^( *)/; length $1 } grep { /\S/ } @l;

    return join('', map {
        /\S/ ? (' ' x $n) . substr($_, $min) . "\n" : "\n"
    } @l);
}

###############################################################################
# hex

sub hx {
    my ($hex) = @_;
    $hex =~ s/\s+//g;
    return pack('H*', $hex);
}

sub tohex {
    my ($bin) = @_;
    return defined $bin ? unpack('H*', $bin) : '(none)';
}

sub b64 {
    my ($bin) = @_;
    return encode_base64($bin, '');
}

###############################################################################
# messages

sub discover {
    my ($id, $key) = @_;
    return "\x01" . pack('N', $id) . (defined $key ? $key : '');
}

sub discover_ex {
    my ($id, $key) = @_;
    return "\x08" . pack('N', $id) . (defined $key ? $key : '');
}

sub punch {
    my ($req, $tgt, $expiry, $sig) = @_;

    my $m = "\x03" . pack('NN', $req, $tgt);
    $m .= pack('q>', $expiry) . $sig if defined $expiry;

    return $m;
}

sub relay {
    my ($sender, $dest, $payload) = @_;
    return "\x05" . pack('NN', $sender, $dest)
        . (defined $payload ? $payload : '');
}

sub deliver {
    my ($sender, $payload) = @_;
    return "\x06" . pack('N', $sender) . (defined $payload ? $payload : '');
}

sub deliver_dest {
    my ($sender, $dest, $payload) = @_;
    return "\x09" . pack('NN', $sender, $dest)
        . (defined $payload ? $payload : '');
}

sub sync {
    my ($beacon_id, @ids) = @_;
    return "\x07" . pack('Nn', $beacon_id, scalar @ids) . pack('N*', @ids);
}

# DISCOVER_REPLY (2) or PUNCH_COMMAND (4) naming ip:port

sub addr_msg {
    my ($type, $ip, $port) = @_;

    if ($ip =~ /:/) {
        return pack('CC', $type, 16) . inet_pton(AF_INET6, $ip)
            . pack('n', $port);
    }

    return pack('CC', $type, 4) . inet_pton(AF_INET, $ip) . pack('n', $port);
}

# the DISCOVER_REPLY a client socket should get, and the PUNCH_COMMAND
# that names it

sub reply_for {
    my ($sock) = @_;
    return addr_msg(2, $sock->endpoint());
}

sub command_for {
    my ($sock) = @_;
    return addr_msg(4, $sock->endpoint());
}

# returns (type, ip text, port) or () if the message is not well formed

sub decode_addr_msg {
    my ($m) = @_;

    return () unless defined $m && length($m) >= 2;

    my ($type, $l) = unpack('CC', $m);
    return () unless ($l == 4 || $l == 16) && length($m) == 2 + $l + 2;

    my $ip = inet_ntop($l == 4 ? AF_INET : AF_INET6, substr($m, 2, $l));
    my $port = unpack('n', substr($m, 2 + $l, 2));

    return ($type, $ip, $port);
}

# DISCOVER_REPLY -> (ip, port)

sub decode_reply {
    my ($m) = @_;

    my ($type, $ip, $port) = decode_addr_msg($m);
    return () unless defined $type && $type == 2;

    return ($ip, $port);
}

###############################################################################
# UDP sockets

# dgram('127.0.0.1:8980', local => '127.0.0.5' | '127.0.0.5:40000',
#       rcvbuf => bytes)

sub dgram {
    my ($peer, %opts) = @_;

    my ($host, $port) = _split_hostport($peer);
    my $v6 = $host =~ /:/;

    my ($lhost, $lport) = (undef, 0);
    ($lhost, $lport) = _split_hostport($opts{local}) if defined $opts{local};
    $lhost = $v6 ? '::1' : '127.0.0.1' unless defined $lhost;
    $lport = 0 unless defined $lport;

    my $s = IO::Socket::IP->new(
        Proto => 'udp',
        Family => $v6 ? AF_INET6 : AF_INET,
        LocalHost => $lhost,
        LocalPort => $lport,
    ) or die "Can't create UDP socket on $lhost:$lport: $@\n";

    if ($opts{rcvbuf}) {
        # SO_RCVBUFFORCE (33) exceeds rmem_max when allowed
        setsockopt($s, SOL_SOCKET, 33, pack('i', $opts{rcvbuf}))
            or setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $opts{rcvbuf}));
    }

    return Test::Nginx::Beacon::Socket->new($s, $host, $port, $v6);
}

sub _split_hostport {
    my ($s) = @_;

    return ($1, $2) if $s =~ /^\[([^\]]+)\](?::(\d+))?$/;
    return ($1, $2) if $s =~ /^([^:]+)(?::(\d+))?$/;
    return ($s, undef);
}

sub _sockaddr {
    my ($host, $port) = @_;

    if ($host =~ /:/) {
        return pack_sockaddr_in6($port, inet_pton(AF_INET6, $host));
    }

    return pack_sockaddr_in($port, inet_pton(AF_INET, $host));
}

# udp_node($beacon, $id, $local, %o): a node registered with the beacon at
# 'ip:port': a socket (dgram($beacon, local => $local, %o)) that sent a
# DISCOVER for $id and got a reply.  Options besides dgram's: key => the
# node's public key (sent in the DISCOVER), ex => 1 (DISCOVER_EX instead),
# try => 1 (undef instead of dying when no reply came).

sub udp_node {
    my ($peer, $id, $local, %o) = @_;

    my %d = map { $_ => $o{$_} } grep { !/^(key|ex|try)$/ } keys %o;

    my $s = dgram($peer, defined $local ? (local => $local) : (), %d);
    my ($reply) = $s->io($o{ex} ? discover_ex($id, $o{key})
        : discover($id, $o{key}));

    return $s if defined $reply;
    return undef if $o{try};

    die "no reply registering $id\n";
}

# udp_nodes($beacon, { id => local address, ... }): the list (id => socket,
# ...) of the nodes that registered, in the order of their ids (udp_node
# with try => 1); the others are left out

sub udp_nodes {
    my ($peer, $locals) = @_;

    my %node;

    foreach my $id (sort { $a <=> $b } keys %$locals) {
        my $s = udp_node($peer, $id, $locals->{$id}, try => 1);
        $node{$id} = $s if defined $s;
    }

    return %node;
}

# relay_reachable($sender, $sender_id, { id => socket }, $timeout): how many
# of the nodes, in the order of their ids, got a RELAY from $sender (to
# "to<id>") as the DELIVER it should be, each within $timeout s (default 1)

sub relay_reachable {
    my ($sender, $sender_id, $nodes, $timeout) = @_;

    my $n = 0;

    foreach my $id (sort { $a <=> $b } keys %$nodes) {
        $sender->send(relay($sender_id, $id, "to$id"));
        my ($r) = $nodes->{$id}->recv(defined $timeout ? $timeout : 1);
        $n++ if defined $r && $r eq deliver($sender_id, "to$id");
    }

    return $n;
}

sub expect_nothing {
    my ($sock, $timeout) = @_;
    return $sock->expect_nothing($timeout);
}

# polls $cond (every 20 ms, for up to $timeout s, default 5) until it
# returns true; returns its last value

sub wait_for {
    my ($cond, $timeout) = @_;

    my $deadline = time() + (defined $timeout ? $timeout : 5);

    while (1) {
        my $r = $cond->();
        return $r if $r || time() >= $deadline;
        sleep 0.02;
    }
}

# waits (bounded) until every UDP socket bound to local port $port has an
# empty receive queue (/proc/net/udp, udp6): nginx has read all that was
# sent to it; true on success

sub udp_drained {
    my ($port, $timeout) = @_;

    my $deadline = time() + (defined $timeout ? $timeout : 10);
    my $want = sprintf(':%04X', $port);

    while (1) {
        my ($socks, $queued) = (0, 0);

        foreach my $f ('/proc/net/udp', '/proc/net/udp6') {
            open my $fh, '<', $f or next;
            while (<$fh>) {
                my (undef, $local, undef, undef, $q) = split;
                next unless defined $q && $local =~ /\Q$want\E$/;
                $socks++;
                $queued++ if hex((split /:/, $q)[1]) != 0;
            }
            close $fh;
        }

        return 1 if $socks && !$queued;
        return 0 if time() >= $deadline;

        sleep 0.02;
    }
}

###############################################################################
# HTTP

# returns (status, { lowercased header => value }, body)

sub http_get {
    my ($port, $uri, %opts) = @_;

    my $s = IO::Socket::INET->new(
        Proto => 'tcp',
        PeerAddr => '127.0.0.1:' . $port,
        Timeout => 5,
    ) or return (undef, {}, '');

    my $host = $opts{host} || 'localhost';
    my $method = $opts{method} || 'GET';

    $s->autoflush(1);
    print $s "$method $uri HTTP/1.0\r\nHost: $host\r\n\r\n";

    my $data = '';
    my $sel = IO::Select->new($s);
    my $deadline = time() + 5;

    while (time() < $deadline) {
        last unless $sel->can_read($deadline - time());
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $data .= $buf;
    }

    close $s;

    log_io("HTTP $uri", $data);

    my ($head, $body) = split /\r\n\r\n/, $data, 2;
    return (undef, {}, '') unless defined $head;

    my @lines = split /\r\n/, $head;
    my $statusline = shift @lines || '';
    my ($code) = $statusline =~ m!^HTTP/\d\.\d (\d{3})!;

    my %h;
    foreach (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
    }

    return ($code, \%h, defined $body ? $body : '');
}

# the decoded status document

sub status_doc {
    my ($port, $uri) = @_;

    my ($code, $h, $body) = http_get($port, $uri || '/status');
    return undef unless defined $code && $code == 200;

    my $doc = eval { JSON::PP->new->decode($body) };
    return $doc;
}

# status($t, $port[, $zone]) or status($port[, $zone]): the hash of one zone
# (default "beacon", or the only zone present)

sub status {
    shift if ref $_[0];
    my ($port, $zone, $uri) = @_;

    my $doc = status_doc($port, $uri) or return undef;
    my $zones = $doc->{zones} or return undef;

    if (!defined $zone) {
        my @names = keys %$zones;
        $zone = @names == 1 ? $names[0] : 'beacon';
    }

    return $zones->{$zone};
}

# the numeric fields of one zone, nested hashes flattened with dots
# ("relay_dropped.rate_limited"); "workers" becomes "workers.sum" and
# "workers.<index>"

sub counters {
    shift if ref $_[0];
    my ($port, $zone) = @_;

    my $z = status($port, $zone) or return undef;
    my %c;

    foreach my $k (keys %$z) {
        my $v = $z->{$k};

        if (ref $v eq 'HASH') {
            $c{"$k.$_"} = $v->{$_} foreach keys %$v;

        } elsif (ref $v eq 'ARRAY') {
            my $sum = 0;
            foreach my $w (@$v) {
                next unless ref $w eq 'HASH';
                $c{"$k.$w->{worker}"} = $w->{datagrams};
                $sum += $w->{datagrams} || 0;
            }
            $c{"$k.sum"} = $sum;

        } else {
            $c{$k} = $v;
        }
    }

    return \%c;
}

# how far counter $key moved since $before; with $want, polls (up to 2 s)
# until the counter moved by exactly $want, for counters updated after
# the datagram that the test saw

sub counter_delta {
    my ($port, $zone, $before, $key, $want) = @_;

    my $deadline = time() + 2;
    my $d;

    while (1) {
        my $now = counters($port, $zone) or return undef;
        return undef unless defined $now->{$key};

        $d = $now->{$key} - ($before->{$key} || 0);

        return $d if !defined $want || $d == $want || time() > $deadline;

        sleep 0.05;
    }
}

# which nginx worker receives datagrams from this socket: send a probe
# (DISCOVER for node 0) and watch the per-worker datagram counters

sub _workers_counts {
    my ($port, $zone) = @_;

    my $z = status($port, $zone) or return undef;
    my %c = map { $_->{worker} => $_->{datagrams} } @{$z->{workers} || []};

    return \%c;
}

sub worker_of {
    my ($http_port, $zone, $sock) = @_;

    for my $try (1 .. 3) {
        my $before = _workers_counts($http_port, $zone) or return undef;

        $sock->send(discover(0));
        my ($reply) = $sock->recv(2);

        my $deadline = time() + 2;

        while (time() < $deadline) {
            my $after = _workers_counts($http_port, $zone) or return undef;

            my @changed = grep {
                ($after->{$_} || 0) != ($before->{$_} || 0)
            } keys %$after;

            return $changed[0] if @changed == 1;
            last if @changed > 1;

            sleep 0.02;
        }
    }

    return undef;
}

# creates up to $max sockets (local addresses from @locals, round robin)
# and returns { worker index => [ sockets ] }; stops early once $want
# workers are seen

sub map_workers {
    my (%o) = @_;

    my %map;
    my @locals = @{$o{locals} || [ undef ]};

    for my $i (0 .. ($o{max} || 32) - 1) {
        my $local = $locals[$i % @locals];
        my $s = dgram($o{peer}, defined $local ? (local => $local) : ());

        my $w = worker_of($o{http}, $o{zone}, $s);
        next unless defined $w;

        push @{$map{$w}}, $s;

        last if $o{want} && keys %map >= $o{want}
            && (!$o{each} || !grep { @{$map{$_}} < $o{each} } keys %map);
    }

    return \%map;
}

###############################################################################
# Ed25519 through the openssl command line tool

our $TMP;

sub _tmp {
    $TMP = tempdir('beacon-ed25519-XXXXXXXX', TMPDIR => 1, CLEANUP => 1)
        unless defined $TMP;
    return $TMP;
}

sub _keyfile {
    my ($seed_hex) = @_;

    my $dir = _tmp();
    my $pem = "$dir/$seed_hex.pem";
    return $pem if -f $pem;

    # PKCS#8 wrapper of a raw Ed25519 seed (RFC 8410)
    my $der = hx('302e020100300506032b657004220420' . $seed_hex);

    _spit("$dir/$seed_hex.der", $der);
    system('openssl', 'pkey', '-inform', 'DER', '-in', "$dir/$seed_hex.der",
        '-out', $pem) == 0 or die "openssl pkey failed\n";

    return $pem;
}

sub ed25519_pubkey {
    my ($seed_hex) = @_;

    my $pem = _keyfile($seed_hex);
    my $dir = _tmp();

    system('openssl', 'pkey', '-in', $pem, '-pubout', '-outform', 'DER',
        '-out', "$dir/$seed_hex.pub") == 0 or die "openssl pkey failed\n";

    my $der = _slurp("$dir/$seed_hex.pub");
    return substr($der, -32);
}

our $SEQ = 0;

sub ed25519_sign {
    my ($seed_hex, $msg) = @_;

    my $pem = _keyfile($seed_hex);
    my $dir = _tmp();
    my $n = $SEQ++;

    _spit("$dir/msg.$n", $msg);

    system('openssl', 'pkeyutl', '-sign', '-rawin', '-inkey', $pem,
        '-in', "$dir/msg.$n", '-out', "$dir/sig.$n") == 0
        or die "openssl pkeyutl failed\n";

    my $sig = _slurp("$dir/sig.$n");
    unlink "$dir/msg.$n", "$dir/sig.$n";

    die "bad signature length\n" unless length($sig) == 64;

    return $sig;
}

# a full 81-byte PUNCH_REQUEST with a grant signed by the target's key

sub grant_request {
    my ($seed_hex, $req, $tgt, $expiry) = @_;

    $expiry = int($expiry);
    my $sig = ed25519_sign($seed_hex, "punch-grant:$req:$tgt:$expiry");
    return punch($req, $tgt, $expiry, $sig);
}

sub _spit {
    my ($file, $data) = @_;
    open my $fh, '>', $file or die "$file: $!";
    binmode $fh;
    print $fh $data;
    close $fh;
}

sub _slurp {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    binmode $fh;
    local $/;
    my $d = <$fh>;
    close $fh;
    return $d;
}

sub log_io {
    my ($what, $data) = @_;
    return unless $ENV{TEST_NGINX_VERBOSE};

    my $shown = length($data) > 200 ? substr($data, 0, 200) . '...' : $data;
    $shown = tohex($shown) if $shown =~ /[^\x20-\x7e\r\n\t]/;
    Test::More::diag("$what: $shown");
}

###############################################################################

package Test::Nginx::Beacon::Socket;

use IO::Select;
use Socket qw/ AF_INET AF_INET6 inet_ntop unpack_sockaddr_in
    unpack_sockaddr_in6 sockaddr_family /;
use Time::HiRes qw/ time /;

sub new {
    my ($class, $s, $host, $port, $v6) = @_;

    return bless {
        s => $s,
        host => $host,
        port => $port,
        v6 => $v6,
        sel => IO::Select->new($s),
    }, $class;
}

sub socket { $_[0]->{s} }
sub sockhost { $_[0]->{s}->sockhost() }
sub sockport { $_[0]->{s}->sockport() }
sub peer { $_[0]->{host} . ':' . $_[0]->{port} }

# the endpoint the beacon should see, as (ip, port)
sub endpoint { ($_[0]->sockhost(), $_[0]->sockport()) }

# send($data[, 'host:port'])

sub send {
    my ($self, $data, $to) = @_;

    my ($host, $port) = ($self->{host}, $self->{port});
    ($host, $port) = Test::Nginx::Beacon::_split_hostport($to) if defined $to;

    Test::Nginx::Beacon::log_io(
        'send ' . $self->sockport() . " -> $host:$port", $data);

    my $r = CORE::send($self->{s}, $data, 0,
        Test::Nginx::Beacon::_sockaddr($host, $port));

    return $r;
}

# recv($timeout): (data, peer ip, peer port), or () after the timeout;
# in scalar context just the data

sub recv {
    my ($self, $timeout) = @_;

    $timeout = 3 unless defined $timeout;

    my $deadline = time() + $timeout;

    while (1) {
        my $left = $deadline - time();
        $left = 0 if $left < 0;

        last unless $self->{sel}->can_read($left);

        my $data;
        my $from = CORE::recv($self->{s}, $data, 70000, 0);
        next unless defined $from;

        my ($port, $addr, $ip);

        if (sockaddr_family($from) == AF_INET6) {
            ($port, $addr) = unpack_sockaddr_in6($from);
            $ip = inet_ntop(AF_INET6, $addr);

        } else {
            ($port, $addr) = unpack_sockaddr_in($from);
            $ip = inet_ntop(AF_INET, $addr);
        }

        Test::Nginx::Beacon::log_io(
            'recv ' . $self->sockport() . " <- $ip:$port", $data);

        return wantarray ? ($data, $ip, $port) : $data;
    }

    return wantarray ? () : undef;
}

# everything that arrives until nothing came for $quiet seconds (bounded by
# $max datagrams and $limit seconds): list of [data, ip, port]

sub recv_all {
    my ($self, $quiet, %o) = @_;

    $quiet = 0.3 unless defined $quiet;
    my $max = $o{max} || 1_000_000;
    my $deadline = time() + ($o{limit} || 30);
    my @got;

    while (@got < $max && time() < $deadline) {
        my @r = $self->recv($quiet) or last;
        push @got, [ @r ];
    }

    return @got;
}

sub drain {
    my ($self) = @_;
    my @r = $self->recv_all(0, limit => 5);
    return scalar @r;
}

# true if nothing arrives within $timeout seconds (default 0.5)

sub expect_nothing {
    my ($self, $timeout) = @_;

    $timeout = 0.5 unless defined $timeout;

    my @r = $self->recv($timeout);
    return @r ? 0 : 1;
}

# send a request (optionally to another 'host:port') and return the first
# reply (data, ip, port)

sub io {
    my ($self, $data, $timeout, $to) = @_;

    $self->send($data, $to);
    return $self->recv(defined $timeout ? $timeout : 3);
}

1;
