#!/usr/bin/perl

# Tests for ngx_beacon_module: every registered counter reaches the JSON
# field and the Prometheus sample it is documented under (README, "Status
# fields" and "Metrics").  gdb writes a distinct value into two worker
# slots of each counter, by its enum name (NGX_BEACON_C_*), in the running
# worker; each page must show each sum exactly where the table below says,
# every counter field of the pages must be in the table, and a counter
# without a key (TRUNCATED) must show nowhere.  A counter registered with
# the wrong key, group or family, or two of them swapped, fails here.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx;
use Test::Nginx::Beacon;

use JSON::PP;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

# the contract: counter, JSON field, Prometheus sample (after "beacon_")

my $TABLE = <<'TABLE';
DATAGRAMS                 datagrams                     datagrams_total
MALFORMED                 malformed                     datagrams_malformed_total
UNKNOWN_TYPE              unknown_type                  datagrams_unknown_type_total
DISCOVER                  discover                      discover_total
DISCOVER_REPLIES          discover_replies              discover_replies_total
DISCOVER_THROTTLED        discover_throttled            discover_throttled_total
PROBES                    probes                        probes_total
REFUSED_CAPACITY          refused_capacity              refused_capacity_total
REGISTER_RATE_LIMITED     register_rate_limited         register_rate_limited_total
REPLY_RATE_LIMITED        reply_rate_limited            reply_rate_limited_total
EXPIRED                   expired                       expired_total
PUNCH_REQUESTS            punch_requests                punch_requests_total
PUNCH_COORDINATED         punch_coordinated             punch_coordinated_total
PUNCH_RATE_LIMITED        punch_rate_limited            punch_rate_limited_total
PUNCH_GRANT_REJECTED      punch_grant_rejected          punch_grant_rejected_total
PUNCH_NOT_FOUND           punch_not_found               punch_not_found_total
PUNCH_MISMATCH            punch_endpoint_mismatch       punch_endpoint_mismatch_total
SYNC_RECEIVED             sync_received                 sync_received_total
SYNC_REJECTED             sync_rejected                 sync_rejected_total
SYNC_SENT                 sync_sent                     sync_sent_total
ROUTES_FULL               routes_full                   routes_full_total
RELAY_RECEIVED            relay_received                relay_received_total
RELAY_FORWARDED           relay_forwarded               relay_forwarded_total
RELAY_NOT_FOUND           relay_not_found               relay_not_found_total
RELAY_PEER_FORWARDED      relay_peer_forwarded          relay_peer_forwarded_total
RELAY_LOOP                relay_loop                    relay_loop_total
REGISTRY_ROUNDS           registry_rounds               registry_rounds_total
REGISTRY_ERRORS           registry_errors               registry_errors_total
SEND_ERRORS               send_errors                   send_errors_total
RELAY_RATE_LIMITED        relay_dropped.rate_limited    relay_dropped_total{reason="rate_limited"}
RELAY_OVERSIZE            relay_dropped.oversize        relay_dropped_total{reason="oversize"}
RELAY_MALFORMED           relay_dropped.malformed       relay_dropped_total{reason="malformed"}
RELAY_SENDER_MISMATCH     relay_dropped.sender_mismatch relay_dropped_total{reason="sender_mismatch"}
RELAY_SEND_FAILED         relay_dropped.send_failed     relay_dropped_total{reason="send_failed"}
WS_UPGRADE_OK             compat.upgrade_ok             compat_upgrade_ok_total
WS_UPGRADE_FAIL           compat.upgrade_fail           compat_upgrade_fail_total
WS_AUTH_OK                compat.auth_ok                compat_auth_ok_total
WS_AUTH_FAIL              compat.auth_fail              compat_auth_fail_total
WS_AUTH_RATE_LIMITED      compat.auth_rate_limited      compat_auth_rate_limited_total
WS_FRAMES_IN              compat.frames_in              compat_frames_in_total
WS_FRAMES_OUT             compat.frames_out             compat_frames_out_total
WS_IDLE_DISCONNECTS       compat.idle_disconnects       compat_idle_disconnects_total
WS_REPLACED               compat.replaced               compat_replaced_total
WS_KEY_LOOKUPS            compat.key_lookups            compat_key_lookups_total
WS_KEY_CACHE_HITS         compat.key_cache_hits         compat_key_cache_hits_total
WS_DROP_OVERSIZE          compat.dropped.oversize       compat_dropped_total{reason="oversize"}
WS_DROP_QUEUE_FULL        compat.dropped.queue_full     compat_dropped_total{reason="queue_full"}
WS_DROP_CHANNEL_FULL      compat.dropped.channel_full   compat_dropped_total{reason="channel_full"}
WS_DROP_STALE_OWNER       compat.dropped.stale_owner    compat_dropped_total{reason="stale_owner"}
WS_DROP_WRITE_TIMEOUT     compat.dropped.write_timeout  compat_dropped_total{reason="write_timeout"}
WS_DROP_NOT_ALLOWED       compat.dropped.not_allowed    compat_dropped_total{reason="not_allowed"}
OFFSET_CONNECTIONS        offset.connections_total      offset_connections_total
OFFSET_HANDSHAKES_OK      offset.handshakes_ok          offset_handshakes_ok_total
OFFSET_HANDSHAKES_FAILED  offset.handshakes_failed      offset_handshakes_failed_total
OFFSET_LISTENS            offset.listens                offset_listens_total
OFFSET_CONNECTS           offset.connects               offset_connects_total
OFFSET_ACCEPTS            offset.accepts                offset_accepts_total
OFFSET_TUNNELS            offset.tunnels_total          offset_tunnels_total
OFFSET_BYTES              offset.bytes_spliced          offset_bytes_spliced_total
OFFSET_MESSAGES           offset.messages_spliced       offset_messages_spliced_total
OFFSET_REJECTS            offset.rejects                offset_rejects_total
OFFSET_EXPIRED            offset.expired                offset_expired_total
OFFSET_UNPAIRED           offset.unpaired               offset_unpaired_total
OFFSET_LIMIT_HITS         offset.limit_hits             offset_limit_hits_total
OFFSET_HANDOFFS           offset.handoffs               offset_handoffs_total
OFFSET_HANDOFF_FAILED     offset.handoff_failed         offset_handoff_failed_total
OFFSET_LISTEN_REPLACED    offset.listen_replaced        offset_listen_replaced_total
OFFSET_LISTEN_REFUSED     offset.listen_refused         offset_listen_refused_total
OFFSET_BAD_FRAMES         offset.bad_frames             offset_bad_frames_total
OFFSET_TIMEOUTS           offset.timeouts               offset_timeouts_total
OFFSET_REKEYS             offset.rekeys                 offset_rekeys_total
STUN_REQUESTS             stun.requests                 stun_requests_total
STUN_RESPONSES            stun.responses                stun_responses_total
STUN_INDICATIONS          stun.indications              stun_indications_total
STUN_RATE_LIMITED         stun.rate_limited             stun_rate_limited_total
STUN_ERROR_400            stun_errors.400               stun_errors_total{code="400"}
STUN_ERROR_420            stun_errors.420               stun_errors_total{code="420"}
STUN_DROP_SHORT           stun_dropped.short            stun_dropped_total{reason="short"}
STUN_DROP_NOT_STUN        stun_dropped.not_stun         stun_dropped_total{reason="not_stun"}
STUN_DROP_BAD_LENGTH      stun_dropped.bad_length       stun_dropped_total{reason="bad_length"}
STUN_DROP_ATTR_OVERRUN    stun_dropped.attr_overrun     stun_dropped_total{reason="attr_overrun"}
STUN_DROP_BAD_FINGERPRINT stun_dropped.bad_fingerprint  stun_dropped_total{reason="bad_fingerprint"}
STUN_DROP_BAD_ATTRIBUTE   stun_dropped.bad_attribute    stun_dropped_total{reason="bad_attribute"}
STUN_DROP_WRONG_CLASS     stun_dropped.wrong_class      stun_dropped_total{reason="wrong_class"}
TABLE

# not counters: the zone's gauges and the compat and Offset gauges
my %GAUGES = map { $_ => 1 } qw/ size used free nodes max_nodes node_ttl
    relay_dropped.total compat.active_peers compat.connections
    offset.connections offset.handshakes_in_progress offset.listeners
    offset.half_tunnels offset.tunnels gossip.routes /;

my @rows = map { [ split ' ' ] } grep { /\S/ } split /\n/, $TABLE;

my $gdb = `command -v gdb 2>/dev/null`;
chomp $gdb;

plan(skip_all => 'gdb not installed (make test-deps)') unless $gdb;

my $t = Test::Nginx->new()->has(qw/stream udp http beacon/)
    ->plan(4 * @rows + 14);

# the refused reload logs one [emerg]; any other alert is checked below
$t->todo_alerts();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 1;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    beacon_zone one:1m;

    server {
        listen 127.0.0.1:%%PORT_8980_UDP%% udp reuseport;
        beacon zone=one;
    }
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen 127.0.0.1:%%PORT_8080%%;

        location = /status {
            beacon_status;
        }

        location = /metrics {
            beacon_status format=prometheus;
        }
    }
}

EOF

$t->run();

###############################################################################

my $H = port(8080);

# two slots per counter (worker 0 and slot 5), so the pages must sum them;
# every sum distinct

my (%value, @cmd);

push @cmd, 'set $part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part',
    'set $z = (ngx_beacon_zone_t *) ((ngx_shm_zone_t *) $part->elts)[0].data';

my $k = 0;

for my $name ((map { $_->[0] } @rows), 'TRUNCATED') {
    $k++;
    my ($a, $b) = (1000003 + $k * 7919, 500000 + $k * 131);
    $value{$name} = $a + $b;
    push @cmd, "set var \$z->sh->slots[0].c[NGX_BEACON_C_$name] = $a",
        "set var \$z->sh->slots[5].c[NGX_BEACON_C_$name] = $b";
}

push @cmd, 'detach', 'quit';

$t->write_file('gdb.cmd', join("\n", @cmd) . "\n");

my ($worker) = $t->worker_pids();
my $out = `$gdb -q -batch -nx -p $worker -x ${\ $t->testdir()}/gdb.cmd 2>&1`;

unlike($out, qr/No symbol|Error|Cannot access/, 'gdb wrote every counter')
    or diag($out);

my ($code, $h, $body) = http_get($H, '/status');
my $zone = eval { JSON::PP->new->decode($body)->{zones}{one} };
ok(ref $zone eq 'HASH', 'JSON');

($code, $h, my $prom) = http_get($H, '/metrics');
my %sample;

for (split /\n/, $prom) {
    next unless /^beacon_(\w+)\{zone="one"(?:,(\w+)="([^"]*)")?\} (\d+)$/;
    $sample{$1 . (defined $2 ? "{$2=\"$3\"}" : '')} = $4;
}

cmp_ok(scalar keys %sample, '>', scalar @rows, 'Prometheus samples');

sub field {
    my ($doc, $path) = @_;
    $doc = ref $doc eq 'HASH' ? $doc->{$_} : undef for split /\./, $path;
    return $doc;
}

my %json_of = map { $_->[1] => $_->[0] } @rows;
my %prom_of = map { $_->[2] => $_->[0] } @rows;

for my $r (@rows) {
    my ($name, $json, $metric) = @$r;

    is(field($zone, $json), $value{$name}, "$name: JSON $json");
    is($sample{$metric}, $value{$name}, "$name: beacon_$metric");

    # its value nowhere else on either page

    my $v = $value{$name};
    is(scalar(() = $body =~ /:$v\b/g), 1, "$name: once in JSON");
    is(scalar(() = $prom =~ / $v$/mg), 1, "$name: once in Prometheus");
}

# every counter field of the pages is in the table

my @unlisted;

sub leaves {
    my ($doc, $path) = @_;

    for my $key (sort keys %$doc) {
        my $p = $path eq '' ? $key : "$path.$key";
        my $v = $doc->{$key};

        if (ref $v eq 'HASH') {
            leaves($v, $p);

        } elsif (!ref $v && $v =~ /^\d+$/ && !$GAUGES{$p}
                 && !exists $json_of{$p})
        {
            push @unlisted, $p;
        }
    }
}

leaves($zone, '');

is("@unlisted", '', 'every JSON counter in the table');

my $sum = 0;
$sum += $value{$_->[0]} for grep { $_->[1] =~ /^relay_dropped\./ } @rows;
is($zone->{relay_dropped}{total}, $sum, 'relay_dropped.total is the sum');

my @unlisted_prom = grep { /_total/ && !exists $prom_of{$_}
    && !/^(worker_datagrams|gossip_peer_forwarded)_total/ } sort keys %sample;

is("@unlisted_prom", '', 'every Prometheus counter in the table');

my $hidden = $value{TRUNCATED};
unlike($body . $prom, qr/\b$hidden\b/, 'a counter without a key is not shown');

my $promtool = `command -v promtool 2>/dev/null`;
chomp $promtool;

SKIP: {
    skip 'promtool not installed', 1 unless $promtool;

    $t->write_file('metrics.txt', $prom);
    my $res = `$promtool check metrics < ${\ $t->testdir()}/metrics.txt 2>&1`;
    is($?, 0, 'promtool check metrics') or diag($res);
}

# a zone whose counters are not the module's (a reload onto a module that
# registers other counters, or the same in another order) is refused: the
# signature in the zone is flipped, the reload fails naming the zone, the
# old worker keeps serving the old values; restored, the reload goes through

$t->write_file('gdb2.cmd', join("\n",
    'set $part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part',
    'set $z = (ngx_beacon_zone_t *) ((ngx_shm_zone_t *) $part->elts)[0].data',
    'set var $z->sh->counters = $z->sh->counters ^ 0x5a5a',
    'detach', 'quit') . "\n");

$out = `$gdb -q -batch -nx -p $worker -x ${\ $t->testdir()}/gdb2.cmd 2>&1`;

ok(!$t->reload(timeout => 5), 'reload onto other counters refused');
like($t->read_file('error.log'),
    qr/beacon zone "one" has an incompatible layout/, 'the error names the zone');

($code, $h, my $again) = http_get($H, '/status');
is($again, $body, 'the old worker serves the old counters');

$out = `$gdb -q -batch -nx -p $worker -x ${\ $t->testdir()}/gdb2.cmd 2>&1`;

ok($t->reload(), 'reload with the counters restored');

($code, $h, $again) = http_get($H, '/status');
my $kept = eval { JSON::PP->new->decode($again)->{zones}{one} };
is($kept->{relay_loop}, $zone->{relay_loop}, 'counters kept across the reload');

my @alerts = grep { /\[(alert|emerg)\]|exited on signal/
    && !/beacon zone "one" has an incompatible layout/ }
    split /\n/, $t->read_file('error.log');
is("@alerts", '', 'no other alerts');

###############################################################################
