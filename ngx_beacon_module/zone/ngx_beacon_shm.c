
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_shm.h"
#include "ngx_beacon_ntab.h"
#include "ngx_beacon_state.h"


/*
 * Locks of the zone (see README, "Locks"): node records are read without
 * a lock (ngx_beacon_ntab.c); their writers hold one of 128 stripes of
 * the node table; limiter and key cache sets are guarded by one of 128
 * limiter stripes; the claims, the per-worker connection admission and
 * the lease share one lock (per connection, never per datagram); the
 * slab mutex is only taken to allocate a new chunk of records.
 */

#define NGX_BEACON_WAYS          4
#define NGX_BEACON_MIN_SETS      16
#define NGX_BEACON_MAX_SETS      16384
#define NGX_BEACON_LSTRIPES      128
#define NGX_BEACON_EXPIRE_SCAN   65536        /* buckets a reaping call */
#define NGX_BEACON_BUDGET_SETS   1024         /* per-worker relay budgets */

#define NGX_BEACON_STATE_MAX     ((off_t) 1 << 30)

#define NGX_BEACON_STATE_KEEP    (NGX_BEACON_NODE_DEST|NGX_BEACON_NODE_KEY    \
                                  |NGX_BEACON_NODE_LV6)

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


/*
 * A move refused by the endpoint throttle, applied when the window ends
 * (the node then carries NGX_BEACON_NODE_PENDING and the due time);
 * set-associative by the node's bucket, so a set is always in the node's
 * stripe, and a lost entry only means waiting for the node's next
 * DISCOVER.
 */
typedef struct {
    uint32_t                 node_id;        /* 0: free */
    uint32_t                 due;            /* ngx_current_msec */
    uint16_t                 port;
    uint16_t                 lport;
    uint8_t                  flags;          /* NGX_BEACON_NODE_LV6, _DEST */
    uint8_t                  reserved[3];
    uint8_t                  ip[16];
    uint8_t                  lip[16];
} ngx_beacon_pending_t;                      /* 48 bytes */


/* the bridge's key cache: node id -> Ed25519 key (or known absent) */
typedef struct {
    uint32_t                 node_id;
    uint32_t                 expires;        /* ngx_time() */
    uint32_t                 used;           /* 1 key, 2 absent */
    uint8_t                  key[NGX_BEACON_KEY_LEN];
} ngx_beacon_keyc_t;


typedef struct {
    ngx_pid_t                pid;
    ngx_atomic_t             conns;
    ngx_atomic_t             peers;
    ngx_atomic_t             offset[NGX_BEACON_OG_LAST];
} ngx_beacon_claim_t;


struct ngx_beacon_sh_s {
    uint32_t                 magic;
    uint32_t                 counters;       /* the counters' signature */
    uint32_t                 generation;
    uint32_t                 expire_cursor;  /* the lease holder's */
    uint32_t                 draining;       /* W15, atomic */
    uint64_t                 punch;          /* tokens << 32 | stamp */

    ngx_beacon_ntab_t        nt;

    ngx_beacon_nstripe_t     lstripes[NGX_BEACON_LSTRIPES];
    ngx_beacon_nstripe_t     conn_lock;      /* claims, admission, lease */

    ngx_beacon_lim_t         lim_reply;
    ngx_beacon_lim_t         lim_register;
    ngx_beacon_lim_t         lim_punch;
    ngx_beacon_lim_t         lim_grant;
    ngx_beacon_lim_t         lim_wsconn;
    ngx_beacon_lim_t         lim_offconn;
    ngx_beacon_lim_t         lim_authfail;

    ngx_beacon_keyc_t       *keyc;
    uint32_t                 keyc_mask;

    ngx_beacon_pending_t    *pending;
    uint32_t                 pending_mask;   /* at least the stripes - 1 */

    ngx_beacon_claim_t       claims[NGX_BEACON_SLOTS];

    ngx_beacon_gossip_t     *gossip;         /* ngx_beacon_gossip.c */
    ngx_beacon_offset_sh_t  *offset;         /* ngx_beacon_offset_state.c */

    ngx_pid_t                lease_pid;
    ngx_msec_t               lease_expires;

    ngx_beacon_slot_t        slots[NGX_BEACON_SLOTS];
};


static int ngx_beacon_grow(ngx_beacon_ntab_t *nt, void *data);
static ngx_int_t ngx_beacon_read(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_nrec_t *r);
static ngx_uint_t ngx_beacon_pending_due(ngx_beacon_nrec_t *n, uint32_t now);
static ngx_beacon_pending_t *ngx_beacon_pending_get(ngx_beacon_sh_t *sh,
    uint32_t node_id, ngx_uint_t create);
static void ngx_beacon_pending_apply(ngx_beacon_sh_t *sh,
    ngx_beacon_nrec_t *n, uint32_t now);
static void ngx_beacon_pending_set(ngx_beacon_sh_t *sh, ngx_beacon_nrec_t *n,
    ngx_beacon_reg_t *reg, uint32_t now);
static void ngx_beacon_pending_drop(ngx_beacon_sh_t *sh,
    ngx_beacon_nrec_t *n);
static ngx_uint_t ngx_beacon_expire_bucket_locked(ngx_beacon_zone_t *z,
    uint32_t b, uint32_t now, ngx_uint_t max);
static uint32_t ngx_beacon_alloc_locked(ngx_beacon_zone_t *z,
    ngx_beacon_nstripe_t *st);
static ngx_beacon_reg_e ngx_beacon_upsert_locked(ngx_beacon_zone_t *z,
    ngx_beacon_nstripe_t *st, ngx_beacon_reg_t *reg, ngx_beacon_nrec_t *out);
static void ngx_beacon_node_set_ep(ngx_beacon_nrec_t *n,
    ngx_beacon_reg_t *reg);
static ngx_uint_t ngx_beacon_node_same_ep(ngx_beacon_nrec_t *n,
    ngx_beacon_reg_t *reg);
static void ngx_beacon_node_ep(ngx_beacon_nrec_t *n, ngx_beacon_ep_t *ep);
static void ngx_beacon_ip_key(uint8_t *key, const ngx_beacon_addr_t *addr);
static uint32_t ngx_beacon_lim_hash(ngx_beacon_sh_t *sh, const uint8_t *key);
static ngx_beacon_nstripe_t *ngx_beacon_lim_stripe(ngx_beacon_sh_t *sh,
    ngx_beacon_lim_t *lim, uint32_t h);
static ngx_beacon_lim_entry_t *ngx_beacon_lim_get(ngx_beacon_sh_t *sh,
    ngx_beacon_lim_t *lim, const uint8_t *key, uint32_t now,
    ngx_uint_t *fresh);
static ngx_int_t ngx_beacon_bucket_take(uint32_t *tokens, uint32_t *stamp,
    ngx_uint_t fresh, ngx_uint_t rate, ngx_uint_t burst, uint32_t now);
static ngx_uint_t ngx_beacon_bucket_level(uint32_t tokens, uint32_t stamp,
    ngx_uint_t fresh, ngx_uint_t rate, ngx_uint_t per, ngx_uint_t burst,
    uint32_t now);
static ngx_int_t ngx_beacon_relay_budget_local(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t limit, uint32_t now);
static ngx_int_t ngx_beacon_lim_alloc(ngx_slab_pool_t *shpool,
    ngx_beacon_lim_t *lim, size_t bytes);
static ngx_int_t ngx_beacon_cmp_u64(const void *a, const void *b);
static void ngx_beacon_state_load(ngx_beacon_zone_t *z, ngx_log_t *log);
static void ngx_beacon_state_save(ngx_beacon_zone_t *z);
static uint32_t ngx_beacon_counters_signature(void);


ngx_int_t
ngx_beacon_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_beacon_zone_t  *ozone = data;

    size_t              size, lim_bytes;
    uint32_t            nbuckets;
    ngx_beacon_sh_t    *sh;
    ngx_beacon_zone_t  *zone;
    ngx_slab_pool_t    *shpool;

    zone = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ozone) {
        if (ozone->sh->magic != NGX_BEACON_ZONE_MAGIC
            || ozone->sh->counters != ngx_beacon_counters_signature())
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "beacon zone \"%V\" has an incompatible layout",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        /* the lease may stick to a pid of the previous generation */

        ngx_beacon_nt_lock(&zone->sh->conn_lock, ngx_beacon_self());
        zone->sh->lease_pid = 0;
        zone->sh->lease_expires = 0;
        zone->sh->generation++;
        ngx_beacon_nt_unlock(&zone->sh->conn_lock);

        return NGX_OK;
    }

    zone->shpool = shpool;

    if (shm_zone->shm.exists) {
        zone->sh = shpool->data;
        return NGX_OK;
    }

    size = shm_zone->shm.size;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_beacon_sh_t));
    if (sh == NULL) {
        goto nomem;
    }

    zone->sh = sh;
    shpool->data = sh;

    sh->nt.seed = (uint32_t) ngx_random() ^ ((uint32_t) ngx_random() << 16);

    /* about one bucket per 128 bytes of zone, a power of two */

    sh->nt.bucket_bits = NGX_BEACON_NT_MIN_BITS;

    while (sh->nt.bucket_bits < 28
           && ((size_t) 1 << sh->nt.bucket_bits) < size / 128)
    {
        sh->nt.bucket_bits++;
    }

    nbuckets = (uint32_t) 1 << sh->nt.bucket_bits;

    sh->nt.buckets = ngx_slab_calloc(shpool, nbuckets * sizeof(uint32_t));
    if (sh->nt.buckets == NULL) {
        goto nomem;
    }

    sh->nt.max_chunks = size / (NGX_BEACON_NT_CHUNK
                                * sizeof(ngx_beacon_nrec_t)) + 1;

    sh->nt.chunks = ngx_slab_calloc(shpool, sh->nt.max_chunks
                                            * sizeof(ngx_beacon_nrec_t *));
    if (sh->nt.chunks == NULL) {
        goto nomem;
    }

    /* seven limiter tables share about 1/32 of the zone */

    lim_bytes = size / 32 / 8;

    if (ngx_beacon_lim_alloc(shpool, &sh->lim_reply, lim_bytes) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_register, lim_bytes)
           != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_punch, lim_bytes) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_grant, lim_bytes) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_wsconn, lim_bytes) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_authfail, lim_bytes)
           != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_offconn, lim_bytes)
           != NGX_OK)
    {
        goto nomem;
    }

    /* the key cache: about 1/128 of the zone, 4-way sets */

    sh->keyc_mask = NGX_BEACON_MIN_SETS - 1;

    while (sh->keyc_mask < NGX_BEACON_MAX_SETS - 1
           && (size_t) (sh->keyc_mask + 1) * 2 * NGX_BEACON_WAYS
              * sizeof(ngx_beacon_keyc_t) <= size / 128)
    {
        sh->keyc_mask = sh->keyc_mask * 2 + 1;
    }

    sh->keyc = ngx_slab_calloc(shpool, (size_t) (sh->keyc_mask + 1)
                                       * NGX_BEACON_WAYS
                                       * sizeof(ngx_beacon_keyc_t));
    if (sh->keyc == NULL) {
        goto nomem;
    }

    /* pending moves: about 1/256 of the zone, 4-way sets, >= 1 a stripe */

    sh->pending_mask = NGX_BEACON_NT_STRIPES - 1;

    while (sh->pending_mask < NGX_BEACON_MAX_SETS - 1
           && (size_t) (sh->pending_mask + 1) * 2 * NGX_BEACON_WAYS
              * sizeof(ngx_beacon_pending_t) <= size / 256)
    {
        sh->pending_mask = sh->pending_mask * 2 + 1;
    }

    sh->pending = ngx_slab_calloc(shpool, (size_t) (sh->pending_mask + 1)
                                          * NGX_BEACON_WAYS
                                          * sizeof(ngx_beacon_pending_t));
    if (sh->pending == NULL) {
        goto nomem;
    }

    shpool->log_ctx = ngx_slab_alloc(shpool,
                                     sizeof(" in beacon zone \"\"")
                                     + shm_zone->shm.name.len);
    if (shpool->log_ctx == NULL) {
        goto nomem;
    }

    ngx_sprintf(shpool->log_ctx, " in beacon zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is handled (refused and counted), not logged per alloc */
    shpool->log_nomem = 0;

    sh->magic = NGX_BEACON_ZONE_MAGIC;
    sh->counters = ngx_beacon_counters_signature();

    if (zone->state.len) {
        ngx_beacon_state_load(zone, shm_zone->shm.log);
    }

    return NGX_OK;

nomem:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "beacon zone \"%V\" is too small", &shm_zone->shm.name);

    return NGX_ERROR;
}


static ngx_int_t
ngx_beacon_lim_alloc(ngx_slab_pool_t *shpool, ngx_beacon_lim_t *lim,
    size_t bytes)
{
    uint32_t  sets;

    sets = NGX_BEACON_MIN_SETS;

    while (sets < NGX_BEACON_MAX_SETS
           && (size_t) sets * 2 * NGX_BEACON_WAYS
              * sizeof(ngx_beacon_lim_entry_t) <= bytes)
    {
        sets *= 2;
    }

    lim->e = ngx_slab_calloc(shpool, (size_t) sets * NGX_BEACON_WAYS
                                     * sizeof(ngx_beacon_lim_entry_t));
    if (lim->e == NULL) {
        return NGX_ERROR;
    }

    lim->mask = sets - 1;

    return NGX_OK;
}


/* the only use of the slab mutex on the way of a datagram: a new chunk */

static int
ngx_beacon_grow(ngx_beacon_ntab_t *nt, void *data)
{
    ngx_beacon_zone_t *z = data;

    int                 rc;
    ngx_beacon_nrec_t  *chunk;

    rc = -1;

    ngx_shmtx_lock(&z->shpool->mutex);

    if (nt->nchunks < nt->max_chunks) {
        chunk = ngx_slab_calloc_locked(z->shpool, NGX_BEACON_NT_CHUNK
                                                  * sizeof(ngx_beacon_nrec_t));
        if (chunk) {
            ngx_beacon_nt_add_chunk(nt, chunk);
            rc = 0;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


/*
 * Every lock-free lookup goes through here, so a pending move whose
 * throttle window has ended is applied (with the node's stripe, once)
 * before anyone uses the endpoint, whether or not the node sent anything
 * since.
 */

static ngx_int_t
ngx_beacon_read(ngx_beacon_zone_t *z, uint32_t node_id, ngx_beacon_nrec_t *r)
{
    uint32_t               now;
    ngx_int_t              rc;
    ngx_beacon_nrec_t     *n;
    ngx_beacon_ntab_t     *nt;
    ngx_beacon_nstripe_t  *st;

    nt = &z->sh->nt;

    if (!ngx_beacon_nt_read(nt, node_id, r, ngx_beacon_self())) {
        return NGX_DECLINED;
    }

    now = (uint32_t) ngx_current_msec;

    if (!(r->flags & NGX_BEACON_NODE_PENDING)
        || !ngx_beacon_pending_due(r, now))
    {
        return NGX_OK;
    }

    st = ngx_beacon_nt_stripe(nt, node_id);
    rc = NGX_DECLINED;

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    n = ngx_beacon_nt_find_locked(nt, node_id, NULL);

    if (n) {
        if (n->flags & NGX_BEACON_NODE_PENDING) {
            ngx_beacon_nt_wbegin(st, n);
            ngx_beacon_pending_apply(z->sh, n, now);
            ngx_beacon_nt_wend(st, n);
        }

        ngx_memcpy(r, n, sizeof(ngx_beacon_nrec_t));
        rc = NGX_OK;
    }

    ngx_beacon_nt_unlock(st);

    return rc;
}


static ngx_uint_t
ngx_beacon_pending_due(ngx_beacon_nrec_t *n, uint32_t now)
{
    return (int32_t) (now - n->pdue) >= 0;
}


/* the pending moves: with the node's stripe held (the set is in it) */

static ngx_beacon_pending_t *
ngx_beacon_pending_get(ngx_beacon_sh_t *sh, uint32_t node_id,
    ngx_uint_t create)
{
    ngx_uint_t             i;
    ngx_beacon_pending_t  *set, *victim;

    set = &sh->pending[(size_t) (ngx_beacon_nt_bucket(&sh->nt, node_id)
                                 & sh->pending_mask) * NGX_BEACON_WAYS];

    for (i = 0; i < NGX_BEACON_WAYS; i++) {
        if (set[i].node_id == node_id) {
            return &set[i];
        }
    }

    if (!create) {
        return NULL;
    }

    /* a free way, else the one due first (its node keeps a stale flag) */

    victim = &set[0];

    for (i = 0; i < NGX_BEACON_WAYS; i++) {
        if (set[i].node_id == 0) {
            victim = &set[i];
            break;
        }

        if ((int32_t) (set[i].due - victim->due) < 0) {
            victim = &set[i];
        }
    }

    return victim;
}


/* the record is being written */

static void
ngx_beacon_pending_apply(ngx_beacon_sh_t *sh, ngx_beacon_nrec_t *n,
    uint32_t now)
{
    ngx_beacon_pending_t  *p;

    p = ngx_beacon_pending_get(sh, n->node_id, 0);

    if (p == NULL) {
        /* the entry was taken by another node: wait for a DISCOVER */
        n->flags &= ~NGX_BEACON_NODE_PENDING;
        return;
    }

    if ((int32_t) (now - p->due) < 0) {
        return;
    }

    ngx_memcpy(n->ip, p->ip, 16);
    ngx_memcpy(n->lip, p->lip, 16);
    n->port = p->port;
    n->lport = p->lport;
    n->flags = (n->flags & ~(NGX_BEACON_NODE_LV6|NGX_BEACON_NODE_DEST
                             |NGX_BEACON_NODE_PENDING))
               | (p->flags & (NGX_BEACON_NODE_LV6|NGX_BEACON_NODE_DEST));

    /* a move like any other: the next one waits a whole window */
    n->last_write = p->due;

    p->node_id = 0;
}


static void
ngx_beacon_pending_set(ngx_beacon_sh_t *sh, ngx_beacon_nrec_t *n,
    ngx_beacon_reg_t *reg, uint32_t now)
{
    ngx_beacon_pending_t  *p;

    p = ngx_beacon_pending_get(sh, n->node_id, 1);

    /* the latest claim wins; the window is the current endpoint's */

    p->node_id = n->node_id;
    p->due = n->last_write + (uint32_t) reg->throttle;

    if ((int32_t) (p->due - now) <= 0) {
        p->due = now + 1;
    }

    ngx_memcpy(p->ip, reg->src.ip, 16);
    ngx_memcpy(p->lip, reg->local.ip, 16);
    p->port = reg->src.port;
    p->lport = reg->local.port;
    p->flags = (reg->lv6 ? NGX_BEACON_NODE_LV6 : 0)
               | (reg->ex ? NGX_BEACON_NODE_DEST : 0);

    /* readers see the due time without the table */
    n->pdue = p->due;
    n->flags |= NGX_BEACON_NODE_PENDING;
}


static void
ngx_beacon_pending_drop(ngx_beacon_sh_t *sh, ngx_beacon_nrec_t *n)
{
    ngx_beacon_pending_t  *p;

    if (!(n->flags & NGX_BEACON_NODE_PENDING)) {
        return;
    }

    p = ngx_beacon_pending_get(sh, n->node_id, 0);

    if (p) {
        p->node_id = 0;
    }

    n->flags &= ~NGX_BEACON_NODE_PENDING;
}


/*
 * Expiry of one bucket's chain, its stripe held: a node unseen for the
 * TTL goes, one connected through the bridge is alive while connected.
 */

static ngx_uint_t
ngx_beacon_expire_bucket_locked(ngx_beacon_zone_t *z, uint32_t b,
    uint32_t now, ngx_uint_t max)
{
    uint32_t               idx, next, ttl;
    ngx_uint_t             removed;
    ngx_beacon_nrec_t     *n;
    ngx_beacon_ntab_t     *nt;
    ngx_beacon_nstripe_t  *st;

    nt = &z->sh->nt;
    st = &nt->stripes[b & (NGX_BEACON_NT_STRIPES - 1)];
    ttl = (uint32_t) z->ttl * 1000;
    removed = 0;

    for (idx = nt->buckets[b]; idx && removed < max; idx = next) {
        n = ngx_beacon_nt_rec(nt, idx);
        next = n->hnext;

        if (n->node_id == 0                   /* left by a dead writer */
            || (uint32_t) (now - n->last_seen) < ttl)
        {
            continue;
        }

        if (n->flags & NGX_BEACON_NODE_WSS) {
            ngx_beacon_nt_wbegin(st, n);
            n->last_seen = now;
            ngx_beacon_nt_wend(st, n);
            continue;
        }

        if (n->flags & NGX_BEACON_NODE_PENDING) {
            ngx_beacon_nt_wbegin(st, n);
            ngx_beacon_pending_drop(z->sh, n);
            ngx_beacon_nt_wend(st, n);
        }

        ngx_beacon_nt_remove(nt, idx);
        removed++;
    }

    return removed;
}


/* with stripe st held: a free record for a node of that stripe, or 0 */

static uint32_t
ngx_beacon_alloc_locked(ngx_beacon_zone_t *z, ngx_beacon_nstripe_t *st)
{
    uint32_t            b, i, now, nbuckets, idx, k;
    ngx_uint_t          removed;
    ngx_beacon_ntab_t  *nt;

    nt = &z->sh->nt;
    now = (uint32_t) ngx_current_msec;
    k = (uint32_t) (st - nt->stripes);
    nbuckets = (uint32_t) 1 << nt->bucket_bits;

    /* never evict a live node: expired ones of this stripe make room */

    removed = 0;

    if (__atomic_load_n(&nt->nnodes, __ATOMIC_RELAXED) >= z->max_nodes) {

        for (i = 0; i < nbuckets / NGX_BEACON_NT_STRIPES && removed == 0; i++)
        {
            b = (st->cursor++ % (nbuckets / NGX_BEACON_NT_STRIPES))
                * NGX_BEACON_NT_STRIPES + k;
            removed = ngx_beacon_expire_bucket_locked(z, b, now, 2);
        }

        if (removed == 0) {
            return 0;
        }
    }

    idx = ngx_beacon_nt_alloc(nt, st, ngx_beacon_self(), ngx_beacon_grow, z);

    if (idx == 0 && removed == 0) {

        for (i = 0; i < nbuckets / NGX_BEACON_NT_STRIPES && removed == 0; i++)
        {
            b = (st->cursor++ % (nbuckets / NGX_BEACON_NT_STRIPES))
                * NGX_BEACON_NT_STRIPES + k;
            removed = ngx_beacon_expire_bucket_locked(z, b, now, 2);
        }

        if (removed) {
            idx = ngx_beacon_nt_alloc(nt, st, ngx_beacon_self(), NULL, NULL);
        }
    }

    if (idx && __atomic_load_n(&nt->nnodes, __ATOMIC_RELAXED) > z->max_nodes)
    {
        /* another stripe took the last place meanwhile */
        ngx_beacon_nt_unalloc(nt, idx);
        return 0;
    }

    return idx;
}


static ngx_uint_t
ngx_beacon_node_same_ep(ngx_beacon_nrec_t *n, ngx_beacon_reg_t *reg)
{
    /*
     * The node's own address decides; which beacon address it talks to
     * may change freely (deliveries then follow it), since only the node
     * itself sends from its address.
     */

    return n->port == reg->src.port
           && ngx_memcmp(n->ip, reg->src.ip, 16) == 0;
}


static void
ngx_beacon_node_set_ep(ngx_beacon_nrec_t *n, ngx_beacon_reg_t *reg)
{
    ngx_memcpy(n->ip, reg->src.ip, 16);
    ngx_memcpy(n->lip, reg->local.ip, 16);
    n->port = reg->src.port;
    n->lport = reg->local.port;

    if (reg->lv6) {
        n->flags |= NGX_BEACON_NODE_LV6;

    } else {
        n->flags &= ~NGX_BEACON_NODE_LV6;
    }
}


static void
ngx_beacon_node_ep(ngx_beacon_nrec_t *n, ngx_beacon_ep_t *ep)
{
    ngx_memcpy(ep->addr.ip, n->ip, 16);
    ngx_memcpy(ep->local.ip, n->lip, 16);
    ep->addr.port = n->port;
    ep->local.port = n->lport;
    ep->flags = n->flags;
    ep->owner_pid = (ngx_pid_t) n->owner_pid;
    ep->owner_conn = n->owner_conn;
}


/*
 * The per-IP key of the limiters: the IPv4 address, or the /64 prefix of
 * an IPv6 address (one host usually owns a whole /64).
 */

static void
ngx_beacon_ip_key(uint8_t *key, const ngx_beacon_addr_t *addr)
{
    ngx_memzero(key, 18);

    if (ngx_beacon_addr_is_v4(addr)) {
        ngx_memcpy(key, addr->ip, 16);

    } else {
        ngx_memcpy(key, addr->ip, 8);
        key[17] = 6;
    }
}


/* the node's stripe held; out gets a copy of the record as left */

static ngx_beacon_reg_e
ngx_beacon_upsert_locked(ngx_beacon_zone_t *z, ngx_beacon_nstripe_t *st,
    ngx_beacon_reg_t *reg, ngx_beacon_nrec_t *out)
{
    uint8_t                  key[18];
    uint32_t                 idx, now, h;
    ngx_int_t                lrc;
    ngx_uint_t               fresh;
    ngx_beacon_sh_t         *sh;
    ngx_beacon_nrec_t       *n;
    ngx_beacon_reg_e         rc;
    ngx_beacon_ntab_t       *nt;
    ngx_beacon_nstripe_t    *lst;
    ngx_beacon_lim_entry_t  *e;

    sh = z->sh;
    nt = &sh->nt;
    now = (uint32_t) ngx_current_msec;

    n = ngx_beacon_nt_find_locked(nt, reg->node_id, &idx);

    if (n == NULL) {

        if (reg->reg_limit.rate) {
            /* lock order: a node stripe, then a limiter stripe */

            ngx_beacon_ip_key(key, &reg->src);
            h = ngx_beacon_lim_hash(sh, key);
            lst = ngx_beacon_lim_stripe(sh, &sh->lim_register, h);

            ngx_beacon_nt_lock(lst, ngx_beacon_self());

            e = ngx_beacon_lim_get(sh, &sh->lim_register, key, now, &fresh);
            lrc = ngx_beacon_bucket_take(&e->value, &e->stamp, fresh,
                                         reg->reg_limit.rate,
                                         reg->reg_limit.burst, now);

            ngx_beacon_nt_unlock(lst);

            if (lrc != NGX_OK) {
                return NGX_BEACON_REG_RATE_LIMITED;
            }
        }

        idx = ngx_beacon_alloc_locked(z, st);
        if (idx == 0) {
            return NGX_BEACON_REG_REFUSED;
        }

        n = ngx_beacon_nt_rec(nt, idx);

        ngx_beacon_nt_wbegin(st, n);

        n->node_id = reg->node_id;
        n->last_seen = now;
        n->last_write = now;
        n->flags = reg->ex ? NGX_BEACON_NODE_DEST : 0;
        ngx_beacon_node_set_ep(n, reg);

        if (reg->learn_key && reg->key) {
            ngx_memcpy(n->key, reg->key, NGX_BEACON_KEY_LEN);
            n->flags |= NGX_BEACON_NODE_KEY;
        }

        ngx_beacon_nt_wend(st, n);

        ngx_beacon_nt_link(nt, idx);

        ngx_memcpy(out, n, sizeof(ngx_beacon_nrec_t));

        return NGX_BEACON_REG_NEW;
    }

    ngx_beacon_nt_wbegin(st, n);

    /*
     * A DISCOVER of the node itself decides over a pending move whose
     * window has ended: from the pending endpoint it moves the node now,
     * from the endpoint in use it refreshes it, from a third it moves it.
     */

    if ((n->flags & NGX_BEACON_NODE_PENDING)
        && ngx_beacon_pending_due(n, now))
    {
        ngx_beacon_pending_drop(sh, n);
    }

    if (n->flags & NGX_BEACON_NODE_NOUDP) {
        /* known through the bridge only: its first UDP endpoint */
        rc = NGX_BEACON_REG_MOVED;

        ngx_beacon_pending_drop(sh, n);

        ngx_beacon_node_set_ep(n, reg);
        n->flags &= ~(NGX_BEACON_NODE_NOUDP|NGX_BEACON_NODE_DEST);

        if (reg->ex) {
            n->flags |= NGX_BEACON_NODE_DEST;
        }

    } else if (ngx_beacon_node_same_ep(n, reg)) {
        rc = NGX_BEACON_REG_REFRESHED;

        /*
         * The endpoint in use is alive: a move claimed from elsewhere in
         * this window is forgotten, and the window starts again.
         */

        ngx_beacon_pending_drop(sh, n);
        ngx_beacon_node_set_ep(n, reg);

        if (reg->ex) {
            n->flags |= NGX_BEACON_NODE_DEST;
        }

    } else if (reg->throttle
               && (uint32_t) (now - n->last_write) < reg->throttle)
    {
        /* refused now, applied when the window ends (unless refreshed) */

        ngx_beacon_pending_set(sh, n, reg, now);

        ngx_beacon_nt_wend(st, n);

        ngx_memcpy(out, n, sizeof(ngx_beacon_nrec_t));

        return NGX_BEACON_REG_THROTTLED;

    } else {
        rc = NGX_BEACON_REG_MOVED;

        ngx_beacon_pending_drop(sh, n);

        ngx_beacon_node_set_ep(n, reg);

        /* the dest-carrying mark belongs to the socket that asked for it */

        if (reg->ex) {
            n->flags |= NGX_BEACON_NODE_DEST;

        } else {
            n->flags &= ~NGX_BEACON_NODE_DEST;
        }
    }

    n->last_seen = now;
    n->last_write = now;

    if (reg->learn_key && reg->key && !(n->flags & NGX_BEACON_NODE_KEY)) {
        ngx_memcpy(n->key, reg->key, NGX_BEACON_KEY_LEN);
        n->flags |= NGX_BEACON_NODE_KEY;
    }

    ngx_beacon_nt_wend(st, n);

    ngx_memcpy(out, n, sizeof(ngx_beacon_nrec_t));

    return rc;
}


ngx_beacon_reg_e
ngx_beacon_shm_register(ngx_beacon_zone_t *z, ngx_beacon_reg_t *reg)
{
    ngx_beacon_reg_e       rc;
    ngx_beacon_nrec_t      copy;
    ngx_beacon_nstripe_t  *st;

    if (reg->node_id == 0) {
        return NGX_BEACON_REG_PROBE;
    }

    st = ngx_beacon_nt_stripe(&z->sh->nt, reg->node_id);

    ngx_beacon_nt_lock(st, ngx_beacon_self());
    rc = ngx_beacon_upsert_locked(z, st, reg, &copy);
    ngx_beacon_nt_unlock(st);

    return rc;
}


/*
 * The per-source relay budget, a fixed one-second window (spec 5.1),
 * lives in each worker: with "reuseport" one source's datagrams reach
 * one worker.  Without it, or while a reload moves sources to new
 * workers, a source may get at most one budget per worker that receives
 * from it in the same second.
 */

static ngx_int_t
ngx_beacon_relay_budget_local(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t limit, uint32_t now)
{
    uint8_t                  key[18];
    ngx_uint_t               fresh;
    ngx_beacon_lim_t        *lim;
    ngx_beacon_lim_entry_t  *e;

    lim = z->budget;

    if (lim == NULL) {
        lim = ngx_calloc(sizeof(ngx_beacon_lim_t), ngx_cycle->log);
        if (lim == NULL) {
            return NGX_OK;
        }

        lim->e = ngx_calloc(NGX_BEACON_BUDGET_SETS * NGX_BEACON_WAYS
                            * sizeof(ngx_beacon_lim_entry_t), ngx_cycle->log);
        if (lim->e == NULL) {
            ngx_free(lim);
            return NGX_OK;
        }

        lim->mask = NGX_BEACON_BUDGET_SETS - 1;
        z->budget = lim;
    }

    /* keyed on the transport source: address and port */

    ngx_memcpy(key, src->ip, 16);
    key[16] = (uint8_t) (src->port >> 8);
    key[17] = (uint8_t) src->port;

    e = ngx_beacon_lim_get(z->sh, lim, key, now, &fresh);

    if (fresh || (uint32_t) (now - e->stamp) >= 1000) {
        e->stamp = now;
        e->value = 0;
    }

    if (e->value >= limit) {
        return NGX_BUSY;
    }

    e->value++;

    return NGX_OK;
}


void
ngx_beacon_shm_budget_free(ngx_beacon_zone_t *z)
{
    ngx_beacon_lim_t  *lim;

    lim = z->budget;

    if (lim == NULL) {
        return;
    }

    ngx_free(lim->e);
    ngx_free(lim);

    z->budget = NULL;
}


ngx_int_t
ngx_beacon_shm_relay_budget(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t limit)
{
    if (limit == 0) {
        return NGX_OK;
    }

    return ngx_beacon_relay_budget_local(z, src, limit,
                                         (uint32_t) ngx_current_msec);
}


ngx_beacon_relay_e
ngx_beacon_shm_relay(ngx_beacon_zone_t *z, uint32_t sender, uint32_t dest,
    const ngx_beacon_addr_t *src, ngx_uint_t bind_sender, ngx_uint_t limit,
    ngx_beacon_ep_t *ep)
{
    uint32_t               now;
    ngx_int_t              found;
    ngx_beacon_nrec_t      r, *n;
    ngx_beacon_ntab_t     *nt;
    ngx_beacon_nstripe_t  *st;

    nt = &z->sh->nt;
    now = (uint32_t) ngx_current_msec;

    if (bind_sender) {
        found = ngx_beacon_nt_read(nt, sender, &r, ngx_beacon_self());

        if (found && (r.flags & NGX_BEACON_NODE_PENDING)) {

            /* a claimed move is decided by who sends: the stripe, once */

            st = ngx_beacon_nt_stripe(nt, sender);

            ngx_beacon_nt_lock(st, ngx_beacon_self());

            n = ngx_beacon_nt_find_locked(nt, sender, NULL);
            found = n != NULL;

            if (n && (n->flags & NGX_BEACON_NODE_PENDING)) {
                ngx_beacon_nt_wbegin(st, n);

                if (!(n->flags & NGX_BEACON_NODE_NOUDP)
                    && n->port == src->port
                    && ngx_memcmp(n->ip, src->ip, 16) == 0)
                {
                    /* the endpoint in use is sending: the move is void */
                    ngx_beacon_pending_drop(z->sh, n);

                } else {
                    ngx_beacon_pending_apply(z->sh, n, now);
                }

                ngx_beacon_nt_wend(st, n);
            }

            if (n) {
                ngx_memcpy(&r, n, sizeof(ngx_beacon_nrec_t));
            }

            ngx_beacon_nt_unlock(st);
        }

        if (!found
            || (r.flags & NGX_BEACON_NODE_NOUDP)
            || r.port != src->port
            || ngx_memcmp(r.ip, src->ip, 16) != 0)
        {
            return NGX_BEACON_RELAY_SENDER_MISMATCH;
        }
    }

    if (ngx_beacon_read(z, dest, &r) != NGX_OK) {
        return NGX_BEACON_RELAY_NOT_FOUND;
    }

    if (limit && ngx_beacon_relay_budget_local(z, src, limit, now) != NGX_OK)
    {
        return NGX_BEACON_RELAY_RATE_LIMITED;
    }

    ngx_beacon_node_ep(&r, ep);

    return NGX_BEACON_RELAY_OK;
}


ngx_beacon_punch_e
ngx_beacon_shm_punch(ngx_beacon_zone_t *z, ngx_beacon_reg_t *requester,
    uint32_t target, ngx_beacon_ep_t *req_ep, ngx_beacon_ep_t *tgt_ep)
{
    ngx_beacon_reg_e       reg;
    ngx_beacon_nrec_t      n, t;
    ngx_beacon_nstripe_t  *st;

    if (requester->node_id == 0) {
        return NGX_BEACON_PUNCH_NOT_FOUND;
    }

    st = ngx_beacon_nt_stripe(&z->sh->nt, requester->node_id);

    ngx_beacon_nt_lock(st, ngx_beacon_self());
    reg = ngx_beacon_upsert_locked(z, st, requester, &n);
    ngx_beacon_nt_unlock(st);

    switch (reg) {

    case NGX_BEACON_REG_NEW:
    case NGX_BEACON_REG_REFRESHED:
    case NGX_BEACON_REG_MOVED:
        break;

    case NGX_BEACON_REG_THROTTLED:
        /* the requester lives elsewhere: not a request it made */
        return NGX_BEACON_PUNCH_MISMATCH;

    default:
        return NGX_BEACON_PUNCH_NOT_FOUND;
    }

    if (ngx_beacon_read(z, target, &t) != NGX_OK
        || (t.flags & NGX_BEACON_NODE_NOUDP))
    {
        return NGX_BEACON_PUNCH_NOT_FOUND;
    }

    ngx_beacon_node_ep(&n, req_ep);
    ngx_beacon_node_ep(&t, tgt_ep);

    return NGX_BEACON_PUNCH_OK;
}


ngx_int_t
ngx_beacon_shm_get_key(ngx_beacon_zone_t *z, uint32_t node_id, uint8_t *key)
{
    ngx_beacon_nrec_t  r;

    if (ngx_beacon_read(z, node_id, &r) == NGX_OK
        && (r.flags & NGX_BEACON_NODE_KEY))
    {
        ngx_memcpy(key, r.key, NGX_BEACON_KEY_LEN);
        return NGX_OK;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_beacon_shm_lookup(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_ep_t *ep)
{
    ngx_beacon_nrec_t  r;

    if (ngx_beacon_read(z, node_id, &r) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_beacon_node_ep(&r, ep);

    return NGX_OK;
}


static uint32_t
ngx_beacon_lim_hash(ngx_beacon_sh_t *sh, const uint8_t *key)
{
    uint32_t    h, i;

    h = sh->nt.seed;

    for (i = 0; i < 18; i++) {
        h = (h ^ key[i]) * 16777619;
    }

    return ngx_beacon_nt_hash(h, sh->nt.seed);
}


/* a set is always guarded by the same stripe */

static ngx_beacon_nstripe_t *
ngx_beacon_lim_stripe(ngx_beacon_sh_t *sh, ngx_beacon_lim_t *lim, uint32_t h)
{
    return &sh->lstripes[(h & lim->mask) & (NGX_BEACON_LSTRIPES - 1)];
}


static ngx_beacon_lim_entry_t *
ngx_beacon_lim_get(ngx_beacon_sh_t *sh, ngx_beacon_lim_t *lim,
    const uint8_t *key, uint32_t now, ngx_uint_t *fresh)
{
    uint32_t                 h, i;
    ngx_beacon_lim_entry_t  *set, *victim;

    h = ngx_beacon_lim_hash(sh, key);

    set = &lim->e[(size_t) (h & lim->mask) * NGX_BEACON_WAYS];
    victim = NULL;

    for (i = 0; i < NGX_BEACON_WAYS; i++) {

        if (!set[i].used) {
            if (victim == NULL || victim->used) {
                victim = &set[i];
            }

            continue;
        }

        if (ngx_memcmp(set[i].key, key, 18) == 0) {
            *fresh = 0;
            return &set[i];
        }

        /* the least recently stamped entry gives way */

        if (victim == NULL
            || (victim->used
                && (uint32_t) (now - set[i].stamp)
                   > (uint32_t) (now - victim->stamp)))
        {
            victim = &set[i];
        }
    }

    ngx_memcpy(victim->key, key, 18);
    victim->used = 1;
    victim->stamp = now;
    victim->value = 0;

    *fresh = 1;

    return victim;
}


/* tokens are kept in thousandths; rate tokens per "per" seconds */

static ngx_uint_t
ngx_beacon_bucket_level(uint32_t tokens, uint32_t stamp, ngx_uint_t fresh,
    ngx_uint_t rate, ngx_uint_t per, ngx_uint_t burst, uint32_t now)
{
    uint64_t  t, elapsed;

    if (fresh) {
        return burst * 1000;
    }

    elapsed = (uint32_t) (now - stamp);
    t = tokens + elapsed * rate / per;

    if (t > (uint64_t) burst * 1000) {
        t = (uint64_t) burst * 1000;
    }

    return (ngx_uint_t) t;
}


static ngx_int_t
ngx_beacon_bucket_take(uint32_t *tokens, uint32_t *stamp, ngx_uint_t fresh,
    ngx_uint_t rate, ngx_uint_t burst, uint32_t now)
{
    uint64_t  t;

    t = ngx_beacon_bucket_level(*tokens, *stamp, fresh, rate, 1, burst, now);

    *stamp = now;

    if (t < 1000) {
        *tokens = (uint32_t) t;
        return NGX_BUSY;
    }

    *tokens = (uint32_t) (t - 1000);

    return NGX_OK;
}


ngx_int_t
ngx_beacon_shm_reply_allowed(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *dst, ngx_beacon_rate_t *rate)
{
    uint8_t                  key[18];
    uint32_t                 now;
    ngx_int_t                rc;
    ngx_uint_t               fresh;
    ngx_beacon_nstripe_t    *st;
    ngx_beacon_lim_entry_t  *e;

    if (rate->rate == 0) {
        return NGX_OK;
    }

    ngx_beacon_ip_key(key, dst);
    now = (uint32_t) ngx_current_msec;

    st = ngx_beacon_lim_stripe(z->sh, &z->sh->lim_reply,
                               ngx_beacon_lim_hash(z->sh, key));

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    e = ngx_beacon_lim_get(z->sh, &z->sh->lim_reply, key, now, &fresh);
    rc = ngx_beacon_bucket_take(&e->value, &e->stamp, fresh, rate->rate,
                                rate->burst, now);

    ngx_beacon_nt_unlock(st);

    return rc;
}


ngx_int_t
ngx_beacon_shm_punch_ip_allowed(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t per_ip, ngx_uint_t burst)
{
    uint8_t                  key[18];
    uint32_t                 now;
    ngx_int_t                rc;
    ngx_uint_t               fresh;
    ngx_beacon_nstripe_t    *st;
    ngx_beacon_lim_entry_t  *e;

    if (per_ip == 0) {
        return NGX_OK;
    }

    ngx_beacon_ip_key(key, src);
    now = (uint32_t) ngx_current_msec;

    st = ngx_beacon_lim_stripe(z->sh, &z->sh->lim_punch,
                               ngx_beacon_lim_hash(z->sh, key));

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    e = ngx_beacon_lim_get(z->sh, &z->sh->lim_punch, key, now, &fresh);
    rc = ngx_beacon_bucket_take(&e->value, &e->stamp, fresh, per_ip, burst,
                                now);

    ngx_beacon_nt_unlock(st);

    return rc;
}


ngx_int_t
ngx_beacon_shm_punch_global_allowed(ngx_beacon_zone_t *z, ngx_uint_t global,
    ngx_uint_t burst)
{
    uint32_t   now, tokens, stamp;
    uint64_t   old, new;
    ngx_int_t  rc;

    if (global == 0) {
        return NGX_OK;
    }

    now = (uint32_t) ngx_current_msec;

    /* one 64-bit word, tokens and stamp: no lock */

    old = __atomic_load_n(&z->sh->punch, __ATOMIC_RELAXED);

    do {
        tokens = (uint32_t) (old >> 32);
        stamp = (uint32_t) old;

        rc = ngx_beacon_bucket_take(&tokens, &stamp, stamp == 0, global,
                                    burst, now);
        if (stamp == 0) {
            stamp = 1;
        }

        new = ((uint64_t) tokens << 32) | stamp;

    } while (!__atomic_compare_exchange_n(&z->sh->punch, &old, new, 0,
                                          __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));

    return rc;
}


ngx_int_t
ngx_beacon_shm_grant_once(ngx_beacon_zone_t *z, const uint8_t *sig,
    int64_t expiry)
{
    uint32_t                 now;
    ngx_int_t                rc;
    ngx_uint_t               fresh;
    ngx_beacon_nstripe_t    *st;
    ngx_beacon_lim_entry_t  *e;

    /* entries are stamped with wall-clock seconds: live until expiry */

    now = (uint32_t) ngx_time();

    st = ngx_beacon_lim_stripe(z->sh, &z->sh->lim_grant,
                               ngx_beacon_lim_hash(z->sh, sig));

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    e = ngx_beacon_lim_get(z->sh, &z->sh->lim_grant, sig, now, &fresh);

    if (!fresh && (int64_t) e->value >= (int64_t) now) {
        rc = NGX_DECLINED;

    } else {
        e->value = (uint32_t) expiry;
        rc = NGX_OK;
    }

    e->stamp = now;

    ngx_beacon_nt_unlock(st);

    return rc;
}


ngx_int_t
ngx_beacon_shm_lease(ngx_beacon_zone_t *z, ngx_msec_t ttl)
{
    ngx_int_t         rc;
    ngx_beacon_sh_t  *sh;

    sh = z->sh;
    rc = NGX_DECLINED;

    ngx_beacon_nt_lock(&z->sh->conn_lock, ngx_beacon_self());

    if (sh->lease_pid == ngx_pid
        || sh->lease_pid == 0
        || (ngx_msec_int_t) (ngx_current_msec - sh->lease_expires) > 0)
    {
        sh->lease_pid = ngx_pid;
        sh->lease_expires = ngx_current_msec + ttl;
        rc = NGX_OK;
    }

    ngx_beacon_nt_unlock(&z->sh->conn_lock);

    return rc;
}


void
ngx_beacon_shm_release(ngx_beacon_zone_t *z)
{
    /* the lease holder leaves: the state as it is now */

    if (z->state.len && z->sh->lease_pid == ngx_pid) {
        ngx_beacon_state_save(z);
    }

    ngx_beacon_nt_lock(&z->sh->conn_lock, ngx_beacon_self());

    if (z->sh->lease_pid == ngx_pid) {
        z->sh->lease_pid = 0;
        z->sh->lease_expires = 0;
    }

    ngx_beacon_nt_unlock(&z->sh->conn_lock);
}


/*
 * The reaper walks the buckets round, one stripe held at a time and only
 * for one chain, so the other workers' writers wait at most that long.
 */

ngx_uint_t
ngx_beacon_shm_expire(ngx_beacon_zone_t *z, ngx_uint_t max)
{
    uint32_t               b, i, now, nbuckets, scan;
    ngx_uint_t             n;
    ngx_beacon_sh_t       *sh;
    ngx_beacon_nstripe_t  *st;

    sh = z->sh;
    now = (uint32_t) ngx_current_msec;
    nbuckets = (uint32_t) 1 << sh->nt.bucket_bits;
    scan = ngx_min(nbuckets, NGX_BEACON_EXPIRE_SCAN);
    n = 0;

    if (z->state.len
        && (ngx_msec_int_t) (ngx_current_msec - z->state_next) >= 0)
    {
        z->state_next = ngx_current_msec + NGX_BEACON_STATE_INTERVAL;
        ngx_beacon_state_save(z);
    }

    for (i = 0; i < scan && n < max; i++) {
        b = sh->expire_cursor++ & (nbuckets - 1);

        if (__atomic_load_n(&sh->nt.buckets[b], __ATOMIC_RELAXED) == 0) {
            continue;
        }

        st = &sh->nt.stripes[b & (NGX_BEACON_NT_STRIPES - 1)];

        ngx_beacon_nt_lock(st, ngx_beacon_self());
        n += ngx_beacon_expire_bucket_locked(z, b, now, max - n);
        ngx_beacon_nt_unlock(st);
    }

    if (n) {
        ngx_beacon_count_n(z, NGX_BEACON_C_EXPIRED, n);
    }

    return n;
}


/* the counters the rooms register (ngx_beacon_counters.h) */

#define NGX_BEACON_GROUP_DESC(group, json, total, metric, label, help)       \
    { json, total, metric, label, help },

const ngx_beacon_counter_group_t  ngx_beacon_counter_groups[] = {
    NGX_BEACON_COUNTER_GROUPS(NGX_BEACON_GROUP_DESC)
    { NULL, 0, NULL, NULL, NULL }
};

#undef NGX_BEACON_GROUP_DESC


#define NGX_BEACON_COUNTER_DESC(counter, group, key, metric, help)           \
    { NGX_BEACON_G_##group, #counter, key, metric, help },

const ngx_beacon_counter_t  ngx_beacon_counters[] = {
    NGX_BEACON_COUNTERS(NGX_BEACON_COUNTER_DESC)
    { NGX_BEACON_G_LAST, NULL, NULL, NULL, NULL }
};

#undef NGX_BEACON_COUNTER_DESC


/*
 * The counters' names in their order: a zone kept across a reload onto a
 * module that counts other counters, or the same in another order, would
 * show the old values under new names, so it is refused like any other
 * change of layout.
 */

static uint32_t
ngx_beacon_counters_signature(void)
{
    uint32_t         crc;
    ngx_uint_t       i;
    const char      *name;
    static uint32_t  sig;

    if (sig) {
        return sig;
    }

    ngx_crc32_init(crc);

    for (i = 0; i < NGX_BEACON_C_LAST; i++) {
        name = ngx_beacon_counters[i].name;
        ngx_crc32_update(&crc, (u_char *) name, ngx_strlen(name) + 1);
    }

    ngx_crc32_final(crc);

    sig = crc ? crc : 1;

    return sig;
}


void
ngx_beacon_count(ngx_beacon_zone_t *z, ngx_beacon_counter_e c)
{
    (void) ngx_atomic_fetch_add(
                       &z->sh->slots[ngx_worker % NGX_BEACON_SLOTS].c[c], 1);
}


void
ngx_beacon_count_n(ngx_beacon_zone_t *z, ngx_beacon_counter_e c,
    ngx_atomic_int_t n)
{
    (void) ngx_atomic_fetch_add(
                       &z->sh->slots[ngx_worker % NGX_BEACON_SLOTS].c[c], n);
}


void
ngx_beacon_shm_stats(ngx_beacon_zone_t *z, ngx_beacon_stats_t *st)
{
    ngx_uint_t          i, j;
    ngx_beacon_sh_t    *sh;

    sh = z->sh;

    ngx_memzero(st, sizeof(ngx_beacon_stats_t));

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        for (j = 0; j < NGX_BEACON_C_LAST; j++) {
            st->c[j] += sh->slots[i].c[j];
        }

        st->worker_datagrams[i] = sh->slots[i].c[NGX_BEACON_C_DATAGRAMS];
    }

    st->nodes = __atomic_load_n(&sh->nt.nnodes, __ATOMIC_RELAXED);
    st->draining = __atomic_load_n(&sh->draining, __ATOMIC_RELAXED);

    ngx_shmtx_lock(&z->shpool->mutex);
    st->free = z->shpool->pfree * ngx_pagesize;
    ngx_shmtx_unlock(&z->shpool->mutex);

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        if (sh->claims[i].pid) {
            st->ws_connections += sh->claims[i].conns;
            st->ws_peers += sh->claims[i].peers;

            for (j = 0; j < NGX_BEACON_OG_LAST; j++) {
                st->offset[j] += sh->claims[i].offset[j];
            }
        }
    }

    st->size = z->shm_zone->shm.size;
    st->used = st->size > st->free ? st->size - st->free : 0;
}


ngx_uint_t
ngx_beacon_shm_drain(ngx_beacon_zone_t *z, ngx_uint_t draining)
{
    return __atomic_exchange_n(&z->sh->draining, draining ? 1 : 0,
                               __ATOMIC_SEQ_CST);
}


ngx_uint_t
ngx_beacon_shm_draining(ngx_beacon_zone_t *z)
{
    return __atomic_load_n(&z->sh->draining, __ATOMIC_SEQ_CST);
}


ngx_int_t
ngx_beacon_shm_ws_attach(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_owner_t *owner, ngx_beacon_owner_t *prev)
{
    uint32_t               idx, now;
    ngx_int_t              rc;
    ngx_beacon_nrec_t     *n;
    ngx_beacon_ntab_t     *nt;
    ngx_beacon_nstripe_t  *st;

    nt = &z->sh->nt;
    now = (uint32_t) ngx_current_msec;
    rc = NGX_OK;

    prev->pid = 0;
    prev->conn = 0;

    st = ngx_beacon_nt_stripe(nt, node_id);

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    n = ngx_beacon_nt_find_locked(nt, node_id, &idx);

    if (n == NULL) {
        idx = ngx_beacon_alloc_locked(z, st);

        if (idx == 0) {
            rc = NGX_DECLINED;
            goto done;
        }

        n = ngx_beacon_nt_rec(nt, idx);

        ngx_beacon_nt_wbegin(st, n);
        n->node_id = node_id;
        n->last_write = now;
        n->last_seen = now;
        n->flags = NGX_BEACON_NODE_NOUDP|NGX_BEACON_NODE_WSS;
        n->owner_pid = (uint32_t) owner->pid;
        n->owner_conn = owner->conn;
        ngx_beacon_nt_wend(st, n);

        ngx_beacon_nt_link(nt, idx);

        goto done;
    }

    if (n->flags & NGX_BEACON_NODE_WSS) {
        prev->pid = (ngx_pid_t) n->owner_pid;
        prev->conn = n->owner_conn;
    }

    ngx_beacon_nt_wbegin(st, n);

    if ((n->flags & NGX_BEACON_NODE_PENDING)) {
        ngx_beacon_pending_apply(z->sh, n, now);
    }

    n->owner_pid = (uint32_t) owner->pid;
    n->owner_conn = owner->conn;
    n->flags |= NGX_BEACON_NODE_WSS;
    n->last_seen = now;
    ngx_beacon_nt_wend(st, n);

done:

    ngx_beacon_nt_unlock(st);

    return rc;
}


void
ngx_beacon_shm_ws_detach(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_owner_t *owner)
{
    uint32_t               idx;
    ngx_beacon_nrec_t     *n;
    ngx_beacon_ntab_t     *nt;
    ngx_beacon_nstripe_t  *st;

    nt = &z->sh->nt;
    st = ngx_beacon_nt_stripe(nt, node_id);

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    n = ngx_beacon_nt_find_locked(nt, node_id, &idx);

    /* compare and clear: never the replacement's record */

    if (n
        && (n->flags & NGX_BEACON_NODE_WSS)
        && n->owner_pid == (uint32_t) owner->pid
        && n->owner_conn == owner->conn)
    {
        if (n->flags & NGX_BEACON_NODE_NOUDP) {
            ngx_beacon_nt_wbegin(st, n);
            ngx_beacon_pending_drop(z->sh, n);
            ngx_beacon_nt_wend(st, n);

            ngx_beacon_nt_remove(nt, idx);

        } else {
            ngx_beacon_nt_wbegin(st, n);
            n->flags &= ~NGX_BEACON_NODE_WSS;
            n->owner_pid = 0;
            n->owner_conn = 0;
            ngx_beacon_nt_wend(st, n);
        }
    }

    ngx_beacon_nt_unlock(st);
}


ngx_int_t
ngx_beacon_shm_ws_present(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_owner_t *owner)
{
    ngx_int_t              rc;
    ngx_beacon_nrec_t     *n;
    ngx_beacon_ntab_t     *nt;
    ngx_beacon_nstripe_t  *st;

    rc = NGX_DECLINED;
    nt = &z->sh->nt;
    st = ngx_beacon_nt_stripe(nt, node_id);

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    n = ngx_beacon_nt_find_locked(nt, node_id, NULL);

    if (n
        && (n->flags & NGX_BEACON_NODE_WSS)
        && n->owner_pid == (uint32_t) owner->pid
        && n->owner_conn == owner->conn)
    {
        ngx_beacon_nt_wbegin(st, n);
        n->last_seen = (uint32_t) ngx_current_msec;
        ngx_beacon_nt_wend(st, n);
        rc = NGX_OK;
    }

    ngx_beacon_nt_unlock(st);

    return rc;
}


ngx_int_t
ngx_beacon_shm_key_get(ngx_beacon_zone_t *z, uint32_t node_id, uint8_t *key)
{
    uint32_t               now, i, h;
    ngx_int_t           rc;
    ngx_beacon_sh_t       *sh;
    ngx_beacon_nstripe_t  *st;
    ngx_beacon_keyc_t  *set;

    sh = z->sh;
    now = (uint32_t) ngx_time();
    rc = NGX_AGAIN;

    h = ngx_beacon_nt_hash(node_id, sh->nt.seed) & sh->keyc_mask;
    st = &sh->lstripes[h & (NGX_BEACON_LSTRIPES - 1)];

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    set = &sh->keyc[(size_t) h * NGX_BEACON_WAYS];

    for (i = 0; i < NGX_BEACON_WAYS; i++) {
        if (set[i].used && set[i].node_id == node_id
            && (int32_t) (set[i].expires - now) > 0)
        {
            if (set[i].used == 1) {
                ngx_memcpy(key, set[i].key, NGX_BEACON_KEY_LEN);
                rc = NGX_OK;

            } else {
                rc = NGX_DECLINED;
            }

            break;
        }
    }

    ngx_beacon_nt_unlock(st);

    return rc;
}


void
ngx_beacon_shm_key_put(ngx_beacon_zone_t *z, uint32_t node_id,
    const uint8_t *key, time_t ttl)
{
    uint32_t               now, i, h;
    ngx_beacon_sh_t       *sh;
    ngx_beacon_nstripe_t  *st;
    ngx_beacon_keyc_t  *set, *victim;

    sh = z->sh;
    now = (uint32_t) ngx_time();

    h = ngx_beacon_nt_hash(node_id, sh->nt.seed) & sh->keyc_mask;
    st = &sh->lstripes[h & (NGX_BEACON_LSTRIPES - 1)];

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    set = &sh->keyc[(size_t) h * NGX_BEACON_WAYS];
    victim = &set[0];

    for (i = 0; i < NGX_BEACON_WAYS; i++) {
        if (set[i].used && set[i].node_id == node_id) {
            victim = &set[i];
            break;
        }

        /* a free or the soonest expiring entry gives way */

        if (!set[i].used
            || (victim->used
                && (int32_t) (set[i].expires - victim->expires) < 0))
        {
            victim = &set[i];
        }
    }

    victim->node_id = node_id;
    victim->expires = now + (uint32_t) ttl;

    if (key) {
        ngx_memcpy(victim->key, key, NGX_BEACON_KEY_LEN);
        victim->used = 1;

    } else {
        victim->used = 2;
    }

    ngx_beacon_nt_unlock(st);
}


ngx_int_t
ngx_beacon_shm_claim(ngx_beacon_zone_t *z)
{
    ngx_pid_t                pids[NGX_BEACON_SLOTS];
    ngx_uint_t               i, j, dead[NGX_BEACON_SLOTS], slot;
    ngx_beacon_sh_t         *sh;
    ngx_beacon_lim_entry_t  *e;

    sh = z->sh;

    ngx_beacon_nt_lock(&z->sh->conn_lock, ngx_beacon_self());

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        pids[i] = sh->claims[i].pid;
    }

    ngx_beacon_nt_unlock(&z->sh->conn_lock);

    /* which holders are gone (crashed, or exited without releasing) */

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        dead[i] = pids[i] != 0 && pids[i] != ngx_pid
                  && kill(pids[i], 0) == -1 && ngx_errno == NGX_ESRCH;
    }

    slot = NGX_BEACON_SLOTS;

    ngx_beacon_nt_lock(&z->sh->conn_lock, ngx_beacon_self());

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        if (dead[i] && sh->claims[i].pid == pids[i]) {
            slot = i;
            break;
        }
    }

    if (slot == NGX_BEACON_SLOTS) {
        for (i = 0; i < NGX_BEACON_SLOTS; i++) {
            if (sh->claims[i].pid == 0 || sh->claims[i].pid == ngx_pid) {
                slot = i;
                break;
            }
        }
    }

    if (slot < NGX_BEACON_SLOTS) {
        sh->claims[slot].pid = ngx_pid;
        sh->claims[slot].conns = 0;
        sh->claims[slot].peers = 0;

        for (j = 0; j < NGX_BEACON_OG_LAST; j++) {
            sh->claims[slot].offset[j] = 0;
        }

        /* the per-IP connection counts of the previous holder go too */

        e = sh->lim_wsconn.e;

        for (j = 0; j < (size_t) (sh->lim_wsconn.mask + 1) * NGX_BEACON_WAYS;
             j++)
        {
            if (e[j].used && e[j].key[16] == slot) {
                e[j].value = 0;
            }
        }

        e = sh->lim_offconn.e;

        for (j = 0; j < (size_t) (sh->lim_offconn.mask + 1) * NGX_BEACON_WAYS;
             j++)
        {
            if (e[j].used && e[j].key[16] == slot) {
                e[j].value = 0;
            }
        }
    }

    ngx_beacon_nt_unlock(&z->sh->conn_lock);

    if (slot == NGX_BEACON_SLOTS) {
        z->claim = -1;
        return NGX_ERROR;
    }

    z->claim = slot;

    return NGX_OK;
}


void
ngx_beacon_shm_unclaim(ngx_beacon_zone_t *z)
{
    if (z->claim < 0) {
        return;
    }

    ngx_beacon_nt_lock(&z->sh->conn_lock, ngx_beacon_self());

    if (z->sh->claims[z->claim].pid == ngx_pid) {
        z->sh->claims[z->claim].pid = 0;
    }

    ngx_beacon_nt_unlock(&z->sh->conn_lock);

    z->claim = -1;
}


static void
ngx_beacon_wsconn_key(uint8_t *key, const ngx_beacon_addr_t *addr,
    ngx_uint_t slot)
{
    ngx_beacon_ip_key(key, addr);
    key[16] = (uint8_t) slot;
}


/*
 * One more connection of a kind (the bridge's, the Offset relay's) from
 * addr: its count lives in each worker's claim at count_off (and, for the
 * relay, a handshake count at hs_off), its per-IP counts in lim keyed by
 * address and claim slot, so a dead worker's share goes with its slot.
 */

static ngx_int_t
ngx_beacon_shm_admit(ngx_beacon_zone_t *z, ngx_beacon_lim_t *lim,
    size_t count_off, size_t hs_off, const ngx_beacon_addr_t *addr,
    ngx_uint_t max_total, ngx_uint_t max_ip, ngx_uint_t max_hs)
{
    u_char                  *claim;
    uint8_t                  key[18];
    uint32_t                 now;
    ngx_int_t                rc;
    ngx_uint_t               i, total, ip, hs, fresh;
    ngx_beacon_sh_t         *sh;
    ngx_beacon_lim_entry_t  *e;

#define NGX_BEACON_CLAIM_COUNT(i, off)                                       \
    (*(ngx_atomic_t *) ((u_char *) &sh->claims[i] + (off)))

    if (z->claim < 0) {
        return NGX_BUSY;
    }

    sh = z->sh;
    now = (uint32_t) ngx_current_msec;
    total = 0;
    ip = 0;
    hs = 0;
    rc = NGX_OK;

    ngx_beacon_nt_lock(&z->sh->conn_lock, ngx_beacon_self());

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        if (sh->claims[i].pid == 0) {
            continue;
        }

        total += NGX_BEACON_CLAIM_COUNT(i, count_off);

        if (hs_off) {
            hs += NGX_BEACON_CLAIM_COUNT(i, hs_off);
        }

        if (max_ip) {
            ngx_beacon_wsconn_key(key, addr, i);
            e = ngx_beacon_lim_get(sh, lim, key, now, &fresh);
            ip += e->value;
        }
    }

    if ((max_total && total >= max_total)
        || (max_ip && ip >= max_ip)
        || (max_hs && hs >= max_hs))
    {
        rc = NGX_BUSY;
        goto done;
    }

    claim = (u_char *) &sh->claims[z->claim];
    (*(ngx_atomic_t *) (claim + count_off))++;

    if (hs_off) {
        (*(ngx_atomic_t *) (claim + hs_off))++;
    }

    ngx_beacon_wsconn_key(key, addr, z->claim);
    e = ngx_beacon_lim_get(sh, lim, key, now, &fresh);
    e->value++;

done:

    ngx_beacon_nt_unlock(&z->sh->conn_lock);

#undef NGX_BEACON_CLAIM_COUNT

    return rc;
}


static void
ngx_beacon_shm_leave(ngx_beacon_zone_t *z, ngx_beacon_lim_t *lim,
    size_t count_off, const ngx_beacon_addr_t *addr)
{
    uint8_t                  key[18];
    ngx_uint_t               fresh;
    ngx_atomic_t            *count;
    ngx_beacon_lim_entry_t  *e;

    if (z->claim < 0) {
        return;
    }

    ngx_beacon_nt_lock(&z->sh->conn_lock, ngx_beacon_self());

    count = (ngx_atomic_t *) ((u_char *) &z->sh->claims[z->claim]
                              + count_off);
    if (*count) {
        (*count)--;
    }

    ngx_beacon_wsconn_key(key, addr, z->claim);
    e = ngx_beacon_lim_get(z->sh, lim, key, (uint32_t) ngx_current_msec,
                           &fresh);

    if (e->value) {
        e->value--;
    }

    ngx_beacon_nt_unlock(&z->sh->conn_lock);
}


ngx_int_t
ngx_beacon_shm_ws_admit(ngx_beacon_zone_t *z, const ngx_beacon_addr_t *addr,
    ngx_uint_t max_total, ngx_uint_t max_ip)
{
    return ngx_beacon_shm_admit(z, &z->sh->lim_wsconn,
                                offsetof(ngx_beacon_claim_t, conns), 0, addr,
                                max_total, max_ip, 0);
}


void
ngx_beacon_shm_ws_leave(ngx_beacon_zone_t *z, const ngx_beacon_addr_t *addr)
{
    ngx_beacon_shm_leave(z, &z->sh->lim_wsconn,
                         offsetof(ngx_beacon_claim_t, conns), addr);
}


void
ngx_beacon_shm_ws_peers(ngx_beacon_zone_t *z, ngx_int_t delta)
{
    if (z->claim < 0) {
        return;
    }

    (void) ngx_atomic_fetch_add(&z->sh->claims[z->claim].peers, delta);
}


ngx_int_t
ngx_beacon_shm_auth_allowed(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr, ngx_uint_t per_minute, ngx_uint_t fail)
{
    uint8_t                  key[18];
    uint32_t                 now;
    ngx_int_t                rc;
    ngx_uint_t               fresh, level;
    ngx_beacon_nstripe_t    *st;
    ngx_beacon_lim_entry_t  *e;

    if (per_minute == 0) {
        return NGX_OK;
    }

    ngx_beacon_ip_key(key, addr);
    now = (uint32_t) ngx_current_msec;

    st = ngx_beacon_lim_stripe(z->sh, &z->sh->lim_authfail,
                               ngx_beacon_lim_hash(z->sh, key));

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    e = ngx_beacon_lim_get(z->sh, &z->sh->lim_authfail, key, now, &fresh);

    level = ngx_beacon_bucket_level(e->value, e->stamp, fresh, per_minute, 60,
                                    per_minute, now);

    rc = level >= 1000 ? NGX_OK : NGX_BUSY;

    if (fail) {
        /* a failure spends a token: the bucket holds per_minute of them */
        e->value = level >= 1000 ? (uint32_t) (level - 1000) : 0;
        e->stamp = now;

    } else if (fresh) {
        e->value = (uint32_t) level;
        e->stamp = now;
    }

    ngx_beacon_nt_unlock(st);

    return rc;
}


/* the anchors of the tables other rooms own */

ngx_beacon_gossip_t **
ngx_beacon_shm_gossip(ngx_beacon_zone_t *z)
{
    return &z->sh->gossip;
}


ngx_beacon_offset_sh_t **
ngx_beacon_shm_offset(ngx_beacon_zone_t *z)
{
    return &z->sh->offset;
}


ngx_int_t
ngx_beacon_shm_has_node(ngx_beacon_zone_t *z, uint32_t node_id)
{
    ngx_beacon_nrec_t  r;

    return ngx_beacon_nt_read(&z->sh->nt, node_id, &r, ngx_beacon_self());
}


/* copies up to max node ids, the most recently refreshed first */

ngx_uint_t
ngx_beacon_shm_node_ids(ngx_beacon_zone_t *z, uint32_t *ids, ngx_uint_t max)
{
    uint32_t            idx, used, now;
    uint64_t           *all;
    ngx_uint_t          n, i;
    ngx_beacon_nrec_t   r;
    ngx_beacon_ntab_t  *nt;

    /*
     * Lock-free: one pass over the records (age << 32 | id), sorted, the
     * youngest max taken.  Called every 10 s by the lease holder only.
     */

    nt = &z->sh->nt;
    now = (uint32_t) ngx_current_msec;
    used = ngx_min(__atomic_load_n(&nt->next, __ATOMIC_RELAXED),
                   ngx_beacon_nt_capacity(nt));

    if (used == 0 || max == 0) {
        return 0;
    }

    all = ngx_alloc(used * sizeof(uint64_t), ngx_cycle->log);
    if (all == NULL) {
        return 0;
    }

    n = 0;

    for (idx = 1; idx <= used; idx++) {
        if (ngx_beacon_nt_read_idx(nt, idx, &r) && r.node_id) {
            all[n++] = ((uint64_t) (uint32_t) (now - r.last_seen) << 32)
                       | r.node_id;
        }
    }

    ngx_sort(all, n, sizeof(uint64_t), ngx_beacon_cmp_u64);

    n = ngx_min(n, max);

    for (i = 0; i < n; i++) {
        ids[i] = (uint32_t) all[i];
    }

    ngx_free(all);

    return n;
}


static ngx_int_t
ngx_beacon_cmp_u64(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return x < y ? -1 : (x > y);
}


ngx_int_t
ngx_beacon_shm_offset_admit(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr, ngx_uint_t max_total, ngx_uint_t max_ip,
    ngx_uint_t max_handshakes)
{
    return ngx_beacon_shm_admit(z, &z->sh->lim_offconn,
                                offsetof(ngx_beacon_claim_t,
                                         offset[NGX_BEACON_OG_CONNECTIONS]),
                                offsetof(ngx_beacon_claim_t,
                                         offset[NGX_BEACON_OG_HANDSHAKES]),
                                addr, max_total, max_ip, max_handshakes);
}


void
ngx_beacon_shm_offset_leave(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr)
{
    ngx_beacon_shm_leave(z, &z->sh->lim_offconn,
                         offsetof(ngx_beacon_claim_t,
                                  offset[NGX_BEACON_OG_CONNECTIONS]),
                         addr);
}


void
ngx_beacon_shm_offset_gauge(ngx_beacon_zone_t *z, ngx_beacon_gauge_e g,
    ngx_int_t delta)
{
    if (z->claim < 0) {
        return;
    }

    (void) ngx_atomic_fetch_add(&z->sh->claims[z->claim].offset[g], delta);
}


/*
 * The state file (beacon_zone ... state=, ngx_beacon_state.c): written by
 * the lease holder, lock-free for the nodes and one limiter stripe at a
 * time for the grants, to a temporary file renamed over the old one.
 */

static void
ngx_beacon_state_save(ngx_beacon_zone_t *z)
{
    u_char                    *tmp;
    size_t                     len, size;
    uint8_t                   *buf;
    uint32_t                   idx, used, now, ttl, age, n, g, i, j, sets;
    ngx_fd_t                   fd;
    ngx_err_t                  err;
    ngx_beacon_sh_t           *sh;
    ngx_beacon_nrec_t          r;
    ngx_beacon_ntab_t         *nt;
    ngx_beacon_nstripe_t      *st;
    ngx_beacon_lim_entry_t    *e;
    ngx_beacon_state_node_t   *nodes;
    ngx_beacon_state_grant_t  *grants;

    sh = z->sh;
    nt = &sh->nt;
    now = (uint32_t) ngx_current_msec;
    ttl = (uint32_t) z->ttl * 1000;
    used = ngx_min(__atomic_load_n(&nt->next, __ATOMIC_RELAXED),
                   ngx_beacon_nt_capacity(nt));
    sets = sh->lim_grant.mask + 1;

    nodes = ngx_alloc((used + 1) * sizeof(ngx_beacon_state_node_t),
                      ngx_cycle->log);
    grants = ngx_alloc(sets * NGX_BEACON_WAYS
                       * sizeof(ngx_beacon_state_grant_t), ngx_cycle->log);
    buf = NULL;
    tmp = NULL;

    if (nodes == NULL || grants == NULL) {
        goto done;
    }

    n = 0;

    for (idx = 1; idx <= used; idx++) {
        if (!ngx_beacon_nt_read_idx(nt, idx, &r)
            || r.node_id == 0
            || (r.flags & NGX_BEACON_NODE_NOUDP))
        {
            continue;
        }

        age = now - r.last_seen;

        if (age >= ttl) {
            continue;
        }

        nodes[n].node_id = r.node_id;
        nodes[n].ttl_left = ttl - age;
        nodes[n].write_age = now - r.last_write;
        nodes[n].flags = r.flags & NGX_BEACON_STATE_KEEP;
        nodes[n].port = r.port;
        nodes[n].lport = r.lport;
        ngx_memcpy(nodes[n].ip, r.ip, 16);
        ngx_memcpy(nodes[n].lip, r.lip, 16);
        ngx_memcpy(nodes[n].key, r.key, 32);
        n++;
    }

    /* grants not yet expired: their replay must stay refused */

    g = 0;

    for (i = 0; i < sets; i++) {
        st = &sh->lstripes[i & (NGX_BEACON_LSTRIPES - 1)];
        e = &sh->lim_grant.e[(size_t) i * NGX_BEACON_WAYS];

        ngx_beacon_nt_lock(st, ngx_beacon_self());

        for (j = 0; j < NGX_BEACON_WAYS; j++) {
            if (e[j].used && (time_t) e[j].value >= ngx_time()) {
                ngx_memcpy(grants[g].key, e[j].key, 18);
                grants[g].expiry = e[j].value;
                g++;
            }
        }

        ngx_beacon_nt_unlock(st);
    }

    size = ngx_beacon_state_size(z->name.len, n, g);

    buf = ngx_alloc(size, ngx_cycle->log);
    tmp = ngx_alloc(z->state.len + sizeof(".tmp"), ngx_cycle->log);

    if (buf == NULL || tmp == NULL) {
        goto done;
    }

    len = ngx_beacon_state_encode(buf, (const char *) z->name.data,
                                  z->name.len, (uint64_t) ngx_time(), nodes,
                                  n, grants, g);

    ngx_sprintf(tmp, "%V.tmp%Z", &z->state);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE, 0600);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        goto failed;
    }

    if (ngx_write_fd(fd, buf, len) != (ssize_t) len || fsync(fd) == -1) {
        err = ngx_errno;
        (void) ngx_close_file(fd);
        (void) ngx_delete_file(tmp);
        goto failed;
    }

    (void) ngx_close_file(fd);

    if (ngx_rename_file(tmp, z->state.data) == NGX_FILE_ERROR) {
        err = ngx_errno;
        (void) ngx_delete_file(tmp);
        goto failed;
    }

    goto done;

failed:

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, err,
                  "beacon zone \"%V\": state file \"%V\" not written",
                  &z->name, &z->state);

done:

    ngx_free(nodes);
    ngx_free(grants);
    ngx_free(buf);
    ngx_free(tmp);
}


/*
 * At the start of a fresh zone: a missing, unreadable, truncated,
 * corrupted, foreign or older file is one error line and an empty zone.
 */

static void
ngx_beacon_state_load(ngx_beacon_zone_t *z, ngx_log_t *log)
{
    off_t                     size;
    ssize_t                   got;
    uint8_t                  *buf;
    uint32_t                  i, idx, now, ttl, left, gone, age, loaded;
    ngx_fd_t                  fd;
    ngx_err_t                 err;
    ngx_uint_t                fresh, level;
    ngx_file_info_t           fi;
    ngx_beacon_sh_t          *sh;
    ngx_beacon_nrec_t        *n;
    ngx_beacon_state_t        state;
    ngx_beacon_nstripe_t     *st;
    ngx_beacon_state_rc_e     rc;
    ngx_beacon_lim_entry_t   *e;
    ngx_beacon_state_node_t   node;
    ngx_beacon_state_grant_t  grant;

    sh = z->sh;
    buf = NULL;

    fd = ngx_open_file(z->state.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        err = ngx_errno;
        level = (err == NGX_ENOENT) ? NGX_LOG_WARN : NGX_LOG_ERR;
        ngx_log_error(level, log, err,
                      "beacon zone \"%V\": state file \"%V\" not read, "
                      "the zone starts empty", &z->name, &z->state);
        return;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "beacon zone \"%V\": state file \"%V\" not read, "
                      "the zone starts empty", &z->name, &z->state);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size > NGX_BEACON_STATE_MAX) {
        rc = NGX_BEACON_STATE_BAD_LENGTH;
        goto invalid;
    }

    buf = ngx_alloc((size_t) size + 1, log);
    if (buf == NULL) {
        goto done;
    }

    got = ngx_read_fd(fd, buf, (size_t) size);

    if (got != (ssize_t) size) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "beacon zone \"%V\": state file \"%V\" not read, "
                      "the zone starts empty", &z->name, &z->state);
        goto done;
    }

    rc = ngx_beacon_state_parse(buf, (size_t) size,
                                (const char *) z->name.data, z->name.len,
                                &state);

    for (i = 0; rc == NGX_BEACON_STATE_OK && i < state.nodes; i++) {
        rc = ngx_beacon_state_node(&state, i, &node);
    }

    if (rc != NGX_BEACON_STATE_OK) {
        goto invalid;
    }

    now = (uint32_t) ngx_current_msec;
    ttl = (uint32_t) z->ttl * 1000;
    gone = (uint64_t) ngx_time() > state.saved
           ? (uint32_t) ngx_min((uint64_t) ngx_time() - state.saved, 86400)
             * 1000
           : 0;
    loaded = 0;

    for (i = 0; i < state.nodes; i++) {
        (void) ngx_beacon_state_node(&state, i, &node);

        if (node.ttl_left <= gone) {
            continue;
        }

        left = ngx_min(node.ttl_left - gone, ttl);
        age = ttl - left;

        st = ngx_beacon_nt_stripe(&sh->nt, node.node_id);

        ngx_beacon_nt_lock(st, ngx_beacon_self());

        if (ngx_beacon_nt_find_locked(&sh->nt, node.node_id, NULL) == NULL) {
            idx = ngx_beacon_alloc_locked(z, st);

            if (idx) {
                n = ngx_beacon_nt_rec(&sh->nt, idx);

                ngx_beacon_nt_wbegin(st, n);
                n->node_id = node.node_id;
                n->last_seen = now - age;
                n->last_write = now - (uint32_t) ngx_min((uint64_t)
                                       node.write_age + gone, 0x7fffffff);
                n->flags = node.flags;
                n->port = node.port;
                n->lport = node.lport;
                ngx_memcpy(n->ip, node.ip, 16);
                ngx_memcpy(n->lip, node.lip, 16);
                ngx_memcpy(n->key, node.key, 32);
                ngx_beacon_nt_wend(st, n);

                ngx_beacon_nt_link(&sh->nt, idx);
                loaded++;
            }
        }

        ngx_beacon_nt_unlock(st);
    }

    for (i = 0; i < state.grants; i++) {
        ngx_beacon_state_grant(&state, i, &grant);

        if ((time_t) grant.expiry < ngx_time()) {
            continue;
        }

        e = ngx_beacon_lim_get(sh, &sh->lim_grant, grant.key,
                               (uint32_t) ngx_time(), &fresh);
        e->value = grant.expiry;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "beacon zone \"%V\": %uD nodes and %uD grants loaded from "
                  "state file \"%V\"", &z->name, loaded, state.grants,
                  &z->state);

    goto done;

invalid:

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "beacon zone \"%V\": state file \"%V\" ignored (%s), "
                  "the zone starts empty", &z->name, &z->state,
                  ngx_beacon_state_strerror(rc));

done:

    ngx_free(buf);
    (void) ngx_close_file(fd);
}
