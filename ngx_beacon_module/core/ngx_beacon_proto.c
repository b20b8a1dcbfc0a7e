
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <sodium.h>

#include "ngx_beacon_proto.h"


static const uint8_t  ngx_beacon_v4mapped[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};


uint32_t
ngx_beacon_get32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}


void
ngx_beacon_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}


static int64_t
ngx_beacon_get64(const uint8_t *p)
{
    uint64_t  v;

    v = ((uint64_t) ngx_beacon_get32(p) << 32) | ngx_beacon_get32(p + 4);

    return (int64_t) v;
}


static void
ngx_beacon_put64(uint8_t *p, int64_t v)
{
    ngx_beacon_put32(p, (uint32_t) ((uint64_t) v >> 32));
    ngx_beacon_put32(p + 4, (uint32_t) v);
}


int
ngx_beacon_parse(const uint8_t *buf, size_t len, ngx_beacon_msg_t *msg)
{
    memset(msg, 0, sizeof(ngx_beacon_msg_t));

    if (len == 0) {
        return NGX_BEACON_PARSE_EMPTY;
    }

    msg->type = buf[0];

    switch (msg->type) {

    case NGX_BEACON_DISCOVER:
    case NGX_BEACON_DISCOVER_EX:
        if (len < 5) {
            return NGX_BEACON_PARSE_SHORT;
        }

        msg->node_id = ngx_beacon_get32(buf + 1);

        if (len >= 5 + NGX_BEACON_KEY_LEN) {
            msg->pubkey = buf + 5;
        }

        return NGX_BEACON_PARSE_OK;

    case NGX_BEACON_PUNCH_REQUEST:
        if (len < 9) {
            return NGX_BEACON_PARSE_SHORT;
        }

        msg->requester = ngx_beacon_get32(buf + 1);
        msg->target = ngx_beacon_get32(buf + 5);

        if (len >= 9 + NGX_BEACON_GRANT_LEN) {
            msg->grant = buf + 9;
            msg->grant_expiry = ngx_beacon_get64(buf + 9);
            msg->grant_sig = buf + 17;
        }

        return NGX_BEACON_PARSE_OK;

    case NGX_BEACON_RELAY:
        if (len < NGX_BEACON_RELAY_HDR_LEN) {
            return NGX_BEACON_PARSE_SHORT;
        }

        msg->sender = ngx_beacon_get32(buf + 1);
        msg->dest = ngx_beacon_get32(buf + 5);
        msg->payload = buf + NGX_BEACON_RELAY_HDR_LEN;
        msg->payload_len = len - NGX_BEACON_RELAY_HDR_LEN;

        return NGX_BEACON_PARSE_OK;

    case NGX_BEACON_SYNC:
        if (len < NGX_BEACON_SYNC_HDR_LEN) {
            return NGX_BEACON_PARSE_SHORT;
        }

        msg->beacon_id = ngx_beacon_get32(buf + 1);
        msg->count = (uint16_t) ((buf[5] << 8) | buf[6]);

        if (len < NGX_BEACON_SYNC_HDR_LEN + 4 * (size_t) msg->count) {
            return NGX_BEACON_PARSE_TRUNCATED;
        }

        msg->ids = buf + NGX_BEACON_SYNC_HDR_LEN;

        return NGX_BEACON_PARSE_OK;

    default:
        return NGX_BEACON_PARSE_UNKNOWN;
    }
}


const char *
ngx_beacon_type_name(uint8_t type)
{
    switch (type) {
    case NGX_BEACON_DISCOVER:
        return "discover";
    case NGX_BEACON_DISCOVER_REPLY:
        return "discover_reply";
    case NGX_BEACON_PUNCH_REQUEST:
        return "punch_request";
    case NGX_BEACON_PUNCH_COMMAND:
        return "punch_command";
    case NGX_BEACON_RELAY:
        return "relay";
    case NGX_BEACON_RELAY_DELIVER:
        return "relay_deliver";
    case NGX_BEACON_SYNC:
        return "sync";
    case NGX_BEACON_DISCOVER_EX:
        return "discover_ex";
    case NGX_BEACON_RELAY_DELIVER_DEST:
        return "relay_deliver_dest";
    case NGX_BEACON_NOTIFY:
        return "notify";
    default:
        return "unknown";
    }
}


int
ngx_beacon_addr_is_v4(const ngx_beacon_addr_t *addr)
{
    return memcmp(addr->ip, ngx_beacon_v4mapped, 12) == 0;
}


size_t
ngx_beacon_encode_addr_msg(uint8_t *out, uint8_t type,
    const ngx_beacon_addr_t *addr)
{
    out[0] = type;

    if (ngx_beacon_addr_is_v4(addr)) {
        out[1] = 4;
        memcpy(out + 2, addr->ip + 12, 4);
        out[6] = (uint8_t) (addr->port >> 8);
        out[7] = (uint8_t) addr->port;
        return 8;
    }

    out[1] = 16;
    memcpy(out + 2, addr->ip, 16);
    out[18] = (uint8_t) (addr->port >> 8);
    out[19] = (uint8_t) addr->port;

    return 20;
}


int
ngx_beacon_decode_addr_msg(const uint8_t *buf, size_t len, uint8_t *type,
    ngx_beacon_addr_t *addr)
{
    size_t  l;

    if (len < 4) {
        return -1;
    }

    l = buf[1];

    if ((l != 4 && l != 16) || len < 2 + l + 2) {
        return -1;
    }

    *type = buf[0];

    if (l == 4) {
        memcpy(addr->ip, ngx_beacon_v4mapped, 12);
        memcpy(addr->ip + 12, buf + 2, 4);

    } else {
        memcpy(addr->ip, buf + 2, 16);
    }

    addr->port = (uint16_t) ((buf[2 + l] << 8) | buf[3 + l]);

    return 0;
}


size_t
ngx_beacon_encode_deliver_hdr(uint8_t *out, uint32_t sender)
{
    out[0] = NGX_BEACON_RELAY_DELIVER;
    ngx_beacon_put32(out + 1, sender);

    return NGX_BEACON_DELIVER_HDR_LEN;
}


size_t
ngx_beacon_encode_deliver_dest_hdr(uint8_t *out, uint32_t sender,
    uint32_t dest)
{
    out[0] = NGX_BEACON_RELAY_DELIVER_DEST;
    ngx_beacon_put32(out + 1, sender);
    ngx_beacon_put32(out + 5, dest);

    return NGX_BEACON_DELIVER_DEST_HDR_LEN;
}


size_t
ngx_beacon_encode_relay_hdr(uint8_t *out, uint32_t sender, uint32_t dest)
{
    out[0] = NGX_BEACON_RELAY;
    ngx_beacon_put32(out + 1, sender);
    ngx_beacon_put32(out + 5, dest);

    return NGX_BEACON_RELAY_HDR_LEN;
}


size_t
ngx_beacon_encode_notify(uint8_t *out, uint8_t kind)
{
    out[0] = NGX_BEACON_NOTIFY;
    out[1] = kind;

    return 2;
}


size_t
ngx_beacon_encode_sync(uint8_t *out, size_t cap, uint32_t beacon_id,
    const uint32_t *ids, uint16_t n)
{
    size_t    len;
    uint16_t  i;

    len = NGX_BEACON_SYNC_HDR_LEN + 4 * (size_t) n;

    if (cap < len) {
        return 0;
    }

    out[0] = NGX_BEACON_SYNC;
    ngx_beacon_put32(out + 1, beacon_id);
    out[5] = (uint8_t) (n >> 8);
    out[6] = (uint8_t) n;

    for (i = 0; i < n; i++) {
        ngx_beacon_put32(out + NGX_BEACON_SYNC_HDR_LEN + 4 * (size_t) i,
                         ids[i]);
    }

    return len;
}


size_t
ngx_beacon_encode_discover(uint8_t *out, uint8_t type, uint32_t node_id,
    const uint8_t *pubkey)
{
    out[0] = type;
    ngx_beacon_put32(out + 1, node_id);

    if (pubkey == NULL) {
        return 5;
    }

    memcpy(out + 5, pubkey, NGX_BEACON_KEY_LEN);

    return 5 + NGX_BEACON_KEY_LEN;
}


size_t
ngx_beacon_encode_punch_request(uint8_t *out, uint32_t requester,
    uint32_t target, int64_t expiry, const uint8_t *sig)
{
    out[0] = NGX_BEACON_PUNCH_REQUEST;
    ngx_beacon_put32(out + 1, requester);
    ngx_beacon_put32(out + 5, target);

    if (sig == NULL) {
        return 9;
    }

    ngx_beacon_put64(out + 9, expiry);
    memcpy(out + 17, sig, NGX_BEACON_SIG_LEN);

    return 9 + NGX_BEACON_GRANT_LEN;
}


size_t
ngx_beacon_grant_preimage(char *out, uint32_t requester, uint32_t target,
    int64_t expiry)
{
    int  n;

    n = snprintf(out, NGX_BEACON_GRANT_PREIMAGE_MAX, "punch-grant:%u:%u:%lld",
                 (unsigned) requester, (unsigned) target,
                 (long long) expiry);

    if (n < 0 || n >= NGX_BEACON_GRANT_PREIMAGE_MAX) {
        return 0;
    }

    return (size_t) n;
}


int
ngx_beacon_grant_verify(const uint8_t *key, uint32_t requester,
    uint32_t target, int64_t expiry, const uint8_t *sig)
{
    char    pre[NGX_BEACON_GRANT_PREIMAGE_MAX];
    size_t  n;

    n = ngx_beacon_grant_preimage(pre, requester, target, expiry);
    if (n == 0) {
        return -1;
    }

    return crypto_sign_verify_detached(sig, (const unsigned char *) pre, n,
                                       key) == 0 ? 0 : -1;
}


int
ngx_beacon_addr_from_sockaddr(ngx_beacon_addr_t *addr, const void *sockaddr)
{
    const struct sockaddr      *sa;
    const struct sockaddr_in   *sin;
    const struct sockaddr_in6  *sin6;

    sa = sockaddr;

    switch (sa->sa_family) {

    case AF_INET:
        sin = sockaddr;
        memcpy(addr->ip, ngx_beacon_v4mapped, 12);
        memcpy(addr->ip + 12, &sin->sin_addr, 4);
        addr->port = ntohs(sin->sin_port);
        return 0;

    case AF_INET6:
        sin6 = sockaddr;
        memcpy(addr->ip, &sin6->sin6_addr, 16);
        addr->port = ntohs(sin6->sin6_port);
        return 0;

    default:
        return -1;
    }
}


size_t
ngx_beacon_addr_print(char *out, const ngx_beacon_addr_t *addr,
    int with_port)
{
    char    ip[INET6_ADDRSTRLEN];
    size_t  n;

    if (ngx_beacon_addr_is_v4(addr)) {
        inet_ntop(AF_INET, addr->ip + 12, ip, sizeof(ip));

        if (!with_port) {
            n = strlen(ip);
            memcpy(out, ip, n + 1);
            return n;
        }

        return (size_t) snprintf(out, 48, "%s:%u", ip, (unsigned) addr->port);
    }

    inet_ntop(AF_INET6, addr->ip, ip, sizeof(ip));

    if (!with_port) {
        n = strlen(ip);
        memcpy(out, ip, n + 1);
        return n;
    }

    return (size_t) snprintf(out, 56, "[%s]:%u", ip, (unsigned) addr->port);
}


int
ngx_beacon_keyline_parse(const char *line, size_t len, uint32_t *id,
    uint8_t *key)
{
    size_t        i, start, klen, bin_len;
    uint64_t      v;
    const char   *end;

    i = 0;

    while (i < len && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }

    while (len > i && (line[len - 1] == ' ' || line[len - 1] == '\t'
                       || line[len - 1] == '\r' || line[len - 1] == '\n'))
    {
        len--;
    }

    if (i == len || line[i] == '#') {
        return 1;
    }

    v = 0;
    start = i;

    while (i < len && line[i] >= '0' && line[i] <= '9') {
        v = v * 10 + (uint64_t) (line[i] - '0');

        if (v > 0xffffffff) {
            return -1;
        }

        i++;
    }

    if (i == start || i == len || (line[i] != ' ' && line[i] != '\t')) {
        return -1;
    }

    while (i < len && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }

    klen = len - i;

    if (klen != 44) {
        return -1;
    }

    /* libsodium 1.0.18 takes some bytes >= 0x80 for digits: check first */

    for (start = i; start < len; start++) {
        if (!((line[start] >= 'A' && line[start] <= 'Z')
              || (line[start] >= 'a' && line[start] <= 'z')
              || (line[start] >= '0' && line[start] <= '9')
              || line[start] == '+' || line[start] == '/'
              || (line[start] == '=' && start >= len - 2)))
        {
            return -1;
        }
    }

    if (sodium_base642bin(key, NGX_BEACON_KEY_LEN, line + i, klen, NULL,
                          &bin_len, &end, sodium_base64_VARIANT_ORIGINAL)
        != 0
        || bin_len != NGX_BEACON_KEY_LEN || end != line + len)
    {
        return -1;
    }

    if (v == 0) {
        return -1;
    }

    *id = (uint32_t) v;

    return 0;
}


static void
ngx_beacon_sync_mac(uint8_t *mac16, const uint8_t *msg, size_t len,
    const uint8_t *head12, const uint8_t *key32)
{
    uint8_t                         mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state    st;

    crypto_auth_hmacsha256_init(&st, key32, 32);
    crypto_auth_hmacsha256_update(&st, msg, len);
    crypto_auth_hmacsha256_update(&st, head12, 12);
    crypto_auth_hmacsha256_final(&st, mac);

    memcpy(mac16, mac, 16);
    sodium_memzero(&st, sizeof(st));
}


size_t
ngx_beacon_sync_auth(uint8_t *out, const uint8_t *msg, size_t len,
    const uint8_t *key32, int64_t now)
{
    memcpy(out, "NBG1", 4);
    ngx_beacon_put64(out + 4, now);
    ngx_beacon_sync_mac(out + 12, msg, len, out, key32);

    return NGX_BEACON_SYNC_AUTH_LEN;
}


int
ngx_beacon_sync_auth_check(const uint8_t *msg, size_t len,
    const uint8_t *trailer, size_t tlen, const uint8_t *key32, int64_t now,
    int64_t window)
{
    int64_t  t;
    uint8_t  mac[16];

    if (tlen < NGX_BEACON_SYNC_AUTH_LEN || memcmp(trailer, "NBG1", 4) != 0) {
        return -1;
    }

    t = ngx_beacon_get64(trailer + 4);

    if (t < now - window || t > now + window) {
        return -1;
    }

    ngx_beacon_sync_mac(mac, msg, len, trailer, key32);

    return sodium_memcmp(mac, trailer + 12, 16) == 0 ? 0 : -1;
}

int
ngx_beacon_sync_check(const uint8_t *buf, size_t len,
    const ngx_beacon_msg_t *msg, const uint8_t *key32, int64_t now,
    int64_t window)
{
    size_t  body;

    if (msg->type != NGX_BEACON_SYNC) {
        return -1;
    }

    body = NGX_BEACON_SYNC_HDR_LEN + 4 * (size_t) msg->count;

    if (body > len) {
        return -1;
    }

    if (key32 == NULL) {
        return 0;
    }

    return ngx_beacon_sync_auth_check(buf, body, buf + body, len - body,
                                      key32, now, window);
}


size_t
ngx_beacon_keyfile_lines(const char *buf, size_t len)
{
    size_t  i, n;

    n = 1;

    for (i = 0; i < len; i++) {
        n += (buf[i] == '\n');
    }

    return n;
}


static int
ngx_beacon_key_cmp(const void *one, const void *two)
{
    const ngx_beacon_key_t  *a = one;
    const ngx_beacon_key_t  *b = two;

    return (a->id > b->id) - (a->id < b->id);
}


int
ngx_beacon_keyfile_parse(const char *buf, size_t len, ngx_beacon_key_t *keys,
    size_t *n, size_t *line)
{
    int          rc;
    size_t       i, k;
    const char  *p, *last, *eol;

    p = buf;
    last = buf + len;
    k = 0;
    *line = 0;

    while (p < last) {
        (*line)++;

        eol = memchr(p, '\n', last - p);
        if (eol == NULL) {
            eol = last;
        }

        rc = ngx_beacon_keyline_parse(p, eol - p, &keys[k].id, keys[k].key);

        if (rc < 0) {
            *n = k;
            return -1;
        }

        if (rc == 0) {
            k++;
        }

        p = eol + 1;
    }

    qsort(keys, k, sizeof(ngx_beacon_key_t), ngx_beacon_key_cmp);

    *n = k;

    for (i = 1; i < k; i++) {
        if (keys[i].id == keys[i - 1].id) {
            *line = keys[i].id;
            return -2;
        }
    }

    return 0;
}


int
ngx_beacon_addr_parse(const char *text, size_t len, ngx_beacon_addr_t *addr)
{
    char               host[INET6_ADDRSTRLEN + 1];
    size_t             i, j, hlen;
    uint32_t           port;
    const char        *p;
    ngx_beacon_addr_t  a;

    for (i = len; i > 0 && text[i - 1] != ':'; i--) { /* void */ }

    if (i == 0 || i == len) {
        return -1;
    }

    port = 0;

    for (j = i; j < len; j++) {
        if (text[j] < '0' || text[j] > '9') {
            return -1;
        }

        port = port * 10 + (uint32_t) (text[j] - '0');

        if (port > 65535) {
            return -1;
        }
    }

    if (port < 1 || port > 65535) {
        return -1;
    }

    p = text;
    hlen = i - 1;

    if (hlen >= 2 && p[0] == '[' && p[hlen - 1] == ']') {
        p++;
        hlen -= 2;
    }

    if (hlen == 0 || hlen > INET6_ADDRSTRLEN) {
        return -1;
    }

    memcpy(host, p, hlen);
    host[hlen] = '\0';

    memset(&a, 0, sizeof(ngx_beacon_addr_t));

    if (inet_pton(AF_INET, host, a.ip + 12) == 1) {
        a.ip[10] = 0xff;
        a.ip[11] = 0xff;

    } else if (inet_pton(AF_INET6, host, a.ip) != 1) {
        return -1;
    }

    a.port = (uint16_t) port;

    *addr = a;

    return 0;
}
