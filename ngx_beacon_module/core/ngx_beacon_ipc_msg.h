
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The messages of the per-worker channel (ngx_beacon_ipc.c): a 24-byte
 * header (magic, type, node id, connection number; host byte order, the
 * channel never leaves the machine) and the payload.  Pure code, used by
 * the channel on both ends, the unit tests and the fuzzer
 * (t/fuzz/fuzz_ipc.c).
 */


#ifndef _NGX_BEACON_IPC_MSG_H_INCLUDED_
#define _NGX_BEACON_IPC_MSG_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_BEACON_IPC_MAGIC       0x6e626970      /* "nbip" */
#define NGX_BEACON_IPC_HDR_LEN     24

#define NGX_BEACON_IPC_DELIVER     1    /* payload: one WebSocket message */
#define NGX_BEACON_IPC_REPLACED    2    /* close conn: a newer login won */

/* the Offset relay's messages (ngx_stream_beacon_offset_module.c) */
#define NGX_BEACON_IPC_OFFSET      16   /* types from here on go there */

#define NGX_BEACON_IPC_MAX         65536   /* payload bytes */

/* ngx_beacon_ipc_msg_parse() */
#define NGX_BEACON_IPC_MSG_DROP    -1
#define NGX_BEACON_IPC_MSG_COMPAT  0    /* DELIVER or REPLACED */
#define NGX_BEACON_IPC_MSG_OFFSET  1    /* type >= NGX_BEACON_IPC_OFFSET */


typedef struct {
    unsigned                 type;
    uint32_t                 node_id;
    uint64_t                 conn;
    const unsigned char     *payload;     /* points into the message */
    size_t                   plen;
} ngx_beacon_ipc_msg_t;


/* writes the NGX_BEACON_IPC_HDR_LEN header bytes, returns that length */
size_t ngx_beacon_ipc_msg_header(unsigned char *out, unsigned type,
    uint32_t node_id, uint64_t conn);

/*
 * One received message of n bytes; truncated is non-zero when the
 * kernel cut it (MSG_TRUNC, MSG_CTRUNC).  Returns NGX_BEACON_IPC_MSG_DROP
 * for a truncated, short or foreign message (bad magic, nonzero reserved
 * fields), a compat type other than DELIVER/REPLACED, a REPLACED with a
 * payload, or a payload over NGX_BEACON_IPC_MAX; otherwise which handler
 * it is for, with msg set.
 */
int ngx_beacon_ipc_msg_parse(const unsigned char *buf, size_t n,
    int truncated, ngx_beacon_ipc_msg_t *msg);


#endif /* _NGX_BEACON_IPC_MSG_H_INCLUDED_ */
