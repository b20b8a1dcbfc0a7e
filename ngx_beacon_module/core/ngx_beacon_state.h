
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The zone's state file (beacon_zone ... state=): a pure codec, no nginx
 * types.  Layout, all integers little-endian:
 *
 *   header (32 bytes + name)
 *     0  magic "NBST"           4  version (1)
 *     8  record size (92)      12  grant size (24)
 *    16  saved (unix seconds, 64 bits)
 *    24  nodes                 28  grants
 *    32  name length (2)       34  name
 *   then nodes x 92 bytes, grants x 24 bytes, and a CRC-32 (IEEE) of
 *   everything before it.
 *
 *   node:  id, ttl_left ms, write_age ms, flags (1), 3 zero bytes,
 *          port (2), lport (2), ip (16), lip (16), key (32), 8 zero bytes
 *   grant: key (18), 2 zero bytes, expiry (unix seconds, 4)
 */


#ifndef _NGX_BEACON_STATE_H_INCLUDED_
#define _NGX_BEACON_STATE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_BEACON_STATE_MAGIC     "NBST"
#define NGX_BEACON_STATE_VERSION   1
#define NGX_BEACON_STATE_HDR       34
#define NGX_BEACON_STATE_NODE      92
#define NGX_BEACON_STATE_GRANT     24
#define NGX_BEACON_STATE_MAX_NAME  255


typedef enum {
    NGX_BEACON_STATE_OK = 0,
    NGX_BEACON_STATE_TRUNCATED,
    NGX_BEACON_STATE_BAD_MAGIC,
    NGX_BEACON_STATE_BAD_VERSION,
    NGX_BEACON_STATE_BAD_LAYOUT,
    NGX_BEACON_STATE_FOREIGN,
    NGX_BEACON_STATE_BAD_LENGTH,
    NGX_BEACON_STATE_BAD_CHECKSUM,
    NGX_BEACON_STATE_BAD_RECORD
} ngx_beacon_state_rc_e;


typedef struct {
    uint32_t                 node_id;
    uint32_t                 ttl_left;       /* ms */
    uint32_t                 write_age;      /* ms since its last move */
    uint8_t                  flags;          /* NGX_BEACON_NODE_* kept */
    uint16_t                 port;
    uint16_t                 lport;
    uint8_t                  ip[16];
    uint8_t                  lip[16];
    uint8_t                  key[32];
} ngx_beacon_state_node_t;


typedef struct {
    uint8_t                  key[18];
    uint32_t                 expiry;         /* unix seconds */
} ngx_beacon_state_grant_t;


typedef struct {
    uint64_t                 saved;
    uint32_t                 nodes;
    uint32_t                 grants;
    const uint8_t           *base;
} ngx_beacon_state_t;


uint32_t ngx_beacon_state_crc32(uint32_t crc, const uint8_t *p, size_t n);

size_t ngx_beacon_state_size(size_t name_len, uint32_t nodes,
    uint32_t grants);
/* the buffer holds ngx_beacon_state_size() bytes; returns the length */
size_t ngx_beacon_state_encode(uint8_t *buf, const char *name,
    size_t name_len, uint64_t saved, const ngx_beacon_state_node_t *nodes,
    uint32_t n, const ngx_beacon_state_grant_t *grants, uint32_t g);

/* checks the whole file; then the records are read with the getters */
ngx_beacon_state_rc_e ngx_beacon_state_parse(const uint8_t *buf, size_t len,
    const char *name, size_t name_len, ngx_beacon_state_t *st);
ngx_beacon_state_rc_e ngx_beacon_state_node(const ngx_beacon_state_t *st,
    uint32_t i, ngx_beacon_state_node_t *node);
void ngx_beacon_state_grant(const ngx_beacon_state_t *st, uint32_t i,
    ngx_beacon_state_grant_t *grant);
const char *ngx_beacon_state_strerror(ngx_beacon_state_rc_e rc);


#endif /* _NGX_BEACON_STATE_H_INCLUDED_ */
