
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The node table of the beacon zone, as pure code (no nginx types), so
 * the concurrency stress test (t/unit/ntab_stress.c) drives the very code
 * the module runs.
 *
 * Records are fixed-size, live in chunks that are never freed while the
 * zone lives, and hang in hash chains indexed by hash(node_id).  Readers
 * take no lock: each record has a sequence counter (odd while a writer
 * changes it), a reader copies the record between two reads of the
 * counter and retries if it changed, then checks the node id.  A stripe
 * (one of NGX_BEACON_NT_STRIPES, chosen by the bucket) serializes the
 * writers of its buckets' records and counts changes of its chains, so
 * a reader that found nothing while a chain changed looks again.
 *
 * A stripe lock word holds its holder's pid; a waiter that has spun long
 * checks whether that pid still lives and takes over a dead holder's
 * stripe; the record it was writing is never found again (node id 0, its
 * seq made even again).
 */


#ifndef _NGX_BEACON_NTAB_H_INCLUDED_
#define _NGX_BEACON_NTAB_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_BEACON_NT_STRIPES      128
#define NGX_BEACON_NT_CHUNK_SHIFT  8
#define NGX_BEACON_NT_CHUNK        (1 << NGX_BEACON_NT_CHUNK_SHIFT)
#define NGX_BEACON_NT_MIN_BITS     7       /* at least one bucket a stripe */


typedef struct {
    uint32_t                 seq;            /* odd: being written */
    uint32_t                 hnext;          /* hash chain, index + 1 */
    uint32_t                 node_id;        /* 0: free */
    uint32_t                 last_seen;      /* msec */
    uint32_t                 last_write;     /* msec */
    uint32_t                 pdue;           /* a pending move's due time */
    uint32_t                 owner_pid;
    uint16_t                 port;
    uint16_t                 lport;
    uint8_t                  flags;
    uint8_t                  reserved[3];
    uint8_t                  ip[16];
    uint8_t                  lip[16];
    uint8_t                  key[32];
    uint32_t                 reserved2;
    uint64_t                 owner_conn;
} ngx_beacon_nrec_t;                         /* 112: 256 in 7 pages */


typedef struct {
    uint64_t                 lock;           /* holder's pid, 0: free */
    uint32_t                 version;        /* chain changes; odd: busy */
    uint32_t                 free;           /* free records of the stripe */
    uint32_t                 cursor;         /* expiry walk of the stripe */
    uint32_t                *wseq;           /* seq of the record written */
    uint8_t                  pad[32];
} ngx_beacon_nstripe_t;                      /* one cache line */


typedef struct {
    uint32_t                 seed;
    uint32_t                 bucket_bits;
    uint32_t                 nchunks;        /* published with release */
    uint32_t                 max_chunks;
    uint32_t                 next;           /* first never used index */
    uint32_t                 nnodes;
    uint32_t                *buckets;
    ngx_beacon_nrec_t      **chunks;
    ngx_beacon_nstripe_t     stripes[NGX_BEACON_NT_STRIPES];
} ngx_beacon_ntab_t;


/* asked for a new chunk when no record is free; returns 0 or -1 */
typedef int (*ngx_beacon_nt_grow_pt)(ngx_beacon_ntab_t *nt, void *data);


static inline uint32_t
ngx_beacon_nt_hash(uint32_t x, uint32_t seed)
{
    x ^= seed;
    x ^= x >> 16;
    x *= 0x85ebca6b;
    x ^= x >> 13;
    x *= 0xc2b2ae35;
    x ^= x >> 16;

    return x;
}


static inline uint32_t
ngx_beacon_nt_bucket(ngx_beacon_ntab_t *nt, uint32_t node_id)
{
    return ngx_beacon_nt_hash(node_id, nt->seed) >> (32 - nt->bucket_bits);
}


static inline ngx_beacon_nstripe_t *
ngx_beacon_nt_stripe(ngx_beacon_ntab_t *nt, uint32_t node_id)
{
    return &nt->stripes[ngx_beacon_nt_bucket(nt, node_id)
                        & (NGX_BEACON_NT_STRIPES - 1)];
}


static inline ngx_beacon_nrec_t *
ngx_beacon_nt_rec(ngx_beacon_ntab_t *nt, uint32_t idx)
{
    idx--;

    return &nt->chunks[idx >> NGX_BEACON_NT_CHUNK_SHIFT]
                      [idx & (NGX_BEACON_NT_CHUNK - 1)];
}


/* a lock word of the zone: the stripes, and any other of the same kind */
void ngx_beacon_nt_lock(ngx_beacon_nstripe_t *st, uint64_t pid);
int ngx_beacon_nt_trylock(ngx_beacon_nstripe_t *st, uint64_t pid);
void ngx_beacon_nt_unlock(ngx_beacon_nstripe_t *st);
/* how many dead holders' locks this process took over */
extern uint64_t ngx_beacon_nt_recovered;

/* lock-free: 1 and a consistent copy of the node's record, or 0 */
int ngx_beacon_nt_read(ngx_beacon_ntab_t *nt, uint32_t node_id,
    ngx_beacon_nrec_t *out, uint64_t pid);

/* lock-free: 1 and a consistent copy of record idx (any node), or 0 */
int ngx_beacon_nt_read_idx(ngx_beacon_ntab_t *nt, uint32_t idx,
    ngx_beacon_nrec_t *out);

/* the rest with the node's stripe held */
ngx_beacon_nrec_t *ngx_beacon_nt_find_locked(ngx_beacon_ntab_t *nt,
    uint32_t node_id, uint32_t *pidx);
void ngx_beacon_nt_wbegin(ngx_beacon_nstripe_t *st, ngx_beacon_nrec_t *r);
void ngx_beacon_nt_wend(ngx_beacon_nstripe_t *st, ngx_beacon_nrec_t *r);
/* a free record for a node of stripe st (not yet reachable), or 0 */
uint32_t ngx_beacon_nt_alloc(ngx_beacon_ntab_t *nt, ngx_beacon_nstripe_t *st,
    uint64_t pid, ngx_beacon_nt_grow_pt grow, void *data);
/* makes a complete record reachable (node_id set), or returns it */
void ngx_beacon_nt_link(ngx_beacon_ntab_t *nt, uint32_t idx);
void ngx_beacon_nt_unalloc(ngx_beacon_ntab_t *nt, uint32_t idx);
/* unlinks, clears and frees a record */
void ngx_beacon_nt_remove(ngx_beacon_ntab_t *nt, uint32_t idx);

/* adds a chunk of NGX_BEACON_NT_CHUNK zeroed records (caller serializes) */
void ngx_beacon_nt_add_chunk(ngx_beacon_ntab_t *nt, ngx_beacon_nrec_t *chunk);
uint32_t ngx_beacon_nt_capacity(ngx_beacon_ntab_t *nt);


#endif /* _NGX_BEACON_NTAB_H_INCLUDED_ */
