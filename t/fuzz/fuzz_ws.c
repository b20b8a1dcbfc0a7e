
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for the RFC 6455 codec (ngx_beacon_ws.c).  Every input
 * is used several ways:
 *   - as one frame header: the result must be consistent for every
 *     prefix, a parsed header must re-encode to the input (when its
 *     length encoding is minimal) and agree with the server-side parser;
 *   - as a client byte stream: frames are parsed, unmasked in pieces and
 *     fed to the fragmentation state, checked against a model;
 *   - as a masked payload: unmasking in pieces equals unmasking bytewise;
 *   - as header values: has_token, key_valid, origin_ok and utf8_valid
 *     are checked against simple independent models.
 * Any mismatch abort()s.
 *
 *   bash t/fuzz/run.sh [SECONDS]
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ngx_beacon_ws.h"
#include "ngx_beacon_json.h"
#include "utf8_model.h"


#define FUZZ_MAX_PAYLOAD  4096
#define FUZZ_MAX_MESSAGE  8192


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond);
static int fuzz_lower(int c);
static void fuzz_header(const uint8_t *data, size_t size);
static void fuzz_stream(const uint8_t *data, size_t size);
static void fuzz_unmask(const uint8_t *data, size_t size);
static int model_token(const uint8_t *v, size_t len, const char *t);
static void fuzz_strings(const uint8_t *data, size_t size);
static void fuzz_close(const uint8_t *data, size_t size);


static uint8_t  fuzz_msg[FUZZ_MAX_MESSAGE];
static uint8_t  fuzz_buf[FUZZ_MAX_PAYLOAD + 16];
static uint8_t  fuzz_ref[FUZZ_MAX_PAYLOAD + 16];


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


static int
fuzz_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}


static void
fuzz_header(const uint8_t *data, size_t size)
{
    int                    rc, rk, rs;
    size_t                 k, n, lim;
    uint8_t                out[NGX_BEACON_WS_MASKED_HEADER_MAX], flip[14];
    ngx_beacon_ws_frame_t  f, g;

    rc = ngx_beacon_ws_parse_header(data, size, 65536, &f);

    fuzz_check(rc == 0 || rc == NGX_BEACON_WS_AGAIN || rc == 1002
               || rc == 1009);

    if (rc == NGX_BEACON_WS_AGAIN) {
        fuzz_check(size < NGX_BEACON_WS_MASKED_HEADER_MAX);
    }

    /* every prefix: more bytes needed, or already the final answer */

    lim = size < 16 ? size : 16;

    for (k = 0; k < lim; k++) {
        rk = ngx_beacon_ws_parse_header(data, k, 65536, &g);

        fuzz_check(rk == NGX_BEACON_WS_AGAIN || rk == rc);

        if (rc == 0) {
            fuzz_check((k < f.header_len) == (rk == NGX_BEACON_WS_AGAIN));
        }
    }

    if (rc != 0) {
        return;
    }

    fuzz_check(f.masked && f.header_len <= size);
    fuzz_check(f.header_len == 6 || f.header_len == 8
               || f.header_len == 14);
    fuzz_check(f.payload_len <= 65536);
    fuzz_check(f.opcode <= 2 || (f.opcode >= 8 && f.opcode <= 0xa));
    fuzz_check(!(f.opcode & 8) || (f.fin && f.payload_len <= 125));
    fuzz_check((data[0] & 0x80) == (f.fin ? 0x80 : 0));
    fuzz_check(memcmp(f.mask, data + f.header_len - 4, 4) == 0);

    n = ngx_beacon_ws_header_masked(out, f.opcode, f.fin, f.payload_len,
                                    f.mask);

    if (n == f.header_len) {
        fuzz_check(memcmp(out, data, n) == 0);

    } else {
        /* a non-minimal length encoding */
        fuzz_check(n < f.header_len);
    }

    fuzz_check(ngx_beacon_ws_parse_header(out, n, 65536, &g) == 0);
    fuzz_check(g.header_len == n && g.payload_len == f.payload_len
               && g.opcode == f.opcode && g.fin == f.fin
               && memcmp(g.mask, f.mask, 4) == 0);

    /* a smaller cap */
    rk = ngx_beacon_ws_parse_header(data, size, 125, &g);
    fuzz_check(rk == (f.payload_len > 125 ? 1009 : 0));

    /* the same header unmasked, for the server-side parser */
    memcpy(flip, data, f.header_len - 4);
    flip[1] &= 0x7f;

    rs = ngx_beacon_ws_parse_server_header(flip, f.header_len - 4, 65536,
                                           &g);
    fuzz_check(rs == 0 && !g.masked && g.header_len == f.header_len - 4
               && g.payload_len == f.payload_len && g.opcode == f.opcode);

    fuzz_check(ngx_beacon_ws_parse_server_header(data, size, 65536, &g)
               == 1002);
    fuzz_check(ngx_beacon_ws_parse_header(flip, f.header_len - 4, 65536, &g)
               == 1002);

    /* the server encoder produces what the server parser reads */
    n = ngx_beacon_ws_header(out, f.opcode, f.payload_len);
    fuzz_check(n <= NGX_BEACON_WS_HEADER_MAX);
    fuzz_check(ngx_beacon_ws_parse_server_header(out, n, 65536, &g) == 0);
    fuzz_check(g.header_len == n && g.payload_len == f.payload_len
               && g.opcode == f.opcode && g.fin);
}


/* the input as a client stream of frames */

static void
fuzz_stream(const uint8_t *data, size_t size)
{
    int                    rc, expect;
    size_t                 pos, plen, cut, i, have;
    uint8_t                ref_op;
    uint64_t               ref_len;
    unsigned               code, ref_in;
    ngx_beacon_ws_msg_t    m;
    ngx_beacon_ws_frame_t  f;

    memset(&m, 0, sizeof(m));

    ref_in = 0;
    ref_op = 0;
    ref_len = 0;
    have = 0;
    pos = 0;

    for ( ;; ) {
        rc = ngx_beacon_ws_parse_header(data + pos, size - pos,
                                        FUZZ_MAX_PAYLOAD, &f);

        if (rc != 0) {
            fuzz_check(rc == NGX_BEACON_WS_AGAIN || rc == 1002
                       || rc == 1009);
            return;
        }

        pos += f.header_len;
        plen = (size_t) f.payload_len;

        if (size - pos < plen) {
            return;
        }

        /* unmask in two pieces, against the bytewise model */

        memcpy(fuzz_buf, data + pos, plen);
        memcpy(fuzz_ref, data + pos, plen);

        cut = plen ? data[pos] % (plen + 1) : 0;

        ngx_beacon_ws_unmask(fuzz_buf, cut, f.mask, 0);
        ngx_beacon_ws_unmask(fuzz_buf + cut, plen - cut, f.mask, cut);

        for (i = 0; i < plen; i++) {
            fuzz_ref[i] ^= f.mask[i % 4];
        }

        fuzz_check(memcmp(fuzz_buf, fuzz_ref, plen) == 0);

        pos += plen;

        /* the fragmentation model */

        if (f.opcode & 8) {
            expect = NGX_BEACON_WS_CONTROL;

        } else if ((f.opcode == 0) != (ref_in != 0)) {
            expect = 1002;

        } else if (ref_len * (f.opcode == 0) + plen > FUZZ_MAX_MESSAGE) {
            expect = 1009;

        } else {
            expect = f.fin ? NGX_BEACON_WS_DATA_END
                           : NGX_BEACON_WS_DATA_PART;
        }

        rc = ngx_beacon_ws_msg_frame(&m, &f, FUZZ_MAX_MESSAGE);
        fuzz_check(rc == expect);

        if (rc == 1002 || rc == 1009) {
            return;
        }

        if (rc == NGX_BEACON_WS_CONTROL) {
            fuzz_check(m.in_message == ref_in);

            if (f.opcode == NGX_BEACON_WS_OP_CLOSE) {
                rc = ngx_beacon_ws_close_parse(fuzz_buf, plen, &code);
                fuzz_check(rc == 0 || rc == 1002 || rc == 1007);
                fuzz_check(rc != 0 || plen == 0
                           || ngx_beacon_ws_close_code_valid(code));
            }

            continue;
        }

        if (f.opcode != 0) {
            ref_op = f.opcode;
            ref_len = 0;
            have = 0;
        }

        ref_len += plen;
        memcpy(fuzz_msg + have, fuzz_buf, plen);
        have += plen;

        fuzz_check(m.opcode == ref_op && m.len == ref_len && have == ref_len);

        if (rc == NGX_BEACON_WS_DATA_PART) {
            ref_in = 1;
            fuzz_check(m.in_message);
            continue;
        }

        ref_in = 0;
        fuzz_check(!m.in_message);

        if (m.opcode == NGX_BEACON_WS_OP_TEXT) {
            fuzz_check(ngx_beacon_json_utf8_valid(fuzz_msg, have)
                       == model_utf8(fuzz_msg, have));
        }
    }
}


static void
fuzz_unmask(const uint8_t *data, size_t size)
{
    size_t    n, i, step, align;
    uint8_t  *a, *b;

    if (size < 6) {
        return;
    }

    align = data[4] & 7;
    step = (size_t) data[5] + 1;
    n = size - 6;

    a = malloc(n + align + 1);
    b = malloc(n + align + 1);
    fuzz_check(a != NULL && b != NULL);

    memcpy(a + align, data + 6, n);
    memcpy(b + align, data + 6, n);

    ngx_beacon_ws_unmask(a + align, n, data, 0);

    for (i = 0; i < n; i += step) {
        ngx_beacon_ws_unmask(b + align + i, n - i < step ? n - i : step,
                             data, i);
    }

    fuzz_check(memcmp(a + align, b + align, n) == 0);

    for (i = 0; i < n; i++) {
        fuzz_check(a[align + i] == (data[6 + i] ^ data[i % 4]));
    }

    free(a);
    free(b);
}


/* an independent model: split, trim, compare */

static int
model_token(const uint8_t *v, size_t len, const char *t)
{
    size_t  i, k, s, e, tl;

    tl = strlen(t);
    s = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && v[i] != ',') {
            continue;
        }

        e = i;

        while (s < e && (v[s] == ' ' || v[s] == '\t')) {
            s++;
        }

        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) {
            e--;
        }

        if (e - s == tl) {
            for (k = 0; k < tl; k++) {
                if (fuzz_lower(v[s + k]) != fuzz_lower(t[k])) {
                    break;
                }
            }

            if (k == tl && tl > 0) {
                return 1;
            }
        }

        s = i + 1;
    }

    return 0;
}


static void
fuzz_strings(const uint8_t *data, size_t size)
{
    int            r, strict;
    char           host[300];
    size_t         i, nl, hl, bin_len;
    uint8_t        out[NGX_BEACON_WS_ACCEPT_LEN], bin[16];
    const uint8_t  *h;

    fuzz_check(ngx_beacon_ws_has_token(data, size, "upgrade")
               == model_token(data, size, "upgrade"));
    fuzz_check(ngx_beacon_ws_has_token(data, size, "websocket")
               == model_token(data, size, "websocket"));

    fuzz_check(ngx_beacon_json_utf8_valid(data, size)
               == model_utf8(data, size));

    /*
     * key_valid against libsodium's strict decoder; ASCII only, as
     * libsodium 1.0.18 takes some bytes >= 0x80 for base64 digits
     */

    r = ngx_beacon_ws_key_valid(data, size);

    for (i = 0; i < size && data[i] < 0x80; i++) {
        /* void */
    }

    strict = size == 24 && i == size
             && sodium_base642bin(bin, sizeof(bin), (const char *) data,
                                  size, NULL, &bin_len, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) == 0
             && bin_len == 16;

    if (strict) {
        fuzz_check(r);
    }

    if (r && !strict) {
        /* only the unused low bits of the 22nd character may differ */
        fuzz_check(size == 24 && data[22] == '=' && data[23] == '=');
    }

    r = ngx_beacon_ws_accept(data, size, out);
    fuzz_check(r == (size <= NGX_BEACON_WS_KEY_MAX ? 0 : -1));

    if (r == 0) {
        fuzz_check(out[27] == '=');

        for (i = 0; i < 27; i++) {
            fuzz_check((out[i] >= 'A' && out[i] <= 'Z')
                       || (out[i] >= 'a' && out[i] <= 'z')
                       || (out[i] >= '0' && out[i] <= '9')
                       || out[i] == '+' || out[i] == '/');
        }
    }

    /* origin "\n" host */

    for (nl = 0; nl < size && data[nl] != '\n'; nl++) {
        /* void */
    }

    h = (nl < size) ? data + nl + 1 : data + size;
    hl = (nl < size) ? size - nl - 1 : 0;

    r = ngx_beacon_ws_origin_ok(data, nl, h, hl);

    if (nl >= 8 && fuzz_lower(data[0]) == 'p' && fuzz_lower(data[1]) == 'i'
        && fuzz_lower(data[2]) == 'l' && fuzz_lower(data[3]) == 'o'
        && fuzz_lower(data[4]) == 't' && memcmp(data + 5, "://", 3) == 0)
    {
        fuzz_check(r == 1);

    } else if (r) {
        /* the authority after "://" must be exactly the host */
        for (i = 0; i + 3 <= nl && memcmp(data + i, "://", 3) != 0; i++) {
            /* void */
        }

        fuzz_check(i > 0 && i + 3 + hl <= nl);
        fuzz_check(i + 3 + hl == nl || data[i + 3 + hl] == '/'
                   || data[i + 3 + hl] == '?' || data[i + 3 + hl] == '#');

        for (nl = 0; nl < hl; nl++) {
            fuzz_check(fuzz_lower(data[i + 3 + nl]) == fuzz_lower(h[nl]));
            fuzz_check(h[nl] > ' ' && h[nl] != 0x7f && h[nl] != '@'
                       && h[nl] != '\\' && h[nl] != '/' && h[nl] != '?'
                       && h[nl] != '#');
        }
    }

    /* "https://" + host is allowed exactly when host is an authority */

    if (size <= 256) {
        memcpy(host, "https://", 8);
        memcpy(host + 8, data, size);

        r = ngx_beacon_ws_origin_ok((uint8_t *) host, 8 + size, data, size);

        for (i = 0; i < size; i++) {
            if (data[i] <= ' ' || data[i] == 0x7f || data[i] == '@'
                || data[i] == '\\' || data[i] == '/' || data[i] == '?'
                || data[i] == '#')
            {
                break;
            }
        }

        fuzz_check(r == (size > 0 && i == size));
    }

}


static void
fuzz_close(const uint8_t *data, size_t size)
{
    int                    rc;
    char                   reason[200];
    size_t                 n, k;
    uint8_t                body[NGX_BEACON_WS_CONTROL_MAX], hdr[16];
    unsigned               code, back;
    uint64_t               len;
    ngx_beacon_ws_frame_t  f;

    rc = ngx_beacon_ws_close_parse(data, size, &code);

    if (size == 0) {
        fuzz_check(rc == 0 && code == 1005);

    } else if (size == 1) {
        fuzz_check(rc == 1002);

    } else {
        code = ((unsigned) data[0] << 8) | data[1];

        if (!ngx_beacon_ws_close_code_valid(code)) {
            fuzz_check(rc == 1002);

        } else {
            fuzz_check(rc == (model_utf8(data + 2, size - 2) ? 0 : 1007));
        }
    }

    if (size < 2) {
        return;
    }

    code = ((unsigned) data[0] << 8) | data[1];

    k = size - 2 < sizeof(reason) - 1 ? size - 2 : sizeof(reason) - 1;
    memcpy(reason, data + 2, k);
    reason[k] = '\0';

    n = ngx_beacon_ws_close_body(body, code, reason);
    k = strlen(reason);

    if (code == 0) {
        fuzz_check(n == 0);

    } else {
        fuzz_check(n >= 2 && n <= NGX_BEACON_WS_CONTROL_MAX
                   && n - 2 <= k && memcmp(body + 2, reason, n - 2) == 0);
        fuzz_check(k <= 123 ? n - 2 == k : n - 2 >= 120);

        if (model_utf8((const uint8_t *) reason, k)) {
            fuzz_check(model_utf8(body + 2, n - 2));
        }

        if (ngx_beacon_ws_close_code_valid(code)
            && model_utf8(body + 2, n - 2))
        {
            fuzz_check(ngx_beacon_ws_close_parse(body, n, &back) == 0
                       && back == code);
        }
    }

    /* header encoders on a length from the input */

    if (size >= 10) {
        memcpy(&len, data + 2, 8);
        len >>= 1;

        n = ngx_beacon_ws_header(hdr, data[1] & 0x0f, len);
        fuzz_check(n == (len < 126 ? 2 : len <= 0xffff ? 4 : 10));

        if (ngx_beacon_ws_parse_server_header(hdr, n, UINT64_MAX, &f) == 0) {
            fuzz_check(f.payload_len == len && f.header_len == n);
        }

        n = ngx_beacon_ws_header_masked(hdr, data[1] & 0x0f, data[0] & 1,
                                        len, data + 2);
        fuzz_check(n == (len < 126 ? 6 : len <= 0xffff ? 8 : 14));

        if (ngx_beacon_ws_parse_header(hdr, n, UINT64_MAX, &f) == 0) {
            fuzz_check(f.payload_len == len && f.header_len == n
                       && f.fin == (data[0] & 1));
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int  inited;

    if (!inited) {
        if (sodium_init() < 0) {
            abort();
        }

        inited = 1;
    }

    fuzz_header(data, size);
    fuzz_stream(data, size);
    fuzz_unmask(data, size);
    fuzz_strings(data, size);
    fuzz_close(data, size);

    return 0;
}
