
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for the compat bridge's session
 * (ngx_beacon_compat_session.c), driven as ngx_http_beacon_compat.c
 * drives it: bytes go through a 4096-byte read buffer in chunks, every
 * action is carried out, what is left of a read stays for the next one.
 * The input is a script:
 *
 *   byte 0   the largest message (64 .. 65536 bytes)
 *   byte 1   how A_KEY is answered: the node's key, another key, none,
 *            or later (by a KEY operation)
 *   then operations, each an opcode byte and its arguments:
 *     RAW n bytes       raw bytes on the connection
 *     FRAME h len data  one masked frame: opcode and FIN from h, payload
 *                       from the input (a valid frame header)
 *     AUTH v            a well-formed auth_reply with a valid Ed25519
 *                       signature of the challenge by the fixed key pair
 *                       (v: or a bad one, another node, an old ts, as
 *                       binary), sent in fragments with pings between
 *     MESSAGE h len data  a binary message in fragments, pings between
 *     CHUNK n           read size from now on (1 .. 256 bytes)
 *     TIME n            the clock moves n seconds on
 *     TIMEOUT           the read timer fires
 *     CLOSE c           we close (code from c)
 *     KEY v             the deferred key lookup answers
 *     UPGRADE n data    the upgrade checks on header lines from the input
 *
 * Checked: consumption never exceeds the input and leaves less than a
 * frame header unread; every Close we send has a valid code and a UTF-8
 * reason within 125 bytes; a Pong echoes its Ping; a datagram comes only
 * after auth_ok for the node whose key signed, within the size limit,
 * and while only well-formed frames were sent it equals a message that
 * was sent (fragments and interleaved pings reassembled); nothing
 * follows the end.  Any mismatch abort()s; ASan checks memory and leaks.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ngx_beacon_json.h"
#include "ngx_beacon_compat_session.h"


#define FUZZ_TS        1900000000
#define FUZZ_NODE      1001
#define FUZZ_RBUF      4096
#define FUZZ_STREAM    (256 * 1024)
#define FUZZ_EXPECT    64

enum {
    OP_RAW = 0, OP_FRAME, OP_AUTH, OP_MESSAGE, OP_CHUNK, OP_TIME,
    OP_TIMEOUT, OP_CLOSE, OP_KEY, OP_UPGRADE, OP_N
};


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


typedef struct {
    ngx_beacon_compat_session_t  s;
    int64_t                      now;
    unsigned                     key_mode;
    unsigned                     chunk;
    int                          started;
    int                          ended;
    int                          closing;
    int                          key_pending;
    int                          authed;
    int                          clean;
    uint32_t                     claimed;
    uint32_t                     signed_node;

    unsigned char                rbuf[FUZZ_RBUF];
    size_t                       rlen;

    size_t                       slen;

    /* messages sent while the stream was clean, oldest first */
    unsigned char               *expect[FUZZ_EXPECT];
    size_t                       expect_len[FUZZ_EXPECT];
    size_t                       nexpect;
    size_t                       first;

    unsigned char                ping[NGX_BEACON_WS_CONTROL_MAX];
    size_t                       ping_len;
    int                          pings;
} fuzz_t;


static unsigned char  fuzz_stream[FUZZ_STREAM];
static unsigned char  fuzz_pk[32], fuzz_sk[64], fuzz_pk2[32];
static const char     fuzz_nonce[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";


static const unsigned  fuzz_codes[] = { 0, 1000, 1001, 1008, 1011, 1013 };


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


static void
fuzz_emit(fuzz_t *fz, const unsigned char *p, size_t n)
{
    if (n > FUZZ_STREAM - fz->slen) {
        n = FUZZ_STREAM - fz->slen;
    }

    memcpy(fuzz_stream + fz->slen, p, n);
    fz->slen += n;
}


static void
fuzz_frame(fuzz_t *fz, unsigned opcode, int fin, const unsigned char *p,
    size_t n, unsigned m)
{
    size_t         h;
    uint8_t        mask[4];
    unsigned char  hdr[NGX_BEACON_WS_MASKED_HEADER_MAX];

    mask[0] = (uint8_t) m;
    mask[1] = (uint8_t) (m * 7 + 1);
    mask[2] = (uint8_t) (m * 13 + 2);
    mask[3] = (uint8_t) (m * 31 + 3);

    h = ngx_beacon_ws_header_masked(hdr, (uint8_t) opcode, fin, n, mask);

    if (h + n > FUZZ_STREAM - fz->slen) {
        /* no partial frames from the structured operations */
        fz->clean = 0;
    }

    fuzz_emit(fz, hdr, h);

    if (n > FUZZ_STREAM - fz->slen) {
        n = FUZZ_STREAM - fz->slen;
    }

    memcpy(fuzz_stream + fz->slen, p, n);
    ngx_beacon_ws_unmask(fuzz_stream + fz->slen, n, mask, 0);
    fz->slen += n;
}


/* a data message in fragments of the sizes in sz, a ping after some */

static void
fuzz_message(fuzz_t *fz, unsigned opcode, const unsigned char *p, size_t n,
    unsigned h)
{
    size_t    off, part;
    unsigned  k, first;

    off = 0;
    first = 1;
    k = h;

    do {
        part = (k & 3) == 0 ? n - off : ((k & 0x1c) + 1) * 3;

        if (part > n - off) {
            part = n - off;
        }

        fuzz_frame(fz, first ? opcode : NGX_BEACON_WS_OP_CONT,
                   off + part == n, p + off, part, k);
        first = 0;
        off += part;

        if (k & 0x40) {
            /* a ping between fragments, with the bytes of the fragment */
            fuzz_frame(fz, NGX_BEACON_WS_OP_PING, 1, p,
                       part < 20 ? part : 20, k + 5);
        }

        k = k * 37 + 11;

    } while (off < n);
}


static void
fuzz_expect(fuzz_t *fz, const unsigned char *p, size_t n)
{
    size_t  i;

    if (fz->nexpect == FUZZ_EXPECT) {
        free(fz->expect[fz->first]);
        fz->expect[fz->first] = NULL;
        fz->first = (fz->first + 1) % FUZZ_EXPECT;
        fz->nexpect--;
    }

    i = (fz->first + fz->nexpect) % FUZZ_EXPECT;
    fz->expect[i] = malloc(n ? n : 1);
    fuzz_check(fz->expect[i] != NULL);
    memcpy(fz->expect[i], p, n);
    fz->expect_len[i] = n;
    fz->nexpect++;
}


/* a datagram handed out: one of the messages sent, in order */

static void
fuzz_got(fuzz_t *fz, const unsigned char *p, size_t n)
{
    size_t  i;

    while (fz->nexpect) {
        i = fz->first;

        fz->first = (fz->first + 1) % FUZZ_EXPECT;
        fz->nexpect--;

        if (fz->expect_len[i] == n && memcmp(fz->expect[i], p, n) == 0) {
            free(fz->expect[i]);
            fz->expect[i] = NULL;
            return;
        }

        free(fz->expect[i]);
        fz->expect[i] = NULL;
    }

    abort();
}


static void
fuzz_close_body(const ngx_beacon_compat_action_t *a)
{
    unsigned  code;

    fuzz_check(a->len <= NGX_BEACON_WS_CONTROL_MAX && a->len != 1);

    if (a->len == 0) {
        fuzz_check(a->code == 0);
        return;
    }

    fuzz_check(ngx_beacon_ws_close_parse(a->data, a->len, &code) == 0);
    fuzz_check(code == a->code && ngx_beacon_ws_close_code_valid(code));
}


static void fuzz_act(fuzz_t *fz, ngx_beacon_compat_action_t *a);


static void
fuzz_answer(fuzz_t *fz, unsigned mode)
{
    ngx_beacon_compat_action_t  a;

    /* mode 0: the authority's key of the node claimed (ours only for
     * FUZZ_NODE), 1: a wrong key, 2: no key */

    (void) ngx_beacon_compat_key(&fz->s,
                                 mode == 0 ? (fz->claimed == FUZZ_NODE
                                              ? fuzz_pk : fuzz_pk2)
                                 : mode == 1 ? fuzz_pk2 : NULL, &a);
    fz->key_pending = 0;

    fuzz_check(a.type == NGX_BEACON_COMPAT_A_AUTH_OK
               || a.type == NGX_BEACON_COMPAT_A_AUTH_FAIL);

    /* only the node's own key over its own signature logs in */
    fuzz_check(a.type != NGX_BEACON_COMPAT_A_AUTH_OK
               || (mode == 0 && fz->signed_node == fz->claimed
                   && fz->claimed == FUZZ_NODE));

    fuzz_act(fz, &a);
}


static void
fuzz_act(fuzz_t *fz, ngx_beacon_compat_action_t *a)
{
    switch (a->type) {

    case NGX_BEACON_COMPAT_A_NONE:
        break;

    case NGX_BEACON_COMPAT_A_TEXT:
        fuzz_check(!fz->started && a->len > 0);
        break;

    case NGX_BEACON_COMPAT_A_PONG:
        fuzz_check(!fz->closing && a->len <= NGX_BEACON_WS_CONTROL_MAX);
        break;

    case NGX_BEACON_COMPAT_A_AUTH_FAIL:
        fuzz_check(!fz->authed && a->code == NGX_BEACON_WS_CLOSE_POLICY);
        /* fall through */

    case NGX_BEACON_COMPAT_A_CLOSE:
        fuzz_check(!fz->closing && !fz->ended);
        fuzz_check(!a->error
                   || a->code == NGX_BEACON_WS_CLOSE_PROTOCOL
                   || a->code == NGX_BEACON_WS_CLOSE_TOO_BIG);
        fuzz_close_body(a);
        fuzz_check(ngx_beacon_compat_closing(&fz->s));
        fz->closing = 1;
        fz->key_pending = 0;
        break;

    case NGX_BEACON_COMPAT_A_KEY:
        fuzz_check(!fz->authed && !fz->closing && !fz->key_pending);
        fz->claimed = a->node_id;
        fz->key_pending = 1;

        if (fz->key_mode < 3) {
            fuzz_answer(fz, fz->key_mode);
        }

        break;

    case NGX_BEACON_COMPAT_A_AUTH_OK:
        fuzz_check(!fz->authed && a->node_id == FUZZ_NODE);
        fuzz_check(a->len == 18 && memcmp(a->data, "{\"type\":\"auth_ok\"}",
                                          18) == 0);
        fz->authed = 1;
        break;

    case NGX_BEACON_COMPAT_A_DATAGRAM:
        fuzz_check(fz->authed && !fz->closing && a->len > 0
                   && a->len <= fz->s.max_message);

        if (fz->clean) {
            fuzz_got(fz, a->data, a->len);
        }

        break;

    case NGX_BEACON_COMPAT_A_END:
        fuzz_check(!fz->ended);
        fz->ended = 1;
        break;

    default:
        abort();
    }
}


/* the connection's bytes, in reads of chunk bytes */

static void
fuzz_feed(fuzz_t *fz)
{
    size_t                      off, take, used, left;
    unsigned char              *p, *end;
    ngx_beacon_compat_action_t  a;

    off = 0;

    while (off < fz->slen && !fz->ended) {
        take = fz->slen - off;

        if (take > fz->chunk) {
            take = fz->chunk;
        }

        if (fz->rlen == FUZZ_RBUF) {
            /* left after our Close: the glue gives up on the connection */
            fuzz_check(fz->closing);
            fz->ended = 1;
            break;
        }

        if (take > FUZZ_RBUF - fz->rlen) {
            take = FUZZ_RBUF - fz->rlen;
        }

        memcpy(fz->rbuf + fz->rlen, fuzz_stream + off, take);
        fz->rlen += take;
        off += take;

        p = fz->rbuf;
        end = fz->rbuf + fz->rlen;

        for ( ;; ) {
            left = end - p;
            (void) ngx_beacon_compat_input(&fz->s, p, left, fz->now, &used,
                                           &a);
            fuzz_check(used <= left);
            p += used;

            if (a.type == NGX_BEACON_COMPAT_A_NONE) {
                fuzz_check((size_t) (end - p)
                           < NGX_BEACON_WS_MASKED_HEADER_MAX);
                break;
            }

            fuzz_act(fz, &a);

            if (fz->ended) {
                break;
            }

            if (a.type == NGX_BEACON_COMPAT_A_CLOSE
                || a.type == NGX_BEACON_COMPAT_A_AUTH_FAIL)
            {
                /* the glue stops reading until the next read event */
                break;
            }
        }

        fz->rlen = end - p;
        memmove(fz->rbuf, p, fz->rlen);
    }

    fz->slen = 0;
}


/* signatures by the fixed key, made once each (signing is slow) */

static void
fuzz_sign(unsigned char *sig, uint32_t node, int64_t ts)
{
    char      pre[NGX_BEACON_COMPAT_PREIMAGE_MAX];
    size_t    n, i;
    unsigned  k;

    static unsigned char  cache[2][64][64];
    static unsigned char  have[2][64];

    i = node - FUZZ_NODE;
    k = ts == FUZZ_TS;

    if (i < 64 && have[k][i]) {
        memcpy(sig, cache[k][i], 64);
        return;
    }

    n = ngx_beacon_compat_preimage(pre, sizeof(pre), node, ts, fuzz_nonce);
    fuzz_check(n > 0);
    crypto_sign_detached(sig, NULL, (unsigned char *) pre, n, fuzz_sk);

    if (i < 64) {
        memcpy(cache[k][i], sig, 64);
        have[k][i] = 1;
    }
}


static void
fuzz_auth(fuzz_t *fz, unsigned v)
{
    char           b64[sodium_base64_ENCODED_LEN(64,
                                           sodium_base64_VARIANT_ORIGINAL)];
    char           pk64[sodium_base64_ENCODED_LEN(32,
                                           sodium_base64_VARIANT_ORIGINAL)];
    char           json[512];
    size_t         n;
    int64_t        ts;
    uint32_t       node, signer;
    unsigned char  sig[64];

    node = FUZZ_NODE;
    signer = FUZZ_NODE;
    ts = FUZZ_TS;

    switch (v & 7) {
    case 1:
        signer = FUZZ_NODE + 1;         /* signed for another node */
        break;
    case 2:
        node = FUZZ_NODE + 1 + (v >> 3);
        signer = node;                  /* another node: its own preimage */
        break;
    case 3:
        ts = FUZZ_TS - 1;               /* another challenge's time */
        break;
    default:
        break;
    }

    fuzz_sign(sig, signer, ts);

    if ((v & 7) == 4) {
        sig[v % 64] ^= 0x20;            /* a bad signature */
    }

    fz->signed_node = ((v & 7) == 4 || (v & 7) == 3 || signer != node)
                      ? 0 : node;

    sodium_bin2base64(b64, sizeof(b64), sig, 64,
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(pk64, sizeof(pk64), fuzz_pk, 32,
                      sodium_base64_VARIANT_ORIGINAL);

    n = (size_t) snprintf(json, sizeof(json),
                          "{\"type\":\"auth_reply\",\"node_id\":%u,"
                          "\"public_key\":\"%s\",\"sig\":\"%s\"}",
                          (unsigned) node, pk64, b64);

    fuzz_message(fz, (v & 7) == 5 ? NGX_BEACON_WS_OP_BINARY
                                  : NGX_BEACON_WS_OP_TEXT,
                 (unsigned char *) json, n, v >> 1);

    if ((v & 7) == 5 && n <= fz->s.max_message) {
        /* after the login a binary message is a datagram */
        fuzz_expect(fz, (unsigned char *) json, n);
    }
}


static void
fuzz_upgrade(const uint8_t *p, size_t n)
{
    size_t                       i, k, start, colon;
    ngx_beacon_compat_header_t   h[16];
    ngx_beacon_compat_upgrade_t  u;

    /* header lines "name:value" separated by '\n'; the first is Host */

    k = 0;
    start = 0;

    for (i = 0; i <= n && k < 16; i++) {
        if (i < n && p[i] != '\n') {
            continue;
        }

        for (colon = start; colon < i && p[colon] != ':'; colon++) {
            /* void */
        }

        h[k].name = p + start;
        h[k].name_len = colon - start;
        h[k].value = colon < i ? p + colon + 1 : p + i;
        h[k].value_len = colon < i ? i - colon - 1 : 0;
        k++;
        start = i + 1;
    }

    ngx_beacon_compat_upgrade(n ? 1000 + p[0] % 3 : 1001,
                              n < 2 || p[1] != 'P', h, k,
                              k ? h[0].value : NULL, k ? h[0].value_len : 0,
                              &u);

    fuzz_check(u.status == 0 || u.status == 400 || u.status == 403
               || u.status == 405 || u.status == 426);
    fuzz_check((u.header == NULL) == (u.value == NULL));

    if (u.status == 0) {
        fuzz_check(u.key != NULL && ngx_beacon_ws_key_valid(u.key,
                                                            u.key_len));
        fuzz_check(u.key >= p && u.key + u.key_len <= p + n);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                      n, i, avail;
    unsigned                    op, b;
    fuzz_t                     *fz;
    const uint8_t              *end;
    ngx_beacon_compat_action_t  a;

    static int  inited;

    if (!inited) {
        unsigned char  seed[32], sk2[64];

        if (sodium_init() < 0) {
            abort();
        }

        memset(seed, 0x42, sizeof(seed));
        crypto_sign_seed_keypair(fuzz_pk, fuzz_sk, seed);
        memset(seed, 0x43, sizeof(seed));
        crypto_sign_seed_keypair(fuzz_pk2, sk2, seed);
        inited = 1;
    }

    if (size < 2) {
        return 0;
    }

    fz = calloc(1, sizeof(fuzz_t));
    fuzz_check(fz != NULL);

    fz->now = FUZZ_TS;
    fz->chunk = 4096;
    fz->clean = 1;
    fz->key_mode = data[1] & 3;

    n = data[0] == 255 ? 65536 : 64 + (size_t) data[0] * 256;

    fuzz_check(ngx_beacon_compat_start(&fz->s, fuzz_nonce, FUZZ_TS, n, &a)
               == NGX_BEACON_COMPAT_A_TEXT);
    fuzz_act(fz, &a);
    fz->started = 1;

    end = data + size;
    data += 2;

    while (data < end && !fz->ended) {
        op = *data++ % OP_N;
        b = data < end ? *data++ : 0;
        avail = end - data;

        switch (op) {

        case OP_RAW:
            n = b < avail ? b : avail;
            fuzz_emit(fz, data, n);
            data += n;
            fz->clean = 0;
            break;

        case OP_FRAME:
            n = avail ? *data++ : 0;
            n = (n * 3) % 300;
            avail = end - data;
            n = n < avail ? n : avail;
            fuzz_frame(fz, b & 0x0f, (b >> 4) & 1, data, n, b);
            data += n;
            fz->clean = 0;
            break;

        case OP_AUTH:
            fuzz_auth(fz, b);
            break;

        case OP_MESSAGE:
            n = avail ? *data++ : 0;
            n = n * 8 + (b & 7);
            avail = end - data;
            n = n < avail ? n : avail;
            fuzz_message(fz, NGX_BEACON_WS_OP_BINARY, data, n, b);

            if (n > 0 && n <= fz->s.max_message) {
                fuzz_expect(fz, data, n);
            }

            data += n;
            break;

        case OP_CHUNK:
            fz->chunk = b + 1;
            break;

        case OP_TIME:
            fz->now += b;
            break;

        case OP_TIMEOUT:
            fuzz_feed(fz);

            if (fz->ended) {
                break;
            }
            (void) ngx_beacon_compat_timeout(&fz->s, &a);
            fuzz_check(a.type == NGX_BEACON_COMPAT_A_END
                       || a.type == NGX_BEACON_COMPAT_A_CLOSE
                       || a.type == NGX_BEACON_COMPAT_A_AUTH_FAIL);
            fuzz_act(fz, &a);
            break;

        case OP_CLOSE:
            fuzz_feed(fz);
            /* the codes the glue closes with */
            (void) ngx_beacon_compat_close(&fz->s, fuzz_codes[b % 6],
                                           (b & 64) ? "fuzz \xc3\xa9" : NULL,
                                           &a);
            fuzz_check(a.type == (fz->closing || fz->ended
                                  ? NGX_BEACON_COMPAT_A_NONE
                                  : NGX_BEACON_COMPAT_A_CLOSE));
            fuzz_act(fz, &a);
            break;

        case OP_KEY:
            fuzz_feed(fz);

            if (fz->key_pending && !fz->closing && !fz->ended) {
                fuzz_answer(fz, b % 3);
            }

            break;

        default: /* OP_UPGRADE */
            n = b < avail ? b : avail;
            fuzz_upgrade(data, n);
            data += n;
            break;
        }

        fuzz_feed(fz);
    }

    /* after the end nothing happens */

    if (fz->ended) {
        unsigned char  junk[16];

        memset(junk, 0x81, sizeof(junk));
        (void) ngx_beacon_compat_input(&fz->s, junk, sizeof(junk), fz->now,
                                       &n, &a);
        fuzz_check(a.type == NGX_BEACON_COMPAT_A_NONE && n == sizeof(junk));
    }

    ngx_beacon_compat_free(&fz->s);

    for (i = 0; i < FUZZ_EXPECT; i++) {
        free(fz->expect[i]);
    }

    free(fz);

    return 0;
}
