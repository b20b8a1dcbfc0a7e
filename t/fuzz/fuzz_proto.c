
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for the beacon wire codec.  Every input is parsed as
 * a datagram; anything that parses is re-encoded with the codec's own
 * encoders and must reproduce the input bytes and re-parse to the same
 * fields.  The input is also fed to the key-file line parser and to the
 * DISCOVER_REPLY/PUNCH_COMMAND decoder.  Any mismatch abort()s.
 *
 *   bash t/fuzz/run.sh [SECONDS]
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <sodium.h>

#include "ngx_beacon_proto.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* RFC 8032 test key 1, so that grant verification runs on real inputs */
static const uint8_t  fuzz_key[NGX_BEACON_KEY_LEN] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7,
    0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25,
    0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a
};

static uint32_t  fuzz_ids[65535];
static uint8_t   fuzz_out[NGX_BEACON_SYNC_HDR_LEN + 4 * 65535];


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


static void
fuzz_same_msg(const ngx_beacon_msg_t *a, const ngx_beacon_msg_t *b)
{
    fuzz_check(a->type == b->type);
    fuzz_check(a->node_id == b->node_id);
    fuzz_check((a->pubkey == NULL) == (b->pubkey == NULL));
    fuzz_check(a->pubkey == NULL
               || memcmp(a->pubkey, b->pubkey, NGX_BEACON_KEY_LEN) == 0);
    fuzz_check(a->requester == b->requester);
    fuzz_check(a->target == b->target);
    fuzz_check((a->grant == NULL) == (b->grant == NULL));
    fuzz_check(a->grant_expiry == b->grant_expiry);
    fuzz_check((a->grant_sig == NULL) == (b->grant_sig == NULL));
    fuzz_check(a->grant_sig == NULL
               || memcmp(a->grant_sig, b->grant_sig, NGX_BEACON_SIG_LEN)
                  == 0);
    fuzz_check(a->sender == b->sender);
    fuzz_check(a->dest == b->dest);
    fuzz_check(a->beacon_id == b->beacon_id);
    fuzz_check(a->count == b->count);
    fuzz_check((a->ids == NULL) == (b->ids == NULL));
    fuzz_check(a->ids == NULL
               || memcmp(a->ids, b->ids, 4 * (size_t) a->count) == 0);
}


static void
fuzz_reencode(const uint8_t *data, size_t size, const ngx_beacon_msg_t *msg)
{
    int               rc;
    char              pre[NGX_BEACON_GRANT_PREIMAGE_MAX];
    size_t            n, m, i;
    uint8_t          *out;
    ngx_beacon_msg_t  re;

    out = fuzz_out;
    n = 0;

    switch (msg->type) {

    case NGX_BEACON_DISCOVER:
    case NGX_BEACON_DISCOVER_EX:
        n = ngx_beacon_encode_discover(out, msg->type, msg->node_id,
                                       msg->pubkey);
        fuzz_check(n == (msg->pubkey ? 5 + NGX_BEACON_KEY_LEN : 5));
        fuzz_check(msg->pubkey == NULL || msg->pubkey == data + 5);
        break;

    case NGX_BEACON_PUNCH_REQUEST:
        n = ngx_beacon_encode_punch_request(out, msg->requester, msg->target,
                                            msg->grant_expiry,
                                            msg->grant_sig);
        fuzz_check(n == (msg->grant_sig ? 9 + NGX_BEACON_GRANT_LEN : 9));
        fuzz_check((msg->grant == NULL) == (msg->grant_sig == NULL));
        fuzz_check(msg->grant == NULL || msg->grant == data + 9);

        m = ngx_beacon_grant_preimage(pre, msg->requester, msg->target,
                                      msg->grant_expiry);
        fuzz_check(m > 0 && m < NGX_BEACON_GRANT_PREIMAGE_MAX
                   && strlen(pre) == m);

        if (msg->grant_sig) {
            (void) ngx_beacon_grant_verify(fuzz_key, msg->requester,
                                           msg->target, msg->grant_expiry,
                                           msg->grant_sig);
        }

        break;

    case NGX_BEACON_RELAY:
        n = ngx_beacon_encode_relay_hdr(out, msg->sender, msg->dest);
        fuzz_check(n == NGX_BEACON_RELAY_HDR_LEN);
        fuzz_check(msg->payload == data + n);
        fuzz_check(msg->payload_len == size - n);

        /* the delivery headers carry the same ids */
        fuzz_check(ngx_beacon_encode_deliver_hdr(out + n, msg->sender)
                   == NGX_BEACON_DELIVER_HDR_LEN);
        fuzz_check(out[n] == NGX_BEACON_RELAY_DELIVER
                   && memcmp(out + n + 1, data + 1, 4) == 0);
        fuzz_check(ngx_beacon_encode_deliver_dest_hdr(out + n, msg->sender,
                                                      msg->dest)
                   == NGX_BEACON_DELIVER_DEST_HDR_LEN);
        fuzz_check(out[n] == NGX_BEACON_RELAY_DELIVER_DEST
                   && memcmp(out + n + 1, data + 1, 8) == 0);
        break;

    case NGX_BEACON_SYNC:
        fuzz_check(msg->ids == data + NGX_BEACON_SYNC_HDR_LEN);

        for (i = 0; i < msg->count; i++) {
            fuzz_ids[i] = ngx_beacon_get32(msg->ids + 4 * i);
        }

        n = ngx_beacon_encode_sync(out, sizeof(fuzz_out), msg->beacon_id,
                                   fuzz_ids, msg->count);
        fuzz_check(n == NGX_BEACON_SYNC_HDR_LEN + 4 * (size_t) msg->count);
        fuzz_check(n <= size);

        if (n > 0) {
            fuzz_check(ngx_beacon_encode_sync(out, n - 1, msg->beacon_id,
                                              fuzz_ids, msg->count)
                       == 0);
            n = ngx_beacon_encode_sync(out, n, msg->beacon_id, fuzz_ids,
                                       msg->count);
        }

        break;

    default:
        /* parse must not report OK for any other type */
        abort();
    }

    /* the encoding is the prefix of the input that the parser read */
    fuzz_check(n <= size && memcmp(out, data, n) == 0);

    rc = ngx_beacon_parse(out, n, &re);
    fuzz_check(rc == NGX_BEACON_PARSE_OK);
    fuzz_same_msg(msg, &re);
}


static void
fuzz_addr(const uint8_t *data, size_t size)
{
    char                 text[64];
    size_t               n, l;
    uint8_t              type, out[NGX_BEACON_ADDR_MSG_MAX];
    ngx_beacon_addr_t    addr, back;
    struct sockaddr_in   sin;
    struct sockaddr_in6  sin6;

    if (ngx_beacon_decode_addr_msg(data, size, &type, &addr) != 0) {
        return;
    }

    l = data[1];
    fuzz_check(type == data[0] && (l == 4 || l == 16) && size >= 2 + l + 2);

    n = ngx_beacon_encode_addr_msg(out, type, &addr);

    if (ngx_beacon_addr_is_v4(&addr)) {
        fuzz_check(n == 8 && out[1] == 4);

        if (l == 4) {
            fuzz_check(memcmp(out, data, 8) == 0);

        } else {
            /* a v4-mapped IPv6 address is sent in the 4-byte form */
            fuzz_check(memcmp(out + 2, data + 14, 6) == 0);
        }

    } else {
        fuzz_check(l == 16 && n == 20 && memcmp(out, data, 20) == 0);
    }

    fuzz_check(ngx_beacon_decode_addr_msg(out, n, &type, &back) == 0);
    fuzz_check(type == data[0] && memcmp(&back.ip, &addr.ip, 16) == 0
               && back.port == addr.port);

    n = ngx_beacon_addr_print(text, &addr, 1);
    fuzz_check(n == strlen(text) && n < 48);
    n = ngx_beacon_addr_print(text, &addr, 0);
    fuzz_check(n == strlen(text) && n < 48);

    /* through a sockaddr and back */
    if (ngx_beacon_addr_is_v4(&addr)) {
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(addr.port);
        memcpy(&sin.sin_addr, addr.ip + 12, 4);
        fuzz_check(ngx_beacon_addr_from_sockaddr(&back, &sin) == 0);

    } else {
        memset(&sin6, 0, sizeof(sin6));
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(addr.port);
        memcpy(&sin6.sin6_addr, addr.ip, 16);
        fuzz_check(ngx_beacon_addr_from_sockaddr(&back, &sin6) == 0);
    }

    fuzz_check(memcmp(back.ip, addr.ip, 16) == 0 && back.port == addr.port);
}


static void
fuzz_keyline(const uint8_t *data, size_t size)
{
    int       rc;
    char      line[128];
    size_t    n;
    uint8_t   key[NGX_BEACON_KEY_LEN], key2[NGX_BEACON_KEY_LEN];
    uint32_t  id, id2;

    id = 0;

    rc = ngx_beacon_keyline_parse((const char *) data, size, &id, key);
    fuzz_check(rc == 0 || rc == 1 || rc == -1);

    if (rc != 0) {
        return;
    }

    fuzz_check(id != 0);

    /* the canonical form of the line parses to the same entry */
    n = (size_t) snprintf(line, sizeof(line), "%u ", (unsigned) id);
    sodium_bin2base64(line + n, sizeof(line) - n, key, sizeof(key),
                      sodium_base64_VARIANT_ORIGINAL);
    n = strlen(line);
    fuzz_check(n == (size_t) snprintf(NULL, 0, "%u", (unsigned) id) + 45);

    id2 = 0;
    rc = ngx_beacon_keyline_parse(line, n, &id2, key2);
    fuzz_check(rc == 0 && id2 == id && memcmp(key, key2, sizeof(key)) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               rc;
    ngx_beacon_msg_t  msg;

    static int  inited;

    if (!inited) {
        if (sodium_init() < 0) {
            abort();
        }

        inited = 1;
    }

    rc = ngx_beacon_parse(data, size, &msg);

    switch (rc) {

    case NGX_BEACON_PARSE_OK:
        fuzz_check(size > 0 && msg.type == data[0]);
        fuzz_reencode(data, size, &msg);
        break;

    case NGX_BEACON_PARSE_EMPTY:
        fuzz_check(size == 0);
        break;

    case NGX_BEACON_PARSE_SHORT:
    case NGX_BEACON_PARSE_TRUNCATED:
    case NGX_BEACON_PARSE_UNKNOWN:
        fuzz_check(size > 0);
        break;

    default:
        abort();
    }

    if (size > 0) {
        fuzz_check(ngx_beacon_type_name(data[0]) != NULL);
    }

    fuzz_addr(data, size);
    fuzz_keyline(data, size);

    return 0;
}
