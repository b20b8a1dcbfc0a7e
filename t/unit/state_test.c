
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Unit test of the state file codec (ngx_beacon_state.c): round trip,
 * every truncation, every flipped bit, another zone, another version,
 * invalid records under a valid checksum.
 */


#include "tap.h"

#include "ngx_beacon_state.h"


static uint8_t  buf[4096];
static uint8_t  bad[4096];


static void
fix_crc(uint8_t *b, size_t len)
{
    uint32_t  c;

    c = ngx_beacon_state_crc32(0, b, len - 4);
    b[len - 4] = (uint8_t) c;
    b[len - 3] = (uint8_t) (c >> 8);
    b[len - 2] = (uint8_t) (c >> 16);
    b[len - 1] = (uint8_t) (c >> 24);
}


int
main(void)
{
    int                        all;
    size_t                     len, i, bit;
    uint32_t                   k;
    ngx_beacon_state_t         st;
    ngx_beacon_state_node_t    nodes[3], n;
    ngx_beacon_state_grant_t   grants[2], g;

    memset(nodes, 0, sizeof(nodes));
    memset(grants, 0, sizeof(grants));

    for (k = 0; k < 3; k++) {
        nodes[k].node_id = 1000 + k;
        nodes[k].ttl_left = 600000 - k;
        nodes[k].write_age = 1234 * k;
        nodes[k].flags = (uint8_t) (k & 0x07);
        nodes[k].port = (uint16_t) (40000 + k);
        nodes[k].lport = 9001;
        memset(nodes[k].ip, (int) k + 1, 16);
        memset(nodes[k].lip, 0x7f, 16);
        memset(nodes[k].key, 0xa0 + (int) k, 32);
    }

    memset(grants[0].key, 0x11, 18);
    grants[0].expiry = 1800000000;
    memset(grants[1].key, 0x22, 18);
    grants[1].expiry = 1800000001;

    /* the CRC-32 of the check string */
    ok(ngx_beacon_state_crc32(0, (const uint8_t *) "123456789", 9)
       == 0xcbf43926, "crc32: check value");

    len = ngx_beacon_state_encode(buf, "beacon", 6, 1765000000, nodes, 3,
                                  grants, 2);

    ok(len == ngx_beacon_state_size(6, 3, 2), "encode: the size announced");
    ok(len == 34 + 6 + 3 * 92 + 2 * 24 + 4, "encode: the documented layout");

    ok(ngx_beacon_state_parse(buf, len, "beacon", 6, &st)
       == NGX_BEACON_STATE_OK, "parse: ok");
    ok(st.nodes == 3 && st.grants == 2 && st.saved == 1765000000,
       "parse: counts and time");

    all = 1;

    for (k = 0; k < 3; k++) {
        if (ngx_beacon_state_node(&st, k, &n) != NGX_BEACON_STATE_OK
            || n.node_id != nodes[k].node_id
            || n.ttl_left != nodes[k].ttl_left
            || n.write_age != nodes[k].write_age
            || n.flags != nodes[k].flags || n.port != nodes[k].port
            || n.lport != nodes[k].lport
            || memcmp(n.ip, nodes[k].ip, 16) != 0
            || memcmp(n.lip, nodes[k].lip, 16) != 0
            || memcmp(n.key, nodes[k].key, 32) != 0)
        {
            all = 0;
        }
    }

    ok(all, "round trip: nodes");

    ngx_beacon_state_grant(&st, 1, &g);
    ok(g.expiry == 1800000001 && memcmp(g.key, grants[1].key, 18) == 0,
       "round trip: grants");

    /* every truncation is refused */

    all = 1;

    for (i = 0; i < len; i++) {
        if (ngx_beacon_state_parse(buf, i, "beacon", 6, &st)
            == NGX_BEACON_STATE_OK)
        {
            all = 0;
        }
    }

    ok(all, "every truncation refused");

    memcpy(bad, buf, len);
    bad[len] = 0;
    ok(ngx_beacon_state_parse(bad, len + 1, "beacon", 6, &st)
       == NGX_BEACON_STATE_BAD_LENGTH, "a trailing byte refused");

    /* every flipped bit is refused */

    all = 1;

    for (i = 0; i < len; i++) {
        for (bit = 0; bit < 8; bit++) {
            memcpy(bad, buf, len);
            bad[i] ^= (uint8_t) (1 << bit);

            if (ngx_beacon_state_parse(bad, len, "beacon", 6, &st)
                == NGX_BEACON_STATE_OK)
            {
                all = 0;
            }
        }
    }

    ok(all, "every flipped bit refused");

    ok(ngx_beacon_state_parse(buf, len, "beacon2", 7, &st)
       == NGX_BEACON_STATE_FOREIGN, "another zone's file");
    ok(ngx_beacon_state_parse(buf, len, "beacoN", 6, &st)
       == NGX_BEACON_STATE_FOREIGN, "another zone's file, same length");

    memcpy(bad, buf, len);
    bad[4] = 0;
    fix_crc(bad, len);
    ok(ngx_beacon_state_parse(bad, len, "beacon", 6, &st)
       == NGX_BEACON_STATE_BAD_VERSION, "an older version");

    memcpy(bad, buf, len);
    bad[8] = 93;
    fix_crc(bad, len);
    ok(ngx_beacon_state_parse(bad, len, "beacon", 6, &st)
       == NGX_BEACON_STATE_BAD_LAYOUT, "another record size");

    memcpy(bad, buf, len);
    bad[0] = 'X';
    ok(ngx_beacon_state_parse(bad, len, "beacon", 6, &st)
       == NGX_BEACON_STATE_BAD_MAGIC, "not a state file");

    /* a node count beyond the file, with a good checksum */

    memcpy(bad, buf, len);
    bad[27] = 0x40;
    fix_crc(bad, len);
    ok(ngx_beacon_state_parse(bad, len, "beacon", 6, &st)
       == NGX_BEACON_STATE_TRUNCATED, "a count beyond the file");

    /* invalid records under a valid checksum */

    memcpy(bad, buf, len);
    bad[40 + 12] = 0x80;
    fix_crc(bad, len);
    ok(ngx_beacon_state_parse(bad, len, "beacon", 6, &st)
       == NGX_BEACON_STATE_OK
       && ngx_beacon_state_node(&st, 0, &n) == NGX_BEACON_STATE_BAD_RECORD,
       "unknown flags refused");

    memcpy(bad, buf, len);
    memset(bad + 40 + 92, 0, 4);
    fix_crc(bad, len);
    ok(ngx_beacon_state_parse(bad, len, "beacon", 6, &st)
       == NGX_BEACON_STATE_OK
       && ngx_beacon_state_node(&st, 1, &n) == NGX_BEACON_STATE_BAD_RECORD,
       "node id 0 refused");

    ok(strcmp(ngx_beacon_state_strerror(NGX_BEACON_STATE_BAD_CHECKSUM),
              "checksum mismatch") == 0, "strerror");

    printf("1..%d\n", tests);

    return failures ? 1 : 0;
}
