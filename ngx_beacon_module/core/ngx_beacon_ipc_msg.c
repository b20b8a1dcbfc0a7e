
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <string.h>

#include "ngx_beacon_ipc_msg.h"


/* magic u32, type u16, reserved u16, node_id u32, pad u32, conn u64 */

size_t
ngx_beacon_ipc_msg_header(unsigned char *out, unsigned type,
    uint32_t node_id, uint64_t conn)
{
    uint16_t  t;
    uint32_t  magic;

    magic = NGX_BEACON_IPC_MAGIC;
    t = (uint16_t) type;

    memset(out, 0, NGX_BEACON_IPC_HDR_LEN);
    memcpy(out, &magic, 4);
    memcpy(out + 4, &t, 2);
    memcpy(out + 8, &node_id, 4);
    memcpy(out + 16, &conn, 8);

    return NGX_BEACON_IPC_HDR_LEN;
}


int
ngx_beacon_ipc_msg_parse(const unsigned char *buf, size_t n, int truncated,
    ngx_beacon_ipc_msg_t *msg)
{
    uint16_t  t, reserved;
    uint32_t  magic, pad;

    if (truncated || n < NGX_BEACON_IPC_HDR_LEN
        || n - NGX_BEACON_IPC_HDR_LEN > NGX_BEACON_IPC_MAX)
    {
        return NGX_BEACON_IPC_MSG_DROP;
    }

    memcpy(&magic, buf, 4);
    memcpy(&t, buf + 4, 2);
    memcpy(&reserved, buf + 6, 2);
    memcpy(&pad, buf + 12, 4);

    if (magic != NGX_BEACON_IPC_MAGIC || reserved != 0 || pad != 0) {
        return NGX_BEACON_IPC_MSG_DROP;
    }

    msg->type = t;
    memcpy(&msg->node_id, buf + 8, 4);
    memcpy(&msg->conn, buf + 16, 8);
    msg->payload = buf + NGX_BEACON_IPC_HDR_LEN;
    msg->plen = n - NGX_BEACON_IPC_HDR_LEN;

    if (t >= NGX_BEACON_IPC_OFFSET) {
        return NGX_BEACON_IPC_MSG_OFFSET;
    }

    if (t == NGX_BEACON_IPC_DELIVER
        || (t == NGX_BEACON_IPC_REPLACED && msg->plen == 0))
    {
        return NGX_BEACON_IPC_MSG_COMPAT;
    }

    return NGX_BEACON_IPC_MSG_DROP;
}
