
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The node table (see ngx_beacon_ntab.h): pure code.
 */


#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>

#include "ngx_beacon_ntab.h"


#if defined(__x86_64__) || defined(__i386__)
#define ngx_beacon_nt_pause()    __builtin_ia32_pause()
#elif defined(__aarch64__)
#define ngx_beacon_nt_pause()    __asm__ __volatile__ ("yield" ::: "memory")
#else
#define ngx_beacon_nt_pause()
#endif

#define NGX_BEACON_NT_READ_TRIES  64
#define NGX_BEACON_NT_MAX_STEPS   4096
#define NGX_BEACON_NT_DEAD_CHECK  256        /* yields between pid checks */


uint64_t  ngx_beacon_nt_recovered;


static void ngx_beacon_nt_repair(ngx_beacon_nstripe_t *st);
static int ngx_beacon_nt_copy(ngx_beacon_nrec_t *r, ngx_beacon_nrec_t *out);


int
ngx_beacon_nt_trylock(ngx_beacon_nstripe_t *st, uint64_t pid)
{
    uint64_t  free;

    free = 0;

    return __atomic_load_n(&st->lock, __ATOMIC_RELAXED) == 0
           && __atomic_compare_exchange_n(&st->lock, &free, pid, 0,
                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}


void
ngx_beacon_nt_lock(ngx_beacon_nstripe_t *st, uint64_t pid)
{
    uint64_t    holder;
    unsigned    i, n, yields;

    yields = 0;

    for ( ;; ) {

        if (ngx_beacon_nt_trylock(st, pid)) {
            return;
        }

        for (n = 1; n < 1024; n <<= 1) {
            for (i = 0; i < n; i++) {
                ngx_beacon_nt_pause();
            }

            if (ngx_beacon_nt_trylock(st, pid)) {
                return;
            }
        }

        /*
         * Sections are a few hundred instructions: a holder that keeps
         * the lock this long is preempted, or dead.  A dead one (killed
         * while holding) never unlocks: its stripe is taken over.
         */

        if (++yields % NGX_BEACON_NT_DEAD_CHECK == 0) {
            holder = __atomic_load_n(&st->lock, __ATOMIC_RELAXED);

            if (holder && holder != pid
                && kill((pid_t) holder, 0) == -1 && errno == ESRCH
                && __atomic_compare_exchange_n(&st->lock, &holder, pid, 0,
                                               __ATOMIC_ACQUIRE,
                                               __ATOMIC_RELAXED))
            {
                ngx_beacon_nt_repair(st);
                ngx_beacon_nt_recovered++;
                return;
            }
        }

        (void) sched_yield();
    }
}


void
ngx_beacon_nt_unlock(ngx_beacon_nstripe_t *st)
{
    __atomic_store_n(&st->lock, 0, __ATOMIC_RELEASE);
}


/*
 * A dead holder left at most one record and the chain version half
 * written.  The record may mix old and new fields, so it is never found
 * again for any id (node id 0; its node registers anew with its next
 * DISCOVER), and stays where it is in its chain, lost to the table; its
 * seq and the version are made even again, so readers stop retrying.
 */

static void
ngx_beacon_nt_repair(ngx_beacon_nstripe_t *st)
{
    ngx_beacon_nrec_t  *r;

    if (st->wseq && (*st->wseq & 1)) {
        r = (ngx_beacon_nrec_t *) st->wseq;       /* seq comes first */
        r->node_id = 0;
        __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
    }

    st->wseq = NULL;

    if (st->version & 1) {
        __atomic_store_n(&st->version, st->version + 1, __ATOMIC_RELEASE);
    }
}


void
ngx_beacon_nt_wbegin(ngx_beacon_nstripe_t *st, ngx_beacon_nrec_t *r)
{
    st->wseq = &r->seq;
    __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}


void
ngx_beacon_nt_wend(ngx_beacon_nstripe_t *st, ngx_beacon_nrec_t *r)
{
    __atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
    st->wseq = NULL;
}


static int
ngx_beacon_nt_copy(ngx_beacon_nrec_t *r, ngx_beacon_nrec_t *out)
{
    uint32_t  s1, s2;

    s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);

    if (s1 & 1) {
        return 0;
    }

    memcpy(out, r, sizeof(ngx_beacon_nrec_t));

    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    s2 = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);

#if (NGX_BEACON_NT_BROKEN)
    /* for the stress test's self check only: no re-check */
    (void) s2;
    return 1;
#else
    return s1 == s2;
#endif
}


int
ngx_beacon_nt_read(ngx_beacon_ntab_t *nt, uint32_t node_id,
    ngx_beacon_nrec_t *out, uint64_t pid)
{
    int                    found;
    uint32_t               b, v1, idx, steps, tries;
    ngx_beacon_nrec_t     *r;
    ngx_beacon_nstripe_t  *st;

    b = ngx_beacon_nt_bucket(nt, node_id);
    st = &nt->stripes[b & (NGX_BEACON_NT_STRIPES - 1)];

    for (tries = 0; tries < NGX_BEACON_NT_READ_TRIES; tries++) {

        if (tries) {
            ngx_beacon_nt_pause();
        }

        v1 = __atomic_load_n(&st->version, __ATOMIC_ACQUIRE);

        if (v1 & 1) {
            continue;
        }

        idx = __atomic_load_n(&nt->buckets[b], __ATOMIC_ACQUIRE);

        for (steps = 0; idx && steps < NGX_BEACON_NT_MAX_STEPS; steps++) {
            r = ngx_beacon_nt_rec(nt, idx);

            if (!ngx_beacon_nt_copy(r, out)) {
                break;
            }

            if (out->node_id == node_id) {
                return 1;
            }

            idx = out->hnext;
        }

        if (idx) {
            continue;
        }

        /* not found: true unless a chain of the stripe changed meanwhile */

        __atomic_thread_fence(__ATOMIC_ACQUIRE);

        if (__atomic_load_n(&st->version, __ATOMIC_RELAXED) == v1) {
            return 0;
        }
    }

    /* writers keep changing the stripe (or one died in it): wait for it */

    ngx_beacon_nt_lock(st, pid);

    r = ngx_beacon_nt_find_locked(nt, node_id, NULL);
    found = r != NULL;

    if (found) {
        memcpy(out, r, sizeof(ngx_beacon_nrec_t));
    }

    ngx_beacon_nt_unlock(st);

    return found;
}


int
ngx_beacon_nt_read_idx(ngx_beacon_ntab_t *nt, uint32_t idx,
    ngx_beacon_nrec_t *out)
{
    int  i;

    for (i = 0; i < NGX_BEACON_NT_READ_TRIES; i++) {
        if (ngx_beacon_nt_copy(ngx_beacon_nt_rec(nt, idx), out)) {
            return 1;
        }

        ngx_beacon_nt_pause();
    }

    return 0;
}


ngx_beacon_nrec_t *
ngx_beacon_nt_find_locked(ngx_beacon_ntab_t *nt, uint32_t node_id,
    uint32_t *pidx)
{
    uint32_t            idx;
    ngx_beacon_nrec_t  *r;

    idx = nt->buckets[ngx_beacon_nt_bucket(nt, node_id)];

    while (idx) {
        r = ngx_beacon_nt_rec(nt, idx);

        if (r->node_id == node_id) {
            if (pidx) {
                *pidx = idx;
            }

            return r;
        }

        idx = r->hnext;
    }

    return NULL;
}


uint32_t
ngx_beacon_nt_capacity(ngx_beacon_ntab_t *nt)
{
    return __atomic_load_n(&nt->nchunks, __ATOMIC_ACQUIRE)
           << NGX_BEACON_NT_CHUNK_SHIFT;
}


void
ngx_beacon_nt_add_chunk(ngx_beacon_ntab_t *nt, ngx_beacon_nrec_t *chunk)
{
    nt->chunks[nt->nchunks] = chunk;
    __atomic_store_n(&nt->nchunks, nt->nchunks + 1, __ATOMIC_RELEASE);
}


static uint32_t
ngx_beacon_nt_pop(ngx_beacon_ntab_t *nt, ngx_beacon_nstripe_t *st)
{
    uint32_t            idx;
    ngx_beacon_nrec_t  *r;

    idx = st->free;

    if (idx) {
        r = ngx_beacon_nt_rec(nt, idx);
        st->free = r->hnext;

        ngx_beacon_nt_wbegin(st, r);
        r->hnext = 0;
        ngx_beacon_nt_wend(st, r);
    }

    return idx;
}


uint32_t
ngx_beacon_nt_alloc(ngx_beacon_ntab_t *nt, ngx_beacon_nstripe_t *st,
    uint64_t pid, ngx_beacon_nt_grow_pt grow, void *data)
{
    uint32_t               idx, next, i, k;
    ngx_beacon_nstripe_t  *other;

    idx = ngx_beacon_nt_pop(nt, st);
    if (idx) {
        goto done;
    }

    /* never used records: a shared bump index, more chunks when needed */

    for (i = 0; i < 2; i++) {
        next = __atomic_load_n(&nt->next, __ATOMIC_RELAXED);

        while (next < ngx_beacon_nt_capacity(nt)) {
            if (__atomic_compare_exchange_n(&nt->next, &next, next + 1, 0,
                                            __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
            {
                idx = next + 1;
                goto done;
            }
        }

        if (i == 0 && (grow == NULL || grow(nt, data) != 0)) {
            break;
        }
    }

    /* records freed in other stripes; trylock only: no lock order */

    k = (uint32_t) (st - nt->stripes);

    for (i = 1; i < NGX_BEACON_NT_STRIPES; i++) {
        other = &nt->stripes[(k + i) & (NGX_BEACON_NT_STRIPES - 1)];

        if (__atomic_load_n(&other->free, __ATOMIC_RELAXED) == 0
            || !ngx_beacon_nt_trylock(other, pid))
        {
            continue;
        }

        idx = ngx_beacon_nt_pop(nt, other);
        ngx_beacon_nt_unlock(other);

        if (idx) {
            goto done;
        }
    }

    return 0;

done:

    __atomic_fetch_add(&nt->nnodes, 1, __ATOMIC_RELAXED);

    return idx;
}


void
ngx_beacon_nt_link(ngx_beacon_ntab_t *nt, uint32_t idx)
{
    uint32_t               b;
    ngx_beacon_nrec_t     *r;
    ngx_beacon_nstripe_t  *st;

    r = ngx_beacon_nt_rec(nt, idx);
    b = ngx_beacon_nt_bucket(nt, r->node_id);
    st = &nt->stripes[b & (NGX_BEACON_NT_STRIPES - 1)];

    ngx_beacon_nt_wbegin(st, r);
    r->hnext = nt->buckets[b];
    ngx_beacon_nt_wend(st, r);

    /* the record is complete before it becomes reachable */
    __atomic_store_n(&nt->buckets[b], idx, __ATOMIC_RELEASE);
}


/* an allocated record that was never linked goes back */

void
ngx_beacon_nt_unalloc(ngx_beacon_ntab_t *nt, uint32_t idx)
{
    ngx_beacon_nrec_t     *r;
    ngx_beacon_nstripe_t  *st;

    r = ngx_beacon_nt_rec(nt, idx);
    st = ngx_beacon_nt_stripe(nt, r->node_id);

    ngx_beacon_nt_wbegin(st, r);
    memset((char *) r + sizeof(uint32_t), 0,
           sizeof(ngx_beacon_nrec_t) - sizeof(uint32_t));
    r->hnext = st->free;
    ngx_beacon_nt_wend(st, r);

    st->free = idx;

    __atomic_fetch_sub(&nt->nnodes, 1, __ATOMIC_RELAXED);
}


void
ngx_beacon_nt_remove(ngx_beacon_ntab_t *nt, uint32_t idx)
{
    uint32_t              *link, b, prev;
    ngx_beacon_nrec_t     *r, *p;
    ngx_beacon_nstripe_t  *st;

    r = ngx_beacon_nt_rec(nt, idx);
    b = ngx_beacon_nt_bucket(nt, r->node_id);
    st = &nt->stripes[b & (NGX_BEACON_NT_STRIPES - 1)];

    /* readers that find nothing while the version is odd or moved retry */

    __atomic_store_n(&st->version, st->version + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);

    link = &nt->buckets[b];
    prev = 0;

    while (*link && *link != idx) {
        prev = *link;
        link = &ngx_beacon_nt_rec(nt, prev)->hnext;
    }

    if (*link == idx) {
        if (prev) {
            p = ngx_beacon_nt_rec(nt, prev);
            ngx_beacon_nt_wbegin(st, p);
            p->hnext = r->hnext;
            ngx_beacon_nt_wend(st, p);

        } else {
            __atomic_store_n(link, r->hnext, __ATOMIC_RELEASE);
        }
    }

    /* the record keeps no trace of the node: never found for its id */

    ngx_beacon_nt_wbegin(st, r);
    memset((char *) r + sizeof(uint32_t), 0,
           sizeof(ngx_beacon_nrec_t) - sizeof(uint32_t));
    r->hnext = st->free;
    ngx_beacon_nt_wend(st, r);

    st->free = idx;

    __atomic_store_n(&st->version, st->version + 1, __ATOMIC_RELEASE);

    __atomic_fetch_sub(&nt->nnodes, 1, __ATOMIC_RELAXED);
}
