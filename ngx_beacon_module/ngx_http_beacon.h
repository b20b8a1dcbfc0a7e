
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The http face: the status page and the compat bridge (Pilot daemons
 * speaking the beacon datagrams over WebSocket, in a location of the
 * operator's own HTTPS server).
 */


#ifndef _NGX_HTTP_BEACON_H_INCLUDED_
#define _NGX_HTTP_BEACON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_beacon.h"
#include "ngx_beacon_shm.h"
#include "ngx_beacon_registry.h"


typedef struct {
    /* beacon_status */
    ngx_flag_t                    status;
    ngx_str_t                     zone;       /* empty: every beacon zone */
    u_char                       *file;
    ngx_uint_t                    line;

    /* beacon_compat */
    ngx_flag_t                    compat;
    ngx_str_t                     compat_zone_name;
    ngx_shm_zone_t               *compat_zone;
    ngx_array_t                  *keys;       /* ngx_beacon_key_t */
    ngx_beacon_registry_t        *registry;
    ngx_int_t                     max_peers;
    ngx_int_t                     max_per_ip;
    ngx_msec_t                    auth_timeout;
    ngx_msec_t                    idle_timeout;
    ngx_msec_t                    write_timeout;
    size_t                        queue;
    ngx_int_t                     auth_fail_limit;
    ngx_int_t                     relay_limit;
} ngx_http_beacon_loc_conf_t;


extern ngx_module_t  ngx_http_beacon_module;


ngx_int_t ngx_http_beacon_compat_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_beacon_health_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_beacon_compat_init_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_BEACON_H_INCLUDED_ */
