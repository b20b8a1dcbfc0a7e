
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for the per-worker channel's messages as the receiving
 * worker decodes them (ngx_beacon_ipc_msg_parse()).  The input is one
 * received message.  Checked: a truncated message is always dropped; an
 * accepted one is routed by its type (compat: DELIVER, or REPLACED
 * without payload; Offset: 16 and up), and its header rewritten by the
 * sender's encoder and followed by the payload gives back the input
 * bytes.  The fields read from the first input bytes also go through the
 * encoder and back.  Any mismatch abort()s.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_ipc_msg.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static unsigned char  fuzz_buf[NGX_BEACON_IPC_HDR_LEN + NGX_BEACON_IPC_MAX];


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc;
    size_t                n;
    unsigned              type;
    uint32_t              node_id;
    uint64_t              conn;
    ngx_beacon_ipc_msg_t  m, m2;

    fuzz_check(ngx_beacon_ipc_msg_parse(data, size, 1, &m)
               == NGX_BEACON_IPC_MSG_DROP);

    rc = ngx_beacon_ipc_msg_parse(data, size, 0, &m);

    if (rc != NGX_BEACON_IPC_MSG_DROP) {
        fuzz_check(size >= NGX_BEACON_IPC_HDR_LEN);
        fuzz_check(m.payload == data + NGX_BEACON_IPC_HDR_LEN
                   && m.plen == size - NGX_BEACON_IPC_HDR_LEN
                   && m.plen <= NGX_BEACON_IPC_MAX);

        if (rc == NGX_BEACON_IPC_MSG_OFFSET) {
            fuzz_check(m.type >= NGX_BEACON_IPC_OFFSET && m.type <= 0xffff);

        } else {
            fuzz_check(rc == NGX_BEACON_IPC_MSG_COMPAT);
            fuzz_check(m.type == NGX_BEACON_IPC_DELIVER
                       || (m.type == NGX_BEACON_IPC_REPLACED && m.plen == 0));
        }

        n = ngx_beacon_ipc_msg_header(fuzz_buf, m.type, m.node_id, m.conn);
        fuzz_check(n == NGX_BEACON_IPC_HDR_LEN);
        fuzz_check(memcmp(fuzz_buf, data, n) == 0);

    } else if (size >= NGX_BEACON_IPC_HDR_LEN
               && size - NGX_BEACON_IPC_HDR_LEN <= NGX_BEACON_IPC_MAX)
    {
        /* dropped: the header is not one the encoder writes for a type
         * the receiver takes */
        memcpy(&type, data + 4, 2);
        type &= 0xffff;
        memcpy(&node_id, data + 8, 4);
        memcpy(&conn, data + 16, 8);
        n = ngx_beacon_ipc_msg_header(fuzz_buf, type, node_id, conn);
        fuzz_check(memcmp(fuzz_buf, data, n) != 0
                   || (type < NGX_BEACON_IPC_OFFSET
                       && type != NGX_BEACON_IPC_DELIVER
                       && !(type == NGX_BEACON_IPC_REPLACED
                            && size == NGX_BEACON_IPC_HDR_LEN)));
    }

    /* the encoder's output for fields from the input reads back */

    if (size >= 14) {
        type = (unsigned) data[0] | ((unsigned) data[1] << 8);
        memcpy(&node_id, data + 2, 4);
        memcpy(&conn, data + 6, 8);

        n = ngx_beacon_ipc_msg_header(fuzz_buf, type, node_id, conn);
        memcpy(fuzz_buf + n, data + 14, size - 14);

        rc = ngx_beacon_ipc_msg_parse(fuzz_buf, n + size - 14, 0, &m2);

        if (type >= NGX_BEACON_IPC_OFFSET) {
            fuzz_check(rc == NGX_BEACON_IPC_MSG_OFFSET);

        } else if (type == NGX_BEACON_IPC_DELIVER
                   || (type == NGX_BEACON_IPC_REPLACED && size == 14))
        {
            fuzz_check(rc == NGX_BEACON_IPC_MSG_COMPAT);

        } else {
            fuzz_check(rc == NGX_BEACON_IPC_MSG_DROP);
        }

        if (rc != NGX_BEACON_IPC_MSG_DROP) {
            fuzz_check(m2.type == type && m2.node_id == node_id
                       && m2.conn == conn && m2.plen == size - 14
                       && memcmp(m2.payload, data + 14, m2.plen) == 0);
        }
    }

    return 0;
}
