
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The compat bridge: Pilot daemons without UDP speak the beacon datagrams
 * as WebSocket binary messages, over HTTP/1.1 and the TLS of the server
 * this location lives in.  The upgrade (spec 7.2), the Ed25519 login
 * (7.3), the hardened handling of bridged datagrams (7.8), deliveries from
 * any worker through the per-worker channel, and the key lookups against
 * the Pilot registry.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_http.h>

#include <sodium.h>

#include "ngx_http_beacon.h"
#include "ngx_beacon_proto.h"
#include "ngx_beacon_ws.h"
#include "ngx_beacon_compat_session.h"
#include "ngx_beacon_json.h"
#include "ngx_beacon_registry_reply.h"
#include "ngx_beacon_keys.h"
#include "ngx_beacon_ipc.h"
#include "ngx_beacon_relay.h"
#include "ngx_beacon_udp.h"
#include "ngx_beacon_gossip.h"


#define NGX_HTTP_BEACON_WS_MAX_MESSAGE   65536
#define NGX_HTTP_BEACON_WS_RBUF          4096
#define NGX_HTTP_BEACON_NEGATIVE_TTL     10

#define NGX_HTTP_BEACON_UPGRADE_REQUIRED 426


typedef struct ngx_http_beacon_ws_s      ngx_http_beacon_ws_t;
typedef struct ngx_http_beacon_lookup_s  ngx_http_beacon_lookup_t;


struct ngx_http_beacon_ws_s {
    ngx_rbtree_node_t             node;       /* key: c->number */
    ngx_http_request_t           *r;
    ngx_connection_t             *c;
    ngx_http_beacon_loc_conf_t   *conf;
    ngx_beacon_zone_t            *zone;
    ngx_beacon_addr_t             addr;
    ngx_beacon_owner_t            owner;
    uint32_t                      node_id;    /* logged in as */

    /* the session: frames, login, closing (ngx_beacon_compat_session.c) */
    ngx_beacon_compat_session_t   s;

    /* the login */
    uint32_t                      claimed;
    ngx_http_beacon_lookup_t     *lookup;

    /* reading: at most a partial frame header is left between reads */
    u_char                       *rbuf;
    size_t                        rlen;

    /* writing */
    u_char                       *obuf;
    size_t                        ocap;
    size_t                        opos;
    size_t                        olen;

    unsigned                      authed:1;
    unsigned                      admitted:1;
    unsigned                      registered:1;
    unsigned                      done:1;
};


struct ngx_http_beacon_lookup_s {
    ngx_http_beacon_ws_t         *ws;
    ngx_beacon_zone_t            *zone;
    uint32_t                      node_id;
    time_t                        ttl;
};


static ngx_int_t ngx_http_beacon_reject(ngx_http_request_t *r,
    ngx_beacon_zone_t *z, ngx_uint_t status, const char *header,
    const char *value);
static ngx_beacon_compat_header_t *ngx_http_beacon_headers(
    ngx_http_request_t *r, size_t *n);
static ngx_int_t ngx_http_beacon_add_header(ngx_http_request_t *r,
    const char *name, u_char *value, size_t len);
static void ngx_http_beacon_ws_cleanup(void *data);
static void ngx_http_beacon_ws_read_handler(ngx_event_t *rev);
static void ngx_http_beacon_ws_write_handler(ngx_event_t *wev);
static ngx_int_t ngx_http_beacon_ws_input(ngx_http_beacon_ws_t *ws);
static ngx_int_t ngx_http_beacon_ws_act(ngx_http_beacon_ws_t *ws,
    ngx_beacon_compat_action_t *a);
static ngx_int_t ngx_http_beacon_ws_key(ngx_http_beacon_ws_t *ws,
    uint32_t node_id);
static ngx_int_t ngx_http_beacon_ws_auth_key(ngx_http_beacon_ws_t *ws,
    const uint8_t *key);
static ngx_int_t ngx_http_beacon_ws_login(ngx_http_beacon_ws_t *ws,
    ngx_beacon_compat_action_t *a);
static void ngx_http_beacon_ws_datagram(ngx_http_beacon_ws_t *ws,
    u_char *p, size_t len);
static ngx_int_t ngx_http_beacon_ws_queue(ngx_http_beacon_ws_t *ws,
    ngx_uint_t opcode, const u_char *hdr, size_t hlen, const u_char *payload,
    size_t plen, ngx_uint_t control);
static ngx_int_t ngx_http_beacon_ws_flush(ngx_http_beacon_ws_t *ws);
static ngx_int_t ngx_http_beacon_ws_close(ngx_http_beacon_ws_t *ws,
    ngx_uint_t code, const char *reason);
static void ngx_http_beacon_ws_finalize(ngx_http_beacon_ws_t *ws);
static ngx_http_beacon_ws_t *ngx_http_beacon_ws_find(uint64_t conn);
static ngx_int_t ngx_http_beacon_ipc_handler(ngx_uint_t type,
    uint32_t node_id, uint64_t conn, const u_char *hdr, size_t hlen,
    const u_char *payload, size_t plen);

static ngx_int_t ngx_http_beacon_lookup_start(ngx_http_beacon_ws_t *ws);
static ngx_int_t ngx_http_beacon_lookup_reply(ngx_beacon_rpc_t *rpc,
    u_char *json, size_t len);


/* this worker's WebSocket connections, by connection number */
static ngx_rbtree_t           ngx_http_beacon_ws_tree;
static ngx_rbtree_node_t      ngx_http_beacon_ws_sentinel;
static ngx_uint_t             ngx_http_beacon_ws_tree_ready;


ngx_int_t
ngx_http_beacon_compat_init_process(ngx_cycle_t *cycle)
{
    ngx_rbtree_init(&ngx_http_beacon_ws_tree, &ngx_http_beacon_ws_sentinel,
                    ngx_rbtree_insert_value);
    ngx_http_beacon_ws_tree_ready = 1;

    ngx_beacon_ipc_set_handler(ngx_http_beacon_ipc_handler);

    return NGX_OK;
}


ngx_int_t
ngx_http_beacon_health_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


ngx_int_t
ngx_http_beacon_compat_handler(ngx_http_request_t *r)
{
    char                         hex[65];
    u_char                       accept[NGX_BEACON_WS_ACCEPT_LEN];
    u_char                       nonce[32];
    size_t                       n, nh;
    ngx_int_t                    rc;
    ngx_beacon_zone_t           *z;
    ngx_connection_t            *c;
    ngx_pool_cleanup_t          *cln;
    ngx_http_beacon_ws_t        *ws;
    ngx_http_beacon_loc_conf_t  *blcf;
    ngx_beacon_compat_action_t   a;
    ngx_beacon_compat_header_t  *hs;
    ngx_beacon_compat_upgrade_t  up;

    c = r->connection;
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_beacon_module);
    z = blcf->compat_zone->data;

    ws = ngx_pcalloc(r->pool, sizeof(ngx_http_beacon_ws_t));
    if (ws == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_beacon_addr_from_sockaddr(&ws->addr, c->sockaddr) != 0) {
        ngx_memzero(&ws->addr, sizeof(ngx_beacon_addr_t));
    }

    /* spec 7.2, in the reference's order; capacity first */

    if (r != r->main
        || ngx_beacon_shm_ws_admit(z, &ws->addr, blcf->max_peers,
                                   blcf->max_per_ip)
           != NGX_OK)
    {
        return ngx_http_beacon_reject(r, z, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      NULL, NULL);
    }

    ngx_http_set_ctx(r, ws, ngx_http_beacon_module);

    ws->admitted = 1;
    ws->r = r;
    ws->c = c;
    ws->conf = blcf;
    ws->zone = z;

    /* from here on the admission is undone by the pool cleanup */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_beacon_shm_ws_leave(z, &ws->addr);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_beacon_ws_cleanup;
    cln->data = ws;

    /* spec 7.2 checks on the request line and headers (pure code) */

    hs = ngx_http_beacon_headers(r, &nh);
    if (hs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_beacon_compat_upgrade((unsigned) r->http_version,
                              r->method == NGX_HTTP_GET, hs, nh,
                              r->headers_in.host
                              ? r->headers_in.host->value.data : NULL,
                              r->headers_in.host
                              ? r->headers_in.host->value.len : 0,
                              &up);

    if (up.status) {
        return ngx_http_beacon_reject(r, z, up.status, up.header, up.value);
    }

    /* too many failed logins from this address lately (W20) */

    if (ngx_beacon_shm_auth_allowed(z, &ws->addr, blcf->auth_fail_limit, 0)
        != NGX_OK)
    {
        ngx_beacon_count(z, NGX_BEACON_C_WS_AUTH_RATE_LIMITED);
        return ngx_http_beacon_reject(r, z, NGX_HTTP_TOO_MANY_REQUESTS,
                                      NULL, NULL);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_beacon_ws_accept(up.key, up.key_len, accept) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* 101, echoing pilot.v1 only when offered; no extensions, ever */

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->keepalive = 0;

    if (ngx_http_beacon_add_header(r, "Upgrade", (u_char *) "websocket", 9)
           != NGX_OK
        || ngx_http_beacon_add_header(r, "Sec-WebSocket-Accept", accept,
                                      NGX_BEACON_WS_ACCEPT_LEN) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (up.pilot
        && ngx_http_beacon_add_header(r, "Sec-WebSocket-Protocol",
                                      (u_char *) "pilot.v1", 8)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ws->rbuf = ngx_palloc(r->pool, NGX_HTTP_BEACON_WS_RBUF);
    if (ws->rbuf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    if (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_beacon_count(z, NGX_BEACON_C_WS_UPGRADE_OK);

    /* the connection is ours now */

    r->main->count++;
    r->lingering_close = 1;
    c->log->action = "serving a compat connection";
    c->idle = 1;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    (void) ngx_tcp_nodelay(c);

    c->read->handler = ngx_http_beacon_ws_read_handler;
    c->write->handler = ngx_http_beacon_ws_write_handler;

    ws->owner.pid = ngx_pid;
    ws->owner.conn = c->number;
    ws->node.key = (ngx_rbtree_key_t) c->number;

    if (ngx_http_beacon_ws_tree_ready) {
        ngx_rbtree_insert(&ngx_http_beacon_ws_tree, &ws->node);
        ws->registered = 1;
    }

    /* bytes the client sent right behind its handshake */

    n = r->header_in->last - r->header_in->pos;

    if (n > NGX_HTTP_BEACON_WS_RBUF) {
        n = NGX_HTTP_BEACON_WS_RBUF;
    }

    ngx_memcpy(ws->rbuf, r->header_in->pos, n);
    ws->rlen = n;
    r->header_in->pos += n;

    /* the challenge: 32 random bytes, hex */

    randombytes_buf(nonce, sizeof(nonce));
    (void) sodium_bin2hex(hex, sizeof(hex), nonce, sizeof(nonce));

    if (ngx_beacon_compat_start(&ws->s, hex, (int64_t) ngx_time(),
                                NGX_HTTP_BEACON_WS_MAX_MESSAGE, &a)
           != NGX_BEACON_COMPAT_A_TEXT
        || ngx_http_beacon_ws_queue(ws, NGX_BEACON_WS_OP_TEXT, NULL, 0,
                                    a.data, a.len, 1)
           != NGX_OK)
    {
        ngx_http_beacon_ws_finalize(ws);
        return NGX_DONE;
    }

    ngx_add_timer(c->read, blcf->auth_timeout);

    if (ngx_http_beacon_ws_flush(ws) == NGX_ERROR) {
        ngx_http_beacon_ws_finalize(ws);
        return NGX_DONE;
    }

    if (ws->rlen && ngx_http_beacon_ws_input(ws) == NGX_DONE) {
        return NGX_DONE;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_beacon_ws_finalize(ws);
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_beacon_reject(ngx_http_request_t *r, ngx_beacon_zone_t *z,
    ngx_uint_t status, const char *header, const char *value)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    ngx_beacon_count(z, NGX_BEACON_C_WS_UPGRADE_FAIL);

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (header) {
        if (ngx_http_beacon_add_header(r, header, (u_char *) value,
                                       ngx_strlen(value))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (status == NGX_HTTP_BEACON_UPGRADE_REQUIRED
            && ngx_http_beacon_add_header(r, "Connection",
                                          (u_char *) "Upgrade", 7)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (status == NGX_HTTP_BEACON_UPGRADE_REQUIRED) {
        /* nginx has no status line of its own for 426 */
        ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
    }

    /* sent here: an nginx error page would drop the headers set above */

    r->headers_out.status = status;

    if (status != NGX_HTTP_SERVICE_UNAVAILABLE) {
        r->headers_out.content_length_n = 0;
        r->header_only = 1;

        return ngx_http_send_header(r);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) "wss: at capacity\n";
    b->last = b->pos + sizeof("wss: at capacity\n") - 1;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "text/plain");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the request's header lines for ngx_beacon_compat_upgrade() */

static ngx_beacon_compat_header_t *
ngx_http_beacon_headers(ngx_http_request_t *r, size_t *n)
{
    ngx_uint_t                   i;
    ngx_list_part_t             *part;
    ngx_table_elt_t             *h;
    ngx_beacon_compat_header_t  *hs;

    *n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        *n += part->nelts;
    }

    hs = ngx_palloc(r->pool, (*n + 1) * sizeof(ngx_beacon_compat_header_t));
    if (hs == NULL) {
        return NULL;
    }

    *n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            hs[*n].name = h[i].key.data;
            hs[*n].name_len = h[i].key.len;
            hs[*n].value = h[i].value.data;
            hs[*n].value_len = h[i].value.len;
            (*n)++;
        }
    }

    return hs;
}


static ngx_int_t
ngx_http_beacon_add_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static void
ngx_http_beacon_ws_read_handler(ngx_event_t *rev)
{
    ssize_t                      n;
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_beacon_ws_t        *ws;
    ngx_beacon_compat_action_t   a;

    c = rev->data;
    r = c->data;
    ws = ngx_http_get_module_ctx(r, ngx_http_beacon_module);

    if (ws == NULL) {
        return;
    }

    if (c->close) {
        /* graceful shutdown or reload; or the shutdown timeout (error) */

        if (c->error || ngx_beacon_compat_closing(&ws->s)) {
            ngx_http_beacon_ws_finalize(ws);
            return;
        }

        (void) ngx_http_beacon_ws_close(ws, NGX_BEACON_WS_CLOSE_GOING_AWAY,
                                        "beacon shutting down");
        return;
    }

    if (rev->timedout) {
        rev->timedout = 0;

        /* closing: the end; logging in: a failure; else idle */

        if (ngx_beacon_compat_timeout(&ws->s, &a)
            == NGX_BEACON_COMPAT_A_CLOSE)
        {
            ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_IDLE_DISCONNECTS);
        }

        (void) ngx_http_beacon_ws_act(ws, &a);
        return;
    }

    for ( ;; ) {

        if (ws->rlen == NGX_HTTP_BEACON_WS_RBUF) {
            /* cannot happen: input always consumes whole headers */
            ngx_http_beacon_ws_finalize(ws);
            return;
        }

        n = c->recv(c, ws->rbuf + ws->rlen, NGX_HTTP_BEACON_WS_RBUF - ws->rlen);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_http_beacon_ws_finalize(ws);
            return;
        }

        ws->rlen += n;

        if (ngx_http_beacon_ws_input(ws) == NGX_DONE) {
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_beacon_ws_finalize(ws);
    }
}


static void
ngx_http_beacon_ws_write_handler(ngx_event_t *wev)
{
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_beacon_ws_t  *ws;

    c = wev->data;
    r = c->data;
    ws = ngx_http_get_module_ctx(r, ngx_http_beacon_module);

    if (ws == NULL) {
        return;
    }

    if (wev->timedout) {
        /* a reader that does not read (spec scenario 45) */
        wev->timedout = 0;
        ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_DROP_WRITE_TIMEOUT);
        c->error = 1;
        ngx_http_beacon_ws_finalize(ws);
        return;
    }

    if (c->error || ngx_http_beacon_ws_flush(ws) == NGX_ERROR) {
        c->error = 1;
        ngx_http_beacon_ws_finalize(ws);
    }
}


/*
 * Feeds what rbuf holds to the session and carries out its actions:
 * NGX_OK, or NGX_DONE when reading stops (our Close is out) or the
 * connection ended.
 */

static ngx_int_t
ngx_http_beacon_ws_input(ngx_http_beacon_ws_t *ws)
{
    u_char                      *p, *end;
    size_t                       used;
    ngx_int_t                    rc;
    ngx_beacon_compat_action_t   a;

    p = ws->rbuf;
    end = ws->rbuf + ws->rlen;
    rc = NGX_OK;

    while (rc == NGX_OK) {
        (void) ngx_beacon_compat_input(&ws->s, p, end - p,
                                       (int64_t) ngx_time(), &used, &a);
        p += used;

        if (a.type == NGX_BEACON_COMPAT_A_NONE) {
            break;
        }

        rc = ngx_http_beacon_ws_act(ws, &a);
    }

    if (rc == NGX_DONE) {
        /* the connection is gone */
        return NGX_DONE;
    }

    /* any frame, pings included, shows the peer is alive (W19) */

    if (ws->s.alive) {
        ws->s.alive = 0;
        ngx_add_timer(ws->c->read, ws->conf->idle_timeout);
    }

    ws->rlen = end - p;

    if (ws->rlen) {
        ngx_memmove(ws->rbuf, p, ws->rlen);
    }

    return rc == NGX_OK ? NGX_OK : NGX_DONE;
}


/*
 * Carries out one action of the session: NGX_OK to go on, NGX_AGAIN when
 * our Close is out and reading stops, NGX_DONE when the connection is
 * gone (ws must not be touched then).
 */

static ngx_int_t
ngx_http_beacon_ws_act(ngx_http_beacon_ws_t *ws, ngx_beacon_compat_action_t *a)
{
    ngx_int_t  rc;

    switch (a->type) {

    case NGX_BEACON_COMPAT_A_NONE:
        return NGX_OK;

    case NGX_BEACON_COMPAT_A_TEXT:
    case NGX_BEACON_COMPAT_A_PONG:
        if (ngx_http_beacon_ws_queue(ws, a->type == NGX_BEACON_COMPAT_A_TEXT
                                         ? NGX_BEACON_WS_OP_TEXT
                                         : NGX_BEACON_WS_OP_PONG,
                                     NULL, 0, a->data, a->len, 1)
            != NGX_OK
            || ngx_http_beacon_ws_flush(ws) == NGX_ERROR)
        {
            ngx_http_beacon_ws_finalize(ws);
            return NGX_DONE;
        }

        return NGX_OK;

    case NGX_BEACON_COMPAT_A_AUTH_FAIL:
        ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_AUTH_FAIL);
        (void) ngx_beacon_shm_auth_allowed(ws->zone, &ws->addr,
                                           ws->conf->auth_fail_limit, 1);

        /* fall through */

    case NGX_BEACON_COMPAT_A_CLOSE:
        if (a->error && a->code == NGX_BEACON_WS_CLOSE_TOO_BIG) {
            ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_DROP_OVERSIZE);
        }

        if (ngx_http_beacon_ws_queue(ws, NGX_BEACON_WS_OP_CLOSE, NULL, 0,
                                     a->data, a->len, 1)
            != NGX_OK)
        {
            ngx_http_beacon_ws_finalize(ws);
            return NGX_DONE;
        }

        /* the peer gets write_timeout to take our Close */

        rc = ngx_http_beacon_ws_flush(ws);

        if (rc == NGX_ERROR) {
            ngx_http_beacon_ws_finalize(ws);
            return NGX_DONE;
        }

        return rc == NGX_DONE ? NGX_DONE : NGX_AGAIN;

    case NGX_BEACON_COMPAT_A_KEY:
        return ngx_http_beacon_ws_key(ws, a->node_id);

    case NGX_BEACON_COMPAT_A_AUTH_OK:
        return ngx_http_beacon_ws_login(ws, a);

    case NGX_BEACON_COMPAT_A_DATAGRAM:
        ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_FRAMES_IN);
        ngx_http_beacon_ws_datagram(ws, (u_char *) a->data, a->len);
        return NGX_OK;

    default: /* NGX_BEACON_COMPAT_A_END */
        ngx_http_beacon_ws_finalize(ws);
        return NGX_DONE;
    }
}


/* the key of the node a login claims, from the authority (7.3) */

static ngx_int_t
ngx_http_beacon_ws_key(ngx_http_beacon_ws_t *ws, uint32_t node_id)
{
    ngx_int_t       rc;
    const uint8_t  *k;
    uint8_t         key[NGX_BEACON_KEY_LEN];

    ws->claimed = node_id;

    k = ngx_beacon_keys_find(ws->conf->keys, node_id);

    if (k != NULL || ws->conf->registry == NULL) {
        return ngx_http_beacon_ws_auth_key(ws, k);
    }

    rc = ngx_beacon_shm_key_get(ws->zone, node_id, key);

    if (rc == NGX_OK) {
        ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_KEY_CACHE_HITS);
        return ngx_http_beacon_ws_auth_key(ws, key);
    }

    if (rc == NGX_DECLINED) {
        ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_KEY_CACHE_HITS);
        return ngx_http_beacon_ws_auth_key(ws, NULL);
    }

    if (ngx_http_beacon_lookup_start(ws) != NGX_OK) {
        return ngx_http_beacon_ws_auth_key(ws, NULL);
    }

    /* the login resumes when the registry answers */

    return NGX_OK;
}


static ngx_int_t
ngx_http_beacon_ws_auth_key(ngx_http_beacon_ws_t *ws, const uint8_t *key)
{
    ngx_beacon_compat_action_t  a;

    (void) ngx_beacon_compat_key(&ws->s, key, &a);

    return ngx_http_beacon_ws_act(ws, &a);
}


/* the signature was good: this connection is now the node's only one */

static ngx_int_t
ngx_http_beacon_ws_login(ngx_http_beacon_ws_t *ws,
    ngx_beacon_compat_action_t *a)
{
    ngx_beacon_owner_t           prev;
    ngx_http_beacon_ws_t        *old;
    ngx_beacon_compat_action_t   full;

    if (ngx_beacon_shm_ws_attach(ws->zone, a->node_id, &ws->owner, &prev)
        != NGX_OK)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->c->log, 0,
                       "beacon compat login %uD refused: beacon full",
                       a->node_id);
        ngx_beacon_count(ws->zone, NGX_BEACON_C_REFUSED_CAPACITY);
        (void) ngx_beacon_compat_close(&ws->s, 1013, "beacon full", &full);
        return ngx_http_beacon_ws_act(ws, &full);
    }

    ws->node_id = a->node_id;
    ws->authed = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->c->log, 0,
                   "beacon compat login %uD, connection %uA",
                   ws->node_id, ws->c->number);

    ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_AUTH_OK);
    ngx_beacon_shm_ws_peers(ws->zone, 1);

    if (prev.pid != 0
        && !(prev.pid == ws->owner.pid && prev.conn == ws->owner.conn))
    {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ws->c->log, 0,
                       "beacon compat %uD replaces its connection %uL "
                       "of pid %P", ws->node_id, prev.conn, prev.pid);

        ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_REPLACED);

        if (prev.pid == ngx_pid) {
            old = ngx_http_beacon_ws_find(prev.conn);

            if (old && old->node_id == ws->node_id) {
                old->node_id = 0;
                (void) ngx_http_beacon_ws_close(old,
                                                NGX_BEACON_WS_CLOSE_NORMAL,
                                                "replaced");
            }

        } else {
            (void) ngx_beacon_ipc_send(prev.pid, NGX_BEACON_IPC_REPLACED,
                                       ws->node_id, prev.conn, NULL, 0,
                                       NULL, 0);
        }
    }

    ngx_add_timer(ws->c->read, ws->conf->idle_timeout);

    if (ngx_http_beacon_ws_queue(ws, NGX_BEACON_WS_OP_TEXT, NULL, 0, a->data,
                                 a->len, 1)
        != NGX_OK
        || ngx_http_beacon_ws_flush(ws) == NGX_ERROR)
    {
        ngx_http_beacon_ws_finalize(ws);
        return NGX_DONE;
    }

    return NGX_OK;
}


/* one bridged datagram, with the hardened rules of spec 7.8 */

static void
ngx_http_beacon_ws_datagram(ngx_http_beacon_ws_t *ws, u_char *p, size_t len)
{
    int                      rc;
    ngx_beacon_msg_t         msg;
    ngx_beacon_addr_t        src;
    ngx_beacon_zone_t       *z;
    ngx_beacon_relay_face_t  f;

    z = ws->zone;

    ngx_beacon_count(z, NGX_BEACON_C_DATAGRAMS);

    rc = ngx_beacon_parse(p, len, &msg);

    if (rc != NGX_BEACON_PARSE_OK) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->c->log, 0,
                       "beacon compat %uD frame dropped: %s", ws->node_id,
                       rc == NGX_BEACON_PARSE_UNKNOWN ? "unknown_type"
                                                      : "malformed");
        ngx_beacon_count(z, rc == NGX_BEACON_PARSE_UNKNOWN
                            ? NGX_BEACON_C_UNKNOWN_TYPE
                            : NGX_BEACON_C_MALFORMED);
        return;
    }

    switch (msg.type) {

    case NGX_BEACON_DISCOVER:
    case NGX_BEACON_DISCOVER_EX:
        ngx_beacon_count(z, NGX_BEACON_C_DISCOVER);

        /* only for itself; present via WSS, nothing goes back (W12) */

        if (msg.node_id != ws->node_id
            || ngx_beacon_shm_ws_present(z, ws->node_id, &ws->owner)
               != NGX_OK)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->c->log, 0,
                           "beacon compat %uD discover dropped: not_allowed",
                           ws->node_id);
            ngx_beacon_count(z, NGX_BEACON_C_WS_DROP_NOT_ALLOWED);
        }

        return;

    case NGX_BEACON_RELAY:

        /* the budget of a bridged node is keyed on its id (spec 5.1) */

        ngx_memzero(&src, sizeof(ngx_beacon_addr_t));
        ngx_memcpy(src.ip, NGX_BEACON_WSS_PREFIX, 8);
        ngx_beacon_put32(src.ip + 12, ws->node_id);

        f.zone = z;
        f.sock = NULL;
        f.src = &src;
        f.log = ws->c->log;
        f.debug = NGX_LOG_DEBUG_HTTP;
        f.is_peer = NULL;
        f.data = NULL;
        f.relay_limit = (ngx_uint_t) ws->conf->relay_limit;
        f.peer_relay_limit = 0;
        f.bind_sender = 0;
        f.node_id = ws->node_id;
        f.bound_id = 1;

        ws->c->log->action = "relaying a compat frame";

        rc = ngx_beacon_relay_route(&f, &msg, p, len);

        ws->c->log->action = "serving a compat connection";

        if (rc == NGX_BEACON_ROUTE_RELAYED
            || rc == NGX_BEACON_ROUTE_FORWARDED)
        {
            ngx_beacon_udp_flush();
        }

        return;

    default:
        /* SYNC refused, PUNCH_REQUEST ignored: compat peers cannot punch */
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->c->log, 0,
                       "beacon compat %uD type 0x%02xd dropped: not_allowed",
                       ws->node_id, msg.type);
        ngx_beacon_count(z, NGX_BEACON_C_WS_DROP_NOT_ALLOWED);
        return;
    }
}


static ngx_int_t
ngx_http_beacon_ws_queue(ngx_http_beacon_ws_t *ws, ngx_uint_t opcode,
    const u_char *hdr, size_t hlen, const u_char *payload, size_t plen,
    ngx_uint_t control)
{
    u_char  *nb;
    size_t   need, cap;

    need = NGX_BEACON_WS_HEADER_MAX + hlen + plen;

    /* deliveries are dropped when the queue is full; control always fits */

    if (!control && ws->olen - ws->opos + need > ws->conf->queue) {
        return NGX_BUSY;
    }

    if (ws->olen + need > ws->ocap && ws->opos) {
        ngx_memmove(ws->obuf, ws->obuf + ws->opos, ws->olen - ws->opos);
        ws->olen -= ws->opos;
        ws->opos = 0;
    }

    if (ws->olen + need > ws->ocap) {
        cap = ws->ocap ? ws->ocap * 2 : 4096;

        while (cap < ws->olen + need) {
            cap *= 2;
        }

        nb = ngx_alloc(cap, ws->c->log);
        if (nb == NULL) {
            return NGX_ERROR;
        }

        if (ws->obuf) {
            ngx_memcpy(nb, ws->obuf, ws->olen);
            ngx_free(ws->obuf);
        }

        ws->obuf = nb;
        ws->ocap = cap;
    }

    ws->olen += ngx_beacon_ws_header(ws->obuf + ws->olen, (uint8_t) opcode,
                                     hlen + plen);

    if (hlen) {
        ngx_memcpy(ws->obuf + ws->olen, hdr, hlen);
        ws->olen += hlen;
    }

    if (plen) {
        ngx_memcpy(ws->obuf + ws->olen, payload, plen);
        ws->olen += plen;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_beacon_ws_flush(ngx_http_beacon_ws_t *ws)
{
    ssize_t            n;
    ngx_event_t       *wev;
    ngx_connection_t  *c;

    c = ws->c;
    wev = c->write;

    /* the 101 may still sit in nginx's output (or TLS) buffers: it goes
     * first, through the filters that hold it */

    if (ws->r->out || c->buffered) {
        if (ngx_http_output_filter(ws->r, NULL) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (ws->r->out || c->buffered) {
            if (!wev->timer_set) {
                ngx_add_timer(wev, ws->conf->write_timeout);
            }

            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }
    }

    while (ws->opos < ws->olen) {

        n = c->send(c, ws->obuf + ws->opos, ws->olen - ws->opos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN || n == 0) {
            /* the peer is slow: it has write_timeout to make progress */

            if (!wev->timer_set) {
                ngx_add_timer(wev, ws->conf->write_timeout);
            }

            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        ws->opos += n;

        if (wev->timer_set) {
            ngx_add_timer(wev, ws->conf->write_timeout);
        }
    }

    ws->opos = 0;
    ws->olen = 0;

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ngx_beacon_compat_closing(&ws->s)) {
        ngx_http_beacon_ws_finalize(ws);
        return NGX_DONE;
    }

    if (ws->ocap > 64 * 1024) {
        ngx_free(ws->obuf);
        ws->obuf = NULL;
        ws->ocap = 0;
    }

    return NGX_OK;
}


/* sends a Close (code 0: without a body) and ends: always NGX_DONE */

static ngx_int_t
ngx_http_beacon_ws_close(ngx_http_beacon_ws_t *ws, ngx_uint_t code,
    const char *reason)
{
    ngx_beacon_compat_action_t  a;

    if (ws->done
        || ngx_beacon_compat_close(&ws->s, (unsigned) code, reason, &a)
           == NGX_BEACON_COMPAT_A_NONE)
    {
        return NGX_DONE;
    }

    (void) ngx_http_beacon_ws_act(ws, &a);

    return NGX_DONE;
}


static void
ngx_http_beacon_ws_cleanup(void *data)
{
    ngx_http_beacon_ws_t  *ws = data;

    if (ws->registered) {
        ngx_rbtree_delete(&ngx_http_beacon_ws_tree, &ws->node);
        ws->registered = 0;
    }

    if (ws->lookup) {
        ws->lookup->ws = NULL;
        ws->lookup = NULL;
    }

    if (ws->authed) {
        /* compare and clear: a replacement keeps its record */
        ngx_beacon_shm_ws_detach(ws->zone, ws->claimed, &ws->owner);
        ngx_beacon_shm_ws_peers(ws->zone, -1);
        ws->authed = 0;
    }

    if (ws->admitted) {
        ngx_beacon_shm_ws_leave(ws->zone, &ws->addr);
        ws->admitted = 0;
    }

    ngx_beacon_compat_free(&ws->s);

    if (ws->obuf) {
        ngx_free(ws->obuf);
        ws->obuf = NULL;
    }

    ws->done = 1;
}


static void
ngx_http_beacon_ws_finalize(ngx_http_beacon_ws_t *ws)
{
    ngx_http_request_t  *r;

    if (ws->done) {
        return;
    }

    r = ws->r;

    ngx_http_beacon_ws_cleanup(ws);

    if (r->connection->read->timer_set) {
        ngx_del_timer(r->connection->read);
    }

    if (r->connection->write->timer_set) {
        ngx_del_timer(r->connection->write);
    }

    r->connection->idle = 0;

    ngx_http_finalize_request(r, NGX_DONE);
}


static ngx_http_beacon_ws_t *
ngx_http_beacon_ws_find(uint64_t conn)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    if (!ngx_http_beacon_ws_tree_ready) {
        return NULL;
    }

    key = (ngx_rbtree_key_t) conn;
    node = ngx_http_beacon_ws_tree.root;
    sentinel = ngx_http_beacon_ws_tree.sentinel;

    while (node != sentinel) {

        if (key == node->key) {
            return (ngx_http_beacon_ws_t *) node;
        }

        node = (key < node->key) ? node->left : node->right;
    }

    return NULL;
}


/*
 * A delivery for one of this worker's connections: from the channel, or
 * directly from this worker's relay path.  NGX_OK queued; NGX_BUSY its
 * queue is full (counted); NGX_DECLINED no such connection (any more).
 */

static ngx_int_t
ngx_http_beacon_ipc_handler(ngx_uint_t type, uint32_t node_id, uint64_t conn,
    const u_char *hdr, size_t hlen, const u_char *payload, size_t plen)
{
    ngx_int_t              rc;
    ngx_http_beacon_ws_t  *ws;

    ws = ngx_http_beacon_ws_find(conn);

    if (ws == NULL || ws->done || ngx_beacon_compat_closing(&ws->s)
        || !ws->authed
        || ws->node_id != node_id)
    {
        return NGX_DECLINED;
    }

    if (type == NGX_BEACON_IPC_REPLACED) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->c->log, 0,
                       "beacon compat %uD logged in elsewhere: replaced",
                       node_id);
        ws->node_id = 0;
        (void) ngx_http_beacon_ws_close(ws, NGX_BEACON_WS_CLOSE_NORMAL,
                                        "replaced");
        return NGX_OK;
    }

    rc = ngx_http_beacon_ws_queue(ws, NGX_BEACON_WS_OP_BINARY, hdr, hlen,
                                  payload, plen, 0);

    if (rc == NGX_BUSY) {
        ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_DROP_QUEUE_FULL);
        return NGX_BUSY;
    }

    if (rc != NGX_OK) {
        return NGX_BUSY;
    }

    ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_FRAMES_OUT);

    /* a write already waiting for the socket will take this one along */

    if (!ws->c->write->timer_set
        && ngx_http_beacon_ws_flush(ws) == NGX_ERROR)
    {
        /*
         * the write handler closes it: the caller may be this very
         * connection's input (a peer relaying to itself), which must not
         * have its request freed under it
         */

        ws->c->error = 1;
        ngx_post_event(ws->c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/* registry key lookups: {"type":"lookup","node_id":N} over TCP (6.3) */

static ngx_int_t
ngx_http_beacon_lookup_start(ngx_http_beacon_ws_t *ws)
{
    u_char                     req[64];
    size_t                     len;
    ngx_http_beacon_lookup_t  *lk;

    lk = ngx_calloc(sizeof(ngx_http_beacon_lookup_t), ws->c->log);
    if (lk == NULL) {
        return NGX_ERROR;
    }

    lk->ws = ws;
    lk->zone = ws->zone;
    lk->node_id = ws->claimed;
    lk->ttl = ws->conf->registry->ttl;

    len = ngx_beacon_registry_lookup(req, sizeof(req), ws->claimed);

    ngx_beacon_count(ws->zone, NGX_BEACON_C_WS_KEY_LOOKUPS);

    if (len == 0
        || ngx_beacon_rpc_start(ws->conf->registry, req, len,
                                ngx_http_beacon_lookup_reply, NULL, lk,
                                ngx_cycle->log)
           != NGX_OK)
    {
        ngx_free(lk);
        return NGX_ERROR;
    }

    ws->lookup = lk;

    return NGX_OK;
}


/* caches the answer and resumes the login that asked */

static ngx_int_t
ngx_http_beacon_lookup_reply(ngx_beacon_rpc_t *rpc, u_char *json, size_t len)
{
    int                        rc;
    uint8_t                    key[NGX_BEACON_KEY_LEN];
    ngx_http_beacon_ws_t      *ws;
    ngx_http_beacon_lookup_t  *lk;

    lk = rpc->data;
    rc = -1;

    if (json) {
        rc = ngx_beacon_registry_lookup_reply(json, len, lk->node_id, key);
    }

    if (rc == 0) {
        ngx_beacon_shm_key_put(lk->zone, lk->node_id, key, lk->ttl);

    } else if (rc == 1) {
        ngx_beacon_shm_key_put(lk->zone, lk->node_id, NULL,
                               ngx_min(lk->ttl, NGX_HTTP_BEACON_NEGATIVE_TTL));
    }

    ws = lk->ws;
    ngx_free(lk);

    if (ws) {
        ws->lookup = NULL;
        (void) ngx_http_beacon_ws_auth_key(ws, rc == 0 ? key : NULL);
    }

    return NGX_OK;
}
