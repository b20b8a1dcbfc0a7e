
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The gossip room: SYNC rounds, received SYNCs, the peer set, and the
 * route table in the zone.
 *
 * Who may touch what:
 *   - The route table (ngx_beacon_gtab.c, anchored by the typed
 *     ngx_beacon_shm_gossip()) is this file's alone: nothing else reads
 *     or writes its memory, its locks or its counts; other rooms ask
 *     through ngx_beacon_gossip.h and get plain values back.
 *   - Its memory comes from the zone's slab once, on first use, under
 *     the slab mutex (the only time this room takes that mutex), and is
 *     never freed while the zone lives.
 *   - Readers take no lock: route lookups (the relay router's tier 2),
 *     the peer tests (is this source a gossip source, a listed peer?)
 *     read seqlocked records and retry; only after 64 failed tries, when
 *     writers keep the record busy or one died in it, a reader waits for
 *     the table's lock.
 *   - Writers take the table's own lock word (one, not the slab mutex):
 *     a SYNC's generation and each batch of 512 of its ids, the sweep of
 *     the lease holder (4096 buckets a second, 256 at a time when a SYNC
 *     finds no free record), a new peer set from the registry.  Nothing
 *     inside the lock logs, allocates or makes a syscall; node presence
 *     (ngx_beacon_shm_has_node()) is checked before it is taken.
 *   - Counters: sync_received, sync_rejected, sync_sent, routes_full
 *     (per-worker slots of the zone, ngx_beacon_count()); per source,
 *     the routes of its generation and the relays forwarded along them,
 *     kept in the table.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_gossip.h"
#include "ngx_beacon_gtab.h"


#define NGX_BEACON_GOSSIP_BATCH       512


/* the route table in the zone (ngx_beacon_shm_gossip() anchors it) */
struct ngx_beacon_gossip_s {
    ngx_beacon_gtab_t        gt;
};


#define NGX_BEACON_GOSSIP_ADDR_LEN    64

#define NGX_BEACON_GOSSIP_SWEEP_STEP  256


static ngx_beacon_gossip_t *ngx_beacon_gossip_get(ngx_beacon_zone_t *z);
static ngx_beacon_gossip_t *ngx_beacon_gossip_create(ngx_beacon_zone_t *z);
static const char *ngx_beacon_gossip_install(ngx_beacon_zone_t *z,
    const ngx_beacon_msg_t *msg, const ngx_beacon_addr_t *src);
#if (NGX_DEBUG)
static char *ngx_beacon_gossip_text(const ngx_beacon_addr_t *addr,
    u_char *buf);
#endif
static ngx_uint_t ngx_beacon_gossip_configured(ngx_beacon_gossip_conf_t *gc,
    const ngx_beacon_addr_t *addr);


/*
 * This worker's SYNC scratch: a round's ids, one datagram, the peers (the
 * configured ones, at most 64, and the 64 the registry lists).
 */
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
    ngx_uint_t          j, k, c, n, total, nsocks, nf, nids;
    ngx_beacon_ep_t     ep;
    ngx_beacon_addr_t  *peers;
    ngx_beacon_sock_t  *socks, *from[NGX_BEACON_GOSSIP_CHUNKS];
#if (NGX_DEBUG)
    u_char              text[NGX_BEACON_GOSSIP_ADDR_LEN];
    u_char              ftext[NGX_BEACON_GOSSIP_ADDR_LEN];
#endif

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
            nids = ngx_min(total - c * NGX_BEACON_GOSSIP_MAX_IDS,
                           NGX_BEACON_GOSSIP_MAX_IDS);

            len = ngx_beacon_encode_sync(ngx_beacon_gossip_buf,
                                         NGX_BEACON_SYNC_HDR_LEN
                                         + 4 * NGX_BEACON_GOSSIP_MAX_IDS,
                                         (uint32_t) gc->beacon_id,
                                         ngx_beacon_gossip_ids
                                         + c * NGX_BEACON_GOSSIP_MAX_IDS,
                                         (uint16_t) nids);

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

            ngx_log_debug5(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                           "beacon gossip SYNC to %s from %s beacon %i: "
                           "%ui ids%s",
                           ngx_beacon_gossip_text(&peers[k], text),
                           ngx_beacon_gossip_text(&from[c]->local, ftext),
                           gc->beacon_id, nids,
                           gc->key ? " (signed)" : "");
        }
    }
}


ngx_int_t
ngx_beacon_gossip_receive(ngx_beacon_gossip_conf_t *gc, ngx_beacon_zone_t *z,
    const ngx_beacon_msg_t *msg, const ngx_beacon_addr_t *src,
    const u_char *buf, size_t len)
{
    const char  *reason;

    ngx_beacon_count(z, NGX_BEACON_C_SYNC_RECEIVED);

    /* strict: only configured peers, IP and port both (W7) */

    if (gc->strict && !ngx_beacon_gossip_configured(gc, src)) {
        reason = "not a configured peer (beacon_gossip_strict)";
        goto rejected;
    }

    if (ngx_beacon_sync_check(buf, len, msg, gc->key, (int64_t) ngx_time(),
                              NGX_BEACON_GOSSIP_SYNC_WINDOW)
        != 0)
    {
        reason = "no valid trailer (beacon_gossip_secret: missing, wrong, "
                 "or its time more than 60 s off)";
        goto rejected;
    }

    reason = ngx_beacon_gossip_install(z, msg, src);

    if (reason == NULL) {
        return NGX_OK;
    }

rejected:

    ngx_beacon_count(z, NGX_BEACON_C_SYNC_REJECTED);

#if (NGX_DEBUG)
    {
    u_char  text[NGX_BEACON_GOSSIP_ADDR_LEN];

    ngx_log_debug4(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                   "beacon gossip SYNC from %s beacon %uD, %uD ids: "
                   "rejected, %s", ngx_beacon_gossip_text(src, text),
                   msg->beacon_id, (uint32_t) msg->count, reason);
    }
#endif

    return NGX_DECLINED;
}


#if (NGX_DEBUG)

/* "a.b.c.d:port" or "[v6]:port", NUL-terminated, for the debug log */

static char *
ngx_beacon_gossip_text(const ngx_beacon_addr_t *addr, u_char *buf)
{
    size_t  n;

    n = ngx_beacon_addr_print((char *) buf, addr, 1);
    buf[n] = '\0';

    return (char *) buf;
}

#endif


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


/*
 * The route table's memory: made on first use (a SYNC, or a peer set
 * from the registry), so zones that never gossip pay nothing, and never
 * freed while the zone lives.  The slab mutex only for that allocation.
 */

static ngx_beacon_gossip_t *
ngx_beacon_gossip_get(ngx_beacon_zone_t *z)
{
    return __atomic_load_n(ngx_beacon_shm_gossip(z), __ATOMIC_ACQUIRE);
}


static ngx_beacon_gossip_t *
ngx_beacon_gossip_create(ngx_beacon_zone_t *z)
{
    u_char                *mem;
    uint32_t               bits;
    ngx_beacon_gossip_t   *g, **anchor;

    g = ngx_beacon_gossip_get(z);

    if (g) {
        return g;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    anchor = ngx_beacon_shm_gossip(z);
    g = *anchor;

    if (g) {
        goto done;
    }

    /* routes take at most 1/24 of the zone, 1024 to 65536 of them */

    bits = 10;

    while (bits < NGX_BEACON_GT_MAX_BITS
           && ngx_beacon_gt_mem(bits + 1) <= z->shm_zone->shm.size / 24)
    {
        bits++;
    }

    g = ngx_slab_calloc_locked(z->shpool, sizeof(ngx_beacon_gossip_t));
    mem = ngx_slab_calloc_locked(z->shpool, ngx_beacon_gt_mem(bits));

    if (g == NULL || mem == NULL) {
        if (g) {
            ngx_slab_free_locked(z->shpool, g);
        }

        if (mem) {
            ngx_slab_free_locked(z->shpool, mem);
        }

        g = NULL;
        goto done;
    }

    ngx_beacon_gt_init(&g->gt, bits, (uint32_t *) mem,
                       (ngx_beacon_groute_t *)
                           (mem + ((size_t) 1 << bits) * sizeof(uint32_t)));

    /* complete before any worker sees it */

    __atomic_store_n(anchor, g, __ATOMIC_RELEASE);

done:

    ngx_shmtx_unlock(&z->shpool->mutex);

    return g;
}


/* a checked SYNC: NULL when installed, else why it was not */

static const char *
ngx_beacon_gossip_install(ngx_beacon_zone_t *z, const ngx_beacon_msg_t *msg,
    const ngx_beacon_addr_t *src)
{
    uint32_t              now, id, ours, batch[NGX_BEACON_GOSSIP_BATCH];
    ngx_uint_t            i, k;
    ngx_beacon_gsync_t    gs;
    ngx_beacon_gossip_t  *g;
#if (NGX_DEBUG)
    u_char                text[NGX_BEACON_GOSSIP_ADDR_LEN];
#endif

    g = ngx_beacon_gossip_create(z);
    if (g == NULL) {
        return "no room in the zone for the route table";
    }

    now = (uint32_t) ngx_current_msec;

    if (ngx_beacon_gt_begin(&g->gt, src, msg->beacon_id, now,
                            (uint64_t) ngx_pid, &gs)
        != 0)
    {
        return "no free source slot (64 peer beacons speak)";
    }

    /*
     * Installed in batches, so no lock is held for a whole 16k-id SYNC;
     * our own nodes are ours, whatever others say: they are left out
     * before the lock (a lock-free lookup each).
     */

    ours = 0;

    for (i = 0; i < msg->count; /* void */ ) {

        for (k = 0; k < NGX_BEACON_GOSSIP_BATCH && i < msg->count; i++) {
            id = ngx_beacon_get32(msg->ids + 4 * i);

            if (ngx_beacon_shm_has_node(z, id)) {
                ours++;
                continue;
            }

            batch[k++] = id;
        }

        if (k && ngx_beacon_gt_install(&g->gt, &gs, batch, (uint32_t) k, now,
                                       (uint64_t) ngx_pid)
                 != 0)
        {
            ngx_beacon_count(z, NGX_BEACON_C_ROUTES_FULL);
            gs.full += msg->count - i;
            break;
        }
    }

    ngx_log_debug8(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                   "beacon gossip SYNC from %s beacon %uD, %uD ids: "
                   "accepted%s, routes %uD learned, %uD renewed, "
                   "%uD replaced, %uD withdrawn",
                   ngx_beacon_gossip_text(src, text), msg->beacon_id,
                   (uint32_t) msg->count,
                   gs.new_source ? " (a new source)" : "",
                   gs.learned, gs.renewed, gs.replaced,
                   gs.withdrawn > gs.renewed ? gs.withdrawn - gs.renewed : 0);

    if (ours || gs.full) {
        ngx_log_debug3(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon gossip SYNC from %s: %uD ids registered "
                       "here kept, %uD ids dropped (routes full)",
                       ngx_beacon_gossip_text(src, text), ours, gs.full);
    }

    return NULL;
}


ngx_int_t
ngx_beacon_gossip_route(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_addr_t *peer, ngx_uint_t *slot)
{
    ngx_beacon_ghit_t     hit;
    ngx_beacon_gossip_t  *g;

    g = ngx_beacon_gossip_get(z);

    if (g == NULL
        || !ngx_beacon_gt_route(&g->gt, node_id, (uint32_t) ngx_current_msec,
                                (uint64_t) ngx_pid, &hit))
    {
        return NGX_DECLINED;
    }

    *peer = hit.peer;
    *slot = hit.slot;

    return NGX_OK;
}


void
ngx_beacon_gossip_forwarded(ngx_beacon_zone_t *z, ngx_uint_t slot)
{
    ngx_beacon_gossip_t  *g;

    g = ngx_beacon_gossip_get(z);

    if (g) {
        ngx_beacon_gt_forwarded(&g->gt, (uint32_t) slot);
    }
}


ngx_uint_t
ngx_beacon_gossip_is_source(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr)
{
    ngx_beacon_gossip_t  *g;

    g = ngx_beacon_gossip_get(z);

    if (g == NULL) {
        return 0;
    }

    return ngx_beacon_gt_is_source(&g->gt, addr, (uint32_t) ngx_current_msec,
                                   (uint64_t) ngx_pid)
           || ngx_beacon_gt_is_listed(&g->gt, addr, (uint64_t) ngx_pid);
}


ngx_uint_t
ngx_beacon_gossip_is_discovered(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr)
{
    ngx_beacon_gossip_t  *g;

    g = ngx_beacon_gossip_get(z);

    if (g == NULL) {
        return 0;
    }

    return ngx_beacon_gt_is_listed(&g->gt, addr, (uint64_t) ngx_pid);
}


ngx_int_t
ngx_beacon_gossip_set_discovered(ngx_beacon_zone_t *z,
    ngx_beacon_addr_t *peers, ngx_uint_t n)
{
    ngx_beacon_gossip_t  *g;

    g = ngx_beacon_gossip_create(z);

    /* no room in the zone for the gossip state: say so */

    if (g == NULL) {
        return NGX_ERROR;
    }

    ngx_beacon_gt_set_listed(&g->gt, peers, (uint32_t) n, (uint64_t) ngx_pid);

    return NGX_OK;
}


ngx_uint_t
ngx_beacon_gossip_discovered(ngx_beacon_zone_t *z, ngx_beacon_addr_t *peers,
    ngx_uint_t max)
{
    ngx_beacon_gossip_t  *g;

    g = ngx_beacon_gossip_get(z);

    if (g == NULL) {
        return 0;
    }

    return ngx_beacon_gt_listed(&g->gt, peers, (uint32_t) max,
                                (uint64_t) ngx_pid);
}


ngx_uint_t
ngx_beacon_gossip_sources(ngx_beacon_zone_t *z,
    ngx_beacon_gossip_source_t *out, ngx_uint_t max, ngx_uint_t *routes)
{
    uint32_t                    i, n, total;
    ngx_beacon_gossip_t        *g;
    ngx_beacon_gsource_info_t   info[NGX_BEACON_GOSSIP_SOURCES];

    *routes = 0;

    g = ngx_beacon_gossip_get(z);

    if (g == NULL) {
        return 0;
    }

    /* each source's route count is kept by the writers: no walk */

    n = ngx_beacon_gt_sources(&g->gt, info,
                              (uint32_t) ngx_min(max,
                                                 NGX_BEACON_GOSSIP_SOURCES),
                              (uint32_t) ngx_current_msec, &total);

    for (i = 0; i < n; i++) {
        out[i].addr = info[i].addr;
        out[i].beacon_id = info[i].beacon_id;
        out[i].routes = info[i].routes;
        out[i].age = info[i].age;
        out[i].forwarded = info[i].forwarded;
    }

    *routes = total;

    return n;
}


void
ngx_beacon_gossip_sweep(ngx_beacon_zone_t *z, ngx_uint_t max)
{
    uint32_t                    now, step, freed, n, i;
    uint64_t                    silent, bits;
    ngx_beacon_gossip_t        *g;
#if (NGX_DEBUG)
    u_char                      text[NGX_BEACON_GOSSIP_ADDR_LEN];
    ngx_beacon_gsource_info_t   info;
#endif

    g = ngx_beacon_gossip_get(z);

    if (g == NULL) {
        return;
    }

    now = (uint32_t) ngx_current_msec;
    freed = 0;
    bits = 0;

    /* a few hundred buckets a lock hold, so SYNCs need not wait long */

    for (n = 0; n < max; n += step) {
        step = (uint32_t) ngx_min(max - n, NGX_BEACON_GOSSIP_SWEEP_STEP);
        freed += ngx_beacon_gt_sweep(&g->gt, step, now, (uint64_t) ngx_pid,
                                     &silent);
        bits |= silent;
    }

    if (freed) {
        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon zone \"%V\": gossip routes expired, "
                       "%uD freed", &z->name, freed);
    }

#if (NGX_DEBUG)
    for (i = 0; bits && i < NGX_BEACON_GOSSIP_SOURCES; i++) {
        if (bits & ((uint64_t) 1 << i)) {
            ngx_beacon_gt_source(&g->gt, i, &info);

            ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                           "beacon gossip source %s beacon %uD: silent for "
                           "90 s, its routes expired",
                           ngx_beacon_gossip_text(&info.addr, text),
                           info.beacon_id);
        }
    }
#else
    (void) i;
    (void) bits;
#endif
}
