
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * RFC 6455 WebSocket, server side: upgrade header checks, the accept key,
 * the Origin rule of the compat bridge (spec 7.2), frame headers, masking,
 * fragmentation and close frames.  Pure code, no nginx types, so that it
 * can be unit tested and fuzzed on its own (t/unit, t/fuzz).
 */


#ifndef _NGX_BEACON_WS_H_INCLUDED_
#define _NGX_BEACON_WS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_BEACON_WS_OP_CONT          0x0
#define NGX_BEACON_WS_OP_TEXT          0x1
#define NGX_BEACON_WS_OP_BINARY        0x2
#define NGX_BEACON_WS_OP_CLOSE         0x8
#define NGX_BEACON_WS_OP_PING          0x9
#define NGX_BEACON_WS_OP_PONG          0xa

/* close codes (RFC 6455 7.4.1) */
#define NGX_BEACON_WS_CLOSE_NORMAL     1000
#define NGX_BEACON_WS_CLOSE_GOING_AWAY 1001
#define NGX_BEACON_WS_CLOSE_PROTOCOL   1002
#define NGX_BEACON_WS_CLOSE_UNSUPPORTED  1003
#define NGX_BEACON_WS_CLOSE_NO_STATUS  1005
#define NGX_BEACON_WS_CLOSE_BAD_DATA   1007
#define NGX_BEACON_WS_CLOSE_POLICY     1008
#define NGX_BEACON_WS_CLOSE_TOO_BIG    1009
#define NGX_BEACON_WS_CLOSE_INTERNAL   1011

/* ngx_beacon_ws_parse_header(): more bytes are needed */
#define NGX_BEACON_WS_AGAIN            -2

/* ngx_beacon_ws_msg_frame() results other than close codes */
#define NGX_BEACON_WS_CONTROL          1
#define NGX_BEACON_WS_DATA_PART        2
#define NGX_BEACON_WS_DATA_END         3

/* frame header sizes: server frames 2..10, client frames 6..14 */
#define NGX_BEACON_WS_HEADER_MAX       10
#define NGX_BEACON_WS_MASKED_HEADER_MAX  14
#define NGX_BEACON_WS_CONTROL_MAX      125
#define NGX_BEACON_WS_ACCEPT_LEN       28
#define NGX_BEACON_WS_KEY_LEN          24

/* ngx_beacon_ws_accept() hashes keys of at most this many bytes */
#define NGX_BEACON_WS_KEY_MAX          128


typedef struct {
    unsigned                 fin:1;
    unsigned                 masked:1;
    uint8_t                  opcode;
    uint8_t                  mask[4];
    size_t                   header_len;
    uint64_t                 payload_len;
} ngx_beacon_ws_frame_t;


/* fragmentation state of one connection; zero it before the first frame */
typedef struct {
    unsigned                 in_message:1;
    uint8_t                  opcode;       /* 1 text or 2 binary */
    uint64_t                 len;          /* payload bytes so far */
} ngx_beacon_ws_msg_t;


/*
 * 1 if the comma-separated header value v contains token, compared
 * case-insensitively with optional whitespace (SP, HTAB) trimmed around
 * each element; 0 otherwise.
 */
int ngx_beacon_ws_has_token(const unsigned char *v, size_t len,
    const char *token);

/*
 * 1 if key is standard base64 (alphabet A-Za-z0-9+/, "==" padding) of
 * exactly 16 bytes, i.e. 24 characters; 0 otherwise.  As in Go's
 * base64.StdEncoding (the reference), the unused low bits of the last
 * character are not required to be zero.
 */
int ngx_beacon_ws_key_valid(const unsigned char *key, size_t len);

/*
 * Writes the 28 characters of base64(SHA-1(key + RFC 6455 GUID)) to out28
 * (no NUL).  Returns 0, or -1 (out28 untouched) if len exceeds
 * NGX_BEACON_WS_KEY_MAX or libcrypto fails.
 */
int ngx_beacon_ws_accept(const unsigned char *key, size_t len,
    unsigned char *out28);

/*
 * The Origin rule of spec 7.2: 1 if origin starts with "pilot://" (scheme
 * compared case-insensitively), or if it is "<scheme>://<authority>" with
 * an optional "/", "?" or "#" tail and the authority (host[:port]) equals
 * host case-insensitively; 0 otherwise, including for anything
 * unparsable ("null", no scheme, empty authority, userinfo, spaces).
 */
int ngx_beacon_ws_origin_ok(const unsigned char *origin, size_t olen,
    const unsigned char *host, size_t hlen);

/*
 * Parses a client frame header at the start of buf.  Returns 0 when the
 * whole header (mask included) is in buf and f is filled in,
 * NGX_BEACON_WS_AGAIN when more bytes are needed, or a close code:
 * 1002 for RSV bits, reserved opcodes (0x3-0x7, 0xb-0xf), an unmasked
 * frame, a control frame with FIN=0 or a payload over 125 bytes, or a
 * 64-bit length with its top bit set; 1009 when the payload length
 * exceeds max_payload.  Errors are reported as soon as the bytes that
 * show them are present.  Non-minimal length encodings are accepted.
 */
int ngx_beacon_ws_parse_header(const unsigned char *buf, size_t len,
    uint64_t max_payload, ngx_beacon_ws_frame_t *f);

/*
 * The same for server frames, as test clients read them: a masked frame
 * is the 1002 error instead of an unmasked one.
 */
int ngx_beacon_ws_parse_server_header(const unsigned char *buf, size_t len,
    uint64_t max_payload, ngx_beacon_ws_frame_t *f);

/*
 * Unmasks (or masks) n payload bytes in place; offset is the number of
 * payload bytes of the frame already processed, so that a payload can be
 * unmasked in pieces.
 */
void ngx_beacon_ws_unmask(unsigned char *p, size_t n, const uint8_t *mask,
    uint64_t offset);

/*
 * Applies a frame that ngx_beacon_ws_parse_header() accepted to the
 * fragmentation state m.  Returns NGX_BEACON_WS_CONTROL for control
 * frames (allowed between fragments, state unchanged),
 * NGX_BEACON_WS_DATA_PART for a data frame of a message that continues,
 * NGX_BEACON_WS_DATA_END for the last frame of a message (m->opcode and
 * m->len then describe the whole message; the next data frame starts a
 * new one), 1002 for a continuation outside a message or a new data
 * opcode inside one (or any invalid opcode), and 1009 when the message
 * grows over max_message bytes.
 */
int ngx_beacon_ws_msg_frame(ngx_beacon_ws_msg_t *m,
    const ngx_beacon_ws_frame_t *f, uint64_t max_message);

/* 1 for codes allowed on the wire: 1000-1003, 1007-1014, 3000-4999 */
int ngx_beacon_ws_close_code_valid(unsigned code);

/*
 * Parses a received Close payload: 0 with *code set (1005 for an empty
 * body), 1002 for a 1-byte body or a code not allowed on the wire, 1007
 * if the reason is not UTF-8.
 */
int ngx_beacon_ws_close_parse(const unsigned char *p, size_t n,
    unsigned *code);

/* UTF-8 checks: ngx_beacon_json_utf8_valid() (ngx_beacon_json.h) */

/*
 * Server frame header (FIN set, unmasked): writes and returns 2, 4 or 10
 * bytes (at most NGX_BEACON_WS_HEADER_MAX).
 */
size_t ngx_beacon_ws_header(unsigned char *out, uint8_t opcode,
    uint64_t len);

/*
 * Close frame payload: the code big-endian, then the reason truncated on
 * a UTF-8 character boundary so that the total is at most 125 bytes.
 * code 0 gives an empty body.  reason may be NULL.  Returns the length.
 */
size_t ngx_beacon_ws_close_body(unsigned char *out, unsigned code,
    const char *reason);

/*
 * Client frame header (for test tools): writes and returns 6, 8 or 14
 * bytes (at most NGX_BEACON_WS_MASKED_HEADER_MAX).  The payload must be
 * masked separately with ngx_beacon_ws_unmask().
 */
size_t ngx_beacon_ws_header_masked(unsigned char *out, uint8_t opcode,
    int fin, uint64_t len, const uint8_t *mask);


#endif /* _NGX_BEACON_WS_H_INCLUDED_ */
