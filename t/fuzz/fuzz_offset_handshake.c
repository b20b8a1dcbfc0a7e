
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target: the Offset relay connection core from its first byte,
 * as a state machine.  The input is a script (offset_fuzz.h, ofz_run):
 * the harness plays a real node on request (version, ExchangeRandNonce,
 * ExchangeDh with a fixed identity and seeded ephemeral keys) and the
 * fuzzer chooses raw bytes, frames, sealed messages, read sizes and clock
 * moves around it, so it reaches the relay protocol after the handshake.
 */

#define OFZ_FAST  1
#include "offset_fuzz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ofz_t  f;
    size_t        padding;
    uint64_t      rekey;

    padding = size ? data[0] : 0;
    rekey = size > 1 && (data[1] & 1) ? 10000 : 0;

    /* the buffers are allocated once and kept */

    if (f.out == NULL) {
        ofz_init(&f, 7, padding, rekey);

    } else {
        ofz_reset(&f, 7, padding, rekey);
    }

    OFZ_CHECK(ngx_beacon_offset_conn_start(&f.oc, f.now) == 0);
    ofz_drain(&f);

    if (size > 2) {
        ofz_run(&f, data + 2, size - 2);
    }

    ngx_beacon_offset_conn_free(&f.oc);

    return 0;
}
