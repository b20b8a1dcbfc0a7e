
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * STUN Binding (RFC 8489, and RFC 3489 clients): the demultiplexer, the
 * parser and the response writer.  Pure code, no nginx types.
 */


#include <string.h>

#include "ngx_beacon_stun.h"


static uint16_t ngx_beacon_stun_get16(const uint8_t *p);
static uint32_t ngx_beacon_stun_get32(const uint8_t *p);
static void ngx_beacon_stun_put16(uint8_t *p, uint16_t v);
static void ngx_beacon_stun_put32(uint8_t *p, uint32_t v);
static int ngx_beacon_stun_known(uint16_t type);
static int ngx_beacon_stun_address(const uint8_t *v, size_t len, int xor,
    ngx_beacon_stun_msg_t *m);
static int ngx_beacon_stun_plain(const uint8_t *v, size_t len,
    ngx_beacon_stun_addr_t *a);
static uint8_t *ngx_beacon_stun_put_addr(uint8_t *p, uint16_t type,
    const uint8_t *ip, uint16_t port, const uint8_t *xor);
static uint8_t *ngx_beacon_stun_attr(uint8_t *p, uint16_t type,
    const uint8_t *v, size_t len);


static uint32_t  ngx_beacon_stun_crc_table[256];
static int       ngx_beacon_stun_crc_ready;


static const char  *ngx_beacon_stun_reasons[NGX_BEACON_STUN_NREASONS] = {
    "short",
    "not_stun",
    "bad_length",
    "attr_overrun",
    "bad_fingerprint",
    "bad_attribute"
};


static uint16_t
ngx_beacon_stun_get16(const uint8_t *p)
{
    return (uint16_t) ((p[0] << 8) | p[1]);
}


static uint32_t
ngx_beacon_stun_get32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


static void
ngx_beacon_stun_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}


static void
ngx_beacon_stun_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}


/* CRC-32 (ISO-HDLC, as zlib's), the base of FINGERPRINT */

uint32_t
ngx_beacon_stun_crc32(const uint8_t *p, size_t len)
{
    int       k;
    size_t    i;
    uint32_t  c;

    if (!ngx_beacon_stun_crc_ready) {
        for (i = 0; i < 256; i++) {
            c = (uint32_t) i;

            for (k = 0; k < 8; k++) {
                c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
            }

            ngx_beacon_stun_crc_table[i] = c;
        }

        ngx_beacon_stun_crc_ready = 1;
    }

    c = 0xffffffff;

    for (i = 0; i < len; i++) {
        c = ngx_beacon_stun_crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    }

    return c ^ 0xffffffff;
}


int
ngx_beacon_stun_is_stun(const uint8_t *p, size_t len)
{
    if (len < NGX_BEACON_STUN_HEADER_LEN || (p[0] & 0xc0) != 0) {
        return 0;
    }

    /* Pilot's message types: never STUN, whatever follows */

    if (p[0] >= 0x01 && p[0] <= 0x0a) {
        return 0;
    }

    if (ngx_beacon_stun_get32(p + 4) == NGX_BEACON_STUN_COOKIE) {
        return 1;
    }

    /* an RFC 3489 Binding request */

    return p[0] == 0x00 && p[1] == 0x01;
}


/*
 * Comprehension-required attributes that a Binding server understands,
 * even if only to ignore them: RFC 8489's, RFC 3489's address attributes
 * and ICE's PRIORITY and USE-CANDIDATE.  CHANGE-REQUEST and the
 * integrity attributes are handled by the parser itself.  RESPONSE-ADDRESS
 * (0x0002) is not among them: answering to another address than the
 * source would make the server a reflector.
 */

static int
ngx_beacon_stun_known(uint16_t type)
{
    switch (type) {
    case NGX_BEACON_STUN_MAPPED_ADDRESS:
    case NGX_BEACON_STUN_USERNAME:
    case NGX_BEACON_STUN_ERROR_CODE:
    case NGX_BEACON_STUN_UNKNOWN_ATTRIBUTES:
    case 0x0014:                             /* REALM */
    case 0x0015:                             /* NONCE */
    case 0x001d:                             /* PASSWORD-ALGORITHM */
    case 0x001e:                             /* USERHASH */
    case NGX_BEACON_STUN_XOR_MAPPED_ADDRESS:
    case 0x0024:                             /* PRIORITY */
    case 0x0025:                             /* USE-CANDIDATE */
        return 1;
    default:
        return 0;
    }
}


static int
ngx_beacon_stun_address(const uint8_t *v, size_t len, int xor,
    ngx_beacon_stun_msg_t *m)
{
    size_t  i;

    if (len < 4 || (v[1] != 1 && v[1] != 2)
        || len != (v[1] == 1 ? 8u : 20u))
    {
        return NGX_BEACON_STUN_BAD_ATTRIBUTE;
    }

    if (!xor && m->has_mapped) {
        return NGX_BEACON_STUN_OK;           /* XOR-MAPPED-ADDRESS wins */
    }

    m->has_mapped = 1;
    m->mapped_family = v[1];
    m->mapped_port = ngx_beacon_stun_get16(v + 2);
    memset(m->mapped_ip, 0, 16);

    if (v[1] == 1) {
        m->mapped_ip[10] = 0xff;
        m->mapped_ip[11] = 0xff;
        memcpy(m->mapped_ip + 12, v + 4, 4);

    } else {
        memcpy(m->mapped_ip, v + 4, 16);
    }

    if (xor) {
        m->mapped_port ^= NGX_BEACON_STUN_COOKIE >> 16;

        if (v[1] == 1) {
            for (i = 0; i < 4; i++) {
                m->mapped_ip[12 + i] ^= m->id[i];
            }

        } else {
            for (i = 0; i < 16; i++) {
                m->mapped_ip[i] ^= m->id[i];
            }
        }
    }

    return NGX_BEACON_STUN_OK;
}


static int
ngx_beacon_stun_plain(const uint8_t *v, size_t len, ngx_beacon_stun_addr_t *a)
{
    if (len < 4 || (v[1] != 1 && v[1] != 2)
        || len != (v[1] == 1 ? 8u : 20u))
    {
        return NGX_BEACON_STUN_BAD_ATTRIBUTE;
    }

    a->port = ngx_beacon_stun_get16(v + 2);
    memset(a->ip, 0, 16);

    if (v[1] == 1) {
        a->ip[10] = 0xff;
        a->ip[11] = 0xff;
        memcpy(a->ip + 12, v + 4, 4);

    } else {
        memcpy(a->ip, v + 4, 16);
    }

    return NGX_BEACON_STUN_OK;
}


int
ngx_beacon_stun_parse(const uint8_t *p, size_t len, ngx_beacon_stun_msg_t *m)
{
    int             rc, after_mi;
    size_t          pos, alen, padded;
    uint16_t        type, atype;
    const uint8_t  *v;

    memset(m, 0, sizeof(ngx_beacon_stun_msg_t));

    if (len < NGX_BEACON_STUN_HEADER_LEN) {
        return NGX_BEACON_STUN_SHORT;
    }

    if (p[0] & 0xc0) {
        return NGX_BEACON_STUN_NOT_STUN;
    }

    if ((len & 3) != 0
        || (size_t) ngx_beacon_stun_get16(p + 2) + NGX_BEACON_STUN_HEADER_LEN
           != len)
    {
        return NGX_BEACON_STUN_BAD_LENGTH;
    }

    type = ngx_beacon_stun_get16(p);

    m->method = (type & 0x000f) | ((type & 0x00e0) >> 1)
                | ((type & 0x3e00) >> 2);
    m->cls = (uint8_t) (((type >> 4) & 1) | ((type >> 7) & 2));
    m->rfc3489 = (ngx_beacon_stun_get32(p + 4) != NGX_BEACON_STUN_COOKIE);
    memcpy(m->id, p + 4, 16);

    after_mi = 0;

    for (pos = NGX_BEACON_STUN_HEADER_LEN; pos < len; pos += 4 + padded) {

        if (len - pos < 4) {
            return NGX_BEACON_STUN_ATTR_OVERRUN;
        }

        atype = ngx_beacon_stun_get16(p + pos);
        alen = ngx_beacon_stun_get16(p + pos + 2);
        padded = (alen + 3) & ~(size_t) 3;
        v = p + pos + 4;

        if (padded > len - pos - 4) {
            return NGX_BEACON_STUN_ATTR_OVERRUN;
        }

        if (m->fingerprint) {
            /* FINGERPRINT is the last attribute */
            return NGX_BEACON_STUN_BAD_FINGERPRINT;
        }

        if (atype == NGX_BEACON_STUN_FINGERPRINT && !m->rfc3489) {

            if (alen != 4
                || (ngx_beacon_stun_crc32(p, pos) ^ NGX_BEACON_STUN_FP_XOR)
                   != ngx_beacon_stun_get32(v))
            {
                return NGX_BEACON_STUN_BAD_FINGERPRINT;
            }

            m->fingerprint = 1;
            continue;
        }

        /* what follows MESSAGE-INTEGRITY is ignored (RFC 8489 14.5) */

        if (after_mi) {
            continue;
        }

        switch (atype) {

        case NGX_BEACON_STUN_MESSAGE_INTEGRITY:
            if (alen != 20) {
                return NGX_BEACON_STUN_BAD_ATTRIBUTE;
            }

            m->integrity = 1;
            after_mi = 1;
            break;

        case NGX_BEACON_STUN_MESSAGE_INTEGRITY_SHA256:
            if (alen < 16 || alen > 32 || (alen & 3)) {
                return NGX_BEACON_STUN_BAD_ATTRIBUTE;
            }

            m->integrity = 1;
            after_mi = 1;
            break;

        case NGX_BEACON_STUN_CHANGE_REQUEST:
            if (alen != 4) {
                return NGX_BEACON_STUN_BAD_ATTRIBUTE;
            }

            m->has_change = 1;
            m->change = v[3] & (NGX_BEACON_STUN_CHANGE_IP
                                | NGX_BEACON_STUN_CHANGE_PORT);
            break;

        case NGX_BEACON_STUN_XOR_MAPPED_ADDRESS:
        case NGX_BEACON_STUN_MAPPED_ADDRESS:
            rc = ngx_beacon_stun_address(v, alen,
                                 atype == NGX_BEACON_STUN_XOR_MAPPED_ADDRESS
                                 && !m->rfc3489, m);
            if (rc != NGX_BEACON_STUN_OK) {
                return rc;
            }

            break;

        case NGX_BEACON_STUN_RESPONSE_PORT:
            if (alen != 4) {
                return NGX_BEACON_STUN_BAD_ATTRIBUTE;
            }

            m->has_response_port = 1;
            m->response_port = ngx_beacon_stun_get16(v);
            break;

        case NGX_BEACON_STUN_SOURCE_ADDRESS:
        case NGX_BEACON_STUN_RESPONSE_ORIGIN:
            if (ngx_beacon_stun_plain(v, alen, &m->origin)
                != NGX_BEACON_STUN_OK)
            {
                return NGX_BEACON_STUN_BAD_ATTRIBUTE;
            }

            m->has_origin = 1;
            break;

        case NGX_BEACON_STUN_CHANGED_ADDRESS:
        case NGX_BEACON_STUN_OTHER_ADDRESS:
            if (ngx_beacon_stun_plain(v, alen, &m->other)
                != NGX_BEACON_STUN_OK)
            {
                return NGX_BEACON_STUN_BAD_ATTRIBUTE;
            }

            m->has_other = 1;
            break;

        case NGX_BEACON_STUN_ERROR_CODE:
            if (alen < 4) {
                return NGX_BEACON_STUN_BAD_ATTRIBUTE;
            }

            m->error_code = (uint16_t) ((v[2] & 7) * 100 + v[3]);
            break;

        case NGX_BEACON_STUN_SOFTWARE:
            m->software = v;
            m->software_len = alen;
            break;

        default:
            if (atype < 0x8000 && !ngx_beacon_stun_known(atype)
                && m->nunknown < NGX_BEACON_STUN_UNKNOWN_MAX)
            {
                m->unknown[m->nunknown++] = atype;
            }

            break;
        }
    }

    return NGX_BEACON_STUN_OK;
}


/* an address attribute, XOR-ed with xor (cookie and id) unless NULL */

static uint8_t *
ngx_beacon_stun_put_addr(uint8_t *p, uint16_t type, const uint8_t *ip,
    uint16_t port, const uint8_t *xor)
{
    int             v4;
    size_t          i, alen;
    uint8_t         val[20];
    static const uint8_t  v4mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };

    v4 = (memcmp(ip, v4mapped, 12) == 0);

    val[0] = 0;
    val[1] = v4 ? 1 : 2;
    alen = v4 ? 8 : 20;

    ngx_beacon_stun_put16(val + 2, xor ? port ^ (NGX_BEACON_STUN_COOKIE >> 16)
                                       : port);

    for (i = 0; i < alen - 4; i++) {
        val[4 + i] = (v4 ? ip[12 + i] : ip[i]) ^ (xor ? xor[i] : 0);
    }

    return ngx_beacon_stun_attr(p, type, val, alen);
}


static uint8_t *
ngx_beacon_stun_attr(uint8_t *p, uint16_t type, const uint8_t *v, size_t len)
{
    size_t  pad;

    ngx_beacon_stun_put16(p, type);
    ngx_beacon_stun_put16(p + 2, (uint16_t) len);

    if (v) {
        memcpy(p + 4, v, len);
    }

    pad = ((len + 3) & ~(size_t) 3) - len;
    memset(p + 4 + len, 0, pad);

    return p + 4 + len + pad;
}


int
ngx_beacon_stun_answer(const ngx_beacon_stun_msg_t *m, const uint8_t *ip,
    uint16_t port, const ngx_beacon_stun_alt_t *alt, const uint8_t *software,
    size_t software_len, uint8_t *out, size_t *n)
{
    int              rc;
    size_t           i, k, alen;
    uint8_t         *p;
    uint16_t         unknown[NGX_BEACON_STUN_UNKNOWN_MAX + 1];
    const char      *reason;

    *n = 0;

    if (m->cls == NGX_BEACON_STUN_INDICATION) {
        return NGX_BEACON_STUN_A_INDICATION;
    }

    if (m->cls != NGX_BEACON_STUN_REQUEST) {
        return NGX_BEACON_STUN_A_WRONG_CLASS;
    }

    k = 0;

    if (m->method != NGX_BEACON_STUN_BINDING) {
        rc = NGX_BEACON_STUN_A_ERROR_400;

    } else {
        for (k = 0; k < m->nunknown; k++) {
            unknown[k] = m->unknown[k];
        }

        /*
         * RFC 5780 6.1: without an alternate address and port, the
         * server does not understand CHANGE-REQUEST (asking for a change)
         * nor RESPONSE-PORT
         */

        if (alt == NULL && m->has_change && m->change
            && k < NGX_BEACON_STUN_UNKNOWN_MAX)
        {
            unknown[k++] = NGX_BEACON_STUN_CHANGE_REQUEST;
        }

        if (alt == NULL && m->has_response_port
            && k < NGX_BEACON_STUN_UNKNOWN_MAX)
        {
            unknown[k++] = NGX_BEACON_STUN_RESPONSE_PORT;
        }

        rc = k ? NGX_BEACON_STUN_A_ERROR_420 : NGX_BEACON_STUN_A_SUCCESS;
    }

    p = out;

    /* Binding (or the request's method) success 0x0100 / error 0x0110 */

    ngx_beacon_stun_put16(p, (uint16_t) (((m->method & 0x0f80) << 2)
                                         | ((m->method & 0x0070) << 1)
                                         | (m->method & 0x000f)
                                         | (rc == NGX_BEACON_STUN_A_SUCCESS
                                            ? 0x0100 : 0x0110)));
    memcpy(p + 4, m->id, 16);
    p += NGX_BEACON_STUN_HEADER_LEN;

    if (rc == NGX_BEACON_STUN_A_SUCCESS) {

        if (m->rfc3489) {
            p = ngx_beacon_stun_put_addr(p, NGX_BEACON_STUN_MAPPED_ADDRESS,
                                         ip, port, NULL);

            if (alt) {
                p = ngx_beacon_stun_put_addr(p,
                                             NGX_BEACON_STUN_SOURCE_ADDRESS,
                                             alt->origin.ip, alt->origin.port,
                                             NULL);
                p = ngx_beacon_stun_put_addr(p,
                                             NGX_BEACON_STUN_CHANGED_ADDRESS,
                                             alt->other.ip, alt->other.port,
                                             NULL);
            }

        } else {
            p = ngx_beacon_stun_put_addr(p,
                                         NGX_BEACON_STUN_XOR_MAPPED_ADDRESS,
                                         ip, port, m->id);

            if (alt) {
                p = ngx_beacon_stun_put_addr(p,
                                             NGX_BEACON_STUN_RESPONSE_ORIGIN,
                                             alt->origin.ip, alt->origin.port,
                                             NULL);
                p = ngx_beacon_stun_put_addr(p,
                                             NGX_BEACON_STUN_OTHER_ADDRESS,
                                             alt->other.ip, alt->other.port,
                                             NULL);
            }
        }

    } else {
        reason = (rc == NGX_BEACON_STUN_A_ERROR_400) ? "Bad Request"
                                                     : "Unknown Attribute";
        alen = strlen(reason);

        ngx_beacon_stun_put16(p, NGX_BEACON_STUN_ERROR_CODE);
        ngx_beacon_stun_put16(p + 2, (uint16_t) (4 + alen));
        p[4] = 0;
        p[5] = 0;
        p[6] = 4;
        p[7] = (rc == NGX_BEACON_STUN_A_ERROR_400) ? 0 : 20;
        memcpy(p + 8, reason, alen);
        memset(p + 8 + alen, 0, ((alen + 3) & ~(size_t) 3) - alen);
        p += 8 + ((alen + 3) & ~(size_t) 3);

        if (k) {
            /* RFC 3489 clients expect an even count: repeat one */

            if (m->rfc3489 && (k & 1)) {
                unknown[k] = unknown[k - 1];
                k++;
            }

            ngx_beacon_stun_put16(p, NGX_BEACON_STUN_UNKNOWN_ATTRIBUTES);
            ngx_beacon_stun_put16(p + 2, (uint16_t) (2 * k));

            for (i = 0; i < k; i++) {
                ngx_beacon_stun_put16(p + 4 + 2 * i, unknown[i]);
            }

            alen = 2 * k;
            memset(p + 4 + alen, 0, ((alen + 3) & ~(size_t) 3) - alen);
            p += 4 + ((alen + 3) & ~(size_t) 3);
        }
    }

    if (software && software_len) {
        if (software_len > NGX_BEACON_STUN_SOFTWARE_MAX) {
            software_len = NGX_BEACON_STUN_SOFTWARE_MAX;
        }

        p = ngx_beacon_stun_attr(p, NGX_BEACON_STUN_SOFTWARE, software,
                                 software_len);
    }

    if (m->fingerprint) {
        ngx_beacon_stun_put16(out + 2, (uint16_t) (p + 8 - out
                                               - NGX_BEACON_STUN_HEADER_LEN));
        ngx_beacon_stun_put16(p, NGX_BEACON_STUN_FINGERPRINT);
        ngx_beacon_stun_put16(p + 2, 4);
        ngx_beacon_stun_put32(p + 4, ngx_beacon_stun_crc32(out, p - out)
                                     ^ NGX_BEACON_STUN_FP_XOR);
        p += 8;

    } else {
        ngx_beacon_stun_put16(out + 2, (uint16_t) (p - out
                                               - NGX_BEACON_STUN_HEADER_LEN));
    }

    *n = p - out;

    return rc;
}


const char *
ngx_beacon_stun_reason(int rc)
{
    if (rc < 0 && -rc <= NGX_BEACON_STUN_NREASONS) {
        return ngx_beacon_stun_reasons[-rc - 1];
    }

    return "ok";
}
