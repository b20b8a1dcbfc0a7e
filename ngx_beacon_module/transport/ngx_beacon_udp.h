
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Transport: this worker's beacon UDP sockets, the batched receive loop
 * that replaces nginx's per-datagram sessions, and the one send path for
 * everything the beacon emits (sendmmsg from the listening socket, with
 * the source address set on wildcard listeners).
 */


#ifndef _NGX_BEACON_UDP_H_INCLUDED_
#define _NGX_BEACON_UDP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_proto.h"
#include "ngx_beacon_shm.h"


#define NGX_BEACON_RECV_BATCH    32
#define NGX_BEACON_OUT_MAX       128


typedef struct ngx_beacon_sock_s  ngx_beacon_sock_t;

typedef void (*ngx_beacon_datagram_pt)(ngx_beacon_sock_t *bs,
    const struct sockaddr *src, const ngx_beacon_addr_t *local,
    u_char *buf, size_t len);


struct ngx_beacon_sock_s {
    ngx_listening_t         *listening;
    ngx_socket_t             fd;
    int                      family;
    ngx_beacon_addr_t        local;       /* bound address and port */
    unsigned                 wildcard:1;
    unsigned                 batched:1;   /* our recvmmsg loop reads it */
    void                    *conf;        /* the beacon server's conf */
    ngx_beacon_datagram_pt   handler;
};


/* what an outgoing datagram is, for the counters */
typedef enum {
    NGX_BEACON_OUT_REPLY = 0,
    NGX_BEACON_OUT_RELAY
} ngx_beacon_out_e;


ngx_int_t ngx_beacon_udp_init_worker(ngx_cycle_t *cycle);
ngx_int_t ngx_beacon_udp_add_sock(ngx_cycle_t *cycle, ngx_listening_t *ls,
    void *conf, ngx_beacon_datagram_pt handler, ngx_uint_t batched);
ngx_beacon_sock_t *ngx_beacon_udp_sock_by_fd(ngx_socket_t fd);
/* this worker's beacon sockets */
ngx_beacon_sock_t *ngx_beacon_udp_socks(ngx_uint_t *n);
/* this worker's socket a node talked to (same family, port, address) */
ngx_beacon_sock_t *ngx_beacon_udp_sock_for(const ngx_beacon_ep_t *ep);

/*
 * Queues one datagram: hdr (copied) followed by payload (not copied: it
 * must stay valid until ngx_beacon_udp_flush()).
 */
void ngx_beacon_udp_send(ngx_beacon_zone_t *z, ngx_beacon_out_e kind,
    ngx_beacon_sock_t *bs, const ngx_beacon_addr_t *dst,
    const ngx_beacon_addr_t *src, const u_char *hdr, size_t hlen,
    const u_char *payload, size_t plen);
void ngx_beacon_udp_flush(void);

void ngx_beacon_udp_local(ngx_beacon_sock_t *bs, struct sockaddr *sa,
    ngx_beacon_addr_t *local);


#endif /* _NGX_BEACON_UDP_H_INCLUDED_ */
