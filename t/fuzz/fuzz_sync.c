
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for SYNC datagrams as the beacon checks them before
 * installing routes (ngx_beacon_sync_check(), the gossip secret trailer
 * and its MAC).  The first input byte picks a mode, the rest is the
 * datagram:
 *
 *   mode 0: the datagram as it is, checked without and with a secret;
 *   mode 1: the SYNC body of the datagram, then a trailer made with the
 *           fixed secret at now + a fuzzed offset (the MAC path: accepted
 *           exactly when the offset is within the window);
 *   mode 2: as mode 1, with one bit of the body or trailer flipped at a
 *           fuzzed position (must be rejected).
 *
 * Without a secret every SYNC that parses is accepted (reference
 * receivers ignore trailing bytes).  Any mismatch abort()s.
 */


#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ngx_beacon_proto.h"


#define FUZZ_NOW     1900000000
#define FUZZ_WINDOW  60


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* SHA-256 of the secret, as beacon_gossip_secret stores it */
static uint8_t  fuzz_key[32];
static uint8_t  fuzz_other[32];
static uint8_t  fuzz_buf[65536 + 64];


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               rc, mode, off;
    size_t            body, len, pos;
    ngx_beacon_msg_t  msg, m2;

    static int  inited;

    if (!inited) {
        if (sodium_init() < 0) {
            abort();
        }

        crypto_hash_sha256(fuzz_key, (const uint8_t *) "fuzz gossip secret",
                           18);
        crypto_hash_sha256(fuzz_other, (const uint8_t *) "another secret",
                           14);
        inited = 1;
    }

    if (size < 3 || size - 3 > 65536) {
        return 0;
    }

    mode = data[0] % 3;
    off = (int) (int8_t) data[1];
    pos = data[2];
    data += 3;
    size -= 3;

    rc = ngx_beacon_parse(data, size, &msg);

    if (rc != NGX_BEACON_PARSE_OK || msg.type != NGX_BEACON_SYNC) {
        /* nothing but a parsed SYNC passes */
        if (rc == NGX_BEACON_PARSE_OK) {
            fuzz_check(ngx_beacon_sync_check(data, size, &msg, NULL,
                                             FUZZ_NOW, FUZZ_WINDOW)
                       != 0);
        }

        return 0;
    }

    body = NGX_BEACON_SYNC_HDR_LEN + 4 * (size_t) msg.count;
    fuzz_check(body <= size);

    /* without a secret: trailing bytes ignored */
    fuzz_check(ngx_beacon_sync_check(data, size, &msg, NULL, FUZZ_NOW,
                                     FUZZ_WINDOW) == 0);

    if (mode == 0) {
        rc = ngx_beacon_sync_check(data, size, &msg, fuzz_key, FUZZ_NOW,
                                   FUZZ_WINDOW);

        /* a forged trailer needs the MAC: only inputs that carry "NBG1" */
        fuzz_check(rc != 0
                   || (size - body >= NGX_BEACON_SYNC_AUTH_LEN
                       && memcmp(data + body, "NBG1", 4) == 0));
        return 0;
    }

    memcpy(fuzz_buf, data, body);
    len = body + ngx_beacon_sync_auth(fuzz_buf + body, fuzz_buf, body,
                                      fuzz_key, (int64_t) FUZZ_NOW + off);
    fuzz_check(len == body + NGX_BEACON_SYNC_AUTH_LEN);

    rc = ngx_beacon_parse(fuzz_buf, len, &m2);
    fuzz_check(rc == NGX_BEACON_PARSE_OK && m2.type == NGX_BEACON_SYNC
               && m2.count == msg.count && m2.beacon_id == msg.beacon_id);

    if (mode == 1) {
        rc = ngx_beacon_sync_check(fuzz_buf, len, &m2, fuzz_key, FUZZ_NOW,
                                   FUZZ_WINDOW);
        fuzz_check((rc == 0) == (off >= -FUZZ_WINDOW && off <= FUZZ_WINDOW));

        /* another secret never verifies; a cut trailer never does */
        fuzz_check(ngx_beacon_sync_check(fuzz_buf, len, &m2, fuzz_other,
                                         FUZZ_NOW, FUZZ_WINDOW) != 0);
        fuzz_check(ngx_beacon_sync_check(fuzz_buf, len - 1, &m2, fuzz_key,
                                         FUZZ_NOW, FUZZ_WINDOW) != 0);

        /* bytes after the trailer are ignored */
        fuzz_buf[len] = (uint8_t) pos;
        fuzz_check((ngx_beacon_sync_check(fuzz_buf, len + 1, &m2, fuzz_key,
                                          FUZZ_NOW, FUZZ_WINDOW) == 0)
                   == (rc == 0));
        return 0;
    }

    /* mode 2: one flipped bit anywhere in body or trailer */

    pos = (pos * 7919 + size) % len;
    fuzz_buf[pos] ^= (uint8_t) (1u << (data[0] / 3 % 8));

    rc = ngx_beacon_parse(fuzz_buf, len, &m2);

    if (rc == NGX_BEACON_PARSE_OK && m2.type == NGX_BEACON_SYNC) {
        fuzz_check(ngx_beacon_sync_check(fuzz_buf, len, &m2, fuzz_key,
                                         FUZZ_NOW, FUZZ_WINDOW) != 0);
    }

    return 0;
}
