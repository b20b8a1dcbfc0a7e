
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * What the stream modules of this addon (the beacon and the Offset relay)
 * share: the stream-level helpers of ngx_stream_beacon_common.c.
 */


#ifndef _NGX_STREAM_BEACON_H_INCLUDED_
#define _NGX_STREAM_BEACON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>


/*
 * The beacon_zone called name, or the only one when name is empty; NULL
 * (and *err set) when there is none or the choice is ambiguous.
 */
ngx_shm_zone_t *ngx_stream_beacon_find_zone(ngx_conf_t *cf, ngx_str_t *name,
    const char **err);


/* an emerg configuration error starting with "\"<directive>\" directive: " */
void ngx_stream_beacon_conf_error(ngx_conf_t *cf, ngx_command_t *cmd,
    const char *fmt, ...);


#endif /* _NGX_STREAM_BEACON_H_INCLUDED_ */
