
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * A small strict JSON reader (RFC 8259) and the JSON messages of the
 * compat bridge login (spec 7.3) and of the registry (spec 6.3, 7.3).
 * Pure code, no nginx types, so that it can be unit tested and fuzzed on
 * its own (t/unit, t/fuzz).
 *
 * The reader never allocates and never reads past the given length.  It
 * accepts exactly RFC 8259 JSON texts: no BOM, no comments, no trailing
 * commas or garbage, no leading zeros, no raw control characters in
 * strings, strings must be UTF-8 (no overlongs, no surrogates) and
 * \u escapes must pair surrogates properly.  Containers nest at most
 * NGX_BEACON_JSON_DEPTH_MAX deep.  Object member names are compared
 * after unescaping; when a name repeats, the last member wins (as in Go's
 * encoding/json, which the reference uses).
 */


#ifndef _NGX_BEACON_JSON_H_INCLUDED_
#define _NGX_BEACON_JSON_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* value types */
#define NGX_BEACON_JSON_STRING         1
#define NGX_BEACON_JSON_NUMBER         2
#define NGX_BEACON_JSON_OBJECT         3
#define NGX_BEACON_JSON_ARRAY          4
#define NGX_BEACON_JSON_TRUE           5
#define NGX_BEACON_JSON_FALSE          6
#define NGX_BEACON_JSON_NULL           7

#define NGX_BEACON_JSON_DEPTH_MAX      16

/* results */
#define NGX_BEACON_JSON_OK             0
#define NGX_BEACON_JSON_NOT_FOUND      1
#define NGX_BEACON_JSON_END            1
#define NGX_BEACON_JSON_ERROR         -1   /* malformed */
#define NGX_BEACON_JSON_TYPE          -2   /* well-formed, other type */
#define NGX_BEACON_JSON_RANGE         -3   /* number > max, string > cap */

/* compat login (spec 7.3) */
#define NGX_BEACON_COMPAT_NONCE_LEN    64
#define NGX_BEACON_COMPAT_SIG_LEN      64
#define NGX_BEACON_COMPAT_KEY_LEN      32
/* the longest challenge is 126 bytes, the longest preimage 108 + NUL */
#define NGX_BEACON_COMPAT_CHALLENGE_MAX  128
#define NGX_BEACON_COMPAT_PREIMAGE_MAX   128

#define NGX_BEACON_COMPAT_BAD_JSON    -1   /* not JSON, or not an object */
#define NGX_BEACON_COMPAT_BAD_TYPE    -2   /* "type" is not "auth_reply" */
#define NGX_BEACON_COMPAT_BAD_NODE    -3   /* "node_id" not a u32 > 0 */
#define NGX_BEACON_COMPAT_BAD_SIG     -4   /* "sig" not base64 of 64 bytes */

/* registry (spec 6.3): 4-byte big-endian length, then JSON */
#define NGX_BEACON_REGISTRY_HDR_LEN    4
#define NGX_BEACON_REGISTRY_REPLY_MAX  (1024 * 1024)
/* 4 + {"type":"lookup","node_id":4294967295} */
#define NGX_BEACON_REGISTRY_LOOKUP_MAX  42


/*
 * One JSON value: data and len span its raw text exactly as in the
 * input (a string's quotes and a container's brackets included), so an
 * object or array value can be walked again with the functions below.
 */
typedef struct {
    int                      type;
    const unsigned char     *data;
    size_t                   len;
} ngx_beacon_json_val_t;


/* walks the members of an object or the elements of an array */
typedef struct {
    const unsigned char     *pos;
    const unsigned char     *end;
    int                      type;      /* OBJECT or ARRAY */
    unsigned                 depth;
    unsigned                 first:1;
    unsigned                 done:1;
    unsigned                 exact:1;
} ngx_beacon_json_iter_t;


/*
 * Validates a whole JSON text (whitespace around the value allowed,
 * nothing else).  Returns NGX_BEACON_JSON_OK with v set to the top-level
 * value, or NGX_BEACON_JSON_ERROR.
 */
/* 1 if p is well-formed UTF-8 (RFC 3629), 0 otherwise: the module's one
 * UTF-8 check, for JSON strings and WebSocket text and close reasons */
int ngx_beacon_json_utf8_valid(const unsigned char *p, size_t n);
int ngx_beacon_json_parse(const unsigned char *json, size_t len,
    ngx_beacon_json_val_t *v);

/*
 * Validates the JSON text and looks up a top-level member of the object
 * it must be.  Returns NGX_BEACON_JSON_OK with v set,
 * NGX_BEACON_JSON_NOT_FOUND, NGX_BEACON_JSON_ERROR for malformed JSON, or
 * NGX_BEACON_JSON_TYPE if the text is valid JSON but not an object.
 */
int ngx_beacon_json_object_get(const unsigned char *json, size_t len,
    const char *key, ngx_beacon_json_val_t *v);

/* the same for an object value, e.g. an array element */
int ngx_beacon_json_get(const ngx_beacon_json_val_t *obj, const char *key,
    ngx_beacon_json_val_t *v);

/*
 * Iteration over an object or array value: iter_init() returns
 * NGX_BEACON_JSON_OK or NGX_BEACON_JSON_TYPE; each iter_next() returns
 * NGX_BEACON_JSON_OK with the next element in v (and, for an object, the
 * member name as a STRING value in key; key may be NULL), then
 * NGX_BEACON_JSON_END, or NGX_BEACON_JSON_ERROR if the value turns out
 * malformed.
 */
int ngx_beacon_json_iter_init(ngx_beacon_json_iter_t *it,
    const ngx_beacon_json_val_t *v);
int ngx_beacon_json_iter_next(ngx_beacon_json_iter_t *it,
    ngx_beacon_json_val_t *key, ngx_beacon_json_val_t *v);

/*
 * Unescapes a STRING value to UTF-8 into out, NUL-terminated (cap counts
 * the NUL; the string itself may contain NUL bytes from \u0000).  Returns
 * NGX_BEACON_JSON_OK with *outlen set (NUL not counted),
 * NGX_BEACON_JSON_TYPE, NGX_BEACON_JSON_RANGE if out is too small, or
 * NGX_BEACON_JSON_ERROR.
 */
int ngx_beacon_json_string(const ngx_beacon_json_val_t *v,
    unsigned char *out, size_t cap, size_t *outlen);

/* 1 if v is a STRING whose unescaped value equals the C string s */
int ngx_beacon_json_string_eq(const ngx_beacon_json_val_t *v,
    const char *s);

/*
 * A NUMBER that is a plain non-negative integer (no sign, fraction or
 * exponent) not above max.  Returns NGX_BEACON_JSON_OK with *out set,
 * NGX_BEACON_JSON_TYPE (not a number, or not a plain integer),
 * NGX_BEACON_JSON_RANGE (above max) or NGX_BEACON_JSON_ERROR.
 */
int ngx_beacon_json_uint(const ngx_beacon_json_val_t *v, uint64_t max,
    uint64_t *out);

/*
 * A STRING that is standard base64 (A-Za-z0-9+/, "=" padding required,
 * no whitespace) of exactly n bytes.  As in Go's base64.StdEncoding, the
 * unused low bits of the last character need not be zero.  Returns
 * NGX_BEACON_JSON_OK with n bytes in out, NGX_BEACON_JSON_TYPE, or
 * NGX_BEACON_JSON_ERROR (out is then unspecified).
 */
int ngx_beacon_json_base64(const ngx_beacon_json_val_t *v,
    unsigned char *out, size_t n);


/*
 * {"type":"auth_challenge","nonce":"<nonce>","ts":<ts>}, no NUL.  Returns
 * its length, or 0 if cap is too small or nonce_hex64 is not a string of
 * exactly 64 lowercase hex digits.
 */
size_t ngx_beacon_compat_challenge(unsigned char *out, size_t cap,
    const char *nonce_hex64, int64_t ts);

/*
 * Checks an auth_reply in the order of spec 7.3: valid JSON object,
 * "type" is "auth_reply", "node_id" a u32 integer other than 0, "sig"
 * standard base64 of 64 bytes ("public_key" is ignored).  Returns 0 with
 * node_id and sig64 set, or NGX_BEACON_COMPAT_BAD_* (outputs untouched).
 */
int ngx_beacon_compat_parse_reply(const unsigned char *json, size_t len,
    uint32_t *node_id, unsigned char *sig64);

/*
 * "compat_auth:<node_id>:<ts>:<nonce>", NUL-terminated.  Returns its
 * length, or 0 if cap is too small or the nonce is not 64 lowercase hex
 * digits.
 */
size_t ngx_beacon_compat_preimage(char *out, size_t cap, uint32_t node_id,
    int64_t ts, const char *nonce_hex64);

/* 0 if sig64 is key32's Ed25519 signature of the preimage, -1 otherwise */
int ngx_beacon_compat_verify(const unsigned char *key32, uint32_t node_id,
    int64_t ts, const char *nonce_hex64, const unsigned char *sig64);


uint32_t ngx_beacon_registry_get_len(const unsigned char *p);
void ngx_beacon_registry_put_len(unsigned char *p, uint32_t len);

/*
 * Frames a registry message at the start of buf: 0 with *json_len set
 * when the length prefix and the whole JSON (at buf + 4) are in buf, 1
 * when more bytes are needed, -1 when the announced length exceeds max.
 */
int ngx_beacon_registry_frame(const unsigned char *buf, size_t len,
    size_t max, size_t *json_len);

/*
 * The length-prefixed {"type":"lookup","node_id":N}.  Returns the total
 * length (at most NGX_BEACON_REGISTRY_LOOKUP_MAX), 0 if cap is too small.
 */
size_t ngx_beacon_registry_lookup(unsigned char *out, size_t cap,
    uint32_t node_id);

/*
 * A lookup reply (the JSON after the length prefix): 0 with key32 set
 * when "public_key" is standard base64 of 32 bytes; 1 for an error reply
 * ("type":"error") or when "public_key" is absent, null or ""; -1 when
 * the reply is not a JSON object or "public_key" is anything else.
 */
int ngx_beacon_registry_parse_key(const unsigned char *json, size_t len,
    unsigned char *key32);


#endif /* _NGX_BEACON_JSON_H_INCLUDED_ */
