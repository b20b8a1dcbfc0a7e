
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Offset relay serialization (spec offset-relay.md section 4): a
 * hand-written Cap'n Proto codec for exactly the relay's schemas, packed
 * encoding with standard stream framing.  Pure code, no nginx types, so
 * it can be unit tested and fuzzed on its own (t/unit, t/fuzz).
 *
 * Encoders write one canonical single-segment message (section 4.4),
 * packed, into a caller buffer.  Decoders take any valid message:
 * several segments, single and double far pointers, shorter or longer
 * structs (schema evolution), all bounds checked.
 */


#ifndef _NGX_BEACON_OFFSET_CAPNP_H_INCLUDED_
#define _NGX_BEACON_OFFSET_CAPNP_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_BEACON_OFFSET_CAPNP_KEY_LEN              32
#define NGX_BEACON_OFFSET_CAPNP_NONCE_LEN            16
#define NGX_BEACON_OFFSET_CAPNP_SIG_LEN              64

/* limits (section 4.5); capnp-rust allows 511 segments, we allow 64 */
#define NGX_BEACON_OFFSET_CAPNP_MAX_SEGMENTS   64
#define NGX_BEACON_OFFSET_CAPNP_TRAVERSAL      (8 * 1024 * 1024)    /* words */
#define NGX_BEACON_OFFSET_CAPNP_NESTING        64
/* a Data list holds at most 2^29 - 1 bytes */
#define NGX_BEACON_OFFSET_CAPNP_MAX_DATA       0x1fffffff

/* results of the readers and decoders */
#define NGX_BEACON_OFFSET_CAPNP_OK              0
#define NGX_BEACON_OFFSET_CAPNP_ETRUNC      -1   /* input ends in a message */
#define NGX_BEACON_OFFSET_CAPNP_ESEGMENTS   -2   /* segment count over limit */
#define NGX_BEACON_OFFSET_CAPNP_ELIMIT      -3   /* scratch or traversal */
#define NGX_BEACON_OFFSET_CAPNP_EPACKED        -4   /* run past message end */
#define NGX_BEACON_OFFSET_CAPNP_EBOUNDS        -5   /* target outside segment */
#define NGX_BEACON_OFFSET_CAPNP_EPOINTER       -6   /* wrong pointer kind */
#define NGX_BEACON_OFFSET_CAPNP_ENESTING       -7   /* nesting limit */
#define NGX_BEACON_OFFSET_CAPNP_EUNION         -8   /* unknown discriminant */

/* union discriminants, in declaration order */
#define NGX_BEACON_OFFSET_INIT_LISTEN          0
#define NGX_BEACON_OFFSET_INIT_ACCEPT          1
#define NGX_BEACON_OFFSET_INIT_CONNECT         2

#define NGX_BEACON_OFFSET_KA_KEEPALIVE         0
#define NGX_BEACON_OFFSET_KA_MESSAGE           1

#define NGX_BEACON_OFFSET_CONTENT_REKEY        0
#define NGX_BEACON_OFFSET_CONTENT_USER         1


/* a Data field: points into the message words; NULL when null */
typedef struct {
    const uint8_t           *data;
    size_t                   len;
} ngx_beacon_offset_capnp_data_t;


/* a read message: segments point into the caller's buffer */
typedef struct {
    const uint8_t           *seg[NGX_BEACON_OFFSET_CAPNP_MAX_SEGMENTS];
    /* in words */
    uint32_t                 size[NGX_BEACON_OFFSET_CAPNP_MAX_SEGMENTS];
    uint32_t                 nsegs;
    size_t                   len;            /* bytes, table included */

    /* set to the defaults by the readers, may be lowered before decoding */
    uint64_t                 traversal_limit;  /* words, per decode call */
    unsigned                 nesting_limit;

    /* internal */
    uint64_t                 traversal_left;
} ngx_beacon_offset_capnp_msg_t;


/* InitConnection: public_key is zero for listen */
typedef struct {
    unsigned                 which;
    uint8_t                  public_key[NGX_BEACON_OFFSET_CAPNP_KEY_LEN];
} ngx_beacon_offset_capnp_init_t;

/* IncomingConnection and RejectConnection */
typedef struct {
    uint8_t                  public_key[NGX_BEACON_OFFSET_CAPNP_KEY_LEN];
} ngx_beacon_offset_capnp_conn_t;

typedef struct {
    unsigned                 which;
    /* NGX_BEACON_OFFSET_KA_MESSAGE */
    ngx_beacon_offset_capnp_data_t  message;
} ngx_beacon_offset_capnp_ka_t;

typedef struct {
    uint8_t                  rand_nonce[NGX_BEACON_OFFSET_CAPNP_NONCE_LEN];
    uint8_t                  src_public_key[NGX_BEACON_OFFSET_CAPNP_KEY_LEN];
    unsigned                 has_dest;       /* optDestPublicKey */
    uint8_t                  dest_public_key[NGX_BEACON_OFFSET_CAPNP_KEY_LEN];
} ngx_beacon_offset_capnp_ern_t;

typedef struct {
    uint8_t                  dh_public_key[NGX_BEACON_OFFSET_CAPNP_KEY_LEN];
    uint8_t                  rand_nonce[NGX_BEACON_OFFSET_CAPNP_NONCE_LEN];
    uint8_t                  key_salt[NGX_BEACON_OFFSET_CAPNP_KEY_LEN];
    uint8_t                  signature[NGX_BEACON_OFFSET_CAPNP_SIG_LEN];
} ngx_beacon_offset_capnp_dh_t;

typedef struct {
    /* data NULL: a null pointer */
    ngx_beacon_offset_capnp_data_t  rand_padding;
    unsigned                 which;
    /* rekey */
    uint8_t                  dh_public_key[NGX_BEACON_OFFSET_CAPNP_KEY_LEN];
    uint8_t                  key_salt[NGX_BEACON_OFFSET_CAPNP_KEY_LEN];
    /* NGX_BEACON_OFFSET_CONTENT_USER */
    ngx_beacon_offset_capnp_data_t  user;
} ngx_beacon_offset_capnp_channel_t;


/*
 * Readers.  read_packed unpacks the segment table and the segments into
 * scratch (which bounds the unpacked size) and reads them from there;
 * read takes an unpacked message.  Bytes after the message are ignored.
 * Both return NGX_BEACON_OFFSET_CAPNP_OK or a negative error; the decoded Data
 * fields below point into scratch (or buf), which must outlive them.
 * consumed, if not NULL, is set to the input bytes the message used.
 */
int ngx_beacon_offset_capnp_read_packed(ngx_beacon_offset_capnp_msg_t *msg,
    const uint8_t *in, size_t len, uint8_t *scratch, size_t cap,
    size_t *consumed);
int ngx_beacon_offset_capnp_read(ngx_beacon_offset_capnp_msg_t *msg,
    const uint8_t *buf, size_t len);

/*
 * decoders: NGX_BEACON_OFFSET_CAPNP_OK, or a negative error with out all
 * zeros
 */
int ngx_beacon_offset_capnp_decode_init(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_init_t *out);
int ngx_beacon_offset_capnp_decode_conn(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_conn_t *out);
int ngx_beacon_offset_capnp_decode_ka(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_ka_t *out);
int ngx_beacon_offset_capnp_decode_ern(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_ern_t *out);
int ngx_beacon_offset_capnp_decode_dh(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_dh_t *out);
int ngx_beacon_offset_capnp_decode_channel(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_channel_t *out);

/*
 * Encoders: one packed single-segment message in out; the length, or 0
 * if cap is too small or a field is invalid (unknown discriminant, Data
 * over NGX_BEACON_OFFSET_CAPNP_MAX_DATA).  conn encodes IncomingConnection and
 * RejectConnection (their bytes are identical).
 */
size_t ngx_beacon_offset_capnp_encode_init(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_init_t *m);
size_t ngx_beacon_offset_capnp_encode_conn(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_conn_t *m);
size_t ngx_beacon_offset_capnp_encode_ka(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_ka_t *m);
size_t ngx_beacon_offset_capnp_encode_ern(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_ern_t *m);
size_t ngx_beacon_offset_capnp_encode_dh(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_dh_t *m);
size_t ngx_beacon_offset_capnp_encode_channel(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_channel_t *m);

/*
 * The packing transform alone, word by word (len a multiple of 8): returns
 * the packed length, or 0 if cap is too small.  unpack returns the
 * unpacked length or 0 on malformed input or if cap is too small.
 */
size_t ngx_beacon_offset_capnp_pack(uint8_t *out, size_t cap,
    const uint8_t *in, size_t len);
size_t ngx_beacon_offset_capnp_unpack(uint8_t *out, size_t cap,
    const uint8_t *in, size_t len);

const char *ngx_beacon_offset_capnp_strerror(int rc);


#endif /* _NGX_BEACON_OFFSET_CAPNP_H_INCLUDED_ */
