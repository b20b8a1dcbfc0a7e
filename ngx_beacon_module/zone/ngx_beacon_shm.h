
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The beacon zone: the only code that touches the shared memory and its
 * locks.  Callers ask questions and get plain values back; nobody holds
 * a lock or a pointer into the zone across a syscall.  Node lookups take
 * no lock, node writes one of 128 stripes (ngx_beacon_ntab.h).
 *
 * Each table has one owner file, which alone touches its memory and its
 * locks (ngx_beacon_zone.h, included by the zone's files only, lays the
 * zone out member by member): the sections below are grouped by it.  The
 * counters are registered by the rooms that count them
 * (ngx_beacon_counters.h); the gossip routes and the Offset relay's
 * pairing tables are owned by their rooms, which reach them through the
 * typed anchors.
 */


#ifndef _NGX_BEACON_SHM_H_INCLUDED_
#define _NGX_BEACON_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_proto.h"
#include "ngx_beacon_counters.h"


#define NGX_BEACON_ZONE_MAGIC        0x6e626336   /* "nbc6" */

#define NGX_BEACON_SLOTS             64           /* per-worker counter slots */

/* node flags */
#define NGX_BEACON_NODE_DEST         0x01         /* DISCOVER_EX: wants 0x09 */
#define NGX_BEACON_NODE_KEY          0x02         /* key[] is set */
#define NGX_BEACON_NODE_LV6          0x04         /* via an AF_INET6 socket */
#define NGX_BEACON_NODE_WSS          0x08         /* a live compat connection */
#define NGX_BEACON_NODE_NOUDP        0x10         /* no UDP endpoint: WSS */
#define NGX_BEACON_NODE_PENDING      0x20         /* a throttled move waits */

/* the synthetic "address" of a bridged node, for the relay budget */
#define NGX_BEACON_WSS_PREFIX        "\x20\x01\x0d\xb8\xbe\xac\x00\x00"


/* results of state operations */
typedef enum {
    NGX_BEACON_REG_NEW = 0,
    NGX_BEACON_REG_REFRESHED,
    NGX_BEACON_REG_MOVED,
    NGX_BEACON_REG_THROTTLED,
    NGX_BEACON_REG_REFUSED,         /* zone full or max_nodes reached */
    NGX_BEACON_REG_RATE_LIMITED,    /* new-node budget of the source IP */
    NGX_BEACON_REG_PROBE            /* node_id 0: never registered */
} ngx_beacon_reg_e;


typedef enum {
    NGX_BEACON_RELAY_OK = 0,
    NGX_BEACON_RELAY_SENDER_MISMATCH,
    NGX_BEACON_RELAY_NOT_FOUND,
    NGX_BEACON_RELAY_RATE_LIMITED
} ngx_beacon_relay_e;


typedef enum {
    NGX_BEACON_PUNCH_OK = 0,
    NGX_BEACON_PUNCH_NOT_FOUND,
    NGX_BEACON_PUNCH_MISMATCH
} ngx_beacon_punch_e;


/* the counters, ngx_beacon_counter_e: ngx_beacon_counters.h */


typedef struct {
    ngx_atomic_t             c[NGX_BEACON_C_LAST];
    /* padded so two workers never share a cache line */
    u_char                   pad[64 - (NGX_BEACON_C_LAST * sizeof(ngx_atomic_t))
                                      % 64];
} ngx_beacon_slot_t;


/* Offset relay gauges: one set per worker claim, summed by the status page */
typedef enum {
    NGX_BEACON_OG_CONNECTIONS = 0,
    NGX_BEACON_OG_HANDSHAKES,
    NGX_BEACON_OG_LISTENERS,
    NGX_BEACON_OG_HALF_TUNNELS,
    NGX_BEACON_OG_TUNNELS,
    NGX_BEACON_OG_LAST
} ngx_beacon_gauge_e;


/* a node's endpoint as the sender needs it */
typedef struct {
    ngx_beacon_addr_t        addr;      /* the node's observed address */
    ngx_beacon_addr_t        local;     /* the beacon address it talked to */
    ngx_uint_t               flags;     /* NGX_BEACON_NODE_* */
    ngx_pid_t                owner_pid; /* NGX_BEACON_NODE_WSS: who holds */
    uint64_t                 owner_conn;/* its connection (c->number) */
} ngx_beacon_ep_t;


/* a compat connection as the zone knows it */
typedef struct {
    ngx_pid_t                pid;
    uint64_t                 conn;
} ngx_beacon_owner_t;


/* a token bucket: rate per second, burst; rate 0 = unlimited */
typedef struct {
    ngx_uint_t               rate;
    ngx_uint_t               burst;
} ngx_beacon_rate_t;


typedef struct ngx_beacon_sh_s         ngx_beacon_sh_t;
typedef struct ngx_beacon_gossip_s     ngx_beacon_gossip_t;
typedef struct ngx_beacon_offset_sh_s  ngx_beacon_offset_sh_t;


typedef struct {
    ngx_beacon_sh_t         *sh;
    ngx_slab_pool_t         *shpool;
    ngx_shm_zone_t          *shm_zone;
    ngx_str_t                name;
    ngx_uint_t               max_nodes;
    time_t                   ttl;              /* seconds */
    ngx_int_t                claim;            /* this process's slot, -1 */
    void                    *budget;           /* this worker's relay budgets */
    ngx_str_t                state;            /* state=, "" if none */
    ngx_msec_t               state_next;       /* next periodic write */
} ngx_beacon_zone_t;


/* what a DISCOVER asks of the node table */
typedef struct {
    uint32_t                 node_id;
    ngx_beacon_addr_t        src;
    ngx_beacon_addr_t        local;
    unsigned                 lv6:1;
    unsigned                 ex:1;
    unsigned                 learn_key:1;
    const uint8_t           *key;
    ngx_msec_t               throttle;
    ngx_beacon_rate_t        reg_limit;
} ngx_beacon_reg_t;


/*
 * ngx_beacon_shm.c: the zone, its counters and stats, drain, the reaping
 * lease, the worker claims and connection admission (one lock, per
 * connection or per second), the anchors of other rooms' tables
 */

ngx_int_t ngx_beacon_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data);

/* counters (ngx_beacon_counters.h): this worker's slot, atomic */
void ngx_beacon_count(ngx_beacon_zone_t *z, ngx_beacon_counter_e c);
void ngx_beacon_count_n(ngx_beacon_zone_t *z, ngx_beacon_counter_e c,
    ngx_atomic_int_t n);

typedef struct {
    uint64_t                 c[NGX_BEACON_C_LAST];
    uint64_t                 worker_datagrams[NGX_BEACON_SLOTS];
    ngx_uint_t               ws_connections;
    ngx_uint_t               ws_peers;
    ngx_uint_t               offset[NGX_BEACON_OG_LAST];
    ngx_uint_t               nodes;
    size_t                   size;
    size_t                   used;
    size_t                   free;
    ngx_uint_t               draining;
} ngx_beacon_stats_t;

void ngx_beacon_shm_stats(ngx_beacon_zone_t *z, ngx_beacon_stats_t *st);

/*
 * Draining (W15): one flag per zone, seen by every worker and kept across
 * reloads like the zone; only the health page reads it.  Setting it
 * returns the previous value.
 */
ngx_uint_t ngx_beacon_shm_drain(ngx_beacon_zone_t *z, ngx_uint_t draining);
ngx_uint_t ngx_beacon_shm_draining(ngx_beacon_zone_t *z);

/*
 * reaping: only the lease holder does it (ngx_beacon_shm_expire()); it
 * also writes the state file (state=) every NGX_BEACON_STATE_INTERVAL and
 * when it exits (release)
 */
#define NGX_BEACON_STATE_INTERVAL    10000
ngx_int_t ngx_beacon_shm_lease(ngx_beacon_zone_t *z, ngx_msec_t ttl);
void ngx_beacon_shm_release(ngx_beacon_zone_t *z);

/*
 * Worker claims: each worker process holds one slot, keyed by its pid, in
 * which it counts its bridge connections; a dead worker's slot is taken
 * over (and its counts dropped) by the next worker that starts.
 */
ngx_int_t ngx_beacon_shm_claim(ngx_beacon_zone_t *z);
void ngx_beacon_shm_unclaim(ngx_beacon_zone_t *z);
/* admits one more bridge connection from addr: NGX_OK or NGX_BUSY */
ngx_int_t ngx_beacon_shm_ws_admit(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr, ngx_uint_t max_total, ngx_uint_t max_ip);
void ngx_beacon_shm_ws_leave(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr);
void ngx_beacon_shm_ws_peers(ngx_beacon_zone_t *z, ngx_int_t delta);

/*
 * The Offset relay's admission (W4, W5): one more TCP connection from
 * addr, also holding a handshake slot.  Limits are over all workers; 0 is
 * no limit.  NGX_OK, or NGX_BUSY (nothing taken).
 */
ngx_int_t ngx_beacon_shm_offset_admit(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr, ngx_uint_t max_total, ngx_uint_t max_ip,
    ngx_uint_t max_handshakes);
void ngx_beacon_shm_offset_leave(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr);
/* this worker's gauges; they go with its claim */
void ngx_beacon_shm_offset_gauge(ngx_beacon_zone_t *z, ngx_beacon_gauge_e g,
    ngx_int_t delta);

/*
 * Tables owned by other rooms live in the zone too; the zone only keeps
 * their anchors, each typed, and never looks inside: the gossip peers and
 * routes (pilot/ngx_beacon_gossip.c), the Offset relay's pairing tables
 * (offset/ngx_beacon_offset_state.c).
 */
ngx_beacon_gossip_t **ngx_beacon_shm_gossip(ngx_beacon_zone_t *z);
ngx_beacon_offset_sh_t **ngx_beacon_shm_offset(ngx_beacon_zone_t *z);


/*
 * ngx_beacon_nodes.c: the node table.  Lookups take no lock; writes take
 * the node's stripe (one of 128).
 */

ngx_beacon_reg_e ngx_beacon_shm_register(ngx_beacon_zone_t *z,
    ngx_beacon_reg_t *reg);
ngx_beacon_relay_e ngx_beacon_shm_relay(ngx_beacon_zone_t *z,
    uint32_t sender, uint32_t dest, const ngx_beacon_addr_t *src,
    ngx_uint_t bind_sender, ngx_uint_t limit, ngx_beacon_ep_t *ep);
ngx_beacon_punch_e ngx_beacon_shm_punch(ngx_beacon_zone_t *z,
    ngx_beacon_reg_t *requester, uint32_t target, ngx_beacon_ep_t *req_ep,
    ngx_beacon_ep_t *tgt_ep);
ngx_int_t ngx_beacon_shm_get_key(ngx_beacon_zone_t *z, uint32_t node_id,
    uint8_t *key);
ngx_int_t ngx_beacon_shm_lookup(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_ep_t *ep);
/* node presence (lock-free) */
ngx_int_t ngx_beacon_shm_has_node(ngx_beacon_zone_t *z, uint32_t node_id);
/* up to max node ids, most recently refreshed first */
ngx_uint_t ngx_beacon_shm_node_ids(ngx_beacon_zone_t *z, uint32_t *ids,
    ngx_uint_t max);
/* the lease holder's reaping, up to max nodes */
ngx_uint_t ngx_beacon_shm_expire(ngx_beacon_zone_t *z, ngx_uint_t max);

/*
 * The compat bridge.  A node's live WebSocket is an owner record in its
 * node entry; a node known only through the bridge has no UDP endpoint.
 */

/* NGX_OK (prev set to the replaced owner, pid 0 if none), NGX_DECLINED
 * when the zone is full */
ngx_int_t ngx_beacon_shm_ws_attach(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_owner_t *owner, ngx_beacon_owner_t *prev);
/* clears the owner only if it is still this one */
void ngx_beacon_shm_ws_detach(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_owner_t *owner);
/* a DISCOVER over the bridge: refreshes the node if owner holds it */
ngx_int_t ngx_beacon_shm_ws_present(ngx_beacon_zone_t *z, uint32_t node_id,
    ngx_beacon_owner_t *owner);


/*
 * ngx_beacon_limits.c: the limiters, each set under one of 128 limiter
 * stripes, and this worker's relay budgets (no lock)
 */

/* per-IP (IPv6: /64) token bucket; NGX_OK or NGX_BUSY */
ngx_int_t ngx_beacon_shm_reply_allowed(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *dst, ngx_beacon_rate_t *rate);
/*
 * punch budgets, token buckets of "burst" requests refilled at the rate
 * per second: per source IP, then global; NGX_OK or NGX_BUSY
 */
ngx_int_t ngx_beacon_shm_punch_ip_allowed(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t per_ip, ngx_uint_t burst);
ngx_int_t ngx_beacon_shm_punch_global_allowed(ngx_beacon_zone_t *z,
    ngx_uint_t global, ngx_uint_t burst);
/* records a grant; NGX_OK the first time, NGX_DECLINED when replayed */
ngx_int_t ngx_beacon_shm_grant_once(ngx_beacon_zone_t *z,
    const uint8_t *sig, int64_t expiry);
/* auth failures per source IP: NGX_OK or NGX_BUSY (no budget left) */
ngx_int_t ngx_beacon_shm_auth_allowed(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *addr, ngx_uint_t per_minute, ngx_uint_t fail);
/* the relay budget alone, for relays leaving through a peer beacon */
ngx_int_t ngx_beacon_shm_relay_budget(ngx_beacon_zone_t *z,
    const ngx_beacon_addr_t *src, ngx_uint_t limit);
/* frees this worker's relay budgets (exit_process) */
void ngx_beacon_shm_budget_free(ngx_beacon_zone_t *z);


/*
 * ngx_beacon_keycache.c: the bridge's key cache.  NGX_OK (key),
 * NGX_DECLINED (known absent), NGX_AGAIN (miss).
 */

ngx_int_t ngx_beacon_shm_key_get(ngx_beacon_zone_t *z, uint32_t node_id,
    uint8_t *key);
void ngx_beacon_shm_key_put(ngx_beacon_zone_t *z, uint32_t node_id,
    const uint8_t *key, time_t ttl);


#endif /* _NGX_BEACON_SHM_H_INCLUDED_ */
