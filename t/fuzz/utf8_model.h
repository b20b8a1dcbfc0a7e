
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * An independent model of well-formed UTF-8 (RFC 3629) the fuzz targets
 * judge the codecs against.
 */


#ifndef _NGX_BEACON_UTF8_MODEL_H_INCLUDED_
#define _NGX_BEACON_UTF8_MODEL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* an independent model: decode code points, then judge them */

static inline int
model_utf8(const uint8_t *p, size_t n)
{
    size_t    i, k, len;
    uint32_t  cp, min;

    for (i = 0; i < n; i += len) {
        if (p[i] < 0x80) {
            len = 1;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            len = 2;
            cp = p[i] & 0x1f;
            min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            len = 3;
            cp = p[i] & 0x0f;
            min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            len = 4;
            cp = p[i] & 0x07;
            min = 0x10000;

        } else {
            return 0;
        }

        if (n - i < len) {
            return 0;
        }

        for (k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (p[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


#endif /* _NGX_BEACON_UTF8_MODEL_H_INCLUDED_ */
