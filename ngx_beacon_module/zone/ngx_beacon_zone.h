
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Inside the beacon zone: its layout and what its owner files give each
 * other.  Only the files of zone/ include this; every other room goes
 * through ngx_beacon_shm.h.  Each member of the zone says which file owns it:
 * that file alone writes it and takes the locks that guard it.
 *
 *   ngx_beacon_shm.c       the zone (init, layout check), the counters, the
 *                          stats, drain, the reaping lease, the worker
 *                          claims and the connection admission (conn_lock),
 *                          the anchors of the tables other rooms own
 *   ngx_beacon_nodes.c     the node table (ngx_beacon_ntab.c under it): its
 *                          records, stripes, pending moves, expiry, compat
 *                          owners, the state file
 *   ngx_beacon_limits.c    the limiter tables and their stripes, the global
 *                          punch bucket, the grant replay cache, this
 *                          worker's relay budgets (process memory)
 *   ngx_beacon_keycache.c  the bridge's key cache (its sets are guarded by
 *                          the limiter stripes)
 *
 * Lock order: a node stripe first; with it held, a new node's budget
 * takes a limiter stripe (ngx_beacon_register_allowed()) and a new chunk
 * of records the slab mutex (ngx_beacon_grow()).  The limiter stripes and
 * conn_lock are each held alone.
 */


#ifndef _NGX_BEACON_ZONE_H_INCLUDED_
#define _NGX_BEACON_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_shm.h"
#include "ngx_beacon_ntab.h"
#include "ngx_beacon_state.h"


#define NGX_BEACON_WAYS          4
#define NGX_BEACON_MIN_SETS      16
#define NGX_BEACON_MAX_SETS      16384
#define NGX_BEACON_LSTRIPES      128

/* the seven limiter tables share about 1/32 of the zone */
#define ngx_beacon_lim_bytes(size)  ((size) / 32 / 8)

#define ngx_beacon_self()        ((uint64_t) ngx_pid)


/* one entry of a set-associative limiter table */
typedef struct {
    uint8_t                  key[18];
    uint16_t                 used;
    uint32_t                 stamp;
    uint32_t                 value;
} ngx_beacon_lim_entry_t;


typedef struct {
    ngx_beacon_lim_entry_t  *e;
    uint32_t                 mask;           /* sets - 1 */
} ngx_beacon_lim_t;


typedef struct ngx_beacon_pending_s  ngx_beacon_pending_t;
typedef struct ngx_beacon_keyc_s     ngx_beacon_keyc_t;


/* a worker's claim: ngx_beacon_shm.c, under conn_lock */
typedef struct {
    ngx_pid_t                pid;
    ngx_atomic_t             conns;
    ngx_atomic_t             peers;
    ngx_atomic_t             offset[NGX_BEACON_OG_LAST];
} ngx_beacon_claim_t;


struct ngx_beacon_sh_s {
    uint32_t                 magic;          /* shm.c */
    uint32_t                 counters;       /* shm.c: the signature */
    uint32_t                 generation;     /* shm.c, conn_lock */
    uint32_t                 expire_cursor;  /* nodes.c: the lease holder's */
    uint32_t                 draining;       /* shm.c: W15, atomic */
    uint64_t                 punch;          /* limits.c: tokens << 32 | stamp,
                                                compare-and-swap */

    ngx_beacon_ntab_t        nt;             /* nodes.c: its stripes; the
                                                seed, read-only after init,
                                                also seeds limits.c's and
                                                keycache.c's hashes */

    ngx_beacon_nstripe_t     lstripes[NGX_BEACON_LSTRIPES];  /* limits.c */
    ngx_beacon_nstripe_t     conn_lock;      /* shm.c: claims, admission,
                                                lease */

    ngx_beacon_lim_t         lim_reply;      /* limits.c, lstripes */
    ngx_beacon_lim_t         lim_register;   /* limits.c, lstripes */
    ngx_beacon_lim_t         lim_punch;      /* limits.c, lstripes */
    ngx_beacon_lim_t         lim_grant;      /* limits.c, lstripes */
    ngx_beacon_lim_t         lim_wsconn;     /* shm.c, conn_lock */
    ngx_beacon_lim_t         lim_offconn;    /* shm.c, conn_lock */
    ngx_beacon_lim_t         lim_authfail;   /* limits.c, lstripes */

    ngx_beacon_keyc_t       *keyc;           /* keycache.c, lstripes */
    uint32_t                 keyc_mask;

    ngx_beacon_pending_t    *pending;        /* nodes.c, node stripes */
    uint32_t                 pending_mask;   /* at least the stripes - 1 */

    ngx_beacon_claim_t       claims[NGX_BEACON_SLOTS];      /* shm.c */

    ngx_beacon_gossip_t     *gossip;         /* pilot/ngx_beacon_gossip.c */
    ngx_beacon_offset_sh_t  *offset;         /* ngx_beacon_offset_state.c */

    ngx_pid_t                lease_pid;      /* shm.c, conn_lock */
    ngx_msec_t               lease_expires;

    ngx_beacon_slot_t        slots[NGX_BEACON_SLOTS];       /* shm.c, atomic */
};


/* ngx_beacon_nodes.c */
ngx_int_t ngx_beacon_nodes_init(ngx_beacon_sh_t *sh, ngx_slab_pool_t *shpool,
    size_t size);
void ngx_beacon_nodes_state_load(ngx_beacon_zone_t *z, ngx_log_t *log);
void ngx_beacon_nodes_state_save(ngx_beacon_zone_t *z);
ngx_uint_t ngx_beacon_nodes_count(ngx_beacon_sh_t *sh);

/* ngx_beacon_limits.c */
ngx_int_t ngx_beacon_limits_init(ngx_beacon_sh_t *sh,
    ngx_slab_pool_t *shpool, size_t size);
ngx_int_t ngx_beacon_lim_alloc(ngx_slab_pool_t *shpool, ngx_beacon_lim_t *lim,
    size_t bytes);
/* the entry of key in lim, a new one (fresh) if none: its set's lock held */
ngx_beacon_lim_entry_t *ngx_beacon_lim_get(ngx_beacon_sh_t *sh,
    ngx_beacon_lim_t *lim, const uint8_t *key, uint32_t now,
    ngx_uint_t *fresh);
/* the limiter stripe of a set: limiter tables and the key cache */
ngx_beacon_nstripe_t *ngx_beacon_lstripe(ngx_beacon_sh_t *sh, uint32_t set);
void ngx_beacon_ip_key(uint8_t *key, const ngx_beacon_addr_t *addr);
/* a new node's budget of its source IP; called with its node stripe held */
ngx_int_t ngx_beacon_register_allowed(ngx_beacon_sh_t *sh,
    const ngx_beacon_addr_t *src, ngx_beacon_rate_t *rate, uint32_t now);
ngx_int_t ngx_beacon_relay_budget_local(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t limit, uint32_t now);
/* the grants not yet expired, for the state file (ngx_alloc()ed) */
ngx_beacon_state_grant_t *ngx_beacon_grants_copy(ngx_beacon_sh_t *sh,
    uint32_t *n);
void ngx_beacon_grants_load(ngx_beacon_sh_t *sh,
    ngx_beacon_state_grant_t *grant);

/* ngx_beacon_keycache.c */
ngx_int_t ngx_beacon_keycache_init(ngx_beacon_sh_t *sh,
    ngx_slab_pool_t *shpool, size_t size);


/*
 * The age of a stamp another worker may have written: each worker has its
 * own cached clock (ngx_current_msec, updated once per event loop pass),
 * so a stamp can be a little ahead of this worker's "now".  Such a stamp
 * is fresh (age 0), never 2^32 - a few milliseconds old.
 */
static ngx_inline uint32_t
ngx_beacon_age(uint32_t now, uint32_t stamp)
{
    int32_t  d;

    d = (int32_t) (now - stamp);

    return d > 0 ? (uint32_t) d : 0;
}


#endif /* _NGX_BEACON_ZONE_H_INCLUDED_ */
