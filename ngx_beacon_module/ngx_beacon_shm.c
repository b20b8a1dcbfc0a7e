
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_shm.h"


/*
 * Node records are fixed-size and live in chunks of 1024 (exactly 28
 * pages), linked by 32-bit indices (index + 1, 0 = none): a hash chain
 * for lookups and an LRU list ordered by last refresh for expiry.
 */

#define NGX_BEACON_CHUNK_SHIFT   10
#define NGX_BEACON_CHUNK         (1 << NGX_BEACON_CHUNK_SHIFT)
#define NGX_BEACON_WAYS          4
#define NGX_BEACON_MIN_SETS      16
#define NGX_BEACON_MAX_SETS      16384


typedef struct {
    uint32_t                 hnext;
    uint32_t                 prev;
    uint32_t                 next;
    uint32_t                 node_id;
    uint32_t                 last_seen;      /* ngx_current_msec */
    uint32_t                 last_write;     /* ngx_current_msec */
    uint32_t                 last_notify;
    uint16_t                 port;
    uint16_t                 lport;
    uint8_t                  flags;
    uint8_t                  reserved[3];
    uint8_t                  ip[16];
    uint8_t                  lip[16];
    uint8_t                  key[NGX_BEACON_KEY_LEN];
    uint32_t                 owner_pid;
    uint64_t                 owner_conn;
} ngx_beacon_node_t;                         /* 112 bytes: 1024 in 28 pages */


/*
 * A move refused by the endpoint throttle, applied when the window ends
 * (the node then carries NGX_BEACON_NODE_PENDING); set-associative by
 * node id, so a lost entry only means waiting for the node's next DISCOVER.
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
    uint32_t                 seed;
    uint32_t                 nnodes;
    uint32_t                 free;
    uint32_t                 lru_head;
    uint32_t                 lru_tail;
    uint32_t                 bucket_bits;
    uint32_t                 nchunks;
    uint32_t                 max_chunks;
    uint32_t                 punch_stamp;
    uint32_t                 punch_tokens;
    uint32_t                 generation;

    uint32_t                *buckets;
    ngx_beacon_node_t      **chunks;

    ngx_beacon_lim_t         lim_relay;
    ngx_beacon_lim_t         lim_reply;
    ngx_beacon_lim_t         lim_register;
    ngx_beacon_lim_t         lim_punch;
    ngx_beacon_lim_t         lim_grant;
    ngx_beacon_lim_t         lim_wsconn;
    ngx_beacon_lim_t         lim_authfail;
    ngx_beacon_lim_t         lim_offconn;

    ngx_beacon_keyc_t       *keyc;
    uint32_t                 keyc_mask;

    ngx_beacon_pending_t    *pending;
    uint32_t                 pending_mask;
    uint32_t                 draining;       /* W15, under the lock */

    ngx_beacon_claim_t       claims[NGX_BEACON_SLOTS];

    void                    *gossip;         /* ngx_beacon_gossip.c */
    void                    *offset;         /* ngx_beacon_offset_state.c */

    ngx_pid_t                lease_pid;
    ngx_msec_t               lease_expires;

    ngx_beacon_slot_t        slots[NGX_BEACON_SLOTS];
};


static ngx_inline ngx_beacon_node_t *ngx_beacon_node(ngx_beacon_sh_t *sh,
    uint32_t idx);
static ngx_inline uint32_t ngx_beacon_hash32(uint32_t x, uint32_t seed);
static ngx_beacon_node_t *ngx_beacon_find_locked(ngx_beacon_sh_t *sh,
    uint32_t node_id, uint32_t *pidx);
static ngx_beacon_node_t *ngx_beacon_find_raw_locked(ngx_beacon_sh_t *sh,
    uint32_t node_id, uint32_t *pidx);
static ngx_uint_t ngx_beacon_pending_due(ngx_beacon_sh_t *sh,
    ngx_beacon_node_t *n, uint32_t now);
static ngx_beacon_pending_t *ngx_beacon_pending_get(ngx_beacon_sh_t *sh,
    uint32_t node_id, ngx_uint_t create);
static void ngx_beacon_pending_apply_locked(ngx_beacon_sh_t *sh,
    ngx_beacon_node_t *n, uint32_t now);
static void ngx_beacon_pending_set_locked(ngx_beacon_sh_t *sh,
    ngx_beacon_node_t *n, ngx_beacon_reg_t *reg, uint32_t now);
static void ngx_beacon_pending_drop_locked(ngx_beacon_sh_t *sh,
    ngx_beacon_node_t *n);
static void ngx_beacon_lru_unlink(ngx_beacon_sh_t *sh, ngx_beacon_node_t *n);
static void ngx_beacon_lru_push(ngx_beacon_sh_t *sh, ngx_beacon_node_t *n,
    uint32_t idx);
static void ngx_beacon_remove_locked(ngx_beacon_sh_t *sh, uint32_t idx);
static ngx_uint_t ngx_beacon_expire_locked(ngx_beacon_zone_t *z,
    ngx_uint_t max);
static ngx_int_t ngx_beacon_grow_locked(ngx_beacon_zone_t *z);
static uint32_t ngx_beacon_alloc_locked(ngx_beacon_zone_t *z);
static ngx_beacon_reg_e ngx_beacon_upsert_locked(ngx_beacon_zone_t *z,
    ngx_beacon_reg_t *reg, ngx_beacon_node_t **pn);
static void ngx_beacon_node_set_ep(ngx_beacon_node_t *n,
    ngx_beacon_reg_t *reg);
static ngx_uint_t ngx_beacon_node_same_ep(ngx_beacon_node_t *n,
    ngx_beacon_reg_t *reg);
static void ngx_beacon_node_ep(ngx_beacon_node_t *n, ngx_beacon_ep_t *ep);
static void ngx_beacon_ip_key(uint8_t *key, const ngx_beacon_addr_t *addr);
static ngx_beacon_lim_entry_t *ngx_beacon_lim_get(ngx_beacon_sh_t *sh,
    ngx_beacon_lim_t *lim, const uint8_t *key, uint32_t now,
    ngx_uint_t *fresh);
static ngx_int_t ngx_beacon_bucket_take(uint32_t *tokens, uint32_t *stamp,
    ngx_uint_t fresh, ngx_uint_t rate, ngx_uint_t burst, uint32_t now);
static ngx_uint_t ngx_beacon_bucket_level(uint32_t tokens, uint32_t stamp,
    ngx_uint_t fresh, ngx_uint_t rate, ngx_uint_t per, ngx_uint_t burst,
    uint32_t now);
static ngx_int_t ngx_beacon_relay_budget_locked(ngx_beacon_sh_t *sh,
    const ngx_beacon_addr_t *src, ngx_uint_t limit, uint32_t now);
static ngx_int_t ngx_beacon_lim_alloc(ngx_slab_pool_t *shpool,
    ngx_beacon_lim_t *lim, size_t bytes);


static ngx_inline ngx_beacon_node_t *
ngx_beacon_node(ngx_beacon_sh_t *sh, uint32_t idx)
{
    idx--;

    return &sh->chunks[idx >> NGX_BEACON_CHUNK_SHIFT]
                      [idx & (NGX_BEACON_CHUNK - 1)];
}


static ngx_inline uint32_t
ngx_beacon_hash32(uint32_t x, uint32_t seed)
{
    x ^= seed;
    x ^= x >> 16;
    x *= 0x85ebca6b;
    x ^= x >> 13;
    x *= 0xc2b2ae35;
    x ^= x >> 16;

    return x;
}


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
        if (ozone->sh->magic != NGX_BEACON_ZONE_MAGIC) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "beacon zone \"%V\" has an incompatible layout",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        /* the lease may stick to a pid of the previous generation */

        ngx_shmtx_lock(&zone->shpool->mutex);
        zone->sh->lease_pid = 0;
        zone->sh->lease_expires = 0;
        zone->sh->generation++;
        ngx_shmtx_unlock(&zone->shpool->mutex);

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

    sh->seed = (uint32_t) ngx_random() ^ ((uint32_t) ngx_random() << 16);

    /* about one bucket per 128 bytes of zone, a power of two */

    sh->bucket_bits = 6;

    while (sh->bucket_bits < 28 && ((size_t) 1 << sh->bucket_bits) < size / 128)
    {
        sh->bucket_bits++;
    }

    nbuckets = (uint32_t) 1 << sh->bucket_bits;

    sh->buckets = ngx_slab_calloc(shpool, nbuckets * sizeof(uint32_t));
    if (sh->buckets == NULL) {
        goto nomem;
    }

    sh->max_chunks = size / (NGX_BEACON_CHUNK * sizeof(ngx_beacon_node_t)) + 1;

    sh->chunks = ngx_slab_calloc(shpool,
                                 sh->max_chunks * sizeof(ngx_beacon_node_t *));
    if (sh->chunks == NULL) {
        goto nomem;
    }

    /* eight limiter tables share about 1/32 of the zone */

    lim_bytes = size / 32 / 8;

    if (ngx_beacon_lim_alloc(shpool, &sh->lim_relay, lim_bytes) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_reply, lim_bytes) != NGX_OK
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

    /* pending moves: about 1/256 of the zone, 4-way sets */

    sh->pending_mask = NGX_BEACON_MIN_SETS - 1;

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


/*
 * Every lookup goes through here, so a pending move whose throttle window
 * has ended is applied before anyone reads the endpoint, whether or not
 * the node sent anything since.
 */

static ngx_beacon_node_t *
ngx_beacon_find_locked(ngx_beacon_sh_t *sh, uint32_t node_id, uint32_t *pidx)
{
    ngx_beacon_node_t  *n;

    n = ngx_beacon_find_raw_locked(sh, node_id, pidx);

    if (n && (n->flags & NGX_BEACON_NODE_PENDING)) {
        ngx_beacon_pending_apply_locked(sh, n, (uint32_t) ngx_current_msec);
    }

    return n;
}


static ngx_beacon_node_t *
ngx_beacon_find_raw_locked(ngx_beacon_sh_t *sh, uint32_t node_id,
    uint32_t *pidx)
{
    uint32_t            idx;
    ngx_beacon_node_t  *n;

    idx = sh->buckets[ngx_beacon_hash32(node_id, sh->seed)
                      >> (32 - sh->bucket_bits)];

    while (idx) {
        n = ngx_beacon_node(sh, idx);

        if (n->node_id == node_id) {
            if (pidx) {
                *pidx = idx;
            }

            return n;
        }

        idx = n->hnext;
    }

    return NULL;
}


static ngx_beacon_pending_t *
ngx_beacon_pending_get(ngx_beacon_sh_t *sh, uint32_t node_id,
    ngx_uint_t create)
{
    ngx_uint_t             i;
    ngx_beacon_pending_t  *set, *victim;

    set = &sh->pending[(size_t) (ngx_beacon_hash32(node_id, sh->seed)
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


static ngx_uint_t
ngx_beacon_pending_due(ngx_beacon_sh_t *sh, ngx_beacon_node_t *n,
    uint32_t now)
{
    ngx_beacon_pending_t  *p;

    p = ngx_beacon_pending_get(sh, n->node_id, 0);

    return p == NULL || (int32_t) (now - p->due) >= 0;
}


static void
ngx_beacon_pending_apply_locked(ngx_beacon_sh_t *sh, ngx_beacon_node_t *n,
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
ngx_beacon_pending_set_locked(ngx_beacon_sh_t *sh, ngx_beacon_node_t *n,
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

    n->flags |= NGX_BEACON_NODE_PENDING;
}


static void
ngx_beacon_pending_drop_locked(ngx_beacon_sh_t *sh, ngx_beacon_node_t *n)
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


static void
ngx_beacon_lru_unlink(ngx_beacon_sh_t *sh, ngx_beacon_node_t *n)
{
    if (n->prev) {
        ngx_beacon_node(sh, n->prev)->next = n->next;

    } else {
        sh->lru_head = n->next;
    }

    if (n->next) {
        ngx_beacon_node(sh, n->next)->prev = n->prev;

    } else {
        sh->lru_tail = n->prev;
    }

    n->prev = 0;
    n->next = 0;
}


static void
ngx_beacon_lru_push(ngx_beacon_sh_t *sh, ngx_beacon_node_t *n, uint32_t idx)
{
    n->prev = 0;
    n->next = sh->lru_head;

    if (sh->lru_head) {
        ngx_beacon_node(sh, sh->lru_head)->prev = idx;

    } else {
        sh->lru_tail = idx;
    }

    sh->lru_head = idx;
}


static void
ngx_beacon_remove_locked(ngx_beacon_sh_t *sh, uint32_t idx)
{
    uint32_t           *link;
    ngx_beacon_node_t  *n, *p;

    n = ngx_beacon_node(sh, idx);

    ngx_beacon_pending_drop_locked(sh, n);

    link = &sh->buckets[ngx_beacon_hash32(n->node_id, sh->seed)
                        >> (32 - sh->bucket_bits)];

    while (*link && *link != idx) {
        p = ngx_beacon_node(sh, *link);
        link = &p->hnext;
    }

    if (*link == idx) {
        *link = n->hnext;
    }

    ngx_beacon_lru_unlink(sh, n);

    ngx_memzero(n, sizeof(ngx_beacon_node_t));
    n->hnext = sh->free;
    sh->free = idx;
    sh->nnodes--;
}


static ngx_uint_t
ngx_beacon_expire_locked(ngx_beacon_zone_t *z, ngx_uint_t max)
{
    uint32_t            idx, now, ttl;
    ngx_uint_t          n, removed;
    ngx_beacon_sh_t    *sh;
    ngx_beacon_node_t  *node;

    sh = z->sh;
    now = (uint32_t) ngx_current_msec;
    ttl = (uint32_t) z->ttl * 1000;
    removed = 0;

    for (n = 0; n < max; n++) {
        idx = sh->lru_tail;

        if (idx == 0) {
            break;
        }

        node = ngx_beacon_node(sh, idx);

        if ((uint32_t) (now - node->last_seen) < ttl) {
            break;
        }

        if (node->flags & NGX_BEACON_NODE_WSS) {
            /* connected through the bridge: alive while connected */
            node->last_seen = now;
            ngx_beacon_lru_unlink(sh, node);
            ngx_beacon_lru_push(sh, node, idx);
            continue;
        }

        ngx_beacon_remove_locked(sh, idx);
        removed++;
    }

    return removed;
}


static ngx_int_t
ngx_beacon_grow_locked(ngx_beacon_zone_t *z)
{
    uint32_t            i, base;
    ngx_beacon_sh_t    *sh;
    ngx_beacon_node_t  *chunk;

    sh = z->sh;

    if (sh->nchunks >= sh->max_chunks) {
        return NGX_ERROR;
    }

    chunk = ngx_slab_alloc_locked(z->shpool,
                                  NGX_BEACON_CHUNK * sizeof(ngx_beacon_node_t));
    if (chunk == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(chunk, NGX_BEACON_CHUNK * sizeof(ngx_beacon_node_t));

    base = sh->nchunks << NGX_BEACON_CHUNK_SHIFT;

    for (i = NGX_BEACON_CHUNK; i > 0; i--) {
        chunk[i - 1].hnext = sh->free;
        sh->free = base + i;
    }

    sh->chunks[sh->nchunks++] = chunk;

    return NGX_OK;
}


static uint32_t
ngx_beacon_alloc_locked(ngx_beacon_zone_t *z)
{
    uint32_t            idx;
    ngx_beacon_sh_t    *sh;
    ngx_beacon_node_t  *n;

    sh = z->sh;

    /* never evict a live node: only expired ones make room */

    if (sh->nnodes >= z->max_nodes
        && ngx_beacon_expire_locked(z, 2) == 0)
    {
        return 0;
    }

    if (sh->free == 0
        && ngx_beacon_grow_locked(z) != NGX_OK
        && ngx_beacon_expire_locked(z, 2) == 0)
    {
        return 0;
    }

    idx = sh->free;
    n = ngx_beacon_node(sh, idx);
    sh->free = n->hnext;
    n->hnext = 0;
    sh->nnodes++;

    return idx;
}


static ngx_uint_t
ngx_beacon_node_same_ep(ngx_beacon_node_t *n, ngx_beacon_reg_t *reg)
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
ngx_beacon_node_set_ep(ngx_beacon_node_t *n, ngx_beacon_reg_t *reg)
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
ngx_beacon_node_ep(ngx_beacon_node_t *n, ngx_beacon_ep_t *ep)
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


static ngx_beacon_reg_e
ngx_beacon_upsert_locked(ngx_beacon_zone_t *z, ngx_beacon_reg_t *reg,
    ngx_beacon_node_t **pn)
{
    uint8_t                  key[18];
    uint32_t                 idx, now, *bucket;
    ngx_uint_t               fresh;
    ngx_beacon_sh_t         *sh;
    ngx_beacon_node_t       *n;
    ngx_beacon_reg_e         rc;
    ngx_beacon_lim_entry_t  *e;

    sh = z->sh;
    now = (uint32_t) ngx_current_msec;

    /*
     * A DISCOVER of the node itself decides over a pending move whose
     * window has ended: from the pending endpoint it moves the node now,
     * from the endpoint in use it refreshes it, from a third it moves it.
     */

    n = ngx_beacon_find_raw_locked(sh, reg->node_id, &idx);

    if (n && (n->flags & NGX_BEACON_NODE_PENDING)
        && ngx_beacon_pending_due(sh, n, now))
    {
        ngx_beacon_pending_drop_locked(sh, n);
    }

    if (n == NULL) {

        if (reg->reg_limit.rate) {
            ngx_beacon_ip_key(key, &reg->src);
            e = ngx_beacon_lim_get(sh, &sh->lim_register, key, now, &fresh);

            if (ngx_beacon_bucket_take(&e->value, &e->stamp, fresh,
                                       reg->reg_limit.rate,
                                       reg->reg_limit.burst, now)
                != NGX_OK)
            {
                return NGX_BEACON_REG_RATE_LIMITED;
            }
        }

        idx = ngx_beacon_alloc_locked(z);
        if (idx == 0) {
            return NGX_BEACON_REG_REFUSED;
        }

        n = ngx_beacon_node(sh, idx);

        n->node_id = reg->node_id;
        n->last_seen = now;
        n->last_write = now;
        n->flags = reg->ex ? NGX_BEACON_NODE_DEST : 0;
        ngx_beacon_node_set_ep(n, reg);

        if (reg->learn_key && reg->key) {
            ngx_memcpy(n->key, reg->key, NGX_BEACON_KEY_LEN);
            n->flags |= NGX_BEACON_NODE_KEY;
        }

        /* the record is complete before it becomes reachable */

        bucket = &sh->buckets[ngx_beacon_hash32(reg->node_id, sh->seed)
                              >> (32 - sh->bucket_bits)];
        n->hnext = *bucket;
        *bucket = idx;

        ngx_beacon_lru_push(sh, n, idx);

        *pn = n;

        return NGX_BEACON_REG_NEW;
    }

    if (n->flags & NGX_BEACON_NODE_NOUDP) {
        /* known through the bridge only: its first UDP endpoint */
        rc = NGX_BEACON_REG_MOVED;

        ngx_beacon_pending_drop_locked(sh, n);

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

        ngx_beacon_pending_drop_locked(sh, n);
        ngx_beacon_node_set_ep(n, reg);

        if (reg->ex) {
            n->flags |= NGX_BEACON_NODE_DEST;
        }

    } else if (reg->throttle
               && (uint32_t) (now - n->last_write) < reg->throttle)
    {
        /* refused now, applied when the window ends (unless refreshed) */

        ngx_beacon_pending_set_locked(sh, n, reg, now);

        *pn = n;
        return NGX_BEACON_REG_THROTTLED;

    } else {
        rc = NGX_BEACON_REG_MOVED;

        ngx_beacon_pending_drop_locked(sh, n);

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

    ngx_beacon_lru_unlink(sh, n);
    ngx_beacon_lru_push(sh, n, idx);

    *pn = n;

    return rc;
}


ngx_beacon_reg_e
ngx_beacon_shm_register(ngx_beacon_zone_t *z, ngx_beacon_reg_t *reg)
{
    ngx_beacon_reg_e    rc;
    ngx_beacon_node_t  *n;

    if (reg->node_id == 0) {
        return NGX_BEACON_REG_PROBE;
    }

    ngx_shmtx_lock(&z->shpool->mutex);
    rc = ngx_beacon_upsert_locked(z, reg, &n);
    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


/* the per-source relay budget: a fixed one-second window (spec 5.1) */

static ngx_int_t
ngx_beacon_relay_budget_locked(ngx_beacon_sh_t *sh,
    const ngx_beacon_addr_t *src, ngx_uint_t limit, uint32_t now)
{
    uint8_t                  key[18];
    ngx_uint_t               fresh;
    ngx_beacon_lim_entry_t  *e;

    /* keyed on the transport source: address and port */

    ngx_memcpy(key, src->ip, 16);
    key[16] = (uint8_t) (src->port >> 8);
    key[17] = (uint8_t) src->port;

    e = ngx_beacon_lim_get(sh, &sh->lim_relay, key, now, &fresh);

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


ngx_int_t
ngx_beacon_shm_relay_budget(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t limit)
{
    ngx_int_t  rc;

    if (limit == 0) {
        return NGX_OK;
    }

    ngx_shmtx_lock(&z->shpool->mutex);
    rc = ngx_beacon_relay_budget_locked(z->sh, src, limit,
                                        (uint32_t) ngx_current_msec);
    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_beacon_relay_e
ngx_beacon_shm_relay(ngx_beacon_zone_t *z, uint32_t sender, uint32_t dest,
    const ngx_beacon_addr_t *src, ngx_uint_t bind_sender, ngx_uint_t limit,
    ngx_beacon_ep_t *ep)
{
    uint32_t             now;
    ngx_beacon_sh_t     *sh;
    ngx_beacon_node_t   *n;
    ngx_beacon_relay_e   rc;

    sh = z->sh;
    now = (uint32_t) ngx_current_msec;

    ngx_shmtx_lock(&z->shpool->mutex);

    if (bind_sender) {
        n = ngx_beacon_find_raw_locked(sh, sender, NULL);

        if (n && (n->flags & NGX_BEACON_NODE_PENDING)) {

            if (!(n->flags & NGX_BEACON_NODE_NOUDP)
                && n->port == src->port
                && ngx_memcmp(n->ip, src->ip, 16) == 0)
            {
                /* the endpoint in use is sending: a claimed move is void */
                ngx_beacon_pending_drop_locked(sh, n);

            } else {
                ngx_beacon_pending_apply_locked(sh, n, now);
            }
        }

        if (n == NULL
            || (n->flags & NGX_BEACON_NODE_NOUDP)
            || n->port != src->port
            || ngx_memcmp(n->ip, src->ip, 16) != 0)
        {
            rc = NGX_BEACON_RELAY_SENDER_MISMATCH;
            goto done;
        }
    }

    n = ngx_beacon_find_locked(sh, dest, NULL);

    if (n == NULL) {
        rc = NGX_BEACON_RELAY_NOT_FOUND;
        goto done;
    }

    if (limit && ngx_beacon_relay_budget_locked(sh, src, limit, now)
                 != NGX_OK)
    {
        rc = NGX_BEACON_RELAY_RATE_LIMITED;
        goto done;
    }

    ngx_beacon_node_ep(n, ep);
    rc = NGX_BEACON_RELAY_OK;

done:

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_beacon_punch_e
ngx_beacon_shm_punch(ngx_beacon_zone_t *z, ngx_beacon_reg_t *requester,
    uint32_t target, ngx_beacon_ep_t *req_ep, ngx_beacon_ep_t *tgt_ep)
{
    ngx_beacon_reg_e    reg;
    ngx_beacon_node_t  *n, *t;
    ngx_beacon_punch_e  rc;

    if (requester->node_id == 0) {
        return NGX_BEACON_PUNCH_NOT_FOUND;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    reg = ngx_beacon_upsert_locked(z, requester, &n);

    switch (reg) {

    case NGX_BEACON_REG_NEW:
    case NGX_BEACON_REG_REFRESHED:
    case NGX_BEACON_REG_MOVED:
        break;

    case NGX_BEACON_REG_THROTTLED:
        /* the requester lives elsewhere: not a request it made */
        rc = NGX_BEACON_PUNCH_MISMATCH;
        goto done;

    default:
        rc = NGX_BEACON_PUNCH_NOT_FOUND;
        goto done;
    }

    t = ngx_beacon_find_locked(z->sh, target, NULL);

    if (t == NULL || (t->flags & NGX_BEACON_NODE_NOUDP)) {
        rc = NGX_BEACON_PUNCH_NOT_FOUND;
        goto done;
    }

    ngx_beacon_node_ep(n, req_ep);
    ngx_beacon_node_ep(t, tgt_ep);
    rc = NGX_BEACON_PUNCH_OK;

done:

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_beacon_shm_get_key(ngx_beacon_zone_t *z, uint32_t node_id, uint8_t *key)
{
    ngx_int_t           rc;
    ngx_beacon_node_t  *n;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_beacon_find_locked(z->sh, node_id, NULL);

    if (n && (n->flags & NGX_BEACON_NODE_KEY)) {
        ngx_memcpy(key, n->key, NGX_BEACON_KEY_LEN);
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_beacon_shm_lookup(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_ep_t *ep)
{
    ngx_int_t           rc;
    ngx_beacon_node_t  *n;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_beacon_find_locked(z->sh, node_id, NULL);

    if (n) {
        ngx_beacon_node_ep(n, ep);
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


static ngx_beacon_lim_entry_t *
ngx_beacon_lim_get(ngx_beacon_sh_t *sh, ngx_beacon_lim_t *lim,
    const uint8_t *key, uint32_t now, ngx_uint_t *fresh)
{
    uint32_t                 h, i;
    ngx_beacon_lim_entry_t  *set, *victim;

    h = sh->seed;

    for (i = 0; i < 18; i++) {
        h = (h ^ key[i]) * 16777619;
    }

    h = ngx_beacon_hash32(h, sh->seed);

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
    ngx_beacon_lim_entry_t  *e;

    if (rate->rate == 0) {
        return NGX_OK;
    }

    ngx_beacon_ip_key(key, dst);
    now = (uint32_t) ngx_current_msec;

    ngx_shmtx_lock(&z->shpool->mutex);

    e = ngx_beacon_lim_get(z->sh, &z->sh->lim_reply, key, now, &fresh);
    rc = ngx_beacon_bucket_take(&e->value, &e->stamp, fresh, rate->rate,
                                rate->burst, now);

    ngx_shmtx_unlock(&z->shpool->mutex);

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
    ngx_beacon_lim_entry_t  *e;

    if (per_ip == 0) {
        return NGX_OK;
    }

    ngx_beacon_ip_key(key, src);
    now = (uint32_t) ngx_current_msec;

    ngx_shmtx_lock(&z->shpool->mutex);

    e = ngx_beacon_lim_get(z->sh, &z->sh->lim_punch, key, now, &fresh);
    rc = ngx_beacon_bucket_take(&e->value, &e->stamp, fresh, per_ip, burst,
                                now);

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_beacon_shm_punch_global_allowed(ngx_beacon_zone_t *z, ngx_uint_t global,
    ngx_uint_t burst)
{
    uint32_t   now;
    ngx_int_t  rc;

    if (global == 0) {
        return NGX_OK;
    }

    now = (uint32_t) ngx_current_msec;

    ngx_shmtx_lock(&z->shpool->mutex);

    rc = ngx_beacon_bucket_take(&z->sh->punch_tokens, &z->sh->punch_stamp,
                                z->sh->punch_stamp == 0, global, burst, now);

    if (z->sh->punch_stamp == 0) {
        z->sh->punch_stamp = 1;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_beacon_shm_grant_once(ngx_beacon_zone_t *z, const uint8_t *sig,
    int64_t expiry)
{
    uint32_t                 now;
    ngx_int_t                rc;
    ngx_uint_t               fresh;
    ngx_beacon_lim_entry_t  *e;

    /* entries are stamped with wall-clock seconds: live until expiry */

    now = (uint32_t) ngx_time();

    ngx_shmtx_lock(&z->shpool->mutex);

    e = ngx_beacon_lim_get(z->sh, &z->sh->lim_grant, sig, now, &fresh);

    if (!fresh && (int64_t) e->value >= (int64_t) now) {
        rc = NGX_DECLINED;

    } else {
        e->value = (uint32_t) expiry;
        rc = NGX_OK;
    }

    e->stamp = now;

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_beacon_shm_lease(ngx_beacon_zone_t *z, ngx_msec_t ttl)
{
    ngx_int_t         rc;
    ngx_beacon_sh_t  *sh;

    sh = z->sh;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&z->shpool->mutex);

    if (sh->lease_pid == ngx_pid
        || sh->lease_pid == 0
        || (ngx_msec_int_t) (ngx_current_msec - sh->lease_expires) > 0)
    {
        sh->lease_pid = ngx_pid;
        sh->lease_expires = ngx_current_msec + ttl;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


void
ngx_beacon_shm_release(ngx_beacon_zone_t *z)
{
    ngx_shmtx_lock(&z->shpool->mutex);

    if (z->sh->lease_pid == ngx_pid) {
        z->sh->lease_pid = 0;
        z->sh->lease_expires = 0;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


ngx_uint_t
ngx_beacon_shm_expire(ngx_beacon_zone_t *z, ngx_uint_t max)
{
    ngx_uint_t  n;

    ngx_shmtx_lock(&z->shpool->mutex);
    n = ngx_beacon_expire_locked(z, max);
    ngx_shmtx_unlock(&z->shpool->mutex);

    if (n) {
        ngx_beacon_count_n(z, NGX_BEACON_C_EXPIRED, n);
    }

    return n;
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

    ngx_shmtx_lock(&z->shpool->mutex);
    st->nodes = sh->nnodes;
    st->free = z->shpool->pfree * ngx_pagesize;
    st->draining = sh->draining;
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
    ngx_uint_t  prev;

    ngx_shmtx_lock(&z->shpool->mutex);
    prev = z->sh->draining;
    z->sh->draining = draining ? 1 : 0;
    ngx_shmtx_unlock(&z->shpool->mutex);

    return prev;
}


ngx_uint_t
ngx_beacon_shm_draining(ngx_beacon_zone_t *z)
{
    ngx_uint_t  draining;

    ngx_shmtx_lock(&z->shpool->mutex);
    draining = z->sh->draining;
    ngx_shmtx_unlock(&z->shpool->mutex);

    return draining;
}


ngx_int_t
ngx_beacon_shm_ws_attach(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_owner_t *owner, ngx_beacon_owner_t *prev)
{
    uint32_t            idx, now, *bucket;
    ngx_int_t           rc;
    ngx_beacon_sh_t    *sh;
    ngx_beacon_node_t  *n;

    sh = z->sh;
    now = (uint32_t) ngx_current_msec;
    rc = NGX_OK;

    prev->pid = 0;
    prev->conn = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_beacon_find_locked(sh, node_id, &idx);

    if (n == NULL) {
        idx = ngx_beacon_alloc_locked(z);

        if (idx == 0) {
            rc = NGX_DECLINED;
            goto done;
        }

        n = ngx_beacon_node(sh, idx);
        n->node_id = node_id;
        n->last_write = now;
        n->flags = NGX_BEACON_NODE_NOUDP;

        bucket = &sh->buckets[ngx_beacon_hash32(node_id, sh->seed)
                              >> (32 - sh->bucket_bits)];
        n->hnext = *bucket;
        *bucket = idx;

    } else {
        if (n->flags & NGX_BEACON_NODE_WSS) {
            prev->pid = (ngx_pid_t) n->owner_pid;
            prev->conn = n->owner_conn;
        }

        ngx_beacon_lru_unlink(sh, n);
    }

    n->owner_pid = (uint32_t) owner->pid;
    n->owner_conn = owner->conn;
    n->flags |= NGX_BEACON_NODE_WSS;
    n->last_seen = now;

    ngx_beacon_lru_push(sh, n, idx);

done:

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


void
ngx_beacon_shm_ws_detach(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_owner_t *owner)
{
    uint32_t            idx;
    ngx_beacon_node_t  *n;

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_beacon_find_locked(z->sh, node_id, &idx);

    /* compare and clear: never the replacement's record */

    if (n
        && (n->flags & NGX_BEACON_NODE_WSS)
        && n->owner_pid == (uint32_t) owner->pid
        && n->owner_conn == owner->conn)
    {
        if (n->flags & NGX_BEACON_NODE_NOUDP) {
            ngx_beacon_remove_locked(z->sh, idx);

        } else {
            n->flags &= ~NGX_BEACON_NODE_WSS;
            n->owner_pid = 0;
            n->owner_conn = 0;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


ngx_int_t
ngx_beacon_shm_ws_present(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_owner_t *owner)
{
    uint32_t            idx;
    ngx_int_t           rc;
    ngx_beacon_node_t  *n;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_beacon_find_locked(z->sh, node_id, &idx);

    if (n
        && (n->flags & NGX_BEACON_NODE_WSS)
        && n->owner_pid == (uint32_t) owner->pid
        && n->owner_conn == owner->conn)
    {
        n->last_seen = (uint32_t) ngx_current_msec;
        ngx_beacon_lru_unlink(z->sh, n);
        ngx_beacon_lru_push(z->sh, n, idx);
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_beacon_shm_key_get(ngx_beacon_zone_t *z, uint32_t node_id, uint8_t *key)
{
    uint32_t            now, i;
    ngx_int_t           rc;
    ngx_beacon_sh_t    *sh;
    ngx_beacon_keyc_t  *set;

    sh = z->sh;
    now = (uint32_t) ngx_time();
    rc = NGX_AGAIN;

    ngx_shmtx_lock(&z->shpool->mutex);

    set = &sh->keyc[(size_t) (ngx_beacon_hash32(node_id, sh->seed)
                              & sh->keyc_mask) * NGX_BEACON_WAYS];

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

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


void
ngx_beacon_shm_key_put(ngx_beacon_zone_t *z, uint32_t node_id,
    const uint8_t *key, time_t ttl)
{
    uint32_t            now, i;
    ngx_beacon_sh_t    *sh;
    ngx_beacon_keyc_t  *set, *victim;

    sh = z->sh;
    now = (uint32_t) ngx_time();

    ngx_shmtx_lock(&z->shpool->mutex);

    set = &sh->keyc[(size_t) (ngx_beacon_hash32(node_id, sh->seed)
                              & sh->keyc_mask) * NGX_BEACON_WAYS];
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

    ngx_shmtx_unlock(&z->shpool->mutex);
}


ngx_int_t
ngx_beacon_shm_claim(ngx_beacon_zone_t *z)
{
    ngx_pid_t                pids[NGX_BEACON_SLOTS];
    ngx_uint_t               i, j, dead[NGX_BEACON_SLOTS], slot;
    ngx_beacon_sh_t         *sh;
    ngx_beacon_lim_entry_t  *e;

    sh = z->sh;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        pids[i] = sh->claims[i].pid;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    /* which holders are gone (crashed, or exited without releasing) */

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        dead[i] = pids[i] != 0 && pids[i] != ngx_pid
                  && kill(pids[i], 0) == -1 && ngx_errno == NGX_ESRCH;
    }

    slot = NGX_BEACON_SLOTS;

    ngx_shmtx_lock(&z->shpool->mutex);

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

    ngx_shmtx_unlock(&z->shpool->mutex);

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

    ngx_shmtx_lock(&z->shpool->mutex);

    if (z->sh->claims[z->claim].pid == ngx_pid) {
        z->sh->claims[z->claim].pid = 0;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

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

#define CLAIM_COUNT(i, off)                                                   \
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

    ngx_shmtx_lock(&z->shpool->mutex);

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        if (sh->claims[i].pid == 0) {
            continue;
        }

        total += CLAIM_COUNT(i, count_off);

        if (hs_off) {
            hs += CLAIM_COUNT(i, hs_off);
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

    ngx_shmtx_unlock(&z->shpool->mutex);

#undef CLAIM_COUNT

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

    ngx_shmtx_lock(&z->shpool->mutex);

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

    ngx_shmtx_unlock(&z->shpool->mutex);
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
    ngx_beacon_lim_entry_t  *e;

    if (per_minute == 0) {
        return NGX_OK;
    }

    ngx_beacon_ip_key(key, addr);
    now = (uint32_t) ngx_current_msec;

    ngx_shmtx_lock(&z->shpool->mutex);

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

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


/* the gossip state lives in the zone too, owned by ngx_beacon_gossip.c */

void **
ngx_beacon_shm_gossip(ngx_beacon_zone_t *z)
{
    return &z->sh->gossip;
}


void **
ngx_beacon_shm_offset(ngx_beacon_zone_t *z)
{
    return &z->sh->offset;
}


ngx_int_t
ngx_beacon_shm_has_node(ngx_beacon_zone_t *z, uint32_t node_id)
{
    return ngx_beacon_find_locked(z->sh, node_id, NULL) != NULL;
}


/* copies up to max node ids, the most recently refreshed first */

ngx_uint_t
ngx_beacon_shm_node_ids(ngx_beacon_zone_t *z, uint32_t *ids, ngx_uint_t max)
{
    uint32_t            idx;
    ngx_uint_t          n;
    ngx_beacon_node_t  *node;

    n = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (idx = z->sh->lru_head; idx && n < max; idx = node->next) {
        node = ngx_beacon_node(z->sh, idx);
        ids[n++] = node->node_id;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return n;
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
