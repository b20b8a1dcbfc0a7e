
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The Offset relay's pairing tables, and the only code that touches them.
 *
 * Memory: one ngx_beacon_offset_sh_t in the beacon zone's slab pool,
 * anchored in the zone (ngx_beacon_shm_offset(), the zone never looks
 * inside), created at the first use and kept while the zone lives (a
 * reload that keeps the zone keeps the tables); its entries are slab
 * chunks of their own, one per Listen and one per pending Connect.
 *
 * Locks: the tables are split into NGX_BEACON_OFFSET_STRIPES stripes by
 * the hash of the listener's public key, so a listener and all the
 * Connects pending for it live in one stripe; each stripe has its own
 * lock (an ngx_shmtx in the shared struct) over its two red-black trees.
 * Every operation takes exactly one stripe lock, never two, and never
 * holds it across anything but a few tree steps.  The zone's slab mutex
 * is only taken to create the tables and to allocate or free an entry,
 * never while a stripe is held (an entry is allocated before the stripe
 * is locked and freed after it is unlocked).
 *
 * A worker killed while holding a stripe: a waiter that has waited long
 * checks whether the holder's pid still lives and takes the lock over.
 * If the dead holder was changing a tree (st->writing), the stripe's
 * trees are emptied: its listeners and pending Connects are forgotten
 * (their entries are lost to the slab until the zone goes), an alert
 * says so; a listener in a live worker is not found until it Listens
 * again, a Connect pending there ends at its half-tunnel timeout.
 *
 * Who may touch what: only the functions below, from the Offset stream
 * module (offset/ngx_stream_beacon_offset_module.c), in worker processes;
 * callers get plain values back and never hold a lock or a pointer into
 * the tables.  The status page does not read them (the listener and
 * half-tunnel gauges are per-worker counts in the zone's claims).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_offset_state.h"


#define NGX_BEACON_OFFSET_STRIPES     64          /* a power of two */
#define NGX_BEACON_OFFSET_SPIN        2048
/* lock attempts (each a spin and a yield) between checks for a dead holder */
#define NGX_BEACON_OFFSET_DEAD_CHECK  64


typedef struct {
    ngx_rbtree_node_t        node;        /* key: hash of lpk */
    ngx_beacon_owner_t       owner;
    u_char                   lpk[NGX_BEACON_OFFSET_PK_LEN];
    /* half-tunnels only; zero in listener entries */
    u_char                   cpk[NGX_BEACON_OFFSET_PK_LEN];
} ngx_beacon_offset_node_t;


typedef struct {
    ngx_shmtx_sh_t           lock;
    ngx_shmtx_t              mutex;       /* no semaphore: see _lock() */
    ngx_uint_t               writing;     /* a tree is being changed */
    ngx_rbtree_t             listeners;
    ngx_rbtree_node_t        listeners_sentinel;
    ngx_rbtree_t             halves;      /* ordered by (lpk, cpk) */
    ngx_rbtree_node_t        halves_sentinel;
} ngx_beacon_offset_stripe_t;


struct ngx_beacon_offset_sh_s {
    ngx_beacon_offset_stripe_t  stripes[NGX_BEACON_OFFSET_STRIPES];
};


static ngx_beacon_offset_sh_t *ngx_beacon_offset_sh(ngx_beacon_zone_t *z);
static ngx_beacon_offset_stripe_t *ngx_beacon_offset_stripe(
    ngx_beacon_zone_t *z, ngx_rbtree_key_t key);
static void ngx_beacon_offset_stripe_init(ngx_beacon_offset_stripe_t *st);
static void ngx_beacon_offset_lock(ngx_beacon_offset_stripe_t *st);
static void ngx_beacon_offset_unlock(ngx_beacon_offset_stripe_t *st);
static void ngx_beacon_offset_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_beacon_offset_cmp(ngx_beacon_offset_node_t *a,
    ngx_rbtree_key_t key, const u_char *lpk, const u_char *cpk);
static ngx_beacon_offset_node_t *ngx_beacon_offset_find(ngx_rbtree_t *tree,
    ngx_rbtree_key_t key, const u_char *lpk, const u_char *cpk);
static ngx_rbtree_key_t ngx_beacon_offset_hash(const u_char *lpk);
static ngx_int_t ngx_beacon_offset_put(ngx_beacon_zone_t *z,
    ngx_uint_t halves, const u_char *lpk, const u_char *cpk,
    const ngx_beacon_owner_t *owner, ngx_beacon_owner_t *prev);
static ngx_int_t ngx_beacon_offset_remove(ngx_beacon_zone_t *z,
    ngx_uint_t halves, const u_char *lpk, const u_char *cpk,
    const ngx_beacon_owner_t *match, ngx_beacon_owner_t *out);


static const u_char  ngx_beacon_offset_zero[NGX_BEACON_OFFSET_PK_LEN];


/*
 * The tables, created at the first use under the slab mutex and
 * published with a barrier: a reader that sees the pointer sees them
 * initialized.
 */

static ngx_beacon_offset_sh_t *
ngx_beacon_offset_sh(ngx_beacon_zone_t *z)
{
    ngx_uint_t                        i;
    ngx_beacon_offset_sh_t           *osh, **anchor;
    ngx_beacon_offset_sh_t *volatile *vanchor;

    anchor = ngx_beacon_shm_offset(z);
    vanchor = (ngx_beacon_offset_sh_t *volatile *) anchor;

    osh = *vanchor;

    if (osh) {
        return osh;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    osh = *vanchor;

    if (osh == NULL) {
        osh = ngx_slab_calloc_locked(z->shpool,
                                     sizeof(ngx_beacon_offset_sh_t));

        if (osh) {
            for (i = 0; i < NGX_BEACON_OFFSET_STRIPES; i++) {
                ngx_beacon_offset_stripe_init(&osh->stripes[i]);
            }

            ngx_memory_barrier();

            *vanchor = osh;

        } else {
            /* the caller counts a limit hit and logs "beacon zone full" */
            ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                           "beacon offset: no room for the pairing tables "
                           "in zone \"%V\"", &z->name);
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return osh;
}


static void
ngx_beacon_offset_stripe_init(ngx_beacon_offset_stripe_t *st)
{
    /* spin -1: ngx_shmtx_create() takes no semaphore */

    st->mutex.spin = (ngx_uint_t) -1;
    (void) ngx_shmtx_create(&st->mutex, &st->lock, NULL);

    st->writing = 0;

    ngx_rbtree_init(&st->listeners, &st->listeners_sentinel,
                    ngx_beacon_offset_insert);
    ngx_rbtree_init(&st->halves, &st->halves_sentinel,
                    ngx_beacon_offset_insert);
}


static ngx_beacon_offset_stripe_t *
ngx_beacon_offset_stripe(ngx_beacon_zone_t *z, ngx_rbtree_key_t key)
{
    ngx_beacon_offset_sh_t  *osh;

    osh = ngx_beacon_offset_sh(z);

    if (osh == NULL) {
        return NULL;
    }

    return &osh->stripes[key & (NGX_BEACON_OFFSET_STRIPES - 1)];
}


/*
 * ngx_shmtx_lock() would wait forever for a holder that died (nginx's
 * master only frees the slab mutexes of a dead worker), so the stripes
 * are taken with ngx_shmtx_trylock() in a loop of our own that looks for
 * a dead holder now and then.
 */

static void
ngx_beacon_offset_lock(ngx_beacon_offset_stripe_t *st)
{
    ngx_pid_t   holder;
    ngx_uint_t  i, n, tries;

    for (tries = 1; /* void */; tries++) {

        if (ngx_shmtx_trylock(&st->mutex)) {
            break;
        }

        if (ngx_ncpu > 1) {
            for (n = 1; n < NGX_BEACON_OFFSET_SPIN; n <<= 1) {

                for (i = 0; i < n; i++) {
                    ngx_cpu_pause();
                }

                if (ngx_shmtx_trylock(&st->mutex)) {
                    goto locked;
                }
            }
        }

        if (tries % NGX_BEACON_OFFSET_DEAD_CHECK == 0) {
            holder = (ngx_pid_t) *st->mutex.lock;

            if (holder > 0 && holder != ngx_pid && kill(holder, 0) == -1
                && ngx_errno == NGX_ESRCH
                && ngx_shmtx_force_unlock(&st->mutex, holder))
            {
                ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                              "Offset pairing stripe taken over from dead "
                              "process %P", holder);
                continue;
            }
        }

        ngx_sched_yield();
    }

locked:

    if (st->writing) {
        /* the dead holder left a tree half changed */

        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "Offset pairing stripe reset: a process died while "
                      "changing it; its listeners and pending Connects "
                      "are forgotten");

        ngx_rbtree_init(&st->listeners, &st->listeners_sentinel,
                        ngx_beacon_offset_insert);
        ngx_rbtree_init(&st->halves, &st->halves_sentinel,
                        ngx_beacon_offset_insert);
        st->writing = 0;
    }
}


static void
ngx_beacon_offset_unlock(ngx_beacon_offset_stripe_t *st)
{
    ngx_shmtx_unlock(&st->mutex);
}


/* the marks around a tree change, for a dead holder's successor */

static ngx_inline void
ngx_beacon_offset_wbegin(ngx_beacon_offset_stripe_t *st)
{
    *(volatile ngx_uint_t *) &st->writing = 1;
    ngx_memory_barrier();
}


static ngx_inline void
ngx_beacon_offset_wend(ngx_beacon_offset_stripe_t *st)
{
    ngx_memory_barrier();
    *(volatile ngx_uint_t *) &st->writing = 0;
}


static ngx_rbtree_key_t
ngx_beacon_offset_hash(const u_char *lpk)
{
    return ngx_murmur_hash2((u_char *) lpk, NGX_BEACON_OFFSET_PK_LEN);
}


/* total order: hash of lpk, lpk, then cpk (zero in listener entries) */

static ngx_int_t
ngx_beacon_offset_cmp(ngx_beacon_offset_node_t *a, ngx_rbtree_key_t key,
    const u_char *lpk, const u_char *cpk)
{
    ngx_int_t  rc;

    if (a->node.key != key) {
        return a->node.key < key ? -1 : 1;
    }

    rc = ngx_memcmp(a->lpk, lpk, NGX_BEACON_OFFSET_PK_LEN);
    if (rc != 0) {
        return rc;
    }

    return ngx_memcmp(a->cpk, cpk, NGX_BEACON_OFFSET_PK_LEN);
}


static void
ngx_beacon_offset_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_beacon_offset_node_t   *n, *t;

    n = (ngx_beacon_offset_node_t *) node;

    for ( ;; ) {
        t = (ngx_beacon_offset_node_t *) temp;

        p = ngx_beacon_offset_cmp(t, n->node.key, n->lpk, n->cpk) > 0
            ? &temp->left : &temp->right;

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_beacon_offset_node_t *
ngx_beacon_offset_find(ngx_rbtree_t *tree, ngx_rbtree_key_t key,
    const u_char *lpk, const u_char *cpk)
{
    ngx_int_t                  rc;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_beacon_offset_node_t  *n;

    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {
        n = (ngx_beacon_offset_node_t *) node;
        rc = ngx_beacon_offset_cmp(n, key, lpk, cpk);

        if (rc == 0) {
            return n;
        }

        node = rc > 0 ? node->left : node->right;
    }

    return NULL;
}


/*
 * Adds the entry (lpk, cpk) owned by owner to a table.  An entry already
 * there is replaced when prev is given (and prev gets its owner), else
 * refused with NGX_BUSY.  NGX_DECLINED: the zone is full.
 */

static ngx_int_t
ngx_beacon_offset_put(ngx_beacon_zone_t *z, ngx_uint_t halves,
    const u_char *lpk, const u_char *cpk, const ngx_beacon_owner_t *owner,
    ngx_beacon_owner_t *prev)
{
    ngx_int_t                    rc;
    ngx_rbtree_t                *tree;
    ngx_rbtree_key_t             key;
    ngx_beacon_offset_node_t    *n, *e;
    ngx_beacon_offset_stripe_t  *st;

    if (cpk == NULL) {
        cpk = ngx_beacon_offset_zero;
    }

    key = ngx_beacon_offset_hash(lpk);

    st = ngx_beacon_offset_stripe(z, key);
    if (st == NULL) {
        return NGX_DECLINED;
    }

    /*
     * Allocated before the stripe is locked, so that the slab mutex is
     * never taken under a stripe; when the zone is full, an entry that is
     * there can still be replaced.
     */

    n = ngx_slab_calloc(z->shpool, sizeof(ngx_beacon_offset_node_t));

    if (n) {
        ngx_memcpy(n->lpk, lpk, NGX_BEACON_OFFSET_PK_LEN);
        ngx_memcpy(n->cpk, cpk, NGX_BEACON_OFFSET_PK_LEN);
        n->owner = *owner;
        n->node.key = key;
    }

    rc = NGX_OK;
    tree = halves ? &st->halves : &st->listeners;

    ngx_beacon_offset_lock(st);

    e = ngx_beacon_offset_find(tree, key, lpk, cpk);

    if (e) {
        if (prev) {
            *prev = e->owner;
            e->owner = *owner;

        } else {
            rc = NGX_BUSY;
        }

    } else if (n) {
        ngx_beacon_offset_wbegin(st);
        ngx_rbtree_insert(tree, &n->node);
        ngx_beacon_offset_wend(st);
        n = NULL;

    } else {
        rc = NGX_DECLINED;
    }

    ngx_beacon_offset_unlock(st);

    if (n) {
        /* not needed: the entry was there */
        ngx_slab_free(z->shpool, n);
    }

    return rc;
}


/*
 * Removes the entry (lpk, cpk) if it is there and, when match is given,
 * still owned by match; its owner goes to out.  NGX_OK or NGX_DECLINED.
 */

static ngx_int_t
ngx_beacon_offset_remove(ngx_beacon_zone_t *z, ngx_uint_t halves,
    const u_char *lpk, const u_char *cpk, const ngx_beacon_owner_t *match,
    ngx_beacon_owner_t *out)
{
    ngx_rbtree_t                *tree;
    ngx_rbtree_key_t             key;
    ngx_beacon_offset_node_t    *n;
    ngx_beacon_offset_stripe_t  *st;

    if (cpk == NULL) {
        cpk = ngx_beacon_offset_zero;
    }

    key = ngx_beacon_offset_hash(lpk);

    st = ngx_beacon_offset_stripe(z, key);
    if (st == NULL) {
        return NGX_DECLINED;
    }

    tree = halves ? &st->halves : &st->listeners;

    ngx_beacon_offset_lock(st);

    n = ngx_beacon_offset_find(tree, key, lpk, cpk);

    if (n && match
        && (n->owner.pid != match->pid || n->owner.conn != match->conn))
    {
        n = NULL;
    }

    if (n) {
        if (out) {
            *out = n->owner;
        }

        ngx_beacon_offset_wbegin(st);
        ngx_rbtree_delete(tree, &n->node);
        ngx_beacon_offset_wend(st);
    }

    ngx_beacon_offset_unlock(st);

    if (n == NULL) {
        return NGX_DECLINED;
    }

    ngx_slab_free(z->shpool, n);

    return NGX_OK;
}


ngx_int_t
ngx_beacon_offset_listen(ngx_beacon_zone_t *z, const u_char *pk,
    const ngx_beacon_owner_t *owner, ngx_beacon_owner_t *prev)
{
    /* the newest authenticated Listen wins (W8) */

    ngx_memzero(prev, sizeof(ngx_beacon_owner_t));

    return ngx_beacon_offset_put(z, 0, pk, NULL, owner, prev);
}


ngx_int_t
ngx_beacon_offset_unlisten(ngx_beacon_zone_t *z, const u_char *pk,
    const ngx_beacon_owner_t *owner)
{
    return ngx_beacon_offset_remove(z, 0, pk, NULL, owner, NULL);
}


ngx_int_t
ngx_beacon_offset_listener(ngx_beacon_zone_t *z, const u_char *pk,
    ngx_beacon_owner_t *owner)
{
    ngx_int_t                    rc;
    ngx_rbtree_key_t             key;
    ngx_beacon_offset_node_t    *n;
    ngx_beacon_offset_stripe_t  *st;

    key = ngx_beacon_offset_hash(pk);

    st = ngx_beacon_offset_stripe(z, key);
    if (st == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;

    ngx_beacon_offset_lock(st);

    n = ngx_beacon_offset_find(&st->listeners, key, pk,
                               ngx_beacon_offset_zero);

    if (n) {
        *owner = n->owner;
        rc = NGX_OK;
    }

    ngx_beacon_offset_unlock(st);

    return rc;
}


ngx_int_t
ngx_beacon_offset_half_add(ngx_beacon_zone_t *z, const u_char *lpk,
    const u_char *cpk, const ngx_beacon_owner_t *owner)
{
    return ngx_beacon_offset_put(z, 1, lpk, cpk, owner, NULL);
}


ngx_int_t
ngx_beacon_offset_half_take(ngx_beacon_zone_t *z, const u_char *lpk,
    const u_char *cpk, ngx_beacon_owner_t *owner)
{
    return ngx_beacon_offset_remove(z, 1, lpk, cpk, NULL, owner);
}


void
ngx_beacon_offset_half_del(ngx_beacon_zone_t *z, const u_char *lpk,
    const u_char *cpk, const ngx_beacon_owner_t *owner)
{
    (void) ngx_beacon_offset_remove(z, 1, lpk, cpk, owner, NULL);
}


ngx_uint_t
ngx_beacon_offset_half_drop(ngx_beacon_zone_t *z, const u_char *lpk,
    ngx_beacon_owner_t *owners, ngx_uint_t max)
{
    ngx_uint_t                   n;
    ngx_rbtree_key_t             key;
    ngx_rbtree_node_t           *node, *next, *first, *sentinel, *freed;
    ngx_beacon_offset_node_t    *h;
    ngx_beacon_offset_stripe_t  *st;

    key = ngx_beacon_offset_hash(lpk);

    st = ngx_beacon_offset_stripe(z, key);
    if (st == NULL) {
        return 0;
    }

    n = 0;
    freed = NULL;

    ngx_beacon_offset_lock(st);

    /*
     * The pairs of one listener are neighbours in the order (hash, lpk,
     * cpk): the first is the least entry not below (hash, lpk, zero).
     */

    sentinel = st->halves.sentinel;
    node = st->halves.root;
    first = NULL;

    while (node != sentinel) {
        h = (ngx_beacon_offset_node_t *) node;

        if (ngx_beacon_offset_cmp(h, key, lpk, ngx_beacon_offset_zero) >= 0) {
            first = node;
            node = node->left;

        } else {
            node = node->right;
        }
    }

    ngx_beacon_offset_wbegin(st);

    for (node = first; node; node = next) {
        h = (ngx_beacon_offset_node_t *) node;

        if (node->key != key
            || ngx_memcmp(h->lpk, lpk, NGX_BEACON_OFFSET_PK_LEN) != 0)
        {
            break;
        }

        /* ngx_rbtree_delete() relinks nodes, it never moves one */
        next = ngx_rbtree_next(&st->halves, node);

        if (n < max) {
            owners[n] = h->owner;
        }

        n++;
        ngx_rbtree_delete(&st->halves, node);

        node->parent = freed;
        freed = node;
    }

    ngx_beacon_offset_wend(st);

    ngx_beacon_offset_unlock(st);

    while (freed) {
        node = freed;
        freed = node->parent;
        ngx_slab_free(z->shpool, node);
    }

    return n;
}
