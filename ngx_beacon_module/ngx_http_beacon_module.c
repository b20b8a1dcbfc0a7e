
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The http face of the beacon: "beacon_status" serves the counters and
 * gauges of the beacon zones as JSON; "beacon_compat" is the WebSocket
 * bridge (ngx_http_beacon_compat.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_beacon.h"
#include "ngx_beacon_keys.h"


typedef struct {
    ngx_array_t                   refs;       /* ngx_http_beacon_loc_conf_t * */
} ngx_http_beacon_main_conf_t;


typedef struct {
    const char                   *name;
    ngx_beacon_counter_e          counter;
} ngx_http_beacon_field_t;


static ngx_int_t ngx_http_beacon_status_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_beacon_zones(ngx_cycle_t *cycle, ngx_str_t *name,
    ngx_shm_zone_t **zones, ngx_uint_t max);
static u_char *ngx_http_beacon_zone_json(u_char *p, u_char *last,
    ngx_shm_zone_t *shm_zone, ngx_uint_t first_zone);
static void *ngx_http_beacon_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_beacon_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_beacon_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_beacon_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_beacon_compat(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_beacon_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_beacon_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_beacon_registry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_beacon_add_ref(ngx_conf_t *cf,
    ngx_http_beacon_loc_conf_t *blcf);
static ngx_int_t ngx_http_beacon_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_beacon_init_process(ngx_cycle_t *cycle);


#define NGX_HTTP_BEACON_ZONE_JSON_LEN   4096
#define NGX_HTTP_BEACON_MAX_ZONES       64


static ngx_http_beacon_field_t  ngx_http_beacon_fields[] = {
    { "datagrams", NGX_BEACON_C_DATAGRAMS },
    { "malformed", NGX_BEACON_C_MALFORMED },
    { "unknown_type", NGX_BEACON_C_UNKNOWN_TYPE },
    { "discover", NGX_BEACON_C_DISCOVER },
    { "discover_replies", NGX_BEACON_C_DISCOVER_REPLIES },
    { "discover_throttled", NGX_BEACON_C_DISCOVER_THROTTLED },
    { "probes", NGX_BEACON_C_PROBES },
    { "refused_capacity", NGX_BEACON_C_REFUSED_CAPACITY },
    { "register_rate_limited", NGX_BEACON_C_REGISTER_RATE_LIMITED },
    { "reply_rate_limited", NGX_BEACON_C_REPLY_RATE_LIMITED },
    { "expired", NGX_BEACON_C_EXPIRED },
    { "punch_requests", NGX_BEACON_C_PUNCH_REQUESTS },
    { "punch_coordinated", NGX_BEACON_C_PUNCH_COORDINATED },
    { "punch_rate_limited", NGX_BEACON_C_PUNCH_RATE_LIMITED },
    { "punch_grant_rejected", NGX_BEACON_C_PUNCH_GRANT_REJECTED },
    { "punch_not_found", NGX_BEACON_C_PUNCH_NOT_FOUND },
    { "punch_endpoint_mismatch", NGX_BEACON_C_PUNCH_MISMATCH },
    { "sync_ignored", NGX_BEACON_C_SYNC_IGNORED },
    { "relay_received", NGX_BEACON_C_RELAY_RECEIVED },
    { "relay_forwarded", NGX_BEACON_C_RELAY_FORWARDED },
    { "relay_not_found", NGX_BEACON_C_RELAY_NOT_FOUND },
    { "send_errors", NGX_BEACON_C_SEND_ERRORS },
    { NULL, 0 }
};


static ngx_http_beacon_field_t  ngx_http_beacon_compat_fields[] = {
    { "upgrade_ok", NGX_BEACON_C_WS_UPGRADE_OK },
    { "upgrade_fail", NGX_BEACON_C_WS_UPGRADE_FAIL },
    { "auth_ok", NGX_BEACON_C_WS_AUTH_OK },
    { "auth_fail", NGX_BEACON_C_WS_AUTH_FAIL },
    { "auth_rate_limited", NGX_BEACON_C_WS_AUTH_RATE_LIMITED },
    { "frames_in", NGX_BEACON_C_WS_FRAMES_IN },
    { "frames_out", NGX_BEACON_C_WS_FRAMES_OUT },
    { "idle_disconnects", NGX_BEACON_C_WS_IDLE_DISCONNECTS },
    { "replaced", NGX_BEACON_C_WS_REPLACED },
    { "key_lookups", NGX_BEACON_C_WS_KEY_LOOKUPS },
    { "key_cache_hits", NGX_BEACON_C_WS_KEY_CACHE_HITS },
    { NULL, 0 }
};


static ngx_http_beacon_field_t  ngx_http_beacon_compat_drop_fields[] = {
    { "oversize", NGX_BEACON_C_WS_DROP_OVERSIZE },
    { "queue_full", NGX_BEACON_C_WS_DROP_QUEUE_FULL },
    { "channel_full", NGX_BEACON_C_WS_DROP_CHANNEL_FULL },
    { "stale_owner", NGX_BEACON_C_WS_DROP_STALE_OWNER },
    { "write_timeout", NGX_BEACON_C_WS_DROP_WRITE_TIMEOUT },
    { "not_allowed", NGX_BEACON_C_WS_DROP_NOT_ALLOWED },
    { NULL, 0 }
};


static ngx_http_beacon_field_t  ngx_http_beacon_drop_fields[] = {
    { "rate_limited", NGX_BEACON_C_RELAY_RATE_LIMITED },
    { "oversize", NGX_BEACON_C_RELAY_OVERSIZE },
    { "malformed", NGX_BEACON_C_RELAY_MALFORMED },
    { "sender_mismatch", NGX_BEACON_C_RELAY_SENDER_MISMATCH },
    { "send_failed", NGX_BEACON_C_RELAY_SEND_FAILED },
    { NULL, 0 }
};


static ngx_command_t  ngx_http_beacon_commands[] = {

    { ngx_string("beacon_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_beacon_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_compat"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_beacon_compat,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_compat_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_beacon_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_compat_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_beacon_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_compat_registry"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_beacon_registry,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_compat_max_peers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_beacon_loc_conf_t, max_peers),
      NULL },

    { ngx_string("beacon_compat_max_per_ip"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_beacon_loc_conf_t, max_per_ip),
      NULL },

    { ngx_string("beacon_compat_auth_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_beacon_loc_conf_t, auth_timeout),
      NULL },

    { ngx_string("beacon_compat_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_beacon_loc_conf_t, idle_timeout),
      NULL },

    { ngx_string("beacon_compat_write_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_beacon_loc_conf_t, write_timeout),
      NULL },

    { ngx_string("beacon_compat_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_beacon_loc_conf_t, queue),
      NULL },

    { ngx_string("beacon_compat_auth_fail_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_beacon_loc_conf_t, auth_fail_limit),
      NULL },

    { ngx_string("beacon_compat_relay_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_beacon_loc_conf_t, relay_limit),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_beacon_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_beacon_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_beacon_create_loc_conf,       /* create location configuration */
    ngx_http_beacon_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_beacon_module = {
    NGX_MODULE_V1,
    &ngx_http_beacon_module_ctx,           /* module context */
    ngx_http_beacon_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_beacon_init_module,           /* init module */
    ngx_http_beacon_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_beacon_status_handler(ngx_http_request_t *r)
{
    size_t                       len;
    u_char                      *p, *last;
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_uint_t                   i, n;
    ngx_chain_t                  out;
    ngx_shm_zone_t              *zones[NGX_HTTP_BEACON_MAX_ZONES];
    ngx_http_beacon_loc_conf_t  *blcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_beacon_module);

    n = ngx_http_beacon_zones((ngx_cycle_t *) ngx_cycle, &blcf->zone, zones,
                              NGX_HTTP_BEACON_MAX_ZONES);

    len = sizeof("{\"version\":\"\",\"zones\":{}}\n")
          + sizeof(NGX_BEACON_VERSION) + n * NGX_HTTP_BEACON_ZONE_JSON_LEN;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->pos;
    last = b->end;

    p = ngx_slprintf(p, last, "{\"version\":\"%s\",\"zones\":{",
                     NGX_BEACON_VERSION);

    for (i = 0; i < n; i++) {
        p = ngx_http_beacon_zone_json(p, last, zones[i], i == 0);
    }

    p = ngx_slprintf(p, last, "}}\n");

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the beacon zones of a cycle, all of them or the one named */

static ngx_uint_t
ngx_http_beacon_zones(ngx_cycle_t *cycle, ngx_str_t *name,
    ngx_shm_zone_t **zones, ngx_uint_t max)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm_zone;

    n = 0;
    part = &cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; n < max; i++) {

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

        if (name->len
            && (name->len != shm_zone[i].shm.name.len
                || ngx_strncmp(name->data, shm_zone[i].shm.name.data,
                               name->len) != 0))
        {
            continue;
        }

        zones[n++] = &shm_zone[i];
    }

    return n;
}


static u_char *
ngx_http_beacon_zone_json(u_char *p, u_char *last, ngx_shm_zone_t *shm_zone,
    ngx_uint_t first_zone)
{
    uint64_t                  total;
    ngx_uint_t                i, first;
    ngx_beacon_zone_t        *z;
    ngx_beacon_stats_t        st;
    ngx_http_beacon_field_t  *f;

    z = shm_zone->data;

    ngx_beacon_shm_stats(z, &st);

    p = ngx_slprintf(p, last,
                     "%s\"%V\":{\"size\":%uz,\"used\":%uz,\"free\":%uz,"
                     "\"nodes\":%ui,\"max_nodes\":%ui,\"node_ttl\":%T",
                     first_zone ? "" : ",", &shm_zone->shm.name,
                     st.size, st.used, st.free,
                     st.nodes, z->max_nodes, z->ttl);

    for (f = ngx_http_beacon_fields; f->name; f++) {
        p = ngx_slprintf(p, last, ",\"%s\":%uL", f->name, st.c[f->counter]);
    }

    total = 0;

    for (f = ngx_http_beacon_drop_fields; f->name; f++) {
        total += st.c[f->counter];
    }

    p = ngx_slprintf(p, last, ",\"relay_dropped\":{\"total\":%uL", total);

    for (f = ngx_http_beacon_drop_fields; f->name; f++) {
        p = ngx_slprintf(p, last, ",\"%s\":%uL", f->name, st.c[f->counter]);
    }

    p = ngx_slprintf(p, last, "},\"compat\":{\"active_peers\":%ui,"
                     "\"connections\":%ui", st.ws_peers, st.ws_connections);

    for (f = ngx_http_beacon_compat_fields; f->name; f++) {
        p = ngx_slprintf(p, last, ",\"%s\":%uL", f->name, st.c[f->counter]);
    }

    p = ngx_slprintf(p, last, ",\"dropped\":{");

    for (f = ngx_http_beacon_compat_drop_fields; f->name; f++) {
        p = ngx_slprintf(p, last, "%s\"%s\":%uL",
                         f == ngx_http_beacon_compat_drop_fields ? "" : ",",
                         f->name, st.c[f->counter]);
    }

    p = ngx_slprintf(p, last, "}},\"workers\":[");

    first = 1;

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        if (st.worker_datagrams[i] == 0) {
            continue;
        }

        p = ngx_slprintf(p, last, "%s{\"worker\":%ui,\"datagrams\":%uL}",
                         first ? "" : ",", i, st.worker_datagrams[i]);
        first = 0;
    }

    return ngx_slprintf(p, last, "]}");
}


static void *
ngx_http_beacon_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_beacon_main_conf_t  *bmcf;

    bmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_beacon_main_conf_t));
    if (bmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&bmcf->refs, cf->pool, 2,
                       sizeof(ngx_http_beacon_loc_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return bmcf;
}


static void *
ngx_http_beacon_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_beacon_loc_conf_t  *blcf;

    blcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_beacon_loc_conf_t));
    if (blcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     blcf->zone = { 0, NULL };
     *     blcf->compat_zone_name = { 0, NULL };
     *     blcf->compat_zone = NULL;
     */

    blcf->keys = NGX_CONF_UNSET_PTR;
    blcf->registry = NGX_CONF_UNSET_PTR;
    blcf->max_peers = NGX_CONF_UNSET;
    blcf->max_per_ip = NGX_CONF_UNSET;
    blcf->auth_timeout = NGX_CONF_UNSET_MSEC;
    blcf->idle_timeout = NGX_CONF_UNSET_MSEC;
    blcf->write_timeout = NGX_CONF_UNSET_MSEC;
    blcf->queue = NGX_CONF_UNSET_SIZE;
    blcf->auth_fail_limit = NGX_CONF_UNSET;
    blcf->relay_limit = NGX_CONF_UNSET;

    return blcf;
}


static char *
ngx_http_beacon_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_beacon_loc_conf_t *prev = parent;
    ngx_http_beacon_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_ptr_value(conf->registry, prev->registry, NULL);
    ngx_conf_merge_value(conf->max_peers, prev->max_peers, 0);
    ngx_conf_merge_value(conf->max_per_ip, prev->max_per_ip, 16);
    ngx_conf_merge_msec_value(conf->auth_timeout, prev->auth_timeout, 10000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 90000);
    ngx_conf_merge_msec_value(conf->write_timeout, prev->write_timeout, 2000);
    ngx_conf_merge_size_value(conf->queue, prev->queue, 256 * 1024);
    ngx_conf_merge_value(conf->auth_fail_limit, prev->auth_fail_limit, 10);
    ngx_conf_merge_value(conf->relay_limit, prev->relay_limit, 4000);

    if (conf->max_peers < 0 || conf->max_per_ip < 0
        || conf->auth_fail_limit < 0 || conf->relay_limit < 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_compat_max_peers\", "
                           "\"beacon_compat_max_per_ip\", "
                           "\"beacon_compat_auth_fail_limit\" and "
                           "\"beacon_compat_relay_limit\" must not be "
                           "negative");
        return NGX_CONF_ERROR;
    }

    if (conf->queue < 2 * 32768) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_compat_queue\" must be at least 64k");
        return NGX_CONF_ERROR;
    }

    if (conf->compat && conf->keys == NULL && conf->registry == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_compat\" needs a key source: "
                           "\"beacon_compat_key_file\" or "
                           "\"beacon_compat_registry\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_beacon_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_beacon_loc_conf_t *blcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (blcf->status) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strncmp(value[1].data, "zone=", 5) != 0 || value[1].len == 5)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"beacon_status\" directive: invalid "
                               "parameter \"%V\", expected \"zone=NAME\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        blcf->zone.data = value[1].data + 5;
        blcf->zone.len = value[1].len - 5;
    }

    blcf->status = 1;
    blcf->file = cf->conf_file->file.name.data;
    blcf->line = cf->conf_file->line;

    /* the zone may be declared in a stream block parsed later: checked
     * once the whole configuration is read */

    if (ngx_http_beacon_add_ref(cf, blcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_beacon_status_handler;

    return NGX_CONF_OK;
}


/* zones named in http are checked once the stream block is read too */

static ngx_int_t
ngx_http_beacon_add_ref(ngx_conf_t *cf, ngx_http_beacon_loc_conf_t *blcf)
{
    ngx_http_beacon_loc_conf_t   **ref;
    ngx_http_beacon_main_conf_t   *bmcf;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_beacon_module);

    ref = ngx_array_push(&bmcf->refs);
    if (ref == NULL) {
        return NGX_ERROR;
    }

    *ref = blcf;

    return NGX_OK;
}


static char *
ngx_http_beacon_compat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_beacon_loc_conf_t *blcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (blcf->compat) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strncmp(value[1].data, "zone=", 5) != 0 || value[1].len == 5)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"beacon_compat\" directive: invalid "
                               "parameter \"%V\", expected \"zone=NAME\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        blcf->compat_zone_name.data = value[1].data + 5;
        blcf->compat_zone_name.len = value[1].len - 5;
    }

    blcf->compat = 1;
    blcf->file = cf->conf_file->file.name.data;
    blcf->line = cf->conf_file->line;

    if (ngx_http_beacon_add_ref(cf, blcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_beacon_compat_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_beacon_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_beacon_health_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_beacon_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_beacon_loc_conf_t *blcf = conf;

    ngx_str_t  *value;

    if (blcf->keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_beacon_keys_load(cf, &cmd->name, &value[1], &blcf->keys);
}


static char *
ngx_http_beacon_registry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_beacon_loc_conf_t *blcf = conf;

    time_t                       t;
    ngx_str_t                   *value, s, ca;
    ngx_url_t                    u;
    ngx_uint_t                   i, tls;
    ngx_msec_t                   ms;
    ngx_pool_cleanup_t          *cln;
    ngx_http_beacon_registry_t  *reg;

    if (blcf->registry != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    reg = ngx_pcalloc(cf->pool, sizeof(ngx_http_beacon_registry_t));
    if (reg == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.no_resolve = 0;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_compat_registry\" directive: invalid "
                           "address \"%V\"%s%s", &value[1],
                           u.err ? ": " : "", u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    reg->addr = &u.addrs[0];
    reg->host = u.host;
    reg->ttl = 300;
    reg->timeout = 5000;

    tls = 0;
    ngx_str_null(&ca);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "tls") == 0) {
            tls = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "tls_ca=", 7) == 0
            && value[i].len > 7)
        {
            ca.data = value[i].data + 7;
            ca.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "tls_name=", 9) == 0
            && value[i].len > 9)
        {
            reg->host.data = value[i].data + 9;
            reg->host.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;
            t = ngx_parse_time(&s, 1);

            if (t == (time_t) NGX_ERROR || t < 1) {
                goto invalid;
            }

            reg->ttl = t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;
            ms = ngx_parse_time(&s, 0);

            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            reg->timeout = ms;
            continue;
        }

        goto invalid;
    }

    if (ca.len && !tls) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_compat_registry\" directive: "
                           "\"tls_ca=\" requires \"tls\"");
        return NGX_CONF_ERROR;
    }

    if (tls) {
        /* TLS 1.2+, the registry's certificate verified, always */

        reg->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
        if (reg->ssl == NULL) {
            return NGX_CONF_ERROR;
        }

        reg->ssl->log = cf->log;

        if (ngx_ssl_create(reg->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ngx_ssl_cleanup_ctx(reg->ssl);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_ssl_cleanup_ctx;
        cln->data = reg->ssl;

        if (ca.len) {
            if (ngx_ssl_trusted_certificate(cf, reg->ssl, &ca, 4) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

        } else if (SSL_CTX_set_default_verify_paths(reg->ssl->ctx) != 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"beacon_compat_registry\" directive: no "
                               "system CA certificates; use \"tls_ca=\"");
            return NGX_CONF_ERROR;
        }
    }

    blcf->registry = reg;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"beacon_compat_registry\" directive: invalid "
                       "parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_beacon_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t                     j, n;
    ngx_shm_zone_t                *shm_zone, *zones[2];
    ngx_http_beacon_loc_conf_t   **refs;
    ngx_http_beacon_main_conf_t   *bmcf;

    if (ngx_http_module.index >= ngx_max_module
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NGX_OK;
    }

    bmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_beacon_module);
    if (bmcf == NULL) {
        return NGX_OK;
    }

    refs = bmcf->refs.elts;

    for (j = 0; j < bmcf->refs.nelts; j++) {

        if (refs[j]->status && refs[j]->zone.len
            && ngx_http_beacon_zones(cycle, &refs[j]->zone, &shm_zone, 1) == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "\"beacon_status\" directive in %s:%ui: unknown "
                          "zone \"%V\" (not declared by \"beacon_zone\")",
                          refs[j]->file, refs[j]->line, &refs[j]->zone);
            return NGX_ERROR;
        }

        if (!refs[j]->compat) {
            continue;
        }

        /* the bridge serves one zone: the named one, or the only one */

        n = ngx_http_beacon_zones(cycle, &refs[j]->compat_zone_name, zones,
                                  2);

        if (n != 1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "\"beacon_compat\" directive in %s:%ui: %s",
                          refs[j]->file, refs[j]->line,
                          refs[j]->compat_zone_name.len
                          ? "unknown zone (not declared by \"beacon_zone\")"
                          : (n ? "several beacon zones, name one with "
                                 "\"zone=\""
                               : "no \"beacon_zone\" in the stream block"));
            return NGX_ERROR;
        }

        refs[j]->compat_zone = zones[0];
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_beacon_init_process(ngx_cycle_t *cycle)
{
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    return ngx_http_beacon_compat_init_process(cycle);
}
