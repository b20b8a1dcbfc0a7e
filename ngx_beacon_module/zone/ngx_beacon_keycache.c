
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The bridge's key cache (who owns what: ngx_beacon_zone.h): node id to
 * Ed25519 key, or known absent, with an expiry; 4-way sets, each guarded
 * by the limiter stripe of its set (ngx_beacon_lstripe()).
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_zone.h"


/* the bridge's key cache: node id -> Ed25519 key (or known absent) */
struct ngx_beacon_keyc_s {
    uint32_t                 node_id;
    uint32_t                 expires;        /* ngx_time() */
    uint32_t                 used;           /* 1 key, 2 absent */
    uint8_t                  key[NGX_BEACON_KEY_LEN];
};


ngx_int_t
ngx_beacon_keycache_init(ngx_beacon_sh_t *sh, ngx_slab_pool_t *shpool,
    size_t size)
{
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
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_beacon_shm_key_get(ngx_beacon_zone_t *z, uint32_t node_id, uint8_t *key)
{
    uint32_t               now, i, h;
    ngx_int_t              rc;
    ngx_beacon_sh_t       *sh;
    ngx_beacon_keyc_t     *set;
    ngx_beacon_nstripe_t  *st;

    sh = z->sh;
    now = (uint32_t) ngx_time();
    rc = NGX_AGAIN;

    h = ngx_beacon_nt_hash(node_id, sh->nt.seed) & sh->keyc_mask;
    st = ngx_beacon_lstripe(sh, h);

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
    ngx_beacon_keyc_t     *set, *victim;
    ngx_beacon_nstripe_t  *st;

    sh = z->sh;
    now = (uint32_t) ngx_time();

    h = ngx_beacon_nt_hash(node_id, sh->nt.seed) & sh->keyc_mask;
    st = ngx_beacon_lstripe(sh, h);

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
