
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * What every C unit test here shares: TAP output and hex test vectors.
 * Each test is one translation unit; it includes this once.
 */


#ifndef _NGX_BEACON_TAP_H_INCLUDED_
#define _NGX_BEACON_TAP_H_INCLUDED_


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int  tests;
static int  failures;


static inline void
ok(int cond, const char *name)
{
    tests++;

    if (cond) {
        printf("ok %d - %s\n", tests, name);
        return;
    }

    failures++;
    printf("not ok %d - %s\n", tests, name);
}


static inline int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/* hex, with ' ' and '|' as optional separators -> bytes; a malformed
 * vector is a broken test: bail out */

static inline size_t
unhex(uint8_t *out, size_t cap, const char *hex)
{
    int     hi, lo;
    size_t  n;

    n = 0;

    while (*hex) {
        if (*hex == ' ' || *hex == '|') {
            hex++;
            continue;
        }

        hi = hexval(hex[0]);
        lo = hex[1] ? hexval(hex[1]) : -1;

        if (hi < 0 || lo < 0 || n == cap) {
            printf("Bail out! bad test vector: %s\n", hex);
            exit(2);
        }

        out[n++] = (uint8_t) (hi << 4 | lo);
        hex += 2;
    }

    return n;
}


/* p equals the hex vector, length included */

static inline int
eqhex(const uint8_t *p, size_t len, const char *hex)
{
    size_t          n;
    static uint8_t  buf[4096];

    n = unhex(buf, sizeof(buf), hex);

    return n == len && memcmp(p, buf, n) == 0;
}


#endif /* _NGX_BEACON_TAP_H_INCLUDED_ */
