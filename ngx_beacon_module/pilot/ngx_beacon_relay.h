
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The one delivery path of a relay, whichever face received it: a live
 * compat connection first (in this worker, or through the channel to the
 * worker that owns it), else the node's UDP endpoint.
 */


#ifndef _NGX_BEACON_RELAY_H_INCLUDED_
#define _NGX_BEACON_RELAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_proto.h"
#include "ngx_beacon_shm.h"
#include "ngx_beacon_udp.h"


/* what became of one RELAY: the faces log it and note it ($beacon_action) */
typedef enum {
    NGX_BEACON_ROUTE_RELAYED = 0,
    NGX_BEACON_ROUTE_FORWARDED,
    NGX_BEACON_ROUTE_OVERSIZE,
    NGX_BEACON_ROUTE_SENDER_MISMATCH,
    NGX_BEACON_ROUTE_RATE_LIMITED,
    NGX_BEACON_ROUTE_NOT_FOUND,
    NGX_BEACON_ROUTE_LOOP
} ngx_beacon_route_e;


/* a configured or registry-listed peer beacon (any_source: any live gossip
 * source too, for loop prevention, not for trust) */
typedef ngx_uint_t (*ngx_beacon_relay_peer_pt)(void *data,
    ngx_beacon_zone_t *z, const ngx_beacon_addr_t *src,
    ngx_uint_t any_source);


/* the face a RELAY came from: everything the router needs to decide */
typedef struct {
    ngx_beacon_zone_t          *zone;
    ngx_beacon_sock_t          *sock;         /* receiving socket or NULL */
    const ngx_beacon_addr_t    *src;          /* the budget key */
    ngx_log_t                  *log;
    ngx_uint_t                  debug;        /* NGX_LOG_DEBUG_STREAM/HTTP */
    ngx_beacon_relay_peer_pt    is_peer;      /* NULL: no peer beacons */
    void                       *data;
    ngx_uint_t                  relay_limit;
    ngx_uint_t                  peer_relay_limit;
    ngx_uint_t                  bind_sender;  /* sender's endpoint is src */
    uint32_t                    node_id;      /* bound sender id, if bound */
    unsigned                    bound_id:1;
} ngx_beacon_relay_face_t;


/* daemons read at most this much per WebSocket message (W17) */
#define NGX_BEACON_WS_DELIVER_MAX    32768


/* tier 2: the unchanged RELAY to a peer beacon, from a beacon socket (bs
 * when given and of the right family) */
void ngx_beacon_relay_forward(ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs,
    const ngx_beacon_addr_t *peer, const u_char *buf, size_t len);
ngx_beacon_route_e ngx_beacon_relay_route(ngx_beacon_relay_face_t *f,
    const ngx_beacon_msg_t *msg, const u_char *buf, size_t len);
const char *ngx_beacon_relay_action(ngx_beacon_route_e rc);
void ngx_beacon_relay_deliver(ngx_beacon_zone_t *z, ngx_beacon_ep_t *ep,
    uint32_t sender, uint32_t dest, const u_char *payload, size_t plen);


#endif /* _NGX_BEACON_RELAY_H_INCLUDED_ */
