
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Known-answer unit tests for the STUN codec (ngx_beacon_stun.c): the
 * RFC 5769 sample request and IPv4/IPv6 responses, responses with and
 * without FINGERPRINT, RFC 3489 clients, indications, 420 and 400, every
 * malformed case, and the demultiplexer against every Pilot message type
 * and length (and the Pilot parser against STUN).
 * Output is TAP; the exit status is non-zero if any test fails.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_stun.h"
#include "ngx_beacon_proto.h"
#include "tap.h"


/* RFC 5769 2.1, 2.2, 2.3 */

#define RFC5769_REQUEST                                                      \
    "00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"            \
    "80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74"            \
    "00 24 00 04 6e 00 01 ff"                                                \
    "80 29 00 08 93 2f f9 b1 51 26 3b 36"                                    \
    "00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20"                        \
    "00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2" \
    "80 28 00 04 e5 7a 3b cf"

#define RFC5769_IPV4                                                         \
    "01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"            \
    "80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"                        \
    "00 20 00 08 00 01 a1 47 e1 12 a6 43"                                    \
    "00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7" \
    "80 28 00 04 c0 7d 4c 96"

#define RFC5769_IPV6                                                         \
    "01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"            \
    "80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"                        \
    "00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9" \
    "00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41" \
    "80 28 00 04 c8 fb 0b 4c"

#define TXID  "21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"

#define XMA_V4  "00 20 00 08 00 01 a1 47 e1 12 a6 43"
#define XMA_V6  "00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5" \
                "be d2 b9 d9"


static int parse(const char *hex, ngx_beacon_stun_msg_t *m);
static int answer(const char *hex, const uint8_t *ip, const char *sw,
    uint8_t *out, size_t *n);
static void fix_length(uint8_t *p, size_t len);
static void add_fingerprint(uint8_t *p, size_t *len);
static void test_crc(void);
static void test_rfc5769_request(void);
static void test_rfc5769_responses(void);
static void test_answers(void);
static void test_rfc3489(void);
static void test_classes(void);
static void test_unknown(void);
static void test_malformed(void);
static void test_demux(void);
static void test_rfc5780(void);


static const uint8_t  ip_v4[16] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1
};

static const uint8_t  ip_v6[16] = {
    0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77
};


/*
 * parsed from an exact-size copy, so that sanitizers catch overreads; the
 * message points into it (SOFTWARE, USERNAME), so the copy lives until the
 * next parse
 */

static int
parse(const char *hex, ngx_beacon_stun_msg_t *m)
{
    size_t          n;
    uint8_t         buf[1024];
    static uint8_t *p;

    n = unhex(buf, sizeof(buf), hex);

    free(p);

    p = malloc(n ? n : 1);
    if (p == NULL) {
        exit(2);
    }

    memcpy(p, buf, n);

    return ngx_beacon_stun_parse(p, n, m);
}


static int
answer(const char *hex, const uint8_t *ip, const char *sw, uint8_t *out,
    size_t *n)
{
    ngx_beacon_stun_msg_t  m;

    if (parse(hex, &m) != NGX_BEACON_STUN_OK) {
        *n = 0;
        return -1;
    }

    return ngx_beacon_stun_answer(&m, ip, 32853, NULL, (const uint8_t *) sw,
                                  sw ? strlen(sw) : 0, out, n);
}


static void
fix_length(uint8_t *p, size_t len)
{
    p[2] = (uint8_t) ((len - 20) >> 8);
    p[3] = (uint8_t) (len - 20);
}


static void
add_fingerprint(uint8_t *p, size_t *len)
{
    uint32_t  crc;

    fix_length(p, *len + 8);
    p[*len] = 0x80;
    p[*len + 1] = 0x28;
    p[*len + 2] = 0;
    p[*len + 3] = 4;
    crc = ngx_beacon_stun_crc32(p, *len) ^ NGX_BEACON_STUN_FP_XOR;
    p[*len + 4] = (uint8_t) (crc >> 24);
    p[*len + 5] = (uint8_t) (crc >> 16);
    p[*len + 6] = (uint8_t) (crc >> 8);
    p[*len + 7] = (uint8_t) crc;
    *len += 8;
}


static void
test_crc(void)
{
    /* the CRC-32 check value */
    ok(ngx_beacon_stun_crc32((const uint8_t *) "123456789", 9) == 0xcbf43926,
       "crc32: check value of \"123456789\"");
    ok(ngx_beacon_stun_crc32((const uint8_t *) "", 0) == 0,
       "crc32: empty input");
}


static void
test_rfc5769_request(void)
{
    int                    rc;
    size_t                 n;
    uint8_t                out[NGX_BEACON_STUN_RESPONSE_MAX], req[256];
    ngx_beacon_stun_msg_t  m, r;

    rc = parse(RFC5769_REQUEST, &m);

    ok(rc == NGX_BEACON_STUN_OK, "RFC 5769 2.1: the sample request parses");
    ok(m.cls == NGX_BEACON_STUN_REQUEST
       && m.method == NGX_BEACON_STUN_BINDING && !m.rfc3489,
       "RFC 5769 2.1: a Binding request with the magic cookie");
    ok(m.fingerprint, "RFC 5769 2.1: its FINGERPRINT checks out");
    ok(m.integrity, "RFC 5769 2.1: MESSAGE-INTEGRITY seen (not verified)");
    ok(m.nunknown == 0,
       "RFC 5769 2.1: PRIORITY and USERNAME understood, ICE-CONTROLLED "
       "optional");
    ok(m.software_len == 16
       && memcmp(m.software, "STUN test client", 16) == 0,
       "RFC 5769 2.1: SOFTWARE \"STUN test client\"");
    ok(eqhex(m.id, 16, TXID), "RFC 5769 2.1: cookie and transaction id");

    /* the answer: the RFC's XOR-MAPPED-ADDRESS bytes, and a FINGERPRINT */

    rc = answer(RFC5769_REQUEST, ip_v4, NULL, out, &n);

    ok(rc == NGX_BEACON_STUN_A_SUCCESS && n == 40,
       "answer to 2.1 from 192.0.2.1:32853: success, 40 bytes");
    ok(eqhex(out, 4, "01 01 00 14") && eqhex(out + 4, 16, TXID),
       "answer to 2.1: Binding success, length 20, the request's id");
    ok(eqhex(out + 20, 12, XMA_V4),
       "answer to 2.1: XOR-MAPPED-ADDRESS as in RFC 5769 2.2");
    ok(out[32] == 0x80 && out[33] == 0x28,
       "answer to 2.1: FINGERPRINT last, since the request had one");
    ok(ngx_beacon_stun_parse(out, n, &r) == NGX_BEACON_STUN_OK
       && r.fingerprint && r.cls == NGX_BEACON_STUN_SUCCESS
       && r.has_mapped && r.mapped_family == 1 && r.mapped_port == 32853
       && memcmp(r.mapped_ip, ip_v4, 16) == 0,
       "answer to 2.1: parses back to 192.0.2.1:32853 with a valid "
       "FINGERPRINT");

    rc = answer(RFC5769_REQUEST, ip_v6, NULL, out, &n);

    ok(rc == NGX_BEACON_STUN_A_SUCCESS && n == 52
       && eqhex(out + 20, 24, XMA_V6),
       "answer to 2.1 from [2001:db8:1234:5678:11:2233:4455:6677]:32853: "
       "XOR-MAPPED-ADDRESS as in RFC 5769 2.3");
    ok(ngx_beacon_stun_parse(out, n, &r) == NGX_BEACON_STUN_OK
       && r.fingerprint && r.mapped_family == 2 && r.mapped_port == 32853
       && memcmp(r.mapped_ip, ip_v6, 16) == 0,
       "answer over IPv6 parses back with a valid FINGERPRINT");

    /* the same request without its FINGERPRINT: none in the answer */

    n = unhex(req, sizeof(req), RFC5769_REQUEST) - 8;
    fix_length(req, n);

    ok(ngx_beacon_stun_parse(req, n, &m) == NGX_BEACON_STUN_OK
       && !m.fingerprint && m.integrity,
       "2.1 without FINGERPRINT (ends in MESSAGE-INTEGRITY) parses");
    ok(ngx_beacon_stun_answer(&m, ip_v4, 32853, NULL, NULL, 0, out, &n)
       == NGX_BEACON_STUN_A_SUCCESS
       && n == 32 && eqhex(out, 4, "01 01 00 0c")
       && eqhex(out + 20, 12, XMA_V4),
       "its answer: XOR-MAPPED-ADDRESS only, no FINGERPRINT");

    /* a broken FINGERPRINT, a flipped bit under it */

    n = unhex(req, sizeof(req), RFC5769_REQUEST);
    req[n - 1] ^= 1;
    ok(ngx_beacon_stun_parse(req, n, &m) == NGX_BEACON_STUN_BAD_FINGERPRINT,
       "2.1 with its FINGERPRINT altered: dropped");

    n = unhex(req, sizeof(req), RFC5769_REQUEST);
    req[30] ^= 0x20;
    ok(ngx_beacon_stun_parse(req, n, &m) == NGX_BEACON_STUN_BAD_FINGERPRINT,
       "2.1 with one bit of SOFTWARE flipped: FINGERPRINT fails");
}


static void
test_rfc5769_responses(void)
{
    ngx_beacon_stun_msg_t  m;

    ok(parse(RFC5769_IPV4, &m) == NGX_BEACON_STUN_OK && m.fingerprint
       && m.integrity && m.cls == NGX_BEACON_STUN_SUCCESS
       && m.method == NGX_BEACON_STUN_BINDING,
       "RFC 5769 2.2: the IPv4 response parses, FINGERPRINT valid");
    ok(m.has_mapped && m.mapped_family == 1 && m.mapped_port == 32853
       && memcmp(m.mapped_ip, ip_v4, 16) == 0,
       "RFC 5769 2.2: XOR-MAPPED-ADDRESS 192.0.2.1:32853");
    ok(m.software_len == 11 && memcmp(m.software, "test vector", 11) == 0,
       "RFC 5769 2.2: SOFTWARE \"test vector\" (11 bytes, padded)");

    ok(parse(RFC5769_IPV6, &m) == NGX_BEACON_STUN_OK && m.fingerprint
       && m.cls == NGX_BEACON_STUN_SUCCESS,
       "RFC 5769 2.3: the IPv6 response parses, FINGERPRINT valid");
    ok(m.has_mapped && m.mapped_family == 2 && m.mapped_port == 32853
       && memcmp(m.mapped_ip, ip_v6, 16) == 0,
       "RFC 5769 2.3: XOR-MAPPED-ADDRESS "
       "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
}


static void
test_answers(void)
{
    int                    rc;
    size_t                 n;
    uint8_t                out[NGX_BEACON_STUN_RESPONSE_MAX], req[64];
    ngx_beacon_stun_msg_t  m;

    /* the smallest Binding request, 20 bytes */

    rc = answer("00 01 00 00" TXID, ip_v4, NULL, out, &n);
    ok(rc == NGX_BEACON_STUN_A_SUCCESS && n == 32
       && eqhex(out, 20, "01 01 00 0c" TXID)
       && eqhex(out + 20, 12, XMA_V4),
       "minimal request, IPv4: 32-byte response, XOR-MAPPED-ADDRESS only");

    rc = answer("00 01 00 00" TXID, ip_v6, NULL, out, &n);
    ok(rc == NGX_BEACON_STUN_A_SUCCESS && n == 44
       && eqhex(out + 20, 24, XMA_V6),
       "minimal request, IPv6: 44-byte response");

    /* with FINGERPRINT */

    n = unhex(req, sizeof(req), "00 01 00 00" TXID);
    add_fingerprint(req, &n);
    ok(ngx_beacon_stun_parse(req, n, &m) == NGX_BEACON_STUN_OK
       && m.fingerprint
       && ngx_beacon_stun_answer(&m, ip_v4, 32853, NULL, NULL, 0, out, &n)
          == NGX_BEACON_STUN_A_SUCCESS
       && n == 40,
       "28-byte request with FINGERPRINT, IPv4: 40-byte response");

    n = unhex(req, sizeof(req), "00 01 00 00" TXID);
    add_fingerprint(req, &n);
    ngx_beacon_stun_parse(req, n, &m);
    ok(ngx_beacon_stun_answer(&m, ip_v6, 32853, NULL, NULL, 0, out, &n)
       == NGX_BEACON_STUN_A_SUCCESS && n == 52
       && ngx_beacon_stun_parse(out, n, &m) == NGX_BEACON_STUN_OK
       && m.fingerprint,
       "the same over IPv6: 52 bytes, FINGERPRINT valid");

    /* SOFTWARE only when configured */

    rc = answer("00 01 00 00" TXID, ip_v4, "nginx", out, &n);
    ok(rc == NGX_BEACON_STUN_A_SUCCESS && n == 44
       && eqhex(out + 32, 12, "80 22 00 05 6e 67 69 6e 78 00 00 00"),
       "SOFTWARE \"nginx\" when configured, padded with zeros");

    ngx_beacon_stun_parse(out, n, &m);
    ok(m.software_len == 5 && memcmp(m.software, "nginx", 5) == 0,
       "the answer with SOFTWARE parses back");

    /* CHANGE-REQUEST asking for no change is served */

    rc = answer("00 01 00 08" TXID "00 03 00 04 00 00 00 00", ip_v4, NULL,
                out, &n);
    ok(rc == NGX_BEACON_STUN_A_SUCCESS,
       "CHANGE-REQUEST without flags: answered");

    rc = answer("00 01 00 08" TXID "00 03 00 04 00 00 00 06", ip_v4, NULL,
                out, &n);
    ok(rc == NGX_BEACON_STUN_A_ERROR_420
       && eqhex(out + 20, 32,
                "00 09 00 15 00 00 04 14 55 6e 6b 6e 6f 77 6e 20"
                "41 74 74 72 69 62 75 74 65 00 00 00 00 0a 00 02")
       && eqhex(out + 52, 4, "00 03 00 00") && n == 56,
       "CHANGE-REQUEST change IP and port: 420 listing CHANGE-REQUEST "
       "(no alternate address)");

    /* another method: 400 */

    rc = answer("00 03 00 00" TXID, ip_v4, NULL, out, &n);
    ok(rc == NGX_BEACON_STUN_A_ERROR_400
       && eqhex(out, 4, "01 13 00 14")
       && eqhex(out + 20, 16, "00 09 00 0f 00 00 04 00 42 61 64 20"
                              "52 65 71 75"),
       "Allocate (method 3) request: 400 Bad Request, method kept");
}


static void
test_rfc3489(void)
{
    int                    rc;
    size_t                 n;
    uint8_t                out[NGX_BEACON_STUN_RESPONSE_MAX];
    ngx_beacon_stun_msg_t  m;

#define OLD_ID  "0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19"

    ok(parse("00 01 00 00" OLD_ID, &m) == NGX_BEACON_STUN_OK && m.rfc3489,
       "RFC 3489 request (no magic cookie) parses as such");

    rc = answer("00 01 00 00" OLD_ID, ip_v4, NULL, out, &n);
    ok(rc == NGX_BEACON_STUN_A_SUCCESS && n == 32
       && eqhex(out, 20, "01 01 00 0c" OLD_ID)
       && eqhex(out + 20, 12, "00 01 00 08 00 01 80 55 c0 00 02 01"),
       "RFC 3489 request: MAPPED-ADDRESS 192.0.2.1:32853, 16-byte id echoed");

    /* with CHANGE-REQUEST 0, as old clients send it in test I */

    rc = answer("00 01 00 08" OLD_ID "00 03 00 04 00 00 00 00", ip_v4, NULL,
                out, &n);
    ok(rc == NGX_BEACON_STUN_A_SUCCESS
       && eqhex(out + 20, 12, "00 01 00 08 00 01 80 55 c0 00 02 01"),
       "RFC 3489 test I (CHANGE-REQUEST 0): MAPPED-ADDRESS");

    /* 0x8028 is not a FINGERPRINT without the cookie */

    ok(parse("00 01 00 08" OLD_ID "80 28 00 04 00 00 00 00", &m)
       == NGX_BEACON_STUN_OK && !m.fingerprint,
       "RFC 3489: 0x8028 is an unknown optional attribute, not FINGERPRINT");

    rc = answer("00 01 00 08" OLD_ID "00 03 00 04 00 00 00 04", ip_v4, NULL,
                out, &n);
    ok(rc == NGX_BEACON_STUN_A_ERROR_420
       && eqhex(out + 48, 8, "00 0a 00 04 00 03 00 03"),
       "RFC 3489 change IP: 420, UNKNOWN-ATTRIBUTES repeats to an even "
       "count");
}


static void
test_classes(void)
{
    int      rc;
    size_t   n;
    uint8_t  out[NGX_BEACON_STUN_RESPONSE_MAX];

    rc = answer("00 11 00 00" TXID, ip_v4, NULL, out, &n);
    ok(rc == NGX_BEACON_STUN_A_INDICATION && n == 0,
       "Binding indication: no answer");

    rc = answer("01 01 00 00" TXID, ip_v4, NULL, out, &n);
    ok(rc == NGX_BEACON_STUN_A_WRONG_CLASS && n == 0,
       "Binding success response received: dropped as wrong class");

    rc = answer("01 11 00 00" TXID, ip_v4, NULL, out, &n);
    ok(rc == NGX_BEACON_STUN_A_WRONG_CLASS && n == 0,
       "Binding error response received: dropped as wrong class");
}


static void
test_unknown(void)
{
    int                    rc;
    size_t                 n;
    uint8_t                out[NGX_BEACON_STUN_RESPONSE_MAX];
    ngx_beacon_stun_msg_t  m;

    rc = answer("00 01 00 08" TXID "77 77 00 04 01 02 03 04", ip_v4, NULL,
                out, &n);
    ok(rc == NGX_BEACON_STUN_A_ERROR_420 && n == 56
       && eqhex(out, 4, "01 11 00 24")
       && eqhex(out + 48, 8, "00 0a 00 02 77 77 00 00"),
       "unknown comprehension-required 0x7777: 420, UNKNOWN-ATTRIBUTES "
       "0x7777");

    rc = answer("00 01 00 0c" TXID "77 77 00 00 00 02 00 04 01 02 03 04",
                ip_v4, NULL, out, &n);
    ok(rc == NGX_BEACON_STUN_A_ERROR_420
       && eqhex(out + 48, 8, "00 0a 00 04 77 77 00 02"),
       "RESPONSE-ADDRESS (0x0002) is not honoured: listed as unknown");

    rc = answer("00 01 00 08" TXID "87 77 00 04 01 02 03 04", ip_v4, NULL,
                out, &n);
    ok(rc == NGX_BEACON_STUN_A_SUCCESS,
       "unknown comprehension-optional 0x8777: ignored, answered");

    /* after MESSAGE-INTEGRITY everything but FINGERPRINT is ignored */

    rc = answer("00 01 00 20" TXID
                "00 08 00 14 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
                "00 00 00 00 77 77 00 04 01 02 03 04", ip_v4, NULL, out, &n);
    ok(rc == NGX_BEACON_STUN_A_SUCCESS,
       "unknown attribute after MESSAGE-INTEGRITY: ignored");

    ok(parse("00 01 00 28" TXID "77 01 00 00 77 02 00 00 77 03 00 00"
             "77 04 00 00 77 05 00 00 77 06 00 00 77 07 00 00 77 08 00 00"
             "77 09 00 00 77 0a 00 00", &m) == NGX_BEACON_STUN_OK
       && m.nunknown == NGX_BEACON_STUN_UNKNOWN_MAX,
       "ten unknown attributes: the first eight are listed");
    ok(ngx_beacon_stun_answer(&m, ip_v6, 1, NULL, (const uint8_t *)
                              "0123456789012345678901234567890123456789"
                              "0123456789012345678901234567890123456789"
                              "0123456789012345678901234567890123456789"
                              "0123456789", 130, out, &n)
       == NGX_BEACON_STUN_A_ERROR_420 && n <= NGX_BEACON_STUN_RESPONSE_MAX,
       "the longest 420 with the longest SOFTWARE fits the buffer");
}


static void
test_malformed(void)
{
    size_t                 n;
    uint8_t                req[64];
    ngx_beacon_stun_msg_t  m;

    ok(parse("00 01 00 00 21 12 a4 42 00 00 00 00 00 00 00 00 00 00 00", &m)
       == NGX_BEACON_STUN_SHORT, "19 bytes: short");
    ok(parse("", &m) == NGX_BEACON_STUN_SHORT, "empty: short");
    ok(parse("40 01 00 00" TXID, &m) == NGX_BEACON_STUN_NOT_STUN,
       "first bits 01: not STUN");
    ok(parse("80 01 00 00" TXID, &m) == NGX_BEACON_STUN_NOT_STUN,
       "first bits 10: not STUN");
    ok(parse("00 01 00 02" TXID "00 00", &m) == NGX_BEACON_STUN_BAD_LENGTH,
       "22 bytes (not a multiple of 4): dropped");
    ok(parse("00 01 00 08" TXID "80 22 00 00", &m)
       == NGX_BEACON_STUN_BAD_LENGTH,
       "length field past the datagram: dropped");
    ok(parse("00 01 00 00" TXID "80 22 00 00", &m)
       == NGX_BEACON_STUN_BAD_LENGTH,
       "length field short of the datagram: dropped");
    ok(parse("00 01 00 08" TXID "80 22 00 05 61 62 63 64", &m)
       == NGX_BEACON_STUN_ATTR_OVERRUN,
       "attribute of 5 bytes (8 padded) in 4: overrun");
    ok(parse("00 01 00 08" TXID "80 22 00 04 61 62 63 64", &m)
       == NGX_BEACON_STUN_OK,
       "attribute exactly filling the message: fine");
    ok(parse("00 01 00 04" TXID "80 22 00 04", &m)
       == NGX_BEACON_STUN_ATTR_OVERRUN,
       "attribute header without its value: overrun");
    ok(parse("00 01 00 08" TXID "80 28 00 02 00 00 00 00", &m)
       == NGX_BEACON_STUN_BAD_FINGERPRINT,
       "FINGERPRINT of 2 bytes: dropped");
    ok(parse("00 01 00 08" TXID "00 08 00 04 00 00 00 00", &m)
       == NGX_BEACON_STUN_BAD_ATTRIBUTE,
       "MESSAGE-INTEGRITY of 4 bytes: dropped");
    ok(parse("00 01 00 08" TXID "00 03 00 02 00 00 00 00", &m)
       == NGX_BEACON_STUN_BAD_ATTRIBUTE,
       "CHANGE-REQUEST of 2 bytes: dropped");
    ok(parse("01 01 00 08" TXID "00 20 00 04 00 01 00 00", &m)
       == NGX_BEACON_STUN_BAD_ATTRIBUTE,
       "XOR-MAPPED-ADDRESS too short: dropped");
    ok(parse("01 01 00 0c" TXID "00 20 00 08 00 03 00 00 01 02 03 04", &m)
       == NGX_BEACON_STUN_BAD_ATTRIBUTE,
       "XOR-MAPPED-ADDRESS of family 3: dropped");

    /* FINGERPRINT not last */

    n = unhex(req, sizeof(req), "00 01 00 00" TXID);
    add_fingerprint(req, &n);
    memcpy(req + n, "\x80\x22\x00\x00", 4);
    n += 4;
    fix_length(req, n);
    ok(ngx_beacon_stun_parse(req, n, &m) == NGX_BEACON_STUN_BAD_FINGERPRINT,
       "an attribute after FINGERPRINT: dropped");

    ok(strcmp(ngx_beacon_stun_reason(NGX_BEACON_STUN_ATTR_OVERRUN),
              "attr_overrun") == 0
       && strcmp(ngx_beacon_stun_reason(NGX_BEACON_STUN_BAD_ATTRIBUTE),
                 "bad_attribute") == 0,
       "drop reasons are named");
}


/*
 * No Pilot message is ever taken for STUN, nor any STUN Binding request
 * or indication for Pilot: Pilot messages of every type with every
 * length up to 600 and the most STUN-like content (magic cookie at 4-7,
 * a length field that matches), and all 65536 first two bytes.
 */

static void
test_demux(void)
{
    int                    bad, rc;
    size_t                 len, i;
    uint8_t                buf[600];
    unsigned               t, b0, b1;
    ngx_beacon_msg_t       msg;
    ngx_beacon_stun_msg_t  m;

    bad = 0;

    for (t = 0x01; t <= 0x0a; t++) {
        for (len = 0; len <= sizeof(buf); len++) {
            for (i = 0; i < len; i++) {
                buf[i] = (uint8_t) (i * 7 + t);
            }

            if (len >= 1) {
                buf[0] = (uint8_t) t;
            }

            if (len >= 8) {
                buf[4] = 0x21;
                buf[5] = 0x12;
                buf[6] = 0xa4;
                buf[7] = 0x42;
            }

            if (len >= 4) {
                buf[1] = 0x01;
                buf[2] = (uint8_t) ((len - 20) >> 8);
                buf[3] = (uint8_t) (len - 20);
            }

            if (ngx_beacon_stun_is_stun(buf, len)) {
                bad++;
            }

            /* and plain zeros after the type byte */

            memset(buf + (len ? 1 : 0), 0, len ? len - 1 : 0);

            if (ngx_beacon_stun_is_stun(buf, len)) {
                bad++;
            }
        }
    }

    ok(bad == 0, "no Pilot message (types 0x01-0x0a, 0-600 bytes, with "
                 "a magic cookie and a matching length) is taken for STUN");

    /* every first two bytes, with the cookie and a matching length */

    bad = 0;

    for (b0 = 0; b0 < 256; b0++) {
        for (b1 = 0; b1 < 256; b1++) {
            unhex(buf, sizeof(buf), "00 00 00 00" TXID);
            buf[0] = (uint8_t) b0;
            buf[1] = (uint8_t) b1;

            rc = ngx_beacon_stun_is_stun(buf, 20);

            if (rc != ((b0 & 0xc0) == 0 && (b0 == 0 || b0 > 0x0a))) {
                bad++;
            }

            if (rc && ngx_beacon_parse(buf, 20, &msg)
                      != NGX_BEACON_PARSE_UNKNOWN)
            {
                /* whatever is STUN, the Pilot parser would not take */
                bad++;
            }
        }
    }

    ok(bad == 0, "all 65536 type fields: STUN exactly when the first two "
                 "bits are zero and the first byte is no Pilot type, and "
                 "then no Pilot message either");

    /* every Binding request and indication is STUN */

    ok(ngx_beacon_stun_is_stun((const uint8_t *) "\x00\x01\x00\x00"
                               "\x21\x12\xa4\x42" "abcdefghijkl", 20)
       && ngx_beacon_stun_is_stun((const uint8_t *) "\x00\x11\x00\x00"
                                  "\x21\x12\xa4\x42" "abcdefghijkl", 20),
       "Binding request and indication are STUN");
    ok(ngx_beacon_stun_is_stun((const uint8_t *) "\x00\x01\x00\x00"
                               "0123456789abcdef", 20),
       "an RFC 3489 Binding request (no cookie) is STUN");
    ok(!ngx_beacon_stun_is_stun((const uint8_t *) "\x00\x02\x00\x00"
                                "0123456789abcdef", 20),
       "no cookie and not a Binding request: not STUN");

    /* the RFC 5769 request is STUN and not Pilot */

    len = unhex(buf, sizeof(buf), RFC5769_REQUEST);
    ok(ngx_beacon_stun_is_stun(buf, len)
       && ngx_beacon_parse(buf, len, &msg) == NGX_BEACON_PARSE_UNKNOWN
       && ngx_beacon_stun_parse(buf, len, &m) == NGX_BEACON_STUN_OK,
       "RFC 5769 2.1 is STUN, and the Pilot parser drops it");
}


/* with an alternate address and port (RFC 5780) */

static void
test_rfc5780(void)
{
    int                    rc;
    size_t                 n;
    uint8_t                out[NGX_BEACON_STUN_RESPONSE_MAX];
    ngx_beacon_stun_alt_t  alt;
    ngx_beacon_stun_msg_t  m, r;

    memset(&alt, 0, sizeof(alt));
    memcpy(alt.origin.ip, ip_v4, 16);
    alt.origin.ip[15] = 2;                  /* 192.0.2.2:3479 */
    alt.origin.port = 3479;
    memcpy(alt.other.ip, ip_v4, 16);
    alt.other.ip[15] = 2;
    alt.other.port = 3479;

    parse("00 01 00 08" TXID "00 03 00 04 00 00 00 06", &m);
    rc = ngx_beacon_stun_answer(&m, ip_v4, 32853, &alt, NULL, 0, out, &n);

    ok(rc == NGX_BEACON_STUN_A_SUCCESS && n == 56
       && eqhex(out + 20, 12, XMA_V4)
       && eqhex(out + 32, 24, "80 2b 00 08 00 01 0d 97 c0 00 02 02"
                              "80 2c 00 08 00 01 0d 97 c0 00 02 02"),
       "RFC 5780: CHANGE-REQUEST answered with XOR-MAPPED-ADDRESS, "
       "RESPONSE-ORIGIN and OTHER-ADDRESS");
    ok(ngx_beacon_stun_parse(out, n, &r) == NGX_BEACON_STUN_OK
       && r.has_origin && r.has_other && r.other.port == 3479
       && memcmp(r.origin.ip, alt.origin.ip, 16) == 0,
       "RFC 5780: the response parses back");

    parse("00 01 00 08" "0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19"
          "00 03 00 04 00 00 00 04", &m);
    rc = ngx_beacon_stun_answer(&m, ip_v4, 32853, &alt, NULL, 0, out, &n);

    ok(rc == NGX_BEACON_STUN_A_SUCCESS && n == 56
       && eqhex(out + 20, 36, "00 01 00 08 00 01 80 55 c0 00 02 01"
                              "00 04 00 08 00 01 0d 97 c0 00 02 02"
                              "00 05 00 08 00 01 0d 97 c0 00 02 02"),
       "RFC 3489 with an alternate: MAPPED-, SOURCE- and CHANGED-ADDRESS");

    ok(parse("01 01 00 08" TXID "80 2c 00 04 00 01 00 00", &m)
       == NGX_BEACON_STUN_BAD_ATTRIBUTE,
       "OTHER-ADDRESS too short: dropped");

    /* RESPONSE-PORT: understood only with an alternate */

    ok(parse("00 01 00 08" TXID "00 27 00 04 db 10 00 00", &m)
       == NGX_BEACON_STUN_OK && m.has_response_port
       && m.response_port == 0xdb10,
       "RESPONSE-PORT parsed");

    rc = ngx_beacon_stun_answer(&m, ip_v4, 32853, NULL, NULL, 0, out, &n);
    ok(rc == NGX_BEACON_STUN_A_ERROR_420
       && eqhex(out + 48, 8, "00 0a 00 02 00 27 00 00"),
       "RESPONSE-PORT without an alternate: 420 listing it");

    rc = ngx_beacon_stun_answer(&m, ip_v4, 32853, &alt, NULL, 0, out, &n);
    ok(rc == NGX_BEACON_STUN_A_SUCCESS, "RESPONSE-PORT with one: answered");
}


int
main(void)
{
    test_crc();
    test_rfc5769_request();
    test_rfc5769_responses();
    test_answers();
    test_rfc3489();
    test_classes();
    test_unknown();
    test_malformed();
    test_demux();
    test_rfc5780();

    printf("1..%d\n", tests);

    return failures ? 1 : 0;
}
