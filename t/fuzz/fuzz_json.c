
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for the JSON reader and the compat login and registry
 * messages (ngx_beacon_json.c).  Every input is parsed as a JSON text;
 * a valid one is walked completely with the iterators, and every value is
 * checked: its raw text parses on its own to the same type, strings
 * decode to UTF-8 no longer than their raw text, integers agree with
 * strtoull(), member lookups find their members.  Wrapping a valid text
 * in whitespace or an array keeps it valid (up to the depth limit),
 * trailing bytes make it invalid.  The input also goes through
 * compat_parse_reply, registry_parse_key and registry_frame, and drives
 * the encoders, whose output must read back.  Any mismatch abort()s.
 *
 *   bash t/fuzz/run.sh [SECONDS]
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ngx_beacon_json.h"
#include "utf8_model.h"


/* member lookups checked per object, to keep big objects linear */
#define FUZZ_GETS  16


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond);
static void fuzz_value(const ngx_beacon_json_val_t *v, unsigned depth,
    unsigned *maxdepth);
static void fuzz_string(const ngx_beacon_json_val_t *v);
static void fuzz_number(const ngx_beacon_json_val_t *v);
static void fuzz_container(const ngx_beacon_json_val_t *v, unsigned depth,
    unsigned *maxdepth);
static void fuzz_wrap(const uint8_t *data, size_t size, size_t end,
    unsigned maxdepth);
static void fuzz_messages(const uint8_t *data, size_t size, int valid);
static void fuzz_encoders(const uint8_t *data, size_t size);


/* RFC 8032 test key 1, so that signature checks run on real inputs */
static const uint8_t  fuzz_key[32] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7,
    0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25,
    0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a
};

static uint8_t  fuzz_out[65536 + 8];


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


static void
fuzz_string(const ngx_beacon_json_val_t *v)
{
    int            rc;
    size_t         n, m;
    unsigned char  b[64];

    fuzz_check(v->len >= 2 && v->data[0] == '"'
               && v->data[v->len - 1] == '"');

    rc = ngx_beacon_json_string(v, fuzz_out, v->len - 1, &n);

    /* unescaping never grows: \uXXXX is 6 bytes for at most 3 */
    fuzz_check(rc == NGX_BEACON_JSON_OK && n <= v->len - 2
               && fuzz_out[n] == '\0');
    fuzz_check(model_utf8(fuzz_out, n));

    if (n > 0) {
        fuzz_check(ngx_beacon_json_string(v, b, n < sizeof(b) ? n : 0, &m)
                   == NGX_BEACON_JSON_RANGE);
    }

    if (strlen((char *) fuzz_out) == n) {
        fuzz_check(ngx_beacon_json_string_eq(v, (char *) fuzz_out));

        if (n > 0) {
            fuzz_out[n - 1] ^= 1;
            fuzz_check(!ngx_beacon_json_string_eq(v, (char *) fuzz_out));
            fuzz_out[n - 1] ^= 1;
            fuzz_out[n - 1] = '\0';
            fuzz_check(!ngx_beacon_json_string_eq(v, (char *) fuzz_out));
        }
    }

    (void) ngx_beacon_json_base64(v, b, 16);
    (void) ngx_beacon_json_base64(v, b, 32);

    if (ngx_beacon_json_base64(v, b, 64) == NGX_BEACON_JSON_OK) {
        fuzz_check(n == 88);
        (void) ngx_beacon_compat_verify(fuzz_key, 4242, 1767225600,
            "0000000000000000000000000000000000000000000000000000000000000000",
            b);
    }
}


static void
fuzz_number(const ngx_beacon_json_val_t *v)
{
    int                 rc;
    char                buf[32], *end;
    size_t              i;
    uint64_t            x, y;
    unsigned long long  r;

    rc = ngx_beacon_json_uint(v, UINT64_MAX, &x);

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < '0' || v->data[i] > '9') {
            break;
        }
    }

    if (i < v->len) {
        fuzz_check(rc == NGX_BEACON_JSON_TYPE);
        return;
    }

    if (v->len > 20) {
        fuzz_check(rc == NGX_BEACON_JSON_RANGE);
        return;
    }

    memcpy(buf, v->data, v->len);
    buf[v->len] = '\0';

    r = strtoull(buf, &end, 10);

    if (rc == NGX_BEACON_JSON_OK) {
        fuzz_check(*end == '\0' && r == x);

        rc = ngx_beacon_json_uint(v, x, &y);
        fuzz_check(rc == NGX_BEACON_JSON_OK && y == x);

        if (x > 0) {
            fuzz_check(ngx_beacon_json_uint(v, x - 1, &y)
                       == NGX_BEACON_JSON_RANGE);
        }

        rc = ngx_beacon_json_uint(v, 0xffffffff, &y);
        fuzz_check(rc == (x <= 0xffffffff ? NGX_BEACON_JSON_OK
                                          : NGX_BEACON_JSON_RANGE));

    } else {
        fuzz_check(rc == NGX_BEACON_JSON_RANGE && v->len == 20);
    }
}


static void
fuzz_container(const ngx_beacon_json_val_t *v, unsigned depth,
    unsigned *maxdepth)
{
    int                     rc;
    size_t                  n, gets;
    ngx_beacon_json_val_t   k, e, g;
    ngx_beacon_json_iter_t  it;

    fuzz_check(ngx_beacon_json_iter_init(&it, v) == NGX_BEACON_JSON_OK);

    gets = 0;

    while ((rc = ngx_beacon_json_iter_next(&it, &k, &e))
           == NGX_BEACON_JSON_OK)
    {
        fuzz_check(e.data > v->data && e.data + e.len < v->data + v->len);

        if (v->type == NGX_BEACON_JSON_OBJECT) {
            fuzz_check(k.type == NGX_BEACON_JSON_STRING && k.data > v->data
                       && k.data + k.len <= e.data);

            fuzz_string(&k);

            /* get finds this member or a later one of the same name */

            if (gets++ < FUZZ_GETS
                && ngx_beacon_json_string(&k, fuzz_out, sizeof(fuzz_out), &n)
                   == NGX_BEACON_JSON_OK
                && strlen((char *) fuzz_out) == n)
            {
                fuzz_check(ngx_beacon_json_get(v, (char *) fuzz_out, &g)
                           == NGX_BEACON_JSON_OK);
                fuzz_check(g.data >= e.data && g.type != 0);
            }

        } else {
            fuzz_check(k.data == NULL && k.len == 0);
        }

        fuzz_value(&e, depth + 1, maxdepth);
    }

    fuzz_check(rc == NGX_BEACON_JSON_END);
    fuzz_check(ngx_beacon_json_iter_next(&it, &k, &e) == NGX_BEACON_JSON_END);

    if (v->type == NGX_BEACON_JSON_ARRAY) {
        fuzz_check(ngx_beacon_json_get(v, "a", &g) == NGX_BEACON_JSON_TYPE);
    }
}


static void
fuzz_value(const ngx_beacon_json_val_t *v, unsigned depth,
    unsigned *maxdepth)
{
    ngx_beacon_json_val_t   w;
    ngx_beacon_json_iter_t  it;

    /* depth: the number of containers around v */
    fuzz_check(depth <= NGX_BEACON_JSON_DEPTH_MAX && v->len > 0);

    /* the raw text of a value is a JSON text of its own */

    fuzz_check(ngx_beacon_json_parse(v->data, v->len, &w)
               == NGX_BEACON_JSON_OK);
    fuzz_check(w.type == v->type && w.data == v->data && w.len == v->len);

    switch (v->type) {

    case NGX_BEACON_JSON_OBJECT:
    case NGX_BEACON_JSON_ARRAY:
        /* *maxdepth: the deepest nesting of containers */

        if (depth + 1 > *maxdepth) {
            *maxdepth = depth + 1;
        }

        fuzz_check(depth + 1 <= NGX_BEACON_JSON_DEPTH_MAX);
        fuzz_container(v, depth, maxdepth);
        break;

    case NGX_BEACON_JSON_STRING:
        fuzz_check(ngx_beacon_json_iter_init(&it, v) == NGX_BEACON_JSON_TYPE);
        fuzz_string(v);
        break;

    case NGX_BEACON_JSON_NUMBER:
        fuzz_number(v);
        break;

    case NGX_BEACON_JSON_TRUE:
        fuzz_check(v->len == 4 && memcmp(v->data, "true", 4) == 0);
        break;

    case NGX_BEACON_JSON_FALSE:
        fuzz_check(v->len == 5 && memcmp(v->data, "false", 5) == 0);
        break;

    case NGX_BEACON_JSON_NULL:
        fuzz_check(v->len == 4 && memcmp(v->data, "null", 4) == 0);
        break;

    default:
        abort();
    }

    if (v->type != NGX_BEACON_JSON_STRING) {
        fuzz_check(ngx_beacon_json_string(v, fuzz_out, sizeof(fuzz_out),
                                          NULL)
                   == NGX_BEACON_JSON_TYPE);
    }
}


/* end: where the top-level value ends, trailing whitespace excluded */

static void
fuzz_wrap(const uint8_t *data, size_t size, size_t end, unsigned maxdepth)
{
    size_t                  k;
    uint8_t                *p;
    ngx_beacon_json_val_t   v;

    p = malloc(size + 2);
    fuzz_check(p != NULL);

    /* in an array: one level deeper */

    p[0] = '[';
    memcpy(p + 1, data, size);
    p[size + 1] = ']';

    fuzz_check(ngx_beacon_json_parse(p, size + 2, &v)
               == (maxdepth < NGX_BEACON_JSON_DEPTH_MAX
                   ? NGX_BEACON_JSON_OK : NGX_BEACON_JSON_ERROR));

    /* whitespace around it */

    p[0] = '\n';
    p[size + 1] = ' ';

    fuzz_check(ngx_beacon_json_parse(p, size + 2, &v) == NGX_BEACON_JSON_OK);

    /* anything else after it */

    p[size + 1] = 'x';
    fuzz_check(ngx_beacon_json_parse(p, size + 2, &v)
               == NGX_BEACON_JSON_ERROR);

    free(p);

    /* a proper prefix of a container or string is never a JSON text */

    if (data[0] == '{' || data[0] == '[' || data[0] == '"') {
        for (k = 0; k < end && k < 64; k++) {
            p = malloc(k ? k : 1);
            fuzz_check(p != NULL);
            memcpy(p, data, k);
            fuzz_check(ngx_beacon_json_parse(p, k, &v)
                       == NGX_BEACON_JSON_ERROR);
            free(p);
        }
    }
}


static void
fuzz_messages(const uint8_t *data, size_t size, int valid)
{
    int                    rc;
    size_t                 jl;
    uint8_t                sig[64], key[32];
    uint32_t               id;
    ngx_beacon_json_val_t  v;

    rc = ngx_beacon_compat_parse_reply(data, size, &id, sig);

    fuzz_check(rc == 0 || rc == NGX_BEACON_COMPAT_BAD_JSON
               || rc == NGX_BEACON_COMPAT_BAD_TYPE
               || rc == NGX_BEACON_COMPAT_BAD_NODE
               || rc == NGX_BEACON_COMPAT_BAD_SIG);

    if (!valid) {
        fuzz_check(rc == NGX_BEACON_COMPAT_BAD_JSON);
    }

    if (rc == 0) {
        fuzz_check(id != 0);
        fuzz_check(ngx_beacon_json_object_get(data, size, "type", &v)
                   == NGX_BEACON_JSON_OK
                   && ngx_beacon_json_string_eq(&v, "auth_reply"));
        (void) ngx_beacon_compat_verify(fuzz_key, id, 1767225600,
            "0000000000000000000000000000000000000000000000000000000000000000",
            sig);
    }

    rc = ngx_beacon_registry_parse_key(data, size, key);
    fuzz_check(rc == 0 || rc == 1 || rc == -1);

    if (!valid) {
        fuzz_check(rc == -1);
    }

    rc = ngx_beacon_registry_frame(data, size, NGX_BEACON_REGISTRY_REPLY_MAX,
                                   &jl);
    fuzz_check(rc == 0 || rc == 1 || rc == -1);

    if (rc == 0) {
        fuzz_check(NGX_BEACON_REGISTRY_HDR_LEN + jl <= size);
        (void) ngx_beacon_registry_parse_key(data + 4, jl, key);
        (void) ngx_beacon_json_object_get(data + 4, jl, "beacons", &v);
    }
}


static void
fuzz_encoders(const uint8_t *data, size_t size)
{
    char                   nonce[65], pre[NGX_BEACON_COMPAT_PREIMAGE_MAX];
    size_t                 i, n;
    int64_t                ts;
    uint8_t                out[NGX_BEACON_COMPAT_CHALLENGE_MAX];
    uint32_t               id;
    uint64_t               x;
    unsigned char          s[80];
    ngx_beacon_json_val_t  v;

    if (size < 44) {
        return;
    }

    sodium_bin2hex(nonce, sizeof(nonce), data, 32);
    memcpy(&ts, data + 32, 8);
    memcpy(&id, data + 40, 4);

    n = ngx_beacon_compat_challenge(out, sizeof(out), nonce, ts);
    fuzz_check(n > 0 && n <= NGX_BEACON_COMPAT_CHALLENGE_MAX);

    fuzz_check(ngx_beacon_json_object_get(out, n, "type", &v)
               == NGX_BEACON_JSON_OK
               && ngx_beacon_json_string_eq(&v, "auth_challenge"));
    fuzz_check(ngx_beacon_json_object_get(out, n, "nonce", &v)
               == NGX_BEACON_JSON_OK
               && ngx_beacon_json_string(&v, s, sizeof(s), &i)
                  == NGX_BEACON_JSON_OK
               && i == 64 && memcmp(s, nonce, 64) == 0);
    fuzz_check(ngx_beacon_json_object_get(out, n, "ts", &v)
               == NGX_BEACON_JSON_OK);

    if (ts >= 0) {
        fuzz_check(ngx_beacon_json_uint(&v, UINT64_MAX, &x)
                   == NGX_BEACON_JSON_OK && x == (uint64_t) ts);
    } else {
        fuzz_check(ngx_beacon_json_uint(&v, UINT64_MAX, &x)
                   == NGX_BEACON_JSON_TYPE);
    }

    n = ngx_beacon_compat_preimage(pre, sizeof(pre), id, ts, nonce);
    fuzz_check(n > 0 && n == strlen(pre) && n <= 108
               && memcmp(pre, "compat_auth:", 12) == 0
               && memcmp(pre + n - 64, nonce, 64) == 0);

    /* a nonce that is not 64 lowercase hex digits is refused */
    nonce[data[0] % 64] = (char) data[1];

    if (!((data[1] >= '0' && data[1] <= '9')
          || (data[1] >= 'a' && data[1] <= 'f')))
    {
        fuzz_check(ngx_beacon_compat_challenge(out, sizeof(out), nonce, ts)
                   == 0);
        fuzz_check(ngx_beacon_compat_preimage(pre, sizeof(pre), id, ts,
                                              nonce)
                   == 0);
    }

    n = ngx_beacon_registry_lookup(out, sizeof(out), id);
    fuzz_check(n > 4 && n <= NGX_BEACON_REGISTRY_LOOKUP_MAX
               && ngx_beacon_registry_get_len(out) == n - 4);
    fuzz_check(ngx_beacon_json_object_get(out + 4, n - 4, "node_id", &v)
               == NGX_BEACON_JSON_OK
               && ngx_beacon_json_uint(&v, 0xffffffff, &x)
                  == NGX_BEACON_JSON_OK
               && x == id);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rc, valid;
    unsigned               maxdepth;
    ngx_beacon_json_val_t  top, v;

    static int  inited;

    if (!inited) {
        if (sodium_init() < 0) {
            abort();
        }

        inited = 1;
    }

    rc = ngx_beacon_json_parse(data, size, &top);
    fuzz_check(rc == NGX_BEACON_JSON_OK || rc == NGX_BEACON_JSON_ERROR);

    valid = (rc == NGX_BEACON_JSON_OK);

    if (valid) {
        fuzz_check(top.data >= data && top.data + top.len <= data + size);

        maxdepth = 0;
        fuzz_value(&top, 0, &maxdepth);
        fuzz_wrap(data, size, (size_t) (top.data - data) + top.len,
                  maxdepth);

        rc = ngx_beacon_json_object_get(data, size, "type", &v);
        fuzz_check(top.type == NGX_BEACON_JSON_OBJECT
                   ? rc == NGX_BEACON_JSON_OK || rc == NGX_BEACON_JSON_NOT_FOUND
                   : rc == NGX_BEACON_JSON_TYPE);

    } else {
        fuzz_check(ngx_beacon_json_object_get(data, size, "type", &v)
                   == NGX_BEACON_JSON_ERROR);
    }

    fuzz_messages(data, size, valid);
    fuzz_encoders(data, size);

    return 0;
}
