
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Authoritative node-id -> Ed25519 key files ("node_id base64-key" per
 * line), read at configuration time by both the stream and http faces.
 */


#ifndef _NGX_BEACON_KEYS_H_INCLUDED_
#define _NGX_BEACON_KEYS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_proto.h"


/* ngx_beacon_key_t and the key file parser are in ngx_beacon_proto.h */


/* loads file into a sorted array; errors name the directive and the line */
char *ngx_beacon_keys_load(ngx_conf_t *cf, ngx_str_t *directive,
    ngx_str_t *name, ngx_array_t **keys);
const uint8_t *ngx_beacon_keys_find(ngx_array_t *keys, uint32_t id);


#endif /* _NGX_BEACON_KEYS_H_INCLUDED_ */
