
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The limiters (README, "Locks"; who owns what: ngx_beacon_zone.h): the
 * per-destination reply budgets, the per-IP register, punch and
 * auth-failure budgets and the grant replay cache, set-associative tables
 * whose every set is guarded by one of 128 limiter stripes; the global
 * punch bucket, one 64-bit word updated by compare-and-swap; and the
 * per-source relay budgets, which live in each worker's own memory.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_zone.h"


#define NGX_BEACON_BUDGET_SETS   1024         /* per-worker relay budgets */


static uint32_t ngx_beacon_lim_hash(ngx_beacon_sh_t *sh, const uint8_t *key);
static ngx_beacon_nstripe_t *ngx_beacon_lim_stripe(ngx_beacon_sh_t *sh,
    ngx_beacon_lim_t *lim, uint32_t h);
static ngx_uint_t ngx_beacon_bucket_level(uint32_t tokens, uint32_t stamp,
    ngx_uint_t fresh, ngx_uint_t rate, ngx_uint_t per, ngx_uint_t burst,
    uint32_t now);
static ngx_int_t ngx_beacon_bucket_take(uint32_t *tokens, uint32_t *stamp,
    ngx_uint_t fresh, ngx_uint_t rate, ngx_uint_t burst, uint32_t now);


/* the limiter tables this file owns (the admission tables: ngx_beacon_shm.c) */

ngx_int_t
ngx_beacon_limits_init(ngx_beacon_sh_t *sh, ngx_slab_pool_t *shpool,
    size_t size)
{
    size_t  lim_bytes;

    lim_bytes = ngx_beacon_lim_bytes(size);

    if (ngx_beacon_lim_alloc(shpool, &sh->lim_reply, lim_bytes) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_register, lim_bytes)
           != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_punch, lim_bytes) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_grant, lim_bytes) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_authfail, lim_bytes)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
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


ngx_beacon_nstripe_t *
ngx_beacon_lstripe(ngx_beacon_sh_t *sh, uint32_t set)
{
    return &sh->lstripes[set & (NGX_BEACON_LSTRIPES - 1)];
}


/* a set is always guarded by the same stripe */

static ngx_beacon_nstripe_t *
ngx_beacon_lim_stripe(ngx_beacon_sh_t *sh, ngx_beacon_lim_t *lim, uint32_t h)
{
    return ngx_beacon_lstripe(sh, h & lim->mask);
}


ngx_beacon_lim_entry_t *
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
                && ngx_beacon_age(now, set[i].stamp)
                   > ngx_beacon_age(now, victim->stamp)))
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


/*
 * The per-IP key of the limiters: the IPv4 address, or the /64 prefix of
 * an IPv6 address (one host usually owns a whole /64).
 */

void
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


/* tokens are kept in thousandths; rate tokens per "per" seconds */

static ngx_uint_t
ngx_beacon_bucket_level(uint32_t tokens, uint32_t stamp, ngx_uint_t fresh,
    ngx_uint_t rate, ngx_uint_t per, ngx_uint_t burst, uint32_t now)
{
    uint64_t  t, elapsed;

    if (fresh) {
        return burst * 1000;
    }

    elapsed = ngx_beacon_age(now, stamp);
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
ngx_beacon_register_allowed(ngx_beacon_sh_t *sh, const ngx_beacon_addr_t *src,
    ngx_beacon_rate_t *rate, uint32_t now)
{
    uint8_t                  key[18];
    ngx_int_t                rc;
    ngx_uint_t               fresh;
    ngx_beacon_nstripe_t    *st;
    ngx_beacon_lim_entry_t  *e;

    ngx_beacon_ip_key(key, src);
    st = ngx_beacon_lim_stripe(sh, &sh->lim_register,
                               ngx_beacon_lim_hash(sh, key));

    ngx_beacon_nt_lock(st, ngx_beacon_self());

    e = ngx_beacon_lim_get(sh, &sh->lim_register, key, now, &fresh);
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


/*
 * The grant replay cache for the state file: the entries not yet
 * expired, one limiter stripe held at a time.
 */

ngx_beacon_state_grant_t *
ngx_beacon_grants_copy(ngx_beacon_sh_t *sh, uint32_t *n)
{
    uint32_t                   g, i, j, sets;
    ngx_beacon_nstripe_t      *st;
    ngx_beacon_lim_entry_t    *e;
    ngx_beacon_state_grant_t  *grants;

    sets = sh->lim_grant.mask + 1;

    grants = ngx_alloc(sets * NGX_BEACON_WAYS
                       * sizeof(ngx_beacon_state_grant_t), ngx_cycle->log);
    if (grants == NULL) {
        return NULL;
    }

    g = 0;

    for (i = 0; i < sets; i++) {
        st = ngx_beacon_lstripe(sh, i);
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

    *n = g;

    return grants;
}


/* a grant of the state file, at the start of a fresh zone */

void
ngx_beacon_grants_load(ngx_beacon_sh_t *sh, ngx_beacon_state_grant_t *grant)
{
    ngx_uint_t               fresh;
    ngx_beacon_lim_entry_t  *e;

    e = ngx_beacon_lim_get(sh, &sh->lim_grant, grant->key,
                           (uint32_t) ngx_time(), &fresh);
    e->value = grant->expiry;
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


/*
 * The per-source relay budget, a fixed one-second window (spec 5.1),
 * lives in each worker: with "reuseport" one source's datagrams reach
 * one worker.  Without it, or while a reload moves sources to new
 * workers, a source may get at most one budget per worker that receives
 * from it in the same second.
 */

ngx_int_t
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
