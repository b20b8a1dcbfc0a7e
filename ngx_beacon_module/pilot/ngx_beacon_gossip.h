
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Gossip between beacons (spec 6): the peer routes learned from SYNC
 * datagrams, kept in the beacon zone.  A SYNC replaces every route of its
 * source (IP and port) by bumping that source's generation: O(1) to
 * withdraw, O(ids) to install, never a copy of the table (W8).  Routes of
 * a source silent for 90 s are dead at once and swept lazily.
 */


#ifndef _NGX_BEACON_GOSSIP_H_INCLUDED_
#define _NGX_BEACON_GOSSIP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_shm.h"


#define NGX_BEACON_GOSSIP_SOURCES     64
#define NGX_BEACON_GOSSIP_TTL         90000     /* ms */
#define NGX_BEACON_GOSSIP_MAX_IDS     16375     /* one datagram (W9) */


typedef struct {
    ngx_beacon_addr_t        addr;
    uint32_t                 beacon_id;
    uint32_t                 routes;
    ngx_msec_t               age;
    uint64_t                 forwarded;
} ngx_beacon_gossip_source_t;


/* NGX_OK; NGX_BUSY when no source slot is free */
ngx_int_t ngx_beacon_gossip_sync(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, uint32_t beacon_id, const u_char *ids,
    ngx_uint_t n);
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
void ngx_beacon_gossip_sweep(ngx_beacon_zone_t *z, ngx_uint_t max);

/* the peer set from registry discovery, shared by every worker */
#define NGX_BEACON_GOSSIP_DISCOVERED  64

ngx_int_t ngx_beacon_gossip_set_discovered(ngx_beacon_zone_t *z,
    ngx_beacon_addr_t *peers, ngx_uint_t n);
ngx_uint_t ngx_beacon_gossip_discovered(ngx_beacon_zone_t *z,
    ngx_beacon_addr_t *peers, ngx_uint_t max);


#endif /* _NGX_BEACON_GOSSIP_H_INCLUDED_ */
