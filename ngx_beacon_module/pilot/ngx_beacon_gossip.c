
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_gossip.h"


#define NGX_BEACON_GOSSIP_BATCH       512


typedef struct {
    uint32_t                 node_id;
    uint32_t                 next;           /* index + 1 */
    uint16_t                 src;            /* index + 1, 0 = free */
    uint16_t                 gen;
} ngx_beacon_route_t;


typedef struct {
    uint8_t                  ip[16];
    uint16_t                 port;
    uint16_t                 gen;
    uint32_t                 beacon_id;
    uint32_t                 last;           /* ngx_current_msec */
    uint32_t                 used;
    ngx_atomic_t             forwarded;
} ngx_beacon_gsrc_t;


struct ngx_beacon_gossip_s {
    uint32_t                 bits;
    uint32_t                 nroutes_max;
    uint32_t                 free;
    uint32_t                 sweep;
    uint32_t                 nroutes;
    uint32_t                *buckets;
    ngx_beacon_route_t      *routes;
    ngx_beacon_gsrc_t        src[NGX_BEACON_GOSSIP_SOURCES];
    ngx_uint_t               ndiscovered;
    ngx_beacon_addr_t        discovered[NGX_BEACON_GOSSIP_DISCOVERED];
};


static ngx_beacon_gossip_t *ngx_beacon_gossip_locked(ngx_beacon_zone_t *z);
static ngx_inline uint32_t ngx_beacon_gossip_hash(ngx_beacon_gossip_t *g,
    uint32_t node_id);
static ngx_inline ngx_uint_t ngx_beacon_gossip_live(ngx_beacon_gossip_t *g,
    ngx_beacon_route_t *r, uint32_t now);
static ngx_beacon_gsrc_t *ngx_beacon_gossip_find_src(ngx_beacon_gossip_t *g,
    const ngx_beacon_addr_t *addr, uint32_t now);
static ngx_uint_t ngx_beacon_gossip_listed_locked(ngx_beacon_gossip_t *g,
    const ngx_beacon_addr_t *addr);
static void ngx_beacon_gossip_sweep_locked(ngx_beacon_gossip_t *g,
    ngx_uint_t max, uint32_t now);
static ngx_uint_t ngx_beacon_gossip_configured(ngx_beacon_gossip_conf_t *gc,
    const ngx_beacon_addr_t *addr);


/* this worker's SYNC scratch: a round's ids, one datagram, the peers */
static uint32_t           *ngx_beacon_gossip_ids;
static u_char             *ngx_beacon_gossip_buf;
static ngx_beacon_addr_t   ngx_beacon_gossip_peers[2 * 64];


ngx_int_t
ngx_beacon_gossip_init_worker(ngx_cycle_t *cycle)
{
    ngx_beacon_gossip_ids = ngx_palloc(cycle->pool,
                                       NGX_BEACON_GOSSIP_CHUNKS
                                       * NGX_BEACON_GOSSIP_MAX_IDS
                                       * sizeof(uint32_t));
    ngx_beacon_gossip_buf = ngx_palloc(cycle->pool,
                                       NGX_BEACON_SYNC_HDR_LEN
                                       + 4 * NGX_BEACON_GOSSIP_MAX_IDS
                                       + NGX_BEACON_SYNC_AUTH_LEN);

    if (ngx_beacon_gossip_ids == NULL || ngx_beacon_gossip_buf == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The zone's node ids (bridged ones included) to every peer of the
 * server.  One SYNC holds 16375 ids at most (W9); a server with several
 * listeners sends the next 16375 from its next listener, and so on: a
 * reference receiver takes each source address as its own gossip source
 * (no chunk replaces another) and forwards relays for those ids to the
 * listener that announced them.
 */

void
ngx_beacon_gossip_round(ngx_beacon_gossip_conf_t *gc, ngx_beacon_zone_t *z,
    ngx_beacon_sock_t *bs)
{
    size_t              len;
    ngx_uint_t          j, k, c, n, total, nsocks, nf;
    ngx_beacon_ep_t     ep;
    ngx_beacon_addr_t  *peers;
    ngx_beacon_sock_t  *socks, *from[NGX_BEACON_GOSSIP_CHUNKS];

    if (ngx_beacon_gossip_ids == NULL) {
        return;
    }

    socks = ngx_beacon_udp_socks(&nsocks);

    total = ngx_beacon_shm_node_ids(z, ngx_beacon_gossip_ids,
                                    NGX_BEACON_GOSSIP_CHUNKS
                                    * NGX_BEACON_GOSSIP_MAX_IDS);

    /* the static peers, then those the registry lists (W16) */

    peers = ngx_beacon_gossip_peers;
    n = 0;

    if (gc->peers) {
        n = ngx_min(gc->peers->nelts, NGX_BEACON_GOSSIP_DISCOVERED);
        ngx_memcpy(peers, gc->peers->elts, n * sizeof(ngx_beacon_addr_t));
    }

    n += ngx_beacon_gossip_discovered(z, peers + n,
                                      NGX_BEACON_GOSSIP_DISCOVERED);

    for (k = 0; k < n; k++) {

        for (j = 0; j < k; j++) {
            if (peers[j].port == peers[k].port
                && ngx_memcmp(peers[j].ip, peers[k].ip, 16) == 0)
            {
                break;
            }
        }

        if (j < k) {
            continue;
        }

        /* this server's listeners of the peer's family, in order */

        nf = 0;

        for (j = 0; j < nsocks && nf < NGX_BEACON_GOSSIP_CHUNKS; j++) {
            if (socks[j].conf == bs->conf
                && (socks[j].family == AF_INET)
                   == ngx_beacon_addr_is_v4(&peers[k]))
            {
                from[nf++] = &socks[j];
            }
        }

        if (nf == 0) {
            ngx_memzero(&ep, sizeof(ngx_beacon_ep_t));
            ep.local = bs->local;
            ep.flags = ngx_beacon_addr_is_v4(&peers[k])
                       ? 0 : NGX_BEACON_NODE_LV6;
            from[0] = ngx_beacon_udp_sock_for(&ep);

            if (from[0] == NULL) {
                continue;
            }

            nf = 1;
        }

        for (c = 0;
             c == 0 || (c < nf && c * NGX_BEACON_GOSSIP_MAX_IDS < total);
             c++)
        {
            len = ngx_beacon_encode_sync(ngx_beacon_gossip_buf,
                                         NGX_BEACON_SYNC_HDR_LEN
                                         + 4 * NGX_BEACON_GOSSIP_MAX_IDS,
                                         (uint32_t) gc->beacon_id,
                                         ngx_beacon_gossip_ids
                                         + c * NGX_BEACON_GOSSIP_MAX_IDS,
                                         (uint16_t) ngx_min(total
                                             - c * NGX_BEACON_GOSSIP_MAX_IDS,
                                             NGX_BEACON_GOSSIP_MAX_IDS));

            if (gc->key) {
                len += ngx_beacon_sync_auth(ngx_beacon_gossip_buf + len,
                                            ngx_beacon_gossip_buf, len,
                                            gc->key, (int64_t) ngx_time());
            }

            ngx_beacon_udp_send(z, NGX_BEACON_OUT_REPLY, from[c], &peers[k],
                                NULL, ngx_beacon_gossip_buf,
                                NGX_BEACON_SYNC_HDR_LEN,
                                ngx_beacon_gossip_buf
                                + NGX_BEACON_SYNC_HDR_LEN,
                                len - NGX_BEACON_SYNC_HDR_LEN);
            ngx_beacon_udp_flush();
            ngx_beacon_count(z, NGX_BEACON_C_SYNC_SENT);
        }
    }
}


ngx_int_t
ngx_beacon_gossip_receive(ngx_beacon_gossip_conf_t *gc, ngx_beacon_zone_t *z,
    const ngx_beacon_msg_t *msg, const ngx_beacon_addr_t *src,
    const u_char *buf, size_t len)
{
    ngx_beacon_count(z, NGX_BEACON_C_SYNC_RECEIVED);

    /* strict: only configured peers, IP and port both (W7) */

    if (gc->strict && !ngx_beacon_gossip_configured(gc, src)) {
        ngx_beacon_count(z, NGX_BEACON_C_SYNC_REJECTED);
        return NGX_DECLINED;
    }

    if (ngx_beacon_sync_check(buf, len, msg, gc->key, (int64_t) ngx_time(),
                              NGX_BEACON_GOSSIP_SYNC_WINDOW)
        != 0)
    {
        ngx_beacon_count(z, NGX_BEACON_C_SYNC_REJECTED);
        return NGX_DECLINED;
    }

    if (ngx_beacon_gossip_sync(z, src, msg->beacon_id, msg->ids, msg->count)
        != NGX_OK)
    {
        ngx_beacon_count(z, NGX_BEACON_C_SYNC_REJECTED);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_beacon_gossip_is_peer(void *data, ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t any_source)
{
    ngx_beacon_gossip_conf_t  *gc = data;

    if (ngx_beacon_gossip_configured(gc, src)) {
        return 1;
    }

    return any_source ? ngx_beacon_gossip_is_source(z, src)
                      : ngx_beacon_gossip_is_discovered(z, src);
}


/* a configured peer (beacon_peers), IP and port both */

static ngx_uint_t
ngx_beacon_gossip_configured(ngx_beacon_gossip_conf_t *gc,
    const ngx_beacon_addr_t *addr)
{
    ngx_uint_t          i;
    ngx_beacon_addr_t  *p;

    if (gc->peers == NULL) {
        return 0;
    }

    p = gc->peers->elts;

    for (i = 0; i < gc->peers->nelts; i++) {
        if (p[i].port == addr->port && ngx_memcmp(p[i].ip, addr->ip, 16) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* made on first use, so zones that never gossip pay nothing */

static ngx_beacon_gossip_t *
ngx_beacon_gossip_locked(ngx_beacon_zone_t *z)
{
    uint32_t              i;
    ngx_beacon_gossip_t  *g, **anchor;

    anchor = ngx_beacon_shm_gossip(z);

    if (*anchor) {
        return *anchor;
    }

    g = ngx_slab_calloc_locked(z->shpool, sizeof(ngx_beacon_gossip_t));
    if (g == NULL) {
        return NULL;
    }

    /* routes take at most 1/32 of the zone, 1024 to 65536 of them */

    g->bits = 10;

    while (g->bits < 16
           && ((size_t) 2 << g->bits) * (sizeof(ngx_beacon_route_t) + 4)
              <= z->shm_zone->shm.size / 32)
    {
        g->bits++;
    }

    g->nroutes_max = (uint32_t) 1 << g->bits;

    g->buckets = ngx_slab_calloc_locked(z->shpool,
                                        ((size_t) 1 << g->bits)
                                        * sizeof(uint32_t));
    g->routes = ngx_slab_calloc_locked(z->shpool,
                                       (size_t) g->nroutes_max
                                       * sizeof(ngx_beacon_route_t));

    if (g->buckets == NULL || g->routes == NULL) {
        if (g->buckets) {
            ngx_slab_free_locked(z->shpool, g->buckets);
        }

        if (g->routes) {
            ngx_slab_free_locked(z->shpool, g->routes);
        }

        ngx_slab_free_locked(z->shpool, g);
        return NULL;
    }

    for (i = g->nroutes_max; i > 0; i--) {
        g->routes[i - 1].next = g->free;
        g->free = i;
    }

    *anchor = g;

    return g;
}


static ngx_inline uint32_t
ngx_beacon_gossip_hash(ngx_beacon_gossip_t *g, uint32_t node_id)
{
    node_id ^= node_id >> 16;
    node_id *= 0x7feb352d;
    node_id ^= node_id >> 15;
    node_id *= 0x846ca68b;
    node_id ^= node_id >> 16;

    return node_id >> (32 - g->bits);
}


static ngx_inline ngx_uint_t
ngx_beacon_gossip_live(ngx_beacon_gossip_t *g, ngx_beacon_route_t *r,
    uint32_t now)
{
    ngx_beacon_gsrc_t  *s;

    if (r->src == 0) {
        return 0;
    }

    s = &g->src[r->src - 1];

    return s->used && s->gen == r->gen
           && (uint32_t) (now - s->last) < NGX_BEACON_GOSSIP_TTL;
}


static ngx_beacon_gsrc_t *
ngx_beacon_gossip_find_src(ngx_beacon_gossip_t *g,
    const ngx_beacon_addr_t *addr, uint32_t now)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_BEACON_GOSSIP_SOURCES; i++) {
        if (g->src[i].used
            && g->src[i].port == addr->port
            && ngx_memcmp(g->src[i].ip, addr->ip, 16) == 0
            && (uint32_t) (now - g->src[i].last) < NGX_BEACON_GOSSIP_TTL)
        {
            return &g->src[i];
        }
    }

    return NULL;
}


/* addr is in the peer set the registry listed */

static ngx_uint_t
ngx_beacon_gossip_listed_locked(ngx_beacon_gossip_t *g,
    const ngx_beacon_addr_t *addr)
{
    ngx_uint_t  i;

    for (i = 0; i < g->ndiscovered; i++) {
        if (g->discovered[i].port == addr->port
            && ngx_memcmp(g->discovered[i].ip, addr->ip, 16) == 0)
        {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_beacon_gossip_sync(ngx_beacon_zone_t *z, const ngx_beacon_addr_t *src,
    uint32_t beacon_id, const u_char *ids, ngx_uint_t n)
{
    uint32_t              now, id, idx, *bucket, h;
    uint16_t              gen, si;
    ngx_uint_t            i, j, full;
    ngx_beacon_gsrc_t    *s;
    ngx_beacon_route_t   *r;
    ngx_beacon_gossip_t  *g;

    now = (uint32_t) ngx_current_msec;

    ngx_shmtx_lock(&z->shpool->mutex);

    g = ngx_beacon_gossip_locked(z);
    if (g == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_BUSY;
    }

    /* the sender's slot: the same IP and port, else a free or dead one */

    s = NULL;

    for (i = 0; i < NGX_BEACON_GOSSIP_SOURCES; i++) {
        if (g->src[i].used
            && g->src[i].port == src->port
            && ngx_memcmp(g->src[i].ip, src->ip, 16) == 0)
        {
            s = &g->src[i];
            break;
        }
    }

    if (s == NULL) {
        for (i = 0; i < NGX_BEACON_GOSSIP_SOURCES; i++) {
            if (!g->src[i].used
                || (uint32_t) (now - g->src[i].last) >= NGX_BEACON_GOSSIP_TTL)
            {
                s = &g->src[i];
                ngx_memcpy(s->ip, src->ip, 16);
                s->port = src->port;
                s->forwarded = 0;
                s->used = 1;
                break;
            }
        }
    }

    if (s == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_BUSY;
    }

    /* replace, never merge: every older route of this source dies now */

    s->gen++;
    s->last = now;
    s->beacon_id = beacon_id;

    gen = s->gen;
    si = (uint16_t) (s - g->src + 1);
    full = 0;

    ngx_shmtx_unlock(&z->shpool->mutex);

    /* install in batches, so no lock is held for a whole 16k-id SYNC */

    for (i = 0; i < n && !full; /* void */ ) {

        ngx_shmtx_lock(&z->shpool->mutex);

        for (j = 0; j < NGX_BEACON_GOSSIP_BATCH && i < n; j++, i++) {
            id = ngx_beacon_get32(ids + 4 * i);

            /* our own nodes are ours, whatever others say */

            if (ngx_beacon_shm_has_node(z, id)) {
                continue;
            }

            h = ngx_beacon_gossip_hash(g, id);
            bucket = &g->buckets[h];
            r = NULL;

            for (idx = *bucket; idx; idx = r->next) {
                r = &g->routes[idx - 1];

                if (r->node_id == id) {
                    break;
                }
            }

            if (idx == 0) {
                if (g->free == 0) {
                    ngx_beacon_gossip_sweep_locked(g, 256, now);
                }

                if (g->free == 0) {
                    full = 1;
                    break;
                }

                idx = g->free;
                r = &g->routes[idx - 1];
                g->free = r->next;

                r->node_id = id;
                r->next = *bucket;
                *bucket = idx;
                g->nroutes++;
            }

            r->src = si;
            r->gen = gen;
        }

        ngx_shmtx_unlock(&z->shpool->mutex);
    }

    if (full) {
        ngx_beacon_count(z, NGX_BEACON_C_ROUTES_FULL);
    }

    return NGX_OK;
}


ngx_int_t
ngx_beacon_gossip_route(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_addr_t *peer, ngx_uint_t *slot)
{
    uint32_t              idx, now;
    ngx_int_t             rc;
    ngx_beacon_gsrc_t    *s;
    ngx_beacon_route_t   *r;
    ngx_beacon_gossip_t  *g;

    g = *ngx_beacon_shm_gossip(z);

    if (g == NULL) {
        return NGX_DECLINED;
    }

    now = (uint32_t) ngx_current_msec;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (idx = g->buckets[ngx_beacon_gossip_hash(g, node_id)];
         idx;
         idx = r->next)
    {
        r = &g->routes[idx - 1];

        if (r->node_id != node_id) {
            continue;
        }

        if (ngx_beacon_gossip_live(g, r, now)) {
            s = &g->src[r->src - 1];
            ngx_memcpy(peer->ip, s->ip, 16);
            peer->port = s->port;
            *slot = r->src - 1;
            rc = NGX_OK;
        }

        break;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_uint_t
ngx_beacon_gossip_is_source(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr)
{
    ngx_uint_t            rc;
    ngx_beacon_gossip_t  *g;

    g = *ngx_beacon_shm_gossip(z);

    if (g == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    rc = ngx_beacon_gossip_find_src(g, addr, (uint32_t) ngx_current_msec)
         != NULL
         || ngx_beacon_gossip_listed_locked(g, addr);

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_beacon_gossip_set_discovered(ngx_beacon_zone_t *z,
    ngx_beacon_addr_t *peers, ngx_uint_t n)
{
    ngx_beacon_gossip_t  *g;

    if (n > NGX_BEACON_GOSSIP_DISCOVERED) {
        n = NGX_BEACON_GOSSIP_DISCOVERED;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    g = ngx_beacon_gossip_locked(z);

    if (g) {
        ngx_memcpy(g->discovered, peers, n * sizeof(ngx_beacon_addr_t));
        g->ndiscovered = n;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    /* no room in the zone for the gossip state: say so */

    return g ? NGX_OK : NGX_ERROR;
}


ngx_uint_t
ngx_beacon_gossip_discovered(ngx_beacon_zone_t *z, ngx_beacon_addr_t *peers,
    ngx_uint_t max)
{
    ngx_uint_t            n;
    ngx_beacon_gossip_t  *g;

    g = *ngx_beacon_shm_gossip(z);

    if (g == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_min(g->ndiscovered, max);
    ngx_memcpy(peers, g->discovered, n * sizeof(ngx_beacon_addr_t));

    ngx_shmtx_unlock(&z->shpool->mutex);

    return n;
}


ngx_uint_t
ngx_beacon_gossip_sources(ngx_beacon_zone_t *z,
    ngx_beacon_gossip_source_t *out, ngx_uint_t max, ngx_uint_t *routes)
{
    uint32_t              now, i;
    ngx_uint_t            n, map[NGX_BEACON_GOSSIP_SOURCES];
    ngx_beacon_gossip_t  *g;

    *routes = 0;

    g = *ngx_beacon_shm_gossip(z);

    if (g == NULL) {
        return 0;
    }

    now = (uint32_t) ngx_current_msec;
    n = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (i = 0; i < NGX_BEACON_GOSSIP_SOURCES; i++) {
        map[i] = max;

        if (n == max
            || !g->src[i].used
            || (uint32_t) (now - g->src[i].last) >= NGX_BEACON_GOSSIP_TTL)
        {
            continue;
        }

        map[i] = n;

        ngx_memcpy(out[n].addr.ip, g->src[i].ip, 16);
        out[n].addr.port = g->src[i].port;
        out[n].beacon_id = g->src[i].beacon_id;
        out[n].age = (uint32_t) (now - g->src[i].last);
        out[n].forwarded = g->src[i].forwarded;
        out[n].routes = 0;
        n++;
    }

    /* live routes per source: a walk, fine for a status page */

    for (i = 0; i < g->nroutes_max; i++) {
        if (ngx_beacon_gossip_live(g, &g->routes[i], now)) {
            (*routes)++;

            if (map[g->routes[i].src - 1] < max) {
                out[map[g->routes[i].src - 1]].routes++;
            }
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return n;
}


void
ngx_beacon_gossip_sweep(ngx_beacon_zone_t *z, ngx_uint_t max)
{
    ngx_beacon_gossip_t  *g;

    g = *ngx_beacon_shm_gossip(z);

    if (g == NULL) {
        return;
    }

    ngx_shmtx_lock(&z->shpool->mutex);
    ngx_beacon_gossip_sweep_locked(g, max, (uint32_t) ngx_current_msec);
    ngx_shmtx_unlock(&z->shpool->mutex);
}


/* frees up to max dead routes, walking the records round-robin */

static void
ngx_beacon_gossip_sweep_locked(ngx_beacon_gossip_t *g, ngx_uint_t max,
    uint32_t now)
{
    uint32_t             *link;
    ngx_uint_t            n;
    ngx_beacon_route_t   *r, *p;

    for (n = 0; n < max; n++) {
        g->sweep = (g->sweep + 1) % g->nroutes_max;
        r = &g->routes[g->sweep];

        if (r->src == 0 || ngx_beacon_gossip_live(g, r, now)) {
            continue;
        }

        link = &g->buckets[ngx_beacon_gossip_hash(g, r->node_id)];

        while (*link && *link != g->sweep + 1) {
            p = &g->routes[*link - 1];
            link = &p->next;
        }

        if (*link) {
            *link = r->next;
        }

        r->src = 0;
        r->node_id = 0;
        r->next = g->free;
        g->free = g->sweep + 1;
        g->nroutes--;
    }
}


void
ngx_beacon_gossip_forwarded(ngx_beacon_zone_t *z, ngx_uint_t slot)
{
    ngx_beacon_gossip_t  *g;

    g = *ngx_beacon_shm_gossip(z);

    if (g && slot < NGX_BEACON_GOSSIP_SOURCES) {
        (void) ngx_atomic_fetch_add(&g->src[slot].forwarded, 1);
    }
}


ngx_uint_t
ngx_beacon_gossip_is_discovered(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr)
{
    ngx_uint_t            rc;
    ngx_beacon_gossip_t  *g;

    g = *ngx_beacon_shm_gossip(z);

    if (g == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&z->shpool->mutex);
    rc = ngx_beacon_gossip_listed_locked(g, addr);
    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}
