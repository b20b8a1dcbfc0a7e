
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The Offset relay (strelay v0.1.11 wire compatible) as an nginx stream
 * TCP handler: framing, version prefix, the secure channel as responder,
 * keepalive, and the relay protocol (Listen, Connect, Accept, Reject),
 * with pairing across workers through the beacon zone and the per-worker
 * channel.  Spec: offset-relay.md sections 3 and 9.
 *
 * The protocol itself (framing, handshake, channel, keepalive, relay
 * messages, timers) is the pure core in ngx_beacon_offset_conn.c; this
 * file is its nginx glue: sockets, timers, output queues, the registry in
 * the zone, the workers and the handoff.
 *
 * Until a connection is spliced it is read exactly one frame at a time,
 * so nothing behind a Connect or an Accept is ever in a worker's memory:
 * a connector's early frames wait in its socket, and an acceptor's socket
 * can be handed to the connector's worker (SCM_RIGHTS) together with its
 * channel state.  A tunnel is then spliced inside one worker.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_stream.h>

#include "ngx_beacon.h"
#include "ngx_beacon_shm.h"
#include "ngx_beacon_ipc.h"
#include "ngx_beacon_offset_state.h"
#include "ngx_stream_beacon.h"

#include "ngx_beacon_offset_conn.h"
#include "ngx_beacon_offset_capnp.h"
#include "ngx_beacon_offset_crypto.h"
#include "ngx_beacon_offset_ident.h"


#define NGX_BEACON_OFFSET_RELAY_FRAME_CACHE   NGX_BEACON_OFFSET_FRAME_CACHE
/* connectors closed at once; the last output before a close, ms */
#define NGX_BEACON_OFFSET_RELAY_DROP_MAX      256
#define NGX_BEACON_OFFSET_RELAY_FLUSH_TIMEOUT 5000

#define NGX_BEACON_OFFSET_IPC_NOTIFY          (NGX_BEACON_IPC_OFFSET + 0)
#define NGX_BEACON_OFFSET_IPC_CLOSE           (NGX_BEACON_IPC_OFFSET + 1)
#define NGX_BEACON_OFFSET_IPC_HANDOFF         (NGX_BEACON_IPC_OFFSET + 2)

#define NGX_BEACON_OFFSET_HANDOFF_MAGIC       0x6e626f68     /* "nboh" */

/* connection states: the core's */


typedef struct {
    ngx_str_t                     zone_name;
    ngx_shm_zone_t               *shm_zone;
    ngx_str_t                     identity_file;
    ngx_beacon_offset_ident_t           *ident;
    u_char                       *file;
    ngx_uint_t                    line;

    size_t                        frame_max;
    size_t                        buffer;
    ngx_msec_t                    handshake_timeout;
    ngx_msec_t                    init_timeout;
    ngx_msec_t                    keepalive;
    ngx_msec_t                    idle_timeout;
    ngx_msec_t                    half_timeout;
    ngx_msec_t                    rekey_interval;
    ngx_uint_t                    padding;
    ngx_uint_t                    handshakes;
    ngx_uint_t                    connections;
    ngx_uint_t                    per_ip;
    ngx_array_t                  *allow;      /* u_char[32] */
    ngx_beacon_offset_conf_t      core;
} ngx_stream_beacon_offset_srv_conf_t;


typedef struct ngx_stream_beacon_oc_s  ngx_stream_beacon_oc_t;

typedef struct ngx_stream_beacon_obuf_s  ngx_stream_beacon_obuf_t;

struct ngx_stream_beacon_obuf_s {
    ngx_stream_beacon_obuf_t     *next;
    u_char                       *pos;
    u_char                       *last;
    u_char                        data[1];
};


struct ngx_stream_beacon_oc_s {
    ngx_rbtree_node_t             node;       /* key: serial */
    ngx_connection_t             *c;
    ngx_stream_session_t         *s;          /* NULL when adopted */
    ngx_stream_beacon_offset_srv_conf_t  *conf;
    ngx_beacon_zone_t            *zone;
    ngx_stream_beacon_oc_t       *peer;
    ngx_log_t                     log;        /* adopted connections */

    ngx_beacon_addr_t             addr;
    uint64_t                      serial;

    ngx_beacon_offset_conn_t      core;       /* the protocol state */

    ngx_stream_beacon_obuf_t     *out;
    ngx_stream_beacon_obuf_t    **out_last;
    size_t                        out_bytes;

    ngx_event_t                   timer;

    /* forwarded from this side: the tunnel's close line (debug) */
    uint64_t                      bytes;
    uint64_t                      messages;

    unsigned                      admitted:1;
    unsigned                      in_hs:1;
    unsigned                      paused:1;
    unsigned                      flushing:1;
};


/* what moves with an acceptor's socket to the connector's worker */
typedef struct {
    uint32_t                      magic;
    uint32_t                      out_len;
    ngx_beacon_addr_t             addr;
    u_char                        peer_pk[NGX_BEACON_OFFSET_PK_LEN];
    u_char                        target[NGX_BEACON_OFFSET_PK_LEN];
    ngx_beacon_offset_channel_t          ch;
    ngx_msec_t                    rekey_in;
} ngx_stream_beacon_handoff_t;


/* per worker: one frame is processed at a time */
typedef struct {
    ngx_beacon_offset_scratch_t   scratch;
    ngx_rbtree_t                  conns;
    ngx_rbtree_node_t             sentinel;
} ngx_stream_beacon_offset_worker_t;


static void ngx_stream_beacon_offset_handler(ngx_stream_session_t *s);
static ngx_stream_beacon_oc_t *ngx_stream_beacon_offset_create(
    ngx_connection_t *c, ngx_stream_beacon_offset_srv_conf_t *conf);
static void ngx_stream_beacon_offset_read(ngx_event_t *rev);
static void ngx_stream_beacon_offset_write(ngx_event_t *wev);
static void ngx_stream_beacon_offset_timer(ngx_event_t *ev);
static ngx_int_t ngx_stream_beacon_offset_event(ngx_stream_beacon_oc_t *oc,
    ngx_beacon_offset_ev_t *ev);
static void ngx_stream_beacon_offset_handshake_done(
    ngx_stream_beacon_oc_t *oc);
static ngx_int_t ngx_stream_beacon_offset_listen(ngx_stream_beacon_oc_t *oc);
static ngx_int_t ngx_stream_beacon_offset_connect(
    ngx_stream_beacon_oc_t *oc);
static ngx_int_t ngx_stream_beacon_offset_accept(ngx_stream_beacon_oc_t *oc);
static ngx_int_t ngx_stream_beacon_offset_reject(ngx_stream_beacon_oc_t *oc,
    const u_char *key);
static ngx_int_t ngx_stream_beacon_offset_forward(ngx_stream_beacon_oc_t *oc,
    ngx_beacon_offset_ev_t *ev);
static ngx_int_t ngx_stream_beacon_offset_notify(ngx_stream_beacon_oc_t *oc,
    const u_char *connector);
static void ngx_stream_beacon_offset_splice(ngx_stream_beacon_oc_t *a,
    ngx_stream_beacon_oc_t *b);
static ngx_int_t ngx_stream_beacon_offset_handoff(
    ngx_stream_beacon_oc_t *oc, ngx_beacon_owner_t *owner);
static void ngx_stream_beacon_offset_ipc(ngx_uint_t type, uint64_t conn,
    const u_char *payload, size_t plen, ngx_socket_t fd);
static void ngx_stream_beacon_offset_adopt(ngx_stream_beacon_oc_t *a,
    const u_char *payload, size_t plen, ngx_socket_t fd);

static uint8_t *ngx_stream_beacon_offset_out(void *data, size_t len);
static void ngx_stream_beacon_offset_random(void *data, uint8_t *buf,
    size_t len);
static ngx_stream_beacon_obuf_t *ngx_stream_beacon_offset_obuf(
    ngx_stream_beacon_oc_t *oc, size_t len);
static ngx_int_t ngx_stream_beacon_offset_flush(ngx_stream_beacon_oc_t *oc);
static void ngx_stream_beacon_offset_flush_peer(ngx_stream_beacon_oc_t *oc);
static void ngx_stream_beacon_offset_resume(ngx_stream_beacon_oc_t *oc);
static void ngx_stream_beacon_offset_arm(ngx_stream_beacon_oc_t *oc);
static void ngx_stream_beacon_offset_close(ngx_stream_beacon_oc_t *oc,
    const char *why);
static void ngx_stream_beacon_offset_close_owner(ngx_beacon_zone_t *z,
    ngx_beacon_owner_t *owner, const char *why);
static ngx_stream_beacon_oc_t *ngx_stream_beacon_offset_find(uint64_t serial);
static ngx_int_t ngx_stream_beacon_offset_scratch(size_t frame_max);
static void ngx_stream_beacon_offset_fp(u_char *out, const u_char *pk);
static u_char *ngx_stream_beacon_offset_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
#if (NGX_DEBUG)
static u_char *ngx_stream_beacon_offset_dfp(const u_char *pk);
#endif

static void *ngx_stream_beacon_offset_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_beacon_offset_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_stream_beacon_offset_relay(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_stream_beacon_offset_allow(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_stream_beacon_offset_rekey(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_stream_beacon_offset_postconf(ngx_conf_t *cf);
static ngx_int_t ngx_stream_beacon_offset_init_process(ngx_cycle_t *cycle);
static void ngx_stream_beacon_offset_exit_process(ngx_cycle_t *cycle);
static void ngx_stream_beacon_offset_wipe(void *data);


static ngx_stream_beacon_offset_worker_t  *ngx_stream_beacon_offset_w;

#if (NGX_DEBUG)
/* NGX_BEACON_OFFSET_HANDSHAKE ... NGX_BEACON_OFFSET_GONE, for the debug log */
static const char  *ngx_stream_beacon_offset_states[] = {
    "handshake", "init", "listen", "half-tunnel", "tunnel", "gone"
};
#endif
static size_t  ngx_stream_beacon_offset_frame_max;


static ngx_command_t  ngx_stream_beacon_offset_commands[] = {

    { ngx_string("beacon_offset_relay"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE12,
      ngx_stream_beacon_offset_relay,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_offset_frame_max"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, frame_max),
      NULL },

    { ngx_string("beacon_offset_buffer"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, buffer),
      NULL },

    { ngx_string("beacon_offset_handshake_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, handshake_timeout),
      NULL },

    { ngx_string("beacon_offset_init_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, init_timeout),
      NULL },

    { ngx_string("beacon_offset_keepalive"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, keepalive),
      NULL },

    { ngx_string("beacon_offset_idle_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, idle_timeout),
      NULL },

    { ngx_string("beacon_offset_half_tunnel_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, half_timeout),
      NULL },

    { ngx_string("beacon_offset_rekey_interval"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_beacon_offset_rekey,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, rekey_interval),
      NULL },

    { ngx_string("beacon_offset_padding"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, padding),
      NULL },

    { ngx_string("beacon_offset_handshakes"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, handshakes),
      NULL },

    { ngx_string("beacon_offset_connections"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, connections),
      NULL },

    { ngx_string("beacon_offset_connections_per_ip"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_offset_srv_conf_t, per_ip),
      NULL },

    { ngx_string("beacon_offset_listen_allow"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_stream_beacon_offset_allow,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_stream_beacon_offset_module_ctx = {
    NULL,                                      /* preconfiguration */
    ngx_stream_beacon_offset_postconf,         /* postconfiguration */

    NULL,                                      /* create main configuration */
    NULL,                                      /* init main configuration */

    ngx_stream_beacon_offset_create_srv_conf,  /* create server configuration */
    ngx_stream_beacon_offset_merge_srv_conf    /* merge server configuration */
};


ngx_module_t  ngx_stream_beacon_offset_module = {
    NGX_MODULE_V1,
    &ngx_stream_beacon_offset_module_ctx,      /* module context */
    ngx_stream_beacon_offset_commands,         /* module directives */
    NGX_STREAM_MODULE,                         /* module type */
    NULL,                                      /* init master */
    NULL,                                      /* init module */
    ngx_stream_beacon_offset_init_process,     /* init process */
    NULL,                                      /* init thread */
    NULL,                                      /* exit thread */
    ngx_stream_beacon_offset_exit_process,     /* exit process */
    NULL,                                      /* exit master */
    NGX_MODULE_V1_PADDING
};


/* accept: admission, then our version frame and ExchangeRandNonce */

static void
ngx_stream_beacon_offset_handler(ngx_stream_session_t *s)
{
    ngx_connection_t                     *c;
    ngx_stream_beacon_oc_t               *oc;
    ngx_stream_beacon_offset_srv_conf_t  *conf;

    c = s->connection;
    conf = ngx_stream_get_module_srv_conf(s, ngx_stream_beacon_offset_module);

    if (ngx_stream_beacon_offset_w == NULL
        || ngx_stream_beacon_offset_scratch(conf->frame_max) != NGX_OK)
    {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    oc = ngx_stream_beacon_offset_create(c, conf);
    if (oc == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    oc->s = s;

    (void) ngx_beacon_addr_from_sockaddr(&oc->addr, c->sockaddr);

    ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_CONNECTIONS);

    if (ngx_beacon_shm_offset_admit(oc->zone, &oc->addr, conf->connections,
                                    conf->per_ip, conf->handshakes)
        != NGX_OK)
    {
        ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_LIMIT_HITS);
        ngx_log_debug3(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "beacon offset connection refused: limit hit "
                       "(connections %ui, per_ip %ui, handshakes %ui)",
                       conf->connections, conf->per_ip, conf->handshakes);
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "offset relay: connection refused, limit reached");
        ngx_stream_beacon_offset_close(oc, NULL);
        return;
    }

    oc->admitted = 1;
    oc->in_hs = 1;

    c->log->action = "handshaking with an Offset node";

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "beacon offset connection %uA admitted, handshake",
                   c->number);

    /* our version frame and ExchangeRandNonce */

    if (ngx_beacon_offset_conn_start(&oc->core, ngx_current_msec) != 0) {
        ngx_stream_beacon_offset_close(oc, "out of memory");
        return;
    }

    ngx_stream_beacon_offset_arm(oc);

    if (ngx_stream_beacon_offset_flush(oc) == NGX_ERROR) {
        ngx_stream_beacon_offset_close(oc, NULL);
        return;
    }

    ngx_stream_beacon_offset_read(c->read);
}


static ngx_stream_beacon_oc_t *
ngx_stream_beacon_offset_create(ngx_connection_t *c,
    ngx_stream_beacon_offset_srv_conf_t *conf)
{
    ngx_stream_beacon_oc_t  *oc;

    oc = ngx_calloc(sizeof(ngx_stream_beacon_oc_t), c->log);
    if (oc == NULL) {
        return NULL;
    }

    oc->c = c;
    oc->conf = conf;
    oc->zone = conf->shm_zone->data;
    oc->serial = c->number;
    oc->out_last = &oc->out;

    ngx_beacon_offset_conn_init(&oc->core, &conf->core,
                                &ngx_stream_beacon_offset_w->scratch,
                                ngx_stream_beacon_offset_out, oc,
                                ngx_current_msec);

    oc->timer.handler = ngx_stream_beacon_offset_timer;
    oc->timer.data = oc;
    oc->timer.log = c->log;

    oc->node.key = (ngx_rbtree_key_t) oc->serial;
    ngx_rbtree_insert(&ngx_stream_beacon_offset_w->conns, &oc->node);

    c->data = oc;
    c->read->handler = ngx_stream_beacon_offset_read;
    c->write->handler = ngx_stream_beacon_offset_write;

    /* closed at once when the worker shuts down, unless spliced */
    c->idle = 1;

    return oc;
}


static void
ngx_stream_beacon_offset_read(ngx_event_t *rev)
{
    size_t                   size, queued;
    u_char                  *p;
    ssize_t                  n;
    ngx_uint_t               i;
    ngx_connection_t        *c;
    ngx_beacon_offset_ev_t   ev;
    ngx_stream_beacon_oc_t  *oc;

    c = rev->data;
    oc = c->data;

    if (c->close) {
        /* the worker is shutting down and this connection is not spliced */
        ngx_stream_beacon_offset_close(oc, "worker shutting down");
        return;
    }

    if (oc->core.state == NGX_BEACON_OFFSET_HALF) {
        /* not read until spliced, but a connector that left ends it (W18) */
        if (rev->pending_eof || rev->eof) {
            ngx_stream_beacon_offset_close(oc, "connector went away");
        }

        return;
    }

    if (oc->flushing || oc->core.state == NGX_BEACON_OFFSET_GONE) {
        return;
    }

    for (i = 0; i < 64; /* frames */ ) {

        if (oc->core.state == NGX_BEACON_OFFSET_TUNNEL && oc->peer
            && oc->peer->out_bytes >= oc->conf->buffer)
        {
            ngx_stream_beacon_offset_flush_peer(oc);

            if (oc->peer && oc->peer->out_bytes >= oc->conf->buffer) {
                /* backpressure: resumed when the other side drains */
                oc->paused = 1;
                return;
            }
        }

        /* never past the end of the current frame */

        if (ngx_beacon_offset_conn_want(&oc->core, &p, &size) != 0) {
            ngx_stream_beacon_offset_close(oc, "read error");
            return;
        }

        n = c->recv(c, p, size);

        if (n == NGX_AGAIN) {
            ngx_stream_beacon_offset_flush_peer(oc);

            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_stream_beacon_offset_close(oc, "event error");
            }

            return;
        }

        if (n == 0) {
            ngx_stream_beacon_offset_close(oc, oc->in_hs
                                               ? "closed in the handshake"
                                               : NULL);
            return;
        }

        if (n == NGX_ERROR) {
            ngx_stream_beacon_offset_close(oc, "read error");
            return;
        }

        queued = oc->out_bytes;

        if (ngx_beacon_offset_conn_got(&oc->core, (size_t) n, &ev,
                                       ngx_current_msec)
            == NGX_BEACON_OFFSET_NONE)
        {
            if (oc->core.hdr_got) {
                continue;     /* inside a frame */
            }

        } else if (ngx_stream_beacon_offset_event(oc, &ev) != NGX_OK) {
            /* closed or handed off: oc is gone */
            return;
        }

        /* a whole frame was processed */

        i++;

        /* a handshake message or a rekey answer of our own */

        if (oc->out_bytes > queued && !oc->flushing
            && ngx_stream_beacon_offset_flush(oc) == NGX_ERROR)
        {
            ngx_stream_beacon_offset_close(oc, "write error");
            return;
        }

        if (oc->core.state == NGX_BEACON_OFFSET_HALF || oc->flushing) {
            return;
        }
    }

    /* fairness: more frames later */

    ngx_stream_beacon_offset_flush_peer(oc);
    ngx_post_event(rev, &ngx_posted_events);
}


/* sends what this side's frames queued on the other side of the tunnel */

static void
ngx_stream_beacon_offset_flush_peer(ngx_stream_beacon_oc_t *oc)
{
    ngx_stream_beacon_oc_t  *peer;

    peer = oc->peer;

    if (peer == NULL || peer->out == NULL || peer->flushing) {
        return;
    }

    if (ngx_stream_beacon_offset_flush(peer) == NGX_ERROR) {
        ngx_stream_beacon_offset_close(peer, "write error");
    }
}


/* NGX_OK (go on reading), NGX_DONE (oc closed or parked) */

static ngx_int_t
ngx_stream_beacon_offset_event(ngx_stream_beacon_oc_t *oc,
    ngx_beacon_offset_ev_t *ev)
{
    switch (ev->type) {

    case NGX_BEACON_OFFSET_EV_HANDSHAKE:
        ngx_stream_beacon_offset_handshake_done(oc);
        return NGX_OK;

    case NGX_BEACON_OFFSET_EV_LISTEN:
        return ngx_stream_beacon_offset_listen(oc);

    case NGX_BEACON_OFFSET_EV_CONNECT:
        return ngx_stream_beacon_offset_connect(oc);

    case NGX_BEACON_OFFSET_EV_ACCEPT:
        return ngx_stream_beacon_offset_accept(oc);

    case NGX_BEACON_OFFSET_EV_REJECT:
        return ngx_stream_beacon_offset_reject(oc, ev->key);

    case NGX_BEACON_OFFSET_EV_MESSAGE:
        return ngx_stream_beacon_offset_forward(oc, ev);

    case NGX_BEACON_OFFSET_EV_REKEY:
        ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_REKEYS);
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset rekey of the hop to %s",
                       ngx_stream_beacon_offset_dfp(oc->core.peer_pk));
        return NGX_OK;

    case NGX_BEACON_OFFSET_EV_CLOSE:

        switch (ev->count) {

        case NGX_BEACON_OFFSET_COUNT_BAD:
            ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_BAD_FRAMES);
            ngx_log_debug1(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                           "beacon offset bad frame: %s", ev->why);
            break;

        case NGX_BEACON_OFFSET_COUNT_TIMEOUT:
            ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_TIMEOUTS);
            ngx_log_debug2(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                           "beacon offset timeout in state %s: %s",
                           ngx_stream_beacon_offset_states[oc->core.state],
                           ev->why);
            break;

        case NGX_BEACON_OFFSET_COUNT_EXPIRED:
            ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_EXPIRED);
            ngx_log_debug1(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                           "beacon offset half-tunnel expired: %s", ev->why);
            break;
        }

        ngx_stream_beacon_offset_close(oc, ev->why);
        return NGX_DONE;

    case NGX_BEACON_OFFSET_EV_ERROR:
        ngx_stream_beacon_offset_close(oc, ev->why);
        return NGX_DONE;

    default:
        return NGX_OK;
    }
}


static void
ngx_stream_beacon_offset_handshake_done(ngx_stream_beacon_oc_t *oc)
{
    u_char  fp[16];

    oc->in_hs = 0;
    ngx_beacon_shm_offset_gauge(oc->zone, NGX_BEACON_OG_HANDSHAKES, -1);
    ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_HANDSHAKES_OK);

    ngx_stream_beacon_offset_arm(oc);

    oc->c->log->action = "waiting for an Offset request";

    ngx_stream_beacon_offset_fp(fp, oc->core.peer_pk);
    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                   "beacon offset handshake done with %s", fp);
    ngx_log_error(NGX_LOG_INFO, oc->c->log, 0,
                  "offset relay: handshake with %s", fp);
}


static ngx_int_t
ngx_stream_beacon_offset_listen(ngx_stream_beacon_oc_t *oc)
{
    u_char               *k, fp[16];
    ngx_uint_t            i;
    ngx_beacon_owner_t    owner, prev;

    if (oc->conf->allow) {
        k = oc->conf->allow->elts;

        for (i = 0; i < oc->conf->allow->nelts; i++) {
            if (sodium_memcmp(k + i * NGX_BEACON_OFFSET_PK_LEN,
                oc->core.peer_pk,
                              NGX_BEACON_OFFSET_PK_LEN)
                == 0)
            {
                break;
            }
        }

        if (i == oc->conf->allow->nelts) {
            ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_LISTEN_REFUSED);
            ngx_log_debug1(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                           "beacon offset listen %s refused: not in "
                           "beacon_offset_allow", ngx_stream_beacon_offset_dfp(
                                                       oc->core.peer_pk));
            ngx_stream_beacon_offset_close(oc, "key may not listen");
            return NGX_DONE;
        }
    }

    owner.pid = ngx_pid;
    owner.conn = oc->serial;

    if (ngx_beacon_offset_listen(oc->zone, oc->core.peer_pk, &owner, &prev)
        != NGX_OK)
    {
        ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_LIMIT_HITS);
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset listen %s refused: limit hit, zone "
                       "full", ngx_stream_beacon_offset_dfp(oc->core.peer_pk));
        ngx_stream_beacon_offset_close(oc, "beacon zone full");
        return NGX_DONE;
    }

    oc->c->log->action = "holding an Offset Listen";

    ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_LISTENS);
    ngx_beacon_shm_offset_gauge(oc->zone, NGX_BEACON_OG_LISTENERS, 1);

    ngx_beacon_offset_conn_set(&oc->core, NGX_BEACON_OFFSET_LISTEN,
        ngx_current_msec);
    ngx_stream_beacon_offset_arm(oc);

    ngx_stream_beacon_offset_fp(fp, oc->core.peer_pk);

    if (prev.pid) {
        /* the newest authenticated Listen wins (W8) */
        ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_LISTEN_REPLACED);
        ngx_log_debug5(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset listen %s registered, connection "
                       "%P/%uL, replaces %P/%uL", fp, ngx_pid, oc->serial,
                       prev.pid, prev.conn);
        ngx_log_error(NGX_LOG_INFO, oc->c->log, 0,
                      "offset relay: %s listens, replacing its older "
                      "connection", fp);
        ngx_stream_beacon_offset_close_owner(oc->zone, &prev,
                                             "replaced by a newer Listen");

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset listen %s registered, connection "
                       "%P/%uL", fp, ngx_pid, oc->serial);
        ngx_log_error(NGX_LOG_INFO, oc->c->log, 0,
                      "offset relay: %s listens", fp);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_stream_beacon_offset_connect(ngx_stream_beacon_oc_t *oc)
{
    u_char                fp[16], tfp[16];
    ngx_int_t             rc;
    const char           *why;
    ngx_beacon_owner_t    owner, lowner;

    ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_CONNECTS);

    ngx_stream_beacon_offset_fp(fp, oc->core.peer_pk);
    ngx_stream_beacon_offset_fp(tfp, oc->core.target);

    if (ngx_beacon_offset_listener(oc->zone, oc->core.target, &lowner)
        != NGX_OK)
    {
        ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_UNPAIRED);
        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset connect %s -> %s unpaired: no "
                       "listener", fp, tfp);
        ngx_log_error(NGX_LOG_INFO, oc->c->log, 0,
                      "offset relay: %s connects to %s, which does not "
                      "listen", fp, tfp);
        ngx_stream_beacon_offset_close(oc, NULL);
        return NGX_DONE;
    }

    owner.pid = ngx_pid;
    owner.conn = oc->serial;

    rc = ngx_beacon_offset_half_add(oc->zone, oc->core.target,
        oc->core.peer_pk,
                                    &owner);

    if (rc != NGX_OK) {
        if (rc == NGX_BUSY) {
            ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_UNPAIRED);
            why = "a Connect for this pair is already pending";

        } else {
            ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_LIMIT_HITS);
            why = "beacon zone full";
        }

        ngx_log_debug3(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset connect %s -> %s unpaired: %s",
                       fp, tfp, why);

        ngx_stream_beacon_offset_close(oc, why);
        return NGX_DONE;
    }

    ngx_beacon_offset_conn_set(&oc->core, NGX_BEACON_OFFSET_HALF,
        ngx_current_msec);
    ngx_beacon_shm_offset_gauge(oc->zone, NGX_BEACON_OG_HALF_TUNNELS, 1);
    ngx_stream_beacon_offset_arm(oc);

    oc->c->log->action = "waiting for an Offset Accept";

    ngx_log_debug6(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                   "beacon offset connect %s -> %s pending, connection "
                   "%P/%uL, listener %P/%uL", fp, tfp, ngx_pid, oc->serial,
                   lowner.pid, lowner.conn);
    ngx_log_error(NGX_LOG_INFO, oc->c->log, 0,
                  "offset relay: %s connects to %s", fp, tfp);

    if (lowner.pid == ngx_pid) {
        rc = ngx_stream_beacon_offset_notify(
                 ngx_stream_beacon_offset_find(lowner.conn), oc->core.peer_pk);

        if (rc == NGX_DECLINED) {
            /* a registration this worker no longer holds */
            (void) ngx_beacon_offset_unlisten(oc->zone, oc->core.target,
                                              &lowner);
        }

    } else {
        u_char  keys[2 * NGX_BEACON_OFFSET_PK_LEN];

        ngx_memcpy(keys, oc->core.peer_pk, NGX_BEACON_OFFSET_PK_LEN);
        ngx_memcpy(keys + NGX_BEACON_OFFSET_PK_LEN, oc->core.target,
                   NGX_BEACON_OFFSET_PK_LEN);

        rc = ngx_beacon_ipc_send_fd(lowner.pid, NGX_BEACON_OFFSET_IPC_NOTIFY,
                                    lowner.conn, NULL, 0, keys, sizeof(keys),
                                    (ngx_socket_t) -1);

        if (rc == NGX_DECLINED) {
            /* the listener's worker is gone */
            (void) ngx_beacon_offset_unlisten(oc->zone, oc->core.target,
                                              &lowner);
        }
    }

    ngx_log_debug4(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                   "beacon offset connect %s -> %s: listener notified %s: "
                   "%s", fp, tfp,
                   lowner.pid == ngx_pid ? "in this worker" : "by IPC",
                   rc == NGX_OK ? "ok" : "failed, unpaired");

    if (rc != NGX_OK) {
        /* never a silent drop (W9): the connector learns it at once */
        ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_UNPAIRED);
        ngx_stream_beacon_offset_close(oc, "listener unreachable");
        return NGX_DONE;
    }

    /* parked: its next frames stay in the socket until Accept */

    return NGX_DONE;
}


/* IncomingConnection{connector} on a Listen connection of this worker */

static ngx_int_t
ngx_stream_beacon_offset_notify(ngx_stream_beacon_oc_t *l,
    const u_char *connector)
{
    if (l == NULL || l->core.state != NGX_BEACON_OFFSET_LISTEN ||
        l->flushing) {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon offset notify of %s failed: the listener "
                       "is gone", ngx_stream_beacon_offset_dfp(connector));
        return NGX_DECLINED;
    }

    if (l->out_bytes >= l->conf->buffer) {
        /* a listener that does not read: the Connect is refused */
        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, l->c->log, 0,
                       "beacon offset notify of %s failed: limit hit, the "
                       "listener does not read (%uz bytes queued)",
                       ngx_stream_beacon_offset_dfp(connector), l->out_bytes);
        return NGX_BUSY;
    }

    if (ngx_beacon_offset_conn_incoming(&l->core, connector,
                                        ngx_current_msec)
        != 0
        || ngx_stream_beacon_offset_flush(l) == NGX_ERROR)
    {
        /*
         * Closed from its own write handler: closing the listener here
         * would drop the pending Connect that is asking, under its feet.
         */
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, l->c->log, 0,
                       "beacon offset notify of %s failed: write error",
                       ngx_stream_beacon_offset_dfp(connector));
        l->c->write->error = 1;
        ngx_post_event(l->c->write, &ngx_posted_events);
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, l->c->log, 0,
                   "beacon offset notify of %s sent to the listener",
                   ngx_stream_beacon_offset_dfp(connector));

    return NGX_OK;
}


static ngx_int_t
ngx_stream_beacon_offset_accept(ngx_stream_beacon_oc_t *oc)
{
    u_char                   fp[16], tfp[16];
    ngx_beacon_owner_t       lowner, cowner;
    ngx_stream_beacon_oc_t  *a;

    ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_ACCEPTS);

    ngx_stream_beacon_offset_fp(fp, oc->core.peer_pk);
    ngx_stream_beacon_offset_fp(tfp, oc->core.target);

    if (ngx_beacon_offset_listener(oc->zone, oc->core.peer_pk, &lowner)
        != NGX_OK
        || ngx_beacon_offset_half_take(oc->zone, oc->core.peer_pk,
                                       oc->core.target, &cowner)
           != NGX_OK)
    {
        ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_UNPAIRED);
        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset accept %s <- %s unpaired: nothing "
                       "pending", fp, tfp);
        ngx_log_error(NGX_LOG_INFO, oc->c->log, 0,
                      "offset relay: %s accepts %s, but nothing is pending",
                      fp, tfp);
        ngx_stream_beacon_offset_close(oc, NULL);
        return NGX_DONE;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                   "beacon offset accept %s <- %s paired with connection "
                   "%P/%uL", fp, tfp, cowner.pid, cowner.conn);
    ngx_log_error(NGX_LOG_INFO, oc->c->log, 0,
                  "offset relay: %s accepts %s", fp, tfp);

    if (cowner.pid != ngx_pid) {
        return ngx_stream_beacon_offset_handoff(oc, &cowner);
    }

    a = ngx_stream_beacon_offset_find(cowner.conn);

    if (a == NULL || a->core.state != NGX_BEACON_OFFSET_HALF) {
        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset accept %s <- %s unpaired: the "
                       "connector is gone", fp, tfp);
        ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_UNPAIRED);
        ngx_stream_beacon_offset_close(oc, "the connector is gone");
        return NGX_DONE;
    }

    ngx_stream_beacon_offset_splice(a, oc);

    return NGX_OK;
}


static ngx_int_t
ngx_stream_beacon_offset_reject(ngx_stream_beacon_oc_t *oc, const u_char *key)
{
    ngx_beacon_owner_t  cowner;

    if (ngx_beacon_offset_half_take(oc->zone, oc->core.peer_pk, key, &cowner)
        != NGX_OK)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset reject by %s of %s: nothing pending",
                       ngx_stream_beacon_offset_dfp(oc->core.peer_pk),
                       ngx_stream_beacon_offset_dfp(key));
        return NGX_OK;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                   "beacon offset reject by %s of %s: closing connection "
                   "%P/%uL", ngx_stream_beacon_offset_dfp(oc->core.peer_pk),
                   ngx_stream_beacon_offset_dfp(key), cowner.pid,
                   cowner.conn);

    ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_REJECTS);
    ngx_stream_beacon_offset_close_owner(oc->zone, &cowner,
                                         "rejected by the listener");

    return NGX_OK;
}


static ngx_int_t
ngx_stream_beacon_offset_forward(ngx_stream_beacon_oc_t *oc,
    ngx_beacon_offset_ev_t *ev)
{
    ngx_stream_beacon_oc_t  *peer;

    peer = oc->peer;

    if (peer == NULL || peer->flushing) {
        return NGX_OK;
    }

    ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_MESSAGES);
    ngx_beacon_count_n(oc->zone, NGX_BEACON_C_OFFSET_BYTES, ev->msg_len);

    oc->messages++;
    oc->bytes += ev->msg_len;

    /* forwarded frames go out together, after the read loop */

    if (ngx_beacon_offset_conn_forward(&peer->core, ev->data, ev->len,
                                       ngx_current_msec)
        != 0)
    {
        /* the other side failed: this one flushes and follows */
        ngx_stream_beacon_offset_close(peer, "write error");
        return NGX_OK;
    }

    if (peer->out_bytes >= NGX_BEACON_OFFSET_RELAY_FRAME_CACHE) {
        ngx_stream_beacon_offset_flush_peer(oc);
    }

    return NGX_OK;
}


static void
ngx_stream_beacon_offset_splice(ngx_stream_beacon_oc_t *a,
    ngx_stream_beacon_oc_t *b)
{
    u_char  afp[16], bfp[16];

    a->peer = b;
    b->peer = a;
    ngx_beacon_offset_conn_set(&a->core, NGX_BEACON_OFFSET_TUNNEL,
        ngx_current_msec);
    ngx_beacon_offset_conn_set(&b->core, NGX_BEACON_OFFSET_TUNNEL,
        ngx_current_msec);

    /* spliced tunnels outlive a graceful shutdown */
    a->c->idle = 0;
    b->c->idle = 0;

    ngx_beacon_shm_offset_gauge(a->zone, NGX_BEACON_OG_HALF_TUNNELS, -1);
    ngx_beacon_shm_offset_gauge(a->zone, NGX_BEACON_OG_TUNNELS, 1);
    ngx_beacon_count(a->zone, NGX_BEACON_C_OFFSET_TUNNELS);

    ngx_stream_beacon_offset_arm(a);
    ngx_stream_beacon_offset_arm(b);

    a->c->log->action = "relaying an Offset tunnel";
    b->c->log->action = "relaying an Offset tunnel";

    ngx_stream_beacon_offset_fp(afp, a->core.peer_pk);
    ngx_stream_beacon_offset_fp(bfp, b->core.peer_pk);
    ngx_log_debug4(NGX_LOG_DEBUG_STREAM, b->c->log, 0,
                   "beacon offset tunnel %s -> %s spliced, connections "
                   "%uL and %uL", afp, bfp, a->serial, b->serial);
    ngx_log_error(NGX_LOG_INFO, b->c->log, 0,
                  "offset relay: tunnel %s -> %s spliced", afp, bfp);

    /* the frames the connector sent meanwhile wait in its socket */

    ngx_post_event(a->c->read, &ngx_posted_events);
    ngx_post_event(b->c->read, &ngx_posted_events);

    if (b->out) {
        ngx_post_event(b->c->write, &ngx_posted_events);
    }
}


/* the acceptor's socket and channel go to the connector's worker */

static ngx_int_t
ngx_stream_beacon_offset_handoff(ngx_stream_beacon_oc_t *oc,
    ngx_beacon_owner_t *owner)
{
    u_char                       *out, *p;
    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_stream_beacon_obuf_t     *b;
    ngx_stream_beacon_handoff_t   h;

    c = oc->c;

    c->log->action = "handing an Offset tunnel to another worker";

    if (oc->out_bytes > NGX_BEACON_IPC_MAX - sizeof(h)) {
        rc = NGX_ERROR;
        goto failed;
    }

    out = NULL;

    if (oc->out_bytes) {
        out = ngx_alloc(oc->out_bytes, c->log);
        if (out == NULL) {
            rc = NGX_ERROR;
            goto failed;
        }

        p = out;

        for (b = oc->out; b; b = b->next) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    ngx_memzero(&h, sizeof(h));
    h.magic = NGX_BEACON_OFFSET_HANDOFF_MAGIC;
    h.out_len = (uint32_t) oc->out_bytes;
    h.addr = oc->addr;
    ngx_memcpy(h.peer_pk, oc->core.peer_pk, NGX_BEACON_OFFSET_PK_LEN);
    ngx_memcpy(h.target, oc->core.target, NGX_BEACON_OFFSET_PK_LEN);
    h.ch = oc->core.ch;
    h.rekey_in = oc->core.rekey_at ? oc->core.rekey_at - ngx_current_msec : 0;

    /*
     * Out of this worker's epoll set first: a registration lives as long
     * as the socket does, and the other worker keeps it open.
     */

    if (ngx_del_conn) {
        (void) ngx_del_conn(c, 0);

    } else {
        if (c->read->active) {
            (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
        }

        if (c->write->active) {
            (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
        }
    }

    rc = ngx_beacon_ipc_send_fd(owner->pid, NGX_BEACON_OFFSET_IPC_HANDOFF,
                                owner->conn, (u_char *) &h, sizeof(h), out,
                                oc->out_bytes, c->fd);

    sodium_memzero(&h, sizeof(h));

    if (out) {
        ngx_free(out);
    }

failed:

    if (rc != NGX_OK) {
        ngx_log_debug4(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "beacon offset handoff to %P/%uL failed: %s, "
                       "%uz bytes queued", owner->pid, owner->conn,
                       rc == NGX_DECLINED ? "the worker is gone"
                       : "IPC error or too much queued", oc->out_bytes);
        ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_HANDOFF_FAILED);
        ngx_stream_beacon_offset_close(oc, "could not hand the connection "
                                           "to the connector's worker");
        return NGX_DONE;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "beacon offset handoff of connection %uL to %P/%uL "
                   "sent, %uz bytes queued", oc->serial, owner->pid,
                   owner->conn, oc->out_bytes);

    ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_HANDOFFS);

    ngx_stream_beacon_offset_close(oc, NULL);

    return NGX_DONE;
}


static void
ngx_stream_beacon_offset_ipc(ngx_uint_t type, uint64_t conn,
    const u_char *payload, size_t plen, ngx_socket_t fd)
{
    ngx_stream_beacon_oc_t  *oc;

    oc = ngx_stream_beacon_offset_w ? ngx_stream_beacon_offset_find(conn)
                                    : NULL;

    switch (type) {

    case NGX_BEACON_OFFSET_IPC_NOTIFY:

        if (oc && plen == 2 * NGX_BEACON_OFFSET_PK_LEN
            && ngx_memcmp(oc->core.peer_pk, payload + NGX_BEACON_OFFSET_PK_LEN,
                          NGX_BEACON_OFFSET_PK_LEN) == 0)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                           "beacon offset notify of %s for connection %uL "
                           "received", ngx_stream_beacon_offset_dfp(payload),
                           conn);

            (void) ngx_stream_beacon_offset_notify(oc, payload);

        } else {
            ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                           "beacon offset notify for connection %uL "
                           "dropped: no such listener here", conn);
        }

        break;

    case NGX_BEACON_OFFSET_IPC_CLOSE:

        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon offset close request for connection %uL "
                       "received%s", conn,
                       oc && (oc->core.state == NGX_BEACON_OFFSET_LISTEN
                              || oc->core.state == NGX_BEACON_OFFSET_HALF)
                       ? "" : ", ignored: not a Listen or pending Connect");

        if (oc && (oc->core.state == NGX_BEACON_OFFSET_LISTEN ||
            oc->core.state == NGX_BEACON_OFFSET_HALF)) {
            ngx_stream_beacon_offset_close(oc,
                                           plen && payload[plen - 1] == '\0'
                                           ? (char *) payload : "closed");
        }

        break;

    case NGX_BEACON_OFFSET_IPC_HANDOFF:

        if (oc == NULL || oc->core.state != NGX_BEACON_OFFSET_HALF ||
            oc->flushing
            || fd == (ngx_socket_t) -1)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                           "beacon offset handoff for connection %uL "
                           "received, failed: %s", conn,
                           fd == (ngx_socket_t) -1 ? "no socket"
                           : "the connector is gone");

            if (oc) {
                ngx_beacon_count(oc->zone,
                                 NGX_BEACON_C_OFFSET_HANDOFF_FAILED);
            }

            break;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, oc->c->log, 0,
                       "beacon offset handoff for connection %uL received, "
                       "socket %d", conn, fd);

        ngx_stream_beacon_offset_adopt(oc, payload, plen, fd);
        return;
    }

    if (fd != (ngx_socket_t) -1) {
        (void) ngx_close_socket(fd);
    }
}


static void
ngx_stream_beacon_offset_adopt(ngx_stream_beacon_oc_t *a,
    const u_char *payload, size_t plen, ngx_socket_t fd)
{
    ngx_connection_t             *c;
    ngx_stream_beacon_oc_t       *b;
    ngx_stream_beacon_obuf_t     *ob;
    ngx_stream_beacon_handoff_t   h;

    if (plen < sizeof(h)) {
        goto failed;
    }

    ngx_memcpy(&h, payload, sizeof(h));

    if (h.magic != NGX_BEACON_OFFSET_HANDOFF_MAGIC
        || plen != sizeof(h) + h.out_len)
    {
        goto failed;
    }

    c = ngx_get_connection(fd, ngx_cycle->log);
    if (c == NULL) {
        goto failed;
    }

    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);
    c->recv = ngx_recv;
    c->send = ngx_send;
    c->recv_chain = ngx_recv_chain;
    c->send_chain = ngx_send_chain;
    c->type = SOCK_STREAM;
    c->start_time = ngx_current_msec;
    c->write->ready = 1;

    b = ngx_stream_beacon_offset_create(c, a->conf);
    if (b == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, a->c->log, 0,
                       "beacon offset handoff for connection %uL failed: "
                       "out of memory", a->serial);
        ngx_close_connection(c);
        sodium_memzero(&h, sizeof(h));
        ngx_beacon_count(a->zone, NGX_BEACON_C_OFFSET_HANDOFF_FAILED);
        return;
    }

    b->log = *ngx_cycle->log;
    b->log.connection = c->number;
    b->log.action = "relaying an Offset tunnel";
    b->log.handler = ngx_stream_beacon_offset_log_error;
    b->log.data = b;
    c->log = &b->log;
    c->read->log = &b->log;
    c->write->log = &b->log;
    b->timer.log = &b->log;

    b->addr = h.addr;
    ngx_beacon_offset_conn_adopt(&b->core, h.peer_pk, h.target, &h.ch,
                                 h.rekey_in, ngx_current_msec);

    sodium_memzero(&h, sizeof(h));

    /* the connection is now counted here (limits were checked there) */

    if (ngx_beacon_shm_offset_admit(b->zone, &b->addr, 0, 0, 0) == NGX_OK) {
        ngx_beacon_shm_offset_gauge(b->zone, NGX_BEACON_OG_HANDSHAKES, -1);
        b->admitted = 1;
    }

    if (plen > sizeof(h)) {
        ob = ngx_stream_beacon_offset_obuf(b, plen - sizeof(h));
        if (ob == NULL) {
            ngx_stream_beacon_offset_close(b, "out of memory");
            return;
        }

        ngx_memcpy(ob->pos, payload + sizeof(h), plen - sizeof(h));
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_stream_beacon_offset_close(b, "event error");
        return;
    }

    ngx_stream_beacon_offset_splice(a, b);

    return;

failed:

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, a->c->log, 0,
                   "beacon offset handoff for connection %uL failed: bad "
                   "handoff message", a->serial);

    sodium_memzero(&h, sizeof(h));
    ngx_beacon_count(a->zone, NGX_BEACON_C_OFFSET_HANDOFF_FAILED);
    (void) ngx_close_socket(fd);
}


/* the core's output: a new queued buffer */

static uint8_t *
ngx_stream_beacon_offset_out(void *data, size_t len)
{
    ngx_stream_beacon_obuf_t  *b;

    b = ngx_stream_beacon_offset_obuf(data, len);

    return b ? b->pos : NULL;
}


static void
ngx_stream_beacon_offset_random(void *data, uint8_t *buf, size_t len)
{
    randombytes_buf(buf, len);
}


/* a queued output buffer of len bytes at ->pos */

static ngx_stream_beacon_obuf_t *
ngx_stream_beacon_offset_obuf(ngx_stream_beacon_oc_t *oc, size_t len)
{
    ngx_stream_beacon_obuf_t  *b;

    b = ngx_alloc(offsetof(ngx_stream_beacon_obuf_t, data) + len, oc->c->log);
    if (b == NULL) {
        return NULL;
    }

    b->next = NULL;
    b->pos = b->data;
    b->last = b->data + len;

    *oc->out_last = b;
    oc->out_last = &b->next;
    oc->out_bytes += len;

    return b;
}


/* NGX_OK (all written), NGX_AGAIN (waiting for the socket), NGX_ERROR */

static ngx_int_t
ngx_stream_beacon_offset_flush(ngx_stream_beacon_oc_t *oc)
{
    size_t                     sent;
    ssize_t                    n;
    ngx_uint_t                 i;
    ngx_iovec_t                vec;
    ngx_connection_t          *c;
    struct iovec               iovs[NGX_IOVS_PREALLOCATE];
    ngx_stream_beacon_obuf_t  *b;

    c = oc->c;

    vec.iovs = iovs;
    vec.nalloc = NGX_IOVS_PREALLOCATE;

    while (oc->out) {

        /* several queued frames in one writev() */

        vec.count = 0;
        vec.size = 0;

        for (b = oc->out; b && vec.count < vec.nalloc; b = b->next) {
            iovs[vec.count].iov_base = b->pos;
            iovs[vec.count].iov_len = b->last - b->pos;
            vec.size += b->last - b->pos;
            vec.count++;
        }

        n = ngx_writev(c, &vec);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN) {
            /* ngx_writev() leaves this to its callers */
            c->write->ready = 0;
            break;
        }

        sent = (size_t) n;
        oc->out_bytes -= sent;

        for (i = 0; oc->out && sent; i++) {
            b = oc->out;

            if ((size_t) (b->last - b->pos) > sent) {
                b->pos += sent;
                break;
            }

            sent -= b->last - b->pos;
            oc->out = b->next;
            ngx_free(b);
        }

        /*
         * A short write is not EAGAIN: write again until the socket says
         * so, or the write event would never be armed.
         */
    }

    if (oc->out == NULL) {
        oc->out_last = &oc->out;
    }

    if (oc->out && ngx_handle_write_event(c->write, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_stream_beacon_offset_resume(oc);

    return oc->out ? NGX_AGAIN : NGX_OK;
}


/* the other side of a tunnel may read again once this one drained */

static void
ngx_stream_beacon_offset_resume(ngx_stream_beacon_oc_t *oc)
{
    ngx_stream_beacon_oc_t  *src;

    src = oc->peer;

    if (src && src->paused && oc->out_bytes <= oc->conf->buffer / 2) {
        src->paused = 0;
        ngx_post_event(src->c->read, &ngx_posted_events);
    }
}


static void
ngx_stream_beacon_offset_write(ngx_event_t *wev)
{
    ngx_connection_t        *c;
    ngx_stream_beacon_oc_t  *oc;

    c = wev->data;
    oc = c->data;

    if (wev->error || ngx_stream_beacon_offset_flush(oc) == NGX_ERROR) {
        ngx_stream_beacon_offset_close(oc, oc->flushing ? NULL
                                                        : "write error");
        return;
    }

    if (oc->flushing && oc->out == NULL) {
        ngx_stream_beacon_offset_close(oc, NULL);
    }
}


static void
ngx_stream_beacon_offset_timer(ngx_event_t *ev)
{
    ngx_beacon_offset_ev_t   oev;
    ngx_stream_beacon_oc_t  *oc;

    oc = ev->data;

    if (oc->flushing) {
        ngx_stream_beacon_offset_close(oc, "tunnel closed, output dropped");
        return;
    }

    if (ngx_beacon_offset_conn_tick(&oc->core, &oev, ngx_current_msec)
        != NGX_BEACON_OFFSET_NONE
        && ngx_stream_beacon_offset_event(oc, &oev) != NGX_OK)
    {
        return;
    }

    if (oc->out && ngx_stream_beacon_offset_flush(oc) == NGX_ERROR) {
        ngx_stream_beacon_offset_close(oc, "write error");
        return;
    }

    ngx_stream_beacon_offset_arm(oc);
}


/* one timer per connection, at the nearest of its deadlines */

static void
ngx_stream_beacon_offset_arm(ngx_stream_beacon_oc_t *oc)
{
    ngx_msec_t  next;

    next = ngx_beacon_offset_conn_next(&oc->core, ngx_current_msec);

    ngx_add_timer(&oc->timer, next - ngx_current_msec);
}


static void
ngx_stream_beacon_offset_close(ngx_stream_beacon_oc_t *oc, const char *why)
{
    u_char                     fp[16];
    ngx_uint_t                 i, n;
    ngx_connection_t          *c;
    ngx_beacon_owner_t         owner, drop[NGX_BEACON_OFFSET_RELAY_DROP_MAX];
    ngx_stream_beacon_oc_t    *peer;
    ngx_stream_beacon_obuf_t  *b;

    c = oc->c;

    if (why) {
        if (oc->core.state == NGX_BEACON_OFFSET_HANDSHAKE) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "offset relay: closed in the handshake: %s", why);

        } else {
            ngx_stream_beacon_offset_fp(fp, oc->core.peer_pk);
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "offset relay: closed %s: %s", fp, why);
        }
    }

    owner.pid = ngx_pid;
    owner.conn = oc->serial;

    c->log->action = "closing an Offset connection";

    if (oc->in_hs) {
        ngx_beacon_shm_offset_gauge(oc->zone, NGX_BEACON_OG_HANDSHAKES, -1);

        if (oc->admitted) {
            ngx_beacon_count(oc->zone, NGX_BEACON_C_OFFSET_HANDSHAKES_FAILED);
            ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                           "beacon offset handshake failed: %s",
                           why ? why : "closed by the node");
        }

    } else if (oc->core.state == NGX_BEACON_OFFSET_HANDSHAKE) {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "beacon offset close before the handshake: %s",
                       why ? why : "refused");

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "beacon offset close %s in state %s: %s",
                       ngx_stream_beacon_offset_dfp(oc->core.peer_pk),
                       ngx_stream_beacon_offset_states[oc->core.state],
                       why ? why : "closed by the node");
    }

    switch (oc->core.state) {

    case NGX_BEACON_OFFSET_LISTEN:
        ngx_beacon_shm_offset_gauge(oc->zone, NGX_BEACON_OG_LISTENERS, -1);

        if (ngx_beacon_offset_unlisten(oc->zone, oc->core.peer_pk, &owner)
            == NGX_OK)
        {
            /* its pending Connects go with it (3.6.2) */

            n = ngx_beacon_offset_half_drop(oc->zone, oc->core.peer_pk, drop,
                                            NGX_BEACON_OFFSET_RELAY_DROP_MAX);

            for (i = 0; i < n && i < NGX_BEACON_OFFSET_RELAY_DROP_MAX; i++) {
                ngx_stream_beacon_offset_close_owner(oc->zone, &drop[i],
                                                     "the listener left");
            }
        }

        break;

    case NGX_BEACON_OFFSET_HALF:
        ngx_beacon_shm_offset_gauge(oc->zone, NGX_BEACON_OG_HALF_TUNNELS, -1);
        ngx_beacon_offset_half_del(oc->zone, oc->core.target,
                                   oc->core.peer_pk, &owner);
        break;

    case NGX_BEACON_OFFSET_TUNNEL:
        peer = oc->peer;

        if (peer) {
            /* one side ends the tunnel; the other gets its output first */

            ngx_log_debug5(NGX_LOG_DEBUG_STREAM, c->log, 0,
                           "beacon offset tunnel closed by %s: %uL bytes "
                           "in %uL messages from it, %uL bytes in %uL "
                           "messages to it",
                           ngx_stream_beacon_offset_dfp(oc->core.peer_pk),
                           oc->bytes, oc->messages, peer->bytes,
                           peer->messages);

            ngx_beacon_shm_offset_gauge(oc->zone, NGX_BEACON_OG_TUNNELS, -1);

            peer->peer = NULL;
            peer->flushing = 1;
            peer->paused = 0;

            if (peer->out) {
                ngx_add_timer(&peer->timer,
                    NGX_BEACON_OFFSET_RELAY_FLUSH_TIMEOUT);
            }

            /* writes what is queued (perhaps not tried yet), then closes */
            ngx_post_event(peer->c->write, &ngx_posted_events);
        }

        break;
    }

    oc->core.state = NGX_BEACON_OFFSET_GONE;

    if (oc->admitted) {
        ngx_beacon_shm_offset_leave(oc->zone, &oc->addr);
    }

    if (oc->timer.timer_set) {
        ngx_del_timer(&oc->timer);
    }

    ngx_rbtree_delete(&ngx_stream_beacon_offset_w->conns, &oc->node);

    while (oc->out) {
        b = oc->out;
        oc->out = b->next;
        ngx_free(b);
    }

    ngx_beacon_offset_conn_free(&oc->core);

    if (oc->s) {
        ngx_stream_finalize_session(oc->s, NGX_STREAM_OK);

    } else {
        ngx_close_connection(c);
    }

    sodium_memzero(oc, sizeof(ngx_stream_beacon_oc_t));
    ngx_free(oc);
}


/* closes a Listen or pending Connect connection, in this or another worker */

static void
ngx_stream_beacon_offset_close_owner(ngx_beacon_zone_t *z,
    ngx_beacon_owner_t *owner, const char *why)
{
    ngx_stream_beacon_oc_t  *oc;

    ngx_log_debug3(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                   "beacon offset closing connection %P/%uL: %s",
                   owner->pid, owner->conn, why);

    if (owner->pid != ngx_pid) {
        (void) ngx_beacon_ipc_send_fd(owner->pid, NGX_BEACON_OFFSET_IPC_CLOSE,
                                      owner->conn, NULL, 0, (u_char *) why,
                                      ngx_strlen(why) + 1, (ngx_socket_t) -1);
        return;
    }

    oc = ngx_stream_beacon_offset_find(owner->conn);

    if (oc && (oc->core.state == NGX_BEACON_OFFSET_LISTEN ||
        oc->core.state == NGX_BEACON_OFFSET_HALF)) {
        ngx_stream_beacon_offset_close(oc, why);
    }
}


static ngx_stream_beacon_oc_t *
ngx_stream_beacon_offset_find(uint64_t serial)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    key = (ngx_rbtree_key_t) serial;
    node = ngx_stream_beacon_offset_w->conns.root;
    sentinel = ngx_stream_beacon_offset_w->conns.sentinel;

    while (node != sentinel) {
        if (key == node->key) {
            return (ngx_stream_beacon_oc_t *) node;
        }

        node = key < node->key ? node->left : node->right;
    }

    return NULL;
}


static ngx_int_t
ngx_stream_beacon_offset_scratch(size_t frame_max)
{
    if (ngx_beacon_offset_scratch_init(&ngx_stream_beacon_offset_w->scratch,
                                       frame_max,
                                       ngx_stream_beacon_offset_random, NULL)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "offset relay: out of memory for the frame buffers");
        return NGX_ERROR;
    }

    return NGX_OK;
}


#if (NGX_DEBUG)

/*
 * A fingerprint for a debug line, from a ring of buffers (a line may
 * show two keys); only good until the line is written.
 */

static u_char *
ngx_stream_beacon_offset_dfp(const u_char *pk)
{
    static ngx_uint_t  i;
    static u_char      ring[4][16];

    i = (i + 1) % 4;
    ngx_stream_beacon_offset_fp(ring[i], pk);

    return ring[i];
}

#endif


/*
 * The log handler of an adopted connection (handed over by another
 * worker): its action, and that it came from another worker.
 */

static u_char *
ngx_stream_beacon_offset_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char  *p;

    p = buf;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    return ngx_snprintf(buf, len, ", handed over by another worker");
}


/* a key fingerprint for the log: the first 11 base64url characters */

static void
ngx_stream_beacon_offset_fp(u_char *out, const u_char *pk)
{
    char  b64[NGX_BEACON_OFFSET_B64_KEY_LEN + 1];

    ngx_beacon_offset_b64_key(b64, pk);
    ngx_memcpy(out, b64, 11);
    out[11] = '\0';
}


static void *
ngx_stream_beacon_offset_create_srv_conf(ngx_conf_t *cf)
{
    ngx_stream_beacon_offset_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_beacon_offset_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->zone_name = { 0, NULL };
     *     conf->identity_file = { 0, NULL };
     *     conf->ident = NULL;
     *     conf->shm_zone = NULL;
     */

    conf->frame_max = NGX_CONF_UNSET_SIZE;
    conf->buffer = NGX_CONF_UNSET_SIZE;
    conf->handshake_timeout = NGX_CONF_UNSET_MSEC;
    conf->init_timeout = NGX_CONF_UNSET_MSEC;
    conf->keepalive = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->half_timeout = NGX_CONF_UNSET_MSEC;
    conf->rekey_interval = NGX_CONF_UNSET_MSEC;
    conf->padding = NGX_CONF_UNSET_UINT;
    conf->handshakes = NGX_CONF_UNSET_UINT;
    conf->connections = NGX_CONF_UNSET_UINT;
    conf->per_ip = NGX_CONF_UNSET_UINT;
    conf->allow = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_stream_beacon_offset_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_stream_beacon_offset_srv_conf_t *prev = parent;
    ngx_stream_beacon_offset_srv_conf_t *conf = child;

    ngx_conf_merge_size_value(conf->frame_max, prev->frame_max,
                              NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT);
    ngx_conf_merge_size_value(conf->buffer, prev->buffer, 256 * 1024);
    ngx_conf_merge_msec_value(conf->handshake_timeout,
                              prev->handshake_timeout, 8000);
    ngx_conf_merge_msec_value(conf->init_timeout, prev->init_timeout, 4000);
    ngx_conf_merge_msec_value(conf->keepalive, prev->keepalive, 16000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 32000);
    ngx_conf_merge_msec_value(conf->half_timeout, prev->half_timeout, 32000);
    ngx_conf_merge_msec_value(conf->rekey_interval, prev->rekey_interval,
                              NGX_BEACON_OFFSET_TICKS_TO_REKEY * 1000);
    ngx_conf_merge_uint_value(conf->padding, prev->padding,
                              NGX_BEACON_OFFSET_PADDING_SEND_MAX);
    ngx_conf_merge_uint_value(conf->handshakes, prev->handshakes, 512);
    ngx_conf_merge_uint_value(conf->connections, prev->connections, 0);
    ngx_conf_merge_uint_value(conf->per_ip, prev->per_ip, 0);
    ngx_conf_merge_ptr_value(conf->allow, prev->allow, NULL);

    if (conf->frame_max < 4096 || conf->frame_max > 64 * 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_offset_frame_max\" directive: %uz is "
                           "out of range (4k to 64m)", conf->frame_max);
        return NGX_CONF_ERROR;
    }

    if (conf->buffer < 16384 || conf->buffer > 64 * 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_offset_buffer\" directive: %uz is out "
                           "of range (16k to 64m)", conf->buffer);
        return NGX_CONF_ERROR;
    }

    if (conf->padding > NGX_BEACON_OFFSET_PADDING_ACCEPT_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_offset_padding\" directive: %ui is out "
                           "of range (0 to 65535)", conf->padding);
        return NGX_CONF_ERROR;
    }

#define NGX_BEACON_OFFSET_NONZERO(v, name)                                   \
    if ((v) == 0) {                                                          \
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,                             \
                           "\"" name "\" directive: must be more than 0");   \
        return NGX_CONF_ERROR;                                               \
    }

    NGX_BEACON_OFFSET_NONZERO(conf->handshake_timeout,
        "beacon_offset_handshake_timeout");
    NGX_BEACON_OFFSET_NONZERO(conf->init_timeout,
        "beacon_offset_init_timeout");
    NGX_BEACON_OFFSET_NONZERO(conf->keepalive, "beacon_offset_keepalive");
    NGX_BEACON_OFFSET_NONZERO(conf->idle_timeout,
        "beacon_offset_idle_timeout");
    NGX_BEACON_OFFSET_NONZERO(conf->half_timeout,
        "beacon_offset_half_tunnel_timeout");

#undef NGX_BEACON_OFFSET_NONZERO

    return NGX_CONF_OK;
}


/* beacon_offset_relay identity=FILE [zone=NAME] */

static char *
ngx_stream_beacon_offset_relay(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_stream_beacon_offset_srv_conf_t *oscf = conf;

    int                          rc, err;
    ngx_str_t                   *value, file;
    ngx_uint_t                   i;
    ngx_pool_cleanup_t          *cln;
    ngx_stream_core_srv_conf_t  *cscf;

    if (oscf->ident) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "identity=", 9) == 0
            && value[i].len > 9)
        {
            oscf->identity_file.data = value[i].data + 9;
            oscf->identity_file.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0 && value[i].len > 5) {
            oscf->zone_name.data = value[i].data + 5;
            oscf->zone_name.len = value[i].len - 5;
            continue;
        }

        ngx_stream_beacon_conf_error(cf, cmd,
                           "invalid parameter \"%V\", expected "
                           "\"identity=FILE\" or \"zone=NAME\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (oscf->identity_file.len == 0) {
        ngx_stream_beacon_conf_error(cf, cmd,
                           "needs \"identity=FILE\" (make one with "
                           "beacon-offset-tool gen-ident)");
        return NGX_CONF_ERROR;
    }

    file = oscf->identity_file;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    oscf->identity_file = file;

    oscf->ident = ngx_pcalloc(cf->pool, sizeof(ngx_beacon_offset_ident_t));
    if (oscf->ident == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_stream_beacon_offset_wipe;
    cln->data = oscf->ident;

    rc = ngx_beacon_offset_ident_load(oscf->ident, (char *) file.data);

    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        err = (rc == NGX_BEACON_OFFSET_IDENT_ERR_IO) ? ngx_errno : 0;

        if (err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                               "\"%V\" directive: identity file \"%V\": %s",
                               &cmd->name, &file,
                               ngx_beacon_offset_ident_strerror(rc));
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive: identity file \"%V\": %s",
                               &cmd->name, &file,
                               ngx_beacon_offset_ident_strerror(rc));
        }

        return NGX_CONF_ERROR;
    }

    if (oscf->ident->format == NGX_BEACON_OFFSET_IDENT_PKCS8) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "identity file \"%V\" is a legacy (Offset "
                           "v0.1.3 - v0.1.10) PKCS#8 file; it is read as "
                           "such", &file);
    }

    cscf = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_core_module);

    if (cscf->handler) {
        ngx_stream_beacon_conf_error(cf, cmd,
                           "another content handler (\"beacon\", "
                           "\"proxy_pass\", ...) is set in this server");
        return NGX_CONF_ERROR;
    }

    cscf->handler = ngx_stream_beacon_offset_handler;

    oscf->file = cf->conf_file->file.name.data;
    oscf->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static void
ngx_stream_beacon_offset_wipe(void *data)
{
    sodium_memzero(data, sizeof(ngx_beacon_offset_ident_t));
}


/* beacon_offset_listen_allow KEY ... (base64url, 43 characters) */

static char *
ngx_stream_beacon_offset_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_stream_beacon_offset_srv_conf_t *oscf = conf;

    size_t       len;
    u_char      *k;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (oscf->allow == NGX_CONF_UNSET_PTR) {
        oscf->allow = ngx_array_create(cf->pool, 4, NGX_BEACON_OFFSET_PK_LEN);
        if (oscf->allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        k = ngx_array_push(oscf->allow);
        if (k == NULL) {
            return NGX_CONF_ERROR;
        }

        if (value[i].len != NGX_BEACON_OFFSET_B64_KEY_LEN
            || sodium_base642bin(k, NGX_BEACON_OFFSET_PK_LEN,
                                 (char *) value[i].data, value[i].len, NULL,
                                 &len, NULL,
                                 sodium_base64_VARIANT_URLSAFE_NO_PADDING)
               != 0
            || len != NGX_BEACON_OFFSET_PK_LEN)
        {
            ngx_stream_beacon_conf_error(cf, cmd,
                               "invalid public key \"%V\", expected 43 "
                               "base64url characters (a ticket's "
                               "\"publicKey\")", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_beacon_offset_rekey(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_stream_beacon_offset_srv_conf_t *oscf = conf;

    ngx_str_t   *value;
    ngx_msec_t   ms;

    if (oscf->rekey_interval != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        oscf->rekey_interval = 0;
        return NGX_CONF_OK;
    }

    ms = ngx_parse_time(&value[1], 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms < 1000) {
        ngx_stream_beacon_conf_error(cf, cmd,
                           "invalid value \"%V\", expected \"off\" or a "
                           "time of at least 1s", &value[1]);
        return NGX_CONF_ERROR;
    }

    oscf->rekey_interval = ms;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_stream_beacon_offset_postconf(ngx_conf_t *cf)
{
    ngx_uint_t                            i;
    const char                           *err;
#if (nginx_version < 1025005)
    ngx_stream_listen_t                  *listen;
#else
    ngx_uint_t                            j, k;
    ngx_stream_conf_port_t               *port;
    ngx_stream_conf_addr_t               *addr;
#endif
    ngx_stream_conf_ctx_t                *ctx;
    ngx_stream_core_srv_conf_t          **cscfp;
    ngx_stream_core_main_conf_t          *cmcf;
    ngx_stream_beacon_offset_srv_conf_t  *oscf;

    cmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_core_module);
    cscfp = cmcf->servers.elts;

    ngx_stream_beacon_offset_frame_max = 0;

    for (i = 0; i < cmcf->servers.nelts; i++) {
        ctx = cscfp[i]->ctx;
        oscf = ctx->srv_conf[ngx_stream_beacon_offset_module.ctx_index];

        if (oscf->ident == NULL) {
            continue;
        }

        err = NULL;
        oscf->shm_zone = ngx_stream_beacon_find_zone(cf, &oscf->zone_name,
                                                     &err);
        if (oscf->shm_zone == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"beacon_offset_relay\" directive in %s:%ui %s",
                          oscf->file, oscf->line, err);
            return NGX_ERROR;
        }

        if (oscf->frame_max > ngx_stream_beacon_offset_frame_max) {
            ngx_stream_beacon_offset_frame_max = oscf->frame_max;
        }

        oscf->core.pk = oscf->ident->pk;
        oscf->core.sk = oscf->ident->sk;
        oscf->core.frame_max = oscf->frame_max;
        oscf->core.padding = oscf->padding;
        oscf->core.handshake_timeout = oscf->handshake_timeout;
        oscf->core.init_timeout = oscf->init_timeout;
        oscf->core.keepalive = oscf->keepalive;
        oscf->core.idle_timeout = oscf->idle_timeout;
        oscf->core.half_timeout = oscf->half_timeout;
        oscf->core.rekey_interval = oscf->rekey_interval;
    }

    /* the relay speaks TCP only */

#if (nginx_version < 1025005)

    listen = cmcf->listen.elts;

    for (i = 0; i < cmcf->listen.nelts; i++) {
        oscf = listen[i].ctx->srv_conf[
                                   ngx_stream_beacon_offset_module.ctx_index];

        if (oscf->ident && listen[i].type != SOCK_STREAM) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"beacon_offset_relay\" directive in %s:%ui "
                          "needs a TCP listen, but \"%V\" is UDP",
                          oscf->file, oscf->line, &listen[i].addr_text);
            return NGX_ERROR;
        }
    }

#else

    port = cmcf->ports ? cmcf->ports->elts : NULL;

    for (i = 0; port && i < cmcf->ports->nelts; i++) {

        if (port[i].type == SOCK_STREAM) {
            continue;
        }

        addr = port[i].addrs.elts;

        for (j = 0; j < port[i].addrs.nelts; j++) {
            cscfp = addr[j].servers.elts;

            for (k = 0; k < addr[j].servers.nelts; k++) {
                oscf = cscfp[k]->ctx->srv_conf[
                                   ngx_stream_beacon_offset_module.ctx_index];

                if (oscf->ident) {
                    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                                  "\"beacon_offset_relay\" directive in "
                                  "%s:%ui needs a TCP listen, but \"%V\" "
                                  "is UDP", oscf->file, oscf->line,
                                  &addr[j].opt.addr_text);
                    return NGX_ERROR;
                }
            }
        }
    }

#endif

    return NGX_OK;
}


static ngx_int_t
ngx_stream_beacon_offset_init_process(ngx_cycle_t *cycle)
{
    ngx_stream_beacon_offset_worker_t  *w;

    if ((ngx_process != NGX_PROCESS_WORKER
         && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_stream_beacon_offset_frame_max == 0)
    {
        return NGX_OK;
    }

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_stream_beacon_offset_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&w->conns, &w->sentinel, ngx_rbtree_insert_value);

    ngx_stream_beacon_offset_w = w;

    if (ngx_stream_beacon_offset_scratch(ngx_stream_beacon_offset_frame_max)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_beacon_ipc_set_fd_handler(ngx_stream_beacon_offset_ipc);

    return NGX_OK;
}


/*
 * the scratch buffers are malloc()ed, their owner is in the cycle pool:
 * free them before the worker destroys that pool and exits
 */

static void
ngx_stream_beacon_offset_exit_process(ngx_cycle_t *cycle)
{
    ngx_stream_beacon_offset_worker_t  *w;

    w = ngx_stream_beacon_offset_w;

    if (w == NULL) {
        return;
    }

    ngx_beacon_offset_scratch_free(&w->scratch);

    ngx_stream_beacon_offset_w = NULL;
}
