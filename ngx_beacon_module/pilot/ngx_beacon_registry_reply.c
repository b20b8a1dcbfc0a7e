
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <string.h>

#include "ngx_beacon_json.h"
#include "ngx_beacon_registry_reply.h"


int
ngx_beacon_registry_register_ok(const unsigned char *json, size_t len)
{
    ngx_beacon_json_val_t  v;

    return ngx_beacon_json_object_get(json, len, "type", &v)
           == NGX_BEACON_JSON_OK
           && ngx_beacon_json_string_eq(&v, "beacon_register_ok");
}


int
ngx_beacon_registry_beacon_list(const unsigned char *json, size_t len,
    uint32_t self, ngx_beacon_addr_t *peers, size_t max)
{
    size_t                  n, tlen;
    uint64_t                id;
    unsigned char           text[256];
    ngx_beacon_json_val_t   list, e, v;
    ngx_beacon_json_iter_t  it;

    if (ngx_beacon_json_object_get(json, len, "beacons", &list)
        != NGX_BEACON_JSON_OK
        || list.type != NGX_BEACON_JSON_ARRAY
        || ngx_beacon_json_iter_init(&it, &list) != NGX_BEACON_JSON_OK)
    {
        return -1;
    }

    n = 0;

    while (n < max
           && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_OK)
    {
        /* scenario 34: objects with a numeric id other than ours and an
         * addr that is an ip:port; anything else is skipped */

        if (e.type != NGX_BEACON_JSON_OBJECT
            || ngx_beacon_json_get(&e, "id", &v) != NGX_BEACON_JSON_OK
            || ngx_beacon_json_uint(&v, 0xffffffff, &id)
               != NGX_BEACON_JSON_OK
            || id == (uint64_t) self
            || ngx_beacon_json_get(&e, "addr", &v) != NGX_BEACON_JSON_OK
            || ngx_beacon_json_string(&v, text, sizeof(text), &tlen)
               != NGX_BEACON_JSON_OK
            || ngx_beacon_addr_parse((char *) text, tlen, &peers[n]) != 0)
        {
            continue;
        }

        n++;
    }

    return (int) n;
}


int
ngx_beacon_registry_lookup_reply(const unsigned char *json, size_t len,
    uint32_t node_id, unsigned char *key32)
{
    int                    rc;
    uint64_t               id;
    unsigned char          key[NGX_BEACON_COMPAT_KEY_LEN];
    ngx_beacon_json_val_t  v;

    rc = ngx_beacon_registry_parse_key(json, len, key);

    if (rc == 0
        && ngx_beacon_json_object_get(json, len, "node_id", &v)
           == NGX_BEACON_JSON_OK
        && (ngx_beacon_json_uint(&v, 0xffffffff, &id) != NGX_BEACON_JSON_OK
            || id != (uint64_t) node_id))
    {
        rc = -1;
    }

    if (rc == 0) {
        memcpy(key32, key, sizeof(key));
    }

    return rc;
}
