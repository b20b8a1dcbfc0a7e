
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * STUN (RFC 8489) Binding for the beacon: pure code, no nginx types.  The
 * demultiplexer that tells STUN from Pilot on a shared port, the message
 * parser, and the writer of Binding responses, all unit tested
 * (t/unit/stun_test.c) and fuzzed (t/fuzz/fuzz_stun.c) on their own.
 */


#ifndef _NGX_BEACON_STUN_H_INCLUDED_
#define _NGX_BEACON_STUN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_BEACON_STUN_HEADER_LEN       20
#define NGX_BEACON_STUN_COOKIE           0x2112a442
#define NGX_BEACON_STUN_FP_XOR           0x5354554e

#define NGX_BEACON_STUN_BINDING          0x001

#define NGX_BEACON_STUN_REQUEST          0
#define NGX_BEACON_STUN_INDICATION       1
#define NGX_BEACON_STUN_SUCCESS          2
#define NGX_BEACON_STUN_ERROR            3

/* attributes */
#define NGX_BEACON_STUN_MAPPED_ADDRESS   0x0001
#define NGX_BEACON_STUN_CHANGE_REQUEST   0x0003
#define NGX_BEACON_STUN_SOURCE_ADDRESS   0x0004   /* RFC 3489 */
#define NGX_BEACON_STUN_CHANGED_ADDRESS  0x0005   /* RFC 3489 */
#define NGX_BEACON_STUN_USERNAME         0x0006
#define NGX_BEACON_STUN_MESSAGE_INTEGRITY  0x0008
#define NGX_BEACON_STUN_ERROR_CODE       0x0009
#define NGX_BEACON_STUN_UNKNOWN_ATTRIBUTES 0x000a
#define NGX_BEACON_STUN_MESSAGE_INTEGRITY_SHA256  0x001c
#define NGX_BEACON_STUN_XOR_MAPPED_ADDRESS 0x0020
#define NGX_BEACON_STUN_RESPONSE_PORT    0x0027   /* RFC 5780 */
#define NGX_BEACON_STUN_SOFTWARE         0x8022
#define NGX_BEACON_STUN_FINGERPRINT      0x8028
#define NGX_BEACON_STUN_RESPONSE_ORIGIN  0x802b   /* RFC 5780 */
#define NGX_BEACON_STUN_OTHER_ADDRESS    0x802c   /* RFC 5780 */

/* CHANGE-REQUEST flags */
#define NGX_BEACON_STUN_CHANGE_IP        0x04
#define NGX_BEACON_STUN_CHANGE_PORT      0x02

#define NGX_BEACON_STUN_UNKNOWN_MAX      8
#define NGX_BEACON_STUN_SOFTWARE_MAX     128

/* the longest message ngx_beacon_stun_answer() writes */
#define NGX_BEACON_STUN_RESPONSE_MAX     320


/* ngx_beacon_stun_parse() results: 0, or why the message is dropped */
#define NGX_BEACON_STUN_OK               0
#define NGX_BEACON_STUN_SHORT           -1   /* under 20 bytes */
#define NGX_BEACON_STUN_NOT_STUN        -2   /* first two bits not zero */
#define NGX_BEACON_STUN_BAD_LENGTH      -3   /* not 4-aligned or mismatch */
#define NGX_BEACON_STUN_ATTR_OVERRUN    -4   /* attribute past the end */
#define NGX_BEACON_STUN_BAD_FINGERPRINT -5   /* CRC, size or not last */
#define NGX_BEACON_STUN_BAD_ATTRIBUTE   -6   /* a known attribute malformed */

#define NGX_BEACON_STUN_NREASONS         6


/* ngx_beacon_stun_answer() results */
#define NGX_BEACON_STUN_A_SUCCESS        0   /* Binding success response */
#define NGX_BEACON_STUN_A_ERROR_400      1   /* a request we cannot serve */
#define NGX_BEACON_STUN_A_ERROR_420      2   /* unknown attributes */
#define NGX_BEACON_STUN_A_INDICATION     3   /* no answer */
#define NGX_BEACON_STUN_A_WRONG_CLASS    4   /* a response: dropped */


/* an address and port: IPv4 kept IPv4-mapped */
typedef struct {
    uint8_t                  ip[16];
    uint16_t                 port;
} ngx_beacon_stun_addr_t;


/*
 * RFC 5780 behaviour discovery, for a server with a second address and
 * port: where this response leaves from (RESPONSE-ORIGIN, RFC 3489's
 * SOURCE-ADDRESS) and the other address and port (OTHER-ADDRESS, RFC
 * 3489's CHANGED-ADDRESS).  The caller picks the origin by the request's
 * CHANGE-REQUEST; with one, a CHANGE-REQUEST is answered, not refused.
 */
typedef struct {
    ngx_beacon_stun_addr_t   origin;
    ngx_beacon_stun_addr_t   other;
} ngx_beacon_stun_alt_t;


typedef struct {
    uint16_t                 method;
    uint8_t                  cls;
    uint8_t                  rfc3489;       /* no magic cookie */
    uint8_t                  fingerprint;   /* a valid FINGERPRINT */
    uint8_t                  integrity;     /* MESSAGE-INTEGRITY seen */
    uint8_t                  has_change;
    uint8_t                  change;        /* CHANGE-REQUEST flags */
    uint8_t                  nunknown;
    uint8_t                  has_mapped;    /* (XOR-)MAPPED-ADDRESS */
    uint8_t                  has_response_port;
    uint16_t                 response_port; /* RESPONSE-PORT */
    uint16_t                 unknown[NGX_BEACON_STUN_UNKNOWN_MAX];
    uint8_t                  id[16];        /* cookie + transaction id */

    /* XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS: IPv4 kept IPv4-mapped */
    uint8_t                  mapped_ip[16];
    uint16_t                 mapped_port;
    uint8_t                  mapped_family; /* 1 IPv4, 2 IPv6 */

    /* RESPONSE-ORIGIN / SOURCE-ADDRESS, OTHER-ADDRESS / CHANGED-ADDRESS */
    uint8_t                  has_origin;
    uint8_t                  has_other;
    ngx_beacon_stun_addr_t   origin;
    ngx_beacon_stun_addr_t   other;

    uint16_t                 error_code;    /* ERROR-CODE, in responses */
    const uint8_t           *software;
    size_t                   software_len;
} ngx_beacon_stun_msg_t;


/*
 * The demultiplexer for a port shared with Pilot: 1 if the datagram is
 * STUN.  STUN when at least 20 bytes, the first two bits zero, the first
 * byte no Pilot message type (0x01-0x0a), and the magic cookie at bytes
 * 4-7; or an RFC 3489 Binding request (0x0001, no cookie).  Pilot's type
 * byte is 0x01-0x0a in every message, so no Pilot message is ever taken
 * for STUN; every Binding request and indication starts with 0x00.
 */
int ngx_beacon_stun_is_stun(const uint8_t *p, size_t len);

int ngx_beacon_stun_parse(const uint8_t *p, size_t len,
    ngx_beacon_stun_msg_t *m);

/*
 * What to answer a parsed message from ip (16 bytes, IPv4 IPv4-mapped)
 * and port, written to out (NGX_BEACON_STUN_RESPONSE_MAX bytes) with its
 * length in *n (0 when nothing is sent).  alt and software may be NULL.
 */
int ngx_beacon_stun_answer(const ngx_beacon_stun_msg_t *m,
    const uint8_t *ip, uint16_t port, const ngx_beacon_stun_alt_t *alt,
    const uint8_t *software, size_t software_len, uint8_t *out, size_t *n);

uint32_t ngx_beacon_stun_crc32(const uint8_t *p, size_t len);

const char *ngx_beacon_stun_reason(int rc);


#endif /* _NGX_BEACON_STUN_H_INCLUDED_ */
