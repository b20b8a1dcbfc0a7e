
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Offset identity files and relay tickets (spec offset-relay.md 2.1,
 * 2.2): read with the module's one JSON reader (core/ngx_beacon_json.c,
 * strict RFC 8259 with UTF-8 checked; the named fields must be strings,
 * other values are skipped), written by writers that reproduce
 * serde_json's pretty printer byte for byte.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sodium.h>

#include "ngx_beacon_json.h"
#include "ngx_beacon_offset_ident.h"


#define NGX_BEACON_OFFSET_KEY_B64_MAX 256


typedef struct {
    const char              *name;
    char                    *out;
    size_t                   size;
    size_t                   len;
    int                      found;
} ngx_beacon_offset_json_field_t;


static const uint8_t  ngx_beacon_offset_pkcs8_prefix[16] = {
    0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06,
    0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20
};

static const uint8_t  ngx_beacon_offset_pkcs8_mid[5] = {
    0xa1, 0x23, 0x03, 0x21, 0x00
};


static int ngx_beacon_offset_json_object(const char *buf, size_t len,
    ngx_beacon_offset_json_field_t *fields, int n);
static size_t ngx_beacon_offset_json_escape(char *out, size_t size,
    const char *s, size_t len);


const char *
ngx_beacon_offset_ident_strerror(int rc)
{
    switch (rc) {
    case NGX_BEACON_OFFSET_IDENT_OK:
        return "ok";
    case NGX_BEACON_OFFSET_IDENT_ERR_IO:
        return "cannot read or write the file";
    case NGX_BEACON_OFFSET_IDENT_ERR_TOO_BIG:
        return "file too large";
    case NGX_BEACON_OFFSET_IDENT_ERR_JSON:
        return "malformed JSON (expected an object of strings)";
    case NGX_BEACON_OFFSET_IDENT_ERR_NO_KEY:
        return "required key field missing";
    case NGX_BEACON_OFFSET_IDENT_ERR_BASE64:
        return "key is not base64url without padding";
    case NGX_BEACON_OFFSET_IDENT_ERR_KEY_LEN:
        return "key has the wrong length "
               "(identity: 32, 64 or 85 bytes; public key: 32)";
    case NGX_BEACON_OFFSET_IDENT_ERR_PKCS8:
        return "85-byte key is not a legacy Ed25519 PKCS#8 document";
    case NGX_BEACON_OFFSET_IDENT_ERR_MISMATCH:
        return "public key in the file does not match the seed";
    case NGX_BEACON_OFFSET_IDENT_ERR_ADDRESS:
        return "address missing or longer than 256 bytes";
    case NGX_BEACON_OFFSET_IDENT_ERR_EXISTS:
        return "output file already exists";
    case NGX_BEACON_OFFSET_IDENT_ERR_SPACE:
        return "output buffer too small";
    case NGX_BEACON_OFFSET_IDENT_ERR_CRYPTO:
        return "crypto library failure";
    case NGX_BEACON_OFFSET_IDENT_ERR_UTF8:
        return "not valid UTF-8 (JSON text must be UTF-8, RFC 8259)";
    default:
        return "error";
    }
}


int
ngx_beacon_offset_ident_from_seed(ngx_beacon_offset_ident_t *id,
    const uint8_t *seed)
{
    memcpy(id->seed, seed, 32);

    if (crypto_sign_seed_keypair(id->pk, id->sk, seed) != 0) {
        return NGX_BEACON_OFFSET_IDENT_ERR_CRYPTO;
    }

    id->format = NGX_BEACON_OFFSET_IDENT_SEED;

    return NGX_BEACON_OFFSET_IDENT_OK;
}


int
ngx_beacon_offset_ident_generate(ngx_beacon_offset_ident_t *id)
{
    int      rc;
    uint8_t  seed[32];

    randombytes_buf(seed, sizeof(seed));
    rc = ngx_beacon_offset_ident_from_seed(id, seed);
    sodium_memzero(seed, sizeof(seed));

    return rc;
}


int
ngx_beacon_offset_ident_parse(ngx_beacon_offset_ident_t *id, const char *buf,
    size_t len)
{
    int                      rc, format;
    char                     b64[NGX_BEACON_OFFSET_KEY_B64_MAX + 1];
    size_t                   raw_len;
    uint8_t                  raw[NGX_BEACON_OFFSET_KEY_B64_MAX];
    const char              *end;
    const uint8_t           *seed, *pk;
    ngx_beacon_offset_json_field_t  f;

    f.name = "privateKey";
    f.out = b64;
    f.size = NGX_BEACON_OFFSET_KEY_B64_MAX;

    rc = ngx_beacon_offset_json_object(buf, len, &f, 1);

    if (rc == NGX_BEACON_OFFSET_IDENT_ERR_TOO_BIG) {
        return NGX_BEACON_OFFSET_IDENT_ERR_KEY_LEN;
    }

    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        return rc;
    }

    if (!f.found) {
        return NGX_BEACON_OFFSET_IDENT_ERR_NO_KEY;
    }

    if (sodium_base642bin(raw, sizeof(raw), b64, f.len, NULL, &raw_len,
                          &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING)
        != 0 || end != b64 + f.len)
    {
        sodium_memzero(b64, sizeof(b64));
        return NGX_BEACON_OFFSET_IDENT_ERR_BASE64;
    }

    sodium_memzero(b64, sizeof(b64));

    pk = NULL;

    switch (raw_len) {
    case 32:
        seed = raw;
        format = NGX_BEACON_OFFSET_IDENT_SEED;
        break;

    case 64:
        seed = raw;
        pk = raw + 32;
        format = NGX_BEACON_OFFSET_IDENT_SEED_PK;
        break;

    case NGX_BEACON_OFFSET_LEGACY_LEN:
        if (memcmp(raw, ngx_beacon_offset_pkcs8_prefix, 16) != 0
            || memcmp(raw + 48, ngx_beacon_offset_pkcs8_mid, 5) != 0)
        {
            sodium_memzero(raw, sizeof(raw));
            return NGX_BEACON_OFFSET_IDENT_ERR_PKCS8;
        }

        seed = raw + NGX_BEACON_OFFSET_LEGACY_SEED_OFF;
        pk = raw + NGX_BEACON_OFFSET_LEGACY_PK_OFF;
        format = NGX_BEACON_OFFSET_IDENT_PKCS8;
        break;

    default:
        sodium_memzero(raw, sizeof(raw));
        return NGX_BEACON_OFFSET_IDENT_ERR_KEY_LEN;
    }

    rc = ngx_beacon_offset_ident_from_seed(id, seed);

    if (rc == NGX_BEACON_OFFSET_IDENT_OK && pk && memcmp(pk, id->pk,
        32) != 0) {
        rc = NGX_BEACON_OFFSET_IDENT_ERR_MISMATCH;
    }

    sodium_memzero(raw, sizeof(raw));

    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        sodium_memzero(id, sizeof(ngx_beacon_offset_ident_t));
        return rc;
    }

    id->format = format;

    return NGX_BEACON_OFFSET_IDENT_OK;
}


int
ngx_beacon_offset_ident_load(ngx_beacon_offset_ident_t *id, const char *path)
{
    int     rc;
    char   *buf;
    size_t  len;

    rc = ngx_beacon_offset_read_file(path, &buf, &len);
    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        return rc;
    }

    rc = ngx_beacon_offset_ident_parse(id, buf, len);

    sodium_memzero(buf, len);
    free(buf);

    return rc;
}


void
ngx_beacon_offset_b64_key(char *out, const uint8_t *key)
{
    sodium_bin2base64(out, NGX_BEACON_OFFSET_B64_KEY_LEN + 1, key, 32,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}


size_t
ngx_beacon_offset_ident_format(char *out, size_t size,
    const ngx_beacon_offset_ident_t *id)
{
    char  b64[NGX_BEACON_OFFSET_B64_KEY_LEN + 1];

    if (size < NGX_BEACON_OFFSET_IDENT_FILE_LEN) {
        return 0;
    }

    ngx_beacon_offset_b64_key(b64, id->seed);

    memcpy(out, "{\n  \"privateKey\": \"", 19);
    memcpy(out + 19, b64, NGX_BEACON_OFFSET_B64_KEY_LEN);
    memcpy(out + 19 + NGX_BEACON_OFFSET_B64_KEY_LEN, "\"\n}", 3);

    sodium_memzero(b64, sizeof(b64));

    return NGX_BEACON_OFFSET_IDENT_FILE_LEN;
}


size_t
ngx_beacon_offset_ticket_format(char *out, size_t size, const uint8_t *pk,
    const char *address, size_t address_len)
{
    char    b64[NGX_BEACON_OFFSET_B64_KEY_LEN + 1];
    size_t  n, e;

    static const char  head[] = "{\n  \"publicKey\": \"";
    static const char  mid[] = "\",\n  \"address\": \"";
    static const char  tail[] = "\"\n}";

    if (address_len > NGX_BEACON_OFFSET_MAX_ADDRESS_LEN) {
        return 0;
    }

    n = sizeof(head) - 1 + NGX_BEACON_OFFSET_B64_KEY_LEN + sizeof(mid) - 1
        + sizeof(tail) - 1;

    if (size < n) {
        return 0;
    }

    e = ngx_beacon_offset_json_escape(NULL, 0, address, address_len);

    if (size - n < e) {
        return 0;
    }

    ngx_beacon_offset_b64_key(b64, pk);

    n = 0;
    memcpy(out + n, head, sizeof(head) - 1);
    n += sizeof(head) - 1;
    memcpy(out + n, b64, NGX_BEACON_OFFSET_B64_KEY_LEN);
    n += NGX_BEACON_OFFSET_B64_KEY_LEN;
    memcpy(out + n, mid, sizeof(mid) - 1);
    n += sizeof(mid) - 1;
    n += ngx_beacon_offset_json_escape(out + n, e, address, address_len);
    memcpy(out + n, tail, sizeof(tail) - 1);
    n += sizeof(tail) - 1;

    return n;
}


int
ngx_beacon_offset_ticket_parse(ngx_beacon_offset_ticket_t *t, const char *buf,
    size_t len)
{
    int                      rc;
    char                     b64[NGX_BEACON_OFFSET_KEY_B64_MAX + 1];
    size_t                   raw_len;
    uint8_t                  raw[NGX_BEACON_OFFSET_KEY_B64_MAX];
    const char              *end;
    ngx_beacon_offset_json_field_t  f[2];

    f[0].name = "publicKey";
    f[0].out = b64;
    f[0].size = NGX_BEACON_OFFSET_KEY_B64_MAX;
    f[1].name = "address";
    f[1].out = t->address;
    f[1].size = NGX_BEACON_OFFSET_MAX_ADDRESS_LEN;

    rc = ngx_beacon_offset_json_object(buf, len, f, 2);

    if (rc == NGX_BEACON_OFFSET_IDENT_ERR_TOO_BIG) {
        return f[0].len == (size_t) -1 ? NGX_BEACON_OFFSET_IDENT_ERR_KEY_LEN
                                       : NGX_BEACON_OFFSET_IDENT_ERR_ADDRESS;
    }

    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        return rc;
    }

    if (!f[0].found) {
        return NGX_BEACON_OFFSET_IDENT_ERR_NO_KEY;
    }

    if (!f[1].found) {
        return NGX_BEACON_OFFSET_IDENT_ERR_ADDRESS;
    }

    t->address_len = f[1].len;
    t->address[t->address_len] = '\0';

    if (sodium_base642bin(raw, sizeof(raw), b64, f[0].len, NULL, &raw_len,
                          &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING)
        != 0 || end != b64 + f[0].len)
    {
        return NGX_BEACON_OFFSET_IDENT_ERR_BASE64;
    }

    /* serde keeps the first 32 bytes of anything longer; we are strict */

    if (raw_len != 32) {
        return NGX_BEACON_OFFSET_IDENT_ERR_KEY_LEN;
    }

    memcpy(t->pk, raw, 32);

    return NGX_BEACON_OFFSET_IDENT_OK;
}


int
ngx_beacon_offset_ticket_load(ngx_beacon_offset_ticket_t *t, const char *path)
{
    int     rc;
    char   *buf;
    size_t  len;

    rc = ngx_beacon_offset_read_file(path, &buf, &len);
    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        return rc;
    }

    rc = ngx_beacon_offset_ticket_parse(t, buf, len);
    free(buf);

    return rc;
}


int
ngx_beacon_offset_read_file(const char *path, char **buf, size_t *len)
{
    int       fd, err;
    char     *p;
    size_t    n;
    ssize_t   r;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return NGX_BEACON_OFFSET_IDENT_ERR_IO;
    }

    p = malloc(NGX_BEACON_OFFSET_MAX_FILE_LEN + 1);
    if (p == NULL) {
        err = errno;
        (void) close(fd);
        errno = err;
        return NGX_BEACON_OFFSET_IDENT_ERR_IO;
    }

    n = 0;

    for ( ;; ) {
        r = read(fd, p + n, NGX_BEACON_OFFSET_MAX_FILE_LEN + 1 - n);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            err = errno;
            (void) close(fd);
            free(p);
            errno = err;
            return NGX_BEACON_OFFSET_IDENT_ERR_IO;
        }

        if (r == 0) {
            break;
        }

        n += (size_t) r;

        if (n > NGX_BEACON_OFFSET_MAX_FILE_LEN) {
            (void) close(fd);
            free(p);
            return NGX_BEACON_OFFSET_IDENT_ERR_TOO_BIG;
        }
    }

    (void) close(fd);

    *buf = p;
    *len = n;

    return NGX_BEACON_OFFSET_IDENT_OK;
}


int
ngx_beacon_offset_write_new_file(const char *path, const char *data,
    size_t len)
{
    int      fd, err;
    size_t   n;
    ssize_t  w;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        return errno == EEXIST ? NGX_BEACON_OFFSET_IDENT_ERR_EXISTS
                               : NGX_BEACON_OFFSET_IDENT_ERR_IO;
    }

    for (n = 0; n < len; n += (size_t) w) {
        w = write(fd, data + n, len - n);

        if (w == -1) {
            if (errno == EINTR) {
                w = 0;
                continue;
            }

            goto failed;
        }
    }

    if (fsync(fd) == -1) {
        goto failed;
    }

    if (close(fd) == -1) {
        err = errno;
        (void) unlink(path);
        errno = err;
        return NGX_BEACON_OFFSET_IDENT_ERR_IO;
    }

    return NGX_BEACON_OFFSET_IDENT_OK;

failed:

    err = errno;
    (void) close(fd);
    (void) unlink(path);
    errno = err;

    return NGX_BEACON_OFFSET_IDENT_ERR_IO;
}


/*
 * One top-level object (ngx_beacon_json.c reads it: RFC 8259, strings
 * UTF-8); the named fields must be strings, unescaped into their
 * buffers, others are skipped; a duplicate named field is an error, as
 * with serde.  A named field longer than its buffer: ERR_TOO_BIG, its len
 * set to (size_t) -1.
 */

static int
ngx_beacon_offset_json_object(const char *buf, size_t len,
    ngx_beacon_offset_json_field_t *fields, int n)
{
    int                      i, rc;
    ngx_beacon_json_val_t    top, key, v;
    ngx_beacon_json_iter_t   it;

    for (i = 0; i < n; i++) {
        fields[i].found = 0;
        fields[i].len = 0;
    }

    if (!ngx_beacon_json_utf8_valid((const unsigned char *) buf, len)) {
        return NGX_BEACON_OFFSET_IDENT_ERR_UTF8;
    }

    if (ngx_beacon_json_parse((const unsigned char *) buf, len, &top)
        != NGX_BEACON_JSON_OK
        || ngx_beacon_json_iter_init(&it, &top) != NGX_BEACON_JSON_OK
        || top.type != NGX_BEACON_JSON_OBJECT)
    {
        return NGX_BEACON_OFFSET_IDENT_ERR_JSON;
    }

    while ((rc = ngx_beacon_json_iter_next(&it, &key, &v))
           == NGX_BEACON_JSON_OK)
    {
        for (i = 0; i < n; i++) {
            if (ngx_beacon_json_string_eq(&key, fields[i].name)) {
                break;
            }
        }

        if (i == n) {
            continue;
        }

        if (fields[i].found) {
            return NGX_BEACON_OFFSET_IDENT_ERR_JSON;
        }

        /* the buffers hold size bytes and a NUL */

        rc = ngx_beacon_json_string(&v, (unsigned char *) fields[i].out,
                                    fields[i].size + 1, &fields[i].len);

        if (rc == NGX_BEACON_JSON_RANGE) {
            fields[i].len = (size_t) -1;
            return NGX_BEACON_OFFSET_IDENT_ERR_TOO_BIG;
        }

        if (rc != NGX_BEACON_JSON_OK) {
            return NGX_BEACON_OFFSET_IDENT_ERR_JSON;
        }

        fields[i].found = 1;
    }

    if (rc != NGX_BEACON_JSON_END) {
        return NGX_BEACON_OFFSET_IDENT_ERR_JSON;
    }

    return NGX_BEACON_OFFSET_IDENT_OK;
}


/* serde_json's string escaping; out == NULL: just the length */

static size_t
ngx_beacon_offset_json_escape(char *out, size_t size, const char *s,
    size_t len)
{
    size_t         i, n, k;
    char           e[6];
    unsigned char  c;

    static const char  hex[] = "0123456789abcdef";

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];
        k = 2;
        e[0] = '\\';

        switch (c) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        default:
            if (c < 0x20) {
                e[1] = 'u';
                e[2] = '0';
                e[3] = '0';
                e[4] = hex[c >> 4];
                e[5] = hex[c & 0xf];
                k = 6;

            } else {
                e[0] = (char) c;
                k = 1;
            }
        }

        if (out) {
            if (size - n < k) {
                return n;
            }

            memcpy(out + n, e, k);
        }

        n += k;
    }

    return n;
}
