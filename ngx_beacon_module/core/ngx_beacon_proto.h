
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Pilot Protocol beacon wire format: pure code, no nginx types.  Every
 * byte of a beacon datagram is parsed here and nowhere else, so this
 * file can be unit tested and fuzzed on its own (t/unit, t/fuzz).
 */


#ifndef _NGX_BEACON_PROTO_H_INCLUDED_
#define _NGX_BEACON_PROTO_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_BEACON_DISCOVER            0x01
#define NGX_BEACON_DISCOVER_REPLY      0x02
#define NGX_BEACON_PUNCH_REQUEST       0x03
#define NGX_BEACON_PUNCH_COMMAND       0x04
#define NGX_BEACON_RELAY               0x05
#define NGX_BEACON_RELAY_DELIVER       0x06
#define NGX_BEACON_SYNC                0x07
#define NGX_BEACON_DISCOVER_EX         0x08
#define NGX_BEACON_RELAY_DELIVER_DEST  0x09
#define NGX_BEACON_NOTIFY              0x0a

#define NGX_BEACON_NOTIFY_HANDSHAKE    0x01

#define NGX_BEACON_KEY_LEN             32
#define NGX_BEACON_SIG_LEN             64
#define NGX_BEACON_GRANT_LEN           72
#define NGX_BEACON_MAX_PAYLOAD         65535
#define NGX_BEACON_MAX_DATAGRAM        65535

/* DISCOVER_REPLY / PUNCH_COMMAND: 2 + 16 + 2 at most */
#define NGX_BEACON_ADDR_MSG_MAX        20
#define NGX_BEACON_DELIVER_HDR_LEN     5
#define NGX_BEACON_DELIVER_DEST_HDR_LEN  9
#define NGX_BEACON_RELAY_HDR_LEN       9
#define NGX_BEACON_SYNC_HDR_LEN        7

/* the longest grant preimage: "punch-grant:" + 10 + ":" + 10 + ":" + 20 */
#define NGX_BEACON_GRANT_PREIMAGE_MAX  64


/* parse results */
#define NGX_BEACON_PARSE_OK             0
#define NGX_BEACON_PARSE_EMPTY         -1
#define NGX_BEACON_PARSE_SHORT         -2
#define NGX_BEACON_PARSE_UNKNOWN       -3
#define NGX_BEACON_PARSE_TRUNCATED     -4


/*
 * An endpoint in one normalised form: IPv4 is kept IPv4-mapped
 * (::ffff:a.b.c.d), as the reference does for its limiter keys.
 */
typedef struct {
    uint8_t                  ip[16];
    uint16_t                 port;      /* host order */
} ngx_beacon_addr_t;


typedef struct {
    uint8_t                  type;

    /* DISCOVER, DISCOVER_EX */
    uint32_t                 node_id;
    const uint8_t           *pubkey;      /* NULL unless len >= 37 */

    /* PUNCH_REQUEST */
    uint32_t                 requester;
    uint32_t                 target;
    const uint8_t           *grant;       /* NULL unless 72 grant bytes */
    int64_t                  grant_expiry;
    const uint8_t           *grant_sig;

    /* RELAY */
    uint32_t                 sender;
    uint32_t                 dest;
    const uint8_t           *payload;
    size_t                   payload_len;

    /* SYNC */
    uint32_t                 beacon_id;
    uint16_t                 count;
    const uint8_t           *ids;         /* count * 4 bytes, big-endian */
} ngx_beacon_msg_t;


/*
 * Parses one inbound datagram.  Only the types a beacon accepts from the
 * network are recognised (DISCOVER, DISCOVER_EX, PUNCH_REQUEST, RELAY,
 * SYNC); every other type, including the beacon's own outbound types,
 * is NGX_BEACON_PARSE_UNKNOWN.  Pointers in msg point into buf.
 */
int ngx_beacon_parse(const uint8_t *buf, size_t len, ngx_beacon_msg_t *msg);

/* inbound types the beacon also accepts from peer beacons (RELAY, SYNC) */
const char *ngx_beacon_type_name(uint8_t type);

uint32_t ngx_beacon_get32(const uint8_t *p);
void ngx_beacon_put32(uint8_t *p, uint32_t v);

/* DISCOVER_REPLY or PUNCH_COMMAND: returns 8 (IPv4/mapped) or 20 */
size_t ngx_beacon_encode_addr_msg(uint8_t *out, uint8_t type,
    const ngx_beacon_addr_t *addr);
/* decodes an 8/20 byte DISCOVER_REPLY/PUNCH_COMMAND (used by tests/tools) */
int ngx_beacon_decode_addr_msg(const uint8_t *buf, size_t len,
    uint8_t *type, ngx_beacon_addr_t *addr);

size_t ngx_beacon_encode_deliver_hdr(uint8_t *out, uint32_t sender);
size_t ngx_beacon_encode_deliver_dest_hdr(uint8_t *out, uint32_t sender,
    uint32_t dest);
size_t ngx_beacon_encode_relay_hdr(uint8_t *out, uint32_t sender,
    uint32_t dest);
size_t ngx_beacon_encode_notify(uint8_t *out, uint8_t kind);
/* returns bytes written, 0 if cap is too small */
size_t ngx_beacon_encode_sync(uint8_t *out, size_t cap, uint32_t beacon_id,
    const uint32_t *ids, uint16_t n);
size_t ngx_beacon_encode_discover(uint8_t *out, uint8_t type,
    uint32_t node_id, const uint8_t *pubkey);
size_t ngx_beacon_encode_punch_request(uint8_t *out, uint32_t requester,
    uint32_t target, int64_t expiry, const uint8_t *sig);

/* "punch-grant:<requester>:<target>:<expiry>", returns its length */
size_t ngx_beacon_grant_preimage(char *out, uint32_t requester,
    uint32_t target, int64_t expiry);
/* 0 if sig is a valid Ed25519 signature of the grant by key */
int ngx_beacon_grant_verify(const uint8_t *key, uint32_t requester,
    uint32_t target, int64_t expiry, const uint8_t *sig);

/*
 * Authenticated gossip between our own beacons (W7): a trailer after the
 * SYNC id list, which reference receivers ignore ("trailing bytes
 * ignored"): "NBG1", the sender's Unix time (i64), and the first 16 bytes
 * of HMAC-SHA-256(key, datagram up to and including the time).
 */
#define NGX_BEACON_SYNC_AUTH_LEN       28

size_t ngx_beacon_sync_auth(uint8_t *out, const uint8_t *msg, size_t len,
    const uint8_t *key32, int64_t now);
/* 0 when the trailer is valid and its time within window seconds of now */
int ngx_beacon_sync_auth_check(const uint8_t *msg, size_t len,
    const uint8_t *trailer, size_t tlen, const uint8_t *key32, int64_t now,
    int64_t window);

/*
 * The checks a received SYNC (msg, parsed from buf/len by
 * ngx_beacon_parse()) passes before its ids are installed: with a gossip
 * key (key32 not NULL) the bytes after the id list must be a valid
 * trailer within window seconds of now; without one trailing bytes are
 * ignored, as reference receivers do.  0 accepted, -1 rejected.
 */
int ngx_beacon_sync_check(const uint8_t *buf, size_t len,
    const ngx_beacon_msg_t *msg, const uint8_t *key32, int64_t now,
    int64_t window);

/* sockaddr (AF_INET/AF_INET6) <-> normalised address; -1 on other families */
int ngx_beacon_addr_from_sockaddr(ngx_beacon_addr_t *addr,
    const void *sockaddr);
int ngx_beacon_addr_is_v4(const ngx_beacon_addr_t *addr);
/* writes "a.b.c.d:port" or "[v6]:port", returns length (at most 48) */
size_t ngx_beacon_addr_print(char *out, const ngx_beacon_addr_t *addr,
    int with_port);

/*
 * One line of a key file: "<node_id> <base64 Ed25519 key>".  Returns 1 for
 * a blank or '#' comment line, 0 with id and key set, -1 if malformed.
 */
int ngx_beacon_keyline_parse(const char *line, size_t len, uint32_t *id,
    uint8_t *key);


typedef struct {
    uint32_t                 id;
    uint8_t                  key[NGX_BEACON_KEY_LEN];
} ngx_beacon_key_t;


/*
 * A whole key file (lines split at '\n', each as by
 * ngx_beacon_keyline_parse()) into keys, which must have room for one
 * entry per line (ngx_beacon_keyfile_lines()).  Returns 0 with *n entries
 * sorted by id; -1 with *line the first malformed line (1-based); -2 with
 * *line the node id listed twice.
 */
int ngx_beacon_keyfile_parse(const char *buf, size_t len,
    ngx_beacon_key_t *keys, size_t *n, size_t *line);
/* an upper bound on the entries of a key file: its number of lines */
size_t ngx_beacon_keyfile_lines(const char *buf, size_t len);

/*
 * A peer address as the registry lists it: "a.b.c.d:port" or
 * "[v6]:port" (a bare v6 address before the last ':' is taken too),
 * numeric only, port 1-65535.  0 with addr set, -1 otherwise.
 */
int ngx_beacon_addr_parse(const char *text, size_t len,
    ngx_beacon_addr_t *addr);


#endif /* _NGX_BEACON_PROTO_H_INCLUDED_ */
