
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The node table (README, "Locks"; who owns what: ngx_beacon_zone.h):
 * registration, moves and the endpoint throttle's pending moves, relay and
 * punch lookups, the compat owners (attach, detach, present), expiry and
 * the state file.  Records are read without a lock (ngx_beacon_ntab.c);
 * writers hold the node's stripe, one of 128; only a new chunk of records
 * takes the slab mutex.  A registration's per-IP budget is asked of
 * ngx_beacon_limits.c with the node's stripe held.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_zone.h"


#define NGX_BEACON_EXPIRE_SCAN   65536        /* buckets a reaping call */

#define NGX_BEACON_STATE_MAX     ((off_t) 1 << 30)

#define NGX_BEACON_STATE_KEEP    (NGX_BEACON_NODE_DEST|NGX_BEACON_NODE_KEY    \
                                  |NGX_BEACON_NODE_LV6)


/*
 * A move refused by the endpoint throttle, applied when the window ends
 * (the node then carries NGX_BEACON_NODE_PENDING and the due time);
 * set-associative by the node's bucket, so a set is always in the node's
 * stripe, and a lost entry only means waiting for the node's next
 * DISCOVER.
 */
struct ngx_beacon_pending_s {
    uint32_t                 node_id;        /* 0: free */
    uint32_t                 due;            /* ngx_current_msec */
    uint16_t                 port;
    uint16_t                 lport;
    uint8_t                  flags;          /* NGX_BEACON_NODE_LV6, _DEST */
    uint8_t                  reserved[3];
    uint8_t                  ip[16];
    uint8_t                  lip[16];
};                                           /* 48 bytes */


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
static ngx_uint_t ngx_beacon_node_same_ep(ngx_beacon_nrec_t *n,
    ngx_beacon_reg_t *reg);
static void ngx_beacon_node_set_ep(ngx_beacon_nrec_t *n,
    ngx_beacon_reg_t *reg);
static void ngx_beacon_node_ep(ngx_beacon_nrec_t *n, ngx_beacon_ep_t *ep);
static ngx_beacon_reg_e ngx_beacon_upsert_locked(ngx_beacon_zone_t *z,
    ngx_beacon_nstripe_t *st, ngx_beacon_reg_t *reg, ngx_beacon_nrec_t *out);
static ngx_int_t ngx_beacon_cmp_u64(const void *a, const void *b);


/*
 * The node table's memory: the buckets, the chunk index (the chunks come
 * with the nodes, ngx_beacon_grow()) and the pending moves.
 */

ngx_int_t
ngx_beacon_nodes_init(ngx_beacon_sh_t *sh, ngx_slab_pool_t *shpool,
    size_t size)
{
    uint32_t  nbuckets;

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
        return NGX_ERROR;
    }

    sh->nt.max_chunks = size / (NGX_BEACON_NT_CHUNK
                                * sizeof(ngx_beacon_nrec_t)) + 1;

    sh->nt.chunks = ngx_slab_calloc(shpool, sh->nt.max_chunks
                                            * sizeof(ngx_beacon_nrec_t *));
    if (sh->nt.chunks == NULL) {
        return NGX_ERROR;
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
        return NGX_ERROR;
    }

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
            || ngx_beacon_age(now, n->last_seen) < ttl)
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


/* the node's stripe held; out gets a copy of the record as left */

static ngx_beacon_reg_e
ngx_beacon_upsert_locked(ngx_beacon_zone_t *z, ngx_beacon_nstripe_t *st,
    ngx_beacon_reg_t *reg, ngx_beacon_nrec_t *out)
{
    uint32_t            idx, now;
    ngx_beacon_sh_t    *sh;
    ngx_beacon_nrec_t  *n;
    ngx_beacon_reg_e    rc;
    ngx_beacon_ntab_t  *nt;

    sh = z->sh;
    nt = &sh->nt;
    now = (uint32_t) ngx_current_msec;

    n = ngx_beacon_nt_find_locked(nt, reg->node_id, &idx);

    if (n == NULL) {

        /* lock order: a node stripe, then a limiter stripe */

        if (reg->reg_limit.rate
            && ngx_beacon_register_allowed(sh, &reg->src, &reg->reg_limit, now)
               != NGX_OK)
        {
            return NGX_BEACON_REG_RATE_LIMITED;
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
               && ngx_beacon_age(now, n->last_write) < reg->throttle)
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


/* registered nodes, for the stats (lock-free) */

ngx_uint_t
ngx_beacon_nodes_count(ngx_beacon_sh_t *sh)
{
    return __atomic_load_n(&sh->nt.nnodes, __ATOMIC_RELAXED);
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
            all[n++] = ((uint64_t) ngx_beacon_age(now, r.last_seen) << 32)
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
        ngx_beacon_nodes_state_save(z);
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


/*
 * The state file (beacon_zone ... state=, ngx_beacon_state.c): written by
 * the lease holder, lock-free for the nodes and one limiter stripe at a
 * time for the grants, to a temporary file renamed over the old one.
 */

void
ngx_beacon_nodes_state_save(ngx_beacon_zone_t *z)
{
    u_char                    *tmp;
    size_t                     len, size;
    uint8_t                   *buf;
    uint32_t                   idx, used, now, ttl, age, n, g;
    ngx_fd_t                   fd;
    ngx_err_t                  err;
    ngx_beacon_sh_t           *sh;
    ngx_beacon_nrec_t          r;
    ngx_beacon_ntab_t         *nt;
    ngx_beacon_state_node_t   *nodes;
    ngx_beacon_state_grant_t  *grants;

    sh = z->sh;
    nt = &sh->nt;
    now = (uint32_t) ngx_current_msec;
    ttl = (uint32_t) z->ttl * 1000;
    used = ngx_min(__atomic_load_n(&nt->next, __ATOMIC_RELAXED),
                   ngx_beacon_nt_capacity(nt));

    nodes = ngx_alloc((used + 1) * sizeof(ngx_beacon_state_node_t),
                      ngx_cycle->log);
    grants = NULL;
    buf = NULL;
    tmp = NULL;

    if (nodes == NULL) {
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

        age = ngx_beacon_age(now, r.last_seen);

        if (age >= ttl) {
            continue;
        }

        nodes[n].node_id = r.node_id;
        nodes[n].ttl_left = ttl - age;
        nodes[n].write_age = ngx_beacon_age(now, r.last_write);
        nodes[n].flags = r.flags & NGX_BEACON_STATE_KEEP;
        nodes[n].port = r.port;
        nodes[n].lport = r.lport;
        ngx_memcpy(nodes[n].ip, r.ip, 16);
        ngx_memcpy(nodes[n].lip, r.lip, 16);
        ngx_memcpy(nodes[n].key, r.key, 32);
        n++;
    }

    /* grants not yet expired: their replay must stay refused */

    grants = ngx_beacon_grants_copy(sh, &g);

    if (grants == NULL) {
        goto done;
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

void
ngx_beacon_nodes_state_load(ngx_beacon_zone_t *z, ngx_log_t *log)
{
    off_t                     size;
    ssize_t                   got;
    uint8_t                  *buf;
    uint32_t                  i, idx, now, ttl, left, gone, age, loaded;
    ngx_fd_t                  fd;
    ngx_err_t                 err;
    ngx_uint_t                level;
    ngx_file_info_t           fi;
    ngx_beacon_sh_t          *sh;
    ngx_beacon_nrec_t        *n;
    ngx_beacon_state_t        state;
    ngx_beacon_nstripe_t     *st;
    ngx_beacon_state_rc_e     rc;
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

        ngx_beacon_grants_load(sh, &grant);
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
