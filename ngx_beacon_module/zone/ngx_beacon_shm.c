
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The beacon zone (README, "Locks"; who owns what: ngx_beacon_zone.h):
 * its creation and the check of a zone kept across a reload, the counters
 * the rooms register and their per-worker slots, the stats, the drain
 * flag, the reaping lease, the worker claims and the bridge's and the
 * Offset relay's connection admission (conn_lock: per connection or per
 * second, never per datagram), and the anchors of the tables other rooms
 * own.  The node table, the limiters and the key cache live in their own
 * files.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_zone.h"


static uint32_t ngx_beacon_counters_signature(void);


ngx_int_t
ngx_beacon_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_beacon_zone_t  *ozone = data;

    size_t              size, lim_bytes;
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

    /* each table is allocated by the file that owns it */

    lim_bytes = ngx_beacon_lim_bytes(size);

    if (ngx_beacon_nodes_init(sh, shpool, size) != NGX_OK
        || ngx_beacon_limits_init(sh, shpool, size) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_wsconn, lim_bytes) != NGX_OK
        || ngx_beacon_lim_alloc(shpool, &sh->lim_offconn, lim_bytes)
           != NGX_OK
        || ngx_beacon_keycache_init(sh, shpool, size) != NGX_OK)
    {
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
        ngx_beacon_nodes_state_load(zone, shm_zone->shm.log);
    }

    return NGX_OK;

nomem:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "beacon zone \"%V\" is too small", &shm_zone->shm.name);

    return NGX_ERROR;
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
        ngx_beacon_nodes_state_save(z);
    }

    ngx_beacon_nt_lock(&z->sh->conn_lock, ngx_beacon_self());

    if (z->sh->lease_pid == ngx_pid) {
        z->sh->lease_pid = 0;
        z->sh->lease_expires = 0;
    }

    ngx_beacon_nt_unlock(&z->sh->conn_lock);
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

    st->nodes = ngx_beacon_nodes_count(sh);
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
