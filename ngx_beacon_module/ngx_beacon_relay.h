
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

#include "ngx_beacon_shm.h"
#include "ngx_beacon_udp.h"


/* daemons read at most this much per WebSocket message (W17) */
#define NGX_BEACON_WS_DELIVER_MAX    32768


/* tier 2: the unchanged RELAY to a peer beacon, from a beacon socket (bs
 * when given and of the right family) */
void ngx_beacon_relay_forward(ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs,
    const ngx_beacon_addr_t *peer, const u_char *buf, size_t len);
void ngx_beacon_relay_deliver(ngx_beacon_zone_t *z, ngx_beacon_ep_t *ep,
    uint32_t sender, uint32_t dest, const u_char *payload, size_t plen);


#endif /* _NGX_BEACON_RELAY_H_INCLUDED_ */
