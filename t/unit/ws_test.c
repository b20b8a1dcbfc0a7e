
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Known-answer unit tests for the RFC 6455 codec (ngx_beacon_ws.c):
 * upgrade header checks, the accept key (RFC 6455 1.3), the Origin rule
 * of spec 7.2, frame header parsing and every 1002/1009 rule, masking,
 * fragmentation, close frames and encoders.
 * Output is TAP; the exit status is non-zero if any test fails.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_ws.h"
#include "ngx_beacon_json.h"
#include "tap.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1


static int parse_hex(const char *hex, uint64_t max, ngx_beacon_ws_frame_t *f);
static int token(const char *v, const char *t);
static int origin(const char *o, const char *h);
static void test_has_token(void);
static void test_key(void);
static void test_accept(void);
static void test_origin(void);
static void test_parse_ok(void);
static void test_parse_again(void);
static void test_parse_1002(void);
static void test_parse_1009(void);
static void test_parse_server(void);
static void test_unmask(void);
static int msg(ngx_beacon_ws_msg_t *m, uint8_t opcode, int fin, uint64_t len,
    uint64_t max);
static void test_fragments(void);
static void test_close(void);
static void test_utf8(void);
static void test_encode(void);




/* the header must parse from exactly its own bytes */
static int
parse_hex(const char *hex, uint64_t max, ngx_beacon_ws_frame_t *f)
{
    int             rc;
    size_t          n;
    unsigned char   buf[64], *p;

    n = unhex(buf, sizeof(buf), hex);

    /* an exact-size copy, so that sanitizers catch any overread */

    p = malloc(n ? n : 1);
    if (p == NULL) {
        exit(2);
    }

    memcpy(p, buf, n);

    memset(f, 0xaa, sizeof(ngx_beacon_ws_frame_t));
    rc = ngx_beacon_ws_parse_header(p, n, max, f);

    free(p);

    return rc;
}


static int
token(const char *v, const char *t)
{
    return ngx_beacon_ws_has_token((const unsigned char *) v, strlen(v), t);
}


static int
origin(const char *o, const char *h)
{
    return ngx_beacon_ws_origin_ok((const unsigned char *) o, strlen(o),
                                   (const unsigned char *) h, strlen(h));
}


static void
test_has_token(void)
{
    ok(token("Upgrade", "upgrade"), "has_token: Upgrade ~ upgrade");
    ok(token("upgrade", "upgrade"), "has_token: exact");
    ok(token("keep-alive, Upgrade", "upgrade"),
       "has_token: second element of a list");
    ok(token("Upgrade, keep-alive", "upgrade"),
       "has_token: first element of a list");
    ok(token(" \tUPGRADE\t , x", "upgrade"), "has_token: OWS trimmed");
    ok(token(",,upgrade,,", "upgrade"), "has_token: empty elements");
    ok(token("WebSocket", "websocket"), "has_token: WebSocket");
    ok(token("a,websocket ,b", "websocket"), "has_token: middle element");
    ok(!token("upgrades", "upgrade"), "has_token: longer word is not it");
    ok(!token("xupgrade", "upgrade"), "has_token: prefixed word is not it");
    ok(!token("up grade", "upgrade"), "has_token: inner space");
    ok(!token("upgrade2, keep-alive", "upgrade"),
       "has_token: upgrade2 is not upgrade");
    ok(!token("", "upgrade"), "has_token: empty value");
    ok(!token(" , ,", "upgrade"), "has_token: only separators");
    ok(!token("upgrade", ""), "has_token: empty token never matches");
    ok(!token("\"upgrade\"", "upgrade"), "has_token: quoted is not a token");
    ok(ngx_beacon_ws_has_token((const unsigned char *) "upgradeX", 7,
                               "upgrade"),
       "has_token: reads only len bytes");
    ok(!ngx_beacon_ws_has_token((const unsigned char *) "upgrade", 6,
                                "upgrade"),
       "has_token: a value cut short does not match");
}


static void
test_key(void)
{
    ok(ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZQ==")),
       "key_valid: RFC 6455 sample key");
    ok(ngx_beacon_ws_key_valid(S("AAAAAAAAAAAAAAAAAAAAAA==")),
       "key_valid: 16 zero bytes");
    ok(ngx_beacon_ws_key_valid(S("/+/+/+/+/+/+/+/+/+/+/w==")),
       "key_valid: + and /");
    ok(ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZR==")),
       "key_valid: nonzero unused bits accepted (as Go StdEncoding)");
    ok(!ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZQ=")),
       "key_valid: 23 chars");
    ok(!ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZQ")),
       "key_valid: no padding");
    ok(!ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZQ===")),
       "key_valid: 25 chars");
    ok(!ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZQ=A")),
       "key_valid: one padding char");
    ok(!ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZXk=")),
       "key_valid: 17 bytes");
    ok(!ngx_beacon_ws_key_valid(S("AAAAAAAAAAAAAAAAAAAAAAAA")),
       "key_valid: 18 bytes, no padding");
    ok(!ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZ-==")),
       "key_valid: url-safe '-'");
    ok(!ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25jZ_==")),
       "key_valid: url-safe '_'");
    ok(!ngx_beacon_ws_key_valid(S("dGhlIHNhbXBsZSBub25j Q==")),
       "key_valid: inner space");
    ok(!ngx_beacon_ws_key_valid(S("dGhlIHNhbX=sZSBub25jZQ==")),
       "key_valid: padding inside");
    ok(!ngx_beacon_ws_key_valid(S("")), "key_valid: empty");
}


static void
test_accept(void)
{
    unsigned char  out[NGX_BEACON_WS_ACCEPT_LEN + 1], big[200];

    memset(out, '#', sizeof(out));

    ok(ngx_beacon_ws_accept(S("dGhlIHNhbXBsZSBub25jZQ=="), out) == 0
       && memcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28) == 0
       && out[28] == '#',
       "accept: RFC 6455 vector, 28 bytes written");

    memset(out, '#', sizeof(out));

    ok(ngx_beacon_ws_accept(S("x3JJHMbDL1EzLkh9GBhXDw=="), out) == 0
       && memcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=", 28) == 0,
       "accept: the Wikipedia example");

    memset(big, 'A', sizeof(big));
    memset(out, '#', sizeof(out));

    ok(ngx_beacon_ws_accept(big, NGX_BEACON_WS_KEY_MAX, out) == 0,
       "accept: key of NGX_BEACON_WS_KEY_MAX bytes");
    memset(out, '#', sizeof(out));
    ok(ngx_beacon_ws_accept(big, NGX_BEACON_WS_KEY_MAX + 1, out) == -1
       && out[0] == '#',
       "accept: longer key refused, out untouched");
}


static void
test_origin(void)
{
    ok(origin("https://example.com", "example.com"),
       "origin: same host");
    ok(origin("https://EXAMPLE.com", "example.COM"),
       "origin: case-insensitive");
    ok(origin("http://example.com:8443", "example.com:8443"),
       "origin: same host:port");
    ok(origin("https://example.com/", "example.com"),
       "origin: trailing slash");
    ok(origin("http://[::1]:8080", "[::1]:8080"), "origin: IPv6 literal");
    ok(origin("pilot://anything", "example.com"), "origin: pilot://*");
    ok(origin("pilot://", "example.com"), "origin: bare pilot://");
    ok(origin("PILOT://node/1", "example.com"), "origin: PILOT:// scheme");
    ok(!origin("https://example.com:8443", "example.com"),
       "origin: port differs from Host");
    ok(!origin("https://example.com", "example.com:443"),
       "origin: Host has a port the origin lacks");
    ok(!origin("https://evil.example", "example.com"),
       "origin: other host");
    ok(!origin("https://example.com.evil", "example.com"),
       "origin: host with a suffix");
    ok(!origin("https://xexample.com", "example.com"),
       "origin: host with a prefix");
    ok(!origin("pilot:/x", "example.com"), "origin: pilot:/ is not pilot://");
    ok(!origin("pilotx://example.com", "pilot"),
       "origin: pilotx:// is just a scheme");
    ok(!origin("null", "example.com"), "origin: null");
    ok(!origin("", "example.com"), "origin: empty");
    ok(!origin("https://", ""), "origin: empty authority");
    ok(!origin("example.com", "example.com"), "origin: no scheme");
    ok(!origin("//example.com", "example.com"), "origin: no scheme name");
    ok(!origin("1http://example.com", "example.com"),
       "origin: scheme starts with a digit");
    ok(!origin("https://user@example.com", "example.com"),
       "origin: userinfo");
    ok(!origin("https://exa mple.com", "exa mple.com"),
       "origin: space in host");
    ok(!origin("https://example.com/ x", "example.com"),
       "origin: space after the host");
    ok(!origin("https:/example.com", "example.com"), "origin: one slash");
    ok(!origin("https://example.com", ""), "origin: empty Host");
}


static void
test_parse_ok(void)
{
    ngx_beacon_ws_frame_t  f;

    /* RFC 6455 5.7: masked "Hello" */
    ok(parse_hex("81 85 37fa213d", 65536, &f) == 0 && f.fin && f.masked
       && f.opcode == 1 && f.header_len == 6 && f.payload_len == 5
       && eqhex(f.mask, 4, "37fa213d"),
       "parse: masked text, 7-bit length");

    ok(parse_hex("82 80 01020304", 65536, &f) == 0 && f.opcode == 2
       && f.payload_len == 0 && f.header_len == 6,
       "parse: empty binary");

    ok(parse_hex("02 fd 01020304", 65536, &f) == 0 && !f.fin
       && f.opcode == 2 && f.payload_len == 125,
       "parse: first fragment, 125 bytes");

    ok(parse_hex("80 83 01020304", 65536, &f) == 0 && f.fin
       && f.opcode == 0 && f.payload_len == 3,
       "parse: final continuation");

    ok(parse_hex("82 fe 0100 01020304", 65536, &f) == 0
       && f.header_len == 8 && f.payload_len == 256,
       "parse: 16-bit length 256");

    ok(parse_hex("82 fe ffff 01020304", 65536, &f) == 0
       && f.header_len == 8 && f.payload_len == 65535,
       "parse: 16-bit length 65535");

    ok(parse_hex("82 ff 0000000000010000 a1b2c3d4", 65536, &f) == 0
       && f.header_len == 14 && f.payload_len == 65536
       && eqhex(f.mask, 4, "a1b2c3d4"),
       "parse: 64-bit length 65536 = max_payload");

    ok(parse_hex("82 ff 7fffffffffffffff 01020304", UINT64_MAX, &f) == 0
       && f.payload_len == 0x7fffffffffffffffULL,
       "parse: 64-bit length 2^63-1 with no cap");

    ok(parse_hex("82 fe 0005 01020304", 65536, &f) == 0
       && f.header_len == 8 && f.payload_len == 5,
       "parse: non-minimal 16-bit length accepted");

    ok(parse_hex("82 ff 0000000000000005 01020304", 65536, &f) == 0
       && f.header_len == 14 && f.payload_len == 5,
       "parse: non-minimal 64-bit length accepted");

    ok(parse_hex("89 84 01020304", 65536, &f) == 0 && f.opcode == 9
       && f.payload_len == 4,
       "parse: ping");
    ok(parse_hex("8a 80 01020304", 65536, &f) == 0 && f.opcode == 0xa,
       "parse: pong");
    ok(parse_hex("88 fd 01020304", 65536, &f) == 0 && f.opcode == 8
       && f.payload_len == 125,
       "parse: close with 125 bytes");

    ok(parse_hex("82 85 01020304 ffffffff", 65536, &f) == 0
       && f.header_len == 6,
       "parse: payload bytes after the header are not read");
}


static void
test_parse_again(void)
{
    char                   name[80];
    size_t                 i, n;
    unsigned char          buf[16];
    ngx_beacon_ws_frame_t  f;

    static const char  *hdrs[] = {
        "82 85 01020304",
        "82 fe 0100 01020304",
        "82 ff 0000000000010000 01020304",
        "89 80 01020304",
        NULL
    };

    ok(ngx_beacon_ws_parse_header(buf, 0, 65536, &f) == NGX_BEACON_WS_AGAIN,
       "again: empty buffer");

    for (i = 0; hdrs[i] != NULL; i++) {
        n = unhex(buf, sizeof(buf), hdrs[i]);

        while (--n > 0) {
            if (ngx_beacon_ws_parse_header(buf, n, 65536, &f)
                != NGX_BEACON_WS_AGAIN)
            {
                break;
            }
        }

        snprintf(name, sizeof(name), "again: every proper prefix of %s",
                 hdrs[i]);
        ok(n == 0, name);
    }
}


static void
test_parse_1002(void)
{
    int                    op, all;
    unsigned char          b[2];
    ngx_beacon_ws_frame_t  f;

    ok(parse_hex("c2", 65536, &f) == 1002, "1002: RSV1 (first byte only)");
    ok(parse_hex("a2 85 01020304", 65536, &f) == 1002, "1002: RSV2");
    ok(parse_hex("92 85 01020304", 65536, &f) == 1002, "1002: RSV3");
    ok(parse_hex("f2 85 01020304", 65536, &f) == 1002, "1002: all RSV bits");

    all = 1;

    for (op = 0; op < 16; op++) {
        b[0] = (unsigned char) (0x80 | op);
        b[1] = 0x80;

        if ((ngx_beacon_ws_parse_header(b, 1, 65536, &f) == 1002)
            != ((op >= 3 && op <= 7) || op >= 0xb))
        {
            printf("# opcode %x\n", op);
            all = 0;
        }
    }

    ok(all, "1002: exactly the reserved opcodes 3-7 and b-f");

    ok(parse_hex("82 05", 65536, &f) == 1002, "1002: unmasked client frame");
    ok(parse_hex("81 00", 65536, &f) == 1002, "1002: unmasked empty text");
    ok(parse_hex("09 80 01020304", 65536, &f) == 1002,
       "1002: ping with FIN=0 (first byte only)");
    ok(parse_hex("08", 65536, &f) == 1002, "1002: close with FIN=0");
    ok(parse_hex("0a 80", 65536, &f) == 1002, "1002: pong with FIN=0");
    ok(parse_hex("89 fe 007e 01020304", 65536, &f) == 1002,
       "1002: ping with 16-bit length 126");
    ok(parse_hex("89 fe", 65536, &f) == 1002,
       "1002: control frame length code 126 without more bytes");
    ok(parse_hex("88 ff 0000000000000002 01020304", 65536, &f) == 1002,
       "1002: close with 64-bit length (non-minimal 2)");
    ok(parse_hex("82 ff 8000000000000000 01020304", UINT64_MAX, &f) == 1002,
       "1002: 64-bit length with the top bit set");
    ok(parse_hex("82 ff ffffffffffffffff", UINT64_MAX, &f) == 1002,
       "1002: 64-bit length all ones, before the mask arrives");
}


static void
test_parse_1009(void)
{
    ngx_beacon_ws_frame_t  f;

    ok(parse_hex("82 ff 0000000000010001 01020304", 65536, &f) == 1009,
       "1009: 65537 > 65536");
    ok(parse_hex("82 ff 0000000000010001", 65536, &f) == 1009,
       "1009: reported before the mask key arrives");
    ok(parse_hex("82 fe 03e9 01020304", 1000, &f) == 1009,
       "1009: 16-bit 1001 > 1000");
    ok(parse_hex("82 fe 03e8 01020304", 1000, &f) == 0,
       "1009: 16-bit 1000 = 1000 is fine");
    ok(parse_hex("82 ff 7fffffffffffffff 01020304", 65536, &f) == 1009,
       "1009: 2^63-1");
    ok(parse_hex("82 8b 01020304", 10, &f) == 1009,
       "1009: 7-bit length over a small cap");
    ok(parse_hex("89 8b 01020304", 10, &f) == 1009,
       "1009: control frame over a small cap");
}


static void
test_parse_server(void)
{
    unsigned char          b[16];
    ngx_beacon_ws_frame_t  f;

    unhex(b, sizeof(b), "82 05");
    ok(ngx_beacon_ws_parse_server_header(b, 2, 65536, &f) == 0
       && !f.masked && f.header_len == 2 && f.payload_len == 5
       && eqhex(f.mask, 4, "00000000"),
       "server header: unmasked binary");

    unhex(b, sizeof(b), "82 85 01020304");
    ok(ngx_beacon_ws_parse_server_header(b, 6, 65536, &f) == 1002,
       "server header: masked frame is 1002");

    unhex(b, sizeof(b), "82 7e 0100");
    ok(ngx_beacon_ws_parse_server_header(b, 3, 65536, &f)
       == NGX_BEACON_WS_AGAIN
       && ngx_beacon_ws_parse_server_header(b, 4, 65536, &f) == 0
       && f.header_len == 4 && f.payload_len == 256,
       "server header: 16-bit length");
}


static void
test_unmask(void)
{
    char           name[80];
    size_t         i, off, step, n;
    unsigned char  hello[5], *whole, *part, *orig;
    static const uint8_t  mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
    static const size_t   steps[] = { 1, 2, 3, 5, 7, 8, 9, 13, 64, 999 };

    unhex(hello, sizeof(hello), "7f9f4d5158");
    ngx_beacon_ws_unmask(hello, 5, mask, 0);
    ok(memcmp(hello, "Hello", 5) == 0, "unmask: RFC 6455 5.7 Hello");

    ngx_beacon_ws_unmask(hello, 5, mask, 0);
    ok(eqhex(hello, 5, "7f9f4d5158"), "unmask: masking again restores");

    unhex(hello, sizeof(hello), "7f9f4d5158");
    ngx_beacon_ws_unmask(hello, 2, mask, 0);
    ngx_beacon_ws_unmask(hello + 2, 3, mask, 2);
    ok(memcmp(hello, "Hello", 5) == 0, "unmask: Hello in two pieces");

    ngx_beacon_ws_unmask(hello, 0, mask, 0);
    ok(memcmp(hello, "Hello", 5) == 0, "unmask: zero bytes");

    n = 1000;
    orig = malloc(n + 1);
    whole = malloc(n + 1);
    part = malloc(n + 1);

    if (orig == NULL || whole == NULL || part == NULL) {
        exit(2);
    }

    for (i = 0; i < n + 1; i++) {
        orig[i] = (unsigned char) (i * 131 + 7);
    }

    /* whole, unaligned (start at +1) and aligned */

    for (off = 0; off < 2; off++) {
        memcpy(whole, orig, n + 1);
        ngx_beacon_ws_unmask(whole + off, n, mask, 0);

        for (i = 0; i < n; i++) {
            if (whole[off + i] != (orig[off + i] ^ mask[i % 4])) {
                break;
            }
        }

        ok(i == n, off ? "unmask: 1000 bytes unaligned = bytewise"
                       : "unmask: 1000 bytes aligned = bytewise");

        for (step = 0; step < sizeof(steps) / sizeof(steps[0]); step++) {
            memcpy(part, orig, n + 1);

            for (i = 0; i < n; i += steps[step]) {
                ngx_beacon_ws_unmask(part + off + i,
                                     n - i < steps[step] ? n - i
                                                         : steps[step],
                                     mask, i);
            }

            snprintf(name, sizeof(name),
                     "unmask: pieces of %zu, start +%zu = whole",
                     steps[step], off);
            ok(memcmp(part, whole, n + 1) == 0, name);
        }
    }

    /* an offset beyond 32 bits keeps its phase */
    memcpy(part, orig, 8);
    memcpy(whole, orig, 8);
    ngx_beacon_ws_unmask(part, 8, mask, 0x100000002ULL);
    ngx_beacon_ws_unmask(whole, 8, mask, 2);
    ok(memcmp(part, whole, 8) == 0, "unmask: 64-bit offset");

    free(orig);
    free(whole);
    free(part);
}


static int
msg(ngx_beacon_ws_msg_t *m, uint8_t opcode, int fin, uint64_t len,
    uint64_t max)
{
    ngx_beacon_ws_frame_t  f;

    memset(&f, 0, sizeof(f));
    f.fin = fin ? 1 : 0;
    f.masked = 1;
    f.opcode = opcode;
    f.payload_len = len;

    return ngx_beacon_ws_msg_frame(m, &f, max);
}


static void
test_fragments(void)
{
    ngx_beacon_ws_msg_t  m;

    memset(&m, 0, sizeof(m));

    ok(msg(&m, 2, 1, 10, 65536) == NGX_BEACON_WS_DATA_END
       && m.opcode == 2 && m.len == 10 && !m.in_message,
       "msg: unfragmented binary");

    ok(msg(&m, 1, 1, 0, 65536) == NGX_BEACON_WS_DATA_END
       && m.opcode == 1 && m.len == 0,
       "msg: empty text, state reset from the last message");

    ok(msg(&m, 9, 1, 4, 65536) == NGX_BEACON_WS_CONTROL && !m.in_message,
       "msg: ping outside a message");

    ok(msg(&m, 0, 1, 4, 65536) == 1002, "msg: continuation outside 1002");
    memset(&m, 0, sizeof(m));
    ok(msg(&m, 0, 0, 4, 65536) == 1002,
       "msg: non-final continuation outside 1002");

    /* text, ping, cont, pong, close?, cont(fin) */
    memset(&m, 0, sizeof(m));
    ok(msg(&m, 1, 0, 3, 65536) == NGX_BEACON_WS_DATA_PART && m.in_message
       && m.opcode == 1 && m.len == 3,
       "msg: first fragment");
    ok(msg(&m, 9, 1, 5, 65536) == NGX_BEACON_WS_CONTROL && m.in_message
       && m.len == 3,
       "msg: ping between fragments");
    ok(msg(&m, 0, 0, 4, 65536) == NGX_BEACON_WS_DATA_PART && m.len == 7,
       "msg: middle fragment");
    ok(msg(&m, 0xa, 1, 0, 65536) == NGX_BEACON_WS_CONTROL && m.len == 7,
       "msg: pong between fragments");
    ok(msg(&m, 8, 1, 2, 65536) == NGX_BEACON_WS_CONTROL && m.in_message,
       "msg: close between fragments is a control frame");
    ok(msg(&m, 0, 1, 5, 65536) == NGX_BEACON_WS_DATA_END && !m.in_message
       && m.opcode == 1 && m.len == 12,
       "msg: last fragment completes text of 12");
    ok(msg(&m, 2, 0, 1, 65536) == NGX_BEACON_WS_DATA_PART && m.opcode == 2
       && m.len == 1,
       "msg: next message starts afresh");
    ok(msg(&m, 0, 0, 0, 65536) == NGX_BEACON_WS_DATA_PART && m.len == 1,
       "msg: empty continuation");
    ok(msg(&m, 0, 1, 0, 65536) == NGX_BEACON_WS_DATA_END && m.opcode == 2
       && m.len == 1,
       "msg: empty final continuation");

    memset(&m, 0, sizeof(m));
    msg(&m, 2, 0, 1, 65536);
    ok(msg(&m, 2, 1, 1, 65536) == 1002, "msg: binary inside a message 1002");
    memset(&m, 0, sizeof(m));
    msg(&m, 2, 0, 1, 65536);
    ok(msg(&m, 1, 0, 1, 65536) == 1002, "msg: text inside a message 1002");

    memset(&m, 0, sizeof(m));
    ok(msg(&m, 3, 1, 1, 65536) == 1002, "msg: reserved data opcode 1002");
    ok(msg(&m, 0xb, 1, 1, 65536) == 1002,
       "msg: reserved control opcode 1002");
    ok(msg(&m, 9, 0, 1, 65536) == 1002, "msg: fragmented ping 1002");
    ok(msg(&m, 9, 1, 126, 65536) == 1002, "msg: ping over 125 1002");

    /* the message cap */
    memset(&m, 0, sizeof(m));
    ok(msg(&m, 2, 0, 40000, 65536) == NGX_BEACON_WS_DATA_PART
       && msg(&m, 0, 0, 25536, 65536) == NGX_BEACON_WS_DATA_PART
       && msg(&m, 0, 1, 0, 65536) == NGX_BEACON_WS_DATA_END
       && m.len == 65536,
       "msg: 65536 in fragments is allowed");

    memset(&m, 0, sizeof(m));
    ok(msg(&m, 2, 0, 40000, 65536) == NGX_BEACON_WS_DATA_PART
       && msg(&m, 0, 1, 25537, 65536) == 1009,
       "msg: 65537 in fragments is 1009");

    memset(&m, 0, sizeof(m));
    ok(msg(&m, 2, 1, 65537, 65536) == 1009, "msg: one frame over the cap");

    memset(&m, 0, sizeof(m));
    ok(msg(&m, 2, 0, 65536, 65536) == NGX_BEACON_WS_DATA_PART
       && msg(&m, 0, 0, 0, 65536) == NGX_BEACON_WS_DATA_PART
       && msg(&m, 0, 1, 1, 65536) == 1009,
       "msg: one byte over the cap after empty fragments");

    memset(&m, 0, sizeof(m));
    ok(msg(&m, 2, 0, 10, 65536) == NGX_BEACON_WS_DATA_PART
       && msg(&m, 0, 1, UINT64_MAX, 65536) == 1009,
       "msg: huge continuation length does not wrap");
}


static void
test_close(void)
{
    unsigned        code;
    unsigned char   b[64];
    unsigned        c;
    int             all;

    all = 1;

    for (c = 0; c < 6000; c++) {
        if (ngx_beacon_ws_close_code_valid(c)
            != ((c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014)
                || (c >= 3000 && c <= 4999)))
        {
            printf("# close code %u\n", c);
            all = 0;
        }
    }

    ok(all, "close_code_valid: 1000-1003, 1007-1014, 3000-4999 only");
    ok(!ngx_beacon_ws_close_code_valid(1005)
       && !ngx_beacon_ws_close_code_valid(1006)
       && !ngx_beacon_ws_close_code_valid(1015)
       && !ngx_beacon_ws_close_code_valid(65535),
       "close_code_valid: 1005, 1006, 1015, 65535 are not");

    code = 0;
    ok(ngx_beacon_ws_close_parse(b, 0, &code) == 0 && code == 1005,
       "close_parse: empty body is 1005");
    b[0] = 0x03;
    ok(ngx_beacon_ws_close_parse(b, 1, &code) == 1002,
       "close_parse: one byte is 1002");
    unhex(b, sizeof(b), "03e8 627965");
    ok(ngx_beacon_ws_close_parse(b, 5, &code) == 0 && code == 1000,
       "close_parse: 1000 bye");
    unhex(b, sizeof(b), "03ed");
    ok(ngx_beacon_ws_close_parse(b, 2, &code) == 1002,
       "close_parse: 1005 on the wire is 1002");
    unhex(b, sizeof(b), "0bb8");
    ok(ngx_beacon_ws_close_parse(b, 2, &code) == 0 && code == 3000,
       "close_parse: 3000");
    unhex(b, sizeof(b), "03e8 c0af");
    ok(ngx_beacon_ws_close_parse(b, 4, &code) == 1007,
       "close_parse: reason not UTF-8 is 1007");
    unhex(b, sizeof(b), "03e8 c3a9");
    ok(ngx_beacon_ws_close_parse(b, 4, &code) == 0 && code == 1000,
       "close_parse: UTF-8 reason");
}


static void
test_utf8(void)
{
    ok(ngx_beacon_json_utf8_valid(S("")), "utf8: empty");
    ok(ngx_beacon_json_utf8_valid(S("plain ascii")), "utf8: ASCII");
    ok(ngx_beacon_json_utf8_valid(S("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")),
       "utf8: 2, 3 and 4 byte characters");
    ok(ngx_beacon_json_utf8_valid(S("\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf")),
       "utf8: U+D7FF, U+E000, U+10FFFF");
    ok(!ngx_beacon_json_utf8_valid(S("\xc0\x80")), "utf8: overlong NUL");
    ok(!ngx_beacon_json_utf8_valid(S("\xc1\xbf")), "utf8: overlong C1");
    ok(!ngx_beacon_json_utf8_valid(S("\xe0\x80\x80")), "utf8: overlong E0");
    ok(!ngx_beacon_json_utf8_valid(S("\xf0\x80\x80\x80")),
        "utf8: overlong F0");
    ok(!ngx_beacon_json_utf8_valid(S("\xed\xa0\x80")), "utf8: surrogate");
    ok(!ngx_beacon_json_utf8_valid(S("\xf4\x90\x80\x80")), "utf8: > U+10FFFF");
    ok(!ngx_beacon_json_utf8_valid(S("\xf5\x80\x80\x80")), "utf8: F5");
    ok(!ngx_beacon_json_utf8_valid(S("\x80")), "utf8: lone continuation");
    ok(!ngx_beacon_json_utf8_valid(S("a\xe2\x82")), "utf8: truncated");
    ok(!ngx_beacon_json_utf8_valid(S("\xe2\x28\xa1")),
        "utf8: bad second byte");
    ok(!ngx_beacon_json_utf8_valid(S("\xe2\x82\x28")), "utf8: bad third byte");
    ok(!ngx_beacon_json_utf8_valid(S("\xff")), "utf8: FF");
}


static void
test_encode(void)
{
    size_t                 n;
    uint64_t               lens[] = { 0, 1, 125, 126, 127, 65535, 65536,
                                      0x100000000ULL };
    unsigned char          b[200];
    unsigned               i;
    char                   reason[200];
    ngx_beacon_ws_frame_t  f;

    static const uint8_t  mask[4] = { 1, 2, 3, 4 };

    n = ngx_beacon_ws_header(b, NGX_BEACON_WS_OP_BINARY, 0);
    ok(n == 2 && eqhex(b, n, "8200"), "header: empty binary 82 00");
    n = ngx_beacon_ws_header(b, NGX_BEACON_WS_OP_BINARY, 125);
    ok(n == 2 && eqhex(b, n, "827d"), "header: 125");
    n = ngx_beacon_ws_header(b, NGX_BEACON_WS_OP_BINARY, 126);
    ok(n == 4 && eqhex(b, n, "827e007e"), "header: 126 uses 16 bits");
    n = ngx_beacon_ws_header(b, NGX_BEACON_WS_OP_PONG, 65535);
    ok(n == 4 && eqhex(b, n, "8a7effff"), "header: pong 65535");
    n = ngx_beacon_ws_header(b, NGX_BEACON_WS_OP_BINARY, 65536);
    ok(n == 10 && eqhex(b, n, "827f0000000000010000"),
       "header: 65536 uses 64 bits");
    n = ngx_beacon_ws_header(b, NGX_BEACON_WS_OP_CLOSE, 2);
    ok(n == 2 && eqhex(b, n, "8802"), "header: close");

    n = ngx_beacon_ws_header_masked(b, NGX_BEACON_WS_OP_TEXT, 1, 5, mask);
    ok(n == 6 && eqhex(b, n, "8185 01020304"), "header_masked: text 5");
    n = ngx_beacon_ws_header_masked(b, NGX_BEACON_WS_OP_BINARY, 0, 300, mask);
    ok(n == 8 && eqhex(b, n, "02fe012c 01020304"),
       "header_masked: FIN=0, 300");
    n = ngx_beacon_ws_header_masked(b, NGX_BEACON_WS_OP_CONT, 1, 70000, mask);
    ok(n == 14 && eqhex(b, n, "80ff0000000000011170 01020304"),
       "header_masked: continuation 70000");

    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        n = ngx_beacon_ws_header(b, NGX_BEACON_WS_OP_BINARY, lens[i]);

        ok(ngx_beacon_ws_parse_server_header(b, n, UINT64_MAX, &f) == 0
           && f.header_len == n && f.payload_len == lens[i] && f.fin
           && f.opcode == 2 && n <= NGX_BEACON_WS_HEADER_MAX,
           "header round trip through parse_server_header");

        n = ngx_beacon_ws_header_masked(b, NGX_BEACON_WS_OP_BINARY, 0,
                                        lens[i], mask);

        ok(ngx_beacon_ws_parse_header(b, n, UINT64_MAX, &f) == 0
           && f.header_len == n && f.payload_len == lens[i] && !f.fin
           && f.masked && memcmp(f.mask, mask, 4) == 0
           && n <= NGX_BEACON_WS_MASKED_HEADER_MAX,
           "header_masked round trip through parse_header");
    }

    n = ngx_beacon_ws_close_body(b, 1000, "replaced");
    ok(n == 10 && eqhex(b, n, "03e8 7265706c61636564"),
       "close_body: 1000 replaced");
    n = ngx_beacon_ws_close_body(b, 1008, "auth failed");
    ok(n == 13 && memcmp(b, "\x03\xf0" "auth failed", 13) == 0,
       "close_body: 1008 auth failed");
    n = ngx_beacon_ws_close_body(b, 1001, NULL);
    ok(n == 2 && eqhex(b, n, "03e9"), "close_body: no reason");
    n = ngx_beacon_ws_close_body(b, 0, "ignored");
    ok(n == 0, "close_body: code 0 is an empty body");

    memset(reason, 'r', 150);
    reason[150] = '\0';
    n = ngx_beacon_ws_close_body(b, 1000, reason);
    ok(n == 125 && b[124] == 'r', "close_body: long reason cut to 125");

    /* 122 ASCII + a 2-byte character would end at 126: drop it whole */
    memset(reason, 'a', 122);
    memcpy(reason + 122, "\xc3\xa9", 3);
    n = ngx_beacon_ws_close_body(b, 1000, reason);
    ok(n == 124 && ngx_beacon_json_utf8_valid(b + 2, n - 2),
       "close_body: cut on a character boundary");

    memset(reason, 'a', 121);
    memcpy(reason + 121, "\xc3\xa9", 3);
    n = ngx_beacon_ws_close_body(b, 1000, reason);
    ok(n == 125 && ngx_beacon_ws_close_parse(b, n, &i) == 0 && i == 1000,
       "close_body: a character that just fits is kept");
}


int
main(void)
{
    test_has_token();
    test_key();
    test_accept();
    test_origin();
    test_parse_ok();
    test_parse_again();
    test_parse_1002();
    test_parse_1009();
    test_parse_server();
    test_unmask();
    test_fragments();
    test_close();
    test_utf8();
    test_encode();

    printf("1..%d\n", tests);

    if (failures) {
        printf("# %d of %d tests failed\n", failures, tests);
        return 1;
    }

    return 0;
}
