
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Known-answer unit tests for the beacon wire codec (ngx_beacon_proto.c).
 * Vectors come from the specification: sections 2, 4.2 and 10.
 * Output is TAP; the exit status is non-zero if any test fails.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <sodium.h>

#include "ngx_beacon_proto.h"
#include "tap.h"




/* RFC 8032 test key 1 and the section 4.2 grant */
static const char  rfc8032_seed[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char  rfc8032_pk[] =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char  rfc8032_pk_b64[] =
    "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char  grant_sig_hex[] =
    "8024f2293ccfa41a37e7757c3fb7d7a63e0bf5ad3a5bff3359e750bec442a49c"
    "07c2c38aa01909760d2f3db44bc0dd9d127516f5dcb421a61d96f17ac8f8bc03";

#define GRANT_REQUESTER  9201
#define GRANT_TARGET     9202
#define GRANT_EXPIRY     4102444800LL


static int
parse_hex(const char *hex, uint8_t *buf, size_t cap, ngx_beacon_msg_t *msg)
{
    size_t  n;

    n = unhex(buf, cap, hex);

    return ngx_beacon_parse(buf, n, msg);
}


static void
test_ints(void)
{
    uint8_t  b[4];

    ngx_beacon_put32(b, 0x01020304);
    ok(eqhex(b, 4, "01020304"), "put32 is big-endian");
    ok(ngx_beacon_get32(b) == 0x01020304, "get32 is big-endian");

    ngx_beacon_put32(b, 0xffffffff);
    ok(ngx_beacon_get32(b) == 0xffffffff, "get32/put32 0xffffffff");
}


static void
test_type_name(void)
{
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_DISCOVER), "discover") == 0,
       "type_name 0x01");
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_DISCOVER_REPLY),
              "discover_reply") == 0, "type_name 0x02");
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_PUNCH_REQUEST),
              "punch_request") == 0, "type_name 0x03");
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_PUNCH_COMMAND),
              "punch_command") == 0, "type_name 0x04");
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_RELAY), "relay") == 0,
       "type_name 0x05");
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_RELAY_DELIVER),
              "relay_deliver") == 0, "type_name 0x06");
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_SYNC), "sync") == 0,
       "type_name 0x07");
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_DISCOVER_EX),
              "discover_ex") == 0, "type_name 0x08");
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_RELAY_DELIVER_DEST),
              "relay_deliver_dest") == 0, "type_name 0x09");
    ok(strcmp(ngx_beacon_type_name(NGX_BEACON_NOTIFY), "notify") == 0,
       "type_name 0x0a");
    ok(strcmp(ngx_beacon_type_name(0x00), "unknown") == 0,
       "type_name 0x00");
    ok(strcmp(ngx_beacon_type_name(0xff), "unknown") == 0,
       "type_name 0xff");
}


static void
test_parse_discover(void)
{
    int               rc;
    uint8_t           buf[128];
    ngx_beacon_msg_t  msg;

    /* scenario 1 */
    rc = parse_hex("01 0000002a", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.type == NGX_BEACON_DISCOVER
       && msg.node_id == 42 && msg.pubkey == NULL,
       "parse DISCOVER 01 0000002a -> node 42, no key");

    /* scenario 2 */
    rc = parse_hex("01 000000", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_SHORT, "parse DISCOVER 4 bytes -> SHORT");

    /* scenario 3: 20 bytes, trailer shorter than a key is ignored */
    rc = parse_hex("01 0000002a 000000000000000000000000000000", buf,
                   sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.node_id == 42 && msg.pubkey == NULL,
       "parse DISCOVER + 15 zero bytes -> node 42, no key");

    /* 36 bytes: one short of a key */
    rc = parse_hex("01 000023f2 d75a980182b10ab7d54bfed3c964073a"
                   "0ee172f3daa62325af021a68f70751", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.pubkey == NULL,
       "parse DISCOVER 36 bytes -> no key");

    /* scenario 8: 37-byte DISCOVER with the RFC 8032 key */
    rc = parse_hex("01 000023f2 d75a980182b10ab7d54bfed3c964073a"
                   "0ee172f3daa62325af021a68f707511a", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.node_id == 9202
       && msg.pubkey == buf + 5
       && eqhex(msg.pubkey, NGX_BEACON_KEY_LEN, rfc8032_pk),
       "parse DISCOVER 37 bytes -> node 9202 with key");

    /* scenario 23 */
    rc = parse_hex("08 00000014", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.type == NGX_BEACON_DISCOVER_EX
       && msg.node_id == 20 && msg.pubkey == NULL,
       "parse DISCOVER_EX 08 00000014 -> node 20");

    rc = parse_hex("08 0000", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_SHORT, "parse DISCOVER_EX 3 bytes -> SHORT");
}


static void
test_addr(void)
{
    char                 text[64];
    size_t               n;
    uint8_t              out[NGX_BEACON_ADDR_MSG_MAX], type, buf[32];
    ngx_beacon_addr_t    addr, dec;
    struct sockaddr_un   sun;
    struct sockaddr_in   sin;
    struct sockaddr_in6  sin6;

    /* scenario 1: 127.0.0.1:40000 */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(40000);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ok(ngx_beacon_addr_from_sockaddr(&addr, &sin) == 0
       && eqhex(addr.ip, 16, "00000000000000000000ffff7f000001")
       && addr.port == 40000,
       "addr_from_sockaddr AF_INET -> v4-mapped, host-order port");
    ok(ngx_beacon_addr_is_v4(&addr), "addr_is_v4 for AF_INET");

    n = ngx_beacon_encode_addr_msg(out, NGX_BEACON_DISCOVER_REPLY, &addr);
    ok(n == 8 && eqhex(out, n, "02 04 7f000001 9c40"),
       "DISCOVER_REPLY 127.0.0.1:40000 = 02 04 7f000001 9c40");

    memset(&dec, 0xaa, sizeof(dec));
    type = 0;
    ok(ngx_beacon_decode_addr_msg(out, n, &type, &dec) == 0
       && type == NGX_BEACON_DISCOVER_REPLY
       && memcmp(dec.ip, addr.ip, 16) == 0 && dec.port == 40000,
       "decode_addr_msg IPv4 reply round trip");

    n = ngx_beacon_addr_print(text, &addr, 1);
    ok(n == strlen("127.0.0.1:40000")
       && strcmp(text, "127.0.0.1:40000") == 0,
       "addr_print IPv4 with port");

    n = ngx_beacon_addr_print(text, &addr, 0);
    ok(n == strlen("127.0.0.1") && strcmp(text, "127.0.0.1") == 0,
       "addr_print IPv4 without port");

    n = ngx_beacon_encode_addr_msg(out, NGX_BEACON_PUNCH_COMMAND, &addr);
    ok(n == 8 && eqhex(out, n, "04 04 7f000001 9c40"),
       "PUNCH_COMMAND 127.0.0.1:40000 = 04 04 7f000001 9c40");

    /* scenario 4: [::1]:40000 */
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(40000);
    sin6.sin6_addr = in6addr_loopback;

    ok(ngx_beacon_addr_from_sockaddr(&addr, &sin6) == 0
       && eqhex(addr.ip, 16, "00000000000000000000000000000001")
       && addr.port == 40000,
       "addr_from_sockaddr AF_INET6 ::1");
    ok(!ngx_beacon_addr_is_v4(&addr), "addr_is_v4 false for ::1");

    n = ngx_beacon_encode_addr_msg(out, NGX_BEACON_DISCOVER_REPLY, &addr);
    ok(n == 20
       && eqhex(out, n, "02 10 00000000000000000000000000000001 9c40"),
       "DISCOVER_REPLY [::1]:40000 = 02 10 00..01 9c40");

    memset(&dec, 0xaa, sizeof(dec));
    ok(ngx_beacon_decode_addr_msg(out, n, &type, &dec) == 0
       && type == NGX_BEACON_DISCOVER_REPLY
       && memcmp(dec.ip, addr.ip, 16) == 0 && dec.port == 40000,
       "decode_addr_msg IPv6 reply round trip");

    n = ngx_beacon_addr_print(text, &addr, 1);
    ok(n == strlen("[::1]:40000") && strcmp(text, "[::1]:40000") == 0,
       "addr_print IPv6 with port");

    n = ngx_beacon_addr_print(text, &addr, 0);
    ok(n == 3 && strcmp(text, "::1") == 0, "addr_print IPv6 without port");

    /* v4-mapped IPv6 source is treated as IPv4 (section 2.2) */
    ok(inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr) == 1,
       "inet_pton ::ffff:192.0.2.7");
    sin6.sin6_port = htons(9001);

    ok(ngx_beacon_addr_from_sockaddr(&addr, &sin6) == 0
       && ngx_beacon_addr_is_v4(&addr) && addr.port == 9001,
       "v4-mapped AF_INET6 source is IPv4");

    n = ngx_beacon_encode_addr_msg(out, NGX_BEACON_PUNCH_COMMAND, &addr);
    ok(n == 8 && eqhex(out, n, "04 04 c0000207 2329"),
       "PUNCH_COMMAND for v4-mapped source is 8 bytes");

    n = ngx_beacon_addr_print(text, &addr, 1);
    ok(strcmp(text, "192.0.2.7:9001") == 0 && n == strlen(text),
       "addr_print v4-mapped as dotted quad");

    /* not v4-mapped: ::ffff:0:0/96 neighbour and ::/96 */
    ok(inet_pton(AF_INET6, "::fffe:192.0.2.7", &sin6.sin6_addr) == 1
       && ngx_beacon_addr_from_sockaddr(&addr, &sin6) == 0
       && !ngx_beacon_addr_is_v4(&addr),
       "::fffe:c000:207 is not v4-mapped");
    ok(inet_pton(AF_INET6, "::c000:207", &sin6.sin6_addr) == 1
       && ngx_beacon_addr_from_sockaddr(&addr, &sin6) == 0
       && !ngx_beacon_addr_is_v4(&addr),
       "::c000:207 (v4-compatible) is not v4-mapped");

    /* the longest printed address fits the documented 48 bytes */
    ok(inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
                 &sin6.sin6_addr) == 1, "inet_pton long v6");
    sin6.sin6_port = htons(65535);
    ngx_beacon_addr_from_sockaddr(&addr, &sin6);

    n = ngx_beacon_addr_print(text, &addr, 1);
    ok(n == 47 && n < 48
       && strcmp(text, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535")
          == 0,
       "addr_print longest IPv6 is 47 characters");

    n = ngx_beacon_encode_addr_msg(out, NGX_BEACON_PUNCH_COMMAND, &addr);
    ok(n == 20 && ngx_beacon_decode_addr_msg(out, n, &type, &dec) == 0
       && type == NGX_BEACON_PUNCH_COMMAND
       && memcmp(dec.ip, addr.ip, 16) == 0 && dec.port == 65535,
       "PUNCH_COMMAND IPv6 round trip");

    /* other families */
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    ok(ngx_beacon_addr_from_sockaddr(&addr, &sun) == -1,
       "addr_from_sockaddr AF_UNIX -> -1");

    /* decode_addr_msg rejections (daemon-side checks of section 2.2) */
    n = unhex(buf, sizeof(buf), "02 04 7f00");
    ok(ngx_beacon_decode_addr_msg(buf, n, &type, &dec) == -1,
       "decode_addr_msg 4 bytes with L=4 -> -1");
    n = unhex(buf, sizeof(buf), "02 04 7f");
    ok(ngx_beacon_decode_addr_msg(buf, n, &type, &dec) == -1,
       "decode_addr_msg 3 bytes -> -1");
    n = unhex(buf, sizeof(buf), "02 04 7f000001 9c");
    ok(ngx_beacon_decode_addr_msg(buf, n, &type, &dec) == -1,
       "decode_addr_msg 7 bytes with L=4 -> -1");
    n = unhex(buf, sizeof(buf), "02 05 7f00000100 9c40");
    ok(ngx_beacon_decode_addr_msg(buf, n, &type, &dec) == -1,
       "decode_addr_msg L=5 -> -1");
    n = unhex(buf, sizeof(buf), "02 10 7f000001 9c40");
    ok(ngx_beacon_decode_addr_msg(buf, n, &type, &dec) == -1,
       "decode_addr_msg L=16 in 8 bytes -> -1");
    n = unhex(buf, sizeof(buf), "02 04 7f000001 9c40 ffff");
    ok(ngx_beacon_decode_addr_msg(buf, n, &type, &dec) == 0
       && dec.port == 40000 && ngx_beacon_addr_is_v4(&dec),
       "decode_addr_msg ignores trailing bytes");
}


static void
test_relay(void)
{
    int               rc;
    size_t            n;
    uint8_t           buf[64], out[16];
    ngx_beacon_msg_t  msg;

    /* scenario 18 */
    rc = parse_hex("05 0000000a 00000014 68656c6c6f", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.type == NGX_BEACON_RELAY
       && msg.sender == 10 && msg.dest == 20
       && msg.payload == buf + 9 && msg.payload_len == 5
       && memcmp(msg.payload, "hello", 5) == 0,
       "parse RELAY 05 0000000a 00000014 hello");

    /* scenario 19 */
    rc = parse_hex("05 0000000a 00000014", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.sender == 10 && msg.dest == 20
       && msg.payload_len == 0,
       "parse RELAY 9 bytes -> empty payload");

    /* scenario 20 */
    rc = parse_hex("05 0000000a 00", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_SHORT, "parse RELAY 6 bytes -> SHORT");

    rc = parse_hex("05 0000000a 000000", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_SHORT, "parse RELAY 8 bytes -> SHORT");

    n = ngx_beacon_encode_deliver_hdr(out, 10);
    ok(n == NGX_BEACON_DELIVER_HDR_LEN && eqhex(out, n, "06 0000000a"),
       "deliver header = 06 0000000a");

    n = ngx_beacon_encode_deliver_dest_hdr(out, 10, 20);
    ok(n == NGX_BEACON_DELIVER_DEST_HDR_LEN
       && eqhex(out, n, "09 0000000a 00000014"),
       "deliver-dest header = 09 0000000a 00000014");

    n = ngx_beacon_encode_relay_hdr(out, 10, 20);
    ok(n == NGX_BEACON_RELAY_HDR_LEN
       && eqhex(out, n, "05 0000000a 00000014"),
       "relay header = 05 0000000a 00000014");

    n = ngx_beacon_encode_relay_hdr(out, 0xfffffffe, 0x80000001);
    rc = ngx_beacon_parse(out, n, &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.sender == 0xfffffffe
       && msg.dest == 0x80000001 && msg.payload_len == 0,
       "relay header round trip through parse");

    n = ngx_beacon_encode_notify(out, NGX_BEACON_NOTIFY_HANDSHAKE);
    ok(n == 2 && eqhex(out, n, "0a 01"), "notify = 0a 01");
}


static void
test_sync(void)
{
    int               rc;
    size_t            n;
    uint8_t           buf[64], out[64];
    uint32_t          ids[3] = { 100, 200, 300 };
    ngx_beacon_msg_t  msg;

    /* scenario 25 */
    rc = parse_hex("07 00000002 0003 00000064 000000c8 0000012c", buf,
                   sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.type == NGX_BEACON_SYNC
       && msg.beacon_id == 2 && msg.count == 3 && msg.ids == buf + 7
       && ngx_beacon_get32(msg.ids) == 100
       && ngx_beacon_get32(msg.ids + 4) == 200
       && ngx_beacon_get32(msg.ids + 8) == 300,
       "parse SYNC beacon 2, ids {100,200,300}");

    n = ngx_beacon_encode_sync(out, sizeof(out), 2, ids, 3);
    ok(n == 19
       && eqhex(out, n, "07 00000002 0003 00000064 000000c8 0000012c"),
       "encode SYNC = 07 00000002 0003 00000064 000000c8 0000012c");

    n = ngx_beacon_encode_sync(out, 19, 2, ids, 3);
    ok(n == 19, "encode SYNC with exact capacity");

    n = ngx_beacon_encode_sync(out, 18, 2, ids, 3);
    ok(n == 0, "encode SYNC with short capacity -> 0");

    n = ngx_beacon_encode_sync(out, sizeof(out), 7, NULL, 0);
    ok(n == 7 && eqhex(out, n, "07 00000007 0000"),
       "encode SYNC N=0 = 07 00000007 0000");

    rc = ngx_beacon_parse(out, n, &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.beacon_id == 7 && msg.count == 0,
       "parse SYNC N=0 -> OK");

    /* trailing bytes are ignored */
    rc = parse_hex("07 00000002 0001 00000064 ffff", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.count == 1
       && ngx_beacon_get32(msg.ids) == 100,
       "parse SYNC ignores trailing bytes");

    /* scenario 26 */
    rc = parse_hex("07 00000058 0005 00000001 00000002", buf, sizeof(buf),
                   &msg);
    ok(rc == NGX_BEACON_PARSE_TRUNCATED,
       "parse SYNC claims 5 carries 2 -> TRUNCATED");

    rc = parse_hex("07 00000002 0001 000000", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_TRUNCATED,
       "parse SYNC one byte short of N=1 -> TRUNCATED");

    rc = parse_hex("07 000000", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_SHORT, "parse SYNC 07 000000 -> SHORT");

    rc = parse_hex("07 00000002 00", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_SHORT, "parse SYNC 6 bytes -> SHORT");
}


static void
test_invalid(void)
{
    int               rc;
    size_t            i;
    uint8_t           buf[32];
    ngx_beacon_msg_t  msg;

    static const struct {
        const char   *hex;
        int           rc;
    } singles[] = {
        { "01", NGX_BEACON_PARSE_SHORT },
        { "03", NGX_BEACON_PARSE_SHORT },
        { "05", NGX_BEACON_PARSE_SHORT },
        { "07", NGX_BEACON_PARSE_SHORT },
        { "08", NGX_BEACON_PARSE_SHORT },
        { "00", NGX_BEACON_PARSE_UNKNOWN },
        { "ff", NGX_BEACON_PARSE_UNKNOWN },
        { "ff 000000", NGX_BEACON_PARSE_UNKNOWN },
        { "02", NGX_BEACON_PARSE_UNKNOWN },
        { "02 04 7f000001 9c40", NGX_BEACON_PARSE_UNKNOWN },
        { "04 04 7f000001 9c40", NGX_BEACON_PARSE_UNKNOWN },
        { "06 0000000a 68656c6c6f", NGX_BEACON_PARSE_UNKNOWN },
        { "09 0000000a 00000014 68656c6c6f", NGX_BEACON_PARSE_UNKNOWN },
        { "0a 01", NGX_BEACON_PARSE_UNKNOWN },
        { "0b 0000002a", NGX_BEACON_PARSE_UNKNOWN },
        { "50 494c54", NGX_BEACON_PARSE_UNKNOWN }
    };

    char  name[96];

    rc = ngx_beacon_parse(buf, 0, &msg);
    ok(rc == NGX_BEACON_PARSE_EMPTY, "parse empty datagram -> EMPTY");

    for (i = 0; i < sizeof(singles) / sizeof(singles[0]); i++) {
        rc = parse_hex(singles[i].hex, buf, sizeof(buf), &msg);
        snprintf(name, sizeof(name), "parse %s -> %d", singles[i].hex,
                 singles[i].rc);
        ok(rc == singles[i].rc && rc != NGX_BEACON_PARSE_OK, name);
    }
}


static void
test_grant(void)
{
    int                  rc;
    char                 pre[NGX_BEACON_GRANT_PREIMAGE_MAX];
    size_t               n;
    uint8_t              seed[32], pk[32], sk[64], sig[64], mysig[64];
    uint8_t              buf[128], out[128];
    ngx_beacon_msg_t     msg;
    unsigned long long   siglen;

    unhex(seed, sizeof(seed), rfc8032_seed);
    unhex(sig, sizeof(sig), grant_sig_hex);

    n = ngx_beacon_grant_preimage(pre, GRANT_REQUESTER, GRANT_TARGET,
                                  GRANT_EXPIRY);
    ok(n == strlen("punch-grant:9201:9202:4102444800")
       && strcmp(pre, "punch-grant:9201:9202:4102444800") == 0,
       "grant preimage punch-grant:9201:9202:4102444800");

    n = ngx_beacon_grant_preimage(pre, 0xffffffff, 0xffffffff, INT64_MIN);
    ok(n == 54 && strcmp(pre, "punch-grant:4294967295:4294967295:"
                              "-9223372036854775808") == 0,
       "grant preimage longest form fits");

    n = ngx_beacon_grant_preimage(pre, 1, 2, 0);
    ok(n == 17 && strcmp(pre, "punch-grant:1:2:0") == 0,
       "grant preimage no padding");

    ok(crypto_sign_seed_keypair(pk, sk, seed) == 0
       && eqhex(pk, 32, rfc8032_pk),
       "RFC 8032 seed gives the spec public key");

    n = ngx_beacon_grant_preimage(pre, GRANT_REQUESTER, GRANT_TARGET,
                                  GRANT_EXPIRY);
    ok(crypto_sign_detached(mysig, &siglen, (const unsigned char *) pre, n,
                            sk) == 0
       && siglen == 64 && memcmp(mysig, sig, 64) == 0,
       "own Ed25519 signature equals the spec grant signature");

    ok(ngx_beacon_grant_verify(pk, GRANT_REQUESTER, GRANT_TARGET,
                               GRANT_EXPIRY, sig) == 0,
       "grant_verify accepts the spec vector");

    sig[0] ^= 0x01;
    ok(ngx_beacon_grant_verify(pk, GRANT_REQUESTER, GRANT_TARGET,
                               GRANT_EXPIRY, sig) == -1,
       "grant_verify rejects a one-bit-flipped signature");
    sig[0] ^= 0x01;

    sig[63] ^= 0x80;
    ok(ngx_beacon_grant_verify(pk, GRANT_REQUESTER, GRANT_TARGET,
                               GRANT_EXPIRY, sig) == -1,
       "grant_verify rejects a flipped top bit of S");
    sig[63] ^= 0x80;

    ok(ngx_beacon_grant_verify(pk, GRANT_REQUESTER, GRANT_TARGET,
                               GRANT_EXPIRY + 1, sig) == -1,
       "grant_verify rejects a different expiry");
    ok(ngx_beacon_grant_verify(pk, 9203, GRANT_TARGET, GRANT_EXPIRY, sig)
       == -1, "grant_verify rejects another requester");
    ok(ngx_beacon_grant_verify(pk, GRANT_TARGET, GRANT_REQUESTER,
                               GRANT_EXPIRY, sig) == -1,
       "grant_verify rejects swapped ids");

    pk[0] ^= 0x01;
    ok(ngx_beacon_grant_verify(pk, GRANT_REQUESTER, GRANT_TARGET,
                               GRANT_EXPIRY, sig) == -1,
       "grant_verify rejects another key");
    pk[0] ^= 0x01;

    /* the full 81-byte request of section 4.2 */
    n = unhex(buf, sizeof(buf), "03 000023f1 000023f2 00000000f4865700");
    memcpy(buf + n, sig, 64);
    n += 64;

    rc = ngx_beacon_parse(buf, n, &msg);
    ok(n == 81 && rc == NGX_BEACON_PARSE_OK
       && msg.type == NGX_BEACON_PUNCH_REQUEST
       && msg.requester == 9201 && msg.target == 9202
       && msg.grant == buf + 9 && msg.grant_expiry == GRANT_EXPIRY
       && msg.grant_sig == buf + 17,
       "parse 81-byte PUNCH_REQUEST with grant");

    ok(rc == NGX_BEACON_PARSE_OK && msg.grant_sig != NULL
       && ngx_beacon_grant_verify(pk, msg.requester, msg.target,
                                  msg.grant_expiry, msg.grant_sig) == 0,
       "parsed grant verifies");

    n = ngx_beacon_encode_punch_request(out, 9201, 9202, GRANT_EXPIRY, sig);
    ok(n == 81 && memcmp(out, buf, 81) == 0,
       "encode_punch_request with grant equals the spec bytes");

    /* one byte short of a grant: grant ignored */
    rc = ngx_beacon_parse(buf, 80, &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.requester == 9201
       && msg.grant == NULL && msg.grant_sig == NULL
       && msg.grant_expiry == 0,
       "parse 80-byte PUNCH_REQUEST -> no grant");

    /* bytes beyond 81 are ignored */
    buf[81] = 0xee;
    rc = ngx_beacon_parse(buf, 82, &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.grant_expiry == GRANT_EXPIRY
       && msg.grant_sig == buf + 17,
       "parse 82-byte PUNCH_REQUEST -> grant");

    /* negative expiry survives the i64 round trip */
    n = ngx_beacon_encode_punch_request(out, 1, 2, -60, sig);
    rc = ngx_beacon_parse(out, n, &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.grant_expiry == -60
       && eqhex(out + 9, 8, "ffffffffffffffc4"),
       "negative grant expiry round trip");
}


static void
test_punch(void)
{
    int               rc;
    size_t            n;
    uint8_t           buf[32], out[128];
    ngx_beacon_msg_t  msg;

    /* scenario 10 */
    rc = parse_hex("03 00002329 0000232a", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.type == NGX_BEACON_PUNCH_REQUEST
       && msg.requester == 9001 && msg.target == 9002
       && msg.grant == NULL && msg.grant_sig == NULL,
       "parse PUNCH_REQUEST 03 00002329 0000232a");

    /* scenario 11 */
    rc = parse_hex("03 00000001", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_SHORT, "parse PUNCH_REQUEST 5 bytes -> SHORT");

    rc = parse_hex("03 00002329 000023", buf, sizeof(buf), &msg);
    ok(rc == NGX_BEACON_PARSE_SHORT, "parse PUNCH_REQUEST 8 bytes -> SHORT");

    n = ngx_beacon_encode_punch_request(out, 9001, 9002, 12345, NULL);
    ok(n == 9 && eqhex(out, n, "03 00002329 0000232a"),
       "encode_punch_request without grant = 03 00002329 0000232a");

    rc = ngx_beacon_parse(out, n, &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.requester == 9001
       && msg.target == 9002 && msg.grant == NULL,
       "encode_punch_request round trip through parse");
}


static void
test_discover_encode(void)
{
    int               rc;
    size_t            n;
    uint8_t           pk[32], out[64];
    ngx_beacon_msg_t  msg;

    unhex(pk, sizeof(pk), rfc8032_pk);

    n = ngx_beacon_encode_discover(out, NGX_BEACON_DISCOVER, 42, NULL);
    ok(n == 5 && eqhex(out, n, "01 0000002a"),
       "encode_discover = 01 0000002a");

    rc = ngx_beacon_parse(out, n, &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.type == NGX_BEACON_DISCOVER
       && msg.node_id == 42 && msg.pubkey == NULL,
       "encode_discover round trip");

    n = ngx_beacon_encode_discover(out, NGX_BEACON_DISCOVER, 9202, pk);
    ok(n == 37
       && eqhex(out, n, "01 000023f2 d75a980182b10ab7d54bfed3c964073a"
                        "0ee172f3daa62325af021a68f707511a"),
       "encode_discover with key = 37-byte spec vector");

    rc = ngx_beacon_parse(out, n, &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.node_id == 9202
       && msg.pubkey == out + 5 && memcmp(msg.pubkey, pk, 32) == 0,
       "encode_discover with key round trip");

    n = ngx_beacon_encode_discover(out, NGX_BEACON_DISCOVER_EX, 20, NULL);
    ok(n == 5 && eqhex(out, n, "08 00000014"),
       "encode_discover DISCOVER_EX = 08 00000014");

    rc = ngx_beacon_parse(out, n, &msg);
    ok(rc == NGX_BEACON_PARSE_OK && msg.type == NGX_BEACON_DISCOVER_EX
       && msg.node_id == 20,
       "encode_discover DISCOVER_EX round trip");
}


/* a line made printable for a TAP test name: no CR, LF, TAB or '#' */
static void
printable(char *out, size_t cap, const char *in)
{
    size_t  n;

    n = 0;

    while (*in && n + 3 < cap) {
        switch (*in) {
        case '\r':
            out[n++] = '\\';
            out[n++] = 'r';
            break;
        case '\n':
            out[n++] = '\\';
            out[n++] = 'n';
            break;
        case '\t':
            out[n++] = '\\';
            out[n++] = 't';
            break;
        case '#':
            out[n++] = '%';
            break;
        default:
            out[n++] = *in;
        }

        in++;
    }

    out[n] = '\0';
}


static int
keyline(const char *line, uint32_t *id, uint8_t *key)
{
    return ngx_beacon_keyline_parse(line, strlen(line), id, key);
}


static void
test_keyline(void)
{
    size_t    i;
    uint8_t   key[32];
    uint32_t  id;

    static const char  *blank[] = {
        "",
        "   ",
        "\t \t",
        "\r\n",
        "\n",
        "  \r\n",
        "# a comment",
        "#4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "   # indented comment\r\n"
    };

    static const char  *bad[] = {
        "0 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "4294967296 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "99999999999999999999 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "4242",
        "4242   ",
        "4242 \r\n",
        "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR",
        "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHU=",
        "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcH!Ro=",
        "4242 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURp=",
        "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= junk",
        "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=x",
        "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo==",
        "4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURoAAAA",
        "4242x 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "-4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "+4242 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "4242,11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "4242 11qYAYKxCrfVS/7TyW QHOg7hcvPapiMlrwIaaPcHURo="
    };

    char  name[160], b64[80];

    unhex(key, sizeof(key), rfc8032_pk);
    sodium_bin2base64(b64, sizeof(b64), key, sizeof(key),
                      sodium_base64_VARIANT_ORIGINAL);
    ok(strcmp(b64, rfc8032_pk_b64) == 0,
       "RFC 8032 public key in base64 is the key-file vector");

    id = 0;
    memset(key, 0, sizeof(key));
    snprintf(name, sizeof(name), "4242 %s", rfc8032_pk_b64);
    ok(keyline(name, &id, key) == 0 && id == 4242
       && eqhex(key, 32, rfc8032_pk),
       "keyline valid -> id 4242, RFC 8032 key");

    id = 0;
    memset(key, 0, sizeof(key));
    ok(keyline("  \t4242 \t 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
               " \t\r\n", &id, key) == 0 && id == 4242
       && eqhex(key, 32, rfc8032_pk),
       "keyline with surrounding whitespace and CRLF");

    id = 0;
    ok(keyline("4294967295 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n",
               &id, key)
       == 0 && id == 4294967295u,
       "keyline id 2^32-1 accepted");

    id = 0;
    ok(keyline("1\t11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", &id, key)
       == 0 && id == 1,
       "keyline tab separator, id 1");

    /* the length argument bounds the line: trailing bytes beyond it */
    id = 0;
    ok(ngx_beacon_keyline_parse(
           "77 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=garbage", 47,
           &id, key) == 0 && id == 77,
       "keyline respects len");

    for (i = 0; i < sizeof(blank) / sizeof(blank[0]); i++) {
        id = 12345;
        snprintf(name, sizeof(name), "keyline blank/comment line %d -> 1",
                 (int) i);
        ok(keyline(blank[i], &id, key) == 1 && id == 12345, name);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        id = 12345;
        printable(b64, sizeof(b64), bad[i]);
        snprintf(name, sizeof(name), "keyline malformed \"%.60s\" -> -1",
                 b64);
        ok(keyline(bad[i], &id, key) == -1 && id == 12345, name);
    }

    ok(ngx_beacon_keyline_parse("", 0, &id, key) == 1,
       "keyline zero length -> 1");
}


/* the checks a SYNC passes before its routes are installed */

static void
test_sync_check(void)
{
    int               rc;
    size_t            n;
    uint8_t           buf[128], key[32], other[32];
    uint32_t          ids[2] = { 400, 401 };
    ngx_beacon_msg_t  msg;

    memset(key, 0x11, sizeof(key));
    memset(other, 0x22, sizeof(other));

    n = ngx_beacon_encode_sync(buf, sizeof(buf), 9, ids, 2);
    rc = ngx_beacon_parse(buf, n, &msg);
    ok(rc == NGX_BEACON_PARSE_OK, "sync_check: a SYNC parses");

    ok(ngx_beacon_sync_check(buf, n, &msg, NULL, 1000, 60) == 0,
       "sync_check: no secret, no trailer: accepted");
    memcpy(buf + n, "junk", 4);
    ok(ngx_beacon_sync_check(buf, n + 4, &msg, NULL, 1000, 60) == 0,
       "sync_check: no secret, trailing bytes ignored");
    ok(ngx_beacon_sync_check(buf, n, &msg, key, 1000, 60) != 0,
       "sync_check: secret, no trailer: rejected");
    ok(ngx_beacon_sync_check(buf, n + 4, &msg, key, 1000, 60) != 0,
       "sync_check: secret, junk trailer: rejected");

    n += ngx_beacon_sync_auth(buf + n, buf, n, key, 1000);
    ok(ngx_beacon_sync_check(buf, n, &msg, key, 1000, 60) == 0,
       "sync_check: secret, valid trailer: accepted");
    ok(ngx_beacon_sync_check(buf, n, &msg, key, 1060, 60) == 0,
       "sync_check: trailer 60 s old: accepted");
    ok(ngx_beacon_sync_check(buf, n, &msg, key, 1061, 60) != 0,
       "sync_check: trailer 61 s old: rejected");
    ok(ngx_beacon_sync_check(buf, n, &msg, key, 939, 60) != 0,
       "sync_check: trailer 61 s ahead: rejected");
    ok(ngx_beacon_sync_check(buf, n, &msg, other, 1000, 60) != 0,
       "sync_check: trailer of another secret: rejected");
    ok(ngx_beacon_sync_check(buf, n - 1, &msg, key, 1000, 60) != 0,
       "sync_check: cut trailer: rejected");
    buf[8] ^= 1;
    ok(ngx_beacon_sync_check(buf, n, &msg, key, 1000, 60) != 0,
       "sync_check: id changed under the MAC: rejected");
    buf[8] ^= 1;

    msg.type = NGX_BEACON_RELAY;
    ok(ngx_beacon_sync_check(buf, n, &msg, NULL, 1000, 60) != 0,
       "sync_check: not a SYNC: rejected");
}


/* whole key files, as the configuration reads them */

static void
test_keyfile(void)
{
    int                rc;
    char               file[512];
    size_t             n, line;
    ngx_beacon_key_t   keys[8];
    static const char  k1[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    static const char  k2[] = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    snprintf(file, sizeof(file), "# nodes\n1002 %s\n\n1001\t%s\r\n", k2, k1);
    ok(ngx_beacon_keyfile_lines(file, strlen(file)) == 5,
       "keyfile_lines counts lines (one more than newlines)");

    rc = ngx_beacon_keyfile_parse(file, strlen(file), keys, &n, &line);
    ok(rc == 0 && n == 2 && keys[0].id == 1001 && keys[1].id == 1002
       && keys[0].key[1] == 1 && keys[1].key[0] == 32,
       "keyfile: two keys, comments and blank lines skipped, sorted by id");

    snprintf(file, sizeof(file), "1 %s", k1);
    rc = ngx_beacon_keyfile_parse(file, strlen(file), keys, &n, &line);
    ok(rc == 0 && n == 1 && keys[0].id == 1,
       "keyfile: last line without a newline");

    rc = ngx_beacon_keyfile_parse("", 0, keys, &n, &line);
    ok(rc == 0 && n == 0, "keyfile: empty file, no keys");

    snprintf(file, sizeof(file), "1 %s\n# x\n2 nope\n3 %s\n", k1, k2);
    rc = ngx_beacon_keyfile_parse(file, strlen(file), keys, &n, &line);
    ok(rc == -1 && line == 3, "keyfile: malformed line 3 named");

    snprintf(file, sizeof(file), "7 %s\n8 %s\n7 %s\n", k1, k2, k2);
    rc = ngx_beacon_keyfile_parse(file, strlen(file), keys, &n, &line);
    ok(rc == -2 && line == 7, "keyfile: node 7 listed twice named");
}


/* registry peer addresses */

static void
test_addr_parse(void)
{
    ngx_beacon_addr_t  a;

    ok(ngx_beacon_addr_parse("127.0.0.1:9000", 14, &a) == 0
       && a.port == 9000 && a.ip[10] == 0xff && a.ip[12] == 127
       && a.ip[15] == 1, "addr_parse: v4 -> v4-mapped");
    ok(ngx_beacon_addr_parse("[::1]:9002", 10, &a) == 0 && a.port == 9002
       && a.ip[15] == 1 && a.ip[10] == 0, "addr_parse: [v6]:port");
    ok(ngx_beacon_addr_parse("::1:53", 6, &a) == 0 && a.port == 53,
       "addr_parse: bare v6 before the last ':'");
    ok(ngx_beacon_addr_parse("127.0.0.1:0", 11, &a) == -1,
       "addr_parse: port 0 refused");
    ok(ngx_beacon_addr_parse("127.0.0.1:65536", 15, &a) == -1,
       "addr_parse: port 65536 refused");
    ok(ngx_beacon_addr_parse("127.0.0.1:", 10, &a) == -1,
       "addr_parse: no port refused");
    ok(ngx_beacon_addr_parse("host.example:80", 15, &a) == -1,
       "addr_parse: names refused (no resolver)");
    ok(ngx_beacon_addr_parse("127.0.0.1:8x", 12, &a) == -1,
       "addr_parse: non-digit port refused");
    ok(ngx_beacon_addr_parse(":80", 3, &a) == -1,
       "addr_parse: empty host refused");
}


int
main(void)
{
    if (sodium_init() < 0) {
        printf("Bail out! sodium_init failed\n");
        return 1;
    }

    test_ints();
    test_type_name();
    test_parse_discover();
    test_addr();
    test_relay();
    test_sync();
    test_invalid();
    test_punch();
    test_grant();
    test_discover_encode();
    test_keyline();
    test_sync_check();
    test_keyfile();
    test_addr_parse();

    printf("1..%d\n", tests);

    if (failures) {
        printf("# %d of %d tests failed\n", failures, tests);
        return 1;
    }

    return 0;
}
