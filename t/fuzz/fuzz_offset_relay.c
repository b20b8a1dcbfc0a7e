
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * libFuzzer target: the Offset relay protocol after a completed
 * handshake, as a state machine.  A real node (offset_fuzz.h) has done
 * the handshake once; every input starts from that state and is a script
 * (ofz_run) of Listen, Connect, Accept, Reject, keepalives, rekeys from
 * either side, garbage messages and frames, the glue's notifications and
 * forwarded messages, and clock moves, in any order.  While the node is
 * in step every frame the relay sends must open under the next nonce of
 * the right key and decode; nothing may leave after a close.
 */

#define OFZ_FAST  1
#include "offset_fuzz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ofz_t     ofz_base[2];
static ofz_t     ofz_f;
static uint8_t  *ofz_bufs[4];
static uint32_t  ofz_rnd[2][1024];
static size_t    ofz_nrnd[2];
static uint64_t  ofz_srng[2];


static void
ofz_snapshot(void)
{
    int  k;

    for (k = 0; k < 2; k++) {
        ofz_init(&ofz_f, 11, 64, k ? 10000 : 0);

        if (!ofz_handshake(&ofz_f)) {
            abort();
        }

        ofz_base[k] = ofz_f;
        memcpy(ofz_rnd[k], ofz_scratch.rnd, sizeof(ofz_scratch.rnd));
        ofz_nrnd[k] = ofz_scratch.nrnd;
        ofz_srng[k] = ofz_scratch_rng;

        if (k == 0) {
            ofz_bufs[0] = ofz_f.out;
            ofz_bufs[1] = ofz_f.nout;
            ofz_bufs[2] = ofz_f.scr1;
            ofz_bufs[3] = ofz_f.scr2;

        } else {
            /* one set of buffers serves both */
            free(ofz_f.out);
            free(ofz_f.nout);
            free(ofz_f.scr1);
            free(ofz_f.scr2);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int  k;

    if (ofz_bufs[0] == NULL) {
        ofz_snapshot();
    }

    k = size && (data[0] & 1);

    ofz_f = ofz_base[k];
    ofz_f.oc.conf = &ofz_f.conf;
    ofz_f.oc.out_data = &ofz_f;
    ofz_f.out = ofz_bufs[0];
    ofz_f.nout = ofz_bufs[1];
    ofz_f.scr1 = ofz_bufs[2];
    ofz_f.scr2 = ofz_bufs[3];
    memcpy(ofz_scratch.rnd, ofz_rnd[k], sizeof(ofz_scratch.rnd));
    ofz_scratch.nrnd = ofz_nrnd[k];
    ofz_scratch_rng = ofz_srng[k];

    OFZ_CHECK(ofz_f.out_len == 0 && ofz_f.nout_len == 0);

    if (size > 1) {
        ofz_run(&ofz_f, data + 1, size - 1);
    }

    ngx_beacon_offset_conn_free(&ofz_f.oc);

    return 0;
}
