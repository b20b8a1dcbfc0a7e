
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The zone's state file codec (see ngx_beacon_state.h): pure code.
 */


#include <string.h>

#include "ngx_beacon_state.h"


/* the flags a node keeps across a restart: DEST, KEY, LV6 */
#define NGX_BEACON_STATE_FLAGS  0x07


static void put16(uint8_t *p, uint32_t v);
static void put32(uint8_t *p, uint32_t v);
static uint32_t get16(const uint8_t *p);
static uint32_t get32(const uint8_t *p);


static void
put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
}


static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}


static uint32_t
get16(const uint8_t *p)
{
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8);
}


static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8)
           | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}


uint32_t
ngx_beacon_state_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    int  k;

    crc = ~crc;

    while (n--) {
        crc ^= *p++;

        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xedb88320 & (0 - (crc & 1)));
        }
    }

    return ~crc;
}


size_t
ngx_beacon_state_size(size_t name_len, uint32_t nodes, uint32_t grants)
{
    return NGX_BEACON_STATE_HDR + name_len
           + (size_t) nodes * NGX_BEACON_STATE_NODE
           + (size_t) grants * NGX_BEACON_STATE_GRANT + 4;
}


size_t
ngx_beacon_state_encode(uint8_t *buf, const char *name, size_t name_len,
    uint64_t saved, const ngx_beacon_state_node_t *nodes, uint32_t n,
    const ngx_beacon_state_grant_t *grants, uint32_t g)
{
    uint8_t   *p;
    uint32_t   i;

    p = buf;

    memcpy(p, NGX_BEACON_STATE_MAGIC, 4);
    put32(p + 4, NGX_BEACON_STATE_VERSION);
    put32(p + 8, NGX_BEACON_STATE_NODE);
    put32(p + 12, NGX_BEACON_STATE_GRANT);
    put32(p + 16, (uint32_t) saved);
    put32(p + 20, (uint32_t) (saved >> 32));
    put32(p + 24, n);
    put32(p + 28, g);
    put16(p + 32, (uint32_t) name_len);
    memcpy(p + 34, name, name_len);
    p += NGX_BEACON_STATE_HDR + name_len;

    for (i = 0; i < n; i++) {
        memset(p, 0, NGX_BEACON_STATE_NODE);
        put32(p, nodes[i].node_id);
        put32(p + 4, nodes[i].ttl_left);
        put32(p + 8, nodes[i].write_age);
        p[12] = nodes[i].flags & NGX_BEACON_STATE_FLAGS;
        put16(p + 16, nodes[i].port);
        put16(p + 18, nodes[i].lport);
        memcpy(p + 20, nodes[i].ip, 16);
        memcpy(p + 36, nodes[i].lip, 16);
        memcpy(p + 52, nodes[i].key, 32);
        p += NGX_BEACON_STATE_NODE;
    }

    for (i = 0; i < g; i++) {
        memset(p, 0, NGX_BEACON_STATE_GRANT);
        memcpy(p, grants[i].key, 18);
        put32(p + 20, grants[i].expiry);
        p += NGX_BEACON_STATE_GRANT;
    }

    put32(p, ngx_beacon_state_crc32(0, buf, (size_t) (p - buf)));

    return (size_t) (p - buf) + 4;
}


ngx_beacon_state_rc_e
ngx_beacon_state_parse(const uint8_t *buf, size_t len, const char *name,
    size_t name_len, ngx_beacon_state_t *st)
{
    size_t    nl;
    uint64_t  need;

    if (len < 4) {
        return NGX_BEACON_STATE_TRUNCATED;
    }

    if (memcmp(buf, NGX_BEACON_STATE_MAGIC, 4) != 0) {
        return NGX_BEACON_STATE_BAD_MAGIC;
    }

    if (len < NGX_BEACON_STATE_HDR) {
        return NGX_BEACON_STATE_TRUNCATED;
    }

    if (get32(buf + 4) != NGX_BEACON_STATE_VERSION) {
        return NGX_BEACON_STATE_BAD_VERSION;
    }

    if (get32(buf + 8) != NGX_BEACON_STATE_NODE
        || get32(buf + 12) != NGX_BEACON_STATE_GRANT)
    {
        return NGX_BEACON_STATE_BAD_LAYOUT;
    }

    nl = get16(buf + 32);

    if (nl > NGX_BEACON_STATE_MAX_NAME || len < NGX_BEACON_STATE_HDR + nl) {
        return NGX_BEACON_STATE_TRUNCATED;
    }

    if (nl != name_len || memcmp(buf + 34, name, nl) != 0) {
        return NGX_BEACON_STATE_FOREIGN;
    }

    st->saved = (uint64_t) get32(buf + 16) | ((uint64_t) get32(buf + 20) << 32);
    st->nodes = get32(buf + 24);
    st->grants = get32(buf + 28);

    need = NGX_BEACON_STATE_HDR + (uint64_t) nl
           + (uint64_t) st->nodes * NGX_BEACON_STATE_NODE
           + (uint64_t) st->grants * NGX_BEACON_STATE_GRANT + 4;

    if (need > len) {
        return NGX_BEACON_STATE_TRUNCATED;
    }

    if (need < len) {
        return NGX_BEACON_STATE_BAD_LENGTH;
    }

    if (ngx_beacon_state_crc32(0, buf, len - 4) != get32(buf + len - 4)) {
        return NGX_BEACON_STATE_BAD_CHECKSUM;
    }

    st->base = buf + NGX_BEACON_STATE_HDR + nl;

    return NGX_BEACON_STATE_OK;
}


ngx_beacon_state_rc_e
ngx_beacon_state_node(const ngx_beacon_state_t *st, uint32_t i,
    ngx_beacon_state_node_t *node)
{
    const uint8_t  *p;

    p = st->base + (size_t) i * NGX_BEACON_STATE_NODE;

    node->node_id = get32(p);
    node->ttl_left = get32(p + 4);
    node->write_age = get32(p + 8);
    node->flags = p[12];
    node->port = (uint16_t) get16(p + 16);
    node->lport = (uint16_t) get16(p + 18);
    memcpy(node->ip, p + 20, 16);
    memcpy(node->lip, p + 36, 16);
    memcpy(node->key, p + 52, 32);

    if (node->node_id == 0
        || (node->flags & ~NGX_BEACON_STATE_FLAGS)
        || p[13] || p[14] || p[15])
    {
        return NGX_BEACON_STATE_BAD_RECORD;
    }

    return NGX_BEACON_STATE_OK;
}


void
ngx_beacon_state_grant(const ngx_beacon_state_t *st, uint32_t i,
    ngx_beacon_state_grant_t *grant)
{
    const uint8_t  *p;

    p = st->base + (size_t) st->nodes * NGX_BEACON_STATE_NODE
        + (size_t) i * NGX_BEACON_STATE_GRANT;

    memcpy(grant->key, p, 18);
    grant->expiry = get32(p + 20);
}


const char *
ngx_beacon_state_strerror(ngx_beacon_state_rc_e rc)
{
    switch (rc) {
    case NGX_BEACON_STATE_OK:
        return "ok";
    case NGX_BEACON_STATE_TRUNCATED:
        return "truncated";
    case NGX_BEACON_STATE_BAD_MAGIC:
        return "not a beacon state file";
    case NGX_BEACON_STATE_BAD_VERSION:
        return "another format version";
    case NGX_BEACON_STATE_BAD_LAYOUT:
        return "another record layout";
    case NGX_BEACON_STATE_FOREIGN:
        return "written for another zone";
    case NGX_BEACON_STATE_BAD_LENGTH:
        return "trailing bytes";
    case NGX_BEACON_STATE_BAD_CHECKSUM:
        return "checksum mismatch";
    default:
        return "invalid node record";
    }
}
