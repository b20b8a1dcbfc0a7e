
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The pure core of one Offset relay connection (see
 * ngx_beacon_offset_conn.h): bytes and ticks in, actions out.  Written
 * from the spec, offset-relay.md sections 3.2 - 3.6 and 9.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_offset_conn.h"


#define NGX_BEACON_OFFSET_IDLE_TICK  3600000   /* timer when nothing is due */


static unsigned ngx_beacon_offset_frame(ngx_beacon_offset_conn_t *oc,
    ngx_beacon_offset_ev_t *ev, ngx_beacon_offset_msec_t now);
static unsigned ngx_beacon_offset_handshake(ngx_beacon_offset_conn_t *oc,
    const uint8_t *p, size_t len, ngx_beacon_offset_ev_t *ev,
    ngx_beacon_offset_msec_t now);
static unsigned ngx_beacon_offset_message(ngx_beacon_offset_conn_t *oc,
    const uint8_t *p, size_t len, ngx_beacon_offset_ev_t *ev);
static unsigned ngx_beacon_offset_close(ngx_beacon_offset_conn_t *oc,
    ngx_beacon_offset_ev_t *ev, unsigned type, unsigned count,
    const char *why);
static int ngx_beacon_offset_raw(ngx_beacon_offset_conn_t *oc,
    const uint8_t *p, size_t len);
static int ngx_beacon_offset_send_user(ngx_beacon_offset_conn_t *oc,
    unsigned ka_which, const uint8_t *p, size_t len,
    ngx_beacon_offset_msec_t now);
static int ngx_beacon_offset_send_rekey(ngx_beacon_offset_conn_t *oc,
    const uint8_t *pub, const uint8_t *salt);
static int ngx_beacon_offset_conn_seal(ngx_beacon_offset_conn_t *oc,
    const ngx_beacon_offset_capnp_channel_t *cm);
static uint32_t ngx_beacon_offset_rand(ngx_beacon_offset_scratch_t *s);
static int ngx_beacon_offset_due(ngx_beacon_offset_msec_t t,
    ngx_beacon_offset_msec_t now);


int
ngx_beacon_offset_scratch_init(ngx_beacon_offset_scratch_t *s,
    size_t frame_max, ngx_beacon_offset_random_pt random, void *data)
{
    size_t    size;
    uint8_t  *uch, *uka, *pka, *pch;

    if (s->random == NULL) {
        s->random = random;
        s->random_data = data;
        s->nrnd = 0;
        random(data, s->pad, sizeof(s->pad));
    }

    size = frame_max + 2 * NGX_BEACON_OFFSET_PADDING_ACCEPT_MAX + 1024;

    if (s->size >= size) {
        return 0;
    }

    uch = malloc(size);
    uka = malloc(size);
    pka = malloc(size * 9 / 8 + 256);
    pch = malloc(size * 9 / 8 + 256 + 65536);

    if (uch == NULL || uka == NULL || pka == NULL || pch == NULL) {
        free(uch);
        free(uka);
        free(pka);
        free(pch);
        return -1;
    }

    ngx_beacon_offset_scratch_free(s);

    s->unpack_ch = uch;
    s->unpack_ka = uka;
    s->pack_ka = pka;
    s->pack_ch = pch;
    s->size = size;

    return 0;
}


void
ngx_beacon_offset_scratch_free(ngx_beacon_offset_scratch_t *s)
{
    free(s->unpack_ch);
    free(s->unpack_ka);
    free(s->pack_ka);
    free(s->pack_ch);

    s->unpack_ch = NULL;
    s->unpack_ka = NULL;
    s->pack_ka = NULL;
    s->pack_ch = NULL;
    s->size = 0;
}


void
ngx_beacon_offset_conn_init(ngx_beacon_offset_conn_t *oc,
    const ngx_beacon_offset_conf_t *conf, ngx_beacon_offset_scratch_t *s,
    ngx_beacon_offset_out_pt out, void *data, ngx_beacon_offset_msec_t now)
{
    memset(oc, 0, sizeof(ngx_beacon_offset_conn_t));

    oc->conf = conf;
    oc->scratch = s;
    oc->out = out;
    oc->out_data = data;
    oc->state = NGX_BEACON_OFFSET_HANDSHAKE;
    oc->step = NGX_BEACON_OFFSET_HS_VERSION;
    oc->last_in = now;
    oc->last_out = now;
}


int
ngx_beacon_offset_conn_start(ngx_beacon_offset_conn_t *oc,
    ngx_beacon_offset_msec_t now)
{
    size_t                  n;
    uint8_t                 buf[256];
    ngx_beacon_offset_capnp_ern_t  ern;

    /* both sides send first (3.3, 3.4.1): nothing to wait for */

    ngx_beacon_offset_version_frame(buf);

    if (ngx_beacon_offset_raw(oc, buf + NGX_BEACON_OFFSET_FRAME_HDR_LEN,
                              NGX_BEACON_OFFSET_VERSION_LEN)
        != 0)
    {
        return -1;
    }

    oc->scratch->random(oc->scratch->random_data, oc->my_nonce,
                        sizeof(oc->my_nonce));

    memset(&ern, 0, sizeof(ngx_beacon_offset_capnp_ern_t));
    memcpy(ern.rand_nonce, oc->my_nonce, sizeof(oc->my_nonce));
    memcpy(ern.src_public_key, oc->conf->pk, NGX_BEACON_OFFSET_PK_LEN);

    n = ngx_beacon_offset_capnp_encode_ern(buf, sizeof(buf), &ern);

    if (n == 0 || ngx_beacon_offset_raw(oc, buf, n) != 0) {
        return -1;
    }

    oc->deadline = now + oc->conf->handshake_timeout;

    return 0;
}


void
ngx_beacon_offset_conn_adopt(ngx_beacon_offset_conn_t *oc,
    const uint8_t *peer_pk, const uint8_t *target,
    const ngx_beacon_offset_channel_t *ch, ngx_beacon_offset_msec_t rekey_in,
    ngx_beacon_offset_msec_t now)
{
    memcpy(oc->peer_pk, peer_pk, NGX_BEACON_OFFSET_PK_LEN);
    memcpy(oc->target, target, NGX_BEACON_OFFSET_PK_LEN);
    oc->ch = *ch;
    oc->state = NGX_BEACON_OFFSET_INIT;
    oc->rekey_at = rekey_in ? now + rekey_in : 0;
    oc->last_in = now;
    oc->last_out = now;
}


void
ngx_beacon_offset_conn_free(ngx_beacon_offset_conn_t *oc)
{
    free(oc->frame);

    oc->frame = NULL;
    oc->frame_cap = 0;

    sodium_memzero(&oc->dh, sizeof(ngx_beacon_offset_dh_t));
    ngx_beacon_offset_channel_wipe(&oc->ch);
    oc->closed = 1;
}


int
ngx_beacon_offset_conn_want(ngx_beacon_offset_conn_t *oc, uint8_t **p,
    size_t *len)
{
    size_t    want;
    uint8_t  *b;

    if (oc->hdr_got < NGX_BEACON_OFFSET_FRAME_HDR_LEN) {
        *p = oc->hdr + oc->hdr_got;
        *len = NGX_BEACON_OFFSET_FRAME_HDR_LEN - oc->hdr_got;
        return 0;
    }

    if (oc->frame_got == oc->frame_cap) {
        /* the buffer grows with what arrives, not with what is claimed */

        want = oc->frame_cap * 2;

        if (want < NGX_BEACON_OFFSET_FRAME_CACHE) {
            want = NGX_BEACON_OFFSET_FRAME_CACHE;
        }

        if (want > oc->frame_len) {
            want = oc->frame_len;
        }

        b = malloc(want);
        if (b == NULL) {
            return -1;
        }

        if (oc->frame) {
            memcpy(b, oc->frame, oc->frame_got);
            free(oc->frame);
        }

        oc->frame = b;
        oc->frame_cap = want;
    }

    *p = oc->frame + oc->frame_got;
    *len = (oc->frame_cap < oc->frame_len ? oc->frame_cap : oc->frame_len)
           - oc->frame_got;

    return 0;
}


unsigned
ngx_beacon_offset_conn_got(ngx_beacon_offset_conn_t *oc, size_t n,
    ngx_beacon_offset_ev_t *ev, ngx_beacon_offset_msec_t now)
{
    size_t    cap;
    uint64_t  len;
    unsigned  rc;

    memset(ev, 0, sizeof(ngx_beacon_offset_ev_t));

    if (oc->closed) {
        ev->type = NGX_BEACON_OFFSET_EV_CLOSE;
        ev->why = "closed";
        return ev->type;
    }

    if (oc->hdr_got < NGX_BEACON_OFFSET_FRAME_HDR_LEN) {
        oc->hdr_got += n;

        if (oc->hdr_got < NGX_BEACON_OFFSET_FRAME_HDR_LEN) {
            return NGX_BEACON_OFFSET_NONE;
        }

        cap = oc->conf->frame_max;

        if (oc->state == NGX_BEACON_OFFSET_HANDSHAKE
            && cap > NGX_BEACON_OFFSET_PREAUTH_MAX)
        {
            cap = NGX_BEACON_OFFSET_PREAUTH_MAX;    /* W1: before auth */
        }

        if (ngx_beacon_offset_frame_get_len(oc->hdr,
            NGX_BEACON_OFFSET_FRAME_HDR_LEN, cap,
                                     &len)
            != NGX_BEACON_OFFSET_OK)
        {
            return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_CLOSE,
                                           NGX_BEACON_OFFSET_COUNT_BAD,
                                           "frame over the size cap");
        }

        oc->frame_len = (size_t) len;
        oc->frame_got = 0;

        if (oc->frame_len) {
            return NGX_BEACON_OFFSET_NONE;
        }

    } else {
        oc->frame_got += n;

        if (oc->frame_got < oc->frame_len) {
            return NGX_BEACON_OFFSET_NONE;
        }
    }

    /* a whole frame */

    oc->hdr_got = 0;

    rc = ngx_beacon_offset_frame(oc, ev, now);

    /* only a busy tunnel keeps its frame buffer between frames */

    if (oc->state != NGX_BEACON_OFFSET_TUNNEL
        || oc->frame_cap > NGX_BEACON_OFFSET_FRAME_CACHE || oc->closed)
    {
        free(oc->frame);
        oc->frame = NULL;
        oc->frame_cap = 0;
    }

    return rc;
}


unsigned
ngx_beacon_offset_conn_feed(ngx_beacon_offset_conn_t *oc,
    const uint8_t *data, size_t len, size_t *used,
    ngx_beacon_offset_ev_t *ev, ngx_beacon_offset_msec_t now)
{
    size_t    n;
    uint8_t  *p;
    unsigned  rc;

    *used = 0;
    memset(ev, 0, sizeof(ngx_beacon_offset_ev_t));

    while (*used < len) {

        if (ngx_beacon_offset_conn_want(oc, &p, &n) != 0) {
            return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_ERROR,
                                           NGX_BEACON_OFFSET_COUNT_NONE,
                                           "out of memory");
        }

        if (n > len - *used) {
            n = len - *used;
        }

        memcpy(p, data + *used, n);
        *used += n;

        rc = ngx_beacon_offset_conn_got(oc, n, ev, now);

        if (rc != NGX_BEACON_OFFSET_NONE) {
            return rc;
        }
    }

    return NGX_BEACON_OFFSET_NONE;
}


static unsigned
ngx_beacon_offset_frame(ngx_beacon_offset_conn_t *oc,
    ngx_beacon_offset_ev_t *ev, ngx_beacon_offset_msec_t now)
{
    int                          rc;
    size_t                       plen;
    uint8_t                     *p, pub[NGX_BEACON_OFFSET_DH_LEN];
    uint8_t                      rnd[2 * NGX_BEACON_OFFSET_DH_LEN];
    uint8_t                      salt[NGX_BEACON_OFFSET_SALT_LEN];
    const char                  *why;
    ngx_beacon_offset_capnp_ka_t        ka;
    ngx_beacon_offset_capnp_msg_t       msg;
    ngx_beacon_offset_capnp_channel_t   cm;
    ngx_beacon_offset_scratch_t *s;

    s = oc->scratch;
    p = oc->frame ? oc->frame : oc->hdr;    /* a 0-length frame */

    if (oc->state == NGX_BEACON_OFFSET_HANDSHAKE) {
        return ngx_beacon_offset_handshake(oc, p, oc->frame_len, ev, now);
    }

    /* a frame shorter than nonce + tag closes cleanly (W2) */

    rc = ngx_beacon_offset_channel_open(&oc->ch,
        p + NGX_BEACON_OFFSET_NONCE_LEN, &plen, p,
                                 oc->frame_len);
    if (rc != NGX_BEACON_OFFSET_OK) {
        why = ngx_beacon_offset_strerror(rc);
        goto bad;
    }

    p += NGX_BEACON_OFFSET_NONCE_LEN;

    rc = ngx_beacon_offset_capnp_read_packed(&msg, p, plen, s->unpack_ch,
        s->size,
                                      NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_channel(&msg, &cm);
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        why = "undecodable ChannelMessage";
        goto bad;
    }

    if (cm.which == NGX_BEACON_OFFSET_CONTENT_REKEY) {
        s->random(s->random_data, rnd, sizeof(rnd));

        rc = ngx_beacon_offset_channel_rekey_recv(&oc->ch, cm.dh_public_key,
                                           cm.key_salt, pub, salt, rnd,
                                           rnd + NGX_BEACON_OFFSET_DH_LEN);
        sodium_memzero(rnd, sizeof(rnd));

        if (rc == NGX_BEACON_OFFSET_ERR_DH) {
            why = "rekey with a low-order point";
            goto bad;
        }

        if (oc->conf->rekey_interval) {
            oc->rekey_at = now + oc->conf->rekey_interval;
        }

        if (rc == NGX_BEACON_OFFSET_REKEY_RESPOND) {
            /* our answer still goes out under the old key (3.4.5) */
            rc = ngx_beacon_offset_send_rekey(oc, pub, salt);
            sodium_memzero(pub, sizeof(pub));

            if (rc != 0) {
                return ngx_beacon_offset_close(oc, ev,
                                               NGX_BEACON_OFFSET_EV_ERROR,
                                               NGX_BEACON_OFFSET_COUNT_NONE,
                                               "write error");
            }
        }

        /* a Rekey is below the keepalive layer: last_in stays (3.5) */

        ev->type = NGX_BEACON_OFFSET_EV_REKEY;
        return ev->type;
    }

    rc = ngx_beacon_offset_capnp_read_packed(&msg, cm.user.data ? cm.user.data
                                                          : (uint8_t *) "",
                                      cm.user.len, s->unpack_ka, s->size,
                                      NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_ka(&msg, &ka);
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        why = "undecodable KaMessage";
        goto bad;
    }

    /*
     * Only what the node's keepalive layer sends counts as activity
     * (3.5): a Rekey is handled below that layer and resets nothing.
     */

    oc->last_in = now;

    if (ka.which == NGX_BEACON_OFFSET_KA_KEEPALIVE) {
        return NGX_BEACON_OFFSET_NONE;
    }

    if (oc->state == NGX_BEACON_OFFSET_TUNNEL) {
        /*
         * The KaMessage{message} as it came, checked above, is the one to
         * send on: the other hop gets the same message without packing
         * it again.
         */
        ev->type = NGX_BEACON_OFFSET_EV_MESSAGE;
        ev->data = cm.user.data;
        ev->len = cm.user.len;
        ev->msg_len = ka.message.len;
        return ev->type;
    }

    return ngx_beacon_offset_message(oc, ka.message.data ? ka.message.data
                                                         : (uint8_t *) "",
                                     ka.message.len, ev);

bad:

    return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_CLOSE,
                                   NGX_BEACON_OFFSET_COUNT_BAD, why);
}


static unsigned
ngx_beacon_offset_handshake(ngx_beacon_offset_conn_t *oc, const uint8_t *p,
    size_t len, ngx_beacon_offset_ev_t *ev, ngx_beacon_offset_msec_t now)
{
    int                           rc;
    size_t                        n;
    uint8_t                       buf[512];
    uint8_t                       rnd[NGX_BEACON_OFFSET_DH_LEN
                                      + NGX_BEACON_OFFSET_SALT_LEN];
    uint8_t                       send_key[NGX_BEACON_OFFSET_KEY_LEN];
    uint8_t                       recv_key[NGX_BEACON_OFFSET_KEY_LEN];
    const char                   *why;
    ngx_beacon_offset_capnp_dh_t         dh;
    ngx_beacon_offset_capnp_ern_t        ern;
    ngx_beacon_offset_capnp_msg_t        msg;
    ngx_beacon_offset_scratch_t  *s;

    s = oc->scratch;

    switch (oc->step) {

    case NGX_BEACON_OFFSET_HS_VERSION:

        if (ngx_beacon_offset_version_check(p, len) != NGX_BEACON_OFFSET_OK) {
            why = len == NGX_BEACON_OFFSET_VERSION_LEN ? "version mismatch"
                                                : "bad version frame";
            goto bad;
        }

        oc->step = NGX_BEACON_OFFSET_HS_ERN;
        return NGX_BEACON_OFFSET_NONE;

    case NGX_BEACON_OFFSET_HS_ERN:

        rc = ngx_beacon_offset_capnp_read_packed(&msg, p, len, s->unpack_ch,
                                          s->size, NULL);
        if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
            rc = ngx_beacon_offset_capnp_decode_ern(&msg, &ern);
        }

        if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
            why = "undecodable ExchangeRandNonce";
            goto bad;
        }

        memcpy(oc->peer_pk, ern.src_public_key, NGX_BEACON_OFFSET_PK_LEN);
        memcpy(oc->peer_nonce, ern.rand_nonce,
            NGX_BEACON_OFFSET_RAND_NONCE_LEN);

        s->random(s->random_data, rnd, sizeof(rnd));
        ngx_beacon_offset_dh_init(&oc->dh, rnd,
            rnd + NGX_BEACON_OFFSET_DH_LEN);
        sodium_memzero(rnd, sizeof(rnd));

        memset(&dh, 0, sizeof(ngx_beacon_offset_capnp_dh_t));
        memcpy(dh.dh_public_key, oc->dh.pub, NGX_BEACON_OFFSET_DH_LEN);
        memcpy(dh.rand_nonce, oc->peer_nonce,
            NGX_BEACON_OFFSET_RAND_NONCE_LEN);
        memcpy(dh.key_salt, oc->dh.salt, NGX_BEACON_OFFSET_SALT_LEN);
        ngx_beacon_offset_dh_sign(dh.signature, oc->conf->sk, oc->dh.pub,
                           oc->peer_nonce, oc->dh.salt);

        n = ngx_beacon_offset_capnp_encode_dh(buf, sizeof(buf), &dh);

        if (n == 0 || ngx_beacon_offset_raw(oc, buf, n) != 0) {
            return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_ERROR,
                                           NGX_BEACON_OFFSET_COUNT_NONE,
                                           "write error");
        }

        oc->step = NGX_BEACON_OFFSET_HS_DH;
        return NGX_BEACON_OFFSET_NONE;

    default: /* NGX_BEACON_OFFSET_HS_DH */

        rc = ngx_beacon_offset_capnp_read_packed(&msg, p, len, s->unpack_ch,
                                          s->size, NULL);
        if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
            rc = ngx_beacon_offset_capnp_decode_dh(&msg, &dh);
        }

        if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
            why = "undecodable ExchangeDh";
            goto bad;
        }

        if (ngx_beacon_offset_nonce_check(dh.rand_nonce, oc->my_nonce)
            != NGX_BEACON_OFFSET_OK)
        {
            why = "ExchangeDh echoes the wrong nonce";
            goto bad;
        }

        if (ngx_beacon_offset_dh_verify(dh.signature, oc->peer_pk,
            dh.dh_public_key,
                                 oc->my_nonce, dh.key_salt)
            != NGX_BEACON_OFFSET_OK)
        {
            why = "bad ExchangeDh signature";
            goto bad;
        }

        if (ngx_beacon_offset_derive_keys(send_key, recv_key, &oc->dh,
                                   dh.dh_public_key, dh.key_salt)
            != NGX_BEACON_OFFSET_OK)
        {
            why = "low-order X25519 point";
            goto bad;
        }

        ngx_beacon_offset_channel_init(&oc->ch, send_key, recv_key);

        sodium_memzero(send_key, sizeof(send_key));
        sodium_memzero(recv_key, sizeof(recv_key));
        sodium_memzero(&oc->dh, sizeof(ngx_beacon_offset_dh_t));

        oc->state = NGX_BEACON_OFFSET_INIT;
        oc->last_in = now;
        oc->last_out = now;
        oc->deadline = now + oc->conf->init_timeout;

        if (oc->conf->rekey_interval) {
            oc->rekey_at = now + oc->conf->rekey_interval;
        }

        ev->type = NGX_BEACON_OFFSET_EV_HANDSHAKE;
        return ev->type;
    }

bad:

    return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_CLOSE,
                                   NGX_BEACON_OFFSET_COUNT_BAD, why);
}


/* an L5 message on a connection that is not spliced */

static unsigned
ngx_beacon_offset_message(ngx_beacon_offset_conn_t *oc, const uint8_t *p,
    size_t len, ngx_beacon_offset_ev_t *ev)
{
    int                        rc;
    ngx_beacon_offset_capnp_msg_t     msg;
    ngx_beacon_offset_capnp_init_t    init;
    ngx_beacon_offset_capnp_conn_t    m;
    ngx_beacon_offset_scratch_t  *s;

    s = oc->scratch;

    switch (oc->state) {

    case NGX_BEACON_OFFSET_INIT:

        rc = ngx_beacon_offset_capnp_read_packed(&msg, p, len, s->pack_ch,
            s->size,
                                          NULL);
        if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
            rc = ngx_beacon_offset_capnp_decode_init(&msg, &init);
        }

        if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
            return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_CLOSE,
                                           NGX_BEACON_OFFSET_COUNT_BAD,
                                           "invalid first message");
        }

        oc->deadline = 0;

        switch (init.which) {

        case NGX_BEACON_OFFSET_INIT_LISTEN:
            ev->type = NGX_BEACON_OFFSET_EV_LISTEN;
            break;

        case NGX_BEACON_OFFSET_INIT_CONNECT:
            memcpy(oc->target, init.public_key, NGX_BEACON_OFFSET_PK_LEN);
            ev->type = NGX_BEACON_OFFSET_EV_CONNECT;
            break;

        default: /* NGX_BEACON_OFFSET_INIT_ACCEPT */
            memcpy(oc->target, init.public_key, NGX_BEACON_OFFSET_PK_LEN);
            ev->type = NGX_BEACON_OFFSET_EV_ACCEPT;
            break;
        }

        return ev->type;

    case NGX_BEACON_OFFSET_LISTEN:

        rc = ngx_beacon_offset_capnp_read_packed(&msg, p, len, s->pack_ch,
            s->size,
                                          NULL);
        if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
            rc = ngx_beacon_offset_capnp_decode_conn(&msg, &m);
        }

        if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
            /* anything but a RejectConnection ends the listener (3.6.2) */
            return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_CLOSE,
                                           NGX_BEACON_OFFSET_COUNT_NONE,
                                           "listener sent an invalid "
                                           "message");
        }

        memcpy(ev->key, m.public_key, NGX_BEACON_OFFSET_PK_LEN);
        ev->type = NGX_BEACON_OFFSET_EV_REJECT;
        return ev->type;

    default:
        return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_CLOSE,
                                       NGX_BEACON_OFFSET_COUNT_NONE,
                                       "unexpected message");
    }
}


unsigned
ngx_beacon_offset_conn_tick(ngx_beacon_offset_conn_t *oc,
    ngx_beacon_offset_ev_t *ev, ngx_beacon_offset_msec_t now)
{
    uint8_t      pub[NGX_BEACON_OFFSET_DH_LEN];
    uint8_t      rnd[NGX_BEACON_OFFSET_DH_LEN + NGX_BEACON_OFFSET_SALT_LEN];
    uint8_t      salt[NGX_BEACON_OFFSET_SALT_LEN];
    const char  *why;

    memset(ev, 0, sizeof(ngx_beacon_offset_ev_t));

    if (oc->closed) {
        ev->type = NGX_BEACON_OFFSET_EV_CLOSE;
        ev->why = "closed";
        return ev->type;
    }

    if (oc->deadline && ngx_beacon_offset_due(oc->deadline, now)) {

        why = oc->state == NGX_BEACON_OFFSET_HANDSHAKE ? "handshake timed out"
              : oc->state == NGX_BEACON_OFFSET_INIT ? "no relay message in time"
              : "half-tunnel expired";

        return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_CLOSE,
                                       oc->state == NGX_BEACON_OFFSET_HALF
                                       ? NGX_BEACON_OFFSET_COUNT_EXPIRED
                                       : NGX_BEACON_OFFSET_COUNT_TIMEOUT,
                                       why);
    }

    if (oc->state == NGX_BEACON_OFFSET_HANDSHAKE) {
        return NGX_BEACON_OFFSET_NONE;
    }

    if (oc->state != NGX_BEACON_OFFSET_HALF
        && ngx_beacon_offset_due(oc->last_in + oc->conf->idle_timeout, now))
    {
        return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_CLOSE,
                                       NGX_BEACON_OFFSET_COUNT_TIMEOUT,
                                       "idle timeout");
    }

    if (ngx_beacon_offset_due(oc->last_out + oc->conf->keepalive, now)) {
        if (ngx_beacon_offset_send_user(oc, NGX_BEACON_OFFSET_KA_KEEPALIVE,
            NULL, 0,
                                        now)
            != 0)
        {
            return ngx_beacon_offset_close(oc, ev, NGX_BEACON_OFFSET_EV_ERROR,
                                           NGX_BEACON_OFFSET_COUNT_NONE,
                                           "write error");
        }
    }

    if (oc->rekey_at && ngx_beacon_offset_due(oc->rekey_at, now)) {
        oc->rekey_at = now + oc->conf->rekey_interval;

        oc->scratch->random(oc->scratch->random_data, rnd, sizeof(rnd));

        if (ngx_beacon_offset_channel_rekey_start(&oc->ch, pub, salt, rnd,
                                           rnd + NGX_BEACON_OFFSET_DH_LEN)
            == NGX_BEACON_OFFSET_OK)
        {
            sodium_memzero(rnd, sizeof(rnd));

            if (ngx_beacon_offset_send_rekey(oc, pub, salt) != 0) {
                return ngx_beacon_offset_close(oc, ev,
                                               NGX_BEACON_OFFSET_EV_ERROR,
                                               NGX_BEACON_OFFSET_COUNT_NONE,
                                               "write error");
            }

            ev->type = NGX_BEACON_OFFSET_EV_REKEY;
            return ev->type;
        }

        sodium_memzero(rnd, sizeof(rnd));
    }

    return NGX_BEACON_OFFSET_NONE;
}


/* one timer per connection, at the nearest of its deadlines */

ngx_beacon_offset_msec_t
ngx_beacon_offset_conn_next(ngx_beacon_offset_conn_t *oc,
    ngx_beacon_offset_msec_t now)
{
    ngx_beacon_offset_msec_t  next;

    next = now + NGX_BEACON_OFFSET_IDLE_TICK;

    if (oc->deadline) {
        next = oc->deadline;
    }

#define NGX_BEACON_OFFSET_NEARER(t)                                          \
    if ((intptr_t) ((t) - next) < 0) { next = (t); }

    if (oc->state != NGX_BEACON_OFFSET_HANDSHAKE) {
        NGX_BEACON_OFFSET_NEARER(oc->last_out + oc->conf->keepalive);

        if (oc->state != NGX_BEACON_OFFSET_HALF) {
            NGX_BEACON_OFFSET_NEARER(oc->last_in + oc->conf->idle_timeout);
        }

        if (oc->rekey_at) {
            NGX_BEACON_OFFSET_NEARER(oc->rekey_at);
        }
    }

#undef NGX_BEACON_OFFSET_NEARER

    if ((intptr_t) (next - now) <= 0) {
        next = now + 1;
    }

    return next;
}


void
ngx_beacon_offset_conn_set(ngx_beacon_offset_conn_t *oc, unsigned state,
    ngx_beacon_offset_msec_t now)
{
    oc->state = state;
    oc->deadline = state == NGX_BEACON_OFFSET_HALF
                   ? now + oc->conf->half_timeout : 0;
}


int
ngx_beacon_offset_conn_incoming(ngx_beacon_offset_conn_t *oc,
    const uint8_t *key, ngx_beacon_offset_msec_t now)
{
    size_t                   n;
    uint8_t                  buf[128];
    ngx_beacon_offset_capnp_conn_t  m;

    if (oc->closed) {
        return -1;
    }

    memcpy(m.public_key, key, NGX_BEACON_OFFSET_PK_LEN);

    n = ngx_beacon_offset_capnp_encode_conn(buf, sizeof(buf), &m);

    if (n == 0) {
        return -1;
    }

    return ngx_beacon_offset_send_user(oc, NGX_BEACON_OFFSET_KA_MESSAGE, buf,
        n, now);
}


int
ngx_beacon_offset_conn_forward(ngx_beacon_offset_conn_t *oc,
    const uint8_t *ka, size_t len, ngx_beacon_offset_msec_t now)
{
    ngx_beacon_offset_capnp_channel_t  cm;

    if (oc->closed) {
        return -1;
    }

    memset(&cm, 0, sizeof(ngx_beacon_offset_capnp_channel_t));
    cm.which = NGX_BEACON_OFFSET_CONTENT_USER;
    cm.user.data = ka;
    cm.user.len = len;

    if (ngx_beacon_offset_conn_seal(oc, &cm) != 0) {
        return -1;
    }

    /* a message sent: the keepalive clock restarts (3.5) */
    oc->last_out = now;

    return 0;
}


static unsigned
ngx_beacon_offset_close(ngx_beacon_offset_conn_t *oc,
    ngx_beacon_offset_ev_t *ev, unsigned type, unsigned count,
    const char *why)
{
    oc->closed = 1;

    ev->type = type;
    ev->count = count;
    ev->why = why;

    return type;
}


/* a handshake frame: plain packed capnp behind the length */

static int
ngx_beacon_offset_raw(ngx_beacon_offset_conn_t *oc, const uint8_t *p,
    size_t len)
{
    uint8_t  *b;

    b = oc->out(oc->out_data, NGX_BEACON_OFFSET_FRAME_HDR_LEN + len);
    if (b == NULL) {
        return -1;
    }

    ngx_beacon_offset_frame_put_len(b, len);
    memcpy(b + NGX_BEACON_OFFSET_FRAME_HDR_LEN, p, len);

    return 0;
}


/* KaMessage{keepAlive | message = p} in a sealed ChannelMessage */

static int
ngx_beacon_offset_send_user(ngx_beacon_offset_conn_t *oc, unsigned ka_which,
    const uint8_t *p, size_t len, ngx_beacon_offset_msec_t now)
{
    size_t                        n;
    ngx_beacon_offset_capnp_ka_t         ka;
    ngx_beacon_offset_capnp_channel_t    cm;
    ngx_beacon_offset_scratch_t  *s;

    s = oc->scratch;

    memset(&ka, 0, sizeof(ngx_beacon_offset_capnp_ka_t));
    ka.which = ka_which;
    ka.message.data = p;
    ka.message.len = len;

    n = ngx_beacon_offset_capnp_encode_ka(s->pack_ka, s->size * 9 / 8 + 256,
        &ka);
    if (n == 0) {
        return -1;
    }

    memset(&cm, 0, sizeof(ngx_beacon_offset_capnp_channel_t));
    cm.which = NGX_BEACON_OFFSET_CONTENT_USER;
    cm.user.data = s->pack_ka;
    cm.user.len = n;

    if (ngx_beacon_offset_conn_seal(oc, &cm) != 0) {
        return -1;
    }

    /*
     * The keepalive clock counts KaMessages only (3.5): a Rekey is a
     * secure-channel frame that a node's keepalive layer never sees.
     */
    oc->last_out = now;

    return 0;
}


static int
ngx_beacon_offset_send_rekey(ngx_beacon_offset_conn_t *oc,
    const uint8_t *pub, const uint8_t *salt)
{
    ngx_beacon_offset_capnp_channel_t  cm;

    memset(&cm, 0, sizeof(ngx_beacon_offset_capnp_channel_t));
    cm.which = NGX_BEACON_OFFSET_CONTENT_REKEY;
    memcpy(cm.dh_public_key, pub, NGX_BEACON_OFFSET_DH_LEN);
    memcpy(cm.key_salt, salt, NGX_BEACON_OFFSET_SALT_LEN);

    return ngx_beacon_offset_conn_seal(oc, &cm);
}


static int
ngx_beacon_offset_conn_seal(ngx_beacon_offset_conn_t *oc,
    const ngx_beacon_offset_capnp_channel_t *cm)
{
    size_t                        n;
    uint8_t                      *b;
    ngx_beacon_offset_capnp_channel_t    m;
    ngx_beacon_offset_scratch_t  *s;

    s = oc->scratch;
    m = *cm;

    /*
     * Our padding is bounded (W6): a uniform length of 0 ..
     * conf->padding bytes.  Its bytes are encrypted with the message, so
     * a slice at a random offset of a random block drawn once per scratch
     * serves (random, so packing cannot shrink them); lengths and offsets
     * come from a random buffer refilled every 512 messages rather than
     * two random calls per message.
     */

    m.rand_padding.data = s->pad;
    m.rand_padding.len = 0;

    if (oc->conf->padding) {
        m.rand_padding.len = ngx_beacon_offset_rand(s)
                             % (oc->conf->padding + 1);
        m.rand_padding.data += ngx_beacon_offset_rand(s)
                               % (NGX_BEACON_OFFSET_PADDING_ACCEPT_MAX + 1);
    }

    n = ngx_beacon_offset_capnp_encode_channel(s->pack_ch,
                                        s->size * 9 / 8 + 256 + 65536, &m);
    if (n == 0) {
        return -1;
    }

    b = oc->out(oc->out_data, NGX_BEACON_OFFSET_FRAME_HDR_LEN + n
                              + NGX_BEACON_OFFSET_FRAME_OVERHEAD);
    if (b == NULL) {
        return -1;
    }

    ngx_beacon_offset_frame_put_len(b, n + NGX_BEACON_OFFSET_FRAME_OVERHEAD);
    (void) ngx_beacon_offset_channel_seal(&oc->ch,
        b + NGX_BEACON_OFFSET_FRAME_HDR_LEN,
                                   s->pack_ch, n);

    return 0;
}


static uint32_t
ngx_beacon_offset_rand(ngx_beacon_offset_scratch_t *s)
{
    if (s->nrnd == 0) {
        s->random(s->random_data, (uint8_t *) s->rnd, sizeof(s->rnd));
        s->nrnd = sizeof(s->rnd) / sizeof(uint32_t);
    }

    return s->rnd[--s->nrnd];
}


static int
ngx_beacon_offset_due(ngx_beacon_offset_msec_t t,
    ngx_beacon_offset_msec_t now)
{
    return (intptr_t) (now - t) >= 0;
}
