
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The gossip route table, as pure code (no nginx types), so the
 * concurrency stress test (t/unit/gtab_stress.c) drives the very code the
 * module runs; ngx_beacon_gossip.c places it in the beacon zone.
 *
 * Three parts: the gossip sources (one slot per peer beacon address that
 * sent a SYNC), the routes (node id -> source slot and generation), and
 * the peer set the registry listed.  A SYNC bumps its source's generation
 * (every older route of that source dies at once) and then points each
 * of its ids at the new generation.
 *
 * Readers take no lock.  Routes are fixed records, allocated once with
 * the table and never freed while the zone lives, in hash chains; each
 * record, each source slot and the listed peer set has a sequence counter
 * (odd while written): a reader copies between two reads of it and
 * retries when it moved.  A route is returned only when the consistent
 * copy of its record names the id asked for and the consistent copy of
 * its source still has the record's generation: a source slot changes
 * its address only together with its generation, so a route never
 * points at an address that did not announce the id.  The table version
 * counts unlinks (the sweep's), so a reader that found nothing while a
 * chain changed looks again.
 *
 * Writers (SYNC installs, the sweep, the registry's peer set) take the
 * table's own lock word (ngx_beacon_ntab.h: the holder's pid, taken over
 * when the holder died); one lock for the table, as writes are rare (a
 * SYNC per peer every 10 s, a sweep a second, a registry round every
 * 30 s) and short.  A writer notes what it writes (wrec, wsrc, wlisted),
 * so the next holder after a dead one neutralizes the half-written
 * record: a route is never found again (node id 0, swept), a source slot
 * is freed with a new generation, the peer set emptied.
 */


#ifndef _NGX_BEACON_GTAB_H_INCLUDED_
#define _NGX_BEACON_GTAB_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_beacon_proto.h"
#include "ngx_beacon_ntab.h"


#define NGX_BEACON_GT_SOURCES      64
#define NGX_BEACON_GT_LISTED       64
#define NGX_BEACON_GT_TTL          90000     /* ms: a silent source dies */
#define NGX_BEACON_GT_MIN_BITS     4
#define NGX_BEACON_GT_MAX_BITS     16

/* a route's tag: the generation (24 bits) and the source slot + 1 */
#define ngx_beacon_gt_tag(gen, slot)                                        \
    (((uint32_t) (gen) << 8) | (uint32_t) ((slot) + 1))
#define ngx_beacon_gt_tag_slot(tag)   (((tag) & 0xff) - 1)
#define ngx_beacon_gt_tag_gen(tag)    ((tag) >> 8)
#define NGX_BEACON_GT_GEN_MASK     0xffffff


typedef struct {
    uint32_t                 seq;            /* odd: being written */
    uint32_t                 hnext;          /* chain or free list, idx + 1 */
    uint32_t                 node_id;        /* 0: free */
    uint32_t                 tag;            /* 0: none */
} ngx_beacon_groute_t;                       /* 16 */


typedef struct {
    uint32_t                 seq;            /* odd: being written */
    uint32_t                 gen;            /* 24 bits */
    uint32_t                 beacon_id;
    uint32_t                 last;           /* msec of its last SYNC */
    uint32_t                 routes;         /* routes of this generation */
    uint8_t                  used;
    uint8_t                  expired;        /* its silence was reported */
    ngx_beacon_addr_t        addr;
} ngx_beacon_gsource_t;


typedef struct {
    ngx_beacon_nstripe_t     lock;           /* every writer */
    uint32_t                 version;        /* unlinks; odd: busy */
    uint32_t                 wrec;           /* route being written, idx+1 */
    uint32_t                 wlink;          /* route whose link, idx + 1 */
    uint32_t                 wsrc;           /* source being written, +1 */
    uint32_t                 wlisted;        /* the peer set being written */
    uint32_t                 bits;           /* buckets and routes: 2^bits */
    uint32_t                 free;           /* free list, idx + 1 */
    uint32_t                 cursor;         /* the sweep's next bucket */
    uint32_t                 nroutes;        /* records in chains */
    uint32_t                 listed_seq;     /* odd: being written */
    uint32_t                 nlisted;
    uint32_t                *buckets;
    ngx_beacon_groute_t     *routes;
    uint64_t                 forwarded[NGX_BEACON_GT_SOURCES];  /* atomic */
    ngx_beacon_gsource_t     src[NGX_BEACON_GT_SOURCES];
    ngx_beacon_addr_t        listed[NGX_BEACON_GT_LISTED];
} ngx_beacon_gtab_t;


/* a route found */
typedef struct {
    ngx_beacon_addr_t        peer;
    uint32_t                 slot;
    uint32_t                 gen;
    uint32_t                 beacon_id;
} ngx_beacon_ghit_t;


/* what one SYNC did, for the log */
typedef struct {
    uint32_t                 slot;
    uint32_t                 gen;
    uint32_t                 withdrawn;      /* live routes before it */
    uint32_t                 learned;        /* ids without a live route */
    uint32_t                 renewed;        /* ids it announced before */
    uint32_t                 replaced;       /* ids another source had */
    uint32_t                 full;           /* ids with no room */
    unsigned                 new_source:1;
    unsigned                 was_live:1;     /* live before this SYNC */
} ngx_beacon_gsync_t;


/* a source as the status page shows it */
typedef struct {
    ngx_beacon_addr_t        addr;
    uint32_t                 beacon_id;
    uint32_t                 routes;
    uint32_t                 age;            /* ms since its last SYNC */
    uint64_t                 forwarded;
} ngx_beacon_gsource_info_t;


/* bytes of buckets and routes for 2^bits records */
size_t ngx_beacon_gt_mem(uint32_t bits);
/* a zeroed table with its zeroed buckets and routes */
void ngx_beacon_gt_init(ngx_beacon_gtab_t *gt, uint32_t bits,
    uint32_t *buckets, ngx_beacon_groute_t *routes);

/* lock-free */
int ngx_beacon_gt_route(ngx_beacon_gtab_t *gt, uint32_t node_id,
    uint32_t now, uint64_t pid, ngx_beacon_ghit_t *hit);
int ngx_beacon_gt_is_source(ngx_beacon_gtab_t *gt,
    const ngx_beacon_addr_t *addr, uint32_t now, uint64_t pid);
int ngx_beacon_gt_is_listed(ngx_beacon_gtab_t *gt,
    const ngx_beacon_addr_t *addr, uint64_t pid);
uint32_t ngx_beacon_gt_listed(ngx_beacon_gtab_t *gt, ngx_beacon_addr_t *out,
    uint32_t max, uint64_t pid);
/* the live sources, returns how many; *routes: their routes in all */
uint32_t ngx_beacon_gt_sources(ngx_beacon_gtab_t *gt,
    ngx_beacon_gsource_info_t *out, uint32_t max, uint32_t now,
    uint32_t *routes);
/* one source slot, live or not (for the log) */
void ngx_beacon_gt_source(ngx_beacon_gtab_t *gt, uint32_t slot,
    ngx_beacon_gsource_info_t *out);
void ngx_beacon_gt_forwarded(ngx_beacon_gtab_t *gt, uint32_t slot);

/* writers: each takes and releases the table lock */

/* a SYNC from addr starts: its slot's new generation; -1: no free slot */
int ngx_beacon_gt_begin(ngx_beacon_gtab_t *gt, const ngx_beacon_addr_t *addr,
    uint32_t beacon_id, uint32_t now, uint64_t pid, ngx_beacon_gsync_t *gs);
/* points n ids at the SYNC's generation; 0, or -1 when the table is full */
int ngx_beacon_gt_install(ngx_beacon_gtab_t *gt, ngx_beacon_gsync_t *gs,
    const uint32_t *ids, uint32_t n, uint32_t now, uint64_t pid);
void ngx_beacon_gt_set_listed(ngx_beacon_gtab_t *gt,
    const ngx_beacon_addr_t *peers, uint32_t n, uint64_t pid);
/*
 * Frees the dead routes of up to max buckets; returns how many, and in
 * *silent the slot bits (1 << slot) of sources found silent for the TTL
 * since the last sweep.
 */
uint32_t ngx_beacon_gt_sweep(ngx_beacon_gtab_t *gt, uint32_t max,
    uint32_t now, uint64_t pid, uint64_t *silent);

/* for the stress test: the lock, and the sweep with it held */
void ngx_beacon_gt_lock(ngx_beacon_gtab_t *gt, uint64_t pid);
void ngx_beacon_gt_unlock(ngx_beacon_gtab_t *gt);


#endif /* _NGX_BEACON_GTAB_H_INCLUDED_ */
