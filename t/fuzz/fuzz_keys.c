
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for key files (beacon_keys, beacon_compat_keys) as the
 * configuration reads them: ngx_beacon_keyfile_parse() over the whole
 * input.  Checked: a parsed file gives entries sorted by distinct nonzero
 * id, one per line at most, the same as parsing its lines one by one;
 * its canonical rewrite parses to the same entries; a failure names a
 * line that exists and fails on its own (or an id that is listed twice).
 * Any mismatch abort()s.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ngx_beacon_proto.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc, lrc;
    char              *text, *p;
    size_t             lines, n, n2, line, i, k, ln;
    uint8_t            key[NGX_BEACON_KEY_LEN];
    uint32_t           id;
    const char        *s, *last, *eol;
    ngx_beacon_key_t  *keys, *keys2;

    static int  inited;

    if (!inited) {
        if (sodium_init() < 0) {
            abort();
        }

        inited = 1;
    }

    s = (const char *) data;
    lines = ngx_beacon_keyfile_lines(s, size);
    fuzz_check(lines >= 1 && lines <= size + 1);

    keys = malloc(lines * sizeof(ngx_beacon_key_t));
    fuzz_check(keys != NULL);

    rc = ngx_beacon_keyfile_parse(s, size, keys, &n, &line);
    fuzz_check(rc == 0 || rc == -1 || rc == -2);
    fuzz_check(n <= lines);

    /* the line model: each line on its own */

    last = s + size;
    k = 0;
    ln = 0;
    lrc = 0;

    for (p = (char *) s; p < last; p = (char *) eol + 1) {
        ln++;
        eol = memchr(p, '\n', last - p);
        if (eol == NULL) {
            eol = last;
        }

        lrc = ngx_beacon_keyline_parse(p, eol - p, &id, key);

        if (lrc < 0) {
            break;
        }

        k += (lrc == 0);
    }

    if (rc == -1) {
        fuzz_check(lrc < 0 && line == ln && line <= lines && n == k);
        free(keys);
        return 0;
    }

    fuzz_check(lrc >= 0 && n == k);

    for (i = 0; i < n; i++) {
        fuzz_check(keys[i].id != 0);
        fuzz_check(i == 0 || keys[i - 1].id <= keys[i].id);
    }

    if (rc == -2) {
        for (i = 1; i < n && keys[i].id != keys[i - 1].id; i++) {
            /* void */
        }

        fuzz_check(i < n && keys[i].id == line);
        free(keys);
        return 0;
    }

    for (i = 1; i < n; i++) {
        fuzz_check(keys[i - 1].id < keys[i].id);
    }

    /* the canonical rewrite, in reverse order, parses to the same keys */

    /* sodium_bin2base64() clears all of the room it is given */
    text = malloc(n * 64 + 128);
    keys2 = malloc((n + 1) * sizeof(ngx_beacon_key_t));
    fuzz_check(text != NULL && keys2 != NULL);

    p = text;

    for (i = n; i > 0; i--) {
        p += sprintf(p, "%u ", (unsigned) keys[i - 1].id);
        sodium_bin2base64(p, 64, keys[i - 1].key, NGX_BEACON_KEY_LEN,
                          sodium_base64_VARIANT_ORIGINAL);
        p += strlen(p);
        *p++ = '\n';
    }

    rc = ngx_beacon_keyfile_parse(text, p - text, keys2, &n2, &line);
    fuzz_check(rc == 0 && n2 == n);
    fuzz_check(n == 0 || memcmp(keys, keys2, n * sizeof(ngx_beacon_key_t))
                         == 0);

    free(text);
    free(keys2);
    free(keys);

    return 0;
}
