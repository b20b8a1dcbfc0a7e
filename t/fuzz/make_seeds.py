#!/usr/bin/env python3
# Writes the seed corpora of the sync, keys, ipc and registry fuzz targets
# (t/fuzz/corpus-<name>/) from the traffic of the tests: the SYNCs of
# t/gossip_*.t (with and without the gossip trailer), the key files of
# t/compat_*.t and t/beacon_*.t, the channel messages the relay path and a
# replacing login send, and the replies of t/tools/fake_*registry.pl.
#
#   python3 t/fuzz/make_seeds.py        (run from the repository root)

import base64
import hashlib
import hmac
import json
import os
import struct

FUZZ_NOW = 1900000000


def put(target, name, data):
    d = 't/fuzz/corpus-%s' % target
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def sync(bid, *ids):
    return struct.pack('>BIH', 7, bid, len(ids)) + b''.join(
        struct.pack('>I', i) for i in ids)


def trailer(body, key, t):
    head = b'NBG1' + struct.pack('>q', t)
    return head + hmac.new(key, body + head, hashlib.sha256).digest()[:16]


key = hashlib.sha256(b'fuzz gossip secret').digest()

# sync: mode byte, time offset, position byte, datagram
for name, body in [('empty', sync(2)), ('one', sync(2, 400)),
                   ('three', sync(3, 401, 401, 600)),
                   ('many', sync(9, *range(100, 164)))]:
    put('sync', 'plain_' + name, b'\0\0\0' + body)
    put('sync', 'signed_' + name,
        b'\0\0\0' + body + trailer(body, key, FUZZ_NOW))
    put('sync', 'stale_' + name,
        b'\0\0\0' + body + trailer(body, key, FUZZ_NOW - 61))
    put('sync', 'mac_' + name, b'\x01\x05\x00' + body)
    put('sync', 'mac_edge_' + name, b'\x01\x3c\x00' + body)
    put('sync', 'flip_' + name, b'\x02\x00\x11' + body)
put('sync', 'trailing_junk', b'\0\0\0' + sync(2, 5) + b'xyz')
put('sync', 'truncated', b'\0\0\0' + sync(2, 5, 6)[:-2])
put('sync', 'not_sync', b'\0\0\0' + b'\x01' + struct.pack('>I', 5))

# keys: files as the tests write them
k1 = base64.b64encode(bytes(range(32))).decode()
k2 = base64.b64encode(bytes(range(32, 64))).decode()
put('keys', 'two', ('1001 %s\n1002 %s\n' % (k1, k2)).encode())
put('keys', 'comments', ('# nodes\n\n  1001\t%s  \r\n# end\n' % k1).encode())
put('keys', 'no_newline', ('42 %s' % k1).encode())
put('keys', 'dup', ('7 %s\n7 %s\n' % (k1, k2)).encode())
put('keys', 'bad_line', ('7 %s\n8 nope\n' % k1).encode())
put('keys', 'empty', b'')
put('keys', 'big_id', ('4294967295 %s\n' % k2).encode())

# ipc: the header (host order, little-endian here) and a payload


def ipc(t, node, conn, payload=b''):
    return struct.pack('<IHHIIQ', 0x6e626970, t, 0, node, 0, conn) + payload


deliver = bytes([0x05]) + struct.pack('>I', 1001) + b'hello'
put('ipc', 'deliver', ipc(1, 1002, 17, deliver))
put('ipc', 'replaced', ipc(2, 1002, 18))
put('ipc', 'offset_notify', ipc(16, 0, 99, b'\x00' * 12))
put('ipc', 'offset_handoff', ipc(18, 0, 5, b'\x01\x02\x03'))
put('ipc', 'bad_magic', b'X' * 24)
put('ipc', 'short', ipc(1, 1, 1)[:20])
put('ipc', 'unknown_type', ipc(9, 1, 1))

# registry: chunk-size byte, then framed replies


def frame(obj):
    s = json.dumps(obj, separators=(',', ':')).encode()
    return struct.pack('>I', len(s)) + s


put('registry', 'register_ok',
    b'\x07' + frame({'type': 'beacon_register_ok', 'beacon_id': 7}))
put('registry', 'register_then_list',
    b'\x03' + frame({'type': 'beacon_register_ok', 'beacon_id': 7})
    + frame({'type': 'beacon_list_ok', 'beacons': [
        {'id': 2, 'addr': '127.0.0.1:9000'},
        {'id': 7, 'addr': '127.0.0.1:9001'},
        {'id': 3, 'addr': '[::1]:9002'},
        {'id': 'x', 'addr': '127.0.0.1:1'},
        {'id': 4, 'addr': 'host.example:1'}]}))
put('registry', 'list_empty',
    b'\x40' + frame({'type': 'beacon_list_ok', 'beacons': []}))
put('registry', 'lookup_ok',
    b'\x10' + frame({'type': 'lookup_ok', 'node_id': 1001,
                     'public_key': k1}))
put('registry', 'lookup_other',
    b'\x10' + frame({'type': 'lookup_ok', 'node_id': 1002,
                     'public_key': k1}))
put('registry', 'lookup_nokey',
    b'\x10' + frame({'type': 'lookup_ok', 'node_id': 1001}))
put('registry', 'lookup_badkey',
    b'\x10' + frame({'type': 'lookup_ok', 'node_id': 1001,
                     'public_key': '***not base64***'}))
put('registry', 'error',
    b'\x01' + frame({'type': 'error', 'error': 'not found'}))
put('registry', 'huge_len', b'\x05' + struct.pack('>I', 0x7fffffff)
    + b'{"type":')

# compat: scripts for t/fuzz/fuzz_compat.c, the sessions of t/compat_*.t:
# max-message byte, key answer mode, then operations
RAW, FRAME, AUTH, MESSAGE, CHUNK, TIME, TIMEOUT, CLOSE, KEY, UPGRADE = \
    range(10)


def message(b, payload):
    # n = byte * 8 + (b & 7) bytes of payload
    n = len(payload)
    b = (b & ~7) | (n % 8)
    return bytes([MESSAGE, b, n // 8]) + payload


relay = bytes([0x05]) + struct.pack('>II', 1001, 1002) + b'hello...'
relay_big = bytes([0x05]) + struct.pack('>II', 1001, 1002) + bytes(
    i % 251 for i in range(1192))
discover = bytes([0x01]) + struct.pack('>I', 1001) + b'\0\0\0'
login = bytes([AUTH, 0])

put('compat', 'login', b'\xff\x00' + login)
put('compat', 'login_relay', b'\xff\x00' + login + message(0, relay))
put('compat', 'login_fragments_pings',
    b'\xff\x00' + login + message(0x41, relay_big))
put('compat', 'login_fragmented_reply', b'\xff\x00' + bytes([AUTH, 0x86])
    + message(0, discover))
put('compat', 'login_ping_close', b'\xff\x00' + login
    + bytes([FRAME, 0x19, 2]) + b'abcdef'
    + bytes([FRAME, 0x18, 1]) + b'\x03\xe8\x00')
put('compat', 'login_close_echo', b'\xff\x00' + login
    + bytes([FRAME, 0x18, 0]))
put('compat', 'bad_sig', b'\xff\x00' + bytes([AUTH, 4]))
put('compat', 'other_node', b'\xff\x00' + bytes([AUTH, 2]))
put('compat', 'old_ts', b'\xff\x00' + bytes([AUTH, 3]))
put('compat', 'binary_reply', b'\xff\x00' + bytes([AUTH, 5]))
put('compat', 'wrong_key', b'\xff\x01' + login)
put('compat', 'no_key', b'\xff\x02' + login)
put('compat', 'deferred_key', b'\xff\x03' + login + bytes([KEY, 0])
    + message(0, relay))
put('compat', 'message_while_key_wanted', b'\xff\x03' + login
    + message(0, relay) + bytes([KEY, 0]))
put('compat', 'late_reply', b'\xff\x00' + bytes([TIME, 31]) + login)
put('compat', 'auth_timeout', b'\xff\x00' + bytes([TIMEOUT, 0]))
put('compat', 'idle_timeout', b'\xff\x00' + login + bytes([TIMEOUT, 0])
    + bytes([FRAME, 0x18, 0]))
put('compat', 'server_close', b'\xff\x00' + login + bytes([CLOSE, 0x41])
    + message(0, relay) + bytes([FRAME, 0x18, 0]))
put('compat', 'one_byte_reads', b'\xff\x00' + bytes([CHUNK, 0]) + login
    + message(0x41, relay))
put('compat', 'oversize', b'\x01\x00' + login + message(0, relay_big))
put('compat', 'unmasked', b'\xff\x00' + login
    + bytes([RAW, 7]) + b'\x82\x05hello')
put('compat', 'text_after_login', b'\xff\x00' + login
    + bytes([FRAME, 0x11, 2]) + b'hi!!!!')
put('compat', 'bad_continuation', b'\xff\x00' + login
    + bytes([FRAME, 0x10, 1]) + b'xyz')
upgrade = (b'\x01G host:beacon.example\nConnection:keep-alive, Upgrade\n'
           b'Upgrade:websocket\nSec-WebSocket-Version:13\n'
           b'Sec-WebSocket-Key:dGhlIHNhbXBsZSBub25jZQ==\n'
           b'Origin:https://beacon.example\n'
           b'Sec-WebSocket-Protocol:chat, pilot.v1')
put('compat', 'upgrade_ok', b'\xff\x00' + bytes([UPGRADE, len(upgrade)])
    + upgrade)
put('compat', 'upgrade_bad_origin', b'\xff\x00'
    + bytes([UPGRADE, len(upgrade) - 10]) + upgrade[:-10].replace(
        b'https://beacon', b'https://evil'))
