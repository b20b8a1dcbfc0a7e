
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for the STUN codec (ngx_beacon_stun.c).  Every input
 * is parsed; a parsed request is answered from an IPv4 and an IPv6
 * address and each answer must parse back: same id, the address and port
 * it was written for, a valid FINGERPRINT exactly when the request had
 * one, within NGX_BEACON_STUN_RESPONSE_MAX.  The demultiplexer must agree
 * with its rule and never take a Pilot type byte.  Any mismatch abort()s.
 *
 *   bash t/fuzz/run.sh [SECONDS] stun
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_stun.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond);
static void fuzz_answer(const ngx_beacon_stun_msg_t *m, const uint8_t *ip,
    uint16_t port, const ngx_beacon_stun_alt_t *alt, const uint8_t *sw,
    size_t swlen);


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


static void
fuzz_answer(const ngx_beacon_stun_msg_t *m, const uint8_t *ip,
    uint16_t port, const ngx_beacon_stun_alt_t *alt, const uint8_t *sw,
    size_t swlen)
{
    int                    rc, v4;
    size_t                 n;
    uint8_t                out[NGX_BEACON_STUN_RESPONSE_MAX + 64];
    ngx_beacon_stun_msg_t  r;

    memset(out, 0xa5, sizeof(out));

    rc = ngx_beacon_stun_answer(m, ip, port, alt, sw, swlen, out, &n);

    fuzz_check(n <= NGX_BEACON_STUN_RESPONSE_MAX);
    fuzz_check(out[NGX_BEACON_STUN_RESPONSE_MAX] == 0xa5);

    if (m->cls == NGX_BEACON_STUN_INDICATION) {
        fuzz_check(rc == NGX_BEACON_STUN_A_INDICATION && n == 0);
        return;
    }

    if (m->cls != NGX_BEACON_STUN_REQUEST) {
        fuzz_check(rc == NGX_BEACON_STUN_A_WRONG_CLASS && n == 0);
        return;
    }

    fuzz_check(n >= NGX_BEACON_STUN_HEADER_LEN);
    fuzz_check(ngx_beacon_stun_parse(out, n, &r) == NGX_BEACON_STUN_OK);
    fuzz_check(memcmp(r.id, m->id, 16) == 0 && r.rfc3489 == m->rfc3489);
    fuzz_check(r.method == m->method);
    fuzz_check(r.fingerprint == m->fingerprint);
    fuzz_check(!ngx_beacon_stun_is_stun(out, n) || out[0] == 0x00
               || out[0] > 0x0a);

    if (rc == NGX_BEACON_STUN_A_SUCCESS) {
        fuzz_check(m->method == NGX_BEACON_STUN_BINDING && m->nunknown == 0);
        fuzz_check(r.cls == NGX_BEACON_STUN_SUCCESS && r.has_mapped);
        fuzz_check(r.mapped_port == port
                   && memcmp(r.mapped_ip, ip, 16) == 0);

        v4 = (memcmp(ip, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0);
        fuzz_check(r.mapped_family == (v4 ? 1 : 2));

    } else {
        fuzz_check(rc == NGX_BEACON_STUN_A_ERROR_400
                   || rc == NGX_BEACON_STUN_A_ERROR_420);
        fuzz_check(r.cls == NGX_BEACON_STUN_ERROR);
        fuzz_check(r.error_code
                   == (rc == NGX_BEACON_STUN_A_ERROR_400 ? 400 : 420));
        fuzz_check(rc == NGX_BEACON_STUN_A_ERROR_400 || m->nunknown
                   || (alt == NULL
                       && ((m->has_change && m->change)
                           || m->has_response_port)));
    }

    /* RFC 5780: where it left from and the other address, as given */

    if (rc == NGX_BEACON_STUN_A_SUCCESS && alt) {
        fuzz_check(r.has_origin && r.has_other);
        fuzz_check(memcmp(&r.origin, &alt->origin, sizeof(r.origin)) == 0);
        fuzz_check(memcmp(&r.other, &alt->other, sizeof(r.other)) == 0);

    } else {
        fuzz_check(!r.has_origin && !r.has_other);
    }

    if (swlen) {
        fuzz_check(r.software_len
                   == (swlen > NGX_BEACON_STUN_SOFTWARE_MAX
                       ? NGX_BEACON_STUN_SOFTWARE_MAX : swlen));
        fuzz_check(memcmp(r.software, sw, r.software_len) == 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rc, demux;
    size_t                 swlen;
    uint8_t                ip4[16], ip6[16];
    uint16_t               port;
    ngx_beacon_stun_alt_t  alt;
    ngx_beacon_stun_msg_t  m;

    demux = ngx_beacon_stun_is_stun(data, size);

    if (size >= 1 && data[0] >= 0x01 && data[0] <= 0x0a) {
        fuzz_check(!demux);
    }

    if (demux) {
        fuzz_check(size >= NGX_BEACON_STUN_HEADER_LEN
                   && (data[0] & 0xc0) == 0);
    }

    rc = ngx_beacon_stun_parse(data, size, &m);

    fuzz_check(rc <= 0 && rc >= -NGX_BEACON_STUN_NREASONS);
    fuzz_check(ngx_beacon_stun_reason(rc) != NULL);

    if (rc != NGX_BEACON_STUN_OK) {
        return 0;
    }

    fuzz_check(size >= NGX_BEACON_STUN_HEADER_LEN && (size & 3) == 0);
    fuzz_check(m.nunknown <= NGX_BEACON_STUN_UNKNOWN_MAX);
    fuzz_check(!m.fingerprint || !m.rfc3489);

    /* addresses and SOFTWARE from the input's own bytes */

    memset(ip4, 0, sizeof(ip4));
    ip4[10] = 0xff;
    ip4[11] = 0xff;
    memcpy(ip4 + 12, data + 4, 4);
    memcpy(ip6, data + 4, 16);     /* IPv6, or IPv4-mapped by chance */

    port = (uint16_t) ((data[2] << 8) | data[1]);
    swlen = data[3];

    memset(&alt, 0, sizeof(alt));
    memcpy(alt.origin.ip, ip4, 16);
    alt.origin.port = (uint16_t) (port + 1);
    memcpy(alt.other.ip, ip6, 16);
    alt.other.port = (uint16_t) (port ^ 0x5555);

    fuzz_answer(&m, ip4, port, NULL, NULL, 0);
    fuzz_answer(&m, ip6, port, NULL, data, swlen < size ? swlen : size);
    fuzz_answer(&m, ip6, port, &alt, data, swlen < size ? swlen : size);

    return 0;
}
