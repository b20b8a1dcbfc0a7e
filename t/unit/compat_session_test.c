
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Unit tests of the compat session (ngx_beacon_compat_session.c): the
 * login with real Ed25519 signatures, frame reassembly with control
 * frames between fragments and with the input cut anywhere, closing in
 * both directions, timeouts, and the upgrade request checks.
 */


#include <sodium.h>

#include "ngx_beacon_json.h"
#include "ngx_beacon_compat_session.h"
#include "tap.h"


#define TS    1900000000
#define NODE  1001

#define A_NONE       NGX_BEACON_COMPAT_A_NONE
#define A_TEXT       NGX_BEACON_COMPAT_A_TEXT
#define A_PONG       NGX_BEACON_COMPAT_A_PONG
#define A_CLOSE      NGX_BEACON_COMPAT_A_CLOSE
#define A_AUTH_FAIL  NGX_BEACON_COMPAT_A_AUTH_FAIL
#define A_KEY        NGX_BEACON_COMPAT_A_KEY
#define A_AUTH_OK    NGX_BEACON_COMPAT_A_AUTH_OK
#define A_DATAGRAM   NGX_BEACON_COMPAT_A_DATAGRAM
#define A_END        NGX_BEACON_COMPAT_A_END


static const char     nonce[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static unsigned char  pk[32], sk[64], pk2[32];

static unsigned char  wire[200000];
static size_t         wlen;


/* a masked client frame onto the wire */

static void
frame(unsigned op, int fin, const void *p, size_t n)
{
    uint8_t  mask[4] = { 0x11, 0x22, 0x33, 0x44 };

    wlen += ngx_beacon_ws_header_masked(wire + wlen, (uint8_t) op, fin, n,
                                        mask);
    memcpy(wire + wlen, p, n);
    ngx_beacon_ws_unmask(wire + wlen, n, mask, 0);
    wlen += n;
}


static size_t
reply(char *out, size_t cap, uint32_t node, uint32_t signer, int64_t ts,
    int bad)
{
    char           pre[NGX_BEACON_COMPAT_PREIMAGE_MAX];
    char           b64[100];
    size_t         n;
    unsigned char  sig[64];

    n = ngx_beacon_compat_preimage(pre, sizeof(pre), signer, ts, nonce);
    crypto_sign_detached(sig, NULL, (unsigned char *) pre, n, sk);
    sig[0] ^= (unsigned char) bad;
    sodium_bin2base64(b64, sizeof(b64), sig, 64,
                      sodium_base64_VARIANT_ORIGINAL);

    return (size_t) snprintf(out, cap, "{\"type\":\"auth_reply\","
                             "\"node_id\":%u,\"sig\":\"%s\"}",
                             (unsigned) node, b64);
}


/*
 * Feeds the wire in reads of chunk bytes as ngx_http_beacon_compat.c
 * does, collecting the actions; A_KEY is answered with key at once.
 */

typedef struct {
    unsigned       types[64];
    unsigned       codes[64];
    size_t         n;
    unsigned char  data[8][70000];
    size_t         len[8];
    size_t         ndata;
} log_t;


static void
feed(ngx_beacon_compat_session_t *s, size_t chunk, int64_t now,
    const unsigned char *key, log_t *lg)
{
    size_t                      off, take, used;
    unsigned char               buf[4096], *p, *end;
    size_t                      blen;
    ngx_beacon_compat_action_t  a;

    off = 0;
    blen = 0;

    while (off < wlen) {
        take = wlen - off < chunk ? wlen - off : chunk;
        memcpy(buf + blen, wire + off, take);
        blen += take;
        off += take;
        p = buf;
        end = buf + blen;

        for ( ;; ) {
            (void) ngx_beacon_compat_input(s, p, end - p, now, &used, &a);
            p += used;

            if (a.type == A_KEY) {
                lg->types[lg->n++] = a.type;
                (void) ngx_beacon_compat_key(s, key, &a);
            }

            if (a.type == A_NONE) {
                break;
            }

            if (lg->n < 64) {
                lg->codes[lg->n] = a.code;
                lg->types[lg->n++] = a.type;
            }

            if ((a.type == A_DATAGRAM || a.type == A_PONG
                 || a.type == A_CLOSE || a.type == A_AUTH_FAIL)
                && lg->ndata < 8)
            {
                memcpy(lg->data[lg->ndata], a.data, a.len);
                lg->len[lg->ndata++] = a.len;
            }

            if (a.type == A_CLOSE || a.type == A_AUTH_FAIL) {
                /* as the glue: reading stops until the next read */
                break;
            }
        }

        blen = end - p;
        memmove(buf, p, blen);
    }

    wlen = 0;
}


static void
start(ngx_beacon_compat_session_t *s, uint64_t max)
{
    ngx_beacon_compat_action_t  a;

    wlen = 0;
    (void) ngx_beacon_compat_start(s, nonce, TS, max, &a);
}


static void
test_login(void)
{
    char                         json[300], expect[200];
    size_t                       n;
    log_t                       *lg;
    ngx_beacon_compat_action_t   a;
    ngx_beacon_compat_session_t  s;

    lg = calloc(1, sizeof(log_t));

    ok(ngx_beacon_compat_start(&s, nonce, TS, 65536, &a) == A_TEXT,
       "start: the challenge is sent");
    snprintf(expect, sizeof(expect), "{\"type\":\"auth_challenge\","
             "\"nonce\":\"%s\",\"ts\":%d}", nonce, TS);
    ok(a.len == strlen(expect) && memcmp(a.data, expect, a.len) == 0,
       "start: challenge text");
    ok(ngx_beacon_compat_start(&s, "00zz", TS, 65536, &a) == A_END,
       "start: a malformed nonce ends");

    /* a good login, then a datagram */

    start(&s, 65536);
    n = reply(json, sizeof(json), NODE, NODE, TS, 0);
    frame(NGX_BEACON_WS_OP_TEXT, 1, json, n);
    frame(NGX_BEACON_WS_OP_BINARY, 1, "\x05hello", 6);
    feed(&s, 4096, TS + 5, pk, lg);
    ok(lg->n == 3 && lg->types[0] == A_KEY && lg->types[1] == A_AUTH_OK
       && lg->types[2] == A_DATAGRAM && lg->len[0] == 6
       && memcmp(lg->data[0], "\x05hello", 6) == 0,
       "login: key wanted, auth_ok, then the datagram");
    ok(s.state == NGX_BEACON_COMPAT_OPEN && s.node_id == NODE && s.alive,
       "login: open as the node; frames show it alive");
    ngx_beacon_compat_free(&s);

    /* the login fails: wrong key, no key, bad signature, other node */

#define FAILS(what, key, node, signer, ts, bad, now)                          \
    memset(lg, 0, sizeof(log_t));                                            \
    start(&s, 65536);                                                        \
    n = reply(json, sizeof(json), node, signer, ts, bad);                    \
    frame(NGX_BEACON_WS_OP_TEXT, 1, json, n);                                \
    frame(NGX_BEACON_WS_OP_BINARY, 1, "\x05hello", 6);                       \
    feed(&s, 4096, now, key, lg);                                            \
    ok(lg->types[lg->n - 1] == A_AUTH_FAIL                                   \
       && lg->codes[lg->n - 1] == NGX_BEACON_WS_CLOSE_POLICY                 \
       && lg->len[0] == 13 && memcmp(lg->data[0] + 2, "auth failed", 11)     \
          == 0 && ngx_beacon_compat_closing(&s), "login fails: " what);      \
    ngx_beacon_compat_free(&s)

    FAILS("another key", pk2, NODE, NODE, TS, 0, TS);
    FAILS("no key", NULL, NODE, NODE, TS, 0, TS);
    FAILS("bad signature", pk, NODE, NODE, TS, 1, TS);
    FAILS("signed for another node", pk, NODE, NODE + 1, TS, 0, TS);
    FAILS("another challenge's time", pk, NODE, NODE, TS - 1, 0, TS);
    FAILS("reply after 31 s", pk, NODE, NODE, TS, 0, TS + 31);

    /* 30 s is still in time */
    memset(lg, 0, sizeof(log_t));
    start(&s, 65536);
    n = reply(json, sizeof(json), NODE, NODE, TS, 0);
    frame(NGX_BEACON_WS_OP_TEXT, 1, json, n);
    feed(&s, 4096, TS + 30, pk, lg);
    ok(lg->n == 2 && lg->types[1] == A_AUTH_OK, "login: reply after 30 s");
    ngx_beacon_compat_free(&s);

    /* binary reply, empty text, garbage text: fail without a key */

    memset(lg, 0, sizeof(log_t));
    start(&s, 65536);
    frame(NGX_BEACON_WS_OP_BINARY, 1, json, n);
    feed(&s, 4096, TS, pk, lg);
    ok(lg->n == 1 && lg->types[0] == A_AUTH_FAIL, "login: binary reply fails");
    ngx_beacon_compat_free(&s);

    memset(lg, 0, sizeof(log_t));
    start(&s, 65536);
    frame(NGX_BEACON_WS_OP_TEXT, 1, "", 0);
    feed(&s, 4096, TS, pk, lg);
    ok(lg->n == 1 && lg->types[0] == A_AUTH_FAIL,
       "login: empty text fails (fuzz crash input empty-text-at-login)");
    ngx_beacon_compat_free(&s);

    /* a second message while the key is being looked up */

    memset(lg, 0, sizeof(log_t));
    start(&s, 65536);
    frame(NGX_BEACON_WS_OP_TEXT, 1, json, n);
    frame(NGX_BEACON_WS_OP_TEXT, 1, json, n);
    {
        size_t  used, off;

        off = 0;
        (void) ngx_beacon_compat_input(&s, wire, wlen, TS, &used, &a);
        ok(a.type == A_KEY && a.node_id == NODE, "lookup: key of the node");
        off = used;
        (void) ngx_beacon_compat_input(&s, wire + off, wlen - off, TS, &used,
                                       &a);
        ok(a.type == A_AUTH_FAIL, "lookup: a second reply meanwhile fails");
        ok(ngx_beacon_compat_key(&s, pk, &a) == A_NONE,
           "lookup: a late answer after the close does nothing");
    }
    ngx_beacon_compat_free(&s);

    free(lg);
}


static void
test_frames(void)
{
    char                         json[300];
    size_t                       n, chunk, i;
    log_t                       *lg;
    unsigned char               *big;
    ngx_beacon_compat_session_t  s;

    lg = calloc(1, sizeof(log_t));
    big = malloc(65536);

    for (i = 0; i < 65536; i++) {
        big[i] = (unsigned char) (i * 7 + 1);
    }

    n = reply(json, sizeof(json), NODE, NODE, TS, 0);

    /* fragments with pings and pongs between them, at any read size */

    for (chunk = 1; chunk <= 4096; chunk = chunk * 3 + 1) {
        memset(lg, 0, sizeof(log_t));
        start(&s, 65536);
        frame(NGX_BEACON_WS_OP_TEXT, 0, json, 10);
        frame(NGX_BEACON_WS_OP_PING, 1, "p1", 2);
        frame(NGX_BEACON_WS_OP_CONT, 1, json + 10, n - 10);
        frame(NGX_BEACON_WS_OP_BINARY, 0, big, 1000);
        frame(NGX_BEACON_WS_OP_PONG, 1, "x", 1);
        frame(NGX_BEACON_WS_OP_CONT, 0, big + 1000, 0);
        frame(NGX_BEACON_WS_OP_PING, 1, "p2", 2);
        frame(NGX_BEACON_WS_OP_CONT, 1, big + 1000, 64536);
        feed(&s, chunk, TS, pk, lg);

        ok(lg->n == 5 && lg->types[0] == A_PONG && lg->types[1] == A_KEY
           && lg->types[2] == A_AUTH_OK && lg->types[3] == A_PONG
           && lg->types[4] == A_DATAGRAM
           && lg->len[0] == 2 && memcmp(lg->data[0], "p1", 2) == 0
           && lg->len[1] == 2 && memcmp(lg->data[1], "p2", 2) == 0
           && lg->len[2] == 65536 && memcmp(lg->data[2], big, 65536) == 0,
           chunk == 1 ? "reassembly: fragments, pings between, 1-byte reads"
           : "reassembly: fragments, pings between, larger reads");
        ngx_beacon_compat_free(&s);
    }

    /* limits and protocol errors */

#define CLOSES(what, max, code, build)                                        \
    memset(lg, 0, sizeof(log_t));                                            \
    start(&s, max);                                                          \
    frame(NGX_BEACON_WS_OP_TEXT, 1, json, n);                                \
    build;                                                                   \
    feed(&s, 4096, TS, pk, lg);                                              \
    ok(lg->types[lg->n - 1] == A_CLOSE && lg->codes[lg->n - 1] == code       \
       && ngx_beacon_compat_closing(&s), "closes " #code ": " what);         \
    ngx_beacon_compat_free(&s)

    CLOSES("message over the limit in fragments", 1000, 1009,
           frame(NGX_BEACON_WS_OP_BINARY, 0, big, 600);
           frame(NGX_BEACON_WS_OP_CONT, 1, big, 600));
    CLOSES("frame over the limit", 1000, 1009,
           frame(NGX_BEACON_WS_OP_BINARY, 1, big, 1001));
    CLOSES("continuation outside a message", 65536, 1002,
           frame(NGX_BEACON_WS_OP_CONT, 1, big, 3));
    CLOSES("new message inside a message", 65536, 1002,
           frame(NGX_BEACON_WS_OP_BINARY, 0, big, 3);
           frame(NGX_BEACON_WS_OP_BINARY, 1, big, 3));
    CLOSES("unmasked frame", 65536, 1002,
           memcpy(wire + wlen, "\x82\x01x", 3); wlen += 3);
    CLOSES("close with a 1-byte body", 65536, 1002,
           frame(NGX_BEACON_WS_OP_CLOSE, 1, "\x03", 1));
    CLOSES("echo of the client's close code", 65536, 1000,
           frame(NGX_BEACON_WS_OP_CLOSE, 1, "\x03\xe8" "bye", 5));
    CLOSES("empty close answered without a body", 65536, 0,
           frame(NGX_BEACON_WS_OP_CLOSE, 1, "", 0));

    /* after our Close: data ignored, no pong, the answer ends it */

    memset(lg, 0, sizeof(log_t));
    start(&s, 65536);
    frame(NGX_BEACON_WS_OP_TEXT, 1, json, n);
    feed(&s, 4096, TS, pk, lg);
    {
        ngx_beacon_compat_action_t  a;

        ok(ngx_beacon_compat_close(&s, 1001, "beacon shutting down", &a)
           == A_CLOSE && a.len == 22 && a.data[0] == 0x03
           && a.data[1] == 0xe9, "close: ours, with code and reason");
        ok(ngx_beacon_compat_close(&s, 1000, NULL, &a) == A_NONE,
           "close: only once");
    }
    memset(lg, 0, sizeof(log_t));
    frame(NGX_BEACON_WS_OP_BINARY, 1, "\x05hello", 6);
    frame(NGX_BEACON_WS_OP_PING, 1, "p", 1);
    frame(NGX_BEACON_WS_OP_CLOSE, 1, "\x03\xe8", 2);
    frame(NGX_BEACON_WS_OP_BINARY, 1, "\x05hello", 6);
    feed(&s, 4096, TS, pk, lg);
    ok(lg->n == 1 && lg->types[0] == A_END
       && s.state == NGX_BEACON_COMPAT_DONE,
       "closing: datagram and ping ignored, the peer's Close ends");
    ngx_beacon_compat_free(&s);

    free(big);
    free(lg);
}


static void
test_timeout(void)
{
    char                         json[300];
    size_t                       n;
    log_t                       *lg;
    ngx_beacon_compat_action_t   a;
    ngx_beacon_compat_session_t  s;

    lg = calloc(1, sizeof(log_t));

    start(&s, 65536);
    ok(ngx_beacon_compat_timeout(&s, &a) == A_AUTH_FAIL
       && a.code == NGX_BEACON_WS_CLOSE_POLICY,
       "timeout before the login: auth failed");
    ok(ngx_beacon_compat_timeout(&s, &a) == A_END,
       "timeout while closing: the end");
    ngx_beacon_compat_free(&s);

    start(&s, 65536);
    n = reply(json, sizeof(json), NODE, NODE, TS, 0);
    frame(NGX_BEACON_WS_OP_TEXT, 1, json, n);
    feed(&s, 4096, TS, pk, lg);
    ok(ngx_beacon_compat_timeout(&s, &a) == A_CLOSE
       && a.code == NGX_BEACON_WS_CLOSE_GOING_AWAY
       && a.len == 14 && memcmp(a.data + 2, "idle timeout", 12) == 0,
       "timeout after the login: 1001 idle timeout");
    ngx_beacon_compat_free(&s);

    free(lg);
}


static void
test_upgrade(void)
{
    size_t                       i, n;
    ngx_beacon_compat_header_t   h[8];
    ngx_beacon_compat_upgrade_t  u;

    static const char  *lines[][2] = {
        { "connection", "keep-alive, Upgrade" },
        { "UPGRADE", "websocket" },
        { "Sec-WebSocket-Version", "13" },
        { "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==" },
        { "Origin", "https://beacon.example" },
        { "Sec-WebSocket-Protocol", "chat, pilot.v1" },
        { "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==" },
    };

    for (i = 0; i < 7; i++) {
        h[i].name = (const unsigned char *) lines[i][0];
        h[i].name_len = strlen(lines[i][0]);
        h[i].value = (const unsigned char *) lines[i][1];
        h[i].value_len = strlen(lines[i][1]);
    }

#define HOST  (const unsigned char *) "Beacon.Example", 14

    ngx_beacon_compat_upgrade(1001, 1, h, 6, HOST, &u);
    ok(u.status == 0 && u.key == h[3].value && u.key_len == 24 && u.pilot,
       "upgrade: accepted, key and pilot.v1 found");

    ngx_beacon_compat_upgrade(1000, 1, h, 6, HOST, &u);
    ok(u.status == 426 && u.header == NULL, "upgrade: HTTP/1.0 426");
    ngx_beacon_compat_upgrade(2000, 1, h, 6, HOST, &u);
    ok(u.status == 426, "upgrade: HTTP/2 426");
    ngx_beacon_compat_upgrade(1001, 1, h + 1, 5, HOST, &u);
    ok(u.status == 426 && strcmp(u.header, "Upgrade") == 0
       && strcmp(u.value, "websocket") == 0,
       "upgrade: no Connection token: 426 with Upgrade: websocket");
    ngx_beacon_compat_upgrade(1001, 0, h, 6, HOST, &u);
    ok(u.status == 405, "upgrade: POST 405");

    n = h[2].value_len;
    h[2].value_len = 1;
    ngx_beacon_compat_upgrade(1001, 1, h, 6, HOST, &u);
    ok(u.status == 400 && strcmp(u.header, "Sec-WebSocket-Version") == 0,
       "upgrade: version 1: 400 naming version 13");
    h[2].value_len = n;

    ngx_beacon_compat_upgrade(1001, 1, h, 7, HOST, &u);
    ok(u.status == 400 && u.header == NULL, "upgrade: two keys: 400");
    h[3].value_len = 23;
    ngx_beacon_compat_upgrade(1001, 1, h, 6, HOST, &u);
    ok(u.status == 400, "upgrade: malformed key: 400");
    h[3].value_len = 24;

    ngx_beacon_compat_upgrade(1001, 1, h, 6,
                              (const unsigned char *) "other.example", 13,
                              &u);
    ok(u.status == 403, "upgrade: Origin of another host: 403");
    ngx_beacon_compat_upgrade(1001, 1, h, 6, NULL, 0, &u);
    ok(u.status == 403, "upgrade: Origin without Host: 403");
    ngx_beacon_compat_upgrade(1001, 1, h, 4, NULL, 0, &u);
    ok(u.status == 0 && !u.pilot, "upgrade: no Origin, no protocol: fine");
}


int
main(void)
{
    unsigned char  seed[32], sk2[64];

    if (sodium_init() < 0) {
        printf("Bail out! sodium_init failed\n");
        return 1;
    }

    memset(seed, 7, sizeof(seed));
    crypto_sign_seed_keypair(pk, sk, seed);
    memset(seed, 8, sizeof(seed));
    crypto_sign_seed_keypair(pk2, sk2, seed);

    test_login();
    test_frames();
    test_timeout();
    test_upgrade();

    printf("1..%d\n", tests);

    if (failures) {
        printf("# %d of %d tests failed\n", failures, tests);
        return 1;
    }

    return 0;
}
