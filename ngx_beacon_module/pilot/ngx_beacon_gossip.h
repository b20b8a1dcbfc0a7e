
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The gossip room (spec 6): everything beacons say to each other.  The
 * SYNC rounds (this beacon's node ids to every peer, every 10 s), the
 * SYNCs received (checked, then installed), the peer set (configured,
 * and listed by the registry, see ngx_beacon_registry.h), and the peer
 * routes learned from SYNCs, kept in the beacon zone.  A SYNC replaces
 * every route of its source (IP and port) by bumping that source's
 * generation: O(1) to withdraw, O(ids) to install, never a copy of the
 * table (W8).  Routes of a source silent for 90 s are dead at once and
 * swept lazily.
 */


#ifndef _NGX_BEACON_GOSSIP_H_INCLUDED_
#define _NGX_BEACON_GOSSIP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_proto.h"
#include "ngx_beacon_shm.h"
#include "ngx_beacon_udp.h"
#include "ngx_beacon_registry.h"
#include "ngx_beacon_gtab.h"


#define NGX_BEACON_GOSSIP_SOURCES     NGX_BEACON_GT_SOURCES
#define NGX_BEACON_GOSSIP_TTL         NGX_BEACON_GT_TTL
#define NGX_BEACON_GOSSIP_MAX_IDS     16375     /* one datagram (W9) */
#define NGX_BEACON_GOSSIP_INTERVAL    10000     /* ms, between SYNC rounds */
#define NGX_BEACON_GOSSIP_SYNC_WINDOW 60        /* s, a trailer's age */
#define NGX_BEACON_GOSSIP_CHUNKS      8         /* listeners a SYNC spans */


/*
 * A beacon server's gossip and registry settings (its directives); the
 * typedef is in ngx_beacon_registry.h, whose round reads them too.
 */
struct ngx_beacon_gossip_conf_s {
    ngx_int_t                beacon_id;
    ngx_array_t             *peers;      /* ngx_beacon_addr_t, configured */
    ngx_flag_t               strict;     /* SYNCs from configured peers only */
    u_char                  *key;        /* SHA-256 of the secret, or NULL */
    ngx_beacon_registry_t   *registry;
    ngx_str_t                registry_token;
    ngx_str_t                advertise;
};


typedef struct {
    ngx_beacon_addr_t        addr;
    uint32_t                 beacon_id;
    uint32_t                 routes;
    ngx_msec_t               age;
    uint64_t                 forwarded;
} ngx_beacon_gossip_source_t;


/* the SYNC scratch buffers of this worker (init_process) */
ngx_int_t ngx_beacon_gossip_init_worker(ngx_cycle_t *cycle);
/*
 * One SYNC round of one beacon server, by the worker that leads its zone:
 * bs is the server's first socket in this worker.
 */
void ngx_beacon_gossip_round(ngx_beacon_gossip_conf_t *gc,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs);
/*
 * A SYNC datagram (msg, parsed from buf/len) from src: checked (strict,
 * secret) and installed.  Counts it; NGX_OK, or NGX_DECLINED (rejected).
 */
ngx_int_t ngx_beacon_gossip_receive(ngx_beacon_gossip_conf_t *gc,
    ngx_beacon_zone_t *z, const ngx_beacon_msg_t *msg,
    const ngx_beacon_addr_t *src, const u_char *buf, size_t len);
/*
 * The relay router's peer test (ngx_beacon_relay_peer_pt), data being the
 * server's ngx_beacon_gossip_conf_t: a configured or registry-listed peer;
 * with any_source, also any live gossip source.
 */
ngx_uint_t ngx_beacon_gossip_is_peer(void *data, ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t any_source);

/* the route table */

/* the peer beacon a node is reachable through: NGX_OK or NGX_DECLINED */
ngx_int_t ngx_beacon_gossip_route(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_addr_t *peer, ngx_uint_t *slot);
/* counts a relay forwarded along a route of that source slot */
void ngx_beacon_gossip_forwarded(ngx_beacon_zone_t *z, ngx_uint_t slot);
/* 1 if addr is in the peer set the registry lists */
ngx_uint_t ngx_beacon_gossip_is_discovered(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr);
/* 1 if addr (IP and port) is a live gossip source or a listed peer */
ngx_uint_t ngx_beacon_gossip_is_source(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr);
/* the live sources, for the status page; returns how many */
ngx_uint_t ngx_beacon_gossip_sources(ngx_beacon_zone_t *z,
    ngx_beacon_gossip_source_t *out, ngx_uint_t max, ngx_uint_t *routes);
/* frees the dead routes of up to max buckets (the lease holder's reaper) */
void ngx_beacon_gossip_sweep(ngx_beacon_zone_t *z, ngx_uint_t max);

/* the peer set from registry discovery, shared by every worker */
#define NGX_BEACON_GOSSIP_DISCOVERED  NGX_BEACON_GT_LISTED

ngx_int_t ngx_beacon_gossip_set_discovered(ngx_beacon_zone_t *z,
    ngx_beacon_addr_t *peers, ngx_uint_t n);
ngx_uint_t ngx_beacon_gossip_discovered(ngx_beacon_zone_t *z,
    ngx_beacon_addr_t *peers, ngx_uint_t max);


#endif /* _NGX_BEACON_GOSSIP_H_INCLUDED_ */
