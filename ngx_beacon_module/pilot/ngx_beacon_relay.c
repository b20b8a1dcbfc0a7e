
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_relay.h"
#include "ngx_beacon_udp.h"
#include "ngx_beacon_ipc.h"
#include "ngx_beacon_gossip.h"


static ngx_beacon_route_e ngx_beacon_relay_drop(ngx_beacon_relay_face_t *f,
    const ngx_beacon_msg_t *msg, ngx_beacon_counter_e c,
    ngx_beacon_route_e rc);
static ngx_int_t ngx_beacon_relay_wss(ngx_beacon_zone_t *z,
    ngx_beacon_ep_t *ep, uint32_t sender, uint32_t dest,
    const u_char *payload, size_t plen);
static void ngx_beacon_relay_udp(ngx_beacon_zone_t *z, ngx_beacon_ep_t *ep,
    uint32_t sender, uint32_t dest, const u_char *payload, size_t plen);


static const char  *ngx_beacon_relay_actions[] = {
    "relayed",
    "forwarded",
    "oversize",
    "sender_mismatch",
    "rate_limited",
    "not_found",
    "loop"
};


/*
 * The one decision of every RELAY, whatever face received it: sender
 * binding, size, the local lookup with its budget, else a gossip route
 * with loop prevention and the source's budget, then delivery or forward.
 * Counts what it decides; the face notes the returned action and flushes.
 */

ngx_beacon_route_e
ngx_beacon_relay_route(ngx_beacon_relay_face_t *f, const ngx_beacon_msg_t *msg,
    const u_char *buf, size_t len)
{
    ngx_int_t           from_peer;
    ngx_uint_t          slot;
    ngx_beacon_ep_t     ep;
    ngx_beacon_addr_t   peer;
    ngx_beacon_zone_t  *z;
    ngx_beacon_relay_e  rc;

    z = f->zone;

    ngx_beacon_count(z, NGX_BEACON_C_RELAY_RECEIVED);

    if (f->bound_id && msg->sender != f->node_id) {
        /* a bridged node speaks only for the id it logged in with */
        ngx_beacon_count(z, NGX_BEACON_C_WS_DROP_NOT_ALLOWED);
        return ngx_beacon_relay_drop(f, msg, NGX_BEACON_C_RELAY_SENDER_MISMATCH,
                                     NGX_BEACON_ROUTE_SENDER_MISMATCH);
    }

    if (msg->payload_len > NGX_BEACON_MAX_PAYLOAD) {
        return ngx_beacon_relay_drop(f, msg, NGX_BEACON_C_RELAY_OVERSIZE,
                                     NGX_BEACON_ROUTE_OVERSIZE);
    }

    from_peer = -1;

    rc = ngx_beacon_shm_relay(z, msg->sender, msg->dest, f->src,
                              f->bind_sender, f->relay_limit, &ep);

    if (rc == NGX_BEACON_RELAY_SENDER_MISMATCH && f->is_peer) {

        /*
         * A peer beacon forwards relays of nodes registered elsewhere:
         * its own budget, and local delivery only (tier 2 forwarded once).
         * Only peers we chose (configured, or listed by the registry) are
         * exempt from the sender binding: anyone can send a SYNC.
         */

        from_peer = f->is_peer(f->data, z, f->src, 0);

        if (from_peer) {
            rc = ngx_beacon_shm_relay(z, msg->sender, msg->dest, f->src, 0,
                                      f->peer_relay_limit, &ep);
        }
    }

    switch (rc) {

    case NGX_BEACON_RELAY_OK:
        ngx_log_debug4(f->debug, f->log, 0,
                       "beacon relay %uD -> %uD: relayed, %uz bytes%s",
                       msg->sender, msg->dest, msg->payload_len,
                       (ep.flags & NGX_BEACON_NODE_WSS) ? " (compat)" : "");
        ngx_beacon_relay_deliver(z, &ep, msg->sender, msg->dest,
                                 msg->payload, msg->payload_len);
        return NGX_BEACON_ROUTE_RELAYED;

    case NGX_BEACON_RELAY_SENDER_MISMATCH:
        return ngx_beacon_relay_drop(f, msg, NGX_BEACON_C_RELAY_SENDER_MISMATCH,
                                     NGX_BEACON_ROUTE_SENDER_MISMATCH);

    case NGX_BEACON_RELAY_RATE_LIMITED:
        return ngx_beacon_relay_drop(f, msg, NGX_BEACON_C_RELAY_RATE_LIMITED,
                                     NGX_BEACON_ROUTE_RATE_LIMITED);

    default: /* NGX_BEACON_RELAY_NOT_FOUND */
        break;
    }

    /* tier 2: a node some peer beacon announced */

    if (ngx_beacon_gossip_route(z, msg->dest, &peer, &slot) != NGX_OK) {
        return ngx_beacon_relay_drop(f, msg, NGX_BEACON_C_RELAY_NOT_FOUND,
                                     NGX_BEACON_ROUTE_NOT_FOUND);
    }

    /* whatever came from another beacon is not passed on (W10) */

    if (from_peer != 1 && f->is_peer) {
        from_peer = f->is_peer(f->data, z, f->src, 1);
    }

    if (from_peer == 1) {
        /* never bounce a forwarded relay on: no loops between beacons */
        return ngx_beacon_relay_drop(f, msg, NGX_BEACON_C_RELAY_LOOP,
                                     NGX_BEACON_ROUTE_LOOP);
    }

    if (ngx_beacon_shm_relay_budget(z, f->src, f->relay_limit) != NGX_OK) {
        return ngx_beacon_relay_drop(f, msg, NGX_BEACON_C_RELAY_RATE_LIMITED,
                                     NGX_BEACON_ROUTE_RATE_LIMITED);
    }

#if (NGX_DEBUG)
    if (f->log->log_level & f->debug) {
        u_char  text[NGX_SOCKADDR_STRLEN];
        size_t  n;

        n = ngx_beacon_addr_print((char *) text, &peer, 1);

        ngx_log_debug5(f->debug, f->log, 0,
                       "beacon relay %uD -> %uD: forwarded to peer beacon "
                       "#%ui %*s", msg->sender, msg->dest, slot, n, text);
    }
#endif

    ngx_beacon_gossip_forwarded(z, slot);
    ngx_beacon_relay_forward(z, f->sock, &peer, buf, len);

    return NGX_BEACON_ROUTE_FORWARDED;
}


const char *
ngx_beacon_relay_action(ngx_beacon_route_e rc)
{
    return ngx_beacon_relay_actions[rc];
}


static ngx_beacon_route_e
ngx_beacon_relay_drop(ngx_beacon_relay_face_t *f, const ngx_beacon_msg_t *msg,
    ngx_beacon_counter_e c, ngx_beacon_route_e rc)
{
    ngx_beacon_count(f->zone, c);

    ngx_log_debug3(f->debug, f->log, 0,
                   "beacon relay %uD -> %uD dropped: %s",
                   msg->sender, msg->dest, ngx_beacon_relay_actions[rc]);

    return rc;
}


void
ngx_beacon_relay_deliver(ngx_beacon_zone_t *z, ngx_beacon_ep_t *ep,
    uint32_t sender, uint32_t dest, const u_char *payload, size_t plen)
{
    if ((ep->flags & NGX_BEACON_NODE_WSS)
        && ngx_beacon_relay_wss(z, ep, sender, dest, payload, plen)
           != NGX_DECLINED)
    {
        return;
    }

    if (ep->flags & NGX_BEACON_NODE_NOUDP) {
        ngx_beacon_count(z, NGX_BEACON_C_RELAY_NOT_FOUND);
        return;
    }

    ngx_beacon_relay_udp(z, ep, sender, dest, payload, plen);
}


/* NGX_OK (handed over or dropped and counted), NGX_DECLINED (owner gone) */

static ngx_int_t
ngx_beacon_relay_wss(ngx_beacon_zone_t *z, ngx_beacon_ep_t *ep,
    uint32_t sender, uint32_t dest, const u_char *payload, size_t plen)
{
    u_char                     hdr[NGX_BEACON_DELIVER_HDR_LEN];
    ngx_int_t                  rc;
    ngx_beacon_owner_t         owner;
    ngx_beacon_ipc_handler_pt  local;

    /* tier 0: always 0x06, one message, never above what daemons read */

    if (NGX_BEACON_DELIVER_HDR_LEN + plen > NGX_BEACON_WS_DELIVER_MAX) {
        ngx_beacon_count(z, NGX_BEACON_C_WS_DROP_OVERSIZE);
        return NGX_OK;
    }

    (void) ngx_beacon_encode_deliver_hdr(hdr, sender);

    if (ep->owner_pid == ngx_pid) {
        local = ngx_beacon_ipc_handler();

        rc = local ? local(NGX_BEACON_IPC_DELIVER, dest, ep->owner_conn,
                           hdr, sizeof(hdr), payload, plen)
                   : NGX_DECLINED;

    } else {
        rc = ngx_beacon_ipc_send(ep->owner_pid, NGX_BEACON_IPC_DELIVER, dest,
                                 ep->owner_conn, hdr, sizeof(hdr), payload,
                                 plen);
    }

    switch (rc) {

    case NGX_OK:
        ngx_beacon_count(z, NGX_BEACON_C_RELAY_FORWARDED);
        return NGX_OK;

    case NGX_AGAIN:
        ngx_beacon_count(z, NGX_BEACON_C_WS_DROP_CHANNEL_FULL);
        return NGX_OK;

    case NGX_BUSY:
        /* the connection's own queue is full: counted by its owner */
        return NGX_OK;

    default:
        /* the owner is gone (its worker crashed or exited): forget it */
        owner.pid = ep->owner_pid;
        owner.conn = ep->owner_conn;
        ngx_beacon_shm_ws_detach(z, dest, &owner);
        ngx_beacon_count(z, NGX_BEACON_C_WS_DROP_STALE_OWNER);
        return NGX_DECLINED;
    }
}


static void
ngx_beacon_relay_udp(ngx_beacon_zone_t *z, ngx_beacon_ep_t *ep,
    uint32_t sender, uint32_t dest, const u_char *payload, size_t plen)
{
    u_char              hdr[NGX_BEACON_DELIVER_DEST_HDR_LEN];
    size_t              hlen;
    ngx_beacon_sock_t  *ds;

    ds = ngx_beacon_udp_sock_for(ep);

    if (ds == NULL) {
        /* the listener that node talked to is gone (reload) */
        ngx_beacon_count(z, NGX_BEACON_C_RELAY_SEND_FAILED);
        ngx_beacon_count(z, NGX_BEACON_C_SEND_ERRORS);
        return;
    }

    if (ep->flags & NGX_BEACON_NODE_DEST) {
        hlen = ngx_beacon_encode_deliver_dest_hdr(hdr, sender, dest);

    } else {
        hlen = ngx_beacon_encode_deliver_hdr(hdr, sender);
    }

    ngx_beacon_udp_send(z, NGX_BEACON_OUT_RELAY, ds, &ep->addr, &ep->local,
                        hdr, hlen, payload, plen);
}


void
ngx_beacon_relay_forward(ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs,
    const ngx_beacon_addr_t *peer, const u_char *buf, size_t len)
{
    int                 family;
    ngx_uint_t          i, n;
    ngx_beacon_sock_t  *socks;

    family = ngx_beacon_addr_is_v4(peer) ? AF_INET : AF_INET6;

    if (bs == NULL || bs->family != family) {
        socks = ngx_beacon_udp_socks(&n);
        bs = NULL;

        for (i = 0; i < n; i++) {
            if (socks[i].family == family) {
                bs = &socks[i];
                break;
            }
        }

        if (bs == NULL) {
            ngx_beacon_count(z, NGX_BEACON_C_RELAY_SEND_FAILED);
            ngx_beacon_count(z, NGX_BEACON_C_SEND_ERRORS);
            return;
        }
    }

    ngx_beacon_udp_send(z, NGX_BEACON_OUT_RELAY, bs, peer, NULL, buf,
                        NGX_BEACON_RELAY_HDR_LEN,
                        buf + NGX_BEACON_RELAY_HDR_LEN,
                        len - NGX_BEACON_RELAY_HDR_LEN);

    ngx_beacon_count(z, NGX_BEACON_C_RELAY_PEER_FORWARDED);
}