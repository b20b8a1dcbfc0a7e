
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * A deterministic test bench around the pure Offset relay connection core
 * (ngx_beacon_offset_conn.c), shared by the fuzz targets offset_handshake
 * and offset_relay, their seed maker and the unit test: a fixed relay
 * identity, a seeded random source, a clock that only moves when told, a
 * stand-in for the nginx glue (it answers Listen, Connect and Accept as
 * the glue would) and a real node that can play its side of the
 * handshake, seal messages and answer rekeys.  Everything the relay sends
 * is checked: whole frames, nothing after a close, and while the node is
 * in step every transport frame opens under the next nonce and decodes.
 * A broken invariant calls abort().
 */


#ifndef _OFFSET_FUZZ_H_INCLUDED_
#define _OFFSET_FUZZ_H_INCLUDED_


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_offset_conn.h"


#define OFZ_OUT_MAX      (1u << 22)
#define OFZ_NOUT_MAX     (1u << 20)
#define OFZ_FRAME_MAX    8192

/*
 * The fuzz targets (OFZ_FAST) allow OFZ_REKEYS rekeys an input (of either
 * side, the fuzzer's own included); 0 is no limit.
 */
#ifdef OFZ_FAST
#define OFZ_REKEYS       4
#else
#define OFZ_REKEYS       0
#endif

/* and at most OFZ_OPS script ops an input (ofz_run); 0 is no limit */
#ifdef OFZ_FAST
#define OFZ_OPS          64
#else
#define OFZ_OPS          0
#endif


typedef struct {
    ngx_beacon_offset_conn_t      oc;
    ngx_beacon_offset_conf_t      conf;
    ngx_beacon_offset_ev_t        ev;

    uint64_t                      rng;
    uint64_t                      now;

    /* what the relay sent, not yet looked at by the node */
    uint8_t                      *out;
    size_t                        out_len;
    size_t                        out_frames;

    /* what the node will send */
    uint8_t                      *nout;
    size_t                        nout_len;

    unsigned                      closed:1;     /* the relay closed */
    unsigned                      synced:1;     /* the node is in step */
    unsigned                      glue_refuse:1;

    /* the node */
    uint8_t                       node_pk[32];
    uint8_t                       node_sk[64];
    uint8_t                       node_nonce[16];
    uint8_t                       relay_nonce[16];
    ngx_beacon_offset_dh_t               node_dh;
    ngx_beacon_offset_channel_t          nch;
    unsigned                      node_step;    /* 0 version .. 3 done */
    unsigned                      relay_frames; /* handshake frames seen */
    unsigned                      have_relay_dh:1;
    unsigned                      chan:1;
    uint8_t                       relay_dh_pub[32];
    uint8_t                       relay_dh_salt[32];

    /* counts, for tests */
    unsigned                      keepalives;
    unsigned                      relay_rekeys;
    unsigned                      rekeys;       /* of either side */
    unsigned                      messages;
    unsigned                      events[16];

    uint8_t                      *scr1;
    uint8_t                      *scr2;

    /* the seed maker: every byte the relay is given */
    uint8_t                      *tap;
    size_t                        tap_len;
    size_t                        tap_cap;
} ofz_t;


static ngx_beacon_offset_scratch_t  ofz_scratch;
static uint8_t  ofz_relay_pk[32];
static uint8_t  ofz_relay_sk[64];
static uint8_t  ofz_node_pk[32];
static uint8_t  ofz_node_sk[64];
static ofz_t   *ofz_cur;


#define OFZ_CHECK(c)                                                        \
    do {                                                                    \
        if (!(c)) {                                                         \
            fprintf(stderr, "offset_fuzz: %s:%d: %s\n", __FILE__, __LINE__, \
                    #c);                                                    \
            abort();                                                        \
        }                                                                   \
    } while (0)


static inline uint64_t
ofz_next(uint64_t *s)
{
    uint64_t  z;

    z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


#ifdef OFZ_FAST

/*
 * The fuzz targets' speed-ups (the unit test and the seed maker do not
 * define OFZ_FAST).  Nearly all the time of an input used to go into
 * X25519 and Ed25519 for the handshake and every rekey, on both sides.
 *
 * Every 64-byte draw (the DH scalar and salt of a handshake, a rekey or a
 * rekey answer, relay's or node's) takes its scalar from a table of
 * OFZ_DH_KEYS fixed scalars, picked by the draw; the salt stays random.
 *
 * And the four libsodium calls the core makes for them are defined here,
 * memoized: the same arguments give the same result as libsodium's
 * (which computes every miss), so the core behaves exactly as with
 * libsodium, only the repeated scalar multiplications and signatures are
 * not done again.  Arguments never seen before (a point from the fuzzer)
 * are computed as usual.
 */

#define OFZ_DH_KEYS      8
#define OFZ_MEMO_SLOTS   1024

typedef struct {
    uint8_t   key[176];
    uint8_t   val[64];
    int       rc;
    unsigned  used;
} ofz_memo_t;

static uint8_t     ofz_dh_keys[OFZ_DH_KEYS][32];
static unsigned    ofz_dh_keys_ready;
static ofz_memo_t  ofz_memo[4][OFZ_MEMO_SLOTS];
static uint64_t    ofz_memo_hits, ofz_memo_misses;


static ofz_memo_t *
ofz_memo_find(unsigned fn, const uint8_t *key, size_t len, int *hit)
{
    size_t       i;
    uint64_t     h;
    ofz_memo_t  *e;

    h = 0xcbf29ce484222325ULL;

    for (i = 0; i < len; i++) {
        h = (h ^ key[i]) * 0x100000001b3ULL;
    }

    e = &ofz_memo[fn][(h ^ (h >> 29)) % OFZ_MEMO_SLOTS];

    *hit = e->used && memcmp(e->key, key, len) == 0;

    if (*hit) {
        ofz_memo_hits++;

    } else {
        ofz_memo_misses++;
        memcpy(e->key, key, len);
        e->used = 1;
    }

    return e;
}


int
crypto_scalarmult(unsigned char *q, const unsigned char *n,
    const unsigned char *p)
{
    int          hit;
    uint8_t      key[64];
    ofz_memo_t  *e;

    memcpy(key, n, 32);
    memcpy(key + 32, p, 32);

    e = ofz_memo_find(0, key, sizeof(key), &hit);

    if (!hit) {
        e->rc = crypto_scalarmult_curve25519(e->val, n, p);
    }

    memcpy(q, e->val, 32);

    return e->rc;
}


int
crypto_scalarmult_base(unsigned char *q, const unsigned char *n)
{
    int          hit;
    ofz_memo_t  *e;

    e = ofz_memo_find(1, n, 32, &hit);

    if (!hit) {
        e->rc = crypto_scalarmult_curve25519_base(e->val, n);
    }

    memcpy(q, e->val, 32);

    return e->rc;
}


int
crypto_sign_detached(unsigned char *sig, unsigned long long *siglen_p,
    const unsigned char *m, unsigned long long mlen, const unsigned char *sk)
{
    int          hit;
    uint8_t      key[176];
    ofz_memo_t  *e;

    if (mlen > sizeof(key) - 64) {
        return crypto_sign_ed25519_detached(sig, siglen_p, m, mlen, sk);
    }

    memcpy(key, sk, 64);
    memcpy(key + 64, m, mlen);

    e = ofz_memo_find(2, key, 64 + mlen, &hit);

    if (!hit) {
        e->rc = crypto_sign_ed25519_detached(e->val, NULL, m, mlen, sk);
    }

    memcpy(sig, e->val, 64);

    if (siglen_p) {
        *siglen_p = 64;
    }

    return e->rc;
}


int
crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,
    unsigned long long mlen, const unsigned char *pk)
{
    int          hit;
    uint8_t      key[176];
    ofz_memo_t  *e;

    if (mlen > sizeof(key) - 96) {
        return crypto_sign_ed25519_verify_detached(sig, m, mlen, pk);
    }

    memcpy(key, sig, 64);
    memcpy(key + 64, pk, 32);
    memcpy(key + 96, m, mlen);

    e = ofz_memo_find(3, key, 96 + mlen, &hit);

    if (!hit) {
        e->rc = crypto_sign_ed25519_verify_detached(sig, m, mlen, pk);
    }

    return e->rc;
}

#endif


static inline void
ofz_random(void *data, uint8_t *buf, size_t len)
{
    uint64_t  *s = data, r = 0;
    size_t     i;

    for (i = 0; i < len; i++) {
        if (i % 8 == 0) {
            r = ofz_next(s);
        }

        buf[i] = (uint8_t) (r >> (8 * (i % 8)));
    }

#ifdef OFZ_FAST

    if (len == 64) {
        /* a DH scalar and salt: the scalar from the table */

        if (!ofz_dh_keys_ready) {
            for (i = 0; i < OFZ_DH_KEYS; i++) {
                memset(ofz_dh_keys[i], 0x30 + (int) i, 32);
                ofz_dh_keys[i][0] = (uint8_t) (0x11 * i + 1);
            }

            ofz_dh_keys_ready = 1;
        }

        memcpy(buf, ofz_dh_keys[buf[0] % OFZ_DH_KEYS], 32);
    }

#endif
}


static uint64_t  ofz_scratch_rng = 1;


static inline uint8_t *
ofz_out(void *data, size_t len)
{
    ofz_t  *f = data;

    /* nothing leaves a closed connection */
    OFZ_CHECK(!f->closed);
    OFZ_CHECK(len >= 8 && f->out_len + len <= OFZ_OUT_MAX);

    f->out_len += len;
    f->out_frames++;

    return f->out + f->out_len - len;
}


static inline void
ofz_global_init(void)
{
    uint8_t  seed[32];

    if (ofz_scratch.size) {
        return;
    }

    if (ngx_beacon_offset_crypto_init() != 0) {
        abort();
    }

    memset(seed, 0x52, sizeof(seed));
    crypto_sign_seed_keypair(ofz_relay_pk, ofz_relay_sk, seed);

    memset(seed, 0x4e, sizeof(seed));
    crypto_sign_seed_keypair(ofz_node_pk, ofz_node_sk, seed);

    if (ngx_beacon_offset_scratch_init(&ofz_scratch, OFZ_FRAME_MAX,
                                       ofz_random, &ofz_scratch_rng)
        != 0)
    {
        abort();
    }
}


/* a fresh bench on the buffers of an earlier one (ofz_init) */

static inline void
ofz_reset(ofz_t *f, uint64_t seed, size_t padding, uint64_t rekey)
{
    uint8_t  *out, *nout, *scr1, *scr2;

    out = f->out;
    nout = f->nout;
    scr1 = f->scr1;
    scr2 = f->scr2;

    memset(f, 0, sizeof(ofz_t));

    f->out = out;
    f->nout = nout;
    f->scr1 = scr1;
    f->scr2 = scr2;

    f->rng = seed;
    ofz_scratch_rng = seed ^ 0x5a5a;
    ofz_scratch.nrnd = 0;
    f->now = 1000;

    f->conf.pk = ofz_relay_pk;
    f->conf.sk = ofz_relay_sk;
    f->conf.frame_max = OFZ_FRAME_MAX;
    f->conf.padding = padding;
    f->conf.handshake_timeout = 8000;
    f->conf.init_timeout = 4000;
    f->conf.keepalive = 16000;
    f->conf.idle_timeout = 32000;
    f->conf.half_timeout = 32000;
    f->conf.rekey_interval = rekey;

    memcpy(f->node_pk, ofz_node_pk, 32);
    memcpy(f->node_sk, ofz_node_sk, 64);

    f->synced = 1;

    ngx_beacon_offset_conn_init(&f->oc, &f->conf, &ofz_scratch, ofz_out, f,
                                f->now);
    ofz_cur = f;
}


static inline void
ofz_init(ofz_t *f, uint64_t seed, size_t padding, uint64_t rekey)
{
    ofz_global_init();

    f->out = malloc(OFZ_OUT_MAX);
    f->nout = malloc(OFZ_NOUT_MAX);
    f->scr1 = malloc(ofz_scratch.size);
    f->scr2 = malloc(ofz_scratch.size);

    if (f->out == NULL || f->nout == NULL || f->scr1 == NULL
        || f->scr2 == NULL)
    {
        abort();
    }

    ofz_reset(f, seed, padding, rekey);
}


static inline void
ofz_free(ofz_t *f)
{
    ngx_beacon_offset_conn_free(&f->oc);
    free(f->out);
    free(f->nout);
    free(f->scr1);
    free(f->scr2);
}


/*
 * One more rekey.  Once the budget is spent, the node starts none (op 7
 * sends a keepalive instead), the fuzzer's sealed Rekeys are dropped and
 * the relay's rekey timer is pushed out of reach; the relay's next due
 * rekey still comes and is answered.
 */

static inline void
ofz_rekey_spent(ofz_t *f)
{
    f->rekeys++;

#if OFZ_REKEYS
    if (f->rekeys >= OFZ_REKEYS && f->conf.rekey_interval) {
        f->conf.rekey_interval = (ngx_beacon_offset_msec_t) 1 << 40;
    }
#endif
}


static inline int
ofz_rekey_left(ofz_t *f)
{
#if OFZ_REKEYS
    return f->rekeys < OFZ_REKEYS;
#else
    (void) f;
    return 1;
#endif
}


/* the node's sending side */

static inline void
ofz_node_frame(ofz_t *f, const uint8_t *p, size_t len)
{
    if (f->nout_len + 8 + len > OFZ_NOUT_MAX) {
        return;
    }

    ngx_beacon_offset_frame_put_len(f->nout + f->nout_len, len);
    memcpy(f->nout + f->nout_len + 8, p, len);
    f->nout_len += 8 + len;
}


static inline void
ofz_node_raw(ofz_t *f, const uint8_t *p, size_t len)
{
    if (f->nout_len + len > OFZ_NOUT_MAX) {
        return;
    }

    memcpy(f->nout + f->nout_len, p, len);
    f->nout_len += len;
}


/* a sealed frame with plain as the ChannelMessage bytes */

static inline void
ofz_node_sealed(ofz_t *f, const uint8_t *plain, size_t len)
{
    size_t  n;

    if (!f->chan || f->nout_len + 8 + len + 28 > OFZ_NOUT_MAX) {
        return;
    }

    ngx_beacon_offset_frame_put_len(f->nout + f->nout_len, len + 28);
    n = ngx_beacon_offset_channel_seal(&f->nch, f->nout + f->nout_len + 8,
        plain,
                                len);
    f->nout_len += 8 + n;
}


static inline void
ofz_node_channel(ofz_t *f, ngx_beacon_offset_capnp_channel_t *cm,
    size_t padlen)
{
    uint8_t  pad[256], *buf;
    size_t   n, cap;

    memset(pad, 0xa5, sizeof(pad));
    cm->rand_padding.data = pad;
    cm->rand_padding.len = padlen > sizeof(pad) ? sizeof(pad) : padlen;

    cap = cm->user.len * 2 + 1024;
    buf = malloc(cap);
    if (buf == NULL) {
        abort();
    }

    n = ngx_beacon_offset_capnp_encode_channel(buf, cap, cm);
    OFZ_CHECK(n > 0);

    ofz_node_sealed(f, buf, n);
    free(buf);
}


/* KaMessage{keepAlive} (m == NULL) or KaMessage{message = m} */

static inline void
ofz_node_ka(ofz_t *f, const uint8_t *m, size_t len, size_t padlen)
{
    uint8_t                     *buf;
    size_t                       n, cap;
    ngx_beacon_offset_capnp_ka_t        ka;
    ngx_beacon_offset_capnp_channel_t   cm;

    memset(&ka, 0, sizeof(ka));
    ka.which =
        m ? NGX_BEACON_OFFSET_KA_MESSAGE : NGX_BEACON_OFFSET_KA_KEEPALIVE;
    ka.message.data = m ? m : (const uint8_t *) "";
    ka.message.len = m ? len : 0;

    cap = len * 2 + 256;
    buf = malloc(cap);
    if (buf == NULL) {
        abort();
    }

    n = ngx_beacon_offset_capnp_encode_ka(buf, cap, &ka);
    OFZ_CHECK(n > 0);

    memset(&cm, 0, sizeof(cm));
    cm.which = NGX_BEACON_OFFSET_CONTENT_USER;
    cm.user.data = buf;
    cm.user.len = n;

    ofz_node_channel(f, &cm, padlen);
    free(buf);
}


static inline void
ofz_node_init_msg(ofz_t *f, unsigned which, const uint8_t *key)
{
    uint8_t                  buf[128];
    size_t                   n;
    ngx_beacon_offset_capnp_init_t  in;

    memset(&in, 0, sizeof(in));
    in.which = which;

    if (key) {
        memcpy(in.public_key, key, 32);
    }

    n = ngx_beacon_offset_capnp_encode_init(buf, sizeof(buf), &in);
    OFZ_CHECK(n > 0);

    ofz_node_ka(f, buf, n, 0);
}


static inline void
ofz_node_reject(ofz_t *f, const uint8_t *key)
{
    uint8_t                  buf[128];
    size_t                   n;
    ngx_beacon_offset_capnp_conn_t  rj;

    memcpy(rj.public_key, key, 32);

    n = ngx_beacon_offset_capnp_encode_conn(buf, sizeof(buf), &rj);
    OFZ_CHECK(n > 0);

    ofz_node_ka(f, buf, n, 0);
}


static inline void
ofz_node_rekey_msg(ofz_t *f, const uint8_t *pub, const uint8_t *salt)
{
    ngx_beacon_offset_capnp_channel_t  cm;

    memset(&cm, 0, sizeof(cm));
    cm.which = NGX_BEACON_OFFSET_CONTENT_REKEY;
    memcpy(cm.dh_public_key, pub, 32);
    memcpy(cm.key_salt, salt, 32);

    ofz_node_channel(f, &cm, 0);
}


static inline void
ofz_node_rekey(ofz_t *f)
{
    uint8_t  pub[32], salt[32], rnd[64];

    if (!f->chan) {
        return;
    }

    ofz_random(&f->rng, rnd, sizeof(rnd));

    if (ngx_beacon_offset_channel_rekey_start(&f->nch, pub, salt, rnd,
        rnd + 32)
        == NGX_BEACON_OFFSET_OK)
    {
        ofz_node_rekey_msg(f, pub, salt);
    }
}


static inline void
ofz_node_derive(ofz_t *f)
{
    uint8_t  sk[32], rk[32];

    if (f->chan || !f->have_relay_dh || f->node_step < 3) {
        return;
    }

    if (ngx_beacon_offset_derive_keys(sk, rk, &f->node_dh, f->relay_dh_pub,
                               f->relay_dh_salt)
        != NGX_BEACON_OFFSET_OK)
    {
        f->synced = 0;
        return;
    }

    ngx_beacon_offset_channel_init(&f->nch, sk, rk);
    f->chan = 1;
}


/* the next handshake message of a well-behaved node */

static inline void
ofz_node_hs_next(ofz_t *f)
{
    uint8_t                  buf[512], ver[12], rnd[64];
    size_t                   n;
    ngx_beacon_offset_capnp_dh_t    dh;
    ngx_beacon_offset_capnp_ern_t   ern;

    switch (f->node_step) {

    case 0:
        ngx_beacon_offset_version_frame(ver);
        ofz_node_raw(f, ver, sizeof(ver));
        f->node_step = 1;
        break;

    case 1:
        ofz_random(&f->rng, f->node_nonce, sizeof(f->node_nonce));

        memset(&ern, 0, sizeof(ern));
        memcpy(ern.rand_nonce, f->node_nonce, 16);
        memcpy(ern.src_public_key, f->node_pk, 32);
        ern.has_dest = 1;
        memcpy(ern.dest_public_key, ofz_relay_pk, 32);

        n = ngx_beacon_offset_capnp_encode_ern(buf, sizeof(buf), &ern);
        OFZ_CHECK(n > 0);
        ofz_node_frame(f, buf, n);
        f->node_step = 2;
        break;

    case 2:
        if (f->relay_frames < 2) {
            /* a node answers the relay's ExchangeRandNonce */
            return;
        }

        ofz_random(&f->rng, rnd, sizeof(rnd));
        ngx_beacon_offset_dh_init(&f->node_dh, rnd, rnd + 32);

        memset(&dh, 0, sizeof(dh));
        memcpy(dh.dh_public_key, f->node_dh.pub, 32);
        memcpy(dh.rand_nonce, f->relay_nonce, 16);
        memcpy(dh.key_salt, f->node_dh.salt, 32);
        ngx_beacon_offset_dh_sign(dh.signature, f->node_sk, f->node_dh.pub,
                           f->relay_nonce, f->node_dh.salt);

        n = ngx_beacon_offset_capnp_encode_dh(buf, sizeof(buf), &dh);
        OFZ_CHECK(n > 0);
        ofz_node_frame(f, buf, n);
        f->node_step = 3;
        ofz_node_derive(f);
        break;
    }
}


/* the node reads one frame the relay sent */

static inline void
ofz_node_recv(ofz_t *f, uint8_t *p, size_t len)
{
    int                         rc;
    size_t                      plen;
    uint8_t                     pub[32], salt[32], rnd[64];
    ngx_beacon_offset_capnp_ka_t       ka;
    ngx_beacon_offset_capnp_dh_t       dh;
    ngx_beacon_offset_capnp_ern_t      ern;
    ngx_beacon_offset_capnp_msg_t      msg;
    ngx_beacon_offset_capnp_channel_t  cm;

    if (f->relay_frames < 3) {
        /* the relay's version, ExchangeRandNonce, ExchangeDh */

        switch (f->relay_frames++) {

        case 0:
            OFZ_CHECK(ngx_beacon_offset_version_check(p,
                len) == NGX_BEACON_OFFSET_OK);
            return;

        case 1:
            rc = ngx_beacon_offset_capnp_read_packed(&msg, p, len, f->scr1,
                                              ofz_scratch.size, NULL);
            OFZ_CHECK(rc == 0);
            OFZ_CHECK(ngx_beacon_offset_capnp_decode_ern(&msg, &ern) == 0);
            OFZ_CHECK(memcmp(ern.src_public_key, ofz_relay_pk, 32) == 0);
            memcpy(f->relay_nonce, ern.rand_nonce, 16);
            return;

        default:
            rc = ngx_beacon_offset_capnp_read_packed(&msg, p, len, f->scr1,
                                              ofz_scratch.size, NULL);
            OFZ_CHECK(rc == 0);
            OFZ_CHECK(ngx_beacon_offset_capnp_decode_dh(&msg, &dh) == 0);

            if (f->synced) {
                OFZ_CHECK(f->node_step >= 2);
                OFZ_CHECK(memcmp(dh.rand_nonce, f->node_nonce, 16) == 0);
                OFZ_CHECK(ngx_beacon_offset_dh_verify(dh.signature,
                    ofz_relay_pk,
                                               dh.dh_public_key,
                                               f->node_nonce, dh.key_salt)
                          == NGX_BEACON_OFFSET_OK);
            }

            memcpy(f->relay_dh_pub, dh.dh_public_key, 32);
            memcpy(f->relay_dh_salt, dh.key_salt, 32);
            f->have_relay_dh = 1;
            ofz_node_derive(f);
            return;
        }
    }

    /* a transport frame */

    OFZ_CHECK(len >= 28);

    if (!f->synced || !f->chan) {
        return;
    }

    rc = ngx_beacon_offset_channel_open(&f->nch, p + 12, &plen, p, len);
    OFZ_CHECK(rc == NGX_BEACON_OFFSET_OK);     /* right key, next nonce */

    rc = ngx_beacon_offset_capnp_read_packed(&msg, p + 12, plen, f->scr1,
                                      ofz_scratch.size, NULL);
    OFZ_CHECK(rc == 0);
    OFZ_CHECK(ngx_beacon_offset_capnp_decode_channel(&msg, &cm) == 0);
    OFZ_CHECK(cm.rand_padding.len <= f->conf.padding);

    if (cm.which == NGX_BEACON_OFFSET_CONTENT_REKEY) {
        f->relay_rekeys++;
        ofz_rekey_spent(f);
        ofz_random(&f->rng, rnd, sizeof(rnd));

        rc = ngx_beacon_offset_channel_rekey_recv(&f->nch, cm.dh_public_key,
                                           cm.key_salt, pub, salt, rnd,
                                           rnd + 32);
        OFZ_CHECK(rc == NGX_BEACON_OFFSET_REKEY_RESPOND
                  || rc == NGX_BEACON_OFFSET_REKEY_DONE);

        if (rc == NGX_BEACON_OFFSET_REKEY_RESPOND) {
            ofz_node_rekey_msg(f, pub, salt);
        }

        return;
    }

    rc = ngx_beacon_offset_capnp_read_packed(&msg, cm.user.data, cm.user.len,
                                      f->scr2, ofz_scratch.size, NULL);
    OFZ_CHECK(rc == 0);
    OFZ_CHECK(ngx_beacon_offset_capnp_decode_ka(&msg, &ka) == 0);

    if (ka.which == NGX_BEACON_OFFSET_KA_KEEPALIVE) {
        f->keepalives++;

    } else {
        f->messages++;
    }
}


/* the relay's output so far, frame by frame */

static inline void
ofz_drain(ofz_t *f)
{
    size_t    pos;
    uint64_t  len;

    pos = 0;

    while (pos < f->out_len) {
        OFZ_CHECK(f->out_len - pos >= 8);
        OFZ_CHECK(ngx_beacon_offset_frame_get_len(f->out + pos, 8, OFZ_OUT_MAX,
                                           &len)
                  == NGX_BEACON_OFFSET_OK);
        OFZ_CHECK(len <= f->out_len - pos - 8);

        ofz_node_recv(f, f->out + pos + 8, (size_t) len);
        pos += 8 + (size_t) len;
    }

    f->out_len = 0;
}


/* the glue's part: what nginx does with each event */

static inline void
ofz_event(ofz_t *f, unsigned type, unsigned state_before)
{
    ngx_beacon_offset_ev_t  *ev = &f->ev;

    OFZ_CHECK(type == ev->type);
    OFZ_CHECK(type < 16);
    f->events[type]++;

    switch (type) {

    case NGX_BEACON_OFFSET_NONE:
        break;

    case NGX_BEACON_OFFSET_EV_HANDSHAKE:
        OFZ_CHECK(state_before == NGX_BEACON_OFFSET_HANDSHAKE);
        OFZ_CHECK(f->oc.state == NGX_BEACON_OFFSET_INIT);

        if (f->synced) {
            OFZ_CHECK(memcmp(f->oc.peer_pk, f->node_pk, 32) == 0);
        }

        break;

    case NGX_BEACON_OFFSET_EV_LISTEN:
    case NGX_BEACON_OFFSET_EV_CONNECT:
    case NGX_BEACON_OFFSET_EV_ACCEPT:
        OFZ_CHECK(state_before == NGX_BEACON_OFFSET_INIT);

        if (f->glue_refuse) {
            /* the registry said no: the glue closes */
            f->closed = 1;
            break;
        }

        ngx_beacon_offset_conn_set(&f->oc,
                                   type == NGX_BEACON_OFFSET_EV_LISTEN
                                   ? NGX_BEACON_OFFSET_LISTEN
                                   : type == NGX_BEACON_OFFSET_EV_CONNECT
                                   ? NGX_BEACON_OFFSET_HALF
                                   : NGX_BEACON_OFFSET_TUNNEL, f->now);
        break;

    case NGX_BEACON_OFFSET_EV_REJECT:
        OFZ_CHECK(state_before == NGX_BEACON_OFFSET_LISTEN);
        break;

    case NGX_BEACON_OFFSET_EV_MESSAGE:
        OFZ_CHECK(state_before == NGX_BEACON_OFFSET_TUNNEL);
        OFZ_CHECK(ev->data != NULL || ev->len == 0);
        OFZ_CHECK(ev->msg_len <= ofz_scratch.size);   /* unpacked */
        break;

    case NGX_BEACON_OFFSET_EV_REKEY:
        OFZ_CHECK(state_before != NGX_BEACON_OFFSET_HANDSHAKE);
        break;

    case NGX_BEACON_OFFSET_EV_CLOSE:
    case NGX_BEACON_OFFSET_EV_ERROR:
        OFZ_CHECK(ev->why != NULL);
        OFZ_CHECK(f->oc.closed);
        f->closed = 1;
        break;

    default:
        abort();
    }
}


/*
 * Hands the relay n bytes (or the node's whole output) in reads whose
 * sizes come from sz (cycled; 0 = as much as the relay wants).
 */

static inline void
ofz_feed(ofz_t *f, const uint8_t *p, size_t n, const uint8_t *sz,
    size_t nsz)
{
    size_t     used, want, k, i;
    uint8_t   *dst;
    unsigned   type, before;

    used = 0;
    i = 0;

    while (used < n && !f->closed) {

        if (f->oc.state == NGX_BEACON_OFFSET_HALF) {
            /* the glue does not read a pending Connect */
            break;
        }

        OFZ_CHECK(ngx_beacon_offset_conn_want(&f->oc, &dst, &want) == 0);
        OFZ_CHECK(want > 0);

        k = n - used;

        if (nsz && sz[i % nsz]) {
            k = k < sz[i % nsz] ? k : sz[i % nsz];
        }

        i++;

        k = k < want ? k : want;

        memcpy(dst, p + used, k);
        used += k;

        if (f->tap && f->tap_len + k <= f->tap_cap) {
            memcpy(f->tap + f->tap_len, dst, k);
            f->tap_len += k;
        }

        before = f->oc.state;
        type = ngx_beacon_offset_conn_got(&f->oc, k, &f->ev, f->now);
        ofz_event(f, type, before);
        ofz_drain(f);
    }
}


/* the node's queued output to the relay, and answers to what comes back */

static inline void
ofz_deliver(ofz_t *f, const uint8_t *sz, size_t nsz)
{
    uint8_t  *buf;
    size_t    n;
    int       rounds;

    for (rounds = 0; f->nout_len && rounds < 8; rounds++) {
        n = f->nout_len;
        buf = malloc(n);
        if (buf == NULL) {
            abort();
        }

        memcpy(buf, f->nout, n);
        f->nout_len = 0;

        ofz_feed(f, buf, n, sz, nsz);
        free(buf);

        if (f->closed || f->oc.state == NGX_BEACON_OFFSET_HALF) {
            f->nout_len = 0;
            break;
        }
    }
}


/* the clock moves by ms; every timer due meanwhile fires in order */

static inline void
ofz_advance(ofz_t *f, uint64_t ms)
{
    uint64_t  end, next;
    unsigned  type, before;
    int       guard;

    end = f->now + ms;

    for (guard = 0; !f->closed && guard < 10000; guard++) {
        next = ngx_beacon_offset_conn_next(&f->oc, f->now);
        OFZ_CHECK((intptr_t) (next - f->now) > 0);

        if (next > end) {
            break;
        }

        f->now = next;

        before = f->oc.state;
        type = ngx_beacon_offset_conn_tick(&f->oc, &f->ev, f->now);
        ofz_event(f, type, before);
        ofz_drain(f);

        if (!f->closed && f->oc.state != NGX_BEACON_OFFSET_HANDSHAKE) {
            /* a keepalive is never overdue after a tick */
            OFZ_CHECK((intptr_t) (f->oc.last_out + f->conf.keepalive
                                  - f->now) > 0);
        }
    }

    if (!f->closed) {
        f->now = end;
    }
}


/* a whole handshake by a well-behaved node */

static inline int
ofz_handshake(ofz_t *f)
{
    OFZ_CHECK(ngx_beacon_offset_conn_start(&f->oc, f->now) == 0);
    ofz_drain(f);

    ofz_node_hs_next(f);
    ofz_node_hs_next(f);
    ofz_deliver(f, NULL, 0);
    ofz_node_hs_next(f);
    ofz_deliver(f, NULL, 0);

    return f->chan && f->oc.state == NGX_BEACON_OFFSET_INIT && !f->closed;
}


/*
 * The fuzz script: op bytes with their arguments, until the input ends;
 * a length L is two bytes, lo | (hi & 7) << 8.
 *
 *   0  the node's next handshake message, delivered in reads of sizes s1 s2
 *   1  s1, then L bytes, raw, straight to the relay in reads of s1 (the
 *      node is out of step)
 *   2  L bytes as one frame (out of step)
 *   3  L bytes as a ChannelMessage sealed with the node's key
 *      (dropped if it is a Rekey and the budget is spent)
 *   4  the clock moves by (a << 8 | b) * 4 ms
 *   5  KaMessage{message = L bytes} with a bytes of padding
 *   6  KaMessage{keepAlive}
 *   7  the node starts a rekey (a keepalive once the budget is spent)
 *   8  InitConnection: which = a % 3, key = a / 3 % 3 (node, relay, b b..)
 *   9  RejectConnection{b..}
 *  10  the glue refuses (a & 1) or allows the next Listen/Connect/Accept
 *  11  the glue: IncomingConnection{b..} to a listener
 *  12  the glue: KaMessage{message = L bytes} from the other tunnel side
 *  13  the node's queued output, in reads of sizes s1 s2
 */

static inline void
ofz_run(ofz_t *f, const uint8_t *d, size_t n)
{
    uint8_t                      key[32], sz[2], *buf;
    size_t                       i, l, cap, k;
    unsigned                     op, a, ops;
    ngx_beacon_offset_capnp_msg_t       msg;
    ngx_beacon_offset_capnp_ka_t        ka;
    ngx_beacon_offset_capnp_channel_t   cm;

#define OFZ_BYTE()  (i < n ? d[i++] : 0)
#define OFZ_LEN()   do { l = OFZ_BYTE(); l |= (size_t) (OFZ_BYTE() & 7) << 8;  \
                         if (l > n - i) { l = n - i; } } while (0)

    i = 0;
    sz[0] = 0;
    sz[1] = 0;

    for (ops = 0; i < n && !f->closed; ops++) {

#if OFZ_OPS
        if (ops >= OFZ_OPS) {
            break;
        }
#endif

        op = OFZ_BYTE() % 14;

        switch (op) {

        case 0:
            sz[0] = OFZ_BYTE();
            sz[1] = OFZ_BYTE();
            ofz_node_hs_next(f);
            ofz_deliver(f, sz, 2);
            break;

        case 1:
            sz[0] = OFZ_BYTE();
            OFZ_LEN();
            f->synced = 0;
            ofz_feed(f, d + i, l, sz, 1);
            i += l;
            break;

        case 2:
            OFZ_LEN();
            f->synced = 0;
            ofz_node_frame(f, d + i, l);
            i += l;
            ofz_deliver(f, sz, 2);
            break;

        case 3:
            OFZ_LEN();

            if (ngx_beacon_offset_capnp_read_packed(&msg, d + i, l, f->scr1,
                                             ofz_scratch.size, NULL)
                == 0
                && ngx_beacon_offset_capnp_decode_channel(&msg, &cm) == 0
                && cm.which == NGX_BEACON_OFFSET_CONTENT_REKEY)
            {
                if (!ofz_rekey_left(f)) {
                    i += l;
                    break;
                }

                /* a Rekey the node cannot follow */
                ofz_rekey_spent(f);
                f->synced = 0;
            }

            ofz_node_sealed(f, d + i, l);
            i += l;
            ofz_deliver(f, sz, 2);
            break;

        case 4:
            a = OFZ_BYTE();
            a = a << 8 | OFZ_BYTE();
            ofz_advance(f, (uint64_t) a * 4);
            ofz_deliver(f, sz, 2);
            break;

        case 5:
            a = OFZ_BYTE();
            OFZ_LEN();
            ofz_node_ka(f, d + i, l, a);
            i += l;
            ofz_deliver(f, sz, 2);
            break;

        case 6:
            ofz_node_ka(f, NULL, 0, OFZ_BYTE());
            ofz_deliver(f, sz, 2);
            break;

        case 7:
            if (!ofz_rekey_left(f)) {
                ofz_node_ka(f, NULL, 0, 0);

            } else if (f->chan) {
                ofz_rekey_spent(f);
                ofz_node_rekey(f);
            }

            ofz_deliver(f, sz, 2);
            break;

        case 8:
            a = OFZ_BYTE();

            switch (a / 3 % 3) {
            case 0:
                memcpy(key, f->node_pk, 32);
                break;
            case 1:
                memcpy(key, ofz_relay_pk, 32);
                break;
            default:
                memset(key, OFZ_BYTE(), 32);
            }

            ofz_node_init_msg(f, a % 3, key);
            ofz_deliver(f, sz, 2);
            break;

        case 9:
            memset(key, OFZ_BYTE(), 32);
            ofz_node_reject(f, key);
            ofz_deliver(f, sz, 2);
            break;

        case 10:
            f->glue_refuse = OFZ_BYTE() & 1;
            break;

        case 11:
            memset(key, OFZ_BYTE(), 32);

            if (f->oc.state == NGX_BEACON_OFFSET_LISTEN) {
                OFZ_CHECK(ngx_beacon_offset_conn_incoming(&f->oc, key,
                                                          f->now)
                          == 0);
                ofz_drain(f);
                ofz_deliver(f, sz, 2);
            }

            break;

        case 12:
            OFZ_LEN();

            if (f->oc.state == NGX_BEACON_OFFSET_TUNNEL) {
                memset(&ka, 0, sizeof(ka));
                ka.which = NGX_BEACON_OFFSET_KA_MESSAGE;
                ka.message.data = d + i;
                ka.message.len = l;

                cap = l * 2 + 256;
                buf = malloc(cap);
                if (buf == NULL) {
                    abort();
                }

                k = ngx_beacon_offset_capnp_encode_ka(buf, cap, &ka);
                OFZ_CHECK(k > 0);
                OFZ_CHECK(ngx_beacon_offset_conn_forward(&f->oc, buf, k,
                                                         f->now)
                          == 0);
                free(buf);
                ofz_drain(f);
                ofz_deliver(f, sz, 2);
            }

            i += l;
            break;

        default:
            sz[0] = OFZ_BYTE();
            sz[1] = OFZ_BYTE();
            ofz_deliver(f, sz, 2);
            break;
        }
    }

#undef OFZ_BYTE
#undef OFZ_LEN
}


#endif /* _OFFSET_FUZZ_H_INCLUDED_ */
