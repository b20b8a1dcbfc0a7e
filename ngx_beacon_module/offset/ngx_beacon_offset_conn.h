
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The pure core of one Offset relay connection: no nginx types, no
 * syscalls.  Received bytes and timer ticks go in (the clock as a now-ms
 * argument, randomness through a callback), actions come out: bytes to
 * send (through an output callback), "listen", "connect to K", "accept
 * K", "reject K", "message to forward", "close with reason", and the time
 * of the next timer.  The framing, the version prefix, the secure channel
 * as responder with rekeys, the keepalive layer and the relay protocol's
 * message decoding live here (spec offset-relay.md 3.2 - 3.6); the nginx
 * glue (ngx_stream_beacon_offset_module.c) and the fuzz harnesses drive
 * this same code.  Pairing, registries, workers and sockets stay in the
 * glue, which tells the core what it decided (ngx_beacon_offset_conn_set).
 */


#ifndef _NGX_BEACON_OFFSET_CONN_H_INCLUDED_
#define _NGX_BEACON_OFFSET_CONN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_beacon_offset_capnp.h"
#include "ngx_beacon_offset_crypto.h"


#define NGX_BEACON_OFFSET_PREAUTH_MAX   4096   /* frame cap before auth */
#define NGX_BEACON_OFFSET_FRAME_CACHE   65536  /* kept between frames */

/* connection states */
#define NGX_BEACON_OFFSET_HANDSHAKE     0
#define NGX_BEACON_OFFSET_INIT          1
#define NGX_BEACON_OFFSET_LISTEN        2
#define NGX_BEACON_OFFSET_HALF          3
#define NGX_BEACON_OFFSET_TUNNEL        4
#define NGX_BEACON_OFFSET_GONE          5

/* handshake steps */
#define NGX_BEACON_OFFSET_HS_VERSION    0
#define NGX_BEACON_OFFSET_HS_ERN        1
#define NGX_BEACON_OFFSET_HS_DH         2

/* what ngx_beacon_offset_conn_got() and _tick() report */
#define NGX_BEACON_OFFSET_NONE          0   /* nothing: read on */
#define NGX_BEACON_OFFSET_EV_HANDSHAKE  1   /* channel open, now INIT */
#define NGX_BEACON_OFFSET_EV_LISTEN     2
#define NGX_BEACON_OFFSET_EV_CONNECT    3   /* to conn->target */
#define NGX_BEACON_OFFSET_EV_ACCEPT     4   /* conn->target's Connect */
#define NGX_BEACON_OFFSET_EV_REJECT     5   /* ev->key */
#define NGX_BEACON_OFFSET_EV_MESSAGE    6   /* tunnel: ev->data, ev->len */
#define NGX_BEACON_OFFSET_EV_REKEY      7   /* a rekey answered or begun */
#define NGX_BEACON_OFFSET_EV_CLOSE      8   /* ev->why, ev->count */
#define NGX_BEACON_OFFSET_EV_ERROR      9   /* out of memory, encoding */

/* which counter a close adds to */
#define NGX_BEACON_OFFSET_COUNT_NONE    0
#define NGX_BEACON_OFFSET_COUNT_BAD     1   /* bad_frames */
#define NGX_BEACON_OFFSET_COUNT_TIMEOUT 2   /* timeouts */
#define NGX_BEACON_OFFSET_COUNT_EXPIRED 3   /* expired (half-tunnels) */


typedef uintptr_t  ngx_beacon_offset_msec_t;

/* len bytes of space at the end of the connection's output, or NULL */
typedef uint8_t *(*ngx_beacon_offset_out_pt)(void *data, size_t len);
/* len random bytes */
typedef void (*ngx_beacon_offset_random_pt)(void *data, uint8_t *buf,
    size_t len);


/* per worker (or per harness): decode and encode buffers, padding */
typedef struct {
    size_t                        size;
    uint8_t                      *unpack_ch;
    uint8_t                      *unpack_ka;
    uint8_t                      *pack_ka;
    uint8_t                      *pack_ch;
    uint8_t                       pad[2 * NGX_BEACON_OFFSET_PADDING_ACCEPT_MAX];
    uint32_t                      rnd[1024];
    size_t                        nrnd;
    ngx_beacon_offset_random_pt   random;
    void                         *random_data;
} ngx_beacon_offset_scratch_t;


/* per server */
typedef struct {
    const uint8_t                *pk;           /* 32 */
    const uint8_t                *sk;           /* 64 */
    size_t                        frame_max;
    size_t                        padding;
    ngx_beacon_offset_msec_t      handshake_timeout;
    ngx_beacon_offset_msec_t      init_timeout;
    ngx_beacon_offset_msec_t      keepalive;
    ngx_beacon_offset_msec_t      idle_timeout;
    ngx_beacon_offset_msec_t      half_timeout;
    ngx_beacon_offset_msec_t      rekey_interval;  /* 0: off */
} ngx_beacon_offset_conf_t;


typedef struct {
    unsigned                      type;
    unsigned                      count;        /* EV_CLOSE */
    const char                   *why;          /* EV_CLOSE, EV_ERROR */
    const uint8_t                *data;         /* EV_MESSAGE: KaMessage */
    size_t                        len;
    size_t                        msg_len;      /* EV_MESSAGE: its payload */
    uint8_t                       key[NGX_BEACON_OFFSET_PK_LEN]; /* REJECT */
} ngx_beacon_offset_ev_t;


typedef struct {
    const ngx_beacon_offset_conf_t  *conf;
    ngx_beacon_offset_scratch_t     *scratch;
    ngx_beacon_offset_out_pt         out;
    void                            *out_data;

    unsigned                      state;
    unsigned                      step;

    uint8_t                       hdr[NGX_BEACON_OFFSET_FRAME_HDR_LEN];
    size_t                        hdr_got;
    uint8_t                      *frame;
    size_t                        frame_cap;
    size_t                        frame_len;
    size_t                        frame_got;

    uint8_t                       my_nonce[NGX_BEACON_OFFSET_RAND_NONCE_LEN];
    uint8_t                       peer_nonce[NGX_BEACON_OFFSET_RAND_NONCE_LEN];
    uint8_t                       peer_pk[NGX_BEACON_OFFSET_PK_LEN];
    uint8_t                       target[NGX_BEACON_OFFSET_PK_LEN];
    ngx_beacon_offset_dh_t               dh;
    ngx_beacon_offset_channel_t          ch;

    ngx_beacon_offset_msec_t      deadline;     /* handshake, init, half */
    ngx_beacon_offset_msec_t      last_in;      /* keepalive-layer only */
    ngx_beacon_offset_msec_t      last_out;     /* keepalive-layer only */
    ngx_beacon_offset_msec_t      rekey_at;     /* 0: none */

    unsigned                      closed:1;     /* EV_CLOSE or EV_ERROR given */
} ngx_beacon_offset_conn_t;


/* size covers frame_max; 0 or -1 (out of memory, the old one is kept) */
int ngx_beacon_offset_scratch_init(ngx_beacon_offset_scratch_t *s,
    size_t frame_max, ngx_beacon_offset_random_pt random, void *data);
void ngx_beacon_offset_scratch_free(ngx_beacon_offset_scratch_t *s);

void ngx_beacon_offset_conn_init(ngx_beacon_offset_conn_t *oc,
    const ngx_beacon_offset_conf_t *conf, ngx_beacon_offset_scratch_t *s,
    ngx_beacon_offset_out_pt out, void *data, ngx_beacon_offset_msec_t now);
/* our version frame and ExchangeRandNonce; 0 or -1 */
int ngx_beacon_offset_conn_start(ngx_beacon_offset_conn_t *oc,
    ngx_beacon_offset_msec_t now);
/* a connection handed over from another worker, its channel open */
void ngx_beacon_offset_conn_adopt(ngx_beacon_offset_conn_t *oc,
    const uint8_t *peer_pk, const uint8_t *target,
    const ngx_beacon_offset_channel_t *ch, ngx_beacon_offset_msec_t rekey_in,
    ngx_beacon_offset_msec_t now);
/* frees the frame buffer and wipes the keys */
void ngx_beacon_offset_conn_free(ngx_beacon_offset_conn_t *oc);

/*
 * Where the next received bytes go and how many may be read there, never
 * past the end of the current frame (a caller that reads only that much
 * never holds bytes behind a Connect or an Accept).  0 or -1 (out of
 * memory).
 */
int ngx_beacon_offset_conn_want(ngx_beacon_offset_conn_t *oc, uint8_t **p,
    size_t *len);
/* n bytes arrived at the place _want() gave; fills ev, returns ev->type */
unsigned ngx_beacon_offset_conn_got(ngx_beacon_offset_conn_t *oc, size_t n,
    ngx_beacon_offset_ev_t *ev, ngx_beacon_offset_msec_t now);
/* convenience: copies up to len bytes in, stops at the first event */
unsigned ngx_beacon_offset_conn_feed(ngx_beacon_offset_conn_t *oc,
    const uint8_t *data, size_t len, size_t *used,
    ngx_beacon_offset_ev_t *ev, ngx_beacon_offset_msec_t now);

/* timers due at now: closes, keepalive, rekey; returns ev->type */
unsigned ngx_beacon_offset_conn_tick(ngx_beacon_offset_conn_t *oc,
    ngx_beacon_offset_ev_t *ev, ngx_beacon_offset_msec_t now);
/* when the next timer is due (at least now + 1) */
ngx_beacon_offset_msec_t ngx_beacon_offset_conn_next(
    ngx_beacon_offset_conn_t *oc, ngx_beacon_offset_msec_t now);

/* the glue's decisions: LISTEN, HALF (arms the half-tunnel timer), TUNNEL */
void ngx_beacon_offset_conn_set(ngx_beacon_offset_conn_t *oc,
    unsigned state, ngx_beacon_offset_msec_t now);

/* IncomingConnection{key} to a listener; 0 or -1 */
int ngx_beacon_offset_conn_incoming(ngx_beacon_offset_conn_t *oc,
    const uint8_t *key, ngx_beacon_offset_msec_t now);
/* a checked KaMessage from the other side of a tunnel, as it came */
int ngx_beacon_offset_conn_forward(ngx_beacon_offset_conn_t *oc,
    const uint8_t *ka, size_t len, ngx_beacon_offset_msec_t now);


#endif /* _NGX_BEACON_OFFSET_CONN_H_INCLUDED_ */
