
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Writes the seed corpora of the fuzz targets offset_handshake and
 * offset_relay: scripts (offset_fuzz.h, ofz_run) for the conversations
 * the tests have with the relay (t/offset_*.t scenarios: handshake,
 * Listen with keepalives and a notification, Connect, Accept and
 * messages both ways, Reject, rekeys from either side, timeouts, bad
 * versions, oversized and short frames), and the node's real byte stream
 * of a whole session captured from the harness node as raw input.
 *
 *   offset_seeds DIR_HANDSHAKE DIR_RELAY
 */

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "offset_fuzz.h"


typedef struct {
    uint8_t   b[4096];
    size_t    n;
} script_t;


static void
put(script_t *s, int n, ...)
{
    va_list  ap;
    int      i;

    va_start(ap, n);

    for (i = 0; i < n && s->n < sizeof(s->b); i++) {
        s->b[s->n++] = (uint8_t) va_arg(ap, int);
    }

    va_end(ap);
}


static void
put_bytes(script_t *s, const uint8_t *p, size_t len)
{
    if (s->n + len <= sizeof(s->b)) {
        memcpy(s->b + s->n, p, len);
        s->n += len;
    }
}


static void
save(const char *dir, const char *name, const uint8_t *pre, size_t npre,
    script_t *s)
{
    char   path[512];
    FILE  *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    fp = fopen(path, "wb");
    if (fp == NULL || fwrite(pre, 1, npre, fp) != npre
        || fwrite(s->b, 1, s->n, fp) != s->n || fclose(fp) != 0)
    {
        fprintf(stderr, "offset_seeds: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}


/* the handshake of a well-behaved node, in reads of sizes a and b */

static void
hs(script_t *s, int a, int b)
{
    put(s, 3, 0, a, b);        /* version */
    put(s, 3, 0, a, b);        /* ExchangeRandNonce */
    put(s, 3, 0, a, b);        /* ExchangeDh, after the relay's */
}


/* the relay protocol part of each scenario, after a handshake */

static int
scenario(script_t *s, int k)
{
    static const uint8_t  msg[] = "F1: a node's end-to-end ExchangeRandNonce";

    switch (k) {

    case 0:     /* Listen, keepalives, a notification, a Reject */
        put(s, 2, 8, 0);
        put(s, 2, 6, 0);
        put(s, 3, 4, 0x0f, 0xa0);            /* 16 s */
        put(s, 2, 11, 0x41);
        put(s, 2, 9, 0x41);
        put(s, 3, 4, 0x1f, 0x40);            /* 32 s: idle */
        return 1;

    case 1:     /* Connect(B), then it waits */
        put(s, 3, 8, 2 + 3 * 2, 0x42);
        put(s, 3, 4, 0x1f, 0x40);
        return 1;

    case 2:     /* Accept(A), messages both ways */
        put(s, 3, 8, 1 + 3 * 2, 0x41);
        put(s, 4, 5, 0, sizeof(msg) - 1, 0);
        put_bytes(s, msg, sizeof(msg) - 1);
        put(s, 3, 12, sizeof(msg) - 1, 0);
        put_bytes(s, msg, sizeof(msg) - 1);
        put(s, 4, 5, 200, 0xff, 7);          /* 2047 bytes */
        {
            uint8_t  big[2047];
            memset(big, 0x5c, sizeof(big));
            put_bytes(s, big, sizeof(big));
        }
        put(s, 2, 6, 0);
        return 1;

    case 3:     /* rekeys: ours, then the relay's on its timer */
        put(s, 2, 8, 0);
        put(s, 1, 7);
        put(s, 2, 6, 0);
        put(s, 3, 4, 0x09, 0xc4);            /* 10 s */
        put(s, 2, 6, 0);
        put(s, 1, 7);
        put(s, 3, 4, 0x09, 0xc4);
        return 1;

    case 4:     /* the first message is not an InitConnection */
        put(s, 5, 5, 0, 3, 0, 1);
        put(s, 2, 0xff, 0xff);
        return 1;

    case 5:     /* no first message in time */
        put(s, 2, 6, 0);
        put(s, 3, 4, 0x03, 0xe8);            /* 4 s */
        return 1;

    case 6:     /* a short transport frame (W2) */
        put(s, 3, 2, 5, 0);
        put(s, 5, 0, 1, 2, 3, 4);
        return 1;

    case 7:     /* Listen refused by the glue, then again */
        put(s, 2, 10, 1);
        put(s, 2, 8, 0);
        return 1;

    case 8:     /* a sealed garbage ChannelMessage */
        put(s, 3, 3, 16, 0);
        put(s, 16, 0, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0,
            0, 0);
        return 1;

    case 9:     /* Listen, then a message that is not a Reject */
        put(s, 2, 8, 0);
        put(s, 4, 5, 0, 4, 0);
        put(s, 4, 0xde, 0xad, 0xbe, 0xef);
        return 1;
    }

    return 0;
}


int
main(int argc, char **argv)
{
    int       k;
    char      name[64];
    uint8_t   pre[2], ver[12];
    ofz_t     f;
    script_t  s, raw;

    if (argc != 3) {
        fprintf(stderr, "usage: offset_seeds DIR_HANDSHAKE DIR_RELAY\n");
        return 2;
    }

    (void) mkdir(argv[1], 0755);
    (void) mkdir(argv[2], 0755);

    for (k = 0; ; k++) {
        memset(&s, 0, sizeof(s));

        /* offset_handshake: padding, rekey flag, then the script */
        pre[0] = (uint8_t) (k * 37);
        pre[1] = (uint8_t) (k & 1);
        hs(&s, k % 3 ? 0 : 1, k % 3 == 2 ? 5 : 0);

        if (!scenario(&s, k)) {
            break;
        }

        snprintf(name, sizeof(name), "scenario-%02d", k);
        save(argv[1], name, pre, 2, &s);

        /* offset_relay: rekey flag, then the script after the handshake */
        memset(&s, 0, sizeof(s));
        (void) scenario(&s, k);
        save(argv[2], name, pre + 1, 1, &s);
    }

    /* handshake failures */

    memset(&s, 0, sizeof(s));
    ngx_beacon_offset_version_frame(ver);
    ver[11] = 1;                                      /* version 1 */
    put(&s, 4, 1, 0, (int) sizeof(ver), 0);
    put_bytes(&s, ver, sizeof(ver));
    pre[0] = 0;
    pre[1] = 0;
    save(argv[1], "version-mismatch", pre, 2, &s);

    memset(&s, 0, sizeof(s));
    put(&s, 4, 1, 3, 8, 0);
    put(&s, 8, 0, 0, 0, 0, 0, 0, 0x20, 0);           /* 8 KiB, pre-auth */
    save(argv[1], "oversize-preauth", pre, 2, &s);

    memset(&s, 0, sizeof(s));
    put(&s, 3, 0, 0, 0);
    put(&s, 3, 0, 0, 0);
    put(&s, 3, 4, 0x07, 0xd0);                       /* 8 s */
    save(argv[1], "handshake-timeout", pre, 2, &s);

    /*
     * The node's real byte stream of a session (handshake, Listen,
     * keepalive, its rekey), captured as the relay read it, as raw input:
     * the relay sees the same bytes; only the harness node stays behind.
     */

    ofz_init(&f, 7, 0, 0);
    f.tap = malloc(65536);
    f.tap_cap = 65536;

    if (f.tap == NULL) {
        return 1;
    }

    OFZ_CHECK(ngx_beacon_offset_conn_start(&f.oc, f.now) == 0);
    ofz_drain(&f);

    memset(&s, 0, sizeof(s));
    hs(&s, 0, 0);
    put(&s, 2, 8, 0);
    put(&s, 2, 6, 0);
    put(&s, 1, 7);
    ofz_run(&f, s.b, s.n);

    OFZ_CHECK(f.oc.state == NGX_BEACON_OFFSET_LISTEN && f.tap_len < 2040);

    memset(&raw, 0, sizeof(raw));
    put(&raw, 4, 1, 0, (int) (f.tap_len & 0xff), (int) (f.tap_len >> 8));
    put_bytes(&raw, f.tap, f.tap_len);
    save(argv[1], "node-stream", pre, 2, &raw);

    free(f.tap);
    f.tap = NULL;
    ofz_free(&f);

    return 0;
}
