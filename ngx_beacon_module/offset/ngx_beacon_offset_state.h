
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The Offset relay's shared state: which worker holds the Listen
 * connection of a public key, and which holds each pending Connect
 * (half-tunnel), so that a Listen, a Connect and an Accept landing on
 * three different workers still meet.  Two red-black trees in each of
 * 64 stripes in the beacon zone's slab pool, each stripe under a lock of
 * its own (ngx_beacon_offset_state.c says who may touch what); callers get
 * plain values back.
 */


#ifndef _NGX_BEACON_OFFSET_STATE_H_INCLUDED_
#define _NGX_BEACON_OFFSET_STATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_shm.h"


#define NGX_BEACON_OFFSET_PK_LEN  32


/*
 * Registers owner as the Listen connection of pk: NGX_OK with prev set to
 * the owner it replaced (pid 0 if none), NGX_DECLINED if the zone is full.
 */
ngx_int_t ngx_beacon_offset_listen(ngx_beacon_zone_t *z, const u_char *pk,
    const ngx_beacon_owner_t *owner, ngx_beacon_owner_t *prev);
/*
 * Removes the registration if it still is this owner: NGX_OK, else
 * NGX_DECLINED (a newer Listen took over).
 */
ngx_int_t ngx_beacon_offset_unlisten(ngx_beacon_zone_t *z, const u_char *pk,
    const ngx_beacon_owner_t *owner);
/* NGX_OK with owner set, or NGX_DECLINED */
ngx_int_t ngx_beacon_offset_listener(ngx_beacon_zone_t *z, const u_char *pk,
    ngx_beacon_owner_t *owner);

/*
 * A pending Connect from cpk to the listener lpk: NGX_OK, NGX_BUSY when
 * one is already pending for the pair, NGX_DECLINED if the zone is full.
 */
ngx_int_t ngx_beacon_offset_half_add(ngx_beacon_zone_t *z, const u_char *lpk,
    const u_char *cpk, const ngx_beacon_owner_t *owner);
/* removes the pair and returns its owner: NGX_OK or NGX_DECLINED */
ngx_int_t ngx_beacon_offset_half_take(ngx_beacon_zone_t *z, const u_char *lpk,
    const u_char *cpk, ngx_beacon_owner_t *owner);
/* removes the pair only if it still is this owner */
void ngx_beacon_offset_half_del(ngx_beacon_zone_t *z, const u_char *lpk,
    const u_char *cpk, const ngx_beacon_owner_t *owner);
/*
 * Removes every pending Connect to lpk (its listener went away); up to
 * max owners are returned, the count of all removed is the result.
 */
ngx_uint_t ngx_beacon_offset_half_drop(ngx_beacon_zone_t *z,
    const u_char *lpk, ngx_beacon_owner_t *owners, ngx_uint_t max);


#endif /* _NGX_BEACON_OFFSET_STATE_H_INCLUDED_ */
