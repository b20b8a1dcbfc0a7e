
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Known-answer unit tests for the JSON reader and the compat login and
 * registry messages (ngx_beacon_json.c).  Vectors come from the
 * specification: sections 6.3 and 7.3.
 * Output is TAP; the exit status is non-zero if any test fails.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ngx_beacon_json.h"
#include "tap.h"


static int b64(unsigned char *out, size_t n, const char *s);
static unsigned char *dup_exact(const char *json, size_t *len);
static void quote(char *out, size_t cap, const char *prefix, const char *s);
static int parse(const char *json, ngx_beacon_json_val_t *v);
static int get(const char *json, const char *key, ngx_beacon_json_val_t *v);
static int str(const char *json, unsigned char *out, size_t cap,
    size_t *outlen);
static int uint_of(const char *json, uint64_t max, uint64_t *out);
static int reply(const char *json, uint32_t *node_id, unsigned char *sig);
static int regkey(const char *json, unsigned char *key);
static void test_parse_valid(void);
static void test_parse_invalid(void);
static void test_depth(void);
static void test_bounds(void);
static void test_object_get(void);
static void test_string(void);
static void test_uint(void);
static void test_iter(void);
static void test_base64(void);
static void test_challenge(void);
static void test_reply(void);
static void test_preimage_verify(void);
static void test_registry(void);




/* RFC 8032 test key 1 and the section 7.3 vector */
static const char  rfc8032_seed[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char  rfc8032_pk_b64[] =
    "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char  compat_sig_b64[] =
    "34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQu22UXEQi9wsWPtZmozqn"
    "kVtY1qgZMsPyXDQ==";
static const char  nonce0[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

#define COMPAT_NODE  4242
#define COMPAT_TS    1767225600LL


/* libsodium's strict decoder, as the reference for known vectors */
static int
b64(unsigned char *out, size_t n, const char *s)
{
    size_t  len;

    if (sodium_base642bin(out, n, s, strlen(s), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0
        || len != n)
    {
        fprintf(stderr, "bad base64 vector: %s\n", s);
        exit(2);
    }

    return 0;
}


/* a test name showing s with C escapes, safe for TAP */
static void
quote(char *out, size_t cap, const char *prefix, const char *s)
{
    size_t  n;

    n = (size_t) snprintf(out, cap, "%s", prefix);

    for ( /* void */ ; *s && n + 5 < cap; s++) {
        if (*s >= 0x20 && *s < 0x7f) {
            out[n++] = *s;

        } else {
            n += (size_t) snprintf(out + n, cap - n, "\\x%02x",
                                   (unsigned char) *s);
        }
    }

    out[n] = '\0';
}


/*
 * Every helper below hands the reader an exact-size heap copy without a
 * NUL, so that sanitizer builds catch a read past len.
 */

static unsigned char *
dup_exact(const char *json, size_t *len)
{
    unsigned char  *p;

    *len = strlen(json);

    p = malloc(*len ? *len : 1);
    if (p == NULL) {
        exit(2);
    }

    memcpy(p, json, *len);

    return p;
}


static unsigned char  *last_copy;


static int
parse(const char *json, ngx_beacon_json_val_t *v)
{
    size_t  len;

    free(last_copy);
    last_copy = dup_exact(json, &len);

    return ngx_beacon_json_parse(last_copy, len, v);
}


static int
get(const char *json, const char *key, ngx_beacon_json_val_t *v)
{
    size_t  len;

    free(last_copy);
    last_copy = dup_exact(json, &len);

    return ngx_beacon_json_object_get(last_copy, len, key, v);
}


/* decodes the top-level string value of json */
static int
str(const char *json, unsigned char *out, size_t cap, size_t *outlen)
{
    ngx_beacon_json_val_t  v;

    if (parse(json, &v) != NGX_BEACON_JSON_OK) {
        return 99;
    }

    return ngx_beacon_json_string(&v, out, cap, outlen);
}


static int
uint_of(const char *json, uint64_t max, uint64_t *out)
{
    ngx_beacon_json_val_t  v;

    if (parse(json, &v) != NGX_BEACON_JSON_OK) {
        return 99;
    }

    return ngx_beacon_json_uint(&v, max, out);
}


static int
reply(const char *json, uint32_t *node_id, unsigned char *sig)
{
    int             rc;
    size_t          len;
    unsigned char  *p;

    p = dup_exact(json, &len);
    rc = ngx_beacon_compat_parse_reply(p, len, node_id, sig);
    free(p);

    return rc;
}


static int
regkey(const char *json, unsigned char *key)
{
    int             rc;
    size_t          len;
    unsigned char  *p;

    p = dup_exact(json, &len);
    rc = ngx_beacon_registry_parse_key(p, len, key);
    free(p);

    return rc;
}


static void
test_parse_valid(void)
{
    size_t                 i;
    char                   name[160];
    ngx_beacon_json_val_t  v;

    static const struct {
        const char  *json;
        int          type;
        size_t       off;
        size_t       len;
    } cases[] = {
        { "{}", NGX_BEACON_JSON_OBJECT, 0, 2 },
        { "[]", NGX_BEACON_JSON_ARRAY, 0, 2 },
        { " \t\r\n{ } \n", NGX_BEACON_JSON_OBJECT, 4, 3 },
        { "0", NGX_BEACON_JSON_NUMBER, 0, 1 },
        { "-0", NGX_BEACON_JSON_NUMBER, 0, 2 },
        { "-12.5e+3", NGX_BEACON_JSON_NUMBER, 0, 8 },
        { "1E-2", NGX_BEACON_JSON_NUMBER, 0, 4 },
        { "0.0", NGX_BEACON_JSON_NUMBER, 0, 3 },
        { " 42 ", NGX_BEACON_JSON_NUMBER, 1, 2 },
        { "\"\"", NGX_BEACON_JSON_STRING, 0, 2 },
        { "\"a\\\"b\"", NGX_BEACON_JSON_STRING, 0, 6 },
        { "true", NGX_BEACON_JSON_TRUE, 0, 4 },
        { "false", NGX_BEACON_JSON_FALSE, 0, 5 },
        { "null", NGX_BEACON_JSON_NULL, 0, 4 },
        { "[1,\"x\",true,false,null,{},[],{\"a\":[{}]}]",
          NGX_BEACON_JSON_ARRAY, 0, 40 },
        { "{\"a\" : 1 , \"b\":{\"c\":[ 1 , 2 ]} }",
          NGX_BEACON_JSON_OBJECT, 0, 32 },
        { "{\"\":0}", NGX_BEACON_JSON_OBJECT, 0, 6 },
        { "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
          NGX_BEACON_JSON_STRING, 0, 11 },
        { "\"\\ud83d\\ude00\\u00e9\\u20AC\\u0000\"",
          NGX_BEACON_JSON_STRING, 0, 32 },
        { "\"\x7f\"", NGX_BEACON_JSON_STRING, 0, 3 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        quote(name, sizeof(name), "parse valid: ", cases[i].json);

        ok(parse(cases[i].json, &v) == NGX_BEACON_JSON_OK
           && v.type == cases[i].type
           && v.data == last_copy + cases[i].off && v.len == cases[i].len,
           name);
    }
}


static void
test_parse_invalid(void)
{
    size_t                 i;
    char                   name[160];
    ngx_beacon_json_val_t  v;

    static const char  *cases[] = {
        "", " ", "{", "}", "[", "]", "{]", "[}", "{\"a\":1,}", "[1,]",
        "[,1]", "[1 2]", "{\"a\" 1}", "{\"a\":}", "{\"a\"}", "{a:1}",
        "{'a':1}", "{1:1}", "{\"a\":1 \"b\":2}", "{\"a\":1,,\"b\":2}",
        "01", "-01", "00", "-", "+1", "1.", ".5", "1.e3", "1e", "1e+",
        "0x10", "1 2", "NaN", "Infinity", "-Infinity", "tru", "truex",
        "True", "nul", "nulll", "fals", "'x'", "\"abc", "\"abc\\\"",
        "\"\x01\"", "\"\t\"", "\"\n\"", "\"\\x\"", "\"\\U0041\"",
        "\"\\u12\"", "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"\\ud800\\ud800\"", "\"\\ud800x\"",
        "\"\\udbff\\udbff\"", "\"\xc0\x80\"", "\"\xc1\xbf\"",
        "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\"", "\"\x80\"",
        "\"\xe2\x82\"", "\"\xff\"", "\xef\xbb\xbf{}", "{} x", "{}{}",
        "[]]", "{}}", "/**/{}", "{}//", "{\"a\":1}\x0b",
        "\x0c{}", "[\"a\",]", "{\"a\":1,\"b\"}", "[-]", "[1e5.0]",
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        quote(name, sizeof(name), "parse rejects: ", cases[i]);
        ok(parse(cases[i], &v) == NGX_BEACON_JSON_ERROR, name);
    }

    /* texts with NUL bytes inside need explicit lengths */
    ok(ngx_beacon_json_parse((const unsigned char *) "[1]\0", 4, &v)
       == NGX_BEACON_JSON_ERROR,
       "parse rejects a trailing NUL");
    ok(ngx_beacon_json_parse((const unsigned char *) "\"a\0b\"", 5, &v)
       == NGX_BEACON_JSON_ERROR,
       "parse rejects a raw NUL in a string");
}


static void
test_depth(void)
{
    int                    i;
    char                   buf[128];
    ngx_beacon_json_val_t  v;

    for (i = 0; i < 16; i++) {
        buf[i] = '[';
        buf[16 + i] = ']';
    }

    buf[32] = '\0';
    ok(parse(buf, &v) == NGX_BEACON_JSON_OK && v.len == 32,
       "depth: 16 nested arrays");

    for (i = 0; i < 17; i++) {
        buf[i] = '[';
        buf[17 + i] = ']';
    }

    buf[34] = '\0';
    ok(parse(buf, &v) == NGX_BEACON_JSON_ERROR, "depth: 17 nested arrays");

    buf[0] = '\0';

    for (i = 0; i < 15; i++) {
        strcat(buf, "{\"a\":");
    }

    strcat(buf, "[1]");

    for (i = 0; i < 15; i++) {
        strcat(buf, "}");
    }

    ok(parse(buf, &v) == NGX_BEACON_JSON_OK,
       "depth: 15 objects around an array");

    buf[0] = '\0';

    for (i = 0; i < 16; i++) {
        strcat(buf, "{\"a\":");
    }

    strcat(buf, "[]");

    for (i = 0; i < 16; i++) {
        strcat(buf, "}");
    }

    ok(parse(buf, &v) == NGX_BEACON_JSON_ERROR,
       "depth: 16 objects around an array");

    ok(parse("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", &v)
       == NGX_BEACON_JSON_ERROR,
       "depth: deep unterminated");
}


static void
test_bounds(void)
{
    ngx_beacon_json_val_t  v;

    /* only len bytes are read, whatever follows in memory */

    ok(ngx_beacon_json_parse((const unsigned char *) "{\"a\":1}", 6, &v)
       == NGX_BEACON_JSON_ERROR,
       "bounds: {\"a\":1 of a longer buffer is incomplete");
    ok(ngx_beacon_json_parse((const unsigned char *) "123", 2, &v)
       == NGX_BEACON_JSON_OK && v.len == 2,
       "bounds: 12 of 123");
    ok(ngx_beacon_json_parse((const unsigned char *) "\"ab\"", 3, &v)
       == NGX_BEACON_JSON_ERROR,
       "bounds: unterminated string at len");
    ok(ngx_beacon_json_parse((const unsigned char *) "\"\\u0041\"", 6, &v)
       == NGX_BEACON_JSON_ERROR,
       "bounds: \\u escape cut by len");
    ok(ngx_beacon_json_parse((const unsigned char *) "\"\xe2\x82\xac\"", 3,
                             &v)
       == NGX_BEACON_JSON_ERROR,
       "bounds: UTF-8 sequence cut by len");
    ok(ngx_beacon_json_parse((const unsigned char *) "true", 3, &v)
       == NGX_BEACON_JSON_ERROR,
       "bounds: literal cut by len");
    ok(ngx_beacon_json_parse((const unsigned char *) "", 0, &v)
       == NGX_BEACON_JSON_ERROR,
       "bounds: zero length");
}


static void
test_object_get(void)
{
    size_t                 n;
    unsigned char          out[64];
    ngx_beacon_json_val_t  v;

    ok(get("{\"type\":\"auth_reply\",\"node_id\":1}", "type", &v)
       == NGX_BEACON_JSON_OK && v.type == NGX_BEACON_JSON_STRING
       && v.len == 12 && memcmp(v.data, "\"auth_reply\"", 12) == 0,
       "object_get: string member, raw text with quotes");
    ok(get("{\"type\":\"auth_reply\",\"node_id\":1}", "node_id", &v)
       == NGX_BEACON_JSON_OK && v.type == NGX_BEACON_JSON_NUMBER
       && v.len == 1 && v.data[0] == '1',
       "object_get: number member");
    ok(get(" { \"a\" : { \"b\" : [ 1 ] } } ", "a", &v) == NGX_BEACON_JSON_OK
       && v.type == NGX_BEACON_JSON_OBJECT
       && v.len == 15 && memcmp(v.data, "{ \"b\" : [ 1 ] }", 15) == 0,
       "object_get: object member spans its braces");
    ok(get("{\"a\":{\"type\":\"x\"}}", "type", &v)
       == NGX_BEACON_JSON_NOT_FOUND,
       "object_get: nested members are not top-level");
    ok(get("{\"Type\":\"x\"}", "type", &v) == NGX_BEACON_JSON_NOT_FOUND,
       "object_get: names are case-sensitive");
    ok(get("{\"typ\":1,\"types\":2}", "type", &v)
       == NGX_BEACON_JSON_NOT_FOUND,
       "object_get: prefixes and extensions do not match");
    ok(get("{\"\\u0074yp\\u0065\":\"x\"}", "type", &v) == NGX_BEACON_JSON_OK
       && v.len == 3,
       "object_get: escaped member name matches");
    ok(get("{\"a\":1,\"a\":2}", "a", &v) == NGX_BEACON_JSON_OK
       && v.data[0] == '2',
       "object_get: a repeated name, the last wins");
    ok(get("{\"a\":1,\"b\":[}", "a", &v) == NGX_BEACON_JSON_ERROR,
       "object_get: malformed after the member is still an error");
    ok(get("{\"a\":1} x", "a", &v) == NGX_BEACON_JSON_ERROR,
       "object_get: trailing garbage");
    ok(get("[{\"a\":1}]", "a", &v) == NGX_BEACON_JSON_TYPE,
       "object_get: top-level array is TYPE");
    ok(get("\"a\"", "a", &v) == NGX_BEACON_JSON_TYPE,
       "object_get: top-level string is TYPE");
    ok(get("{}", "a", &v) == NGX_BEACON_JSON_NOT_FOUND,
       "object_get: empty object");
    ok(get("{\"\":5}", "", &v) == NGX_BEACON_JSON_OK && v.data[0] == '5',
       "object_get: empty name");
    ok(get("{\"a\\u0000b\":1}", "a", &v) == NGX_BEACON_JSON_NOT_FOUND,
       "object_get: a name with NUL is not its prefix");

    ok(get("{\"k\":\"v\\n\"}", "k", &v) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_string(&v, out, sizeof(out), &n)
          == NGX_BEACON_JSON_OK
       && n == 2 && memcmp(out, "v\n", 3) == 0,
       "object_get then string");
}


static void
test_string(void)
{
    size_t                 n;
    unsigned char          out[64];
    ngx_beacon_json_val_t  v;

    ok(str("\"abc\"", out, sizeof(out), &n) == NGX_BEACON_JSON_OK
       && n == 3 && memcmp(out, "abc", 4) == 0,
       "string: plain, NUL-terminated");
    ok(str("\"\"", out, sizeof(out), &n) == NGX_BEACON_JSON_OK
       && n == 0 && out[0] == '\0',
       "string: empty");
    ok(str("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", out, sizeof(out), &n)
       == NGX_BEACON_JSON_OK
       && n == 8 && memcmp(out, "\"\\/\b\f\n\r\t", 8) == 0,
       "string: all short escapes");
    ok(str("\"\\u00e9\\u00E9\"", out, sizeof(out), &n) == NGX_BEACON_JSON_OK
       && n == 4 && memcmp(out, "\xc3\xa9\xc3\xa9", 4) == 0,
       "string: \\u00e9 in both cases -> C3 A9");
    ok(str("\"\\u0041\\u07ff\\u0800\\uffff\"", out, sizeof(out), &n)
       == NGX_BEACON_JSON_OK
       && n == 1 + 2 + 3 + 3
       && memcmp(out, "A\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 9) == 0,
       "string: \\u boundaries 1, 2 and 3 bytes");
    ok(str("\"\\ud83d\\ude00\"", out, sizeof(out), &n) == NGX_BEACON_JSON_OK
       && n == 4 && memcmp(out, "\xf0\x9f\x98\x80", 4) == 0,
       "string: surrogate pair -> F0 9F 98 80");
    ok(str("\"\\ud800\\udc00\\udbff\\udfff\"", out, sizeof(out), &n)
       == NGX_BEACON_JSON_OK
       && n == 8 && memcmp(out, "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8) == 0,
       "string: U+10000 and U+10FFFF");
    ok(str("\"a\\u0000b\"", out, sizeof(out), &n) == NGX_BEACON_JSON_OK
       && n == 3 && memcmp(out, "a\0b", 4) == 0,
       "string: \\u0000 counted in the length");
    ok(str("\"\xe2\x82\xac x\"", out, sizeof(out), &n) == NGX_BEACON_JSON_OK
       && n == 5 && memcmp(out, "\xe2\x82\xac x", 5) == 0,
       "string: raw UTF-8 passes through");

    ok(str("\"abc\"", out, 4, &n) == NGX_BEACON_JSON_OK && n == 3,
       "string: cap = length + 1");
    ok(str("\"abc\"", out, 3, &n) == NGX_BEACON_JSON_RANGE,
       "string: cap = length is RANGE");
    ok(str("\"\"", out, 0, &n) == NGX_BEACON_JSON_RANGE,
       "string: cap 0 is RANGE");
    ok(str("\"\\u20ac\"", out, 3, &n) == NGX_BEACON_JSON_RANGE,
       "string: multibyte character that does not fit");
    ok(str("12", out, sizeof(out), &n) == NGX_BEACON_JSON_TYPE,
       "string: a number is TYPE");

    ok(parse("[\"x\",\"auth_reply\"]", &v) == NGX_BEACON_JSON_OK,
       "string_eq: setup");

    v.type = NGX_BEACON_JSON_STRING;
    v.data = (const unsigned char *) "\"auth_reply\"";
    v.len = 12;
    ok(ngx_beacon_json_string_eq(&v, "auth_reply"), "string_eq: equal");
    ok(!ngx_beacon_json_string_eq(&v, "auth_repl"), "string_eq: shorter");
    ok(!ngx_beacon_json_string_eq(&v, "auth_reply2"), "string_eq: longer");
    v.data = (const unsigned char *) "\"auth_\\u0072eply\"";
    v.len = 17;
    ok(ngx_beacon_json_string_eq(&v, "auth_reply"), "string_eq: escaped");
    v.len = 16;
    ok(!ngx_beacon_json_string_eq(&v, "auth_reply"),
       "string_eq: hand-made value without its closing quote");
    v.type = NGX_BEACON_JSON_NUMBER;
    v.len = 17;
    ok(!ngx_beacon_json_string_eq(&v, "auth_reply"),
       "string_eq: not a STRING");

    v.type = NGX_BEACON_JSON_STRING;
    v.data = (const unsigned char *) "\"ab\"cd";
    v.len = 6;
    ok(ngx_beacon_json_string(&v, out, sizeof(out), &n)
       == NGX_BEACON_JSON_ERROR,
       "string: hand-made value with bytes after the quote");
}


static void
test_uint(void)
{
    uint64_t  x;

    ok(uint_of("0", 10, &x) == NGX_BEACON_JSON_OK && x == 0, "uint: 0");
    ok(uint_of("4242", 0xffffffff, &x) == NGX_BEACON_JSON_OK && x == 4242,
       "uint: 4242");
    ok(uint_of("4294967295", 0xffffffff, &x) == NGX_BEACON_JSON_OK
       && x == 0xffffffff,
       "uint: 4294967295 = max");
    ok(uint_of("4294967296", 0xffffffff, &x) == NGX_BEACON_JSON_RANGE,
       "uint: 4294967296 > u32");
    ok(uint_of("18446744073709551615", UINT64_MAX, &x) == NGX_BEACON_JSON_OK
       && x == UINT64_MAX,
       "uint: 2^64-1");
    ok(uint_of("18446744073709551616", UINT64_MAX, &x)
       == NGX_BEACON_JSON_RANGE,
       "uint: 2^64 overflows");
    ok(uint_of("99999999999999999999999", UINT64_MAX, &x)
       == NGX_BEACON_JSON_RANGE,
       "uint: far over 2^64");
    ok(uint_of("10", 9, &x) == NGX_BEACON_JSON_RANGE, "uint: 10 > 9");
    ok(uint_of("9", 9, &x) == NGX_BEACON_JSON_OK && x == 9, "uint: 9 = 9");
    ok(uint_of("1", 0, &x) == NGX_BEACON_JSON_RANGE, "uint: 1 > 0");
    ok(uint_of("-1", 100, &x) == NGX_BEACON_JSON_TYPE, "uint: -1");
    ok(uint_of("-0", 100, &x) == NGX_BEACON_JSON_TYPE, "uint: -0");
    ok(uint_of("1.0", 100, &x) == NGX_BEACON_JSON_TYPE, "uint: 1.0");
    ok(uint_of("1e2", 1000, &x) == NGX_BEACON_JSON_TYPE, "uint: 1e2");
    ok(uint_of("\"5\"", 100, &x) == NGX_BEACON_JSON_TYPE, "uint: \"5\"");
    ok(uint_of("true", 100, &x) == NGX_BEACON_JSON_TYPE, "uint: true");
}


static void
test_iter(void)
{
    int                     rc, n;
    size_t                  len;
    uint64_t                id;
    unsigned char           addr[64];
    ngx_beacon_json_val_t   top, list, e, k, m;
    ngx_beacon_json_iter_t  it, it2;

    static const char  reply[] =
        "{\"type\":\"beacon_list_ok\",\"beacons\":["
        "{\"id\":1,\"addr\":\"198.51.100.1:9001\"},"
        " {\"addr\":\"[2001:db8::1]:9001\", \"id\":2} ,"
        "3,null,{\"id\":\"x\"}]}";

    ok(get(reply, "beacons", &list) == NGX_BEACON_JSON_OK
       && list.type == NGX_BEACON_JSON_ARRAY,
       "iter: beacons array");

    ok(ngx_beacon_json_iter_init(&it, &list) == NGX_BEACON_JSON_OK,
       "iter: init on an array");

    ok(ngx_beacon_json_iter_next(&it, &k, &e) == NGX_BEACON_JSON_OK
       && e.type == NGX_BEACON_JSON_OBJECT && k.data == NULL,
       "iter: first element is an object, no name for arrays");
    ok(ngx_beacon_json_get(&e, "id", &m) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_uint(&m, 0xffffffff, &id) == NGX_BEACON_JSON_OK
       && id == 1,
       "iter: first id 1");
    ok(ngx_beacon_json_get(&e, "addr", &m) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_string(&m, addr, sizeof(addr), &len)
          == NGX_BEACON_JSON_OK
       && strcmp((char *) addr, "198.51.100.1:9001") == 0,
       "iter: first addr");

    ok(ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_get(&e, "id", &m) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_uint(&m, 0xffffffff, &id) == NGX_BEACON_JSON_OK
       && id == 2
       && ngx_beacon_json_get(&e, "addr", &m) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_string(&m, addr, sizeof(addr), &len)
          == NGX_BEACON_JSON_OK
       && strcmp((char *) addr, "[2001:db8::1]:9001") == 0,
       "iter: second element, members in another order");

    ok(ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_OK
       && e.type == NGX_BEACON_JSON_NUMBER
       && ngx_beacon_json_get(&e, "id", &m) == NGX_BEACON_JSON_TYPE,
       "iter: a number element; get on it is TYPE");
    ok(ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_OK
       && e.type == NGX_BEACON_JSON_NULL,
       "iter: null element");
    ok(ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_get(&e, "id", &m) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_uint(&m, 0xffffffff, &id) == NGX_BEACON_JSON_TYPE,
       "iter: string id is TYPE for uint");
    ok(ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_END,
       "iter: end of the array");
    ok(ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_END,
       "iter: end again");

    /* object members in order */

    ok(parse(reply, &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_init(&it, &top) == NGX_BEACON_JSON_OK,
       "iter: init on an object");

    n = 0;

    while ((rc = ngx_beacon_json_iter_next(&it, &k, &e))
           == NGX_BEACON_JSON_OK)
    {
        if (n == 0) {
            ok(ngx_beacon_json_string_eq(&k, "type")
               && ngx_beacon_json_string_eq(&e, "beacon_list_ok"),
               "iter: member 1 type");
        }

        if (n == 1) {
            ok(ngx_beacon_json_string_eq(&k, "beacons")
               && e.type == NGX_BEACON_JSON_ARRAY,
               "iter: member 2 beacons");
        }

        n++;
    }

    ok(rc == NGX_BEACON_JSON_END && n == 2, "iter: two members");

    ok(parse("[]", &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_init(&it, &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_END,
       "iter: empty array");
    ok(parse(" { } ", &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_init(&it, &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_next(&it, &k, &e) == NGX_BEACON_JSON_END,
       "iter: empty object");
    ok(parse("[[1,2],[3]]", &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_init(&it, &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_init(&it2, &e) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_next(&it2, NULL, &m) == NGX_BEACON_JSON_OK
       && m.data[0] == '1'
       && ngx_beacon_json_iter_next(&it2, NULL, &m) == NGX_BEACON_JSON_OK
       && m.data[0] == '2'
       && ngx_beacon_json_iter_next(&it2, NULL, &m) == NGX_BEACON_JSON_END
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_OK
       && e.len == 3
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_END,
       "iter: nested iterators");

    ok(parse("\"s\"", &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_init(&it, &top) == NGX_BEACON_JSON_TYPE,
       "iter: init on a string is TYPE");

    /* hand-made values are checked as they are walked */

    top.type = NGX_BEACON_JSON_ARRAY;
    top.data = (const unsigned char *) "[1,]";
    top.len = 4;
    ok(ngx_beacon_json_iter_init(&it, &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_ERROR
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_ERROR,
       "iter: malformed hand-made array, error sticks");

    top.data = (const unsigned char *) "[1] ";
    top.len = 4;
    ok(ngx_beacon_json_iter_init(&it, &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_ERROR,
       "iter: bytes after the bracket of a hand-made value");

    top.type = NGX_BEACON_JSON_OBJECT;
    top.data = (const unsigned char *) "[1]";
    top.len = 3;
    ok(ngx_beacon_json_iter_init(&it, &top) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_iter_next(&it, NULL, &e) == NGX_BEACON_JSON_ERROR,
       "iter: OBJECT type on an array text");
    ok(ngx_beacon_json_get(&top, "a", &e) == NGX_BEACON_JSON_ERROR,
       "get: OBJECT type on an array text");
}


static void
test_base64(void)
{
    unsigned char          out[64], ref[64];
    ngx_beacon_json_val_t  v;

    b64(ref, 64, compat_sig_b64);

    v.type = NGX_BEACON_JSON_STRING;

#define B64(s, n)                                                           \
    (v.data = (const unsigned char *) (s), v.len = sizeof(s) - 1,          \
     ngx_beacon_json_base64(&v, out, n))

    ok(B64("\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQu22UXEQi9w"
           "sWPtZmozqnkVtY1qgZMsPyXDQ==\"", 64) == NGX_BEACON_JSON_OK
       && memcmp(out, ref, 64) == 0,
       "base64: the 7.3 signature");
    ok(B64("\"34EhgeKnhB\\/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQu22UXEQi9w"
           "sWPtZmozqnkVtY1qgZMsPyXDQ==\"", 64) == NGX_BEACON_JSON_OK
       && memcmp(out, ref, 64) == 0,
       "base64: with an escaped slash");
    ok(B64("\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQu22UXEQi9w"
           "sWPtZmozqnkVtY1qgZMsPyXDQ==\"", 63) == NGX_BEACON_JSON_ERROR,
       "base64: 64 bytes are not 63");
    ok(B64("\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQu22UXEQi9w"
           "sWPtZmozqnkVtY1qgZMsPyXDQ\"", 64) == NGX_BEACON_JSON_ERROR,
       "base64: missing padding");
    ok(B64("\"34EhgeKnhB_HL-mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQu22UXEQi9w"
           "sWPtZmozqnkVtY1qgZMsPyXDQ==\"", 64) == NGX_BEACON_JSON_ERROR,
       "base64: url-safe alphabet");
    ok(B64("\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQu22UXEQi9w"
           "sWPtZmozqnkVtY1qgZMsPyXDR==\"", 64) == NGX_BEACON_JSON_OK,
       "base64: nonzero unused bits accepted (as Go StdEncoding)");
    ok(B64("\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQu22UXEQi9w"
           "sWPtZmozqnkVtY1qgZMsPyXD===\"", 64) == NGX_BEACON_JSON_ERROR,
       "base64: three padding characters");
    ok(B64("\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQu22UXEQi9w"
           "sWPtZmozqnkVtY1qgZMsPyXDQ==\\n\"", 64) == NGX_BEACON_JSON_ERROR,
       "base64: trailing newline");
    ok(B64("\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrD cSvPx8arxY8SMbQu22UXEQi9"
           "wsWPtZmozqnkVtY1qgZMsPyXDQ==\"", 64) == NGX_BEACON_JSON_ERROR,
       "base64: inner space");
    ok(B64("\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"", 32)
       == NGX_BEACON_JSON_OK,
       "base64: a 32-byte key (one padding character)");
    ok(B64("\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR==\"", 32)
       == NGX_BEACON_JSON_ERROR,
       "base64: 32-byte key with two padding characters");
    ok(B64("\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"", 31)
       == NGX_BEACON_JSON_ERROR,
       "base64: 32 bytes are not 31");
    ok(B64("\"AAAA\"", 3) == NGX_BEACON_JSON_OK && out[0] == 0,
       "base64: 3 bytes, no padding");
    ok(B64("\"=AAA\"", 3) == NGX_BEACON_JSON_ERROR,
       "base64: padding first");
    ok(B64("\"\"", 0) == NGX_BEACON_JSON_OK, "base64: empty is 0 bytes");
    ok(B64("\"\\u00e9AAA\"", 3) == NGX_BEACON_JSON_ERROR,
       "base64: non-ASCII character");

    v.type = NGX_BEACON_JSON_NUMBER;
    ok(B64("1", 0) == NGX_BEACON_JSON_TYPE, "base64: a number is TYPE");

#undef B64
}


static void
test_challenge(void)
{
    size_t                 n;
    uint64_t               ts;
    unsigned char          out[NGX_BEACON_COMPAT_CHALLENGE_MAX], s[80];
    ngx_beacon_json_val_t  v;

    static const char  expect[] =
        "{\"type\":\"auth_challenge\",\"nonce\":\""
        "0000000000000000000000000000000000000000000000000000000000000000"
        "\",\"ts\":1767225600}";

    n = ngx_beacon_compat_challenge(out, sizeof(out), nonce0, COMPAT_TS);
    ok(n == sizeof(expect) - 1 && memcmp(out, expect, n) == 0,
       "challenge: the 7.3 form");

    ok(ngx_beacon_json_object_get(out, n, "type", &v) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_string_eq(&v, "auth_challenge")
       && ngx_beacon_json_object_get(out, n, "nonce", &v)
          == NGX_BEACON_JSON_OK
       && ngx_beacon_json_string(&v, s, sizeof(s), &n) == NGX_BEACON_JSON_OK
       && strcmp((char *) s, nonce0) == 0
       && ngx_beacon_json_object_get(out, sizeof(expect) - 1, "ts", &v)
          == NGX_BEACON_JSON_OK
       && ngx_beacon_json_uint(&v, UINT64_MAX, &ts) == NGX_BEACON_JSON_OK
       && ts == (uint64_t) COMPAT_TS,
       "challenge: reads back");

    ok(ngx_beacon_compat_challenge(out, sizeof(expect) - 1, nonce0,
                                   COMPAT_TS)
       == sizeof(expect) - 1,
       "challenge: cap = length");
    ok(ngx_beacon_compat_challenge(out, sizeof(expect) - 2, nonce0,
                                   COMPAT_TS)
       == 0,
       "challenge: cap too small");

    n = ngx_beacon_compat_challenge(out, sizeof(out),
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            INT64_MIN);
    ok(n == NGX_BEACON_COMPAT_CHALLENGE_MAX - 2
       && ngx_beacon_json_object_get(out, n, "ts", &v) == NGX_BEACON_JSON_OK
       && ngx_beacon_json_uint(&v, UINT64_MAX, &ts) == NGX_BEACON_JSON_TYPE,
       "challenge: the longest one fits");

    ok(ngx_beacon_compat_challenge(out, sizeof(out),
           "000000000000000000000000000000000000000000000000000000000000000",
           1) == 0,
       "challenge: 63-digit nonce refused");
    ok(ngx_beacon_compat_challenge(out, sizeof(out),
           "00000000000000000000000000000000000000000000000000000000000000000",
           1) == 0,
       "challenge: 65-digit nonce refused");
    ok(ngx_beacon_compat_challenge(out, sizeof(out),
           "000000000000000000000000000000000000000000000000000000000000000A",
           1) == 0,
       "challenge: uppercase nonce refused");
    ok(ngx_beacon_compat_challenge(out, sizeof(out),
           "00000000000000000000000000000000000000000000000000000000000000\"}",
           1) == 0,
       "challenge: JSON in the nonce refused");
}


static void
test_reply(void)
{
    uint32_t       id;
    unsigned char  sig[64], ref[64], keep[64];
    char           buf[512];

#define REPLY(fmt_node, fmt_sig)                                            \
    (snprintf(buf, sizeof(buf),                                             \
              "{\"type\":\"auth_reply\",\"node_id\":%s,\"public_key\":"     \
              "\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\","           \
              "\"sig\":%s}", fmt_node, fmt_sig),                           \
     reply(buf, &id, sig))

    b64(ref, 64, compat_sig_b64);

    id = 0;
    memset(sig, 0, sizeof(sig));

    ok(REPLY("4242", "\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQ"
                     "u22UXEQi9wsWPtZmozqnkVtY1qgZMsPyXDQ==\"") == 0
       && id == 4242 && memcmp(sig, ref, 64) == 0,
       "reply: the 7.3 vector");

    ok(reply("{\"sig\":\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQ"
             "u22UXEQi9wsWPtZmozqnkVtY1qgZMsPyXDQ==\", \"node_id\":"
             "4294967295, \"type\":\"auth_reply\"}", &id, sig) == 0
       && id == 4294967295U,
       "reply: other member order, no public_key, u32 max");

    ok(REPLY("1", "\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQ"
                  "u22UXEQi9wsWPtZmozqnkVtY1qgZMsPyXDQ==\"") == 0
       && id == 1,
       "reply: node 1; the public_key field is ignored");

    id = 77;
    memcpy(keep, sig, 64);

    ok(reply("", &id, sig) == NGX_BEACON_COMPAT_BAD_JSON,
       "reply: empty is BAD_JSON");
    ok(reply("{\"type\":\"auth_reply\"", &id, sig)
       == NGX_BEACON_COMPAT_BAD_JSON,
       "reply: truncated is BAD_JSON");
    ok(reply("[{\"type\":\"auth_reply\"}]", &id, sig)
       == NGX_BEACON_COMPAT_BAD_JSON,
       "reply: array is BAD_JSON");
    ok(reply("{\"type\":\"auth_reply\",}", &id, sig)
       == NGX_BEACON_COMPAT_BAD_JSON,
       "reply: trailing comma is BAD_JSON");
    ok(reply("{\"node_id\":1}", &id, sig) == NGX_BEACON_COMPAT_BAD_TYPE,
       "reply: no type is BAD_TYPE");
    ok(reply("{\"type\":\"auth_challenge\",\"node_id\":1}", &id, sig)
       == NGX_BEACON_COMPAT_BAD_TYPE,
       "reply: type auth_challenge is BAD_TYPE");
    ok(reply("{\"type\":\"AUTH_REPLY\"}", &id, sig)
       == NGX_BEACON_COMPAT_BAD_TYPE,
       "reply: type is case-sensitive");
    ok(reply("{\"type\":5}", &id, sig) == NGX_BEACON_COMPAT_BAD_TYPE,
       "reply: numeric type is BAD_TYPE");
    ok(reply("{\"type\":\"auth_reply\"}", &id, sig)
       == NGX_BEACON_COMPAT_BAD_NODE,
       "reply: no node_id is BAD_NODE");
    ok(REPLY("0", "\"\"") == NGX_BEACON_COMPAT_BAD_NODE,
       "reply: node_id 0 is BAD_NODE");
    ok(REPLY("4294967296", "\"\"") == NGX_BEACON_COMPAT_BAD_NODE,
       "reply: node_id 2^32 is BAD_NODE");
    ok(REPLY("-1", "\"\"") == NGX_BEACON_COMPAT_BAD_NODE,
       "reply: node_id -1 is BAD_NODE");
    ok(REPLY("42.0", "\"\"") == NGX_BEACON_COMPAT_BAD_NODE,
       "reply: node_id 42.0 is BAD_NODE");
    ok(REPLY("4.2e1", "\"\"") == NGX_BEACON_COMPAT_BAD_NODE,
       "reply: node_id 4.2e1 is BAD_NODE");
    ok(REPLY("\"4242\"", "\"\"") == NGX_BEACON_COMPAT_BAD_NODE,
       "reply: node_id as a string is BAD_NODE");
    ok(REPLY("null", "\"\"") == NGX_BEACON_COMPAT_BAD_NODE,
       "reply: node_id null is BAD_NODE");
    ok(reply("{\"type\":\"auth_reply\",\"node_id\":4242}", &id, sig)
       == NGX_BEACON_COMPAT_BAD_SIG,
       "reply: no sig is BAD_SIG");
    ok(REPLY("4242", "null") == NGX_BEACON_COMPAT_BAD_SIG,
       "reply: sig null is BAD_SIG");
    ok(REPLY("4242", "\"\"") == NGX_BEACON_COMPAT_BAD_SIG,
       "reply: empty sig is BAD_SIG");
    ok(REPLY("4242", "\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"")
       == NGX_BEACON_COMPAT_BAD_SIG,
       "reply: 32-byte sig is BAD_SIG");
    ok(REPLY("4242", "\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQ"
                     "u22UXEQi9wsWPtZmozqnkVtY1qgZMsPyXDQ\"")
       == NGX_BEACON_COMPAT_BAD_SIG,
       "reply: unpadded sig is BAD_SIG");
    ok(REPLY("4242", "\"34EhgeKnhB_HL-mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQ"
                     "u22UXEQi9wsWPtZmozqnkVtY1qgZMsPyXDQ==\"")
       == NGX_BEACON_COMPAT_BAD_SIG,
       "reply: url-safe sig is BAD_SIG");
    ok(REPLY("4242", "\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQ"
                     "u22UXEQi9wsWPtZmozqnkVtY1qgZMsPyXDQ==AAAA\"")
       == NGX_BEACON_COMPAT_BAD_SIG,
       "reply: sig with extra characters is BAD_SIG");
    ok(REPLY("4242", "[1]") == NGX_BEACON_COMPAT_BAD_SIG,
       "reply: sig array is BAD_SIG");

    ok(id == 77 && memcmp(sig, keep, 64) == 0,
       "reply: outputs untouched on failure");

#undef REPLY
}


static void
test_preimage_verify(void)
{
    char           pre[NGX_BEACON_COMPAT_PREIMAGE_MAX];
    size_t         n;
    unsigned char  seed[32], pk[32], sk[64], key[32], sig[64], bad[64];

    static const char  expect[] =
        "compat_auth:4242:1767225600:"
        "0000000000000000000000000000000000000000000000000000000000000000";

    n = ngx_beacon_compat_preimage(pre, sizeof(pre), COMPAT_NODE, COMPAT_TS,
                                   nonce0);
    ok(n == sizeof(expect) - 1 && strcmp(pre, expect) == 0,
       "preimage: the 7.3 string");
    ok(ngx_beacon_compat_preimage(pre, sizeof(expect), COMPAT_NODE,
                                  COMPAT_TS, nonce0)
       == sizeof(expect) - 1,
       "preimage: cap = length + NUL");
    ok(ngx_beacon_compat_preimage(pre, sizeof(expect) - 1, COMPAT_NODE,
                                  COMPAT_TS, nonce0)
       == 0 && pre[0] == '\0',
       "preimage: cap = length is too small");
    ok(ngx_beacon_compat_preimage(pre, sizeof(pre), 4294967295U, INT64_MIN,
           "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")
       == 108,
       "preimage: the longest is 108");
    ok(ngx_beacon_compat_preimage(pre, sizeof(pre), 1, 1, "00") == 0,
       "preimage: short nonce refused");

    b64(key, 32, rfc8032_pk_b64);
    b64(sig, 64, compat_sig_b64);

    ok(ngx_beacon_compat_verify(key, COMPAT_NODE, COMPAT_TS, nonce0, sig)
       == 0,
       "verify: the 7.3 vector");

    /* libsodium signs the same bytes (Ed25519 is deterministic) */
    unhex(seed, sizeof(seed), rfc8032_seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_detached(bad, NULL, (const unsigned char *) expect,
                         sizeof(expect) - 1, sk);
    ok(memcmp(pk, key, 32) == 0 && memcmp(bad, sig, 64) == 0,
       "verify: the vector is the RFC 8032 key 1 signature");

    ok(ngx_beacon_compat_verify(key, COMPAT_NODE + 1, COMPAT_TS, nonce0, sig)
       == -1,
       "verify: other node id");
    ok(ngx_beacon_compat_verify(key, COMPAT_NODE, COMPAT_TS + 1, nonce0, sig)
       == -1,
       "verify: other ts");
    ok(ngx_beacon_compat_verify(key, COMPAT_NODE, COMPAT_TS,
           "0000000000000000000000000000000000000000000000000000000000000001",
           sig) == -1,
       "verify: other nonce");

    memcpy(bad, sig, 64);
    bad[10] ^= 0x01;
    ok(ngx_beacon_compat_verify(key, COMPAT_NODE, COMPAT_TS, nonce0, bad)
       == -1,
       "verify: flipped signature bit");

    key[0] ^= 0x01;
    ok(ngx_beacon_compat_verify(key, COMPAT_NODE, COMPAT_TS, nonce0, sig)
       == -1,
       "verify: other key");
    key[0] ^= 0x01;

    /* the old two-field preimage, signed by the same key */
    n = (size_t) snprintf(pre, sizeof(pre), "compat_auth:%u:%s",
                          COMPAT_NODE, nonce0);
    crypto_sign_detached(bad, NULL, (const unsigned char *) pre, n, sk);
    ok(crypto_sign_verify_detached(bad, (const unsigned char *) pre, n, key)
       == 0
       && ngx_beacon_compat_verify(key, COMPAT_NODE, COMPAT_TS, nonce0, bad)
          == -1,
       "verify: a valid compat_auth:<id>:<nonce> signature is refused");

    ok(ngx_beacon_compat_verify(key, COMPAT_NODE, COMPAT_TS, "0", sig) == -1,
       "verify: malformed nonce");
}


static void
test_registry(void)
{
    size_t         n, jl;
    unsigned char  out[64], key[32], ref[32], keep[32];

    static const char  body[] = "{\"type\":\"lookup\",\"node_id\":4242}";

    n = ngx_beacon_registry_lookup(out, sizeof(out), 4242);
    ok(n == 4 + sizeof(body) - 1 && out[0] == 0 && out[1] == 0
       && out[2] == 0 && out[3] == sizeof(body) - 1
       && memcmp(out + 4, body, sizeof(body) - 1) == 0,
       "lookup: length prefix + {\"type\":\"lookup\",\"node_id\":4242}");
    ok(ngx_beacon_registry_lookup(out, sizeof(out), 4294967295U)
       == NGX_BEACON_REGISTRY_LOOKUP_MAX,
       "lookup: the longest is NGX_BEACON_REGISTRY_LOOKUP_MAX");
    ok(ngx_beacon_registry_lookup(out, 4 + sizeof(body) - 1, 4242)
       == 4 + sizeof(body) - 1,
       "lookup: cap = length");
    ok(ngx_beacon_registry_lookup(out, 4 + sizeof(body) - 2, 4242) == 0,
       "lookup: cap too small");

    ngx_beacon_registry_put_len(out, 0x01020304);
    ok(out[0] == 1 && out[1] == 2 && out[2] == 3 && out[3] == 4
       && ngx_beacon_registry_get_len(out) == 0x01020304,
       "registry: length prefix is big-endian");

    ngx_beacon_registry_put_len(out, 5);
    memcpy(out + 4, "{}   ", 5);
    ok(ngx_beacon_registry_frame(out, 3, 100, &jl) == 1,
       "frame: partial prefix needs more");
    ok(ngx_beacon_registry_frame(out, 8, 100, &jl) == 1,
       "frame: partial body needs more");
    jl = 0;
    ok(ngx_beacon_registry_frame(out, 9, 100, &jl) == 0 && jl == 5,
       "frame: complete");
    ok(ngx_beacon_registry_frame(out, 20, 100, &jl) == 0 && jl == 5,
       "frame: more bytes after the frame");
    ok(ngx_beacon_registry_frame(out, 9, 4, &jl) == -1,
       "frame: longer than max");
    ngx_beacon_registry_put_len(out, 0xffffffff);
    ok(ngx_beacon_registry_frame(out, 4, NGX_BEACON_REGISTRY_REPLY_MAX, &jl)
       == -1,
       "frame: 4 GiB announced, refused at once");
    ngx_beacon_registry_put_len(out, NGX_BEACON_REGISTRY_REPLY_MAX);
    ok(ngx_beacon_registry_frame(out, 4, NGX_BEACON_REGISTRY_REPLY_MAX, &jl)
       == 1,
       "frame: exactly 1 MiB is allowed");

    b64(ref, 32, rfc8032_pk_b64);
    memset(key, 0, sizeof(key));

    ok(regkey("{\"type\":\"lookup_ok\",\"node_id\":4242,\"public_key\":"
              "\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}", key) == 0
       && memcmp(key, ref, 32) == 0,
       "parse_key: public_key");
    ok(regkey("{\"public_key\":"
              "\"11qYAYKxCrfVS\\/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}", key) == 0
       && memcmp(key, ref, 32) == 0,
       "parse_key: escaped slash, no type");

    memset(key, 0xee, sizeof(key));
    memcpy(keep, key, 32);

    ok(regkey("{\"type\":\"error\",\"error\":\"node not found\"}", key) == 1,
       "parse_key: error reply is 1");
    ok(regkey("{\"type\":\"error\",\"public_key\":"
              "\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}", key) == 1,
       "parse_key: error reply with a key is still 1");
    ok(regkey("{\"type\":\"lookup_ok\",\"node_id\":4242}", key) == 1,
       "parse_key: no public_key is 1");
    ok(regkey("{\"public_key\":null}", key) == 1,
       "parse_key: null public_key is 1");
    ok(regkey("{\"public_key\":\"\"}", key) == 1,
       "parse_key: empty public_key is 1");
    ok(regkey("{\"public_key\":"
              "\"34EhgeKnhB/HL+mU9CGpO9ot7z8y2jCCKKrDcSvPx8arxY8SMbQ"
              "u22UXEQi9wsWPtZmozqnkVtY1qgZMsPyXDQ==\"}", key) == -1,
       "parse_key: 64-byte key is -1");
    ok(regkey("{\"public_key\":\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHU"
              "Ro\"}", key) == -1,
       "parse_key: unpadded key is -1");
    ok(regkey("{\"public_key\":\"not base64 at all\"}", key) == -1,
       "parse_key: garbage key is -1");
    ok(regkey("{\"public_key\":5}", key) == -1,
       "parse_key: numeric key is -1");
    ok(regkey("{\"public_key\":\"11qY", key) == -1,
       "parse_key: truncated JSON is -1");
    ok(regkey("[]", key) == -1, "parse_key: array is -1");
    ok(regkey("", key) == -1, "parse_key: empty is -1");
    ok(memcmp(key, keep, 32) == 0, "parse_key: key untouched unless 0");
}


int
main(void)
{
    if (sodium_init() < 0) {
        printf("Bail out! sodium_init failed\n");
        return 1;
    }

    test_parse_valid();
    test_parse_invalid();
    test_depth();
    test_bounds();
    test_object_get();
    test_string();
    test_uint();
    test_iter();
    test_base64();
    test_challenge();
    test_reply();
    test_preimage_verify();
    test_registry();

    free(last_copy);

    printf("1..%d\n", tests);

    if (failures) {
        printf("# %d of %d tests failed\n", failures, tests);
        return 1;
    }

    return 0;
}
