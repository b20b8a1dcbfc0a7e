
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The registry room.  A client of the Pilot registry's length-prefixed
 * JSON protocol over TCP (spec 6.3), optionally over TLS with the
 * registry's certificate verified: a few request/reply exchanges on one
 * connection, all inside the worker's event loop, bounded by one
 * deadline (the compat bridge looks keys up with it).  And the beacon's
 * registry rounds: beacon_register, then beacon_list, whose peers become
 * the gossip room's discovered peer set.
 */


#ifndef _NGX_BEACON_REGISTRY_H_INCLUDED_
#define _NGX_BEACON_REGISTRY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_beacon_shm.h"
#include "ngx_beacon_udp.h"


#define NGX_BEACON_REGISTRY_MAX_REPLY   (1024 * 1024)
#define NGX_BEACON_REGISTRY_INTERVAL    30000     /* ms, between rounds */


/* ngx_beacon_gossip.h */
typedef struct ngx_beacon_gossip_conf_s  ngx_beacon_gossip_conf_t;


typedef struct {
    ngx_addr_t                   *addr;
    ngx_str_t                     host;      /* TLS name, NUL-terminated */
    ngx_msec_t                    timeout;
    time_t                        ttl;
    ngx_ssl_t                    *ssl;       /* NULL: plain TCP */
} ngx_beacon_registry_t;


typedef struct ngx_beacon_rpc_s  ngx_beacon_rpc_t;

/*
 * Called with each reply (json, len), or with json NULL when the exchange
 * failed (connect, TLS, timeout, framing).  Returns the next request to
 * send (in rpc->out / rpc->out_len) with NGX_AGAIN, or NGX_OK when done;
 * the connection is then closed and rpc freed.
 */
typedef ngx_int_t (*ngx_beacon_rpc_handler_pt)(ngx_beacon_rpc_t *rpc,
    u_char *json, size_t len);


typedef ngx_int_t (*ngx_beacon_rpc_connected_pt)(ngx_beacon_rpc_t *rpc);


struct ngx_beacon_rpc_s {
    ngx_peer_connection_t         pc;
    /* called once connected, when the first request needs the local
     * address: it queues it with ngx_beacon_rpc_next() */
    ngx_beacon_rpc_connected_pt   connected;
    ngx_beacon_registry_t        *registry;
    ngx_beacon_rpc_handler_pt     handler;
    void                         *data;
    u_char                       *out;
    size_t                        out_len;
    size_t                        sent;
    u_char                       *in;
    size_t                        in_len;
    ngx_uint_t                    reading;
    ngx_uint_t                    done;
};


/* parses "host:port [tls] [tls_ca=] [tls_name=] [ttl=] [timeout=]" */
char *ngx_beacon_registry_conf(ngx_conf_t *cf, ngx_str_t *directive,
    ngx_str_t *args, ngx_uint_t nargs, ngx_beacon_registry_t **out);

/*
 * Starts an exchange with the first request in out/out_len (copied), or,
 * with out NULL, the one "connected" queues once the connection is up.
 */
ngx_int_t ngx_beacon_rpc_start(ngx_beacon_registry_t *registry,
    u_char *out, size_t out_len, ngx_beacon_rpc_handler_pt handler,
    ngx_beacon_rpc_connected_pt connected, void *data, ngx_log_t *log);
/* the local address of the connection to the registry */
ngx_int_t ngx_beacon_rpc_local(ngx_beacon_rpc_t *rpc, ngx_sockaddr_t *sa,
    socklen_t *len);
/* queues the next request (copied); for handlers returning NGX_AGAIN */
ngx_int_t ngx_beacon_rpc_next(ngx_beacon_rpc_t *rpc, u_char *out,
    size_t out_len);

/*
 * One registry round of one beacon server (spec 6.3), by the worker that
 * leads its zone: bs is the server's first socket in this worker, whose
 * address is registered unless beacon_advertise says otherwise.
 */
void ngx_beacon_registry_round(ngx_beacon_gossip_conf_t *gc,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs, ngx_log_t *log);


#endif /* _NGX_BEACON_REGISTRY_H_INCLUDED_ */
