
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_offset_state.h"




typedef struct {
    ngx_rbtree_node_t        node;        /* key: hash of lpk (and cpk) */
    ngx_beacon_owner_t       owner;
    u_char                   lpk[NGX_BEACON_OFFSET_PK_LEN];
    /* half-tunnels only */
    u_char                   cpk[NGX_BEACON_OFFSET_PK_LEN];
} ngx_beacon_offset_node_t;


struct ngx_beacon_offset_sh_s {
    ngx_rbtree_t             listeners;
    ngx_rbtree_node_t        listeners_sentinel;
    ngx_rbtree_t             halves;
    ngx_rbtree_node_t        halves_sentinel;
};


static ngx_beacon_offset_sh_t *ngx_beacon_offset_sh_locked(
    ngx_beacon_zone_t *z);
static void ngx_beacon_offset_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_beacon_offset_cmp(ngx_beacon_offset_node_t *a,
    ngx_rbtree_key_t key, const u_char *lpk, const u_char *cpk);
static ngx_beacon_offset_node_t *ngx_beacon_offset_find(ngx_rbtree_t *tree,
    const u_char *lpk, const u_char *cpk);
static ngx_rbtree_key_t ngx_beacon_offset_hash(const u_char *lpk,
    const u_char *cpk);
static ngx_int_t ngx_beacon_offset_put(ngx_beacon_zone_t *z,
    ngx_uint_t halves, const u_char *lpk, const u_char *cpk,
    const ngx_beacon_owner_t *owner, ngx_beacon_owner_t *prev);
static ngx_int_t ngx_beacon_offset_remove(ngx_beacon_zone_t *z,
    ngx_uint_t halves, const u_char *lpk, const u_char *cpk,
    const ngx_beacon_owner_t *match, ngx_beacon_owner_t *out);


static ngx_beacon_offset_sh_t *
ngx_beacon_offset_sh_locked(ngx_beacon_zone_t *z)
{
    ngx_beacon_offset_sh_t  *osh, **anchor;

    anchor = ngx_beacon_shm_offset(z);

    if (*anchor) {
        return *anchor;
    }

    osh = ngx_slab_calloc_locked(z->shpool, sizeof(ngx_beacon_offset_sh_t));
    if (osh == NULL) {
        return NULL;
    }

    ngx_rbtree_init(&osh->listeners, &osh->listeners_sentinel,
                    ngx_beacon_offset_insert);
    ngx_rbtree_init(&osh->halves, &osh->halves_sentinel,
                    ngx_beacon_offset_insert);

    *anchor = osh;

    return osh;
}


static ngx_rbtree_key_t
ngx_beacon_offset_hash(const u_char *lpk, const u_char *cpk)
{
    uint32_t  h;

    h = ngx_murmur_hash2((u_char *) lpk, NGX_BEACON_OFFSET_PK_LEN);

    if (cpk) {
        h ^= ngx_murmur_hash2((u_char *) cpk,
            NGX_BEACON_OFFSET_PK_LEN) * 0x9e3779b1;
    }

    return h;
}


/* total order: hash, then the keys (cpk is zero in listener entries) */

static ngx_int_t
ngx_beacon_offset_cmp(ngx_beacon_offset_node_t *a, ngx_rbtree_key_t key,
    const u_char *lpk, const u_char *cpk)
{
    ngx_int_t  rc;

    if (a->node.key != key) {
        return a->node.key < key ? -1 : 1;
    }

    rc = ngx_memcmp(a->lpk, lpk, NGX_BEACON_OFFSET_PK_LEN);
    if (rc != 0 || cpk == NULL) {
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
ngx_beacon_offset_find(ngx_rbtree_t *tree, const u_char *lpk,
    const u_char *cpk)
{
    ngx_int_t                  rc;
    ngx_rbtree_key_t           key;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_beacon_offset_node_t  *n;
    static const u_char        zero[NGX_BEACON_OFFSET_PK_LEN];

    key = ngx_beacon_offset_hash(lpk, cpk);
    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {
        n = (ngx_beacon_offset_node_t *) node;
        rc = ngx_beacon_offset_cmp(n, key, lpk, cpk ? cpk : zero);

        if (rc == 0) {
            return n;
        }

        node = rc > 0 ? node->left : node->right;
    }

    return NULL;
}


/*
 * Adds the entry (lpk, cpk) owned by owner to a tree, under the lock.  An
 * entry already there is replaced when prev is given (and prev gets its
 * owner), else refused with NGX_BUSY.  NGX_DECLINED: the zone is full.
 */

static ngx_int_t
ngx_beacon_offset_put(ngx_beacon_zone_t *z, ngx_uint_t halves,
    const u_char *lpk, const u_char *cpk, const ngx_beacon_owner_t *owner,
    ngx_beacon_owner_t *prev)
{
    ngx_int_t                  rc;
    ngx_rbtree_t              *tree;
    ngx_beacon_offset_sh_t    *osh;
    ngx_beacon_offset_node_t  *n;

    rc = NGX_OK;

    ngx_shmtx_lock(&z->shpool->mutex);

    osh = ngx_beacon_offset_sh_locked(z);
    if (osh == NULL) {
        rc = NGX_DECLINED;
        goto done;
    }

    tree = halves ? &osh->halves : &osh->listeners;
    n = ngx_beacon_offset_find(tree, lpk, cpk);

    if (n) {
        if (prev) {
            *prev = n->owner;
            n->owner = *owner;

        } else {
            rc = NGX_BUSY;
        }

        goto done;
    }

    n = ngx_slab_calloc_locked(z->shpool, sizeof(ngx_beacon_offset_node_t));
    if (n == NULL) {
        rc = NGX_DECLINED;
        goto done;
    }

    ngx_memcpy(n->lpk, lpk, NGX_BEACON_OFFSET_PK_LEN);

    if (cpk) {
        ngx_memcpy(n->cpk, cpk, NGX_BEACON_OFFSET_PK_LEN);
    }

    n->owner = *owner;
    n->node.key = ngx_beacon_offset_hash(lpk, cpk);

    ngx_rbtree_insert(tree, &n->node);

done:

    ngx_shmtx_unlock(&z->shpool->mutex);

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
    ngx_int_t                  rc;
    ngx_rbtree_t              *tree;
    ngx_beacon_offset_sh_t    *osh;
    ngx_beacon_offset_node_t  *n;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&z->shpool->mutex);

    osh = ngx_beacon_offset_sh_locked(z);

    if (osh) {
        tree = halves ? &osh->halves : &osh->listeners;
        n = ngx_beacon_offset_find(tree, lpk, cpk);

        if (n && (match == NULL
                  || (n->owner.pid == match->pid
                      && n->owner.conn == match->conn)))
        {
            if (out) {
                *out = n->owner;
            }

            ngx_rbtree_delete(tree, &n->node);
            ngx_slab_free_locked(z->shpool, n);
            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
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
    ngx_int_t                  rc;
    ngx_beacon_offset_sh_t    *osh;
    ngx_beacon_offset_node_t  *n;

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&z->shpool->mutex);

    osh = ngx_beacon_offset_sh_locked(z);

    if (osh) {
        n = ngx_beacon_offset_find(&osh->listeners, pk, NULL);

        if (n) {
            *owner = n->owner;
            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

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
    ngx_uint_t                 n;
    ngx_rbtree_node_t         *node, *next, *sentinel;
    ngx_beacon_offset_sh_t    *osh;
    ngx_beacon_offset_node_t  *h;

    n = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    osh = ngx_beacon_offset_sh_locked(z);

    if (osh == NULL || osh->halves.root == osh->halves.sentinel) {
        goto done;
    }

    /* the pairs of one listener hash apart: a walk, bounded by the
     * half-tunnels pending right now (each lives half_tunnel_timeout) */

    sentinel = osh->halves.sentinel;
    node = ngx_rbtree_min(osh->halves.root, sentinel);

    while (node) {
        next = ngx_rbtree_next(&osh->halves, node);
        h = (ngx_beacon_offset_node_t *) node;

        if (ngx_memcmp(h->lpk, lpk, NGX_BEACON_OFFSET_PK_LEN) == 0) {
            if (n < max) {
                owners[n] = h->owner;
            }

            n++;
            ngx_rbtree_delete(&osh->halves, node);
            ngx_slab_free_locked(z->shpool, h);
        }

        node = next;
    }

done:

    ngx_shmtx_unlock(&z->shpool->mutex);

    return n;
}
