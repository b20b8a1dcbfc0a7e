
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Concurrency stress test of the zone's node table (ngx_beacon_ntab.c,
 * the module's own code): many more processes than cores share one
 * table in shared memory and run a mix of lookups, moves, refreshes,
 * expiry (removal) and inserts that reuse the freed records for other
 * ids.  Every endpoint a writer stores encodes the node id, a unique
 * stamp and a check value, written field by field; every lookup checks
 * that what it got is one whole endpoint really written for that id.
 *
 *   ntab_stress [processes] [total operations] [kill]
 *
 * With "kill", one extra process dies (SIGKILL) holding a stripe in the
 * middle of a record; the others must take the stripe over and finish.
 *
 * Prints one line of figures; exits 1 on any violation.
 */


#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ngx_beacon_ntab.h"


#define IDS          8192
#define BITS         12
#define MAX_CHUNKS   64


typedef struct {
    ngx_beacon_ntab_t     nt;
    ngx_beacon_nstripe_t  slab;             /* stands for the slab mutex */
    uint32_t              buckets[1 << BITS];
    ngx_beacon_nrec_t    *chunks[MAX_CHUNKS];
    uint64_t              lookups;
    uint64_t              found;
    uint64_t              writes;
    uint64_t              removes;
    uint64_t              inserts;
    uint64_t              violations;
    uint64_t              recovered;
    uint32_t              chunks_used;
} shared_t;


static shared_t           *sh;
static ngx_beacon_nrec_t  *pool;


static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;

    return *s;
}


static uint32_t
check32(uint32_t id, uint64_t stamp)
{
    return ngx_beacon_nt_hash(id ^ (uint32_t) stamp ^ (uint32_t) (stamp >> 32),
                              0x9e3779b9);
}


static int
grow(ngx_beacon_ntab_t *nt, void *data)
{
    int  rc;

    (void) data;

    rc = -1;

    ngx_beacon_nt_lock(&sh->slab, (uint64_t) getpid());

    if (nt->nchunks < nt->max_chunks) {
        ngx_beacon_nt_add_chunk(nt, pool + (size_t) sh->chunks_used++
                                           * NGX_BEACON_NT_CHUNK);
        rc = 0;
    }

    ngx_beacon_nt_unlock(&sh->slab);

    return rc;
}


/* an endpoint for id, stored field by field: a torn copy fails check */

static void
put_ep(ngx_beacon_nrec_t *r, uint32_t id, uint64_t stamp)
{
    uint32_t  c;

    c = check32(id, stamp);

    memcpy(r->ip, &id, 4);
    memcpy(r->ip + 4, &stamp, 8);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    r->port = (uint16_t) c;
    memcpy(r->key, &stamp, 8);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memcpy(r->ip + 12, &c, 4);
    memcpy(r->lip, &c, 4);
    memcpy(r->key + 8, &id, 4);
}


static int
ep_ok(ngx_beacon_nrec_t *r, uint32_t id)
{
    uint32_t  rid, c, kid;
    uint64_t  stamp, kstamp;

    memcpy(&rid, r->ip, 4);
    memcpy(&stamp, r->ip + 4, 8);
    memcpy(&c, r->ip + 12, 4);
    memcpy(&kstamp, r->key, 8);
    memcpy(&kid, r->key + 8, 4);

    return r->node_id == id && rid == id && kid == id && stamp == kstamp
           && c == check32(id, stamp) && r->port == (uint16_t) c
           && memcmp(r->lip, &c, 4) == 0;
}


static void
worker(unsigned n, uint64_t ops)
{
    uint32_t               id, idx;
    uint64_t               i, s, pid, stamp, op;
    uint64_t               lookups, found, writes, removes, inserts, bad;
    ngx_beacon_nrec_t      r, *p;
    ngx_beacon_nstripe_t  *st;

    pid = (uint64_t) getpid();
    s = pid * 0x9e3779b97f4a7c15ULL + n + 1;
    stamp = pid << 40;
    lookups = found = writes = removes = inserts = bad = 0;

    for (i = 0; i < ops; i++) {
        op = rnd(&s);
        id = 1 + (uint32_t) ((op >> 8) % IDS);
        op &= 0xff;

        if (op < 150) {
            lookups++;

            if (ngx_beacon_nt_read(&sh->nt, id, &r, pid)) {
                found++;

                if (!ep_ok(&r, id)) {
                    bad++;
                }
            }

            continue;
        }

        st = ngx_beacon_nt_stripe(&sh->nt, id);

        ngx_beacon_nt_lock(st, pid);

        p = ngx_beacon_nt_find_locked(&sh->nt, id, &idx);

        if (p && op < 200) {
            /* a move: a new endpoint */
            ngx_beacon_nt_wbegin(st, p);
            put_ep(p, id, ++stamp);
            p->last_write = (uint32_t) i;
            ngx_beacon_nt_wend(st, p);
            writes++;

        } else if (p && op < 220) {
            /* a refresh */
            ngx_beacon_nt_wbegin(st, p);
            p->last_seen = (uint32_t) i;
            ngx_beacon_nt_wend(st, p);
            writes++;

        } else if (p) {
            /* expiry: the record goes back, to be reused by another id */
            ngx_beacon_nt_remove(&sh->nt, idx);
            removes++;

        } else {
            idx = ngx_beacon_nt_alloc(&sh->nt, st, pid, grow, NULL);

            if (idx) {
                p = ngx_beacon_nt_rec(&sh->nt, idx);
                ngx_beacon_nt_wbegin(st, p);
                p->node_id = id;
                put_ep(p, id, ++stamp);
                ngx_beacon_nt_wend(st, p);
                ngx_beacon_nt_link(&sh->nt, idx);
                inserts++;
            }
        }

        ngx_beacon_nt_unlock(st);
    }

    __atomic_fetch_add(&sh->lookups, lookups, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->found, found, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->writes, writes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->removes, removes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->inserts, inserts, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->violations, bad, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->recovered, ngx_beacon_nt_recovered,
                       __ATOMIC_RELAXED);
}


/* dies holding the stripe of a live node, its record half written */

static void
die_holding(void)
{
    uint32_t               id, idx;
    uint64_t               pid;
    ngx_beacon_nrec_t     *p;
    ngx_beacon_nstripe_t  *st;

    pid = (uint64_t) getpid();

    for (id = 1; ; id = id % IDS + 1) {
        st = ngx_beacon_nt_stripe(&sh->nt, id);
        ngx_beacon_nt_lock(st, pid);

        p = ngx_beacon_nt_find_locked(&sh->nt, id, &idx);

        if (p) {
            ngx_beacon_nt_wbegin(st, p);
            memset(p->ip, 0xee, 8);
            kill(getpid(), SIGKILL);
        }

        ngx_beacon_nt_unlock(st);
    }
}


int
main(int argc, char **argv)
{
    int             status, failed;
    pid_t           pid;
    size_t          size;
    unsigned        i, procs, odd, linked, dead;
    uint32_t        b, idx;
    uint64_t        ops;
    struct timeval  t0, t1;
    double          secs;

    procs = argc > 1 ? (unsigned) atoi(argv[1]) : 16;
    ops = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000;

    size = sizeof(shared_t)
           + (size_t) MAX_CHUNKS * NGX_BEACON_NT_CHUNK
             * sizeof(ngx_beacon_nrec_t);

    sh = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS,
              -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        return 2;
    }

    pool = (ngx_beacon_nrec_t *) (sh + 1);

    sh->nt.seed = 12345;
    sh->nt.bucket_bits = BITS;
    sh->nt.buckets = sh->buckets;
    sh->nt.chunks = sh->chunks;
    /* fewer records than ids: a full table, stolen free records */
    sh->nt.max_chunks = (IDS / 2) / NGX_BEACON_NT_CHUNK;

    gettimeofday(&t0, NULL);

    for (i = 0; i < procs; i++) {
        pid = fork();

        if (pid == 0) {
            worker(i, ops / procs);
            _exit(0);
        }

        if (pid < 0) {
            perror("fork");
            return 2;
        }
    }

    if (argc > 3 && strcmp(argv[3], "kill") == 0) {
        pid = fork();

        if (pid == 0) {
            die_holding();
            _exit(0);
        }
    }

    failed = 0;

    while ((pid = wait(&status)) > 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            failed = 1;
        }
    }

    gettimeofday(&t1, NULL);
    secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6;

    /* the table after the storm: chains sound, no record left odd */

    odd = 0;
    linked = 0;
    dead = 0;

    for (idx = 1; idx <= sh->nt.nchunks * NGX_BEACON_NT_CHUNK; idx++) {
        if (ngx_beacon_nt_rec(&sh->nt, idx)->seq & 1) {
            odd++;
        }
    }

    for (b = 0; b < (1u << BITS); b++) {
        for (idx = sh->buckets[b]; idx;
             idx = ngx_beacon_nt_rec(&sh->nt, idx)->hnext)
        {
            if (ngx_beacon_nt_rec(&sh->nt, idx)->node_id == 0) {
                dead++;             /* left by the killed writer */
                continue;
            }

            if (ngx_beacon_nt_bucket(&sh->nt,
                                     ngx_beacon_nt_rec(&sh->nt, idx)->node_id)
                != b)
            {
                failed = 1;
            }

            linked++;
        }
    }

    if (linked + dead != sh->nt.nnodes || odd || dead > 1) {
        failed = 1;
    }

    printf("processes=%u operations=%llu seconds=%.2f lookups=%llu "
           "found=%llu writes=%llu removes=%llu inserts=%llu nodes=%u "
           "linked=%u dead=%u odd=%u recovered=%llu violations=%llu\n",
           procs, (unsigned long long) (ops / procs * procs), secs,
           (unsigned long long) sh->lookups, (unsigned long long) sh->found,
           (unsigned long long) sh->writes, (unsigned long long) sh->removes,
           (unsigned long long) sh->inserts, sh->nt.nnodes, linked, dead, odd,
           (unsigned long long) sh->recovered,
           (unsigned long long) sh->violations);

    return failed || sh->violations ? 1 : 0;
}
