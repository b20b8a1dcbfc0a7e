
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_relay.h"
#include "ngx_beacon_udp.h"
#include "ngx_beacon_ipc.h"


static ngx_int_t ngx_beacon_relay_wss(ngx_beacon_zone_t *z,
    ngx_beacon_ep_t *ep, uint32_t sender, uint32_t dest,
    const u_char *payload, size_t plen);
static void ngx_beacon_relay_udp(ngx_beacon_zone_t *z, ngx_beacon_ep_t *ep,
    uint32_t sender, uint32_t dest, const u_char *payload, size_t plen);


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