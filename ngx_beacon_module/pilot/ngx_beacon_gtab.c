
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The gossip route table (see ngx_beacon_gtab.h): pure code.
 */


#include <string.h>

#include "ngx_beacon_gtab.h"


#if defined(__x86_64__) || defined(__i386__)
#define ngx_beacon_gt_pause()    __builtin_ia32_pause()
#elif defined(__aarch64__)
#define ngx_beacon_gt_pause()    __asm__ __volatile__ ("yield" ::: "memory")
#else
#define ngx_beacon_gt_pause()
#endif

#define NGX_BEACON_GT_READ_TRIES  64
#define NGX_BEACON_GT_MAX_STEPS   4096
#define NGX_BEACON_GT_SEED        0x2545f491
#define NGX_BEACON_GT_FULL_SWEEP  256        /* buckets, when no record */


static uint32_t ngx_beacon_gt_bucket(ngx_beacon_gtab_t *gt,
    uint32_t node_id);
static void ngx_beacon_gt_wbegin(uint32_t *seq);
static void ngx_beacon_gt_wend(uint32_t *seq);
static int ngx_beacon_gt_copy_route(ngx_beacon_groute_t *r,
    ngx_beacon_groute_t *out);
static int ngx_beacon_gt_copy_src(ngx_beacon_gsource_t *s,
    ngx_beacon_gsource_t *out);
static int ngx_beacon_gt_speaks(ngx_beacon_gsource_t *s, uint32_t now);
static int ngx_beacon_gt_live(ngx_beacon_gsource_t *s, uint32_t tag,
    uint32_t now);
static int ngx_beacon_gt_tag_live(ngx_beacon_gtab_t *gt, uint32_t tag,
    uint32_t now);
static int ngx_beacon_gt_addr_eq(const ngx_beacon_addr_t *a,
    const ngx_beacon_addr_t *b);
static int ngx_beacon_gt_route_locked(ngx_beacon_gtab_t *gt,
    uint32_t node_id, uint32_t now, ngx_beacon_ghit_t *hit);
static uint32_t ngx_beacon_gt_sweep_locked(ngx_beacon_gtab_t *gt,
    uint32_t max, uint32_t now);
static void ngx_beacon_gt_repair(ngx_beacon_gtab_t *gt);


size_t
ngx_beacon_gt_mem(uint32_t bits)
{
    return ((size_t) 1 << bits)
           * (sizeof(uint32_t) + sizeof(ngx_beacon_groute_t));
}


void
ngx_beacon_gt_init(ngx_beacon_gtab_t *gt, uint32_t bits, uint32_t *buckets,
    ngx_beacon_groute_t *routes)
{
    uint32_t  i;

    gt->bits = bits;
    gt->buckets = buckets;
    gt->routes = routes;

    for (i = (uint32_t) 1 << bits; i > 0; i--) {
        routes[i - 1].hnext = gt->free;
        gt->free = i;
    }
}


static uint32_t
ngx_beacon_gt_bucket(ngx_beacon_gtab_t *gt, uint32_t node_id)
{
    return ngx_beacon_nt_hash(node_id, NGX_BEACON_GT_SEED)
           >> (32 - gt->bits);
}


void
ngx_beacon_gt_lock(ngx_beacon_gtab_t *gt, uint64_t pid)
{
    ngx_beacon_nt_lock(&gt->lock, pid);

    /* a holder died in the middle of a write: make it harmless */

    if (gt->wrec || gt->wlink || gt->wsrc || gt->wlisted
        || (gt->version & 1))
    {
        ngx_beacon_gt_repair(gt);
    }
}


void
ngx_beacon_gt_unlock(ngx_beacon_gtab_t *gt)
{
    ngx_beacon_nt_unlock(&gt->lock);
}


static void
ngx_beacon_gt_repair(ngx_beacon_gtab_t *gt)
{
    ngx_beacon_groute_t   *r;
    ngx_beacon_gsource_t  *s;

    if (gt->wlink) {
        /* only a chain link was being written: one word, never torn */
        r = &gt->routes[gt->wlink - 1];

        if (r->seq & 1) {
            __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
        }

        gt->wlink = 0;
    }

    if (gt->wrec) {
        /* never found again; the sweep unlinks it */
        r = &gt->routes[gt->wrec - 1];
        r->node_id = 0;
        r->tag = 0;

        if (r->seq & 1) {
            __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
        }

        gt->wrec = 0;
    }

    if (gt->wsrc) {
        /* a new generation kills whatever routes the slot had */
        s = &gt->src[gt->wsrc - 1];
        s->used = 0;
        s->routes = 0;
        s->gen = (s->gen + 1) & NGX_BEACON_GT_GEN_MASK;

        if (s->seq & 1) {
            __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
        }

        gt->wsrc = 0;
    }

    if (gt->wlisted) {
        gt->nlisted = 0;

        if (gt->listed_seq & 1) {
            __atomic_store_n(&gt->listed_seq, gt->listed_seq + 1,
                             __ATOMIC_RELEASE);
        }

        gt->wlisted = 0;
    }

    if (gt->version & 1) {
        __atomic_store_n(&gt->version, gt->version + 1, __ATOMIC_RELEASE);
    }
}


static void
ngx_beacon_gt_wbegin(uint32_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}


static void
ngx_beacon_gt_wend(uint32_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}


static int
ngx_beacon_gt_copy_route(ngx_beacon_groute_t *r, ngx_beacon_groute_t *out)
{
    uint32_t  s1, s2;

    s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);

    if (s1 & 1) {
        return 0;
    }

    memcpy(out, r, sizeof(ngx_beacon_groute_t));

    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    s2 = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);

    return s1 == s2;
}


static int
ngx_beacon_gt_copy_src(ngx_beacon_gsource_t *s, ngx_beacon_gsource_t *out)
{
    uint32_t  s1, s2;

    s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

    if (s1 & 1) {
        return 0;
    }

    memcpy(out, s, sizeof(ngx_beacon_gsource_t));

    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    s2 = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

    return s1 == s2;
}


/*
 * A source speaks when its last SYNC is less than the TTL old; "now" of
 * one worker may lag another's by a little, so a SYNC stamped later than
 * now is recent, not 49 days old.  Once the sweep found it silent, it is
 * silent until its next SYNC, however far the clock turns.
 */

static int
ngx_beacon_gt_speaks(ngx_beacon_gsource_t *s, uint32_t now)
{
    return !s->expired && (int32_t) (now - s->last) < NGX_BEACON_GT_TTL;
}


/* a route of tag is live: its source has that generation and speaks */

static int
ngx_beacon_gt_live(ngx_beacon_gsource_t *s, uint32_t tag, uint32_t now)
{
    return s->used && s->gen == ngx_beacon_gt_tag_gen(tag)
           && ngx_beacon_gt_speaks(s, now);
}


/* the same, with the lock held */

static int
ngx_beacon_gt_tag_live(ngx_beacon_gtab_t *gt, uint32_t tag, uint32_t now)
{
    uint32_t  slot;

    if (tag == 0) {
        return 0;
    }

    slot = ngx_beacon_gt_tag_slot(tag);

    return slot < NGX_BEACON_GT_SOURCES
           && ngx_beacon_gt_live(&gt->src[slot], tag, now);
}


static int
ngx_beacon_gt_addr_eq(const ngx_beacon_addr_t *a, const ngx_beacon_addr_t *b)
{
    return a->port == b->port && memcmp(a->ip, b->ip, 16) == 0;
}


int
ngx_beacon_gt_route(ngx_beacon_gtab_t *gt, uint32_t node_id, uint32_t now,
    uint64_t pid, ngx_beacon_ghit_t *hit)
{
    int                    rc, found;
    uint32_t               b, v1, idx, steps, tries, slot;
    ngx_beacon_groute_t    r;
    ngx_beacon_gsource_t   s;

    if (node_id == 0) {
        return 0;
    }

    b = ngx_beacon_gt_bucket(gt, node_id);

    for (tries = 0; tries < NGX_BEACON_GT_READ_TRIES; tries++) {

        if (tries) {
            ngx_beacon_gt_pause();
        }

        v1 = __atomic_load_n(&gt->version, __ATOMIC_ACQUIRE);

        if (v1 & 1) {
            continue;
        }

        idx = __atomic_load_n(&gt->buckets[b], __ATOMIC_ACQUIRE);
        found = 0;

        for (steps = 0; idx && steps < NGX_BEACON_GT_MAX_STEPS; steps++) {
            if (!ngx_beacon_gt_copy_route(&gt->routes[idx - 1], &r)) {
                break;
            }

            if (r.node_id == node_id) {
                found = 1;
                break;
            }

            idx = r.hnext;
        }

        if (found) {

            /* a consistent record of the id: is its source still it? */

            if (r.tag == 0) {
                return 0;
            }

            slot = ngx_beacon_gt_tag_slot(r.tag);

            if (slot >= NGX_BEACON_GT_SOURCES
                || !ngx_beacon_gt_copy_src(&gt->src[slot], &s))
            {
                continue;
            }

            if (!ngx_beacon_gt_live(&s, r.tag, now)) {
                return 0;
            }

            hit->peer = s.addr;
            hit->slot = slot;
            hit->gen = s.gen;
            hit->beacon_id = s.beacon_id;

            return 1;
        }

        if (idx) {
            continue;
        }

        /* not found: true unless a chain changed meanwhile */

        __atomic_thread_fence(__ATOMIC_ACQUIRE);

        if (__atomic_load_n(&gt->version, __ATOMIC_RELAXED) == v1) {
            return 0;
        }
    }

    /* writers keep changing the table (or one died in it): wait for it */

    ngx_beacon_gt_lock(gt, pid);
    rc = ngx_beacon_gt_route_locked(gt, node_id, now, hit);
    ngx_beacon_gt_unlock(gt);

    return rc;
}


static int
ngx_beacon_gt_route_locked(ngx_beacon_gtab_t *gt, uint32_t node_id,
    uint32_t now, ngx_beacon_ghit_t *hit)
{
    uint32_t               idx, slot;
    ngx_beacon_groute_t   *r;
    ngx_beacon_gsource_t  *s;

    for (idx = gt->buckets[ngx_beacon_gt_bucket(gt, node_id)];
         idx;
         idx = r->hnext)
    {
        r = &gt->routes[idx - 1];

        if (r->node_id != node_id) {
            continue;
        }

        if (!ngx_beacon_gt_tag_live(gt, r->tag, now)) {
            return 0;
        }

        slot = ngx_beacon_gt_tag_slot(r->tag);
        s = &gt->src[slot];

        hit->peer = s->addr;
        hit->slot = slot;
        hit->gen = s->gen;
        hit->beacon_id = s->beacon_id;

        return 1;
    }

    return 0;
}


int
ngx_beacon_gt_is_source(ngx_beacon_gtab_t *gt, const ngx_beacon_addr_t *addr,
    uint32_t now, uint64_t pid)
{
    uint32_t              i, tries;
    ngx_beacon_gsource_t  s;

    for (i = 0; i < NGX_BEACON_GT_SOURCES; i++) {

        for (tries = 0; tries < NGX_BEACON_GT_READ_TRIES; tries++) {
            if (ngx_beacon_gt_copy_src(&gt->src[i], &s)) {
                break;
            }

            ngx_beacon_gt_pause();
        }

        if (tries == NGX_BEACON_GT_READ_TRIES) {
            /* being rewritten all along (or its writer died): wait */
            ngx_beacon_gt_lock(gt, pid);
            s = gt->src[i];
            ngx_beacon_gt_unlock(gt);
        }

        if (s.used && ngx_beacon_gt_speaks(&s, now)
            && ngx_beacon_gt_addr_eq(&s.addr, addr))
        {
            return 1;
        }
    }

    return 0;
}


int
ngx_beacon_gt_is_listed(ngx_beacon_gtab_t *gt, const ngx_beacon_addr_t *addr,
    uint64_t pid)
{
    int       found;
    uint32_t  s1, n, i, tries;

    for (tries = 0; tries < NGX_BEACON_GT_READ_TRIES; tries++) {

        s1 = __atomic_load_n(&gt->listed_seq, __ATOMIC_ACQUIRE);

        if (s1 & 1) {
            ngx_beacon_gt_pause();
            continue;
        }

        n = __atomic_load_n(&gt->nlisted, __ATOMIC_RELAXED);

        if (n > NGX_BEACON_GT_LISTED) {
            n = NGX_BEACON_GT_LISTED;
        }

        found = 0;

        for (i = 0; i < n; i++) {
            if (ngx_beacon_gt_addr_eq(&gt->listed[i], addr)) {
                found = 1;
                break;
            }
        }

        __atomic_thread_fence(__ATOMIC_ACQUIRE);

        if (__atomic_load_n(&gt->listed_seq, __ATOMIC_RELAXED) == s1) {
            return found;
        }
    }

    ngx_beacon_gt_lock(gt, pid);

    found = 0;

    for (i = 0; i < gt->nlisted; i++) {
        if (ngx_beacon_gt_addr_eq(&gt->listed[i], addr)) {
            found = 1;
            break;
        }
    }

    ngx_beacon_gt_unlock(gt);

    return found;
}


uint32_t
ngx_beacon_gt_listed(ngx_beacon_gtab_t *gt, ngx_beacon_addr_t *out,
    uint32_t max, uint64_t pid)
{
    uint32_t  n;

    /* once per round, not on the datapath: under the lock */

    ngx_beacon_gt_lock(gt, pid);

    n = gt->nlisted < max ? gt->nlisted : max;
    memcpy(out, gt->listed, n * sizeof(ngx_beacon_addr_t));

    ngx_beacon_gt_unlock(gt);

    return n;
}


void
ngx_beacon_gt_set_listed(ngx_beacon_gtab_t *gt, const ngx_beacon_addr_t *peers,
    uint32_t n, uint64_t pid)
{
    if (n > NGX_BEACON_GT_LISTED) {
        n = NGX_BEACON_GT_LISTED;
    }

    ngx_beacon_gt_lock(gt, pid);

    gt->wlisted = 1;
    ngx_beacon_gt_wbegin(&gt->listed_seq);

    memcpy(gt->listed, peers, n * sizeof(ngx_beacon_addr_t));
    __atomic_store_n(&gt->nlisted, n, __ATOMIC_RELAXED);

    ngx_beacon_gt_wend(&gt->listed_seq);
    gt->wlisted = 0;

    ngx_beacon_gt_unlock(gt);
}


uint32_t
ngx_beacon_gt_sources(ngx_beacon_gtab_t *gt, ngx_beacon_gsource_info_t *out,
    uint32_t max, uint32_t now, uint32_t *routes)
{
    uint32_t              i, n, tries;
    ngx_beacon_gsource_t  s;

    *routes = 0;
    n = 0;

    for (i = 0; i < NGX_BEACON_GT_SOURCES; i++) {

        for (tries = 0; tries < NGX_BEACON_GT_READ_TRIES; tries++) {
            if (ngx_beacon_gt_copy_src(&gt->src[i], &s)) {
                break;
            }

            ngx_beacon_gt_pause();
        }

        if (tries == NGX_BEACON_GT_READ_TRIES
            || !s.used
            || !ngx_beacon_gt_speaks(&s, now))
        {
            continue;
        }

        *routes += s.routes;

        if (n == max) {
            continue;
        }

        out[n].addr = s.addr;
        out[n].beacon_id = s.beacon_id;
        out[n].routes = s.routes;
        out[n].age = (int32_t) (now - s.last) > 0 ? now - s.last : 0;
        out[n].forwarded = __atomic_load_n(&gt->forwarded[i],
                                           __ATOMIC_RELAXED);
        n++;
    }

    return n;
}


void
ngx_beacon_gt_source(ngx_beacon_gtab_t *gt, uint32_t slot,
    ngx_beacon_gsource_info_t *out)
{
    uint32_t              tries;
    ngx_beacon_gsource_t  s;

    for (tries = 0; tries < NGX_BEACON_GT_READ_TRIES; tries++) {
        if (ngx_beacon_gt_copy_src(&gt->src[slot], &s)) {
            break;
        }

        ngx_beacon_gt_pause();
    }

    memset(out, 0, sizeof(ngx_beacon_gsource_info_t));

    if (tries < NGX_BEACON_GT_READ_TRIES) {
        out->addr = s.addr;
        out->beacon_id = s.beacon_id;
        out->routes = s.routes;
    }
}


void
ngx_beacon_gt_forwarded(ngx_beacon_gtab_t *gt, uint32_t slot)
{
    if (slot < NGX_BEACON_GT_SOURCES) {
        (void) __atomic_fetch_add(&gt->forwarded[slot], 1, __ATOMIC_RELAXED);
    }
}


int
ngx_beacon_gt_begin(ngx_beacon_gtab_t *gt, const ngx_beacon_addr_t *addr,
    uint32_t beacon_id, uint32_t now, uint64_t pid, ngx_beacon_gsync_t *gs)
{
    uint32_t               i;
    ngx_beacon_gsource_t  *s;

    memset(gs, 0, sizeof(ngx_beacon_gsync_t));

    ngx_beacon_gt_lock(gt, pid);

    /* the sender's slot: the same IP and port, else a free or dead one */

    s = NULL;

    for (i = 0; i < NGX_BEACON_GT_SOURCES; i++) {
        if (gt->src[i].used && ngx_beacon_gt_addr_eq(&gt->src[i].addr, addr))
        {
            s = &gt->src[i];
            break;
        }
    }

    if (s == NULL) {
        for (i = 0; i < NGX_BEACON_GT_SOURCES; i++) {
            if (!gt->src[i].used
                || !ngx_beacon_gt_speaks(&gt->src[i], now))
            {
                s = &gt->src[i];
                break;
            }
        }
    }

    if (s == NULL) {
        ngx_beacon_gt_unlock(gt);
        return -1;
    }

    /* replace, never merge: every older route of this source dies now */

    gt->wsrc = i + 1;
    ngx_beacon_gt_wbegin(&s->seq);

    if (s->used && ngx_beacon_gt_addr_eq(&s->addr, addr)) {
        if (ngx_beacon_gt_speaks(s, now)) {
            gs->withdrawn = s->routes;
            gs->was_live = 1;
        }

    } else {
        /* a new address: a new generation too, in the same write */
        s->addr = *addr;
        s->used = 1;
        __atomic_store_n(&gt->forwarded[i], 0, __ATOMIC_RELAXED);
        gs->new_source = 1;
    }

#if (NGX_BEACON_GT_BROKEN)
    /* for the stress test's self check only: a new address, same gen */
    if (!gs->new_source)
#endif
    s->gen = (s->gen + 1) & NGX_BEACON_GT_GEN_MASK;
    s->last = now;
    s->beacon_id = beacon_id;
    s->routes = 0;
    s->expired = 0;

    ngx_beacon_gt_wend(&s->seq);
    gt->wsrc = 0;

    gs->slot = i;
    gs->gen = s->gen;

    ngx_beacon_gt_unlock(gt);

    return 0;
}


int
ngx_beacon_gt_install(ngx_beacon_gtab_t *gt, ngx_beacon_gsync_t *gs,
    const uint32_t *ids, uint32_t n, uint32_t now, uint64_t pid)
{
    int                    rc;
    uint32_t               i, id, b, idx, tag, old, oslot, prev;
    ngx_beacon_groute_t   *r;
    ngx_beacon_gsource_t  *s;

    tag = ngx_beacon_gt_tag(gs->gen, gs->slot);
    s = &gt->src[gs->slot];
    rc = 0;

    ngx_beacon_gt_lock(gt, pid);

    /* a newer SYNC of this source took over: this one is void */

    if (!s->used || s->gen != gs->gen) {
        ngx_beacon_gt_unlock(gt);
        return 0;
    }

    for (i = 0; i < n; i++) {
        id = ids[i];

        if (id == 0) {
            continue;
        }

        b = ngx_beacon_gt_bucket(gt, id);
        r = NULL;

        for (idx = gt->buckets[b]; idx; idx = r->hnext) {
            r = &gt->routes[idx - 1];

            if (r->node_id == id) {
                break;
            }
        }

        if (idx) {
            old = r->tag;

            if (old == tag) {
                continue;                           /* a duplicate id */
            }

            /* a source counts the routes of its current generation */

            oslot = ngx_beacon_gt_tag_slot(old);

            if (old && oslot < NGX_BEACON_GT_SOURCES
                && gt->src[oslot].used
                && gt->src[oslot].gen == ngx_beacon_gt_tag_gen(old))
            {
                gt->src[oslot].routes--;
            }

            if (gs->was_live
                && old == ngx_beacon_gt_tag((gs->gen - 1)
                                            & NGX_BEACON_GT_GEN_MASK,
                                            gs->slot))
            {
                gs->renewed++;          /* live until this SYNC began */

            } else if (ngx_beacon_gt_tag_live(gt, old, now)) {
                gs->replaced++;

            } else {
                gs->learned++;
            }

            gt->wrec = idx;
            ngx_beacon_gt_wbegin(&r->seq);
            r->tag = tag;
            ngx_beacon_gt_wend(&r->seq);
            gt->wrec = 0;

            s->routes++;
            continue;
        }

        if (gt->free == 0) {
            (void) ngx_beacon_gt_sweep_locked(gt, NGX_BEACON_GT_FULL_SWEEP,
                                              now);
        }

        if (gt->free == 0) {
            gs->full += n - i;
            rc = -1;
            break;
        }

        /* off the free list first: a writer dying now loses one record */

        idx = gt->free;
        r = &gt->routes[idx - 1];
        gt->free = r->hnext;
        prev = gt->buckets[b];

        gt->wrec = idx;
        ngx_beacon_gt_wbegin(&r->seq);
        r->node_id = id;
        r->tag = tag;
        r->hnext = prev;
        ngx_beacon_gt_wend(&r->seq);

        /* the record is complete before it becomes reachable */
        __atomic_store_n(&gt->buckets[b], idx, __ATOMIC_RELEASE);
        gt->wrec = 0;

        gt->nroutes++;
        gs->learned++;
        s->routes++;
    }

    ngx_beacon_gt_unlock(gt);

    return rc;
}


uint32_t
ngx_beacon_gt_sweep(ngx_beacon_gtab_t *gt, uint32_t max, uint32_t now,
    uint64_t pid, uint64_t *silent)
{
    uint32_t               i, n;
    ngx_beacon_gsource_t  *s;

    ngx_beacon_gt_lock(gt, pid);

    n = ngx_beacon_gt_sweep_locked(gt, max, now);

    /* sources silent for the TTL, each reported once */

    *silent = 0;

    for (i = 0; i < NGX_BEACON_GT_SOURCES; i++) {
        s = &gt->src[i];

        if (s->used && !s->expired
            && !ngx_beacon_gt_speaks(s, now))
        {
            gt->wsrc = i + 1;
            ngx_beacon_gt_wbegin(&s->seq);
            s->expired = 1;
            ngx_beacon_gt_wend(&s->seq);
            gt->wsrc = 0;

            *silent |= (uint64_t) 1 << i;
        }
    }

    ngx_beacon_gt_unlock(gt);

    return n;
}


/* frees the dead routes of up to max buckets, walking them round-robin */

static uint32_t
ngx_beacon_gt_sweep_locked(ngx_beacon_gtab_t *gt, uint32_t max, uint32_t now)
{
    uint32_t              *link, idx, b, n, freed, mask, prev, oslot;
    ngx_beacon_groute_t   *r, *p;

    mask = ((uint32_t) 1 << gt->bits) - 1;
    freed = 0;

    for (n = 0; n < max && n <= mask; n++) {
        b = gt->cursor;
        gt->cursor = (b + 1) & mask;

        link = &gt->buckets[b];
        prev = 0;

        while ((idx = *link) != 0) {
            r = &gt->routes[idx - 1];

            if (r->node_id && ngx_beacon_gt_tag_live(gt, r->tag, now)) {
                prev = idx;
                link = &r->hnext;
                continue;
            }

            /* readers that find nothing while the version moved retry */

            __atomic_store_n(&gt->version, gt->version + 1,
                             __ATOMIC_RELAXED);
            __atomic_thread_fence(__ATOMIC_RELEASE);

            if (prev) {
                p = &gt->routes[prev - 1];
                gt->wlink = prev;
                ngx_beacon_gt_wbegin(&p->seq);
                p->hnext = r->hnext;
                ngx_beacon_gt_wend(&p->seq);
                gt->wlink = 0;

            } else {
                __atomic_store_n(link, r->hnext, __ATOMIC_RELEASE);
            }

            oslot = ngx_beacon_gt_tag_slot(r->tag);

            if (r->tag && oslot < NGX_BEACON_GT_SOURCES
                && gt->src[oslot].used
                && gt->src[oslot].gen == ngx_beacon_gt_tag_gen(r->tag))
            {
                gt->src[oslot].routes--;    /* of a silent source */
            }

            gt->wrec = idx;
            ngx_beacon_gt_wbegin(&r->seq);
            r->node_id = 0;
            r->tag = 0;
            r->hnext = gt->free;
            ngx_beacon_gt_wend(&r->seq);
            gt->wrec = 0;

            gt->free = idx;
            gt->nroutes--;
            freed++;

            __atomic_store_n(&gt->version, gt->version + 1,
                             __ATOMIC_RELEASE);

            /* link still points at the next one: prev's field or bucket */
        }
    }

    return freed;
}
