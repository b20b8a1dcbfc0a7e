
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The stream-level configuration helpers both stream modules of this addon
 * use (the beacon and the Offset relay): siblings over this floor, neither
 * above the other.  Zones are found by their tag in the cycle's shared
 * memory list, as the http module finds them, not through the beacon
 * module's configuration.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>

#include "ngx_stream_beacon.h"


/* "beacon_zone" tags its zones with the beacon module */
extern ngx_module_t  ngx_stream_beacon_module;


ngx_shm_zone_t *
ngx_stream_beacon_find_zone(ngx_conf_t *cf, ngx_str_t *name, const char **err)
{
    ngx_uint_t        i, n;
    ngx_shm_zone_t   *shm_zone, *only;
    ngx_list_part_t  *part;

    n = 0;
    only = NULL;
    part = &cf->cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag != &ngx_stream_beacon_module
            || shm_zone[i].data == NULL)
        {
            continue;
        }

        if (name->len == 0) {
            only = &shm_zone[i];
            n++;
            continue;
        }

        if (shm_zone[i].shm.name.len == name->len
            && ngx_strncmp(shm_zone[i].shm.name.data, name->data, name->len)
               == 0)
        {
            return &shm_zone[i];
        }
    }

    if (name->len == 0) {
        if (n == 1) {
            return only;
        }

        *err = n ? "must name its zone with \"zone=\" when several "
                   "\"beacon_zone\" are declared"
                 : "requires a \"beacon_zone\" in the stream block";
        return NULL;
    }

    *err = "names an unknown \"beacon_zone\"";
    return NULL;
}


/* every configuration error names its directive */

void
ngx_stream_beacon_conf_error(ngx_conf_t *cf, ngx_command_t *cmd,
    const char *fmt, ...)
{
    u_char   *p, buf[NGX_MAX_CONF_ERRSTR];
    va_list   args;

    p = ngx_snprintf(buf, NGX_MAX_CONF_ERRSTR, "\"%V\" directive: ",
                     &cmd->name);

    va_start(args, fmt);
    p = ngx_vslprintf(p, buf + NGX_MAX_CONF_ERRSTR, fmt, args);
    va_end(args);

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%*s", p - buf, buf);
}
