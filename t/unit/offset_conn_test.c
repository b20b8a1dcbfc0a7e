
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Unit tests of the pure Offset relay connection core
 * (ngx_beacon_offset_conn.c), driven through the fuzz bench
 * (t/fuzz/offset_fuzz.h): a real node, a seeded random source and a clock
 * that moves only when told.  TAP on stdout.
 */

#include "tap.h"
#include "../fuzz/offset_fuzz.h"


static void
node_send(ofz_t *f)
{
    ofz_deliver(f, NULL, 0);
}


static int
up(ofz_t *f, size_t padding, uint64_t rekey)
{
    ofz_init(f, 3, padding, rekey);

    return ofz_handshake(f);
}


static void
test_handshake(void)
{
    ofz_t     f;
    uint8_t   sz[2];

    ofz_init(&f, 3, 0, 0);
    OFZ_CHECK(ngx_beacon_offset_conn_start(&f.oc, f.now) == 0);

    ok(f.out_frames == 2, "the relay sends its version and "
       "ExchangeRandNonce at once");
    ofz_drain(&f);

    /* one byte at a time */
    sz[0] = 1;
    sz[1] = 1;
    ofz_node_hs_next(&f);
    ofz_node_hs_next(&f);
    ofz_deliver(&f, sz, 2);
    ok(f.oc.state == NGX_BEACON_OFFSET_HANDSHAKE && f.relay_frames == 3,
       "ExchangeDh from the relay after our ExchangeRandNonce");

    ofz_node_hs_next(&f);
    ofz_deliver(&f, sz, 2);
    ok(f.events[NGX_BEACON_OFFSET_EV_HANDSHAKE] == 1
       && f.oc.state == NGX_BEACON_OFFSET_INIT && f.chan
       && memcmp(f.oc.peer_pk, f.node_pk, 32) == 0,
       "handshake fed one byte at a time: channel open, the node's key "
       "is the peer's");

    ofz_node_ka(&f, NULL, 0, 0);
    node_send(&f);
    ok(!f.closed, "the relay opens the node's first transport frame");

    ofz_free(&f);
}


static void
test_handshake_failures(void)
{
    ofz_t     f;
    uint8_t   ver[12], hdr[8];

    ofz_init(&f, 3, 0, 0);
    OFZ_CHECK(ngx_beacon_offset_conn_start(&f.oc, f.now) == 0);
    ofz_drain(&f);
    ngx_beacon_offset_version_frame(ver);
    ver[11] = 1;
    ofz_feed(&f, ver, sizeof(ver), NULL, 0);
    ok(f.closed && f.ev.count == NGX_BEACON_OFFSET_COUNT_BAD
       && strcmp(f.ev.why, "version mismatch") == 0,
       "version 1: closed, a bad frame");
    ofz_free(&f);

    ofz_init(&f, 3, 0, 0);
    OFZ_CHECK(ngx_beacon_offset_conn_start(&f.oc, f.now) == 0);
    ofz_drain(&f);
    ngx_beacon_offset_frame_put_len(hdr, NGX_BEACON_OFFSET_PREAUTH_MAX + 1);
    ofz_feed(&f, hdr, sizeof(hdr), NULL, 0);
    ok(f.closed && strcmp(f.ev.why, "frame over the size cap") == 0,
       "a frame over 4k before the handshake is refused at its length");
    ofz_free(&f);

    ofz_init(&f, 3, 0, 0);
    OFZ_CHECK(ngx_beacon_offset_conn_start(&f.oc, f.now) == 0);
    ofz_drain(&f);
    ofz_advance(&f, 7999);
    ok(!f.closed, "handshake: open at 7.999 s");
    ofz_advance(&f, 1);
    ok(f.closed && f.ev.count == NGX_BEACON_OFFSET_COUNT_TIMEOUT
       && strcmp(f.ev.why, "handshake timed out") == 0,
       "handshake timeout at 8 s");
    ofz_free(&f);

    /* the ExchangeDh echoes another nonce */
    ofz_init(&f, 3, 0, 0);
    OFZ_CHECK(ngx_beacon_offset_conn_start(&f.oc, f.now) == 0);
    ofz_drain(&f);
    ofz_node_hs_next(&f);
    ofz_node_hs_next(&f);
    node_send(&f);
    f.relay_nonce[0] ^= 1;
    ofz_node_hs_next(&f);
    node_send(&f);
    ok(f.closed && strcmp(f.ev.why, "ExchangeDh echoes the wrong nonce") == 0,
       "an ExchangeDh with the wrong nonce closes");
    ofz_free(&f);
}


static void
test_reads_stop_at_frame_end(void)
{
    ofz_t     f;
    size_t    n;
    uint8_t  *p;

    OFZ_CHECK(up(&f, 0, 0));

    ofz_node_init_msg(&f, NGX_BEACON_OFFSET_INIT_CONNECT, ofz_relay_pk);
    ofz_node_ka(&f, (const uint8_t *) "F1", 2, 0);

    /* both frames in one buffer: the relay takes only the first */
    ofz_feed(&f, f.nout, f.nout_len, NULL, 0);
    f.nout_len = 0;

    ok(f.events[NGX_BEACON_OFFSET_EV_CONNECT] == 1
       && f.oc.state == NGX_BEACON_OFFSET_HALF
       && memcmp(f.oc.target, ofz_relay_pk, 32) == 0,
       "Connect(K): the core reports K; the glue makes it a half-tunnel");

    OFZ_CHECK(ngx_beacon_offset_conn_want(&f.oc, &p, &n) == 0);
    ok(f.oc.hdr_got == 0 && n == 8,
       "after the Connect frame the core wants a new header: nothing "
       "behind it was taken");

    ofz_advance(&f, 31999);
    ok(!f.closed && f.keepalives == 1, "a pending Connect gets keepalives "
       "and is not dropped as idle");
    ofz_advance(&f, 1);
    ok(f.closed && f.ev.count == NGX_BEACON_OFFSET_COUNT_EXPIRED,
       "the half-tunnel expires at 32 s");

    ofz_free(&f);
}


static void
test_relay_messages(void)
{
    ofz_t    f;
    uint8_t  key[32];

    OFZ_CHECK(up(&f, 16, 0));

    ofz_advance(&f, 3999);
    ok(!f.closed, "no first message: open at 3.999 s");
    ofz_advance(&f, 1);
    ok(f.closed && strcmp(f.ev.why, "no relay message in time") == 0,
       "no first message: closed at 4 s");
    ofz_free(&f);

    OFZ_CHECK(up(&f, 16, 0));
    ofz_node_init_msg(&f, NGX_BEACON_OFFSET_INIT_LISTEN, NULL);
    node_send(&f);
    ok(f.events[NGX_BEACON_OFFSET_EV_LISTEN] == 1
       && f.oc.state == NGX_BEACON_OFFSET_LISTEN && f.oc.deadline == 0,
       "Listen reported, no deadline");

    memset(key, 0x41, sizeof(key));
    OFZ_CHECK(ngx_beacon_offset_conn_incoming(&f.oc, key, f.now) == 0);
    ofz_drain(&f);
    ok(f.messages == 1, "IncomingConnection reaches the listener");

    ofz_node_reject(&f, key);
    node_send(&f);
    ok(f.events[NGX_BEACON_OFFSET_EV_REJECT] == 1
       && memcmp(f.ev.key, key, 32) == 0, "Reject(K) reported with K");

    ofz_node_ka(&f, (const uint8_t *) "\xde\xad", 2, 0);
    node_send(&f);
    ok(f.closed && f.ev.count == NGX_BEACON_OFFSET_COUNT_NONE
       && strcmp(f.ev.why, "listener sent an invalid message") == 0,
       "anything else from a listener closes it");
    ofz_free(&f);

    OFZ_CHECK(up(&f, 16, 0));
    ofz_node_ka(&f, (const uint8_t *) "\xff\x00\x01", 3, 0);
    node_send(&f);
    ok(f.closed && f.ev.count == NGX_BEACON_OFFSET_COUNT_BAD
       && strcmp(f.ev.why, "invalid first message") == 0,
       "an undecodable first message closes, a bad frame");
    ofz_free(&f);

    /* a tunnel: messages out as they came, forwarded ones in */
    OFZ_CHECK(up(&f, 16, 0));
    ofz_node_init_msg(&f, NGX_BEACON_OFFSET_INIT_ACCEPT, key);
    node_send(&f);
    ok(f.events[NGX_BEACON_OFFSET_EV_ACCEPT] == 1
       && f.oc.state == NGX_BEACON_OFFSET_TUNNEL,
       "Accept(K) reported; the glue splices");

    ofz_node_ka(&f, (const uint8_t *) "hello", 5, 0);
    node_send(&f);
    ok(f.events[NGX_BEACON_OFFSET_EV_MESSAGE] == 1 && f.ev.msg_len == 5,
       "a tunnel message is reported with its KaMessage");

    {
        uint8_t  ka[64];

        OFZ_CHECK(f.ev.len <= sizeof(ka));
        memcpy(ka, f.ev.data, f.ev.len);
        OFZ_CHECK(ngx_beacon_offset_conn_forward(&f.oc, ka, f.ev.len,
                                                 f.now)
                  == 0);
        ofz_drain(&f);
        ok(f.messages == 1, "a forwarded KaMessage opens and decodes at "
           "the node");
    }

    ofz_free(&f);

    /* a short transport frame (W2) */
    OFZ_CHECK(up(&f, 16, 0));
    ofz_node_frame(&f, (const uint8_t *) "short", 5);
    node_send(&f);
    ok(f.closed && f.ev.count == NGX_BEACON_OFFSET_COUNT_BAD,
       "a transport frame under 28 bytes closes cleanly");
    ofz_free(&f);
}


static void
test_keepalive_and_rekeys(void)
{
    ofz_t     f;
    unsigned  i, worst;
    uint64_t  last, t;

    /* issue 9: relay rekeys every 2 s, keepalive still every 16 s */

    OFZ_CHECK(up(&f, 16, 2000));
    ofz_node_init_msg(&f, NGX_BEACON_OFFSET_INIT_LISTEN, NULL);
    node_send(&f);

    last = f.now;
    worst = 0;

    for (i = 0; i < 48; i++) {
        unsigned  k = f.keepalives;

        ofz_advance(&f, 1000);
        node_send(&f);          /* our rekey answers */

        if (i % 10 == 9) {
            ofz_node_ka(&f, NULL, 0, 0);
            node_send(&f);
        }

        if (f.keepalives != k) {
            t = f.now - last;
            worst = t > worst ? (unsigned) t : worst;
            last = f.now;
        }
    }

    ok(!f.closed && f.relay_rekeys >= 20,
       "48 s with relay rekeys every 2 s, answered: open");
    ok(f.keepalives >= 2 && worst <= 16000 && f.now - last <= 16000,
       "a keepalive at least every 16 s all the same");

    ofz_free(&f);

    /* a node that only rekeys is idle (3.5) */

    OFZ_CHECK(up(&f, 16, 0));
    ofz_node_init_msg(&f, NGX_BEACON_OFFSET_INIT_LISTEN, NULL);
    node_send(&f);

    for (i = 0; i < 31 && !f.closed; i++) {
        ofz_node_rekey(&f);
        node_send(&f);
        ofz_advance(&f, 1000);
    }

    ok(!f.closed, "rekeys answered for 31 s");
    ofz_advance(&f, 1000);
    ok(f.closed && strcmp(f.ev.why, "idle timeout") == 0,
       "a node that sends only Rekeys is dropped at 32 s");
    ofz_free(&f);

    /* frames under the old key after our rekey still open (3.4.5) */

    OFZ_CHECK(up(&f, 16, 0));
    ofz_node_init_msg(&f, NGX_BEACON_OFFSET_INIT_LISTEN, NULL);
    ofz_node_rekey(&f);
    node_send(&f);
    ok(!f.nch.has_pending && f.events[NGX_BEACON_OFFSET_EV_REKEY] == 1,
       "our rekey is answered, both sides switch");
    ofz_node_ka(&f, NULL, 0, 0);
    node_send(&f);
    ok(!f.closed, "new key from nonce 0 accepted");
    ofz_free(&f);
}


static void
test_nothing_after_close(void)
{
    ofz_t                    f;
    ngx_beacon_offset_ev_t   ev;

    OFZ_CHECK(up(&f, 16, 0));
    ofz_node_frame(&f, (const uint8_t *) "x", 1);
    node_send(&f);
    OFZ_CHECK(f.closed);

    ok(ngx_beacon_offset_conn_tick(&f.oc, &ev, f.now + 100000)
       == NGX_BEACON_OFFSET_EV_CLOSE
       && ngx_beacon_offset_conn_incoming(&f.oc, f.node_pk, f.now) == -1
       && ngx_beacon_offset_conn_forward(&f.oc, (const uint8_t *) "", 0,
                                         f.now)
          == -1
       && f.out_len == 0,
       "a closed core sends nothing, whatever it is asked");

    ofz_free(&f);
}


int
main(void)
{
    test_handshake();
    test_handshake_failures();
    test_reads_stop_at_frame_end();
    test_relay_messages();
    test_keepalive_and_rekeys();
    test_nothing_after_close();

    free(ofz_scratch.unpack_ch);
    free(ofz_scratch.unpack_ka);
    free(ofz_scratch.pack_ka);
    free(ofz_scratch.pack_ch);

    printf("1..%d\n", tests);

    if (failures) {
        printf("# %d of %d tests failed\n", failures, tests);
        return 1;
    }

    return 0;
}
