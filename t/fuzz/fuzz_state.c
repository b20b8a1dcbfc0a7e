
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for the zone's state file codec: every input is parsed
 * as a state file of zone "beacon"; one that parses has every record read
 * and is re-encoded from what was read, which must parse again to the
 * same records.  Any mismatch abort()s.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_state.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#define MAX_RECORDS  4096

static ngx_beacon_state_node_t   nodes[MAX_RECORDS];
static ngx_beacon_state_grant_t  grants[MAX_RECORDS];
static uint8_t                   out[34 + 6 + MAX_RECORDS * (92 + 24) + 4];


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                    len;
    uint32_t                  i, n;
    ngx_beacon_state_t        st, st2;
    ngx_beacon_state_node_t   node;
    ngx_beacon_state_grant_t  grant;

    if (ngx_beacon_state_parse(data, size, "beacon", 6, &st)
        != NGX_BEACON_STATE_OK)
    {
        return 0;
    }

    if (st.nodes > MAX_RECORDS || st.grants > MAX_RECORDS) {
        abort();        /* the file holds them: size bounds the counts */
    }

    n = 0;

    for (i = 0; i < st.nodes; i++) {
        if (ngx_beacon_state_node(&st, i, &nodes[n]) == NGX_BEACON_STATE_OK)
        {
            n++;
        }
    }

    for (i = 0; i < st.grants; i++) {
        ngx_beacon_state_grant(&st, i, &grants[i]);
    }

    len = ngx_beacon_state_encode(out, "beacon", 6, st.saved, nodes, n,
                                  grants, st.grants);

    if (len != ngx_beacon_state_size(6, n, st.grants)
        || ngx_beacon_state_parse(out, len, "beacon", 6, &st2)
           != NGX_BEACON_STATE_OK
        || st2.nodes != n || st2.grants != st.grants
        || st2.saved != st.saved)
    {
        abort();
    }

    /* the structs' padding is compared too: zeroed */
    memset(&node, 0, sizeof(node));
    memset(&grant, 0, sizeof(grant));

    for (i = 0; i < n; i++) {
        if (ngx_beacon_state_node(&st2, i, &node) != NGX_BEACON_STATE_OK
            || memcmp(&node, &nodes[i], sizeof(node)) != 0)
        {
            abort();
        }
    }

    for (i = 0; i < st.grants; i++) {
        ngx_beacon_state_grant(&st2, i, &grant);

        if (memcmp(&grant, &grants[i], sizeof(grant)) != 0) {
            abort();
        }
    }

    return 0;
}
