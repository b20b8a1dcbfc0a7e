
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Offset identity files and relay tickets (spec offset-relay.md section
 * 2): pure code, no nginx types.  Byte-compatible with `stmgr gen-ident`
 * and `stmgr relay-ticket`; legacy PKCS#8 identity files are read as
 * section 2.1.3 describes.
 */


#ifndef _NGX_BEACON_OFFSET_IDENT_H_INCLUDED_
#define _NGX_BEACON_OFFSET_IDENT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_BEACON_OFFSET_B64_KEY_LEN         43
#define NGX_BEACON_OFFSET_MAX_ADDRESS_LEN     256
/* larger files are refused before parsing */
#define NGX_BEACON_OFFSET_MAX_FILE_LEN        65536

/* {\n  "privateKey": "<43>"\n} */
#define NGX_BEACON_OFFSET_IDENT_FILE_LEN      65

#define NGX_BEACON_OFFSET_LEGACY_LEN          85
#define NGX_BEACON_OFFSET_LEGACY_SEED_OFF     16
#define NGX_BEACON_OFFSET_LEGACY_PK_OFF       53


/* the key layout found in an identity file */
#define NGX_BEACON_OFFSET_IDENT_SEED          32    /* v0.1.11 */
#define NGX_BEACON_OFFSET_IDENT_SEED_PK       64    /* seed || public key */
#define NGX_BEACON_OFFSET_IDENT_PKCS8         85    /* v0.1.3 - v0.1.10 */


/* results */
#define NGX_BEACON_OFFSET_IDENT_OK             0
#define NGX_BEACON_OFFSET_IDENT_ERR_IO        -1    /* errno is kept */
#define NGX_BEACON_OFFSET_IDENT_ERR_TOO_BIG   -2
#define NGX_BEACON_OFFSET_IDENT_ERR_JSON      -3
#define NGX_BEACON_OFFSET_IDENT_ERR_NO_KEY    -4
#define NGX_BEACON_OFFSET_IDENT_ERR_BASE64    -5
#define NGX_BEACON_OFFSET_IDENT_ERR_KEY_LEN   -6
#define NGX_BEACON_OFFSET_IDENT_ERR_PKCS8     -7
#define NGX_BEACON_OFFSET_IDENT_ERR_MISMATCH  -8
#define NGX_BEACON_OFFSET_IDENT_ERR_ADDRESS   -9
#define NGX_BEACON_OFFSET_IDENT_ERR_EXISTS   -10
#define NGX_BEACON_OFFSET_IDENT_ERR_SPACE    -11
#define NGX_BEACON_OFFSET_IDENT_ERR_CRYPTO   -12
#define NGX_BEACON_OFFSET_IDENT_ERR_UTF8     -13   /* not UTF-8 */


typedef struct {
    uint8_t                  seed[32];
    uint8_t                  pk[32];
    uint8_t                  sk[64];     /* libsodium: seed || pk */
    int                      format;     /* NGX_BEACON_OFFSET_IDENT_SEED... */
} ngx_beacon_offset_ident_t;


typedef struct {
    uint8_t                  pk[32];
    size_t                   address_len;
    char                     address[NGX_BEACON_OFFSET_MAX_ADDRESS_LEN + 1];
} ngx_beacon_offset_ticket_t;


const char *ngx_beacon_offset_ident_strerror(int rc);

/* derives pk and sk from a 32-byte seed */
int ngx_beacon_offset_ident_from_seed(ngx_beacon_offset_ident_t *id,
    const uint8_t *seed);
/* a fresh identity from the CSPRNG */
int ngx_beacon_offset_ident_generate(ngx_beacon_offset_ident_t *id);

/*
 * Parses identity file contents: a JSON object whose "privateKey" is
 * base64url (no padding) of 32 bytes, 64 bytes (seed || pk, pk checked)
 * or an 85-byte PKCS#8 v2 document (prefix and pk checked).  Other
 * fields are ignored, as serde does.
 */
int ngx_beacon_offset_ident_parse(ngx_beacon_offset_ident_t *id,
    const char *buf, size_t len);
/* reads and parses a file */
int ngx_beacon_offset_ident_load(ngx_beacon_offset_ident_t *id,
    const char *path);

/*
 * Writes the file contents stmgr writes for the seed (65 bytes, no
 * trailing newline, no NUL); returns the length or 0 if size is short.
 */
size_t ngx_beacon_offset_ident_format(char *out, size_t size,
    const ngx_beacon_offset_ident_t *id);

/* a ticket: {"publicKey", "address"} as stmgr pretty-prints it */
size_t ngx_beacon_offset_ticket_format(char *out, size_t size,
    const uint8_t *pk, const char *address, size_t address_len);
int ngx_beacon_offset_ticket_parse(ngx_beacon_offset_ticket_t *t,
    const char *buf, size_t len);
int ngx_beacon_offset_ticket_load(ngx_beacon_offset_ticket_t *t,
    const char *path);

/* reads a whole (small) file into a malloc()ed buffer */
int ngx_beacon_offset_read_file(const char *path, char **buf, size_t *len);
/*
 * Creates path (never overwriting; mode 0600) and writes data:
 * NGX_BEACON_OFFSET_IDENT_ERR_EXISTS or NGX_BEACON_OFFSET_IDENT_ERR_IO on
 * failure.
 */
int ngx_beacon_offset_write_new_file(const char *path, const char *data,
    size_t len);

/* base64url without padding of 32 bytes: 43 characters plus NUL */
void ngx_beacon_offset_b64_key(char *out, const uint8_t *key);


#endif /* _NGX_BEACON_OFFSET_IDENT_H_INCLUDED_ */
