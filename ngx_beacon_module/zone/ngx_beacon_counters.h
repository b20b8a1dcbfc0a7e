
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The zone's counters, composed from the lists of the rooms that count
 * them; each room declares its own in one header of its folder:
 * pilot/ngx_beacon_pilot_counters.h, compat/ngx_beacon_compat_counters.h,
 * offset/ngx_beacon_offset_counters.h, pilot/ngx_beacon_stun_counters.h
 * (the format is described in the first).  The zone owns their memory
 * (one array per worker slot, ngx_beacon_shm.c); the status page and the
 * Prometheus page iterate the descriptors below, group by group in the
 * order composed here, and name no counter.
 */


#ifndef _NGX_BEACON_COUNTERS_H_INCLUDED_
#define _NGX_BEACON_COUNTERS_H_INCLUDED_


#include "ngx_beacon_pilot_counters.h"
#include "ngx_beacon_compat_counters.h"
#include "ngx_beacon_offset_counters.h"
#include "ngx_beacon_stun_counters.h"


#define NGX_BEACON_COUNTER_GROUPS(G)                                          \
    NGX_BEACON_PILOT_GROUPS(G)                                                \
    NGX_BEACON_COMPAT_GROUPS(G)                                               \
    NGX_BEACON_OFFSET_GROUPS(G)                                               \
    NGX_BEACON_STUN_GROUPS(G)

#define NGX_BEACON_COUNTERS(X)                                                \
    NGX_BEACON_PILOT_COUNTERS(X)                                              \
    NGX_BEACON_COMPAT_COUNTERS(X)                                             \
    NGX_BEACON_OFFSET_COUNTERS(X)                                             \
    NGX_BEACON_STUN_COUNTERS(X)


#define NGX_BEACON_GROUP_ENUM(group, json, total, metric, label, help)       \
    NGX_BEACON_G_##group,

typedef enum {
    NGX_BEACON_COUNTER_GROUPS(NGX_BEACON_GROUP_ENUM)
    NGX_BEACON_G_LAST
} ngx_beacon_counter_group_e;

#undef NGX_BEACON_GROUP_ENUM


#define NGX_BEACON_COUNTER_ENUM(counter, group, key, metric, help)           \
    NGX_BEACON_C_##counter,

/* counters: one array per worker slot, summed by the status page */
typedef enum {
    NGX_BEACON_COUNTERS(NGX_BEACON_COUNTER_ENUM)
    NGX_BEACON_C_LAST
} ngx_beacon_counter_e;

#undef NGX_BEACON_COUNTER_ENUM


/* a group: where its counters appear (NGX_BEACON_*_GROUPS) */
typedef struct {
    const char                  *json;       /* "", "a" or "a.b" */
    unsigned                     total:1;    /* JSON "total" first */
    const char                  *metric;     /* a labelled family, or NULL */
    const char                  *label;
    const char                  *help;
} ngx_beacon_counter_group_t;


/* a counter: NGX_BEACON_*_COUNTERS, indexed by ngx_beacon_counter_e */
typedef struct {
    ngx_beacon_counter_group_e   group;
    const char                  *name;       /* "DATAGRAMS" */
    const char                  *key;        /* or label value; NULL: hidden */
    const char                  *metric;     /* its own family, or NULL */
    const char                  *help;
} ngx_beacon_counter_t;


extern const ngx_beacon_counter_group_t  ngx_beacon_counter_groups[];
extern const ngx_beacon_counter_t        ngx_beacon_counters[];


#endif /* _NGX_BEACON_COUNTERS_H_INCLUDED_ */
