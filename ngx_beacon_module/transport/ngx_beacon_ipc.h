
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The per-worker channel: hands a delivery (or a control message) to the
 * worker that owns a compat connection.  Each worker listens on an abstract
 * AF_UNIX SOCK_SEQPACKET socket named after its pid; a sender keeps one
 * connection per receiving worker, so messages keep their order, are never
 * split, and a full receiver shows as EAGAIN (a counted drop) instead of
 * blocking anybody.
 */


#ifndef _NGX_BEACON_IPC_H_INCLUDED_
#define _NGX_BEACON_IPC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

/* the message types and their header codec */
#include "ngx_beacon_ipc_msg.h"




/* the message is hdr followed by payload (hdr is empty off the channel) */
typedef ngx_int_t (*ngx_beacon_ipc_handler_pt)(ngx_uint_t type,
    uint32_t node_id, uint64_t conn, const u_char *hdr, size_t hlen,
    const u_char *payload, size_t plen);


ngx_int_t ngx_beacon_ipc_init(ngx_cycle_t *cycle);
void ngx_beacon_ipc_exit(void);
void ngx_beacon_ipc_set_handler(ngx_beacon_ipc_handler_pt handler);
ngx_beacon_ipc_handler_pt ngx_beacon_ipc_handler(void);

/*
 * Messages of type NGX_BEACON_IPC_OFFSET and above, which may carry a
 * descriptor (fd, else -1): the handler owns it and must close it.
 */
typedef void (*ngx_beacon_ipc_fd_handler_pt)(ngx_uint_t type, uint64_t conn,
    const u_char *payload, size_t plen, ngx_socket_t fd);

void ngx_beacon_ipc_set_fd_handler(ngx_beacon_ipc_fd_handler_pt handler);

/*
 * NGX_OK; NGX_AGAIN when the receiver is full (drop, count); NGX_DECLINED
 * when no such worker listens any more (a stale owner); NGX_ERROR.
 * hdr (may be NULL) and payload are sent as one message after the header.
 */
ngx_int_t ngx_beacon_ipc_send(ngx_pid_t pid, ngx_uint_t type,
    uint32_t node_id, uint64_t conn, const u_char *hdr, size_t hlen,
    const u_char *payload, size_t plen);

/*
 * The same, passing a copy of descriptor fd (SCM_RIGHTS) along; the
 * caller keeps its own and closes it once the send succeeded.
 */
ngx_int_t ngx_beacon_ipc_send_fd(ngx_pid_t pid, ngx_uint_t type,
    uint64_t conn, const u_char *hdr, size_t hlen, const u_char *payload,
    size_t plen, ngx_socket_t fd);


#endif /* _NGX_BEACON_IPC_H_INCLUDED_ */
