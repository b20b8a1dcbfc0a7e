
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The http face of the beacon: "beacon_status" serves the counters and
 * gauges of the beacon zones as JSON or in the Prometheus text format;
 * "beacon_health" and "beacon_drain" are the health check and its drain
 * switch (W15); "beacon_compat" is the WebSocket bridge
 * (ngx_http_beacon_compat.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_beacon.h"
#include "ngx_beacon_keys.h"
#include "ngx_beacon_gossip.h"


/*
 * blcf->status: which page of this file a location serves (the loc conf
 * is shared with the bridge, so one field carries the page and the
 * format); blcf->zone is the zone it is about
 */
#define NGX_HTTP_BEACON_STATUS_JSON        1
#define NGX_HTTP_BEACON_STATUS_PROMETHEUS  2
#define NGX_HTTP_BEACON_HEALTH             3
#define NGX_HTTP_BEACON_DRAIN              4

#define NGX_HTTP_BEACON_ZONE_JSON_LEN                                        \
    (6144 + NGX_BEACON_SLOTS * 64 + NGX_BEACON_GOSSIP_SOURCES * 160)
#define NGX_HTTP_BEACON_MAX_ZONES       64
#define NGX_HTTP_BEACON_JSON_DEPTH      4
#define NGX_HTTP_BEACON_BUF_SIZE        16384

/* the values of a zone that are not counters (ngx_beacon_counter_e) */
#define NGX_HTTP_BEACON_V_NODES         (NGX_BEACON_C_LAST + 0)
#define NGX_HTTP_BEACON_V_MAX_NODES     (NGX_BEACON_C_LAST + 1)
#define NGX_HTTP_BEACON_V_NODE_TTL      (NGX_BEACON_C_LAST + 2)
#define NGX_HTTP_BEACON_V_SIZE          (NGX_BEACON_C_LAST + 3)
#define NGX_HTTP_BEACON_V_USED          (NGX_BEACON_C_LAST + 4)
#define NGX_HTTP_BEACON_V_FREE          (NGX_BEACON_C_LAST + 5)
#define NGX_HTTP_BEACON_V_DRAINING      (NGX_BEACON_C_LAST + 6)
#define NGX_HTTP_BEACON_V_WS_PEERS      (NGX_BEACON_C_LAST + 7)
#define NGX_HTTP_BEACON_V_WS_CONNS      (NGX_BEACON_C_LAST + 8)
/* the Offset relay's gauges: V_OFFSET + ngx_beacon_gauge_e */
#define NGX_HTTP_BEACON_V_OFFSET        (NGX_BEACON_C_LAST + 9)

#define NGX_HTTP_BEACON_PROM_TYPE  "text/plain; version=0.0.4; charset=utf-8"


typedef struct {
    ngx_array_t                   refs;       /* ngx_http_beacon_loc_conf_t * */
} ngx_http_beacon_main_conf_t;


/*
 * One gauge of a zone: its JSON field (or, in a labelled family, its label
 * value) and, for a family of its own, the Prometheus family and help.
 * Counters are not listed here: the rooms register them
 * (zone/ngx_beacon_counters.h).
 */
typedef struct {
    const char                   *name;
    ngx_uint_t                    value;      /* ngx_beacon_counter_e or V_ */
    const char                   *metric;     /* after "beacon_"; or NULL */
    const char                   *help;
} ngx_http_beacon_field_t;


/* a Prometheus family of gauges with a label ("state") or without */
typedef struct {
    const char                   *metric;
    const char                   *help;
    const char                   *label;
    ngx_http_beacon_field_t      *fields;     /* label values; NULL: value */
    ngx_uint_t                    value;
} ngx_http_beacon_gauge_t;


/* one zone, read once per request */
typedef struct {
    ngx_str_t                     name;       /* escaped for the format */
    ngx_beacon_zone_t            *zone;
    ngx_beacon_stats_t            st;
    ngx_uint_t                    npeers;
    ngx_uint_t                    routes;
    ngx_beacon_gossip_source_t    peers[NGX_BEACON_GOSSIP_SOURCES];
} ngx_http_beacon_snap_t;


/* where the JSON writer is: the objects open, a field written in each */
typedef struct {
    const char                   *path;       /* a group's json, "" */
    ngx_uint_t                    depth;
    ngx_uint_t                    first[NGX_HTTP_BEACON_JSON_DEPTH];
} ngx_http_beacon_json_t;


/* the Prometheus page is written into a chain of buffers */
typedef struct {
    ngx_http_request_t           *r;
    ngx_chain_t                  *first;
    ngx_chain_t                 **last;
    ngx_buf_t                    *buf;
} ngx_http_beacon_out_t;


static ngx_int_t ngx_http_beacon_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_beacon_status_format(ngx_http_request_t *r,
    ngx_uint_t *format);
static ngx_http_beacon_snap_t *ngx_http_beacon_snapshot(
    ngx_http_request_t *r, ngx_str_t *name, ngx_uint_t format,
    ngx_uint_t *n);
static uint64_t ngx_http_beacon_value(ngx_http_beacon_snap_t *snap,
    ngx_uint_t value);
static ngx_uint_t ngx_http_beacon_zones(ngx_cycle_t *cycle, ngx_str_t *name,
    ngx_shm_zone_t **zones, ngx_uint_t max);
static ngx_chain_t *ngx_http_beacon_json(ngx_http_request_t *r,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n, off_t *size);
static u_char *ngx_http_beacon_zone_json(u_char *p, u_char *last,
    ngx_http_beacon_snap_t *snap, ngx_uint_t first_zone);
static size_t ngx_http_beacon_counters_json_len(void);
static u_char *ngx_http_beacon_group_json(u_char *p, u_char *last,
    ngx_http_beacon_json_t *js, ngx_http_beacon_snap_t *snap,
    ngx_beacon_counter_group_e g);
static u_char *ngx_http_beacon_json_object(u_char *p, u_char *last,
    ngx_http_beacon_json_t *js, const char *path);
static size_t ngx_http_beacon_json_name(const char *path);
static u_char *ngx_http_beacon_json_field(u_char *p, u_char *last,
    ngx_http_beacon_json_t *js, const char *key, uint64_t v);
static u_char *ngx_http_beacon_fields_json(u_char *p, u_char *last,
    ngx_http_beacon_json_t *js, ngx_http_beacon_snap_t *snap,
    ngx_http_beacon_field_t *fields);
static ngx_chain_t *ngx_http_beacon_prometheus(ngx_http_request_t *r,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n, off_t *size);
static ngx_int_t ngx_http_beacon_prom_group(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n,
    ngx_beacon_counter_group_e g);
static ngx_int_t ngx_http_beacon_prom_fields(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n,
    ngx_http_beacon_field_t *fields, const char *type);
static ngx_int_t ngx_http_beacon_prom_family(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n, const char *metric,
    const char *type, const char *help, const char *label,
    ngx_http_beacon_field_t *fields, ngx_uint_t value);
static ngx_int_t ngx_http_beacon_prom_workers(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n);
static ngx_int_t ngx_http_beacon_prom_gossip(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n);
static ngx_int_t ngx_http_beacon_prom_head(ngx_http_beacon_out_t *out,
    const char *metric, const char *type, const char *help);
static ngx_int_t ngx_http_beacon_prom_sample(ngx_http_beacon_out_t *out,
    const char *metric, ngx_str_t *zone, const char *label,
    ngx_str_t *label_value, uint64_t v);
static u_char *ngx_http_beacon_reserve(ngx_http_beacon_out_t *out,
    size_t len);
static size_t ngx_http_beacon_escape_label(u_char *dst, u_char *src,
    size_t size);
static ngx_int_t ngx_http_beacon_healthz_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_beacon_drain_handler(ngx_http_request_t *r);
static ngx_beacon_zone_t *ngx_http_beacon_zone(ngx_http_request_t *r);
static ngx_int_t ngx_http_beacon_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_chain_t *out, off_t size);
static ngx_int_t ngx_http_beacon_send_text(ngx_http_request_t *r,
    ngx_uint_t status, char *text);
static void *ngx_http_beacon_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_beacon_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_beacon_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_beacon_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_beacon_health_drain(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_beacon_page_taken(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_beacon_loc_conf_t *blcf);
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


/* by blcf->status */
static char  *ngx_http_beacon_pages[] = {
    NULL,
    "beacon_status",
    "beacon_status",
    "beacon_health",
    "beacon_drain"
};


/*
 * The counters are registered by the rooms that count them
 * (zone/ngx_beacon_counters.h) and printed group by group; what this file
 * adds are the gauges: those of the zone (first on the Prometheus page),
 * those a group's JSON object starts with, and the gossip and worker
 * values.
 */

static ngx_http_beacon_field_t  ngx_http_beacon_compat_gauges[] = {
    { "active_peers", NGX_HTTP_BEACON_V_WS_PEERS, NULL, NULL },
    { "connections", NGX_HTTP_BEACON_V_WS_CONNS, NULL, NULL },
    { NULL, 0, NULL, NULL }
};


/* the Offset relay (ngx_stream_beacon_offset_module.c): "offset" */

static ngx_http_beacon_field_t  ngx_http_beacon_offset_gauges[] = {
    { "connections", NGX_HTTP_BEACON_V_OFFSET + NGX_BEACON_OG_CONNECTIONS,
      "offset_connections", "Offset relay: open connections." },
    { "handshakes_in_progress",
      NGX_HTTP_BEACON_V_OFFSET + NGX_BEACON_OG_HANDSHAKES,
      "offset_handshakes_in_progress",
      "Offset relay: connections in the version and secure-channel "
      "handshake (beacon_offset_handshakes)." },
    { "listeners", NGX_HTTP_BEACON_V_OFFSET + NGX_BEACON_OG_LISTENERS,
      "offset_listeners", "Offset relay: nodes listening." },
    { "half_tunnels", NGX_HTTP_BEACON_V_OFFSET + NGX_BEACON_OG_HALF_TUNNELS,
      "offset_half_tunnels",
      "Offset relay: Connects waiting for the listener's Accept." },
    { "tunnels", NGX_HTTP_BEACON_V_OFFSET + NGX_BEACON_OG_TUNNELS,
      "offset_tunnels", "Offset relay: spliced tunnels." },
    { NULL, 0, NULL, NULL }
};


static ngx_http_beacon_field_t  ngx_http_beacon_bytes_fields[] = {
    { "total", NGX_HTTP_BEACON_V_SIZE, NULL, NULL },
    { "used", NGX_HTTP_BEACON_V_USED, NULL, NULL },
    { "free", NGX_HTTP_BEACON_V_FREE, NULL, NULL },
    { NULL, 0, NULL, NULL }
};


static ngx_http_beacon_gauge_t  ngx_http_beacon_gauges[] = {
    { "nodes", "Registered nodes.", NULL, NULL, NGX_HTTP_BEACON_V_NODES },
    { "nodes_max", "The node cap (max_nodes).", NULL, NULL,
      NGX_HTTP_BEACON_V_MAX_NODES },
    { "node_ttl_seconds", "How long a node stays without a refresh.",
      NULL, NULL, NGX_HTTP_BEACON_V_NODE_TTL },
    { "zone_bytes", "Zone memory: total size, pages in use, free pages.",
      "state", ngx_http_beacon_bytes_fields, 0 },
    { "draining", "1 while the zone is draining (health check 503).",
      NULL, NULL, NGX_HTTP_BEACON_V_DRAINING },
    { "compat_active_peers", "Compat bridge: logged-in peers.", NULL, NULL,
      NGX_HTTP_BEACON_V_WS_PEERS },
    { "compat_connections", "Compat bridge: open connections.", NULL, NULL,
      NGX_HTTP_BEACON_V_WS_CONNS },
    { NULL, NULL, NULL, NULL, 0 }
};


static ngx_command_t  ngx_http_beacon_commands[] = {

    { ngx_string("beacon_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_http_beacon_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_beacon_health_drain,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_drain"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_beacon_health_drain,
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
    off_t                        size;
    ngx_int_t                    rc;
    ngx_str_t                    type;
    ngx_uint_t                   n, format;
    ngx_chain_t                 *out;
    ngx_http_beacon_snap_t      *snaps;
    ngx_http_beacon_loc_conf_t  *blcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_beacon_module);

    format = blcf->status;

    if (ngx_http_beacon_status_format(r, &format) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    snaps = ngx_http_beacon_snapshot(r, &blcf->zone, format, &n);
    if (snaps == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (format == NGX_HTTP_BEACON_STATUS_PROMETHEUS) {
        out = ngx_http_beacon_prometheus(r, snaps, n, &size);
        ngx_str_set(&type, NGX_HTTP_BEACON_PROM_TYPE);

    } else {
        out = ngx_http_beacon_json(r, snaps, n, &size);
        ngx_str_set(&type, "application/json");
    }

    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_beacon_send(r, NGX_HTTP_OK, &type, out, size);
}


/* "?format=json" or "?format=prometheus" overrides the configured format */

static ngx_int_t
ngx_http_beacon_status_format(ngx_http_request_t *r, ngx_uint_t *format)
{
    ngx_str_t  value;

    if (ngx_http_arg(r, (u_char *) "format", 6, &value) != NGX_OK) {
        return NGX_OK;
    }

    if (value.len == 4 && ngx_strncmp(value.data, "json", 4) == 0) {
        *format = NGX_HTTP_BEACON_STATUS_JSON;
        return NGX_OK;
    }

    if (value.len == 10 && ngx_strncmp(value.data, "prometheus", 10) == 0) {
        *format = NGX_HTTP_BEACON_STATUS_PROMETHEUS;
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "beacon status: unknown format \"%V\"", &value);

    return NGX_DECLINED;
}


/* the counters of every zone shown, each read once, names escaped */

static ngx_http_beacon_snap_t *
ngx_http_beacon_snapshot(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t format, ngx_uint_t *n)
{
    size_t                   len;
    ngx_str_t               *zname;
    ngx_uint_t               i;
    ngx_shm_zone_t          *zones[NGX_HTTP_BEACON_MAX_ZONES];
    ngx_http_beacon_snap_t  *snaps, *snap;

    *n = ngx_http_beacon_zones((ngx_cycle_t *) ngx_cycle, name, zones,
                               NGX_HTTP_BEACON_MAX_ZONES);

    snaps = ngx_palloc(r->pool, (*n + 1) * sizeof(ngx_http_beacon_snap_t));
    if (snaps == NULL) {
        return NULL;
    }

    for (i = 0; i < *n; i++) {
        snap = &snaps[i];
        snap->zone = zones[i]->data;
        zname = &zones[i]->shm.name;

        if (format == NGX_HTTP_BEACON_STATUS_PROMETHEUS) {
            len = ngx_http_beacon_escape_label(NULL, zname->data, zname->len);

        } else {
            len = zname->len + ngx_escape_json(NULL, zname->data, zname->len);
        }

        snap->name.data = ngx_pnalloc(r->pool, len);
        if (snap->name.data == NULL) {
            return NULL;
        }

        if (format == NGX_HTTP_BEACON_STATUS_PROMETHEUS) {
            (void) ngx_http_beacon_escape_label(snap->name.data, zname->data,
                                                zname->len);

        } else {
            (void) ngx_escape_json(snap->name.data, zname->data, zname->len);
        }

        snap->name.len = len;

        ngx_beacon_shm_stats(snap->zone, &snap->st);

        snap->npeers = ngx_beacon_gossip_sources(snap->zone, snap->peers,
                                                 NGX_BEACON_GOSSIP_SOURCES,
                                                 &snap->routes);
    }

    return snaps;
}


static uint64_t
ngx_http_beacon_value(ngx_http_beacon_snap_t *snap, ngx_uint_t value)
{
    ngx_beacon_stats_t  *st;

    st = &snap->st;

    if (value < NGX_BEACON_C_LAST) {
        return st->c[value];
    }

    switch (value) {

    case NGX_HTTP_BEACON_V_NODES:
        return st->nodes;

    case NGX_HTTP_BEACON_V_MAX_NODES:
        return snap->zone->max_nodes;

    case NGX_HTTP_BEACON_V_NODE_TTL:
        return snap->zone->ttl;

    case NGX_HTTP_BEACON_V_SIZE:
        return st->size;

    case NGX_HTTP_BEACON_V_USED:
        return st->used;

    case NGX_HTTP_BEACON_V_FREE:
        return st->free;

    case NGX_HTTP_BEACON_V_DRAINING:
        return st->draining;

    case NGX_HTTP_BEACON_V_WS_PEERS:
        return st->ws_peers;

    case NGX_HTTP_BEACON_V_WS_CONNS:
        return st->ws_connections;

    default:
        break;
    }

    if (value >= NGX_HTTP_BEACON_V_OFFSET
        && value < NGX_HTTP_BEACON_V_OFFSET + NGX_BEACON_OG_LAST)
    {
        return st->offset[value - NGX_HTTP_BEACON_V_OFFSET];
    }

    return 0;
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


static ngx_chain_t *
ngx_http_beacon_json(ngx_http_request_t *r, ngx_http_beacon_snap_t *snaps,
    ngx_uint_t n, off_t *size)
{
    size_t        len;
    u_char       *p;
    ngx_buf_t    *b;
    ngx_uint_t    i;
    ngx_chain_t  *cl;

    len = sizeof("{\"version\":\"\",\"zones\":{}}\n")
          + sizeof(NGX_BEACON_VERSION);

    for (i = 0; i < n; i++) {
        len += NGX_HTTP_BEACON_ZONE_JSON_LEN
               + ngx_http_beacon_counters_json_len() + snaps[i].name.len;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_slprintf(b->last, b->end, "{\"version\":\"%s\",\"zones\":{",
                     NGX_BEACON_VERSION);

    for (i = 0; i < n; i++) {
        p = ngx_http_beacon_zone_json(p, b->end, &snaps[i], i == 0);
    }

    b->last = ngx_slprintf(p, b->end, "}}\n");

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *size = b->last - b->pos;

    return cl;
}


static u_char *
ngx_http_beacon_zone_json(u_char *p, u_char *last,
    ngx_http_beacon_snap_t *snap, ngx_uint_t first_zone)
{
    ngx_uint_t               i, first;
    ngx_beacon_stats_t      *st;
    ngx_http_beacon_json_t   js;

    st = &snap->st;

    p = ngx_slprintf(p, last,
                     "%s\"%V\":{\"size\":%uz,\"used\":%uz,\"free\":%uz,"
                     "\"nodes\":%ui,\"max_nodes\":%ui,\"node_ttl\":%T,"
                     "\"draining\":%s",
                     first_zone ? "" : ",", &snap->name,
                     st->size, st->used, st->free,
                     st->nodes, snap->zone->max_nodes, snap->zone->ttl,
                     st->draining ? "true" : "false");

    js.path = "";
    js.depth = 0;
    js.first[0] = 0;

    for (i = 0; i < NGX_BEACON_G_LAST; i++) {
        p = ngx_http_beacon_group_json(p, last, &js, snap, i);
    }

    p = ngx_http_beacon_json_object(p, last, &js, "");

    p = ngx_slprintf(p, last, ",\"gossip\":{\"routes\":%ui,\"peers\":[",
                     snap->routes);

    for (i = 0; i < snap->npeers; i++) {
        p = ngx_slprintf(p, last, "%s{\"addr\":\"", i ? "," : "");

        if (last - p > 64) {
            p += ngx_beacon_addr_print((char *) p, &snap->peers[i].addr, 1);
        }

        p = ngx_slprintf(p, last, "\",\"beacon_id\":%uD,\"routes\":%uD,"
                         "\"age_ms\":%M,\"forwarded\":%uL}",
                         snap->peers[i].beacon_id, snap->peers[i].routes,
                         snap->peers[i].age, snap->peers[i].forwarded);
    }

    p = ngx_slprintf(p, last, "]},\"workers\":[");

    first = 1;

    for (i = 0; i < NGX_BEACON_SLOTS; i++) {
        if (st->worker_datagrams[i] == 0) {
            continue;
        }

        p = ngx_slprintf(p, last, "%s{\"worker\":%ui,\"datagrams\":%uL}",
                         first ? "" : ",", i, st->worker_datagrams[i]);
        first = 0;
    }

    return ngx_slprintf(p, last, "]}");
}


/* the room the registered counters take, beyond the fixed part */

static size_t
ngx_http_beacon_counters_json_len(void)
{
    ngx_uint_t     i;
    static size_t  len;

    if (len) {
        return len;
    }

    for (i = 0; i < NGX_BEACON_G_LAST; i++) {
        len += sizeof(",\"\":{}\"total\":") + NGX_INT64_LEN
               + 2 * ngx_strlen(ngx_beacon_counter_groups[i].json);
    }

    for (i = 0; i < NGX_BEACON_C_LAST; i++) {
        if (ngx_beacon_counters[i].key) {
            len += sizeof(",\"\":") + NGX_INT64_LEN
                   + ngx_strlen(ngx_beacon_counters[i].key);
        }
    }

    return len;
}


/*
 * A group's counters in its object: "total" first if the group asks, the
 * gauges the object starts with (this file's), then every counter of the
 * group that has a key, in the order registered.
 */

static u_char *
ngx_http_beacon_group_json(u_char *p, u_char *last,
    ngx_http_beacon_json_t *js, ngx_http_beacon_snap_t *snap,
    ngx_beacon_counter_group_e g)
{
    uint64_t                           total;
    ngx_uint_t                         i;
    const ngx_beacon_counter_t        *c;
    const ngx_beacon_counter_group_t  *grp;

    grp = &ngx_beacon_counter_groups[g];

    p = ngx_http_beacon_json_object(p, last, js, grp->json);

    if (grp->total) {
        total = 0;

        for (i = 0; i < NGX_BEACON_C_LAST; i++) {
            if (ngx_beacon_counters[i].group == g
                && ngx_beacon_counters[i].key)
            {
                total += snap->st.c[i];
            }
        }

        p = ngx_http_beacon_json_field(p, last, js, "total", total);
    }

    if (g == NGX_BEACON_G_COMPAT) {
        p = ngx_http_beacon_fields_json(p, last, js, snap,
                                        ngx_http_beacon_compat_gauges);

    } else if (g == NGX_BEACON_G_OFFSET) {
        p = ngx_http_beacon_fields_json(p, last, js, snap,
                                        ngx_http_beacon_offset_gauges);
    }

    for (i = 0; i < NGX_BEACON_C_LAST; i++) {
        c = &ngx_beacon_counters[i];

        if (c->group == g && c->key) {
            p = ngx_http_beacon_json_field(p, last, js, c->key,
                                           snap->st.c[i]);
        }
    }

    return p;
}


/*
 * Moves the writer into the object of path ("" the zone's, "a.b" one
 * nested in "a"): closes the open objects path does not share, opens the
 * rest.
 */

static u_char *
ngx_http_beacon_json_object(u_char *p, u_char *last,
    ngx_http_beacon_json_t *js, const char *path)
{
    size_t       la, lb;
    ngx_uint_t   common;
    const char  *a, *b;

    a = js->path;
    b = path;
    common = 0;

    while (*a && *b) {
        la = ngx_http_beacon_json_name(a);
        lb = ngx_http_beacon_json_name(b);

        if (la != lb || ngx_strncmp(a, b, la) != 0) {
            break;
        }

        common++;
        a += la + (a[la] == '.');
        b += lb + (b[lb] == '.');
    }

    while (js->depth > common) {
        p = ngx_slprintf(p, last, "}");
        js->depth--;
    }

    while (*b && js->depth < NGX_HTTP_BEACON_JSON_DEPTH - 1) {
        lb = ngx_http_beacon_json_name(b);

        p = ngx_slprintf(p, last, "%s\"%*s\":{",
                         js->first[js->depth] ? "" : ",", lb, b);

        js->first[js->depth] = 0;
        js->first[++js->depth] = 1;

        b += lb + (b[lb] == '.');
    }

    js->path = path;

    return p;
}


/* the length of a path's first name */

static size_t
ngx_http_beacon_json_name(const char *path)
{
    size_t  n;

    for (n = 0; path[n] && path[n] != '.'; n++) { /* void */ }

    return n;
}


static u_char *
ngx_http_beacon_json_field(u_char *p, u_char *last,
    ngx_http_beacon_json_t *js, const char *key, uint64_t v)
{
    p = ngx_slprintf(p, last, "%s\"%s\":%uL",
                     js->first[js->depth] ? "" : ",", key, v);

    js->first[js->depth] = 0;

    return p;
}


static u_char *
ngx_http_beacon_fields_json(u_char *p, u_char *last,
    ngx_http_beacon_json_t *js, ngx_http_beacon_snap_t *snap,
    ngx_http_beacon_field_t *fields)
{
    ngx_http_beacon_field_t  *f;

    for (f = fields; f->name; f++) {
        p = ngx_http_beacon_json_field(p, last, js, f->name,
                                       ngx_http_beacon_value(snap, f->value));
    }

    return p;
}


/*
 * The Prometheus text exposition format 0.0.4: one family at a time (HELP,
 * TYPE, then its samples for every zone), every sample labelled by zone.
 */

static ngx_chain_t *
ngx_http_beacon_prometheus(ngx_http_request_t *r,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n, off_t *size)
{
    ngx_uint_t                i;
    ngx_chain_t              *cl;
    ngx_http_beacon_out_t     out;
    ngx_http_beacon_gauge_t  *g;

    out.r = r;
    out.first = NULL;
    out.last = &out.first;
    out.buf = NULL;

    for (g = ngx_http_beacon_gauges; g->metric; g++) {
        if (ngx_http_beacon_prom_family(&out, snaps, n, g->metric, "gauge",
                                        g->help, g->label, g->fields,
                                        g->value)
            != NGX_OK)
        {
            return NULL;
        }
    }

    for (i = 0; i < NGX_BEACON_G_LAST; i++) {

        /* the gauges that go before a group's families */

        if (i == NGX_BEACON_G_COMPAT) {
            if (ngx_http_beacon_prom_workers(&out, snaps, n) != NGX_OK
                || ngx_http_beacon_prom_gossip(&out, snaps, n) != NGX_OK)
            {
                return NULL;
            }

        } else if (i == NGX_BEACON_G_OFFSET) {
            if (ngx_http_beacon_prom_fields(&out, snaps, n,
                                            ngx_http_beacon_offset_gauges,
                                            "gauge")
                != NGX_OK)
            {
                return NULL;
            }
        }

        if (ngx_http_beacon_prom_group(&out, snaps, n, i) != NGX_OK) {
            return NULL;
        }
    }

    *size = 0;

    for (cl = out.first; cl; cl = cl->next) {
        *size += cl->buf->last - cl->buf->pos;
    }

    return out.first;
}


/*
 * A group's counters: one labelled family with a sample per zone and
 * counter, or a family of its own for every counter with a metric.
 */

static ngx_int_t
ngx_http_beacon_prom_group(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n, ngx_beacon_counter_group_e g)
{
    ngx_str_t                          lv;
    ngx_uint_t                         i, j;
    const ngx_beacon_counter_t        *c;
    const ngx_beacon_counter_group_t  *grp;

    grp = &ngx_beacon_counter_groups[g];

    if (grp->metric == NULL) {

        for (j = 0; j < NGX_BEACON_C_LAST; j++) {
            c = &ngx_beacon_counters[j];

            if (c->group != g || c->key == NULL || c->metric == NULL) {
                continue;
            }

            if (ngx_http_beacon_prom_family(out, snaps, n, c->metric,
                                            "counter", c->help, NULL, NULL,
                                            j)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    if (ngx_http_beacon_prom_head(out, grp->metric, "counter", grp->help)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        for (j = 0; j < NGX_BEACON_C_LAST; j++) {
            c = &ngx_beacon_counters[j];

            if (c->group != g || c->key == NULL) {
                continue;
            }

            lv.data = (u_char *) c->key;
            lv.len = ngx_strlen(c->key);

            if (ngx_http_beacon_prom_sample(out, grp->metric, &snaps[i].name,
                                            grp->label, &lv, snaps[i].st.c[j])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* one family of the type given per field that names one */

static ngx_int_t
ngx_http_beacon_prom_fields(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n,
    ngx_http_beacon_field_t *fields, const char *type)
{
    ngx_http_beacon_field_t  *f;

    for (f = fields; f->name; f++) {

        if (f->metric == NULL) {
            continue;
        }

        if (ngx_http_beacon_prom_family(out, snaps, n, f->metric, type,
                                        f->help, NULL, NULL, f->value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a family: one sample per zone, or per zone and label value (fields) */

static ngx_int_t
ngx_http_beacon_prom_family(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n, const char *metric,
    const char *type, const char *help, const char *label,
    ngx_http_beacon_field_t *fields, ngx_uint_t value)
{
    ngx_str_t                 lv;
    ngx_uint_t                i;
    ngx_http_beacon_field_t  *f;

    if (ngx_http_beacon_prom_head(out, metric, type, help) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {

        if (fields == NULL) {
            if (ngx_http_beacon_prom_sample(out, metric, &snaps[i].name,
                                            NULL, NULL,
                                            ngx_http_beacon_value(&snaps[i],
                                                                  value))
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        for (f = fields; f->name; f++) {
            lv.data = (u_char *) f->name;
            lv.len = ngx_strlen(f->name);

            if (ngx_http_beacon_prom_sample(out, metric, &snaps[i].name,
                                            label, &lv,
                                            ngx_http_beacon_value(&snaps[i],
                                                                  f->value))
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* gossip: routes, live peer beacons, and per peer what went its way */

static ngx_int_t
ngx_http_beacon_prom_gossip(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n)
{
    u_char      buf[64];
    ngx_str_t   lv;
    ngx_uint_t  i, j, k;

    static const char  *metrics[] = {
        "gossip_routes", "gauge",
        "Live peer routes (node ids announced by peer beacons).",
        "gossip_peers", "gauge", "Peer beacons heard within 90 s.",
        "gossip_peer_routes", "gauge", "Live peer routes, by peer beacon.",
        "gossip_peer_forwarded_total", "counter",
        "RELAY forwarded to a peer beacon, by peer beacon."
    };

    for (k = 0; k < 4; k++) {

        if (ngx_http_beacon_prom_head(out, metrics[3 * k], metrics[3 * k + 1],
                                      metrics[3 * k + 2])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (i = 0; i < n; i++) {

            if (k < 2) {
                if (ngx_http_beacon_prom_sample(out, metrics[3 * k],
                                                &snaps[i].name, NULL, NULL,
                                                k ? snaps[i].npeers
                                                  : snaps[i].routes)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                continue;
            }

            for (j = 0; j < snaps[i].npeers; j++) {
                lv.data = buf;
                lv.len = ngx_beacon_addr_print((char *) buf,
                                               &snaps[i].peers[j].addr, 1);

                if (ngx_http_beacon_prom_sample(out, metrics[3 * k],
                                                &snaps[i].name, "peer", &lv,
                                                k == 2
                                                ? snaps[i].peers[j].routes
                                                : snaps[i].peers[j].forwarded)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


/* datagrams per worker slot (ngx_worker modulo 64), the slots in use */

static ngx_int_t
ngx_http_beacon_prom_workers(ngx_http_beacon_out_t *out,
    ngx_http_beacon_snap_t *snaps, ngx_uint_t n)
{
    u_char      buf[NGX_INT_T_LEN];
    ngx_str_t   lv;
    ngx_uint_t  i, j;

    if (ngx_http_beacon_prom_head(out, "worker_datagrams_total", "counter",
                                  "Datagrams received, by nginx worker.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        for (j = 0; j < NGX_BEACON_SLOTS; j++) {

            if (snaps[i].st.worker_datagrams[j] == 0) {
                continue;
            }

            lv.data = buf;
            lv.len = ngx_sprintf(buf, "%ui", j) - buf;

            if (ngx_http_beacon_prom_sample(out, "worker_datagrams_total",
                                            &snaps[i].name, "worker", &lv,
                                            snaps[i].st.worker_datagrams[j])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_beacon_prom_head(ngx_http_beacon_out_t *out, const char *metric,
    const char *type, const char *help)
{
    u_char  *p;

    p = ngx_http_beacon_reserve(out, sizeof("# HELP beacon_ \n"
                                            "# TYPE beacon_  \n")
                                     + 2 * ngx_strlen(metric)
                                     + ngx_strlen(type) + ngx_strlen(help));
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->buf->last = ngx_sprintf(p, "# HELP beacon_%s %s\n"
                                 "# TYPE beacon_%s %s\n",
                                 metric, help, metric, type);

    return NGX_OK;
}


static ngx_int_t
ngx_http_beacon_prom_sample(ngx_http_beacon_out_t *out, const char *metric,
    ngx_str_t *zone, const char *label, ngx_str_t *label_value, uint64_t v)
{
    size_t   len;
    u_char  *p;

    len = sizeof("beacon_{zone=\"\",=\"\"} \n") + ngx_strlen(metric)
          + zone->len + NGX_INT64_LEN;

    if (label) {
        len += ngx_strlen(label) + label_value->len;
    }

    p = ngx_http_beacon_reserve(out, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (label) {
        p = ngx_sprintf(p, "beacon_%s{zone=\"%V\",%s=\"%V\"} %uL\n",
                        metric, zone, label, label_value, v);

    } else {
        p = ngx_sprintf(p, "beacon_%s{zone=\"%V\"} %uL\n", metric, zone, v);
    }

    out->buf->last = p;

    return NGX_OK;
}


/* room for len bytes at the end of the output, in a new buffer if needed */

static u_char *
ngx_http_beacon_reserve(ngx_http_beacon_out_t *out, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = out->buf;

    if (b && (size_t) (b->end - b->last) >= len) {
        return b->last;
    }

    b = ngx_create_temp_buf(out->r->pool,
                            ngx_max(len, NGX_HTTP_BEACON_BUF_SIZE));
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(out->r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *out->last = cl;
    out->last = &cl->next;
    out->buf = b;

    return b->last;
}


/* a Prometheus label value: backslash, double quote and newline escaped */

static size_t
ngx_http_beacon_escape_label(u_char *dst, u_char *src, size_t size)
{
    u_char  ch;
    size_t  len;

    len = 0;

    while (size--) {
        ch = *src++;

        if (ch == '\\' || ch == '"' || ch == '\n') {
            if (dst) {
                *dst++ = '\\';
                *dst++ = (ch == '\n') ? 'n' : ch;
            }

            len += 2;
            continue;
        }

        if (dst) {
            *dst++ = ch;
        }

        len++;
    }

    return len;
}


/*
 * The health check (spec 8.2, W15): 200 "ok" while the zone serves, 503
 * "unhealthy" while it drains, so that load balancers stop sending new
 * clients before the instance is taken down.
 */

static ngx_int_t
ngx_http_beacon_healthz_handler(ngx_http_request_t *r)
{
    ngx_int_t           rc;
    ngx_beacon_zone_t  *z;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    z = ngx_http_beacon_zone(r);
    if (z == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_beacon_shm_draining(z)) {
        return ngx_http_beacon_send_text(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "unhealthy\n");
    }

    return ngx_http_beacon_send_text(r, NGX_HTTP_OK, "ok\n");
}


/* the drain switch: POST drains, DELETE serves again, GET tells which */

static ngx_int_t
ngx_http_beacon_drain_handler(ngx_http_request_t *r)
{
    ngx_int_t           rc;
    ngx_uint_t          draining;
    ngx_beacon_zone_t  *z;

    if (!(r->method
          & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST|NGX_HTTP_DELETE)))
    {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    z = ngx_http_beacon_zone(r);
    if (z == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        return ngx_http_beacon_send_text(r, NGX_HTTP_OK,
                                         ngx_beacon_shm_draining(z)
                                         ? "draining\n" : "serving\n");
    }

    draining = (r->method == NGX_HTTP_POST);

    if (ngx_beacon_shm_drain(z, draining) != draining) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "beacon zone \"%V\" %s", &z->name,
                      draining ? "is draining" : "serves again");
    }

    return ngx_http_beacon_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL, -1);
}


/* the zone of a health or drain location: the named one or the only one */

static ngx_beacon_zone_t *
ngx_http_beacon_zone(ngx_http_request_t *r)
{
    ngx_shm_zone_t              *shm_zone;
    ngx_http_beacon_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_beacon_module);

    if (ngx_http_beacon_zones((ngx_cycle_t *) ngx_cycle, &blcf->zone,
                              &shm_zone, 1)
        != 1)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "beacon zone \"%V\" not found", &blcf->zone);
        return NULL;
    }

    return shm_zone->data;
}


/* sends a response: out NULL means no body */

static ngx_int_t
ngx_http_beacon_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_chain_t *out, off_t size)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    r->headers_out.status = status;
    r->headers_out.content_length_n = size;

    if (type) {
        r->headers_out.content_type = *type;
        r->headers_out.content_type_len = type->len;
        r->headers_out.content_type_lowcase = NULL;
    }

    if (r->method == NGX_HTTP_HEAD || out == NULL) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    for (cl = out; cl->next; cl = cl->next) {
        /* void */
    }

    cl->buf->last_buf = (r == r->main) ? 1 : 0;
    cl->buf->last_in_chain = 1;

    return ngx_http_output_filter(r, out);
}


static ngx_int_t
ngx_http_beacon_send_text(ngx_http_request_t *r, ngx_uint_t status,
    char *text)
{
    ngx_buf_t    *b;
    ngx_str_t     type;
    ngx_chain_t  *cl;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) text;
    b->last = b->pos + ngx_strlen(text);
    b->memory = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    ngx_str_set(&type, "text/plain");

    return ngx_http_beacon_send(r, status, &type, cl, b->last - b->pos);
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

    char                      *rv;
    ngx_str_t                 *value;
    ngx_uint_t                 i, format;
    ngx_http_core_loc_conf_t  *clcf;

    rv = ngx_http_beacon_page_taken(cf, cmd, blcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;
    format = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0
            && value[i].len > 5 && blcf->zone.len == 0)
        {
            blcf->zone.data = value[i].data + 5;
            blcf->zone.len = value[i].len - 5;
            continue;
        }

        if (ngx_strcmp(value[i].data, "format=json") == 0 && format == 0) {
            format = NGX_HTTP_BEACON_STATUS_JSON;
            continue;
        }

        if (ngx_strcmp(value[i].data, "format=prometheus") == 0
            && format == 0)
        {
            format = NGX_HTTP_BEACON_STATUS_PROMETHEUS;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_status\" directive: invalid "
                           "parameter \"%V\", expected \"zone=NAME\" or "
                           "\"format=json|prometheus\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    blcf->status = format ? format : NGX_HTTP_BEACON_STATUS_JSON;
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


/* "beacon_health" and "beacon_drain" */

static char *
ngx_http_beacon_health_drain(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_beacon_loc_conf_t *blcf = conf;

    char                      *rv;
    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    rv = ngx_http_beacon_page_taken(cf, cmd, blcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strncmp(value[1].data, "zone=", 5) != 0 || value[1].len == 5)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive: invalid parameter \"%V\", "
                               "expected \"zone=NAME\"", &cmd->name,
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        blcf->zone.data = value[1].data + 5;
        blcf->zone.len = value[1].len - 5;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (ngx_strcmp(cmd->name.data, "beacon_drain") == 0) {
        blcf->status = NGX_HTTP_BEACON_DRAIN;
        clcf->handler = ngx_http_beacon_drain_handler;

    } else {
        blcf->status = NGX_HTTP_BEACON_HEALTH;
        clcf->handler = ngx_http_beacon_healthz_handler;
    }

    blcf->file = cf->conf_file->file.name.data;
    blcf->line = cf->conf_file->line;

    if (ngx_http_beacon_add_ref(cf, blcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a location serves one page: status, health or drain */

static char *
ngx_http_beacon_page_taken(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_beacon_loc_conf_t *blcf)
{
    if (blcf->status == 0) {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" directive: the location already has \"%s\"",
                       &cmd->name, ngx_http_beacon_pages[blcf->status]);

    return NGX_CONF_ERROR;
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

    ngx_str_t  *value;

    if (blcf->registry != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_beacon_registry_conf(cf, &cmd->name, &value[1],
                                    cf->args->nelts - 1, &blcf->registry);
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

        switch (refs[j]->status) {

        case NGX_HTTP_BEACON_STATUS_JSON:
        case NGX_HTTP_BEACON_STATUS_PROMETHEUS:

            if (refs[j]->zone.len
                && ngx_http_beacon_zones(cycle, &refs[j]->zone, &shm_zone, 1)
                   == 0)
            {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                              "\"beacon_status\" directive in %s:%ui: "
                              "unknown zone \"%V\" (not declared by "
                              "\"beacon_zone\")",
                              refs[j]->file, refs[j]->line, &refs[j]->zone);
                return NGX_ERROR;
            }

            break;

        case NGX_HTTP_BEACON_HEALTH:
        case NGX_HTTP_BEACON_DRAIN:

            /* one zone: the named one, or the only one */

            n = ngx_http_beacon_zones(cycle, &refs[j]->zone, zones, 2);

            if (n == 0 && refs[j]->zone.len) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                              "\"%s\" directive in %s:%ui: unknown zone "
                              "\"%V\" (not declared by \"beacon_zone\")",
                              ngx_http_beacon_pages[refs[j]->status],
                              refs[j]->file, refs[j]->line, &refs[j]->zone);
                return NGX_ERROR;
            }

            if (n != 1) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                              "\"%s\" directive in %s:%ui: %s",
                              ngx_http_beacon_pages[refs[j]->status],
                              refs[j]->file, refs[j]->line,
                              n ? "several beacon zones, name one with "
                                  "\"zone=\""
                                : "no \"beacon_zone\" in the stream block");
                return NGX_ERROR;
            }

            break;

        default: /* not a page of this file */
            break;
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
