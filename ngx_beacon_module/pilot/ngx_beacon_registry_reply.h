
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The Pilot registry's replies as the beacon reads them (spec 6.3): the
 * answer to beacon_register, the beacon_list peer set, and key lookups.
 * Pure code (the JSON after the length prefix in, fields out), driven by
 * the registry clients of the stream and http faces, the unit tests and
 * the fuzzer (t/fuzz/fuzz_registry.c).
 */


#ifndef _NGX_BEACON_REGISTRY_REPLY_H_INCLUDED_
#define _NGX_BEACON_REGISTRY_REPLY_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_beacon_proto.h"


/* 1 if the reply is an object whose "type" is "beacon_register_ok" */
int ngx_beacon_registry_register_ok(const unsigned char *json, size_t len);

/*
 * A beacon_list reply: the first max entries of its "beacons" array that
 * are objects with a u32 "id" other than self and an "addr" string that
 * ngx_beacon_addr_parse() takes; other entries are skipped.  Returns how
 * many were put in peers, or -1 when the reply is not an object with a
 * "beacons" array.
 */
int ngx_beacon_registry_beacon_list(const unsigned char *json, size_t len,
    uint32_t self, ngx_beacon_addr_t *peers, size_t max);

/*
 * A lookup reply for node_id: as ngx_beacon_registry_parse_key() (0 key
 * set, 1 no such node, -1 garbled), and -1 as well when the reply names
 * another node in "node_id" (an answer about another node is no answer).
 */
int ngx_beacon_registry_lookup_reply(const unsigned char *json, size_t len,
    uint32_t node_id, unsigned char *key32);


#endif /* _NGX_BEACON_REGISTRY_REPLY_H_INCLUDED_ */
