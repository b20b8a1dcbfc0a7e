
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_beacon_registry.h"
#include "ngx_beacon_registry_reply.h"
#include "ngx_beacon_gossip.h"
#include "ngx_beacon_json.h"


/* one registry round of one beacon server */
typedef struct {
    ngx_beacon_gossip_conf_t     *conf;
    ngx_beacon_zone_t            *zone;
    ngx_beacon_addr_t             listen;
    ngx_uint_t                    step;
} ngx_beacon_registry_round_t;


static void ngx_beacon_rpc_handler(ngx_event_t *ev);
static void ngx_beacon_rpc_dummy(ngx_event_t *ev);
static ngx_int_t ngx_beacon_rpc_tls(ngx_beacon_rpc_t *rpc);
static void ngx_beacon_rpc_tls_done(ngx_connection_t *c);
static void ngx_beacon_rpc_finish(ngx_beacon_rpc_t *rpc, ngx_uint_t failed);
static ngx_int_t ngx_beacon_registry_round_connected(ngx_beacon_rpc_t *rpc);
static ngx_int_t ngx_beacon_registry_round_reply(ngx_beacon_rpc_t *rpc,
    u_char *json, size_t len);
static ngx_int_t ngx_beacon_registry_round_list(
    ngx_beacon_registry_round_t *rd, u_char *json, size_t len);


char *
ngx_beacon_registry_conf(ngx_conf_t *cf, ngx_str_t *directive,
    ngx_str_t *args, ngx_uint_t nargs, ngx_beacon_registry_t **out)
{
    time_t                  t;
    u_char                 *host;
    ngx_str_t               s, ca;
    ngx_url_t               u;
    ngx_uint_t              i, tls;
    ngx_msec_t              ms;
    ngx_pool_cleanup_t     *cln;
    ngx_beacon_registry_t  *reg;

    reg = ngx_pcalloc(cf->pool, sizeof(ngx_beacon_registry_t));
    if (reg == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = args[0];
    u.no_resolve = 0;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0 || u.no_port)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: invalid address \"%V\"%s%s",
                           directive, &args[0], u.err ? ": " : "",
                           u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    reg->addr = &u.addrs[0];
    reg->host = u.host;
    reg->ttl = 300;
    reg->timeout = 5000;

    tls = 0;
    ngx_str_null(&ca);

    for (i = 1; i < nargs; i++) {

        if (ngx_strcmp(args[i].data, "tls") == 0) {
            tls = 1;
            continue;
        }

        if (ngx_strncmp(args[i].data, "tls_ca=", 7) == 0 && args[i].len > 7) {
            ca.data = args[i].data + 7;
            ca.len = args[i].len - 7;
            continue;
        }

        if (ngx_strncmp(args[i].data, "tls_name=", 9) == 0
            && args[i].len > 9)
        {
            reg->host.data = args[i].data + 9;
            reg->host.len = args[i].len - 9;
            continue;
        }

        if (ngx_strncmp(args[i].data, "ttl=", 4) == 0) {
            s.data = args[i].data + 4;
            s.len = args[i].len - 4;
            t = ngx_parse_time(&s, 1);

            if (t == (time_t) NGX_ERROR || t < 1) {
                goto invalid;
            }

            reg->ttl = t;
            continue;
        }

        if (ngx_strncmp(args[i].data, "timeout=", 8) == 0) {
            s.data = args[i].data + 8;
            s.len = args[i].len - 8;
            ms = ngx_parse_time(&s, 0);

            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            reg->timeout = ms;
            continue;
        }

        goto invalid;
    }

    /* the TLS name is handed to OpenSSL as a C string */

    host = ngx_pnalloc(cf->pool, reg->host.len + 1);
    if (host == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn(host, reg->host.data, reg->host.len + 1);
    reg->host.data = host;

    if (ca.len && !tls) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: \"tls_ca=\" requires \"tls\"",
                           directive);
        return NGX_CONF_ERROR;
    }

    if (tls) {
        /* TLS 1.2+, the registry's certificate verified, always */

        reg->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
        if (reg->ssl == NULL) {
            return NGX_CONF_ERROR;
        }

        reg->ssl->log = cf->log;

        if (ngx_ssl_create(reg->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ngx_ssl_cleanup_ctx(reg->ssl);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_ssl_cleanup_ctx;
        cln->data = reg->ssl;

        if (ca.len) {
            if (ngx_ssl_trusted_certificate(cf, reg->ssl, &ca, 4) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

        } else if (SSL_CTX_set_default_verify_paths(reg->ssl->ctx) != 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive: no system CA "
                               "certificates; use \"tls_ca=\"", directive);
            return NGX_CONF_ERROR;
        }
    }

    *out = reg;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" directive: invalid parameter \"%V\"",
                       directive, &args[i]);

    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_beacon_rpc_start(ngx_beacon_registry_t *registry, u_char *out,
    size_t out_len, ngx_beacon_rpc_handler_pt handler,
    ngx_beacon_rpc_connected_pt connected, void *data, ngx_log_t *log)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;
    ngx_beacon_rpc_t  *rpc;

    rpc = ngx_calloc(sizeof(ngx_beacon_rpc_t), log);
    if (rpc == NULL) {
        return NGX_ERROR;
    }

    rpc->in = ngx_alloc(NGX_BEACON_REGISTRY_MAX_REPLY + 4, log);
    if (rpc->in == NULL) {
        ngx_free(rpc);
        return NGX_ERROR;
    }

    rpc->registry = registry;
    rpc->handler = handler;
    rpc->connected = connected;
    rpc->data = data;

    if (out && ngx_beacon_rpc_next(rpc, out, out_len) != NGX_OK) {
        ngx_free(rpc->in);
        ngx_free(rpc);
        return NGX_ERROR;
    }

    rpc->pc.sockaddr = registry->addr->sockaddr;
    rpc->pc.socklen = registry->addr->socklen;
    rpc->pc.name = &registry->addr->name;
    rpc->pc.get = ngx_event_get_peer;
    rpc->pc.log = log;
    rpc->pc.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&rpc->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (rpc->pc.connection) {
            ngx_close_connection(rpc->pc.connection);
        }

        if (rpc->out) {
            ngx_free(rpc->out);
        }

        ngx_free(rpc->in);
        ngx_free(rpc);
        return NGX_ERROR;
    }

    c = rpc->pc.connection;
    c->data = rpc;
    c->read->handler = ngx_beacon_rpc_handler;
    c->write->handler = ngx_beacon_rpc_handler;

    /* one deadline for the whole exchange: connect, TLS, every reply */

    ngx_add_timer(c->read, registry->timeout);

    if (rc == NGX_OK) {
        ngx_beacon_rpc_handler(c->write);
    }

    return NGX_OK;
}


ngx_int_t
ngx_beacon_rpc_next(ngx_beacon_rpc_t *rpc, u_char *out, size_t out_len)
{
    u_char  *p;

    p = ngx_alloc(out_len, ngx_cycle->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, out, out_len);

    if (rpc->out) {
        ngx_free(rpc->out);
    }

    rpc->out = p;
    rpc->out_len = out_len;
    rpc->sent = 0;
    rpc->in_len = 0;
    rpc->reading = 0;

    return NGX_OK;
}


ngx_int_t
ngx_beacon_rpc_local(ngx_beacon_rpc_t *rpc, ngx_sockaddr_t *sa,
    socklen_t *len)
{
    *len = sizeof(ngx_sockaddr_t);

    if (getsockname(rpc->pc.connection->fd, &sa->sockaddr, len) == -1) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_beacon_rpc_handler(ngx_event_t *ev)
{
    int                rc;
    size_t             json_len;
    ssize_t            n;
    ngx_int_t          next;
    ngx_connection_t  *c;
    ngx_beacon_rpc_t  *rpc;

    c = ev->data;
    rpc = c->data;

    if (ev->timedout) {
        ngx_beacon_rpc_finish(rpc, 1);
        return;
    }

    if (rpc->registry->ssl && c->ssl == NULL) {
        /* connected: TLS first */

        if (ngx_beacon_rpc_tls(rpc) != NGX_OK) {
            ngx_beacon_rpc_finish(rpc, 1);
        }

        return;
    }

    if (rpc->out == NULL
        && (rpc->connected == NULL
            || rpc->connected(rpc) != NGX_OK
            || rpc->out == NULL))
    {
        ngx_beacon_rpc_finish(rpc, 1);
        return;
    }

    for ( ;; ) {

        while (!rpc->reading) {
            n = c->send(c, rpc->out + rpc->sent, rpc->out_len - rpc->sent);

            if (n == NGX_ERROR) {
                ngx_beacon_rpc_finish(rpc, 1);
                return;
            }

            if (n == NGX_AGAIN) {
                c->write->handler = ngx_beacon_rpc_handler;

                if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                    ngx_beacon_rpc_finish(rpc, 1);
                }

                return;
            }

            rpc->sent += n;

            if (rpc->sent == rpc->out_len) {
                rpc->reading = 1;
                c->write->handler = ngx_beacon_rpc_dummy;
            }
        }

        n = c->recv(c, rpc->in + rpc->in_len,
                    NGX_BEACON_REGISTRY_MAX_REPLY + 4 - rpc->in_len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_beacon_rpc_finish(rpc, 1);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_beacon_rpc_finish(rpc, 1);
            return;
        }

        rpc->in_len += n;

        rc = ngx_beacon_registry_frame(rpc->in, rpc->in_len,
                                       NGX_BEACON_REGISTRY_MAX_REPLY,
                                       &json_len);

        if (rc == 1) {
            continue;
        }

        if (rc != 0) {
            ngx_beacon_rpc_finish(rpc, 1);
            return;
        }

        next = rpc->handler(rpc, rpc->in + 4, json_len);

        if (next != NGX_AGAIN) {
            rpc->done = 1;
            ngx_beacon_rpc_finish(rpc, 0);
            return;
        }

        /* the handler queued the next request */
    }
}


static void
ngx_beacon_rpc_dummy(ngx_event_t *ev)
{
}


static ngx_int_t
ngx_beacon_rpc_tls(ngx_beacon_rpc_t *rpc)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = rpc->pc.connection;

    c->pool = ngx_create_pool(1024, c->log);
    if (c->pool == NULL) {
        return NGX_ERROR;
    }

    if (ngx_ssl_create_connection(rpc->registry->ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (SSL_set_tlsext_host_name(c->ssl->connection,
                                 (char *) rpc->registry->host.data)
        != 1)
    {
        return NGX_ERROR;
    }

    c->ssl->handler = ngx_beacon_rpc_tls_done;

    rc = ngx_ssl_handshake(c);

    if (rc != NGX_AGAIN) {
        ngx_beacon_rpc_tls_done(c);
    }

    return NGX_OK;
}


static void
ngx_beacon_rpc_tls_done(ngx_connection_t *c)
{
    ngx_beacon_rpc_t  *rpc;

    rpc = c->data;

    /* the registry must prove who it is: chain and name */

    if (!c->ssl->handshaked
        || SSL_get_verify_result(c->ssl->connection) != X509_V_OK
        || ngx_ssl_check_host(c, &rpc->registry->host) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "beacon registry %V: TLS handshake or certificate "
                      "verification failed", rpc->pc.name);
        ngx_beacon_rpc_finish(rpc, 1);
        return;
    }

    c->read->handler = ngx_beacon_rpc_handler;
    c->write->handler = ngx_beacon_rpc_handler;

    ngx_beacon_rpc_handler(c->write);
}


static void
ngx_beacon_rpc_finish(ngx_beacon_rpc_t *rpc, ngx_uint_t failed)
{
    ngx_connection_t  *c;

    if (failed && !rpc->done) {
        (void) rpc->handler(rpc, NULL, 0);
    }

    c = rpc->pc.connection;

    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        (void) ngx_ssl_shutdown(c);
    }

    if (c->pool) {
        ngx_destroy_pool(c->pool);
        c->pool = NULL;
    }

    ngx_close_connection(c);

    if (rpc->out) {
        ngx_free(rpc->out);
    }

    ngx_free(rpc->in);
    ngx_free(rpc);
}


/*
 * Registry discovery (spec 6.3), every 30 s, by the zone's lease holder:
 * beacon_register, then beacon_list, whose peers join the static ones.
 * An error, a garbled or an empty list keeps the previous set (W16).
 */

void
ngx_beacon_registry_round(ngx_beacon_gossip_conf_t *gc, ngx_beacon_zone_t *z,
    ngx_beacon_sock_t *bs, ngx_log_t *log)
{
    ngx_beacon_registry_round_t  *rd;

    rd = ngx_calloc(sizeof(ngx_beacon_registry_round_t), log);
    if (rd == NULL) {
        return;
    }

    rd->conf = gc;
    rd->zone = z;
    rd->listen = bs->local;

    ngx_beacon_count(z, NGX_BEACON_C_REGISTRY_ROUNDS);

    ngx_log_debug3(NGX_LOG_DEBUG_STREAM, log, 0,
                   "beacon registry %V: round started, beacon %i of "
                   "zone \"%V\"", &gc->registry->addr->name, gc->beacon_id,
                   &z->name);

    if (ngx_beacon_rpc_start(gc->registry, NULL, 0,
                             ngx_beacon_registry_round_reply,
                             ngx_beacon_registry_round_connected, rd, log)
        != NGX_OK)
    {
        ngx_beacon_count(z, NGX_BEACON_C_REGISTRY_ERRORS);

        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, log, 0,
                       "beacon registry %V: error, cannot connect, "
                       "the peer set stays", &gc->registry->addr->name);

        ngx_free(rd);
    }
}


static ngx_int_t
ngx_beacon_registry_round_connected(ngx_beacon_rpc_t *rpc)
{
    u_char                        buf[1024], addr[NGX_SOCKADDR_STRLEN + 8];
    u_char                       *p, *last;
    size_t                        alen;
    socklen_t                     len;
    ngx_sockaddr_t                sa;
    ngx_beacon_addr_t             local;
    ngx_beacon_registry_round_t  *rd;

    rd = rpc->data;

    /* the advertised address, else ours, with the registry connection's
     * local IP when we listen on a wildcard (scenario 35) */

    if (rd->conf->advertise.len) {
        alen = ngx_min(rd->conf->advertise.len, sizeof(addr));
        ngx_memcpy(addr, rd->conf->advertise.data, alen);

    } else {
        local = rd->listen;

        if (ngx_memcmp(local.ip, "\0\0\0\0\0\0\0\0\0\0\xff\xff\0\0\0\0", 16)
               == 0
            || ngx_memcmp(local.ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16)
               == 0)
        {
            if (ngx_beacon_rpc_local(rpc, &sa, &len) != NGX_OK
                || ngx_beacon_addr_from_sockaddr(&local, &sa.sockaddr) != 0)
            {
                return NGX_ERROR;
            }

            local.port = rd->listen.port;
        }

        alen = ngx_beacon_addr_print((char *) addr, &local, 1);
    }

    p = buf + 4;
    last = buf + sizeof(buf);

    p = ngx_slprintf(p, last, "{\"type\":\"beacon_register\","
                     "\"beacon_id\":%i,\"addr\":\"%*s\"",
                     rd->conf->beacon_id, alen, addr);

    if (rd->conf->registry_token.len) {
        p = ngx_slprintf(p, last, ",\"admin_token\":\"%V\"",
                         &rd->conf->registry_token);
    }

    p = ngx_slprintf(p, last, "}");

    ngx_beacon_registry_put_len(buf, (uint32_t) (p - buf - 4));

    return ngx_beacon_rpc_next(rpc, buf, p - buf);
}


static ngx_int_t
ngx_beacon_registry_round_reply(ngx_beacon_rpc_t *rpc, u_char *json,
    size_t len)
{
    u_char                        list[32], esc[6 * 200], *p;
    size_t                        n;
    ngx_beacon_registry_round_t  *rd;

    rd = rpc->data;

    if (json == NULL) {
        /* unreachable, timed out, garbled: the peer set stays */
        ngx_beacon_count(rd->zone, NGX_BEACON_C_REGISTRY_ERRORS);

        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon registry %V: error during %s (connect, TLS, "
                       "timeout or framing), the peer set stays",
                       rpc->pc.name,
                       rd->step ? "beacon_list" : "beacon_register");

        ngx_free(rd);
        return NGX_OK;
    }

    if (rd->step++ == 0) {

        /* the registration's answer is checked (W16), not trusted blindly */

        if (ngx_beacon_registry_register_ok(json, len)) {
            ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                           "beacon registry %V: beacon_register ok",
                           rpc->pc.name);

        } else {
            ngx_beacon_count(rd->zone, NGX_BEACON_C_REGISTRY_ERRORS);
            n = ngx_min(len, 200);
            p = (u_char *) ngx_escape_json(esc, json, n);

            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "beacon registry %V refused beacon_register: "
                          "%*s", rpc->pc.name, p - esc, esc);
        }

        n = sizeof("{\"type\":\"beacon_list\"}") - 1;
        ngx_memcpy(list + 4, "{\"type\":\"beacon_list\"}", n);
        ngx_beacon_registry_put_len(list, (uint32_t) n);

        if (ngx_beacon_rpc_next(rpc, list, n + 4) != NGX_OK) {
            ngx_free(rd);
            return NGX_ERROR;
        }

        return NGX_AGAIN;
    }

    if (ngx_beacon_registry_round_list(rd, json, len) != NGX_OK) {
        ngx_beacon_count(rd->zone, NGX_BEACON_C_REGISTRY_ERRORS);
    }

    ngx_free(rd);

    return NGX_OK;
}


static ngx_int_t
ngx_beacon_registry_round_list(ngx_beacon_registry_round_t *rd, u_char *json,
    size_t len)
{
    int                n;
    ngx_beacon_addr_t  peers[NGX_BEACON_GOSSIP_DISCOVERED];

    n = ngx_beacon_registry_beacon_list(json, len,
                                        (uint32_t) rd->conf->beacon_id,
                                        peers, NGX_BEACON_GOSSIP_DISCOVERED);

    if (n < 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon registry %V: error, garbled beacon_list, "
                       "the peer set stays", &rd->conf->registry->addr->name);
        return NGX_ERROR;
    }

    if (n == 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon registry %V: beacon_list empty, "
                       "the peer set stays", &rd->conf->registry->addr->name);
        return NGX_DECLINED;
    }

    if (ngx_beacon_gossip_set_discovered(rd->zone, peers, n) != NGX_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon registry %V: error, no room in the zone "
                       "for the peer set", &rd->conf->registry->addr->name);
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                   "beacon registry %V: beacon_list, %d peers: "
                   "the new peer set", &rd->conf->registry->addr->name, n);

    return NGX_OK;
}
