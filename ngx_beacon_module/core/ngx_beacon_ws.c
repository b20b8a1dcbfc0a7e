
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ngx_beacon_ws.h"
#include "ngx_beacon_json.h"


#define NGX_BEACON_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


static int ngx_beacon_ws_lower(int c);
static int ngx_beacon_ws_caseeq(const unsigned char *a, const unsigned char *b,
    size_t n);
static int ngx_beacon_ws_b64char(int c);
static int ngx_beacon_ws_parse(const unsigned char *buf, size_t len,
    uint64_t max_payload, unsigned want_mask, ngx_beacon_ws_frame_t *f);
static size_t ngx_beacon_ws_put_len(unsigned char *out, uint8_t b1,
    uint64_t len);


static int
ngx_beacon_ws_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}


/* ASCII case-insensitive comparison, independent of the locale */
static int
ngx_beacon_ws_caseeq(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (ngx_beacon_ws_lower(a[i]) != ngx_beacon_ws_lower(b[i])) {
            return 0;
        }
    }

    return 1;
}


int
ngx_beacon_ws_has_token(const unsigned char *v, size_t len, const char *token)
{
    size_t  s, e, a, b, tlen;

    tlen = strlen(token);

    if (tlen == 0) {
        return 0;
    }

    s = 0;

    for ( ;; ) {
        e = s;

        while (e < len && v[e] != ',') {
            e++;
        }

        a = s;
        b = e;

        while (a < b && (v[a] == ' ' || v[a] == '\t')) {
            a++;
        }

        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) {
            b--;
        }

        if (b - a == tlen
            && ngx_beacon_ws_caseeq(v + a, (const unsigned char *) token,
                                    tlen))
        {
            return 1;
        }

        if (e >= len) {
            return 0;
        }

        s = e + 1;
    }
}


static int
ngx_beacon_ws_b64char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '+' || c == '/';
}


int
ngx_beacon_ws_key_valid(const unsigned char *key, size_t len)
{
    size_t  i;

    /* 16 bytes: 21 full characters, one with 2 bits, then "==" */

    if (len != NGX_BEACON_WS_KEY_LEN) {
        return 0;
    }

    for (i = 0; i < 22; i++) {
        if (!ngx_beacon_ws_b64char(key[i])) {
            return 0;
        }
    }

    return key[22] == '=' && key[23] == '=';
}


int
ngx_beacon_ws_accept(const unsigned char *key, size_t len,
    unsigned char *out28)
{
    unsigned char  md[SHA_DIGEST_LENGTH];
    unsigned char  b64[NGX_BEACON_WS_ACCEPT_LEN + 4];
    unsigned char  buf[NGX_BEACON_WS_KEY_MAX + sizeof(NGX_BEACON_WS_GUID)];

    if (len > NGX_BEACON_WS_KEY_MAX) {
        return -1;
    }

    if (len) {
        memcpy(buf, key, len);
    }

    memcpy(buf + len, NGX_BEACON_WS_GUID, sizeof(NGX_BEACON_WS_GUID) - 1);

    if (SHA1(buf, len + sizeof(NGX_BEACON_WS_GUID) - 1, md) == NULL) {
        return -1;
    }

    /* EVP_EncodeBlock() also writes a NUL: 29 bytes */

    if (EVP_EncodeBlock(b64, md, SHA_DIGEST_LENGTH)
        != NGX_BEACON_WS_ACCEPT_LEN)
    {
        return -1;
    }

    memcpy(out28, b64, NGX_BEACON_WS_ACCEPT_LEN);

    return 0;
}


int
ngx_beacon_ws_origin_ok(const unsigned char *origin, size_t olen,
    const unsigned char *host, size_t hlen)
{
    size_t         i, s, e;
    unsigned char  c;

    if (olen >= 8
        && ngx_beacon_ws_caseeq(origin, (const unsigned char *) "pilot://", 8))
    {
        return 1;
    }

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */

    if (olen == 0 || ngx_beacon_ws_lower(origin[0]) < 'a'
        || ngx_beacon_ws_lower(origin[0]) > 'z')
    {
        return 0;
    }

    for (i = 1; i < olen; i++) {
        c = origin[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
        {
            break;
        }
    }

    if (olen - i < 3 || memcmp(origin + i, "://", 3) != 0) {
        return 0;
    }

    i += 3;
    s = i;

    while (i < olen && origin[i] != '/' && origin[i] != '?'
           && origin[i] != '#')
    {
        c = origin[i];

        if (c <= ' ' || c == 0x7f || c == '@' || c == '\\') {
            return 0;
        }

        i++;
    }

    e = i;

    if (e == s) {
        return 0;
    }

    /* whatever follows the authority must still be printable */

    for ( /* void */ ; i < olen; i++) {
        if (origin[i] <= ' ' || origin[i] == 0x7f) {
            return 0;
        }
    }

    return e - s == hlen && ngx_beacon_ws_caseeq(origin + s, host, hlen);
}


static int
ngx_beacon_ws_parse(const unsigned char *buf, size_t len,
    uint64_t max_payload, unsigned want_mask, ngx_beacon_ws_frame_t *f)
{
    size_t    hlen;
    uint8_t   op;
    uint64_t  plen;

    if (len < 1) {
        return NGX_BEACON_WS_AGAIN;
    }

    op = buf[0] & 0x0f;

    f->fin = (buf[0] & 0x80) ? 1 : 0;
    f->opcode = op;

    if (buf[0] & 0x70) {
        /* RSV1-3: no extension is ever negotiated */
        return NGX_BEACON_WS_CLOSE_PROTOCOL;
    }

    if ((op > NGX_BEACON_WS_OP_BINARY && op < NGX_BEACON_WS_OP_CLOSE)
        || op > NGX_BEACON_WS_OP_PONG)
    {
        return NGX_BEACON_WS_CLOSE_PROTOCOL;
    }

    if ((op & 0x08) && !f->fin) {
        return NGX_BEACON_WS_CLOSE_PROTOCOL;
    }

    if (len < 2) {
        return NGX_BEACON_WS_AGAIN;
    }

    f->masked = (buf[1] & 0x80) ? 1 : 0;

    if (f->masked != want_mask) {
        return NGX_BEACON_WS_CLOSE_PROTOCOL;
    }

    plen = buf[1] & 0x7f;

    if ((op & 0x08) && plen > NGX_BEACON_WS_CONTROL_MAX) {
        return NGX_BEACON_WS_CLOSE_PROTOCOL;
    }

    if (plen == 126) {
        if (len < 4) {
            return NGX_BEACON_WS_AGAIN;
        }

        plen = ((uint64_t) buf[2] << 8) | buf[3];
        hlen = 4;

    } else if (plen == 127) {
        if (len < 10) {
            return NGX_BEACON_WS_AGAIN;
        }

        plen = ((uint64_t) buf[2] << 56) | ((uint64_t) buf[3] << 48)
               | ((uint64_t) buf[4] << 40) | ((uint64_t) buf[5] << 32)
               | ((uint64_t) buf[6] << 24) | ((uint64_t) buf[7] << 16)
               | ((uint64_t) buf[8] << 8) | (uint64_t) buf[9];

        if (plen >> 63) {
            return NGX_BEACON_WS_CLOSE_PROTOCOL;
        }

        hlen = 10;

    } else {
        hlen = 2;
    }

    if (plen > max_payload) {
        return NGX_BEACON_WS_CLOSE_TOO_BIG;
    }

    if (want_mask) {
        hlen += 4;

        if (len < hlen) {
            return NGX_BEACON_WS_AGAIN;
        }

        memcpy(f->mask, buf + hlen - 4, 4);

    } else {
        memset(f->mask, 0, 4);
    }

    f->header_len = hlen;
    f->payload_len = plen;

    return 0;
}


int
ngx_beacon_ws_parse_header(const unsigned char *buf, size_t len,
    uint64_t max_payload, ngx_beacon_ws_frame_t *f)
{
    return ngx_beacon_ws_parse(buf, len, max_payload, 1, f);
}


int
ngx_beacon_ws_parse_server_header(const unsigned char *buf, size_t len,
    uint64_t max_payload, ngx_beacon_ws_frame_t *f)
{
    return ngx_beacon_ws_parse(buf, len, max_payload, 0, f);
}


void
ngx_beacon_ws_unmask(unsigned char *p, size_t n, const uint8_t *mask,
    uint64_t offset)
{
    size_t    i;
    uint8_t   mb[8];
    uint64_t  w, m;
    unsigned  k;

    k = (unsigned) (offset & 3);

    while (n && ((uintptr_t) p & 7)) {
        *p++ ^= mask[k];
        k = (k + 1) & 3;
        n--;
    }

    if (n >= 8) {

        /* 8 is a multiple of 4: the same mask word fits every word */

        for (i = 0; i < 8; i++) {
            mb[i] = mask[(k + i) & 3];
        }

        memcpy(&m, mb, 8);

        while (n >= 8) {
            memcpy(&w, p, 8);
            w ^= m;
            memcpy(p, &w, 8);
            p += 8;
            n -= 8;
        }
    }

    while (n) {
        *p++ ^= mask[k];
        k = (k + 1) & 3;
        n--;
    }
}


int
ngx_beacon_ws_msg_frame(ngx_beacon_ws_msg_t *m,
    const ngx_beacon_ws_frame_t *f, uint64_t max_message)
{
    if (f->opcode & 0x08) {
        if (f->opcode > NGX_BEACON_WS_OP_PONG || !f->fin
            || f->payload_len > NGX_BEACON_WS_CONTROL_MAX)
        {
            return NGX_BEACON_WS_CLOSE_PROTOCOL;
        }

        return NGX_BEACON_WS_CONTROL;
    }

    switch (f->opcode) {

    case NGX_BEACON_WS_OP_CONT:
        if (!m->in_message) {
            return NGX_BEACON_WS_CLOSE_PROTOCOL;
        }

        break;

    case NGX_BEACON_WS_OP_TEXT:
    case NGX_BEACON_WS_OP_BINARY:
        if (m->in_message) {
            return NGX_BEACON_WS_CLOSE_PROTOCOL;
        }

        m->in_message = 1;
        m->opcode = f->opcode;
        m->len = 0;
        break;

    default:
        return NGX_BEACON_WS_CLOSE_PROTOCOL;
    }

    if (m->len > max_message || f->payload_len > max_message - m->len) {
        return NGX_BEACON_WS_CLOSE_TOO_BIG;
    }

    m->len += f->payload_len;

    if (!f->fin) {
        return NGX_BEACON_WS_DATA_PART;
    }

    m->in_message = 0;

    return NGX_BEACON_WS_DATA_END;
}


int
ngx_beacon_ws_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003)
           || (code >= 1007 && code <= 1014)
           || (code >= 3000 && code <= 4999);
}


int
ngx_beacon_ws_close_parse(const unsigned char *p, size_t n, unsigned *code)
{
    unsigned  c;

    if (n == 0) {
        *code = NGX_BEACON_WS_CLOSE_NO_STATUS;
        return 0;
    }

    if (n == 1) {
        return NGX_BEACON_WS_CLOSE_PROTOCOL;
    }

    c = ((unsigned) p[0] << 8) | p[1];

    if (!ngx_beacon_ws_close_code_valid(c)) {
        return NGX_BEACON_WS_CLOSE_PROTOCOL;
    }

    if (!ngx_beacon_json_utf8_valid(p + 2, n - 2)) {
        return NGX_BEACON_WS_CLOSE_BAD_DATA;
    }

    *code = c;

    return 0;
}


static size_t
ngx_beacon_ws_put_len(unsigned char *out, uint8_t b1, uint64_t len)
{
    int  i;

    if (len < 126) {
        out[0] = (unsigned char) (b1 | len);
        return 1;
    }

    if (len <= 0xffff) {
        out[0] = (unsigned char) (b1 | 126);
        out[1] = (unsigned char) (len >> 8);
        out[2] = (unsigned char) len;
        return 3;
    }

    out[0] = (unsigned char) (b1 | 127);

    for (i = 0; i < 8; i++) {
        out[1 + i] = (unsigned char) (len >> (56 - 8 * i));
    }

    return 9;
}


size_t
ngx_beacon_ws_header(unsigned char *out, uint8_t opcode, uint64_t len)
{
    out[0] = (unsigned char) (0x80 | (opcode & 0x0f));

    return 1 + ngx_beacon_ws_put_len(out + 1, 0, len);
}


size_t
ngx_beacon_ws_header_masked(unsigned char *out, uint8_t opcode, int fin,
    uint64_t len, const uint8_t *mask)
{
    size_t  n;

    out[0] = (unsigned char) ((fin ? 0x80 : 0) | (opcode & 0x0f));

    n = 1 + ngx_beacon_ws_put_len(out + 1, 0x80, len);

    memcpy(out + n, mask, 4);

    return n + 4;
}


size_t
ngx_beacon_ws_close_body(unsigned char *out, unsigned code,
    const char *reason)
{
    size_t                n;
    const unsigned char  *p;

    if (code == 0) {
        return 0;
    }

    out[0] = (unsigned char) (code >> 8);
    out[1] = (unsigned char) code;

    n = (reason != NULL) ? strlen(reason) : 0;

    if (n > NGX_BEACON_WS_CONTROL_MAX - 2) {
        n = NGX_BEACON_WS_CONTROL_MAX - 2;

        /* do not cut a character: back up to its lead byte, 3 at most */

        p = (const unsigned char *) reason;

        while (n > NGX_BEACON_WS_CONTROL_MAX - 2 - 3 && (p[n] & 0xc0) == 0x80)
        {
            n--;
        }
    }

    if (n) {
        memcpy(out + 2, reason, n);
    }

    return 2 + n;
}
