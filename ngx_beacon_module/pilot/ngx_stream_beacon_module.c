
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The Pilot Protocol beacon as an nginx stream module: configuration,
 * the datagram dispatcher, the periodic reaper, and the timers that run
 * the rounds of the gossip and registry rooms (ngx_beacon_gossip.h,
 * ngx_beacon_registry.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_stream.h>

#include <sodium.h>

#include "ngx_beacon.h"
#include "ngx_stream_beacon.h"
#include "ngx_beacon_proto.h"
#include "ngx_beacon_shm.h"
#include "ngx_beacon_udp.h"
#include "ngx_beacon_keys.h"
#include "ngx_beacon_ipc.h"
#include "ngx_beacon_relay.h"
#include "ngx_beacon_gossip.h"
#include "ngx_beacon_registry.h"
#include "ngx_beacon_stun.h"


#define NGX_STREAM_BEACON_BATCHED    0
#define NGX_STREAM_BEACON_SESSIONS   1

#define NGX_STREAM_BEACON_STUN_OFF   0
#define NGX_STREAM_BEACON_STUN_ON    1   /* beside Pilot, demultiplexed */
#define NGX_STREAM_BEACON_STUN_ONLY  2   /* every datagram is STUN */

#define NGX_STREAM_BEACON_REAP_INTERVAL   1000
#define NGX_STREAM_BEACON_LEASE_TTL       5000
#define NGX_STREAM_BEACON_REAP_MAX        20000


/* what the last datagram was and what became of it, for the log */
typedef struct {
    uint8_t                       type;
    const char                   *type_name;  /* STUN: not a Pilot type */
    uint32_t                      node_id;
    uint32_t                      dest;
    const char                   *action;
} ngx_stream_beacon_note_t;


typedef struct {
    ngx_array_t                   zones;      /* ngx_shm_zone_t * */
    ngx_event_t                   reap_event;
    ngx_event_t                   gossip_event;
    ngx_event_t                   registry_event;
} ngx_stream_beacon_main_conf_t;


typedef struct {
    ngx_flag_t                    enable;
    ngx_str_t                     zone_name;
    ngx_shm_zone_t               *shm_zone;
    u_char                       *file;
    ngx_uint_t                    line;

    ngx_msec_t                    throttle;
    ngx_int_t                     relay_limit;
    ngx_flag_t                    bind_sender;
    ngx_int_t                     punch_global;
    ngx_int_t                     punch_per_ip;
    ngx_int_t                     punch_burst;
    ngx_int_t                     punch_global_burst;
    ngx_array_t                  *whitelist;  /* ngx_cidr_t */
    ngx_flag_t                    whitelist_all;
    ngx_flag_t                    grants;
    time_t                        grant_lifetime;
    ngx_array_t                  *keys;       /* ngx_beacon_key_t */
    ngx_beacon_rate_t             reply_limit;
    ngx_beacon_rate_t             register_limit;
    ngx_uint_t                    datapath;
    ngx_uint_t                    stun;
    ngx_str_t                     stun_software;
    ngx_flag_t                    stun_rfc5780;
    ngx_beacon_addr_t             stun_primary;    /* beacon_stun_rfc5780 */
    ngx_beacon_addr_t             stun_alternate;

    ngx_int_t                     peer_relay_limit;

    /* beacon_id, the peers, the secret, the registry: the gossip room's */
    ngx_beacon_gossip_conf_t      gossip;
} ngx_stream_beacon_srv_conf_t;


static void ngx_stream_beacon_handler(ngx_stream_session_t *s);
static ngx_inline void ngx_stream_beacon_act(ngx_beacon_zone_t *z,
    ngx_beacon_counter_e c, const char *action);
static ngx_int_t ngx_stream_beacon_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_stream_beacon_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data);
static void ngx_stream_beacon_datagram(ngx_beacon_sock_t *bs,
    const struct sockaddr *sa, const ngx_beacon_addr_t *local, u_char *buf,
    size_t len);
static void ngx_stream_beacon_process(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_sock_t *bs, const struct sockaddr *sa,
    const ngx_beacon_addr_t *local, u_char *buf, size_t len);
static void ngx_stream_beacon_stun(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs, ngx_beacon_addr_t *src,
    const ngx_beacon_addr_t *local, u_char *buf, size_t len);
static ngx_int_t ngx_stream_beacon_stun_alt(
    ngx_stream_beacon_srv_conf_t *bscf, ngx_beacon_sock_t *bs,
    const ngx_beacon_addr_t *local, const ngx_beacon_stun_msg_t *m,
    ngx_beacon_stun_alt_t *alt, ngx_beacon_sock_t **obs);
static void ngx_stream_beacon_discover(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs, ngx_beacon_msg_t *msg,
    ngx_beacon_addr_t *src, const ngx_beacon_addr_t *local);
static void ngx_stream_beacon_punch(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs, ngx_beacon_msg_t *msg,
    ngx_beacon_addr_t *src, const ngx_beacon_addr_t *local);
static ngx_int_t ngx_stream_beacon_grant_ok(
    ngx_stream_beacon_srv_conf_t *bscf, ngx_beacon_zone_t *z,
    ngx_beacon_msg_t *msg);
static void ngx_stream_beacon_relay(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs, ngx_beacon_msg_t *msg,
    ngx_beacon_addr_t *src, u_char *buf, size_t len);
static void ngx_stream_beacon_send_addr_msg(ngx_beacon_zone_t *z,
    ngx_beacon_sock_t *bs, uint8_t type, const ngx_beacon_addr_t *dst,
    const ngx_beacon_addr_t *local, const ngx_beacon_addr_t *named);
static ngx_uint_t ngx_stream_beacon_whitelisted(
    ngx_stream_beacon_srv_conf_t *bscf, ngx_beacon_addr_t *src);
static void ngx_stream_beacon_refused(ngx_beacon_zone_t *z);
static void ngx_stream_beacon_reap_handler(ngx_event_t *ev);
static void ngx_stream_beacon_gossip_handler(ngx_event_t *ev);
static ngx_beacon_zone_t *ngx_stream_beacon_lead(ngx_beacon_sock_t *socks,
    ngx_uint_t i);
static char *ngx_stream_beacon_peers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_stream_beacon_registry_handler(ngx_event_t *ev);
static ngx_int_t ngx_stream_beacon_parse_peer(u_char *p, size_t len,
    ngx_beacon_addr_t *addr);
static char *ngx_stream_beacon_registry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_beacon_gossip_secret(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

static ngx_stream_beacon_srv_conf_t *ngx_stream_beacon_ls_conf(
    ngx_listening_t *ls, ngx_uint_t *mixed);

static void *ngx_stream_beacon_create_main_conf(ngx_conf_t *cf);
static void *ngx_stream_beacon_create_srv_conf(ngx_conf_t *cf);
static char *ngx_stream_beacon_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_stream_beacon_init(ngx_conf_t *cf);
static ngx_int_t ngx_stream_beacon_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_stream_beacon_init_process(ngx_cycle_t *cycle);
static void ngx_stream_beacon_exit_process(ngx_cycle_t *cycle);

static char *ngx_stream_beacon(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_beacon_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_beacon_punch_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_beacon_whitelist(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_beacon_grants(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_beacon_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_beacon_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_beacon_stun_mode(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_stream_beacon_stun_rfc5780(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_stream_beacon_datapath(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_num_bounds_t  ngx_stream_beacon_id_bounds = {
    ngx_conf_check_num_bounds, 0, 0xffffffff
};


static ngx_command_t  ngx_stream_beacon_commands[] = {

    { ngx_string("beacon_zone"),
      NGX_STREAM_MAIN_CONF|NGX_CONF_1MORE,
      ngx_stream_beacon_zone,
      NGX_STREAM_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_beacon,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_id"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, gossip.beacon_id),
      &ngx_stream_beacon_id_bounds },

    { ngx_string("beacon_endpoint_throttle"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, throttle),
      NULL },

    { ngx_string("beacon_relay_limit"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, relay_limit),
      NULL },

    { ngx_string("beacon_relay_bind_sender"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, bind_sender),
      NULL },

    { ngx_string("beacon_punch_limit"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_stream_beacon_punch_limit,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_punch_whitelist"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_stream_beacon_whitelist,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_punch_grants"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE12,
      ngx_stream_beacon_grants,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_key_file"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_beacon_key_file,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_reply_limit"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE12,
      ngx_stream_beacon_rate,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, reply_limit),
      NULL },

    { ngx_string("beacon_register_limit"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE12,
      ngx_stream_beacon_rate,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, register_limit),
      NULL },

    { ngx_string("beacon_datapath"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_beacon_datapath,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_stun"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_beacon_stun_mode,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_stun_software"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, stun_software),
      NULL },

    { ngx_string("beacon_stun_rfc5780"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE2,
      ngx_stream_beacon_stun_rfc5780,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_peers"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_stream_beacon_peers,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_gossip_strict"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, gossip.strict),
      NULL },

    { ngx_string("beacon_gossip_secret"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_stream_beacon_gossip_secret,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_registry"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_stream_beacon_registry,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("beacon_registry_token"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, gossip.registry_token),
      NULL },

    { ngx_string("beacon_advertise"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, gossip.advertise),
      NULL },

    { ngx_string("beacon_peer_relay_limit"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_stream_beacon_srv_conf_t, peer_relay_limit),
      NULL },

      ngx_null_command
};


static ngx_stream_variable_t  ngx_stream_beacon_vars[] = {

    { ngx_string("beacon_msg_type"), NULL, ngx_stream_beacon_variable,
      0, NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("beacon_node_id"), NULL, ngx_stream_beacon_variable,
      1, NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("beacon_dest_id"), NULL, ngx_stream_beacon_variable,
      2, NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("beacon_action"), NULL, ngx_stream_beacon_variable,
      3, NGX_STREAM_VAR_NOCACHEABLE, 0 },

      ngx_stream_null_variable
};


static ngx_stream_beacon_note_t  ngx_stream_beacon_note;


static ngx_stream_module_t  ngx_stream_beacon_module_ctx = {
    ngx_stream_beacon_add_variables,       /* preconfiguration */
    ngx_stream_beacon_init,                /* postconfiguration */

    ngx_stream_beacon_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_stream_beacon_create_srv_conf,     /* create server configuration */
    ngx_stream_beacon_merge_srv_conf       /* merge server configuration */
};


ngx_module_t  ngx_stream_beacon_module = {
    NGX_MODULE_V1,
    &ngx_stream_beacon_module_ctx,         /* module context */
    ngx_stream_beacon_commands,            /* module directives */
    NGX_STREAM_MODULE,                     /* module type */
    NULL,                                  /* init master */
    ngx_stream_beacon_init_module,         /* init module */
    ngx_stream_beacon_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_stream_beacon_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the "sessions" datapath: one nginx UDP session per datagram */

static void
ngx_stream_beacon_handler(ngx_stream_session_t *s)
{
    size_t                         len;
    ngx_connection_t              *c;
    ngx_beacon_addr_t              local;
    ngx_beacon_sock_t             *bs;
    ngx_stream_beacon_note_t      *note;
    ngx_stream_beacon_srv_conf_t  *bscf;

    c = s->connection;
    c->log->action = "handling beacon datagram";

    bscf = ngx_stream_get_module_srv_conf(s, ngx_stream_beacon_module);
    bs = ngx_beacon_udp_sock_by_fd(c->fd);

    if (c->type != SOCK_DGRAM || c->buffer == NULL || bs == NULL) {
        ngx_stream_finalize_session(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_beacon_udp_local(bs, c->local_sockaddr, &local);

    len = c->buffer->last - c->buffer->pos;

    ngx_stream_beacon_process(bscf, bs, c->sockaddr, &local, c->buffer->pos,
                              len);

    ngx_beacon_udp_flush();

    /* the log phase reads what became of the datagram */

    note = ngx_palloc(c->pool, sizeof(ngx_stream_beacon_note_t));
    if (note) {
        *note = ngx_stream_beacon_note;
        ngx_stream_set_ctx(s, note, ngx_stream_beacon_module);
    }

    ngx_stream_finalize_session(s, NGX_STREAM_OK);
}


/* the "batched" datapath: called from the recvmmsg loop */

static void
ngx_stream_beacon_datagram(ngx_beacon_sock_t *bs, const struct sockaddr *sa,
    const ngx_beacon_addr_t *local, u_char *buf, size_t len)
{
    ngx_stream_beacon_process(bs->conf, bs, sa, local, buf, len);
}


static void
ngx_stream_beacon_process(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_sock_t *bs, const struct sockaddr *sa,
    const ngx_beacon_addr_t *local, u_char *buf, size_t len)
{
    int                 rc;
    ngx_beacon_msg_t    msg;
    ngx_beacon_addr_t   src;
    ngx_beacon_zone_t  *z;

    z = bscf->shm_zone->data;

    ngx_beacon_count(z, NGX_BEACON_C_DATAGRAMS);

    if (ngx_beacon_addr_from_sockaddr(&src, sa) != 0) {
        ngx_stream_beacon_act(z, NGX_BEACON_C_MALFORMED, "malformed");
        return;
    }

    /* STUN beside Pilot: by the first byte, which no Pilot type has */

    if (bscf->stun == NGX_STREAM_BEACON_STUN_ONLY
        || (bscf->stun == NGX_STREAM_BEACON_STUN_ON
            && ngx_beacon_stun_is_stun(buf, len)))
    {
        ngx_stream_beacon_stun(bscf, z, bs, &src, local, buf, len);
        return;
    }

    rc = ngx_beacon_parse(buf, len, &msg);

    ngx_stream_beacon_note.type = len ? buf[0] : 0;
    ngx_stream_beacon_note.type_name = NULL;
    ngx_stream_beacon_note.node_id = msg.node_id | msg.requester | msg.sender
                                     | msg.beacon_id;
    ngx_stream_beacon_note.dest = msg.dest | msg.target;
    ngx_stream_beacon_note.action = "accepted";

    if (rc != NGX_BEACON_PARSE_OK) {

        if (rc == NGX_BEACON_PARSE_UNKNOWN) {
            ngx_stream_beacon_act(z, NGX_BEACON_C_UNKNOWN_TYPE, "unknown_type");

        } else {
            ngx_stream_beacon_act(z, NGX_BEACON_C_MALFORMED, "malformed");

            if (msg.type == NGX_BEACON_RELAY) {
                ngx_beacon_count(z, NGX_BEACON_C_RELAY_RECEIVED);
                ngx_stream_beacon_act(z, NGX_BEACON_C_RELAY_MALFORMED,
                                      "malformed");
            }
        }

        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon dropped datagram: type 0x%02xd len %uz",
                       len ? buf[0] : 0, len);
        return;
    }

    switch (msg.type) {

    case NGX_BEACON_DISCOVER:
    case NGX_BEACON_DISCOVER_EX:
        ngx_stream_beacon_discover(bscf, z, bs, &msg, &src, local);
        break;

    case NGX_BEACON_PUNCH_REQUEST:
        ngx_stream_beacon_punch(bscf, z, bs, &msg, &src, local);
        break;

    case NGX_BEACON_RELAY:
        ngx_stream_beacon_relay(bscf, z, bs, &msg, &src, buf, len);
        break;

    default: /* NGX_BEACON_SYNC: the gossip room's */
        if (ngx_beacon_gossip_receive(&bscf->gossip, z, &msg, &src, buf, len)
            != NGX_OK)
        {
            ngx_stream_beacon_note.action = "rejected";
        }

        break;
    }

    /* relays are explained by the router; the rest here, one line each */

    if (msg.type != NGX_BEACON_RELAY) {
        ngx_log_debug4(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon %s node %uD dest %uD: %s",
                       ngx_beacon_type_name(msg.type),
                       ngx_stream_beacon_note.node_id,
                       ngx_stream_beacon_note.dest,
                       ngx_stream_beacon_note.action);
    }
}


/*
 * STUN Binding (RFC 8489).  Responses are larger than the smallest
 * request, so they are budgeted per destination like DISCOVER_REPLY.
 * A response is queued by reference: it stays in a ring of more slots
 * than the send queue holds, which is flushed when full, so a slot is
 * never rewritten before its datagram has left.
 */

static void
ngx_stream_beacon_stun(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs, ngx_beacon_addr_t *src,
    const ngx_beacon_addr_t *local, u_char *buf, size_t len)
{
    int                     rc;
    size_t                  n;
    u_char                 *out;
    ngx_beacon_addr_t       origin, dst;
    ngx_beacon_sock_t      *obs;
    ngx_beacon_stun_alt_t   alt, *altp;
    ngx_beacon_stun_msg_t   m;

    static ngx_uint_t       next;
    static u_char           ring[NGX_BEACON_OUT_MAX + 1]
                                [NGX_BEACON_STUN_RESPONSE_MAX];

    ngx_stream_beacon_note.type = len ? buf[0] : 0;
    ngx_stream_beacon_note.type_name = "stun";
    ngx_stream_beacon_note.node_id = 0;
    ngx_stream_beacon_note.dest = 0;

    rc = ngx_beacon_stun_parse(buf, len, &m);

    if (rc != NGX_BEACON_STUN_OK) {
        ngx_stream_beacon_act(z, NGX_BEACON_C_STUN_DROP_SHORT - 1 - rc,
                              "malformed");

        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ngx_cycle->log, 0,
                       "beacon dropped STUN datagram: %s, len %uz",
                       ngx_beacon_stun_reason(rc), len);
        return;
    }

    if (m.cls == NGX_BEACON_STUN_INDICATION) {
        ngx_stream_beacon_note.type_name = "stun_indication";
        ngx_stream_beacon_act(z, NGX_BEACON_C_STUN_INDICATIONS, "indication");
        return;
    }

    if (m.cls != NGX_BEACON_STUN_REQUEST) {
        ngx_stream_beacon_note.type_name = "stun_response";
        ngx_stream_beacon_act(z, NGX_BEACON_C_STUN_DROP_WRONG_CLASS,
                              "wrong_class");
        return;
    }

    ngx_stream_beacon_note.type_name = (m.method == NGX_BEACON_STUN_BINDING)
                                       ? "stun_binding" : "stun_request";
    ngx_beacon_count(z, NGX_BEACON_C_STUN_REQUESTS);

    if (ngx_beacon_shm_reply_allowed(z, src, &bscf->reply_limit) != NGX_OK) {
        ngx_stream_beacon_act(z, NGX_BEACON_C_STUN_RATE_LIMITED,
                              "rate_limited");
        return;
    }

    out = ring[next];
    next = (next + 1) % (NGX_BEACON_OUT_MAX + 1);

    /* RFC 5780: maybe from the other address or port, as asked */

    obs = bs;
    origin = *local;
    dst = *src;
    altp = NULL;

    if (bscf->stun_rfc5780
        && ngx_stream_beacon_stun_alt(bscf, bs, local, &m, &alt, &obs)
           == NGX_OK)
    {
        altp = &alt;
        ngx_memcpy(origin.ip, alt.origin.ip, 16);
        origin.port = alt.origin.port;

        /* RESPONSE-PORT: the same IP, another port (RFC 5780 7.5) */

        if (m.has_response_port && m.response_port) {
            dst.port = m.response_port;
        }
    }

    rc = ngx_beacon_stun_answer(&m, src->ip, src->port, altp,
                                bscf->stun_software.data,
                                bscf->stun_software.len, out, &n);

    switch (rc) {

    case NGX_BEACON_STUN_A_SUCCESS:
        ngx_stream_beacon_act(z, NGX_BEACON_C_STUN_RESPONSES, "stun_success");
        break;

    case NGX_BEACON_STUN_A_ERROR_400:
        ngx_stream_beacon_act(z, NGX_BEACON_C_STUN_ERROR_400,
                              "stun_error_400");
        break;

    default: /* NGX_BEACON_STUN_A_ERROR_420 */
        ngx_stream_beacon_act(z, NGX_BEACON_C_STUN_ERROR_420,
                              "stun_error_420");
        break;
    }

    ngx_beacon_udp_send(z, NGX_BEACON_OUT_REPLY, obs, &dst, &origin, out,
                        NGX_BEACON_STUN_HEADER_LEN,
                        out + NGX_BEACON_STUN_HEADER_LEN,
                        n - NGX_BEACON_STUN_HEADER_LEN);
}


/*
 * The request reached one of the four addresses that the primary and the
 * alternate make (each IP with each port); the response leaves from the
 * one the CHANGE-REQUEST asks for, by this worker's socket for it.
 */

static ngx_int_t
ngx_stream_beacon_stun_alt(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_sock_t *bs, const ngx_beacon_addr_t *local,
    const ngx_beacon_stun_msg_t *m, ngx_beacon_stun_alt_t *alt,
    ngx_beacon_sock_t **obs)
{
    const uint8_t      *oip;
    uint16_t            oport;
    ngx_beacon_ep_t     ep;
    ngx_beacon_addr_t  *p, *a;

    p = &bscf->stun_primary;
    a = &bscf->stun_alternate;

    if (ngx_memcmp(local->ip, p->ip, 16) == 0) {
        oip = a->ip;

    } else if (ngx_memcmp(local->ip, a->ip, 16) == 0) {
        oip = p->ip;

    } else {
        return NGX_DECLINED;
    }

    if (local->port == p->port) {
        oport = a->port;

    } else if (local->port == a->port) {
        oport = p->port;

    } else {
        return NGX_DECLINED;
    }

    ngx_memcpy(alt->other.ip, oip, 16);
    alt->other.port = oport;

    ngx_memcpy(alt->origin.ip,
               (m->change & NGX_BEACON_STUN_CHANGE_IP) ? oip : local->ip, 16);
    alt->origin.port = (m->change & NGX_BEACON_STUN_CHANGE_PORT) ? oport
                                                                 : local->port;

    if (m->change == 0) {
        *obs = bs;
        return NGX_OK;
    }

    ngx_memzero(&ep, sizeof(ngx_beacon_ep_t));
    ngx_memcpy(ep.local.ip, alt->origin.ip, 16);
    ep.local.port = alt->origin.port;
    ep.flags = (bs->family == AF_INET6) ? NGX_BEACON_NODE_LV6 : 0;

    *obs = ngx_beacon_udp_sock_for(&ep);

    return (*obs != NULL) ? NGX_OK : NGX_DECLINED;
}


static void
ngx_stream_beacon_discover(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs, ngx_beacon_msg_t *msg,
    ngx_beacon_addr_t *src, const ngx_beacon_addr_t *local)
{
    ngx_beacon_reg_t  reg;

    ngx_beacon_count(z, NGX_BEACON_C_DISCOVER);

    /* not a reflector: replies toward one address are budgeted */

    if (ngx_beacon_shm_reply_allowed(z, src, &bscf->reply_limit) != NGX_OK) {
        ngx_stream_beacon_act(z, NGX_BEACON_C_REPLY_RATE_LIMITED,
                              "rate_limited");
        return;
    }

    reg.node_id = msg->node_id;
    reg.src = *src;
    reg.local = *local;
    reg.lv6 = (bs->family == AF_INET6);
    reg.ex = (msg->type == NGX_BEACON_DISCOVER_EX);
    reg.learn_key = (bscf->keys == NULL);
    reg.key = msg->pubkey;
    reg.throttle = bscf->throttle;
    reg.reg_limit = bscf->register_limit;

    switch (ngx_beacon_shm_register(z, &reg)) {

    case NGX_BEACON_REG_PROBE:
        ngx_stream_beacon_act(z, NGX_BEACON_C_PROBES, "probe");
        break;

    case NGX_BEACON_REG_THROTTLED:
        ngx_stream_beacon_act(z, NGX_BEACON_C_DISCOVER_THROTTLED,
                              "throttled");
        break;

    case NGX_BEACON_REG_REFUSED:
        ngx_stream_beacon_refused(z);
        return;

    case NGX_BEACON_REG_RATE_LIMITED:
        ngx_stream_beacon_act(z, NGX_BEACON_C_REGISTER_RATE_LIMITED,
                              "rate_limited");
        return;

    case NGX_BEACON_REG_NEW:
        ngx_stream_beacon_note.action = "registered";
        break;

    case NGX_BEACON_REG_MOVED:
        ngx_stream_beacon_note.action = "moved";
        break;

    default:
        ngx_stream_beacon_note.action = "refreshed";
        break;
    }

    ngx_stream_beacon_send_addr_msg(z, bs, NGX_BEACON_DISCOVER_REPLY, src,
                                    local, src);
    ngx_beacon_count(z, NGX_BEACON_C_DISCOVER_REPLIES);
}


static void
ngx_stream_beacon_punch(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs, ngx_beacon_msg_t *msg,
    ngx_beacon_addr_t *src, const ngx_beacon_addr_t *local)
{
    ngx_uint_t          whitelisted;
    ngx_beacon_ep_t     rep, tep;
    ngx_beacon_reg_t    reg;
    ngx_beacon_sock_t  *ts;

    ngx_beacon_count(z, NGX_BEACON_C_PUNCH_REQUESTS);

    whitelisted = ngx_stream_beacon_whitelisted(bscf, src);

    /* per source IP first, so one noisy source cannot drain the global */

    if (!whitelisted
        && ngx_beacon_shm_punch_ip_allowed(z, src, bscf->punch_per_ip,
                                           bscf->punch_burst)
           != NGX_OK)
    {
        ngx_stream_beacon_act(z, NGX_BEACON_C_PUNCH_RATE_LIMITED,
                              "rate_limited");
        return;
    }

    /* invalid grants are refused before they consume the global budget */

    if (bscf->grants && ngx_stream_beacon_grant_ok(bscf, z, msg) != NGX_OK) {
        ngx_stream_beacon_act(z, NGX_BEACON_C_PUNCH_GRANT_REJECTED,
                              "grant_rejected");
        return;
    }

    if (!whitelisted
        && ngx_beacon_shm_punch_global_allowed(z, bscf->punch_global,
                                               bscf->punch_global_burst)
           != NGX_OK)
    {
        ngx_stream_beacon_act(z, NGX_BEACON_C_PUNCH_RATE_LIMITED,
                              "rate_limited");
        return;
    }

    if (ngx_beacon_shm_reply_allowed(z, src, &bscf->reply_limit) != NGX_OK) {
        ngx_stream_beacon_act(z, NGX_BEACON_C_REPLY_RATE_LIMITED,
                              "rate_limited");
        return;
    }

    reg.node_id = msg->requester;
    reg.src = *src;
    reg.local = *local;
    reg.lv6 = (bs->family == AF_INET6);
    reg.ex = 0;
    reg.learn_key = 0;
    reg.key = NULL;
    reg.throttle = bscf->throttle;
    reg.reg_limit = bscf->register_limit;

    switch (ngx_beacon_shm_punch(z, &reg, msg->target, &rep, &tep)) {

    case NGX_BEACON_PUNCH_OK:
        break;

    case NGX_BEACON_PUNCH_MISMATCH:
        ngx_stream_beacon_act(z, NGX_BEACON_C_PUNCH_MISMATCH,
                              "endpoint_mismatch");
        return;

    default:
        ngx_stream_beacon_act(z, NGX_BEACON_C_PUNCH_NOT_FOUND, "not_found");
        return;
    }

    /* requester first, then target, each from the address it talked to */

    ngx_stream_beacon_send_addr_msg(z, bs, NGX_BEACON_PUNCH_COMMAND,
                                    &rep.addr, &rep.local, &tep.addr);

    if (ngx_beacon_shm_reply_allowed(z, &tep.addr, &bscf->reply_limit)
        != NGX_OK)
    {
        ngx_stream_beacon_act(z, NGX_BEACON_C_REPLY_RATE_LIMITED,
                              "rate_limited");

    } else {
        ts = ngx_beacon_udp_sock_for(&tep);

        if (ts == NULL) {
            ngx_beacon_count(z, NGX_BEACON_C_SEND_ERRORS);

        } else {
            ngx_stream_beacon_send_addr_msg(z, ts, NGX_BEACON_PUNCH_COMMAND,
                                            &tep.addr, &tep.local, &rep.addr);
        }
    }

    ngx_stream_beacon_act(z, NGX_BEACON_C_PUNCH_COORDINATED, "coordinated");
}


static ngx_int_t
ngx_stream_beacon_grant_ok(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_zone_t *z, ngx_beacon_msg_t *msg)
{
    time_t          now;
    uint8_t         key[NGX_BEACON_KEY_LEN];
    const uint8_t  *k;

    if (msg->grant == NULL) {
        return NGX_DECLINED;
    }

    now = ngx_time();

    /* expired, or valid for longer than we accept (W5) */

    if (msg->grant_expiry < (int64_t) now
        || msg->grant_expiry > (int64_t) now + bscf->grant_lifetime)
    {
        return NGX_DECLINED;
    }

    if (bscf->keys) {
        k = ngx_beacon_keys_find(bscf->keys, msg->target);

        if (k == NULL) {
            return NGX_DECLINED;
        }

    } else {
        if (ngx_beacon_shm_get_key(z, msg->target, key) != NGX_OK) {
            return NGX_DECLINED;
        }

        k = key;
    }

    if (ngx_beacon_grant_verify(k, msg->requester, msg->target,
                                msg->grant_expiry, msg->grant_sig)
        != 0)
    {
        return NGX_DECLINED;
    }

    /* a grant opens one punch: replays are refused until it expires */

    return ngx_beacon_shm_grant_once(z, msg->grant_sig, msg->grant_expiry);
}


/* the UDP face of the relay router: the router decides, we note */

static void
ngx_stream_beacon_relay(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs, ngx_beacon_msg_t *msg,
    ngx_beacon_addr_t *src, u_char *buf, size_t len)
{
    ngx_beacon_route_e       rc;
    ngx_beacon_relay_face_t  f;

    f.zone = z;
    f.sock = bs;
    f.src = src;
    f.log = ngx_cycle->log;
    f.debug = NGX_LOG_DEBUG_STREAM;
    f.is_peer = ngx_beacon_gossip_is_peer;
    f.data = &bscf->gossip;
    f.relay_limit = (ngx_uint_t) bscf->relay_limit;
    f.peer_relay_limit = (ngx_uint_t) bscf->peer_relay_limit;
    f.bind_sender = bscf->bind_sender;
    f.node_id = 0;
    f.bound_id = 0;

    rc = ngx_beacon_relay_route(&f, msg, buf, len);

    ngx_stream_beacon_note.action = ngx_beacon_relay_action(rc);
}


static void
ngx_stream_beacon_send_addr_msg(ngx_beacon_zone_t *z, ngx_beacon_sock_t *bs,
    uint8_t type, const ngx_beacon_addr_t *dst,
    const ngx_beacon_addr_t *local, const ngx_beacon_addr_t *named)
{
    u_char  out[NGX_BEACON_ADDR_MSG_MAX];
    size_t  n;

    n = ngx_beacon_encode_addr_msg(out, type, named);

    ngx_beacon_udp_send(z, NGX_BEACON_OUT_REPLY, bs, dst, local, out, n,
                        NULL, 0);
}


static ngx_uint_t
ngx_stream_beacon_whitelisted(ngx_stream_beacon_srv_conf_t *bscf,
    ngx_beacon_addr_t *src)
{
    ngx_uint_t   i, j;
    ngx_cidr_t  *cidr;
    in_addr_t    a;

    if (bscf->whitelist_all) {
        return 1;
    }

    if (bscf->whitelist == NULL) {
        return 0;
    }

    cidr = bscf->whitelist->elts;

    for (i = 0; i < bscf->whitelist->nelts; i++) {

        if (ngx_beacon_addr_is_v4(src)) {
            if (cidr[i].family != AF_INET) {
                continue;
            }

            ngx_memcpy(&a, src->ip + 12, 4);

            if ((a & cidr[i].u.in.mask) == cidr[i].u.in.addr) {
                return 1;
            }

            continue;
        }

#if (NGX_HAVE_INET6)
        if (cidr[i].family != AF_INET6) {
            continue;
        }

        for (j = 0; j < 16; j++) {
            if ((src->ip[j] & cidr[i].u.in6.mask.s6_addr[j])
                != cidr[i].u.in6.addr.s6_addr[j])
            {
                break;
            }
        }

        if (j == 16) {
            return 1;
        }
#else
        (void) j;
#endif
    }

    return 0;
}


static void
ngx_stream_beacon_refused(ngx_beacon_zone_t *z)
{
    static time_t  last;

    ngx_stream_beacon_act(z, NGX_BEACON_C_REFUSED_CAPACITY, "refused");

    if (ngx_time() - last < 60) {
        return;
    }

    last = ngx_time();

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "beacon zone \"%V\" is full (max_nodes %ui): new nodes "
                  "are refused, live ones are kept (counted in "
                  "refused_capacity; logged at most once a minute)",
                  &z->name, z->max_nodes);
}


static void
ngx_stream_beacon_reap_handler(ngx_event_t *ev)
{
    ngx_uint_t                      i, n, total;
    ngx_shm_zone_t                **zones;
    ngx_beacon_zone_t              *z;
    ngx_stream_beacon_main_conf_t  *bmcf;

    bmcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    zones = bmcf->zones.elts;

    for (i = 0; i < bmcf->zones.nelts; i++) {
        z = zones[i]->data;

        /* one worker at a time reaps a zone; another takes over if it dies */

        if (ngx_beacon_shm_lease(z, NGX_STREAM_BEACON_LEASE_TTL) != NGX_OK) {
            continue;
        }

        ngx_beacon_gossip_sweep(z, 4096);

        total = 0;

        do {
            n = ngx_beacon_shm_expire(z, 256);
            total += n;
        } while (n == 256 && total < NGX_STREAM_BEACON_REAP_MAX);

        if (total) {
            ngx_log_debug2(NGX_LOG_DEBUG_STREAM, ev->log, 0,
                           "beacon zone \"%V\": %ui nodes expired",
                           &z->name, total);
        }
    }

    ngx_add_timer(ev, NGX_STREAM_BEACON_REAP_INTERVAL);
}


static ngx_stream_beacon_srv_conf_t *
ngx_stream_beacon_ls_conf(ngx_listening_t *ls, ngx_uint_t *mixed)
{
    ngx_uint_t                     i;
    ngx_stream_port_t             *port;
    ngx_stream_conf_ctx_t         *ctx;
    ngx_stream_beacon_srv_conf_t  *bscf, *found;

    port = ls->servers;
    found = NULL;
    *mixed = 0;

    for (i = 0; i < port->naddrs; i++) {

#if (NGX_HAVE_INET6)
        if (ls->sockaddr->sa_family == AF_INET6) {
#if (nginx_version >= 1025005)
            ctx = ((ngx_stream_in6_addr_t *) port->addrs)[i]
                      .conf.default_server->ctx;
#else
            ctx = ((ngx_stream_in6_addr_t *) port->addrs)[i].conf.ctx;
#endif
        } else
#endif
        {
#if (nginx_version >= 1025005)
            ctx = ((ngx_stream_in_addr_t *) port->addrs)[i]
                      .conf.default_server->ctx;
#else
            ctx = ((ngx_stream_in_addr_t *) port->addrs)[i].conf.ctx;
#endif
        }

        bscf = ctx->srv_conf[ngx_stream_beacon_module.ctx_index];

        if (bscf->enable != 1) {
            *mixed = 1;
            continue;
        }

        if (found && found != bscf) {
            *mixed = 1;
        }

        found = bscf;
    }

    return found;
}


static void *
ngx_stream_beacon_create_main_conf(ngx_conf_t *cf)
{
    ngx_stream_beacon_main_conf_t  *bmcf;

    bmcf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_beacon_main_conf_t));
    if (bmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&bmcf->zones, cf->pool, 2, sizeof(ngx_shm_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return bmcf;
}


static void *
ngx_stream_beacon_create_srv_conf(ngx_conf_t *cf)
{
    ngx_stream_beacon_srv_conf_t  *bscf;

    bscf = ngx_pcalloc(cf->pool, sizeof(ngx_stream_beacon_srv_conf_t));
    if (bscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     bscf->zone_name = { 0, NULL };
     *     bscf->shm_zone = NULL;
     *     bscf->whitelist_all = 0;
     */

    bscf->enable = NGX_CONF_UNSET;
    bscf->gossip.beacon_id = NGX_CONF_UNSET;
    bscf->throttle = NGX_CONF_UNSET_MSEC;
    bscf->relay_limit = NGX_CONF_UNSET;
    bscf->bind_sender = NGX_CONF_UNSET;
    bscf->punch_global = NGX_CONF_UNSET;
    bscf->punch_per_ip = NGX_CONF_UNSET;
    bscf->punch_burst = NGX_CONF_UNSET;
    bscf->punch_global_burst = NGX_CONF_UNSET;
    bscf->whitelist = NGX_CONF_UNSET_PTR;
    bscf->grants = NGX_CONF_UNSET;
    bscf->grant_lifetime = NGX_CONF_UNSET;
    bscf->keys = NGX_CONF_UNSET_PTR;
    bscf->reply_limit.rate = NGX_CONF_UNSET_UINT;
    bscf->reply_limit.burst = NGX_CONF_UNSET_UINT;
    bscf->register_limit.rate = NGX_CONF_UNSET_UINT;
    bscf->register_limit.burst = NGX_CONF_UNSET_UINT;
    bscf->datapath = NGX_CONF_UNSET_UINT;
    bscf->stun = NGX_CONF_UNSET_UINT;
    bscf->stun_rfc5780 = NGX_CONF_UNSET;
    bscf->gossip.peers = NGX_CONF_UNSET_PTR;
    bscf->gossip.strict = NGX_CONF_UNSET;
    bscf->gossip.key = NGX_CONF_UNSET_PTR;
    bscf->peer_relay_limit = NGX_CONF_UNSET;
    bscf->gossip.registry = NGX_CONF_UNSET_PTR;

    return bscf;
}


static char *
ngx_stream_beacon_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_stream_beacon_srv_conf_t *prev = parent;
    ngx_stream_beacon_srv_conf_t *conf = child;

    ngx_str_t   *token;
    ngx_uint_t   i;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->gossip.beacon_id, prev->gossip.beacon_id, 0);
    ngx_conf_merge_msec_value(conf->throttle, prev->throttle, 30000);
    ngx_conf_merge_value(conf->relay_limit, prev->relay_limit, 4000);
    ngx_conf_merge_value(conf->bind_sender, prev->bind_sender, 1);
    ngx_conf_merge_value(conf->punch_global, prev->punch_global, 10);
    ngx_conf_merge_value(conf->punch_per_ip, prev->punch_per_ip, 1);
    ngx_conf_merge_value(conf->punch_burst, prev->punch_burst, 8);
    ngx_conf_merge_value(conf->punch_global_burst, prev->punch_global_burst,
                         20);
    ngx_conf_merge_ptr_value(conf->whitelist, prev->whitelist, NULL);
    ngx_conf_merge_value(conf->whitelist_all, prev->whitelist_all, 0);
    ngx_conf_merge_value(conf->grants, prev->grants, 0);
    ngx_conf_merge_value(conf->grant_lifetime, prev->grant_lifetime, 300);
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_uint_value(conf->reply_limit.rate, prev->reply_limit.rate,
                              100);
    ngx_conf_merge_uint_value(conf->reply_limit.burst,
                              prev->reply_limit.burst, 200);
    ngx_conf_merge_uint_value(conf->register_limit.rate,
                              prev->register_limit.rate, 10);
    ngx_conf_merge_uint_value(conf->register_limit.burst,
                              prev->register_limit.burst, 100);
    ngx_conf_merge_uint_value(conf->datapath, prev->datapath,
                              NGX_STREAM_BEACON_BATCHED);
    /* set in a server that is no beacon; stream-wide, beacons only */

    if (conf->stun != NGX_CONF_UNSET_UINT
        && conf->stun != NGX_STREAM_BEACON_STUN_OFF && conf->enable != 1)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_stun\" requires \"beacon\" in the same "
                           "server");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_uint_value(conf->stun, prev->stun,
                              NGX_STREAM_BEACON_STUN_OFF);
    ngx_conf_merge_str_value(conf->stun_software, prev->stun_software, "");

    if (conf->stun_rfc5780 == NGX_CONF_UNSET) {
        conf->stun_rfc5780 = (prev->stun_rfc5780 == 1);
        conf->stun_primary = prev->stun_primary;
        conf->stun_alternate = prev->stun_alternate;
    }
    ngx_conf_merge_ptr_value(conf->gossip.peers, prev->gossip.peers, NULL);
    ngx_conf_merge_value(conf->gossip.strict, prev->gossip.strict, 0);
    ngx_conf_merge_ptr_value(conf->gossip.key, prev->gossip.key, NULL);
    ngx_conf_merge_value(conf->peer_relay_limit, prev->peer_relay_limit, 0);
    ngx_conf_merge_ptr_value(conf->gossip.registry, prev->gossip.registry,
                             NULL);
    ngx_conf_merge_str_value(conf->gossip.registry_token,
                             prev->gossip.registry_token, "");
    ngx_conf_merge_str_value(conf->gossip.advertise, prev->gossip.advertise,
                             "");

    token = &conf->gossip.registry_token;

    for (i = 0; i < token->len; i++) {
        if (token->data[i] < 0x21
            || token->data[i] > 0x7e
            || token->data[i] == '"'
            || token->data[i] == '\\')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"beacon_registry_token\" must be printable "
                               "ASCII without quotes or backslashes");
            return NGX_CONF_ERROR;
        }
    }

    if (conf->gossip.advertise.len
        && ngx_stream_beacon_parse_peer(conf->gossip.advertise.data,
                                        conf->gossip.advertise.len, NULL)
           != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_advertise\" expects ip:port, got \"%V\"",
                           &conf->gossip.advertise);
        return NGX_CONF_ERROR;
    }

    if (conf->stun_software.len > NGX_BEACON_STUN_SOFTWARE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_stun_software\" must not exceed %d "
                           "bytes", NGX_BEACON_STUN_SOFTWARE_MAX);
        return NGX_CONF_ERROR;
    }

    if (conf->peer_relay_limit < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_peer_relay_limit\" must not be "
                           "negative");
        return NGX_CONF_ERROR;
    }

    if (conf->relay_limit < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_relay_limit\" must not be negative");
        return NGX_CONF_ERROR;
    }

    if (conf->throttle > 24 * 3600 * 1000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"beacon_endpoint_throttle\" must not exceed 1d");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_stream_beacon_init(ngx_conf_t *cf)
{
    ngx_uint_t                      i, j;
    ngx_shm_zone_t                **zones;
    ngx_stream_conf_ctx_t          *ctx;
#if (nginx_version < 1025005)
    ngx_stream_listen_t            *listen;
#else
    ngx_uint_t                      k;
    ngx_stream_conf_port_t         *port;
    ngx_stream_conf_addr_t         *addr;
#endif
    ngx_stream_core_srv_conf_t    **cscfp;
    ngx_stream_core_main_conf_t    *cmcf;
    ngx_stream_beacon_srv_conf_t   *bscf;
    ngx_stream_beacon_main_conf_t  *bmcf;

    cmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_core_module);
    bmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_stream_beacon_module);

    zones = bmcf->zones.elts;
    cscfp = cmcf->servers.elts;

    /* every "beacon" server gets its zone, now that all are declared */

    for (i = 0; i < cmcf->servers.nelts; i++) {
        ctx = cscfp[i]->ctx;
        bscf = ctx->srv_conf[ngx_stream_beacon_module.ctx_index];

        if (bscf->enable != 1) {
            continue;
        }

        if (bscf->zone_name.len == 0) {
            if (bmcf->zones.nelts == 1) {
                bscf->shm_zone = zones[0];
                continue;
            }

            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          bmcf->zones.nelts
                          ? "\"beacon\" directive in %s:%ui must name its "
                            "zone with \"zone=\" when several "
                            "\"beacon_zone\" are declared"
                          : "\"beacon\" directive in %s:%ui requires a "
                            "\"beacon_zone\" in the stream block",
                          bscf->file, bscf->line);
            return NGX_ERROR;
        }

        for (j = 0; j < bmcf->zones.nelts; j++) {
            if (zones[j]->shm.name.len == bscf->zone_name.len
                && ngx_strncmp(zones[j]->shm.name.data, bscf->zone_name.data,
                               bscf->zone_name.len) == 0)
            {
                bscf->shm_zone = zones[j];
                break;
            }
        }

        if (bscf->shm_zone == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"beacon\" directive in %s:%ui: unknown zone "
                          "\"%V\" (not declared by \"beacon_zone\")",
                          bscf->file, bscf->line, &bscf->zone_name);
            return NGX_ERROR;
        }
    }

    /* the beacon speaks UDP only */

#if (nginx_version < 1025005)

    listen = cmcf->listen.elts;

    for (i = 0; i < cmcf->listen.nelts; i++) {
        bscf = listen[i].ctx->srv_conf[ngx_stream_beacon_module.ctx_index];

        if (bscf->enable == 1 && listen[i].type != SOCK_DGRAM) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"beacon\" directive in %s:%ui requires "
                          "\"listen ... udp\", but \"%V\" is TCP",
                          bscf->file, bscf->line, &listen[i].addr_text);
            return NGX_ERROR;
        }
    }

#else

    port = cmcf->ports ? cmcf->ports->elts : NULL;

    for (i = 0; port && i < cmcf->ports->nelts; i++) {

        if (port[i].type == SOCK_DGRAM) {
            continue;
        }

        addr = port[i].addrs.elts;

        for (j = 0; j < port[i].addrs.nelts; j++) {
            cscfp = addr[j].servers.elts;

            for (k = 0; k < addr[j].servers.nelts; k++) {
                bscf = cscfp[k]->ctx->srv_conf[
                                           ngx_stream_beacon_module.ctx_index];

                if (bscf->enable == 1) {
                    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                                  "\"beacon\" directive in %s:%ui requires "
                                  "\"listen ... udp\", but \"%V\" is TCP",
                                  bscf->file, bscf->line,
                                  &addr[j].opt.addr_text);
                    return NGX_ERROR;
                }
            }
        }
    }

#endif

    return NGX_OK;
}


static ngx_int_t
ngx_stream_beacon_init_module(ngx_cycle_t *cycle)
{
    if (sodium_init() < 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "sodium_init() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_stream_beacon_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i, mixed, batched;
    ngx_shm_zone_t                **zones;
    ngx_listening_t                *ls;
    ngx_stream_beacon_srv_conf_t   *bscf;
    ngx_stream_beacon_main_conf_t  *bmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (ngx_stream_module.index >= ngx_max_module
        || cycle->conf_ctx[ngx_stream_module.index] == NULL)
    {
        return NGX_OK;
    }

    bmcf = ngx_stream_cycle_get_module_main_conf(cycle,
                                                 ngx_stream_beacon_module);
    if (bmcf == NULL || bmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    if (ngx_beacon_udp_init_worker(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ls = cycle->listening.elts;

    for (i = 0; i < cycle->listening.nelts; i++) {

        if (ls[i].handler != ngx_stream_init_connection
            || ls[i].type != SOCK_DGRAM
            || ls[i].connection == NULL)
        {
            continue;
        }

        bscf = ngx_stream_beacon_ls_conf(&ls[i], &mixed);

        if (bscf == NULL) {
            continue;
        }

        /*
         * A socket shared with non-beacon servers keeps nginx's sessions,
         * which pick the server by local address; ours are read in batches.
         */

        batched = !mixed && bscf->datapath == NGX_STREAM_BEACON_BATCHED;

        if (ngx_beacon_udp_add_sock(cycle, &ls[i], mixed ? NULL : bscf,
                                    ngx_stream_beacon_datagram, batched)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* the channel to the other workers, and this process's zone claims */

    if (ngx_beacon_ipc_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    zones = bmcf->zones.elts;

    for (i = 0; i < bmcf->zones.nelts; i++) {
        if (ngx_beacon_shm_claim(zones[i]->data) != NGX_OK) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "beacon zone \"%V\": no free worker slot, "
                          "the compat bridge is closed in this worker",
                          &zones[i]->shm.name);
        }
    }

    if (ngx_beacon_gossip_init_worker(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    bmcf->gossip_event.handler = ngx_stream_beacon_gossip_handler;
    bmcf->gossip_event.data = bmcf;
    bmcf->gossip_event.log = cycle->log;
    bmcf->gossip_event.cancelable = 1;

    ngx_add_timer(&bmcf->gossip_event,
                  1000 + ngx_random() % NGX_STREAM_BEACON_REAP_INTERVAL);

    bmcf->registry_event.handler = ngx_stream_beacon_registry_handler;
    bmcf->registry_event.data = bmcf;
    bmcf->registry_event.log = cycle->log;
    bmcf->registry_event.cancelable = 1;

    ngx_add_timer(&bmcf->registry_event, 500 + ngx_random() % 1000);

    bmcf->reap_event.handler = ngx_stream_beacon_reap_handler;
    bmcf->reap_event.data = bmcf;
    bmcf->reap_event.log = cycle->log;
    bmcf->reap_event.cancelable = 1;

    ngx_add_timer(&bmcf->reap_event,
                  NGX_STREAM_BEACON_REAP_INTERVAL / 2
                  + ngx_random() % NGX_STREAM_BEACON_REAP_INTERVAL);

    return NGX_OK;
}


static void
ngx_stream_beacon_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_shm_zone_t                **zones;
    ngx_stream_beacon_main_conf_t  *bmcf;

    if (ngx_stream_module.index >= ngx_max_module
        || cycle->conf_ctx[ngx_stream_module.index] == NULL)
    {
        return;
    }

    bmcf = ngx_stream_cycle_get_module_main_conf(cycle,
                                                 ngx_stream_beacon_module);
    if (bmcf == NULL) {
        return;
    }

    zones = bmcf->zones.elts;

    for (i = 0; i < bmcf->zones.nelts; i++) {
        if (zones[i]->data) {
            ngx_beacon_shm_budget_free(zones[i]->data);
        }

        if (zones[i]->data && ((ngx_beacon_zone_t *) zones[i]->data)->sh) {
            ngx_beacon_shm_release(zones[i]->data);
            ngx_beacon_shm_unclaim(zones[i]->data);
        }
    }

    ngx_beacon_ipc_exit();
}


static char *
ngx_stream_beacon(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_str_t                   *value;
    ngx_stream_core_srv_conf_t  *cscf;

    if (bscf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        bscf->enable = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "on") == 0) {
        /* the zone is found in postconfiguration */

    } else if (ngx_strncmp(value[1].data, "zone=", 5) == 0
               && value[1].len > 5)
    {
        bscf->zone_name.data = value[1].data + 5;
        bscf->zone_name.len = value[1].len - 5;

    } else {
        ngx_stream_beacon_conf_error(cf, cmd,
                           "invalid parameter \"%V\", expected \"on\", "
                           "\"off\" or \"zone=NAME\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    bscf->enable = 1;
    bscf->file = cf->conf_file->file.name.data;
    bscf->line = cf->conf_file->line;

    cscf = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_core_module);
    cscf->handler = ngx_stream_beacon_handler;

    return NGX_CONF_OK;
}


static char *
ngx_stream_beacon_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_main_conf_t *bmcf = conf;

    u_char              *p;
    ssize_t              size;
    ngx_int_t            n;
    ngx_str_t           *value, name, s;
    ngx_uint_t           i;
    ngx_shm_zone_t      *shm_zone, **zp;
    ngx_beacon_zone_t   *zone;

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_stream_beacon_conf_error(cf, cmd,
                           "invalid zone \"%V\", expected NAME:SIZE",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_stream_beacon_conf_error(cf, cmd,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (256 * 1024)) {
        ngx_stream_beacon_conf_error(cf, cmd,
                           "zone \"%V\" is too small (at least 256k)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_beacon_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->max_nodes = 500000;
    zone->ttl = 600;
    zone->claim = -1;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_nodes=", 10) == 0) {
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);

            if (n == NGX_ERROR || n < 1 || n > 0x7fffffff) {
                ngx_stream_beacon_conf_error(cf, cmd,
                                   "invalid max_nodes \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->max_nodes = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "node_ttl=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            n = ngx_parse_time(&s, 1);

            if (n == NGX_ERROR || n < 1 || n > 86400) {
                ngx_stream_beacon_conf_error(cf, cmd,
                                   "invalid node_ttl \"%V\" (1s to 1d)",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->ttl = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "state=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            if (s.len == 0 || ngx_conf_full_name(cf->cycle, &s, 1) != NGX_OK)
            {
                ngx_stream_beacon_conf_error(cf, cmd,
                                   "invalid state \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            /* a C string for open(), rename() */

            zone->state.data = ngx_pnalloc(cf->pool, s.len + 1);
            if (zone->state.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memcpy(zone->state.data, s.data, s.len);
            zone->state.data[s.len] = '\0';
            zone->state.len = s.len;
            continue;
        }

        ngx_stream_beacon_conf_error(cf, cmd,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_stream_beacon_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_stream_beacon_conf_error(cf, cmd,
                           "zone \"%V\" is already declared", &name);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;
    shm_zone->init = ngx_beacon_shm_init_zone;
    shm_zone->data = zone;

    zp = ngx_array_push(&bmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = shm_zone;

    return NGX_CONF_OK;
}


static char *
ngx_stream_beacon_punch_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;
    ngx_uint_t  i;

    if (bscf->punch_global != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;
    bscf->punch_global = 10;
    bscf->punch_per_ip = 1;
    bscf->punch_burst = 8;
    bscf->punch_global_burst = 20;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "global=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);

            if (n == NGX_ERROR || n > 1000000) {
                goto invalid;
            }

            bscf->punch_global = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "per_ip=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);

            if (n == NGX_ERROR || n > 1000000) {
                goto invalid;
            }

            bscf->punch_per_ip = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (n == NGX_ERROR || n < 1 || n > 1000000) {
                goto invalid_burst;
            }

            bscf->punch_burst = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "global_burst=", 13) == 0) {
            n = ngx_atoi(value[i].data + 13, value[i].len - 13);

            if (n == NGX_ERROR || n < 1 || n > 1000000) {
                goto invalid_burst;
            }

            bscf->punch_global_burst = n;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_stream_beacon_conf_error(cf, cmd,
                       "invalid parameter \"%V\", expected \"global=N\", "
                       "\"per_ip=N\" (per second, 0 = unlimited), "
                       "\"burst=N\" or \"global_burst=N\"",
                       &value[i]);

    return NGX_CONF_ERROR;

invalid_burst:

    ngx_stream_beacon_conf_error(cf, cmd,
                       "invalid burst \"%V\", expected 1..1000000 "
                       "requests", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_stream_beacon_whitelist(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    value = cf->args->elts;

    if (bscf->whitelist == NGX_CONF_UNSET_PTR) {
        bscf->whitelist = ngx_array_create(cf->pool, 4, sizeof(ngx_cidr_t));
        if (bscf->whitelist == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "all") == 0
            || ngx_strcmp(value[i].data, "*") == 0)
        {
            bscf->whitelist_all = 1;
            continue;
        }

        cidr = ngx_array_push(bscf->whitelist);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            ngx_stream_beacon_conf_error(cf, cmd,
                               "invalid address \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_beacon_grants(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    time_t      t;
    ngx_str_t  *value, s;

    if (bscf->grants != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        bscf->grants = 1;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        bscf->grants = 0;

    } else {
        ngx_stream_beacon_conf_error(cf, cmd,
                           "invalid value \"%V\", expected \"on\" or \"off\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "max_lifetime=", 13) != 0) {
            ngx_stream_beacon_conf_error(cf, cmd,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 13;
        s.len = value[2].len - 13;

        t = ngx_parse_time(&s, 1);

        if (t == (time_t) NGX_ERROR || t < 1) {
            ngx_stream_beacon_conf_error(cf, cmd,
                               "invalid max_lifetime \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        bscf->grant_lifetime = t;
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_beacon_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_str_t  *value;

    if (bscf->keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_beacon_keys_load(cf, &cmd->name, &value[1], &bscf->keys);
}


static char *
ngx_stream_beacon_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_int_t           n;
    ngx_str_t          *value;
    ngx_uint_t          i;
    ngx_beacon_rate_t  *rate;

    rate = (ngx_beacon_rate_t *) (p + cmd->offset);

    if (rate->rate != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes \"off\" alone";
        }

        rate->rate = 0;
        rate->burst = 0;
        return NGX_CONF_OK;
    }

    rate->burst = NGX_CONF_UNSET_UINT;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);

            if (n == NGX_ERROR || n < 1 || n > 10000000) {
                goto invalid;
            }

            rate->rate = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (n == NGX_ERROR || n < 1 || n > 4000000) {
                goto invalid;
            }

            rate->burst = n;
            continue;
        }

        goto invalid;
    }

    if (rate->rate == NGX_CONF_UNSET_UINT) {
        return "requires \"rate=N\" or \"off\"";
    }

    if (rate->burst == NGX_CONF_UNSET_UINT) {
        rate->burst = rate->rate;
    }

    return NGX_CONF_OK;

invalid:

    ngx_stream_beacon_conf_error(cf, cmd,
                       "invalid parameter \"%V\", expected \"rate=N\" "
                       "(per second, at least 1), \"burst=N\" or \"off\"",
                       &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_stream_beacon_stun_mode(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_str_t  *value;

    if (bscf->stun != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        bscf->stun = NGX_STREAM_BEACON_STUN_OFF;

    } else if (ngx_strcmp(value[1].data, "on") == 0) {
        bscf->stun = NGX_STREAM_BEACON_STUN_ON;

    } else if (ngx_strcmp(value[1].data, "only") == 0) {
        bscf->stun = NGX_STREAM_BEACON_STUN_ONLY;

    } else {
        ngx_stream_beacon_conf_error(cf, cmd, "invalid value \"%V\", "
                                     "expected \"on\", \"off\" or \"only\"",
                                     &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_beacon_stun_rfc5780(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_str_t  *value;

    if (bscf->stun_rfc5780 != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_stream_beacon_parse_peer(value[1].data, value[1].len,
                                     &bscf->stun_primary)
        != NGX_OK
        || ngx_stream_beacon_parse_peer(value[2].data, value[2].len,
                                        &bscf->stun_alternate)
           != NGX_OK)
    {
        ngx_stream_beacon_conf_error(cf, cmd, "expects two ip:port, got "
                                     "\"%V\" \"%V\"", &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    if (ngx_beacon_addr_is_v4(&bscf->stun_primary)
        != ngx_beacon_addr_is_v4(&bscf->stun_alternate)
        || ngx_memcmp(bscf->stun_primary.ip, bscf->stun_alternate.ip, 16)
           == 0
        || bscf->stun_primary.port == bscf->stun_alternate.port)
    {
        ngx_stream_beacon_conf_error(cf, cmd, "the primary and the alternate "
                                     "must differ in both address and port, "
                                     "in the same family");
        return NGX_CONF_ERROR;
    }

    bscf->stun_rfc5780 = 1;

    return NGX_CONF_OK;
}


static char *
ngx_stream_beacon_datapath(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_str_t  *value;

    if (bscf->datapath != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "batched") == 0) {
        bscf->datapath = NGX_STREAM_BEACON_BATCHED;

    } else if (ngx_strcmp(value[1].data, "sessions") == 0) {
        bscf->datapath = NGX_STREAM_BEACON_SESSIONS;

    } else {
        ngx_stream_beacon_conf_error(cf, cmd, "invalid value \"%V\", "
                                     "expected \"batched\" or \"sessions\"",
                                     &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}

/*
 * The zone of the server of socks[i] when socks[i] is that server's first
 * socket in this worker and this worker holds the zone's lease: periodic
 * work is done once per server, by one worker at a time.
 */

static ngx_beacon_zone_t *
ngx_stream_beacon_lead(ngx_beacon_sock_t *socks, ngx_uint_t i)
{
    ngx_uint_t                     j;
    ngx_beacon_zone_t             *z;
    ngx_stream_beacon_srv_conf_t  *bscf;

    for (j = 0; j < i; j++) {
        if (socks[j].conf == socks[i].conf) {
            return NULL;
        }
    }

    bscf = socks[i].conf;
    z = bscf->shm_zone->data;

    if (ngx_beacon_shm_lease(z, NGX_STREAM_BEACON_LEASE_TTL) != NGX_OK) {
        return NULL;
    }

    return z;
}


/* the rounds: the gossip and the registry rooms', once per server */

static void
ngx_stream_beacon_gossip_handler(ngx_event_t *ev)
{
    ngx_uint_t                     i, n;
    ngx_beacon_zone_t             *z;
    ngx_beacon_sock_t             *socks;
    ngx_stream_beacon_srv_conf_t  *bscf;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    socks = ngx_beacon_udp_socks(&n);

    for (i = 0; i < n; i++) {
        bscf = socks[i].conf;

        if (bscf == NULL
            || (bscf->gossip.peers == NULL && bscf->gossip.registry == NULL))
        {
            continue;
        }

        z = ngx_stream_beacon_lead(socks, i);

        if (z) {
            ngx_beacon_gossip_round(&bscf->gossip, z, &socks[i]);
        }
    }

    ngx_add_timer(ev, NGX_BEACON_GOSSIP_INTERVAL);
}


static void
ngx_stream_beacon_registry_handler(ngx_event_t *ev)
{
    ngx_uint_t                     i, n;
    ngx_beacon_zone_t             *z;
    ngx_beacon_sock_t             *socks;
    ngx_stream_beacon_srv_conf_t  *bscf;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    socks = ngx_beacon_udp_socks(&n);

    for (i = 0; i < n; i++) {
        bscf = socks[i].conf;

        /* a standalone beacon (id 0) does not register (scenario 36) */

        if (bscf == NULL
            || bscf->gossip.registry == NULL
            || bscf->gossip.beacon_id == 0)
        {
            continue;
        }

        z = ngx_stream_beacon_lead(socks, i);

        if (z) {
            ngx_beacon_registry_round(&bscf->gossip, z, &socks[i], ev->log);
        }
    }

    ngx_add_timer(ev, NGX_BEACON_REGISTRY_INTERVAL);
}


/* "a.b.c.d:port" or "[v6]:port", numeric only: no resolver in the loop */

static ngx_int_t
ngx_stream_beacon_parse_peer(u_char *p, size_t len, ngx_beacon_addr_t *addr)
{
    ngx_beacon_addr_t  a;

    if (ngx_beacon_addr_parse((char *) p, len, &a) != 0) {
        return NGX_ERROR;
    }

    if (addr) {
        *addr = a;
    }

    return NGX_OK;
}


static char *
ngx_stream_beacon_registry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_str_t  *value;

    if (bscf->gossip.registry != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return ngx_beacon_registry_conf(cf, &cmd->name, &value[1],
                                    cf->args->nelts - 1,
                                    &bscf->gossip.registry);
}

static char *
ngx_stream_beacon_peers(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_str_t          *value;
    ngx_url_t           u;
    ngx_uint_t          i, j;
    ngx_beacon_addr_t  *a;

    if (bscf->gossip.peers != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    bscf->gossip.peers = ngx_array_create(cf->pool, 4,
                                          sizeof(ngx_beacon_addr_t));
    if (bscf->gossip.peers == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url = value[i];
        u.no_resolve = 0;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0
            || u.no_port)
        {
            ngx_stream_beacon_conf_error(cf, cmd, "invalid peer \"%V\", "
                                         "expected host:port", &value[i]);
            return NGX_CONF_ERROR;
        }

        for (j = 0; j < u.naddrs; j++) {
            a = ngx_array_push(bscf->gossip.peers);
            if (a == NULL) {
                return NGX_CONF_ERROR;
            }

            (void) ngx_beacon_addr_from_sockaddr(a, u.addrs[j].sockaddr);
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_stream_beacon_gossip_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_stream_beacon_srv_conf_t *bscf = conf;

    ngx_str_t  *value;

    if (bscf->gossip.key != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len < 16) {
        ngx_stream_beacon_conf_error(cf, cmd, "the secret must have at "
                                     "least 16 characters");
        return NGX_CONF_ERROR;
    }

    bscf->gossip.key = ngx_pnalloc(cf->pool, crypto_hash_sha256_BYTES);
    if (bscf->gossip.key == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) crypto_hash_sha256(bscf->gossip.key, value[1].data, value[1].len);

    return NGX_CONF_OK;
}

static ngx_inline void
ngx_stream_beacon_act(ngx_beacon_zone_t *z, ngx_beacon_counter_e c,
    const char *action)
{
    ngx_beacon_count(z, c);
    ngx_stream_beacon_note.action = action;
}


static ngx_int_t
ngx_stream_beacon_add_variables(ngx_conf_t *cf)
{
    ngx_stream_variable_t  *var, *v;

    for (v = ngx_stream_beacon_vars; v->name.len; v++) {
        var = ngx_stream_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* $beacon_msg_type, $beacon_node_id, $beacon_dest_id, $beacon_action */

static ngx_int_t
ngx_stream_beacon_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    const char                *text;
    ngx_stream_beacon_note_t  *note;

    note = ngx_stream_get_module_ctx(s, ngx_stream_beacon_module);

    if (note == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (data == 1 || data == 2) {
        p = ngx_pnalloc(s->connection->pool, NGX_INT32_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->len = ngx_sprintf(p, "%uD", data == 1 ? note->node_id : note->dest)
                 - p;
        v->data = p;

    } else {
        text = (data != 0) ? note->action
               : note->type_name ? note->type_name
               : ngx_beacon_type_name(note->type);
        v->len = ngx_strlen(text);
        v->data = (u_char *) text;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
