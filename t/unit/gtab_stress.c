
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Concurrency stress test of the gossip route table (ngx_beacon_gtab.c,
 * the module's own code): many more processes than cores share one
 * table in shared memory and run a mix of lock-free route lookups and
 * writes: SYNCs (a new generation of a source, then its ids installed in
 * batches), from more peer addresses than there are source slots, so
 * silent sources die and their slots go to other addresses, and sweeps
 * that free dead routes for other ids.  The ids a SYNC announces are a
 * function of its address and generation, and its beacon id one of its
 * address; every route a lookup returns is checked: a whole address
 * (each byte checked), the beacon id of that address, and the id really
 * announced by that address in that generation.
 *
 *   gtab_stress [processes] [total operations] [kill]
 *
 * Built with NGX_BEACON_GT_BROKEN, the table gives a slot to a new
 * address without a new generation (the old address's routes would then
 * lead to the new one): the checker must see it.
 *
 * With "kill", one extra process dies (SIGKILL) holding the table lock
 * in the middle of a source's write; the others must take the lock over
 * and finish, and no lookup may return the half-written source.
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

#include "ngx_beacon_gtab.h"


#define BITS         11                 /* 2048 routes */
#define IDS          4096               /* more ids than routes */
#define ADDRS        96                 /* more addresses than slots */
#define SHARE        32                 /* a SYNC announces 1/SHARE */
#define BATCH        64
#define TICK         3000               /* ms of the clock per SYNC */


typedef struct {
    ngx_beacon_gtab_t     gt;
    uint32_t              buckets[1 << BITS];
    ngx_beacon_groute_t   routes[1 << BITS];
    uint32_t              clock;
    uint64_t              lookups;
    uint64_t              found;
    uint64_t              syncs;
    uint64_t              busy;
    uint64_t              installed;
    uint64_t              full;
    uint64_t              swept;
    uint64_t              violations;
    uint64_t              recovered;
} shared_t;


static shared_t  *sh;


static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;

    return *s;
}


static uint32_t
check32(uint32_t k)
{
    return ngx_beacon_nt_hash(k, 0x9e3779b9) | 1;
}


/* address k: k and its check value in every part of it */

static void
make_addr(uint32_t k, ngx_beacon_addr_t *a)
{
    uint32_t  c;

    c = check32(k);

    memcpy(a->ip, &k, 4);
    memcpy(a->ip + 4, &c, 4);
    memcpy(a->ip + 8, &k, 4);
    memcpy(a->ip + 12, &c, 4);
    a->port = (uint16_t) c;
}


/* k of a whole address, or -1 */

static int
addr_k(const ngx_beacon_addr_t *a)
{
    uint32_t  k, c, k2, c2;

    memcpy(&k, a->ip, 4);
    memcpy(&c, a->ip + 4, 4);
    memcpy(&k2, a->ip + 8, 4);
    memcpy(&c2, a->ip + 12, 4);

    if (k >= ADDRS || k != k2 || c != c2 || c != check32(k)
        || a->port != (uint16_t) c)
    {
        return -1;
    }

    return (int) k;
}


static uint32_t
beacon_id_of(uint32_t k)
{
    return 7000 + k;
}


/* whether address k announces id in generation gen */

static int
announced(uint32_t k, uint32_t gen, uint32_t id)
{
    return ngx_beacon_nt_hash(id ^ (k << 20), gen) % SHARE == 0;
}


static void
sync_one(uint32_t k, uint64_t pid, uint64_t *installed, uint64_t *full,
    uint64_t *busy)
{
    uint32_t            id, n, now, ids[BATCH];
    ngx_beacon_addr_t   a;
    ngx_beacon_gsync_t  gs;

    make_addr(k, &a);

    now = __atomic_add_fetch(&sh->clock, TICK, __ATOMIC_RELAXED);

    if (ngx_beacon_gt_begin(&sh->gt, &a, beacon_id_of(k), now, pid, &gs)
        != 0)
    {
        (*busy)++;
        return;
    }

    n = 0;

    for (id = 1; id <= IDS; id++) {
        if (!announced(k, gs.gen, id)) {
            continue;
        }

        ids[n++] = id;

        if (n == BATCH || id == IDS) {
            if (ngx_beacon_gt_install(&sh->gt, &gs, ids, n, now, pid) != 0) {
                (*full)++;
                break;
            }

            *installed += n;
            n = 0;
        }
    }

    if (n && ngx_beacon_gt_install(&sh->gt, &gs, ids, n, now, pid) == 0) {
        *installed += n;
    }
}


static void
worker(unsigned w, uint64_t ops)
{
    int                k;
    uint32_t           id, now;
    uint64_t           i, s, op, pid, silent;
    uint64_t           lookups, found, syncs, busy, installed, full, swept;
    uint64_t           bad;
    ngx_beacon_ghit_t  hit;

    pid = (uint64_t) getpid();
    s = pid * 0x9e3779b97f4a7c15ULL + w + 1;
    lookups = found = syncs = busy = installed = full = swept = bad = 0;

    for (i = 0; i < ops; i++) {
        op = rnd(&s);
        id = 1 + (uint32_t) ((op >> 16) % IDS);
        op &= 0xffff;

        if (op < 64880) {                          /* 99 % */
            lookups++;
            now = __atomic_load_n(&sh->clock, __ATOMIC_RELAXED);

            if (!ngx_beacon_gt_route(&sh->gt, id, now, pid, &hit)) {
                continue;
            }

            found++;
            k = addr_k(&hit.peer);

            if (k < 0 || hit.beacon_id != beacon_id_of((uint32_t) k)
                || !announced((uint32_t) k, hit.gen, id)
                || hit.slot >= NGX_BEACON_GT_SOURCES)
            {
                bad++;
            }

            continue;
        }

        if (op < 65400) {
            syncs++;
            sync_one((uint32_t) ((op >> 4) ^ (s >> 40)) % ADDRS, pid,
                     &installed, &full, &busy);
            continue;
        }

        now = __atomic_load_n(&sh->clock, __ATOMIC_RELAXED);
        swept += ngx_beacon_gt_sweep(&sh->gt, 64, now, pid, &silent);
    }

    __atomic_fetch_add(&sh->lookups, lookups, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->found, found, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->syncs, syncs, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->busy, busy, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->installed, installed, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->full, full, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->swept, swept, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->violations, bad, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sh->recovered, ngx_beacon_nt_recovered,
                       __ATOMIC_RELAXED);
}


/*
 * Dies holding the table lock, a used source slot half rewritten for
 * another address (the address changed, its generation not yet): a
 * reader that took it would route that slot's ids to the wrong address.
 */

static void
die_holding(void)
{
    uint32_t               i;
    uint64_t               pid;
    ngx_beacon_addr_t      a;
    ngx_beacon_gsource_t  *src;

    pid = (uint64_t) getpid();

    for ( ;; ) {
        ngx_beacon_gt_lock(&sh->gt, pid);

        for (i = 0; i < NGX_BEACON_GT_SOURCES; i++) {
            src = &sh->gt.src[i];

            if (src->used && src->routes) {
                sh->gt.wsrc = i + 1;
                __atomic_store_n(&src->seq, src->seq + 1, __ATOMIC_RELEASE);
                make_addr((uint32_t) addr_k(&src->addr) ^ 1, &a);
                src->addr = a;
                kill(getpid(), SIGKILL);
            }
        }

        ngx_beacon_gt_unlock(&sh->gt);
        usleep(1000);
    }
}


int
main(int argc, char **argv)
{
    int                 status, failed, killing;
    pid_t               pid;
    unsigned            i, procs, odd, linked, dead, nfree, bad_bucket;
    uint32_t            b, idx, gen, slot, counted[NGX_BEACON_GT_SOURCES];
    uint32_t            routes_off;
    uint64_t            ops;
    struct timeval      t0, t1;
    double              secs;
    ngx_beacon_groute_t  *r;

    procs = argc > 1 ? (unsigned) atoi(argv[1]) : 16;
    ops = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000;
    killing = argc > 3 && strcmp(argv[3], "kill") == 0;

    sh = mmap(NULL, sizeof(shared_t), PROT_READ|PROT_WRITE,
              MAP_SHARED|MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        return 2;
    }

    ngx_beacon_gt_init(&sh->gt, BITS, sh->buckets, sh->routes);
    sh->clock = 1;

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

    if (killing) {
        pid = fork();

        if (pid == 0) {
            usleep(50000);
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

    /* the table after the storm: chains sound, nothing left odd */

    odd = linked = dead = nfree = bad_bucket = 0;
    memset(counted, 0, sizeof(counted));

    for (idx = 0; idx < (1u << BITS); idx++) {
        if (sh->routes[idx].seq & 1) {
            odd++;
        }
    }

    for (i = 0; i < NGX_BEACON_GT_SOURCES; i++) {
        if (sh->gt.src[i].seq & 1) {
            odd++;
        }
    }

    for (b = 0; b < (1u << BITS); b++) {
        for (idx = sh->buckets[b]; idx; idx = r->hnext) {
            r = &sh->routes[idx - 1];

            if (r->node_id == 0) {
                dead++;             /* left by the killed writer */
                continue;
            }

            if ((ngx_beacon_nt_hash(r->node_id, 0x2545f491) >> (32 - BITS))
                != b)
            {
                bad_bucket++;
            }

            slot = ngx_beacon_gt_tag_slot(r->tag);
            gen = ngx_beacon_gt_tag_gen(r->tag);

            if (slot < NGX_BEACON_GT_SOURCES && sh->gt.src[slot].used
                && sh->gt.src[slot].gen == gen)
            {
                counted[slot]++;
            }

            linked++;
        }
    }

    for (idx = sh->gt.free; idx && nfree <= (1u << BITS);
         idx = sh->routes[idx - 1].hnext)
    {
        nfree++;
    }

    /* each source's route count, as the writers kept it */

    routes_off = 0;

    for (i = 0; i < NGX_BEACON_GT_SOURCES; i++) {
        if (sh->gt.src[i].used && sh->gt.src[i].routes != counted[i]) {
            routes_off++;
        }
    }

    if (odd || bad_bucket || linked + dead != sh->gt.nroutes
        || linked + dead + nfree + (killing ? 1 : 0) < (1u << BITS)
        || linked + dead + nfree > (1u << BITS)
        || dead > 1 || (!killing && routes_off))
    {
        failed = 1;
    }

    printf("processes=%u operations=%llu seconds=%.2f lookups=%llu "
           "found=%llu syncs=%llu busy=%llu installed=%llu full=%llu "
           "swept=%llu routes=%u linked=%u dead=%u free=%u odd=%u "
           "bad_bucket=%u routes_off=%u recovered=%llu violations=%llu\n",
           procs, (unsigned long long) (ops / procs * procs), secs,
           (unsigned long long) sh->lookups, (unsigned long long) sh->found,
           (unsigned long long) sh->syncs, (unsigned long long) sh->busy,
           (unsigned long long) sh->installed,
           (unsigned long long) sh->full, (unsigned long long) sh->swept,
           sh->gt.nroutes, linked, dead, nfree, odd, bad_bucket, routes_off,
           (unsigned long long) sh->recovered,
           (unsigned long long) sh->violations);

    return failed || sh->violations ? 1 : 0;
}
