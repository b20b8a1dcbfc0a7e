
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for the Offset relay Cap'n Proto codec
 * (ngx_beacon_offset_capnp.c).  Every input is read as a packed message and as
 * an unpacked one, and decoded as each relay message type.  A decode
 * returns one of the known codes; on failure its output is all zeros; on
 * success its Data fields lie inside the message, and re-encoding the
 * decoded struct gives a message that decodes to the same struct.  The
 * packer and unpacker are checked against each other on the raw input.
 * Any mismatch abort()s.
 *
 *   bash t/fuzz/run.sh [SECONDS] capnp
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_offset_capnp.h"


#define FUZZ_SCRATCH  (256 * 1024)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond);
static int fuzz_zero(const void *p, size_t n);
static void fuzz_data(const ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_capnp_data_t *d);
static int fuzz_same(const ngx_beacon_offset_capnp_data_t *a,
    const ngx_beacon_offset_capnp_data_t *b);
static ngx_beacon_offset_capnp_msg_t *fuzz_reread(size_t n);
static void fuzz_decode(ngx_beacon_offset_capnp_msg_t *msg);
static void fuzz_packing(const uint8_t *data, size_t size);


static uint8_t  fuzz_scratch[FUZZ_SCRATCH];
static uint8_t  fuzz_scratch2[FUZZ_SCRATCH];
static uint8_t  fuzz_out[FUZZ_SCRATCH * 3];
static uint8_t  fuzz_back[FUZZ_SCRATCH * 2];

static ngx_beacon_offset_capnp_msg_t  fuzz_msg2;


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


static int
fuzz_zero(const void *p, size_t n)
{
    const uint8_t  *b;

    for (b = p; n; n--) {
        if (*b++) {
            return 0;
        }
    }

    return 1;
}


/* a decoded Data field lies inside one of the message's segments */

static void
fuzz_data(const ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_capnp_data_t *d)
{
    uint32_t  i;

    if (d->data == NULL) {
        fuzz_check(d->len == 0);
        return;
    }

    for (i = 0; i < msg->nsegs; i++) {
        if (d->data >= msg->seg[i]
            && d->data <= msg->seg[i] + (size_t) msg->size[i] * 8
            && d->len <= (size_t) (msg->seg[i] + (size_t) msg->size[i] * 8
                                   - d->data))
        {
            return;
        }
    }

    abort();
}


static int
fuzz_same(const ngx_beacon_offset_capnp_data_t *a,
    const ngx_beacon_offset_capnp_data_t *b)
{
    return a->len == b->len
           && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}


/* reads back an encoding in fuzz_out */

static ngx_beacon_offset_capnp_msg_t *
fuzz_reread(size_t n)
{
    size_t  used;

    fuzz_check(n > 0);
    fuzz_check(ngx_beacon_offset_capnp_read_packed(&fuzz_msg2, fuzz_out, n,
                                            fuzz_scratch2,
                                            sizeof(fuzz_scratch2), &used)
               == NGX_BEACON_OFFSET_CAPNP_OK);
    fuzz_check(used == n && fuzz_msg2.nsegs == 1);

    return &fuzz_msg2;
}


static void
fuzz_decode(ngx_beacon_offset_capnp_msg_t *msg)
{
    int                         rc;
    size_t                      n;
    ngx_beacon_offset_capnp_ka_t       ka, ka2;
    ngx_beacon_offset_capnp_dh_t       dh, dh2;
    ngx_beacon_offset_capnp_ern_t      ern, ern2;
    ngx_beacon_offset_capnp_conn_t     conn, conn2;
    ngx_beacon_offset_capnp_init_t     init, init2;
    ngx_beacon_offset_capnp_channel_t  ch, ch2;

    /* InitConnection */

    rc = ngx_beacon_offset_capnp_decode_init(msg, &init);
    fuzz_check(rc <= 0 && rc >= NGX_BEACON_OFFSET_CAPNP_EUNION);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        fuzz_check(init.which <= NGX_BEACON_OFFSET_INIT_CONNECT);

        if (init.which == NGX_BEACON_OFFSET_INIT_LISTEN) {
            fuzz_check(fuzz_zero(init.public_key,
                NGX_BEACON_OFFSET_CAPNP_KEY_LEN));
        }

        n = ngx_beacon_offset_capnp_encode_init(fuzz_out, sizeof(fuzz_out),
            &init);
        fuzz_check(ngx_beacon_offset_capnp_decode_init(fuzz_reread(n), &init2)
                   == NGX_BEACON_OFFSET_CAPNP_OK);
        fuzz_check(memcmp(&init, &init2, sizeof(init)) == 0);

    } else {
        fuzz_check(fuzz_zero(&init, sizeof(init)));
    }

    /* IncomingConnection, RejectConnection */

    rc = ngx_beacon_offset_capnp_decode_conn(msg, &conn);
    fuzz_check(rc <= 0 && rc >= NGX_BEACON_OFFSET_CAPNP_EUNION
               && rc != NGX_BEACON_OFFSET_CAPNP_EUNION);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        n = ngx_beacon_offset_capnp_encode_conn(fuzz_out, sizeof(fuzz_out),
            &conn);
        fuzz_check(ngx_beacon_offset_capnp_decode_conn(fuzz_reread(n), &conn2)
                   == NGX_BEACON_OFFSET_CAPNP_OK);
        fuzz_check(memcmp(&conn, &conn2, sizeof(conn)) == 0);

    } else {
        fuzz_check(fuzz_zero(&conn, sizeof(conn)));
    }

    /* KaMessage */

    rc = ngx_beacon_offset_capnp_decode_ka(msg, &ka);
    fuzz_check(rc <= 0 && rc >= NGX_BEACON_OFFSET_CAPNP_EUNION);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        fuzz_check(ka.which <= NGX_BEACON_OFFSET_KA_MESSAGE);
        fuzz_data(msg, &ka.message);

        n = ngx_beacon_offset_capnp_encode_ka(fuzz_out, sizeof(fuzz_out), &ka);
        fuzz_check(ngx_beacon_offset_capnp_decode_ka(fuzz_reread(n), &ka2)
                   == NGX_BEACON_OFFSET_CAPNP_OK);
        fuzz_check(ka2.which == ka.which && fuzz_same(&ka.message,
                                                      &ka2.message));

    } else {
        fuzz_check(fuzz_zero(&ka, sizeof(ka)));
    }

    /* ExchangeRandNonce */

    rc = ngx_beacon_offset_capnp_decode_ern(msg, &ern);
    fuzz_check(rc <= 0 && rc >= NGX_BEACON_OFFSET_CAPNP_EUNION);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        fuzz_check(ern.has_dest
                   || fuzz_zero(ern.dest_public_key,
                       NGX_BEACON_OFFSET_CAPNP_KEY_LEN));

        n = ngx_beacon_offset_capnp_encode_ern(fuzz_out, sizeof(fuzz_out),
            &ern);
        fuzz_check(ngx_beacon_offset_capnp_decode_ern(fuzz_reread(n), &ern2)
                   == NGX_BEACON_OFFSET_CAPNP_OK);
        fuzz_check(memcmp(&ern, &ern2, sizeof(ern)) == 0);

    } else {
        fuzz_check(fuzz_zero(&ern, sizeof(ern)));
    }

    /* ExchangeDh */

    rc = ngx_beacon_offset_capnp_decode_dh(msg, &dh);
    fuzz_check(rc <= 0 && rc >= NGX_BEACON_OFFSET_CAPNP_EUNION
               && rc != NGX_BEACON_OFFSET_CAPNP_EUNION);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        n = ngx_beacon_offset_capnp_encode_dh(fuzz_out, sizeof(fuzz_out), &dh);
        fuzz_check(ngx_beacon_offset_capnp_decode_dh(fuzz_reread(n), &dh2)
                   == NGX_BEACON_OFFSET_CAPNP_OK);
        fuzz_check(memcmp(&dh, &dh2, sizeof(dh)) == 0);

    } else {
        fuzz_check(fuzz_zero(&dh, sizeof(dh)));
    }

    /* ChannelMessage */

    rc = ngx_beacon_offset_capnp_decode_channel(msg, &ch);
    fuzz_check(rc <= 0 && rc >= NGX_BEACON_OFFSET_CAPNP_EUNION);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        fuzz_check(ch.which <= NGX_BEACON_OFFSET_CONTENT_USER);
        fuzz_data(msg, &ch.rand_padding);
        fuzz_data(msg, &ch.user);

        if (ch.which == NGX_BEACON_OFFSET_CONTENT_USER) {
            fuzz_check(fuzz_zero(ch.dh_public_key,
                NGX_BEACON_OFFSET_CAPNP_KEY_LEN)
                       && fuzz_zero(ch.key_salt,
                           NGX_BEACON_OFFSET_CAPNP_KEY_LEN));

        } else {
            fuzz_check(ch.user.data == NULL);
        }

        n = ngx_beacon_offset_capnp_encode_channel(fuzz_out, sizeof(fuzz_out),
            &ch);
        fuzz_check(ngx_beacon_offset_capnp_decode_channel(fuzz_reread(n), &ch2)
                   == NGX_BEACON_OFFSET_CAPNP_OK);
        fuzz_check(ch2.which == ch.which
                   && (ch2.rand_padding.data == NULL)
                      == (ch.rand_padding.data == NULL)
                   && fuzz_same(&ch.rand_padding, &ch2.rand_padding)
                   && fuzz_same(&ch.user, &ch2.user)
                   && memcmp(ch.dh_public_key, ch2.dh_public_key,
                             NGX_BEACON_OFFSET_CAPNP_KEY_LEN) == 0
                   && memcmp(ch.key_salt, ch2.key_salt,
                             NGX_BEACON_OFFSET_CAPNP_KEY_LEN) == 0);

    } else {
        fuzz_check(fuzz_zero(&ch, sizeof(ch)));
    }
}


static void
fuzz_packing(const uint8_t *data, size_t size)
{
    size_t  n, m, k;

    /* unpack, pack, unpack: the same words */

    n = ngx_beacon_offset_capnp_unpack(fuzz_back, sizeof(fuzz_back), data,
        size);
    fuzz_check(n % 8 == 0);

    if (n > 0 && n <= sizeof(fuzz_scratch)) {
        m = ngx_beacon_offset_capnp_pack(fuzz_out, sizeof(fuzz_out), fuzz_back,
            n);
        fuzz_check(m > 0 && m <= n + n / 8 + 2);
        k = ngx_beacon_offset_capnp_unpack(fuzz_scratch2,
            sizeof(fuzz_scratch2),
                                    fuzz_out, m);
        fuzz_check(k == n && memcmp(fuzz_scratch2, fuzz_back, n) == 0);
    }

    /* pack the input as words, unpack it back */

    n = size / 8 * 8;

    if (n > 0) {
        m = ngx_beacon_offset_capnp_pack(fuzz_out, sizeof(fuzz_out), data, n);
        fuzz_check(m > 0);
        k = ngx_beacon_offset_capnp_unpack(fuzz_scratch2,
            sizeof(fuzz_scratch2),
                                    fuzz_out, m);
        fuzz_check(k == n && memcmp(fuzz_scratch2, data, n) == 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     rc;
    size_t                  used;
    ngx_beacon_offset_capnp_msg_t  msg;

    rc = ngx_beacon_offset_capnp_read_packed(&msg, data, size, fuzz_scratch,
                                      sizeof(fuzz_scratch), &used);
    fuzz_check(rc <= 0 && rc >= NGX_BEACON_OFFSET_CAPNP_EPACKED);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        fuzz_check(used > 0 && used <= size && msg.nsegs > 0
                   && msg.len <= sizeof(fuzz_scratch));
        fuzz_decode(&msg);

        /* tighter limits only ever turn success into ELIMIT/ENESTING */
        msg.traversal_limit = 8;
        msg.nesting_limit = 2;
        fuzz_decode(&msg);

    } else {
        fuzz_check(msg.nsegs == 0);
    }

    rc = ngx_beacon_offset_capnp_read(&msg, data, size);
    fuzz_check(rc <= 0 && rc >= NGX_BEACON_OFFSET_CAPNP_ELIMIT);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        fuzz_check(msg.len <= size);
        fuzz_decode(&msg);
    }

    fuzz_packing(data, size);

    return 0;
}
