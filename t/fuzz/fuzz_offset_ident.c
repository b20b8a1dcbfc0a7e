
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target: the Offset identity file and relay ticket parsers
 * (ngx_beacon_offset_ident.c).  The first byte picks the parser; a parsed
 * identity must have the public key of its seed and survive a format and
 * parse round trip, and so must a parsed ticket.
 */

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ngx_beacon_offset_ident.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 out[4096];
    size_t               n;
    uint8_t              pk[32], sk[64];
    ngx_beacon_offset_ident_t   id, id2;
    ngx_beacon_offset_ticket_t  t, t2;

    if (size == 0) {
        return 0;
    }

    if (data[0] & 1) {
        if (ngx_beacon_offset_ticket_parse(&t, (const char *) data + 1,
            size - 1)
            != NGX_BEACON_OFFSET_IDENT_OK)
        {
            return 0;
        }

        if (t.address_len > NGX_BEACON_OFFSET_MAX_ADDRESS_LEN
            || t.address[t.address_len] != '\0')
        {
            abort();
        }

        n = ngx_beacon_offset_ticket_format(out, sizeof(out), t.pk, t.address,
                                     t.address_len);

        if (n == 0
            || ngx_beacon_offset_ticket_parse(&t2, out,
                n) != NGX_BEACON_OFFSET_IDENT_OK
            || memcmp(t.pk, t2.pk, 32) != 0
            || t.address_len != t2.address_len
            || memcmp(t.address, t2.address, t.address_len) != 0)
        {
            abort();
        }

        return 0;
    }

    if (ngx_beacon_offset_ident_parse(&id, (const char *) data + 1, size - 1)
        != NGX_BEACON_OFFSET_IDENT_OK)
    {
        return 0;
    }

    crypto_sign_seed_keypair(pk, sk, id.seed);

    if (memcmp(pk, id.pk, 32) != 0 || memcmp(sk, id.sk, 64) != 0) {
        abort();
    }

    n = ngx_beacon_offset_ident_format(out, sizeof(out), &id);

    if (n == 0
        || ngx_beacon_offset_ident_parse(&id2, out,
            n) != NGX_BEACON_OFFSET_IDENT_OK
        || memcmp(id.seed, id2.seed, 32) != 0)
    {
        abort();
    }

    return 0;
}
