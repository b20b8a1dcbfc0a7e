
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <string.h>
#include <stdio.h>

#include <sodium.h>

#include "ngx_beacon_json.h"


static const unsigned char *ngx_beacon_json_ws(const unsigned char *p,
    const unsigned char *end);
static size_t ngx_beacon_json_utf8(const unsigned char *p,
    const unsigned char *end);
static int ngx_beacon_json_hex4(const unsigned char *p, uint32_t *cp);
static int ngx_beacon_json_str_next(const unsigned char **pp,
    const unsigned char *end, unsigned char *u8, size_t *n);
static int ngx_beacon_json_number(const unsigned char **pp,
    const unsigned char *end);
static int ngx_beacon_json_literal(const unsigned char **pp,
    const unsigned char *end, const char *lit, size_t n);
static int ngx_beacon_json_value(const unsigned char **pp,
    const unsigned char *end, unsigned depth, ngx_beacon_json_val_t *v);
static int ngx_beacon_json_next(ngx_beacon_json_iter_t *it,
    ngx_beacon_json_val_t *key, ngx_beacon_json_val_t *v);
static int ngx_beacon_json_b64val(int c);
static int ngx_beacon_compat_nonce_ok(const char *nonce);


static const unsigned char *
ngx_beacon_json_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/* the one UTF-8 check of the module: JSON strings and WebSocket text */

int
ngx_beacon_json_utf8_valid(const unsigned char *p, size_t n)
{
    size_t                k;
    const unsigned char  *end;

    end = p + n;

    while (p < end) {
        k = ngx_beacon_json_utf8(p, end);

        if (k == 0) {
            return 0;
        }

        p += k;
    }

    return 1;
}


/* the length of the UTF-8 sequence at p (RFC 3629), 0 if ill-formed */

static size_t
ngx_beacon_json_utf8(const unsigned char *p, const unsigned char *end)
{
    size_t         k, need;
    unsigned char  c, lo, hi;

    c = p[0];

    if (c < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;

    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if ((size_t) (end - p) - 1 < need) {
        return 0;
    }

    if (p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (k = 2; k <= need; k++) {
        if ((p[k] & 0xc0) != 0x80) {
            return 0;
        }
    }

    return need + 1;
}


static int
ngx_beacon_json_hex4(const unsigned char *p, uint32_t *cp)
{
    int            i;
    uint32_t       v;
    unsigned char  c;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            v = (v << 4) | (uint32_t) (c - '0');

        } else if (c >= 'a' && c <= 'f') {
            v = (v << 4) | (uint32_t) (c - 'a' + 10);

        } else if (c >= 'A' && c <= 'F') {
            v = (v << 4) | (uint32_t) (c - 'A' + 10);

        } else {
            return -1;
        }
    }

    *cp = v;

    return 0;
}


/*
 * One character of a string body at *pp: returns 1 with its UTF-8 bytes
 * in u8 (1 to 4) and *n set, 0 at the closing quote (consumed), or
 * NGX_BEACON_JSON_ERROR.
 */

static int
ngx_beacon_json_str_next(const unsigned char **pp, const unsigned char *end,
    unsigned char *u8, size_t *n)
{
    size_t                k;
    uint32_t              cp, lo;
    unsigned char         c;
    const unsigned char  *p;

    p = *pp;

    if (p == end) {
        return NGX_BEACON_JSON_ERROR;
    }

    c = *p;

    if (c == '"') {
        *pp = p + 1;
        return 0;
    }

    if (c < 0x20) {
        return NGX_BEACON_JSON_ERROR;
    }

    if (c != '\\') {
        k = ngx_beacon_json_utf8(p, end);

        if (k == 0) {
            return NGX_BEACON_JSON_ERROR;
        }

        memcpy(u8, p, k);
        *n = k;
        *pp = p + k;

        return 1;
    }

    if (++p == end) {
        return NGX_BEACON_JSON_ERROR;
    }

    switch (*p) {

    case '"':
    case '\\':
    case '/':
        c = *p;
        break;

    case 'b':
        c = '\b';
        break;

    case 'f':
        c = '\f';
        break;

    case 'n':
        c = '\n';
        break;

    case 'r':
        c = '\r';
        break;

    case 't':
        c = '\t';
        break;

    case 'u':
        if (end - p < 5 || ngx_beacon_json_hex4(p + 1, &cp) != 0) {
            return NGX_BEACON_JSON_ERROR;
        }

        p += 5;

        if (cp >= 0xdc00 && cp <= 0xdfff) {
            /* a low surrogate on its own */
            return NGX_BEACON_JSON_ERROR;
        }

        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u'
                || ngx_beacon_json_hex4(p + 2, &lo) != 0
                || lo < 0xdc00 || lo > 0xdfff)
            {
                return NGX_BEACON_JSON_ERROR;
            }

            p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }

        if (cp < 0x80) {
            u8[0] = (unsigned char) cp;
            *n = 1;

        } else if (cp < 0x800) {
            u8[0] = (unsigned char) (0xc0 | (cp >> 6));
            u8[1] = (unsigned char) (0x80 | (cp & 0x3f));
            *n = 2;

        } else if (cp < 0x10000) {
            u8[0] = (unsigned char) (0xe0 | (cp >> 12));
            u8[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            u8[2] = (unsigned char) (0x80 | (cp & 0x3f));
            *n = 3;

        } else {
            u8[0] = (unsigned char) (0xf0 | (cp >> 18));
            u8[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
            u8[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            u8[3] = (unsigned char) (0x80 | (cp & 0x3f));
            *n = 4;
        }

        *pp = p;

        return 1;

    default:
        return NGX_BEACON_JSON_ERROR;
    }

    u8[0] = c;
    *n = 1;
    *pp = p + 1;

    return 1;
}


/* number = [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ e [+-] 1*DIGIT ] */

static int
ngx_beacon_json_number(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char  *p, *s;

    p = *pp;

    if (p < end && *p == '-') {
        p++;
    }

    if (p == end) {
        return NGX_BEACON_JSON_ERROR;
    }

    if (*p == '0') {
        p++;

    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

    } else {
        return NGX_BEACON_JSON_ERROR;
    }

    if (p < end && *p == '.') {
        s = ++p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == s) {
            return NGX_BEACON_JSON_ERROR;
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        s = p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == s) {
            return NGX_BEACON_JSON_ERROR;
        }
    }

    *pp = p;

    return NGX_BEACON_JSON_OK;
}


static int
ngx_beacon_json_literal(const unsigned char **pp, const unsigned char *end,
    const char *lit, size_t n)
{
    if ((size_t) (end - *pp) < n || memcmp(*pp, lit, n) != 0) {
        return NGX_BEACON_JSON_ERROR;
    }

    *pp += n;

    return NGX_BEACON_JSON_OK;
}


/* one value at *pp, inside depth open containers */

static int
ngx_beacon_json_value(const unsigned char **pp, const unsigned char *end,
    unsigned depth, ngx_beacon_json_val_t *v)
{
    int                     rc;
    size_t                  n;
    unsigned char           u8[4];
    const unsigned char    *p;
    ngx_beacon_json_val_t   e;
    ngx_beacon_json_iter_t  it;

    p = *pp;

    if (p == end) {
        return NGX_BEACON_JSON_ERROR;
    }

    v->data = p;

    switch (*p) {

    case '"':
        v->type = NGX_BEACON_JSON_STRING;
        p++;

        do {
            rc = ngx_beacon_json_str_next(&p, end, u8, &n);
        } while (rc == 1);

        if (rc != 0) {
            return NGX_BEACON_JSON_ERROR;
        }

        break;

    case '{':
    case '[':
        if (depth >= NGX_BEACON_JSON_DEPTH_MAX) {
            return NGX_BEACON_JSON_ERROR;
        }

        v->type = (*p == '{') ? NGX_BEACON_JSON_OBJECT : NGX_BEACON_JSON_ARRAY;

        it.pos = p + 1;
        it.end = end;
        it.type = v->type;
        it.depth = depth + 1;
        it.first = 1;
        it.done = 0;
        it.exact = 0;

        do {
            rc = ngx_beacon_json_next(&it, NULL, &e);
        } while (rc == NGX_BEACON_JSON_OK);

        if (rc != NGX_BEACON_JSON_END) {
            return NGX_BEACON_JSON_ERROR;
        }

        p = it.pos;
        break;

    case 't':
        v->type = NGX_BEACON_JSON_TRUE;

        if (ngx_beacon_json_literal(&p, end, "true", 4) != 0) {
            return NGX_BEACON_JSON_ERROR;
        }

        break;

    case 'f':
        v->type = NGX_BEACON_JSON_FALSE;

        if (ngx_beacon_json_literal(&p, end, "false", 5) != 0) {
            return NGX_BEACON_JSON_ERROR;
        }

        break;

    case 'n':
        v->type = NGX_BEACON_JSON_NULL;

        if (ngx_beacon_json_literal(&p, end, "null", 4) != 0) {
            return NGX_BEACON_JSON_ERROR;
        }

        break;

    default:
        v->type = NGX_BEACON_JSON_NUMBER;

        if (ngx_beacon_json_number(&p, end) != 0) {
            return NGX_BEACON_JSON_ERROR;
        }

        break;
    }

    v->len = (size_t) (p - v->data);
    *pp = p;

    return NGX_BEACON_JSON_OK;
}


/*
 * The next member or element; it->pos is left after the closing bracket
 * at NGX_BEACON_JSON_END.  After an error every call fails again.
 */

static int
ngx_beacon_json_next(ngx_beacon_json_iter_t *it, ngx_beacon_json_val_t *key,
    ngx_beacon_json_val_t *v)
{
    int                    rc;
    unsigned char          close;
    const unsigned char   *p, *end;
    ngx_beacon_json_val_t  k;

    if (it->done) {
        return (it->pos != NULL) ? NGX_BEACON_JSON_END
                                 : NGX_BEACON_JSON_ERROR;
    }

    end = it->end;
    close = (it->type == NGX_BEACON_JSON_OBJECT) ? '}' : ']';

    p = ngx_beacon_json_ws(it->pos, end);

    if (it->first) {
        it->first = 0;

        if (p < end && *p == close) {
            goto done;
        }

    } else {
        if (p == end) {
            goto failed;
        }

        if (*p == close) {
            goto done;
        }

        if (*p != ',') {
            goto failed;
        }

        p = ngx_beacon_json_ws(p + 1, end);
    }

    if (it->type == NGX_BEACON_JSON_OBJECT) {
        if (p == end || *p != '"'
            || ngx_beacon_json_value(&p, end, it->depth, &k) != 0)
        {
            goto failed;
        }

        p = ngx_beacon_json_ws(p, end);

        if (p == end || *p != ':') {
            goto failed;
        }

        p = ngx_beacon_json_ws(p + 1, end);

        if (key != NULL) {
            *key = k;
        }

    } else if (key != NULL) {
        key->type = 0;
        key->data = NULL;
        key->len = 0;
    }

    rc = ngx_beacon_json_value(&p, end, it->depth, v);

    if (rc != NGX_BEACON_JSON_OK) {
        goto failed;
    }

    it->pos = p;

    return NGX_BEACON_JSON_OK;

done:

    it->pos = p + 1;
    it->done = 1;

    if (it->exact && it->pos != it->end) {
        goto failed;
    }

    return NGX_BEACON_JSON_END;

failed:

    it->pos = NULL;
    it->done = 1;

    return NGX_BEACON_JSON_ERROR;
}


int
ngx_beacon_json_parse(const unsigned char *json, size_t len,
    ngx_beacon_json_val_t *v)
{
    const unsigned char    *p, *end;
    ngx_beacon_json_val_t   val;

    p = json;
    end = json + len;

    p = ngx_beacon_json_ws(p, end);

    if (ngx_beacon_json_value(&p, end, 0, &val) != NGX_BEACON_JSON_OK) {
        return NGX_BEACON_JSON_ERROR;
    }

    if (ngx_beacon_json_ws(p, end) != end) {
        return NGX_BEACON_JSON_ERROR;
    }

    *v = val;

    return NGX_BEACON_JSON_OK;
}


int
ngx_beacon_json_iter_init(ngx_beacon_json_iter_t *it,
    const ngx_beacon_json_val_t *v)
{
    if (v->type != NGX_BEACON_JSON_OBJECT && v->type != NGX_BEACON_JSON_ARRAY)
    {
        return NGX_BEACON_JSON_TYPE;
    }

    it->type = v->type;
    it->depth = 1;
    it->first = 1;
    it->exact = 1;

    if (v->len < 2
        || v->data[0] != (v->type == NGX_BEACON_JSON_OBJECT ? '{' : '['))
    {
        /* a hand-made value: report it at the first iter_next() */
        it->pos = NULL;
        it->end = NULL;
        it->done = 1;

        return NGX_BEACON_JSON_OK;
    }

    it->pos = v->data + 1;
    it->end = v->data + v->len;
    it->done = 0;

    return NGX_BEACON_JSON_OK;
}


int
ngx_beacon_json_iter_next(ngx_beacon_json_iter_t *it,
    ngx_beacon_json_val_t *key, ngx_beacon_json_val_t *v)
{
    return ngx_beacon_json_next(it, key, v);
}


int
ngx_beacon_json_get(const ngx_beacon_json_val_t *obj, const char *key,
    ngx_beacon_json_val_t *v)
{
    int                     rc, found;
    ngx_beacon_json_val_t   k, e, res;
    ngx_beacon_json_iter_t  it;

    if (obj->type != NGX_BEACON_JSON_OBJECT) {
        return NGX_BEACON_JSON_TYPE;
    }

    (void) ngx_beacon_json_iter_init(&it, obj);

    found = 0;
    res.type = 0;
    res.data = NULL;
    res.len = 0;

    while ((rc = ngx_beacon_json_next(&it, &k, &e)) == NGX_BEACON_JSON_OK) {
        if (ngx_beacon_json_string_eq(&k, key)) {
            res = e;
            found = 1;
        }
    }

    if (rc != NGX_BEACON_JSON_END) {
        return NGX_BEACON_JSON_ERROR;
    }

    if (!found) {
        return NGX_BEACON_JSON_NOT_FOUND;
    }

    *v = res;

    return NGX_BEACON_JSON_OK;
}


int
ngx_beacon_json_object_get(const unsigned char *json, size_t len,
    const char *key, ngx_beacon_json_val_t *v)
{
    ngx_beacon_json_val_t  top;

    if (ngx_beacon_json_parse(json, len, &top) != NGX_BEACON_JSON_OK) {
        return NGX_BEACON_JSON_ERROR;
    }

    return ngx_beacon_json_get(&top, key, v);
}


int
ngx_beacon_json_string(const ngx_beacon_json_val_t *v, unsigned char *out,
    size_t cap, size_t *outlen)
{
    int                   rc;
    size_t                n, o;
    unsigned char         u8[4];
    const unsigned char  *p, *end;

    if (v->type != NGX_BEACON_JSON_STRING) {
        return NGX_BEACON_JSON_TYPE;
    }

    if (v->len < 2 || v->data[0] != '"') {
        return NGX_BEACON_JSON_ERROR;
    }

    p = v->data + 1;
    end = v->data + v->len;
    o = 0;

    for ( ;; ) {
        rc = ngx_beacon_json_str_next(&p, end, u8, &n);

        if (rc == 0) {
            break;
        }

        if (rc != 1) {
            return NGX_BEACON_JSON_ERROR;
        }

        /* o < cap holds here, and the NUL needs a byte too */

        if (cap - o <= n) {
            return NGX_BEACON_JSON_RANGE;
        }

        memcpy(out + o, u8, n);
        o += n;
    }

    if (p != end) {
        return NGX_BEACON_JSON_ERROR;
    }

    if (cap <= o) {
        return NGX_BEACON_JSON_RANGE;
    }

    out[o] = '\0';
    *outlen = o;

    return NGX_BEACON_JSON_OK;
}


int
ngx_beacon_json_string_eq(const ngx_beacon_json_val_t *v, const char *s)
{
    int                   rc;
    size_t                i, n;
    unsigned char         u8[4];
    const unsigned char  *p, *end, *sp;

    if (v->type != NGX_BEACON_JSON_STRING || v->len < 2
        || v->data[0] != '"')
    {
        return 0;
    }

    p = v->data + 1;
    end = v->data + v->len;
    sp = (const unsigned char *) s;

    for ( ;; ) {
        rc = ngx_beacon_json_str_next(&p, end, u8, &n);

        if (rc == 0) {
            return *sp == '\0' && p == end;
        }

        if (rc != 1) {
            return 0;
        }

        for (i = 0; i < n; i++) {
            if (*sp == '\0' || *sp != u8[i]) {
                return 0;
            }

            sp++;
        }
    }
}


int
ngx_beacon_json_uint(const ngx_beacon_json_val_t *v, uint64_t max,
    uint64_t *out)
{
    size_t    i;
    uint64_t  x, d;

    if (v->type != NGX_BEACON_JSON_NUMBER) {
        return NGX_BEACON_JSON_TYPE;
    }

    if (v->len == 0) {
        return NGX_BEACON_JSON_ERROR;
    }

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            /* a sign, fraction or exponent */
            return NGX_BEACON_JSON_TYPE;
        }
    }

    if (v->len > 1 && v->data[0] == '0') {
        return NGX_BEACON_JSON_ERROR;
    }

    x = 0;

    for (i = 0; i < v->len; i++) {
        d = (uint64_t) (v->data[i] - '0');

        if (x > max / 10) {
            return NGX_BEACON_JSON_RANGE;
        }

        x *= 10;

        if (d > max - x) {
            return NGX_BEACON_JSON_RANGE;
        }

        x += d;
    }

    *out = x;

    return NGX_BEACON_JSON_OK;
}


static int
ngx_beacon_json_b64val(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}


int
ngx_beacon_json_base64(const ngx_beacon_json_val_t *v, unsigned char *out,
    size_t n)
{
    int                   rc, d;
    size_t                k, i, o, need, data;
    uint32_t              acc;
    unsigned              bits;
    unsigned char         u8[4];
    const unsigned char  *p, *end;

    if (v->type != NGX_BEACON_JSON_STRING) {
        return NGX_BEACON_JSON_TYPE;
    }

    if (v->len < 2 || v->data[0] != '"' || n > SIZE_MAX / 4 - 3) {
        return NGX_BEACON_JSON_ERROR;
    }

    need = 4 * ((n + 2) / 3);
    data = need - (3 - n % 3) % 3;

    p = v->data + 1;
    end = v->data + v->len;

    i = 0;
    o = 0;
    acc = 0;
    bits = 0;

    for ( ;; ) {
        rc = ngx_beacon_json_str_next(&p, end, u8, &k);

        if (rc == 0) {
            break;
        }

        if (rc != 1 || k != 1 || i == need) {
            return NGX_BEACON_JSON_ERROR;
        }

        if (i >= data) {
            if (u8[0] != '=') {
                return NGX_BEACON_JSON_ERROR;
            }

            i++;
            continue;
        }

        d = ngx_beacon_json_b64val(u8[0]);

        if (d < 0) {
            return NGX_BEACON_JSON_ERROR;
        }

        acc = (acc << 6) | (uint32_t) d;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }

        i++;
    }

    if (p != end || i != need || o != n) {
        return NGX_BEACON_JSON_ERROR;
    }

    return NGX_BEACON_JSON_OK;
}


static int
ngx_beacon_compat_nonce_ok(const char *nonce)
{
    size_t  i;

    for (i = 0; i < NGX_BEACON_COMPAT_NONCE_LEN; i++) {
        if (!((nonce[i] >= '0' && nonce[i] <= '9')
              || (nonce[i] >= 'a' && nonce[i] <= 'f')))
        {
            return 0;
        }
    }

    return nonce[i] == '\0';
}


size_t
ngx_beacon_compat_challenge(unsigned char *out, size_t cap,
    const char *nonce_hex64, int64_t ts)
{
    int   n;
    char  buf[NGX_BEACON_COMPAT_CHALLENGE_MAX + 1];

    if (!ngx_beacon_compat_nonce_ok(nonce_hex64)) {
        return 0;
    }

    n = snprintf(buf, sizeof(buf),
                 "{\"type\":\"auth_challenge\",\"nonce\":\"%s\",\"ts\":%lld}",
                 nonce_hex64, (long long) ts);

    if (n < 0 || (size_t) n >= sizeof(buf) || (size_t) n > cap) {
        return 0;
    }

    memcpy(out, buf, (size_t) n);

    return (size_t) n;
}


int
ngx_beacon_compat_parse_reply(const unsigned char *json, size_t len,
    uint32_t *node_id, unsigned char *sig64)
{
    uint64_t               id;
    unsigned char          sig[NGX_BEACON_COMPAT_SIG_LEN];
    ngx_beacon_json_val_t  top, v;

    if (ngx_beacon_json_parse(json, len, &top) != NGX_BEACON_JSON_OK
        || top.type != NGX_BEACON_JSON_OBJECT)
    {
        return NGX_BEACON_COMPAT_BAD_JSON;
    }

    if (ngx_beacon_json_get(&top, "type", &v) != NGX_BEACON_JSON_OK
        || !ngx_beacon_json_string_eq(&v, "auth_reply"))
    {
        return NGX_BEACON_COMPAT_BAD_TYPE;
    }

    if (ngx_beacon_json_get(&top, "node_id", &v) != NGX_BEACON_JSON_OK
        || ngx_beacon_json_uint(&v, 0xffffffff, &id) != NGX_BEACON_JSON_OK
        || id == 0)
    {
        return NGX_BEACON_COMPAT_BAD_NODE;
    }

    if (ngx_beacon_json_get(&top, "sig", &v) != NGX_BEACON_JSON_OK
        || ngx_beacon_json_base64(&v, sig, sizeof(sig)) != NGX_BEACON_JSON_OK)
    {
        return NGX_BEACON_COMPAT_BAD_SIG;
    }

    *node_id = (uint32_t) id;
    memcpy(sig64, sig, sizeof(sig));

    return 0;
}


size_t
ngx_beacon_compat_preimage(char *out, size_t cap, uint32_t node_id,
    int64_t ts, const char *nonce_hex64)
{
    int  n;

    if (!ngx_beacon_compat_nonce_ok(nonce_hex64) || cap == 0) {
        return 0;
    }

    n = snprintf(out, cap, "compat_auth:%u:%lld:%s", (unsigned) node_id,
                 (long long) ts, nonce_hex64);

    if (n < 0 || (size_t) n >= cap) {
        out[0] = '\0';
        return 0;
    }

    return (size_t) n;
}


int
ngx_beacon_compat_verify(const unsigned char *key32, uint32_t node_id,
    int64_t ts, const char *nonce_hex64, const unsigned char *sig64)
{
    char    pre[NGX_BEACON_COMPAT_PREIMAGE_MAX];
    size_t  n;

    n = ngx_beacon_compat_preimage(pre, sizeof(pre), node_id, ts,
                                   nonce_hex64);
    if (n == 0) {
        return -1;
    }

    return crypto_sign_verify_detached(sig64, (const unsigned char *) pre, n,
                                       key32) == 0 ? 0 : -1;
}


uint32_t
ngx_beacon_registry_get_len(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}


void
ngx_beacon_registry_put_len(unsigned char *p, uint32_t len)
{
    p[0] = (unsigned char) (len >> 24);
    p[1] = (unsigned char) (len >> 16);
    p[2] = (unsigned char) (len >> 8);
    p[3] = (unsigned char) len;
}


int
ngx_beacon_registry_frame(const unsigned char *buf, size_t len, size_t max,
    size_t *json_len)
{
    uint32_t  n;

    if (len < NGX_BEACON_REGISTRY_HDR_LEN) {
        return 1;
    }

    n = ngx_beacon_registry_get_len(buf);

    if (n > max) {
        return -1;
    }

    if (len - NGX_BEACON_REGISTRY_HDR_LEN < n) {
        return 1;
    }

    *json_len = n;

    return 0;
}


size_t
ngx_beacon_registry_lookup(unsigned char *out, size_t cap, uint32_t node_id)
{
    int   n;
    char  buf[NGX_BEACON_REGISTRY_LOOKUP_MAX + 1];

    n = snprintf(buf, sizeof(buf), "{\"type\":\"lookup\",\"node_id\":%u}",
                 (unsigned) node_id);

    if (n < 0 || (size_t) n >= sizeof(buf)
        || cap < NGX_BEACON_REGISTRY_HDR_LEN + (size_t) n)
    {
        return 0;
    }

    ngx_beacon_registry_put_len(out, (uint32_t) n);
    memcpy(out + NGX_BEACON_REGISTRY_HDR_LEN, buf, (size_t) n);

    return NGX_BEACON_REGISTRY_HDR_LEN + (size_t) n;
}


int
ngx_beacon_registry_parse_key(const unsigned char *json, size_t len,
    unsigned char *key32)
{
    unsigned char          key[NGX_BEACON_COMPAT_KEY_LEN];
    ngx_beacon_json_val_t  top, v;

    if (ngx_beacon_json_parse(json, len, &top) != NGX_BEACON_JSON_OK
        || top.type != NGX_BEACON_JSON_OBJECT)
    {
        return -1;
    }

    if (ngx_beacon_json_get(&top, "type", &v) == NGX_BEACON_JSON_OK
        && ngx_beacon_json_string_eq(&v, "error"))
    {
        return 1;
    }

    if (ngx_beacon_json_get(&top, "public_key", &v) != NGX_BEACON_JSON_OK
        || v.type == NGX_BEACON_JSON_NULL
        || ngx_beacon_json_string_eq(&v, ""))
    {
        return 1;
    }

    if (ngx_beacon_json_base64(&v, key, sizeof(key)) != NGX_BEACON_JSON_OK) {
        return -1;
    }

    memcpy(key32, key, sizeof(key));

    return 0;
}
