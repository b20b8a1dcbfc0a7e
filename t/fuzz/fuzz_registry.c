
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target for the Pilot registry's replies as the registry
 * clients read them: the input is the byte stream from the registry,
 * fed in chunks (sizes from the first byte) to the length-prefix framing
 * of the client (ngx_beacon_registry_frame(), the 1 MiB limit scaled
 * down); each complete reply goes through the register answer check, the
 * beacon_list peer set and the key lookup reply; the bytes after a reply
 * are dropped, as the client does when it sends its next request.
 * Checked: framing never reads past what arrived; every listed peer is
 * not our id's and prints and parses back to itself; a lookup key agrees
 * with ngx_beacon_registry_parse_key().  Any mismatch abort()s.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_json.h"
#include "ngx_beacon_registry_reply.h"


#define FUZZ_MAX_REPLY  16384
#define FUZZ_SELF       7
#define FUZZ_NODE       1001
#define FUZZ_PEERS      64


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static unsigned char  fuzz_in[FUZZ_MAX_REPLY + 4];


static void
fuzz_check(int cond)
{
    if (!cond) {
        abort();
    }
}


static void
fuzz_reply(const unsigned char *json, size_t len)
{
    int                rc, rc2, i, n;
    char               text[64];
    size_t             tl;
    unsigned char      key[32], key2[32];
    ngx_beacon_addr_t  peers[FUZZ_PEERS], back;

    (void) ngx_beacon_registry_register_ok(json, len);

    n = ngx_beacon_registry_beacon_list(json, len, FUZZ_SELF, peers,
                                        FUZZ_PEERS);
    fuzz_check(n >= -1 && n <= FUZZ_PEERS);

    for (i = 0; i < n; i++) {
        fuzz_check(peers[i].port != 0);
        tl = ngx_beacon_addr_print(text, &peers[i], 1);
        fuzz_check(tl > 0 && tl < 48);
        fuzz_check(ngx_beacon_addr_parse(text, tl, &back) == 0);
        fuzz_check(memcmp(back.ip, peers[i].ip, 16) == 0
                   && back.port == peers[i].port);
    }

    rc = ngx_beacon_registry_lookup_reply(json, len, FUZZ_NODE, key);
    rc2 = ngx_beacon_registry_parse_key(json, len, key2);
    fuzz_check(rc >= -1 && rc <= 1);
    fuzz_check(rc == rc2 || (rc == -1 && rc2 == 0));

    if (rc == 0) {
        fuzz_check(memcmp(key, key2, 32) == 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int     rc;
    size_t  chunk, in_len, take, json_len;

    if (size < 1) {
        return 0;
    }

    chunk = (size_t) data[0] % 64 + 1;
    data++;
    size--;

    in_len = 0;

    while (size > 0) {
        take = chunk < size ? chunk : size;

        if (take > sizeof(fuzz_in) - in_len) {
            take = sizeof(fuzz_in) - in_len;
        }

        memcpy(fuzz_in + in_len, data, take);
        in_len += take;
        data += take;
        size -= take;

        rc = ngx_beacon_registry_frame(fuzz_in, in_len, FUZZ_MAX_REPLY,
                                       &json_len);

        if (rc == 1) {
            fuzz_check(in_len < sizeof(fuzz_in));
            continue;
        }

        if (rc != 0) {
            /* too long: the client gives up on the exchange */
            fuzz_check(in_len >= 4);
            return 0;
        }

        fuzz_check(json_len + 4 <= in_len);

        /* a copy of exactly the reply, so ASan sees any overread */
        {
            unsigned char  *copy;

            copy = malloc(json_len ? json_len : 1);
            fuzz_check(copy != NULL);
            memcpy(copy, fuzz_in + 4, json_len);
            fuzz_reply(copy, json_len);
            free(copy);
        }

        /* the next request: what is left of this read is dropped */
        in_len = 0;
    }

    return 0;
}
