
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Unit tests for the Offset relay Cap'n Proto codec (ngx_beacon_offset_capnp.c):
 * every serialized message of spec offset-relay.md Appendix A (the small
 * messages, the handshake frames and, decrypted, the two transport
 * frames), multi-segment messages with single and double far pointers
 * built by hand from the encoding rules of section 4.2, schema evolution,
 * every rejection, the limits, the packer, and encode/decode round trips.
 * Output is TAP; the exit status is non-zero if any test fails.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ngx_beacon_offset_capnp.h"
#include "tap.h"


#define MODE_UNPACKED  0
#define MODE_PACKED    1



static uint8_t  packed[1 << 20];
static uint8_t  scratch[1 << 20];
static uint8_t  flat[1 << 20];


/* a message under construction: up to 4 segments of 64 words */
typedef struct {
    uint64_t  w[4][64];
    unsigned  n[4];
    unsigned  nsegs;
} build_t;


static uint64_t
S(int32_t off, unsigned dw, unsigned pw)
{
    return (uint64_t) ((uint32_t) off << 2) | ((uint64_t) dw << 32)
           | ((uint64_t) pw << 48);
}


static uint64_t
L(int32_t off, unsigned esize, uint32_t n)
{
    return (uint64_t) (((uint32_t) off << 2) | 1)
           | ((uint64_t) (esize | (n << 3)) << 32);
}


static uint64_t
F(uint32_t pad, unsigned dbl, uint32_t seg)
{
    return (uint64_t) ((pad << 3) | (dbl << 2) | 2) | ((uint64_t) seg << 32);
}


/* word i of a key as BufferN stores it: big-endian value of 8 bytes */
static uint64_t
K(const uint8_t *b, unsigned i)
{
    unsigned  j;
    uint64_t  v;

    v = 0;

    for (j = 0; j < 8; j++) {
        v = (v << 8) | b[8 * i + j];
    }

    return v;
}


/* little-endian bytes as one word (for Data contents) */
static uint64_t
W(const char *s)
{
    unsigned  j;
    uint64_t  v;

    v = 0;

    for (j = 0; j < 8 && s[j]; j++) {
        v |= (uint64_t) (uint8_t) s[j] << (8 * j);
    }

    return v;
}


static void
put(build_t *b, unsigned seg, uint64_t v)
{
    if (seg >= b->nsegs) {
        b->nsegs = seg + 1;
    }

    b->w[seg][b->n[seg]++] = v;
}


/* the unpacked message: segment table, then the segments */
static size_t
flatten(const build_t *b, uint8_t *out)
{
    size_t    n;
    unsigned  i, k, j;

    memset(out, 0, 8 + 4 * b->nsegs);

    out[0] = (uint8_t) (b->nsegs - 1);
    n = 4;

    for (i = 0; i < b->nsegs; i++) {
        for (j = 0; j < 4; j++) {
            out[n++] = (uint8_t) (b->n[i] >> (8 * j));
        }
    }

    n = (n + 7) / 8 * 8;

    for (i = 0; i < b->nsegs; i++) {
        for (k = 0; k < b->n[i]; k++) {
            for (j = 0; j < 8; j++) {
                out[n++] = (uint8_t) (b->w[i][k] >> (8 * j));
            }
        }
    }

    return n;
}


/* reads an unpacked message directly or after packing it */
static int
load(ngx_beacon_offset_capnp_msg_t *msg, const uint8_t *buf, size_t len,
    int mode)
{
    size_t  n, used;
    int     rc;

    if (mode == MODE_UNPACKED) {
        return ngx_beacon_offset_capnp_read(msg, buf, len);
    }

    n = ngx_beacon_offset_capnp_pack(packed, sizeof(packed), buf, len);
    if (n == 0) {
        return 99;
    }

    rc = ngx_beacon_offset_capnp_read_packed(msg, packed, n, scratch,
                                      sizeof(scratch), &used);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK && used != n) {
        return 98;
    }

    return rc;
}


static int
load_build(ngx_beacon_offset_capnp_msg_t *msg, const build_t *b, int mode)
{
    return load(msg, flat, flatten(b, flat), mode);
}


static int
load_hex(ngx_beacon_offset_capnp_msg_t *msg, const char *hex)
{
    static uint8_t  in[4096];
    size_t          n, used;
    int             rc;

    n = unhex(in, sizeof(in), hex);
    rc = ngx_beacon_offset_capnp_read_packed(msg, in, n, scratch,
        sizeof(scratch),
                                      &used);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK && used != n) {
        return 98;
    }

    return rc;
}


static const uint8_t  k32[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
};

static const uint8_t  zero64[64];


static const char  vec_listen_unpacked[] =
    "00000000 03000000 | 0000000001000100 0000000000000000 "
    "0000000000000000";
static const char  vec_listen[] = "10035001010001";
static const char  vec_accept[] =
    "10085001010101400110047f07060504030201ff0f0e0d0c0b0a0908021716151413"
    "1211101f1e1d1c1b1a1918";
static const char  vec_connect[] =
    "10085001010102400110047f07060504030201ff0f0e0d0c0b0a0908021716151413"
    "1211101f1e1d1c1b1a1918";
static const char  vec_incoming[] =
    "10074001400110047f07060504030201ff0f0e0d0c0b0a09080217161514131211101f"
    "1e1d1c1b1a1918";
static const char  vec_ka_msg[] = "1004500101010111011a07010203";
static const char  vec_rekey[] =
    "101140020000500101000040024104014114011004ffe8f4f1cf363819ba030864305d"
    "7139c166398a636df7766ad21154d2841000c1af1004ffaaaaaaaaaaaaaaaa03aaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char  x25519_99[] =
    "ba193836cff1f4e866c139715d306408d26a76f76d638a39afc1001084d25411";

static const char  v2[] =
    "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737";
static const char  v4[] =
    "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0";
static const char  v8[] =
    "219e4d800da968d2a5fcb009c784f4746c7138edb9ee4844b739e830b05cf424";
static const char  v10[] =
    "38ab664bd86f77d7e66bdd9ae0792913a94fd8b33a1260027e4b46c1f4884c67";
static const char  v15[] =
    "000000000000006c101250010301014108014110014120011002ff4444444444"
    "4444440144444444444444441004ff8059677af4a59aa003142a2ddcf855f92f"
    "64f897be239dc9a5f0a4553438f97f121004ffabb42b7432b24ad003e6e41546"
    "bd68133aaf6b011ab74a22d0378777c932a32085";
static const char  v16[] =
    "0000000000000047100d500103000041080141100100001002ff333333333333"
    "33330133333333333333331004ffabb42b7432b24ad003e6e41546bd68133aaf"
    "6b011ab74a22d0378777c932a32085";
static const char  v18[] =
    "a340926aef4ad9462fa22ff81fa0edaa5b6085df0d7900ae6546c05baf45e794"
    "54849c3083fb9ddfbab100adce9e37f67d058a6002b7cd85c10fe964eda9700a";
static const char  v19[] =
    "00000000000000b0101b4004410c01411c014124014134011004ffd268a90d80"
    "4d9e210374f484c709b0fca54448eeb9ed38716c24f45cb030e839b71002ff33"
    "333333333333330133333333333333331004ff88888888888888880388888888"
    "88888888888888888888888888888888888888881008ff46d94aef6a9240a307"
    "aaeda01ff82fa22fae00790ddf85605b94e745af5bc04665df9dfb83309c8454"
    "f6379ecead00b1ba85cdb702608a057d0a70a9ed64e90fc1";
static const char  v21[] =
    "5d0226cd00924576f73bc5bad27ed1d2ac7ac47dc76f8112731a93cf98485685"
    "5cf20e9d85e3f73b1015758f8f3de983fbcdded96c5741c53e03a79173bf960e";
static const char  v22[] =
    "00000000000000b0101b4004410c01411c014124014134011004ffd7776fd84b"
    "66ab3803132979e09add6be60260123ab3d84fa9674c88f4c1464b7e1002ff44"
    "444444444444440144444444444444441004ff77777777777777770377777777"
    "77777777777777777777777777777777777777771008f7764592cd26025dffd2"
    "d17ed2bac53bf70612816fc77dc47aac85564898cf931a733bf7e3859d0ef25c"
    "83e93d8f8f751510c541576cd9decdfb0e96bf7391a7033e";
static const char  v23[] =
    "1d51e36f66066937d9f9fdd71fea89235f2e2237fff24cd9302d3e83f1e9a299";
static const char  v24[] =
    "e22469b6c4dc2438777b74919979eea5691004a03970ea13518349701a492507";
static const char  v25[] = "10035001010001";
static const char  v26[] = "1004500101010111013a5f100350010101";
static const char  v27[] =
    "1009400211051a5104010107c0ffee010111018aff100450010101011101013a"
    "5f10035001010101";
static const char  v28[] =
    "000000000000004400000000000000000000000087d549ec1de4f545cb055b19"
    "e938ff66a421d68a73fb6a746cbc3703bdcb43e8d7e00c69c942cbd1ed0f7dd1"
    "c827c37ce85e10801e906f91";
static const char  v29[] = "10035001010001";
static const char  v30[] = "100640020000500101010111013a5f100350010101";
static const char  v31[] =
    "00000000000000310000000000000000000000000fc35668578a3f7a2b886000"
    "1d085a2dcdce88bfa8739dd7e150dab96ca750186bcc6ea5ed";


static int
eqkey(const uint8_t *k, const char *hex)
{
    uint8_t  b[64];
    size_t   n;

    n = unhex(b, sizeof(b), hex);

    return memcmp(k, b, n) == 0;
}


static int
filled(const uint8_t *p, size_t n, uint8_t c)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i] != c) {
            return 0;
        }
    }

    return 1;
}


static void
test_small_vectors(void)
{
    size_t                      n;
    uint8_t                     u[64], out[256], pk[32], sk[32];
    ngx_beacon_offset_capnp_ka_t       ka;
    ngx_beacon_offset_capnp_msg_t      msg;
    ngx_beacon_offset_capnp_dh_t       dh;
    ngx_beacon_offset_capnp_conn_t     conn;
    ngx_beacon_offset_capnp_init_t     init;
    ngx_beacon_offset_capnp_channel_t  ch;

    /* InitConnection{listen}: unpacked and packed forms */

    n = unhex(u, sizeof(u), vec_listen_unpacked);
    ok(ngx_beacon_offset_capnp_read(&msg, u, n) == NGX_BEACON_OFFSET_CAPNP_OK
       && msg.nsegs == 1 && msg.size[0] == 3 && msg.len == 32,
       "listen: unpacked vector reads");
    ok(ngx_beacon_offset_capnp_decode_init(&msg,
        &init) == NGX_BEACON_OFFSET_CAPNP_OK
       && init.which == NGX_BEACON_OFFSET_INIT_LISTEN
       && filled(init.public_key, 32, 0),
       "listen: unpacked vector decodes");

    ok(eqhex(out, ngx_beacon_offset_capnp_pack(out, sizeof(out), u, n),
        vec_listen),
       "listen: packing the unpacked vector gives the packed vector");

    n = unhex(u, sizeof(u), vec_listen);
    ok(eqhex(out, ngx_beacon_offset_capnp_unpack(out, sizeof(out), u, n),
             vec_listen_unpacked),
       "listen: unpacking the packed vector gives the unpacked vector");

    ok(load_hex(&msg, vec_listen) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_init(&msg,
           &init) == NGX_BEACON_OFFSET_CAPNP_OK
       && init.which == NGX_BEACON_OFFSET_INIT_LISTEN,
       "listen: packed vector decodes");

    init.which = NGX_BEACON_OFFSET_INIT_LISTEN;
    ok(eqhex(out, ngx_beacon_offset_capnp_encode_init(out, sizeof(out), &init),
             vec_listen),
       "listen: encodes to the vector");

    /* accept and connect */

    ok(load_hex(&msg, vec_accept) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_init(&msg,
           &init) == NGX_BEACON_OFFSET_CAPNP_OK
       && init.which == NGX_BEACON_OFFSET_INIT_ACCEPT
       && memcmp(init.public_key, k32, 32) == 0,
       "accept(00..1f): decodes");
    ok(eqhex(out, ngx_beacon_offset_capnp_encode_init(out, sizeof(out), &init),
             vec_accept),
       "accept(00..1f): encodes to the vector");

    ok(load_hex(&msg, vec_connect) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_init(&msg,
           &init) == NGX_BEACON_OFFSET_CAPNP_OK
       && init.which == NGX_BEACON_OFFSET_INIT_CONNECT
       && memcmp(init.public_key, k32, 32) == 0,
       "connect(00..1f): decodes");
    ok(eqhex(out, ngx_beacon_offset_capnp_encode_init(out, sizeof(out), &init),
             vec_connect),
       "connect(00..1f): encodes to the vector");

    /* IncomingConnection and RejectConnection share bytes */

    ok(load_hex(&msg, vec_incoming) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_conn(&msg,
           &conn) == NGX_BEACON_OFFSET_CAPNP_OK
       && memcmp(conn.public_key, k32, 32) == 0,
       "Incoming/RejectConnection(00..1f): decodes");
    ok(eqhex(out, ngx_beacon_offset_capnp_encode_conn(out, sizeof(out), &conn),
             vec_incoming),
       "Incoming/RejectConnection(00..1f): encodes to the vector");

    /* KaMessage */

    ok(load_hex(&msg, vec_listen) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ka(&msg,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK
       && ka.which == NGX_BEACON_OFFSET_KA_KEEPALIVE,
       "KaMessage{keepAlive}: decodes (same bytes as listen)");

    ka.which = NGX_BEACON_OFFSET_KA_KEEPALIVE;
    ok(eqhex(out, ngx_beacon_offset_capnp_encode_ka(out, sizeof(out), &ka),
             vec_listen),
       "KaMessage{keepAlive}: encodes to the vector");

    ok(load_hex(&msg, vec_ka_msg) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ka(&msg,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK
       && ka.which == NGX_BEACON_OFFSET_KA_MESSAGE
       && eqhex(ka.message.data, ka.message.len, "010203"),
       "KaMessage{message = 010203}: decodes");
    ok(eqhex(out, ngx_beacon_offset_capnp_encode_ka(out, sizeof(out), &ka),
             vec_ka_msg),
       "KaMessage{message = 010203}: encodes to the vector");

    /* ChannelMessage{rekey}, dh = X25519 public key of 99.., salt aa.. */

    memset(sk, 0x99, 32);
    crypto_scalarmult_base(pk, sk);
    ok(eqkey(pk, x25519_99), "X25519 public key of 99.. (libsodium)");

    ok(load_hex(&msg, vec_rekey) == NGX_BEACON_OFFSET_CAPNP_OK
       && msg.size[0] == 17
       && ngx_beacon_offset_capnp_decode_channel(&msg,
           &ch) == NGX_BEACON_OFFSET_CAPNP_OK
       && ch.which == NGX_BEACON_OFFSET_CONTENT_REKEY
       && ch.rand_padding.data == NULL
       && memcmp(ch.dh_public_key, pk, 32) == 0
       && filled(ch.key_salt, 32, 0xaa),
       "ChannelMessage{rekey}: decodes");
    ok(eqhex(out, ngx_beacon_offset_capnp_encode_channel(out, sizeof(out),
        &ch),
             vec_rekey),
       "ChannelMessage{rekey}: encodes to the vector");

    /* the other decoders over these bytes read defaults, not errors */

    ok(load_hex(&msg, vec_incoming) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_dh(&msg,
           &dh) == NGX_BEACON_OFFSET_CAPNP_OK
       && memcmp(dh.dh_public_key, k32, 32) == 0
       && memcmp(dh.rand_nonce, zero64, 16) == 0
       && memcmp(dh.signature, zero64, 64) == 0,
       "IncomingConnection read as ExchangeDh: same shape, rest default");
}


/* frame: 8-byte big-endian length, then the packed message */
static size_t
frame(uint8_t *out, size_t cap, const char *hex)
{
    size_t    n, i;
    uint64_t  len;

    n = unhex(out, cap, hex);
    len = 0;

    for (i = 0; i < 8; i++) {
        len = (len << 8) | out[i];
    }

    if (len != n - 8) {
        printf("Bail out! frame length %llu != %zu\n",
               (unsigned long long) len, n - 8);
        exit(1);
    }

    memmove(out, out + 8, n - 8);

    return n - 8;
}


static void
test_transcript(void)
{
    size_t                      n, pn;
    uint8_t                     buf[512], out[512], key[32], pt[512];
    unsigned long long          mlen;
    ngx_beacon_offset_capnp_ka_t       ka;
    ngx_beacon_offset_capnp_dh_t       dh;
    ngx_beacon_offset_capnp_ern_t      ern;
    ngx_beacon_offset_capnp_msg_t      msg, inner;
    ngx_beacon_offset_capnp_init_t     init;
    ngx_beacon_offset_capnp_channel_t  ch;

    static uint8_t  scratch2[4096];

    /* V15, V16: ExchangeRandNonce */

    n = frame(buf, sizeof(buf), v15);
    ok(ngx_beacon_offset_capnp_read_packed(&msg, buf, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ern(&msg,
           &ern) == NGX_BEACON_OFFSET_CAPNP_OK
       && filled(ern.rand_nonce, 16, 0x44)
       && eqkey(ern.src_public_key, v4) && ern.has_dest
       && eqkey(ern.dest_public_key, v2),
       "V15 client ExchangeRandNonce: decodes");
    ok(ngx_beacon_offset_capnp_encode_ern(out, sizeof(out), &ern) == n
       && memcmp(out, buf, n) == 0,
       "V15 client ExchangeRandNonce: encodes to the vector");

    n = frame(buf, sizeof(buf), v16);
    ok(ngx_beacon_offset_capnp_read_packed(&msg, buf, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ern(&msg,
           &ern) == NGX_BEACON_OFFSET_CAPNP_OK
       && filled(ern.rand_nonce, 16, 0x33)
       && eqkey(ern.src_public_key, v2) && !ern.has_dest
       && filled(ern.dest_public_key, 32, 0),
       "V16 relay ExchangeRandNonce: decodes");
    ok(ngx_beacon_offset_capnp_encode_ern(out, sizeof(out), &ern) == n
       && memcmp(out, buf, n) == 0,
       "V16 relay ExchangeRandNonce: encodes to the vector");

    /* V19, V22: ExchangeDh */

    n = frame(buf, sizeof(buf), v19);
    ok(ngx_beacon_offset_capnp_read_packed(&msg, buf, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_dh(&msg,
           &dh) == NGX_BEACON_OFFSET_CAPNP_OK
       && eqkey(dh.dh_public_key, v8) && filled(dh.rand_nonce, 16, 0x33)
       && filled(dh.key_salt, 32, 0x88) && eqkey(dh.signature, v18),
       "V19 client ExchangeDh: decodes");
    ok(ngx_beacon_offset_capnp_encode_dh(out, sizeof(out), &dh) == n
       && memcmp(out, buf, n) == 0,
       "V19 client ExchangeDh: encodes to the vector");

    n = frame(buf, sizeof(buf), v22);
    ok(ngx_beacon_offset_capnp_read_packed(&msg, buf, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_dh(&msg,
           &dh) == NGX_BEACON_OFFSET_CAPNP_OK
       && eqkey(dh.dh_public_key, v10) && filled(dh.rand_nonce, 16, 0x44)
       && filled(dh.key_salt, 32, 0x77) && eqkey(dh.signature, v21),
       "V22 relay ExchangeDh: decodes");
    ok(ngx_beacon_offset_capnp_encode_dh(out, sizeof(out), &dh) == n
       && memcmp(out, buf, n) == 0,
       "V22 relay ExchangeDh: encodes to the vector");

    /* V25 .. V27: ChannelMessage > KaMessage > InitConnection */

    ok(load_hex(&msg, v25) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_init(&msg,
           &init) == NGX_BEACON_OFFSET_CAPNP_OK
       && init.which == NGX_BEACON_OFFSET_INIT_LISTEN
       && eqhex(out, ngx_beacon_offset_capnp_encode_init(out, sizeof(out),
           &init),
                v25),
       "V25 InitConnection{listen}: decodes and encodes");

    ok(load_hex(&msg, v26) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ka(&msg,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK
       && ka.which == NGX_BEACON_OFFSET_KA_MESSAGE
       && eqhex(ka.message.data, ka.message.len, v25)
       && eqhex(out, ngx_beacon_offset_capnp_encode_ka(out, sizeof(out), &ka),
           v26),
       "V26 KaMessage{message = V25}: decodes and encodes");

    ok(load_hex(&msg, v27) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_channel(&msg,
           &ch) == NGX_BEACON_OFFSET_CAPNP_OK
       && ch.which == NGX_BEACON_OFFSET_CONTENT_USER
       && eqhex(ch.rand_padding.data, ch.rand_padding.len, "c0ffee")
       && eqhex(ch.user.data, ch.user.len, v26)
       && eqhex(out, ngx_beacon_offset_capnp_encode_channel(out, sizeof(out),
           &ch),
                v27),
       "V27 ChannelMessage{c0ffee, user = V26}: decodes and encodes");

    /* the layers nest by bytes: decode the user Data, then its message */

    ok(ngx_beacon_offset_capnp_read_packed(&inner, ch.user.data, ch.user.len,
                                    scratch2, sizeof(scratch2), NULL)
       == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ka(&inner,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_read_packed(&msg, ka.message.data,
           ka.message.len,
                                       scratch, sizeof(scratch), NULL)
          == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_init(&msg,
           &init) == NGX_BEACON_OFFSET_CAPNP_OK
       && init.which == NGX_BEACON_OFFSET_INIT_LISTEN,
       "V27 > V26 > V25: nested messages decode");

    ok(load_hex(&msg, v29) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ka(&msg,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK
       && ka.which == NGX_BEACON_OFFSET_KA_KEEPALIVE
       && eqhex(out, ngx_beacon_offset_capnp_encode_ka(out, sizeof(out), &ka),
           v29),
       "V29 KaMessage{keepAlive}: decodes and encodes");

    ok(load_hex(&msg, v30) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_channel(&msg,
           &ch) == NGX_BEACON_OFFSET_CAPNP_OK
       && ch.which == NGX_BEACON_OFFSET_CONTENT_USER
       && ch.rand_padding.data == NULL
       && eqhex(ch.user.data, ch.user.len, v29)
       && eqhex(out, ngx_beacon_offset_capnp_encode_channel(out, sizeof(out),
           &ch),
                v30),
       "V30 ChannelMessage{null, user = V29}: decodes and encodes");

    /* V28, V31: the AEAD plaintexts are V27 and V30 */

    mlen = 0;
    n = frame(buf, sizeof(buf), v28);
    unhex(key, sizeof(key), v23);
    ok(n >= 28
       && crypto_aead_chacha20poly1305_ietf_decrypt(pt, &mlen, NULL,
              buf + 12, n - 12, NULL, 0, buf, key) == 0
       && eqhex(pt, (size_t) mlen, v27),
       "V28 decrypts (key V23, nonce 0) to V27");

    pn = (size_t) mlen;
    ok(ngx_beacon_offset_capnp_read_packed(&msg, pt, pn, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_channel(&msg,
           &ch) == NGX_BEACON_OFFSET_CAPNP_OK
       && ch.which == NGX_BEACON_OFFSET_CONTENT_USER,
       "V28 plaintext decodes as ChannelMessage");

    n = frame(buf, sizeof(buf), v31);
    unhex(key, sizeof(key), v24);
    ok(n >= 28
       && crypto_aead_chacha20poly1305_ietf_decrypt(pt, &mlen, NULL,
              buf + 12, n - 12, NULL, 0, buf, key) == 0
       && eqhex(pt, (size_t) mlen, v30),
       "V31 decrypts (key V24, nonce 0) to V30");
}


/* KaMessage{message = "hello, far world"} with the root and Data far */
static void
build_ka_far(build_t *b, int dbl)
{
    memset(b, 0, sizeof(build_t));

    /* segment 0: the root pointer is a single far into segment 1 */
    put(b, 0, F(2, 0, 1));
    put(b, 0, 0);                    /* unused */

    /* segment 1: w0..w1 junk, w2 landing pad, w3..w4 the root struct */
    put(b, 1, 0xdeadbeef);
    put(b, 1, 0);
    put(b, 1, S(0, 1, 1));
    put(b, 1, 1);                    /* tag = message */

    if (dbl) {
        /* a double far: pad in segment 2 at w1, content at seg 3 w1 */
        put(b, 1, F(1, 1, 2));
        put(b, 2, 0);
        put(b, 2, F(1, 0, 3));
        put(b, 2, L(0, 2, 16));
        put(b, 3, 0);
        put(b, 3, W("hello, f"));
        put(b, 3, W("ar world"));

    } else {
        /* single far to segment 2 w0: L(0, 16) then the bytes */
        put(b, 1, F(0, 0, 2));
        put(b, 2, L(0, 2, 16));
        put(b, 2, W("hello, f"));
        put(b, 2, W("ar world"));
    }
}


static void
test_multisegment(void)
{
    int                         mode, rc;
    char                        name[128];
    build_t                     b;
    ngx_beacon_offset_capnp_ka_t       ka;
    ngx_beacon_offset_capnp_msg_t      msg;
    ngx_beacon_offset_capnp_ern_t      ern;
    ngx_beacon_offset_capnp_channel_t  ch;

    static const char  *modes[] = { "unpacked", "packed" };

    for (mode = 0; mode < 2; mode++) {

        build_ka_far(&b, 0);
        rc = load_build(&msg, &b, mode);
        snprintf(name, sizeof(name),
                 "%s: 3 segments, far root and single-far Data",
                 modes[mode]);
        ok(rc == NGX_BEACON_OFFSET_CAPNP_OK && msg.nsegs == 3
           && ngx_beacon_offset_capnp_decode_ka(&msg,
               &ka) == NGX_BEACON_OFFSET_CAPNP_OK
           && ka.which == NGX_BEACON_OFFSET_KA_MESSAGE
           && ka.message.len == 16
           && memcmp(ka.message.data, "hello, far world", 16) == 0, name);

        build_ka_far(&b, 1);
        rc = load_build(&msg, &b, mode);
        snprintf(name, sizeof(name),
                 "%s: 4 segments (even table), double-far Data",
                 modes[mode]);
        ok(rc == NGX_BEACON_OFFSET_CAPNP_OK && msg.nsegs == 4
           && ngx_beacon_offset_capnp_decode_ka(&msg,
               &ka) == NGX_BEACON_OFFSET_CAPNP_OK
           && ka.message.len == 16
           && memcmp(ka.message.data, "hello, far world", 16) == 0, name);

        /*
         * ChannelMessage as a Rust builder spills it: the root and the
         * padding in segment 0, the content in segment 1 (single far), its
         * user Data in segment 2 (double far, pad in segment 1).
         */

        memset(&b, 0, sizeof(b));
        put(&b, 0, S(0, 0, 2));
        put(&b, 0, L(1, 2, 9));
        put(&b, 0, F(0, 0, 1));
        put(&b, 0, W("padpadpa"));
        put(&b, 0, W("d"));
        put(&b, 1, S(0, 1, 1));
        put(&b, 1, 1);
        put(&b, 1, F(3, 1, 1));
        put(&b, 1, F(0, 0, 2));
        put(&b, 1, L(0, 2, 5));
        put(&b, 2, W("user!"));

        rc = load_build(&msg, &b, mode);
        snprintf(name, sizeof(name),
                 "%s: ChannelMessage over 3 segments, single and double far",
                 modes[mode]);
        ok(rc == NGX_BEACON_OFFSET_CAPNP_OK
           && ngx_beacon_offset_capnp_decode_channel(&msg, &ch)
              == NGX_BEACON_OFFSET_CAPNP_OK
           && ch.which == NGX_BEACON_OFFSET_CONTENT_USER
           && ch.rand_padding.len == 9
           && memcmp(ch.rand_padding.data, "padpadpad", 9) == 0
           && ch.user.len == 5 && memcmp(ch.user.data, "user!", 5) == 0,
           name);

        /* ChannelMessage{rekey}: Rekey and both keys far, one double */

        memset(&b, 0, sizeof(b));
        put(&b, 0, S(0, 0, 2));
        put(&b, 0, 0);
        put(&b, 0, S(0, 1, 1));
        put(&b, 0, 0);                       /* tag = rekey */
        put(&b, 0, F(0, 0, 1));
        put(&b, 1, S(0, 0, 2));              /* landing pad */
        put(&b, 1, F(0, 1, 2));              /* dh: double far */
        put(&b, 1, S(4, 0, 1));              /* salt: near, w7 */
        put(&b, 2, F(1, 0, 3));
        put(&b, 2, S(0, 0, 1));
        put(&b, 3, 0);
        put(&b, 3, F(2, 0, 2));              /* dh wrapper: its Buffer far */
        put(&b, 2, S(0, 4, 0));              /* at seg 2 w2 */
        put(&b, 2, K(k32, 0));
        put(&b, 2, K(k32, 1));
        put(&b, 2, K(k32, 2));
        put(&b, 2, K(k32, 3));
        put(&b, 1, 0);
        put(&b, 1, 0);
        put(&b, 1, 0);
        put(&b, 1, 0);
        put(&b, 1, S(0, 4, 0));              /* salt wrapper at seg 1 w7 */
        put(&b, 1, K(k32, 3));
        put(&b, 1, K(k32, 2));
        put(&b, 1, K(k32, 1));
        put(&b, 1, K(k32, 0));

        rc = load_build(&msg, &b, mode);
        snprintf(name, sizeof(name),
                 "%s: ChannelMessage{rekey} over 4 segments", modes[mode]);
        ok(rc == NGX_BEACON_OFFSET_CAPNP_OK
           && ngx_beacon_offset_capnp_decode_channel(&msg, &ch)
              == NGX_BEACON_OFFSET_CAPNP_OK
           && ch.which == NGX_BEACON_OFFSET_CONTENT_REKEY
           && memcmp(ch.dh_public_key, k32, 32) == 0
           && memcmp(ch.key_salt, k32 + 24, 8) == 0
           && memcmp(ch.key_salt + 24, k32, 8) == 0,
           name);

        /* ExchangeRandNonce with its wrappers' Buffers in another segment */

        memset(&b, 0, sizeof(b));
        put(&b, 0, S(0, 1, 3));
        put(&b, 0, 1);
        put(&b, 0, S(2, 0, 1));
        put(&b, 0, S(2, 0, 1));
        put(&b, 0, S(2, 0, 1));
        put(&b, 0, F(0, 0, 1));              /* nonce wrapper, w5 */
        put(&b, 0, F(3, 0, 1));              /* src wrapper, w6 */
        put(&b, 0, F(8, 1, 1));              /* dest wrapper, w7 */
        put(&b, 1, S(0, 2, 0));
        put(&b, 1, K(k32, 0));
        put(&b, 1, K(k32, 1));
        put(&b, 1, S(0, 4, 0));
        put(&b, 1, K(k32, 0));
        put(&b, 1, K(k32, 1));
        put(&b, 1, K(k32, 2));
        put(&b, 1, K(k32, 3));
        put(&b, 1, F(10, 0, 1));             /* w8: double-far pad */
        put(&b, 1, S(0, 4, 0));              /* w9: its tag */
        put(&b, 1, K(k32, 3));               /* w10..: content */
        put(&b, 1, K(k32, 2));
        put(&b, 1, K(k32, 1));
        put(&b, 1, K(k32, 0));

        rc = load_build(&msg, &b, mode);
        snprintf(name, sizeof(name),
                 "%s: ExchangeRandNonce with far Buffers", modes[mode]);
        ok(rc == NGX_BEACON_OFFSET_CAPNP_OK
           && ngx_beacon_offset_capnp_decode_ern(&msg,
               &ern) == NGX_BEACON_OFFSET_CAPNP_OK
           && memcmp(ern.rand_nonce, k32, 16) == 0
           && memcmp(ern.src_public_key, k32, 32) == 0
           && ern.has_dest
           && memcmp(ern.dest_public_key, k32 + 24, 8) == 0,
           name);
    }
}


static void
test_evolution(void)
{
    build_t                  b;
    ngx_beacon_offset_capnp_ka_t    ka;
    ngx_beacon_offset_capnp_msg_t   msg;
    ngx_beacon_offset_capnp_conn_t  conn;
    ngx_beacon_offset_capnp_init_t  init;

    /* a newer InitConnection with 2 data words and 3 pointers */

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 2, 3));
    put(&b, 0, 0xffffffff00000002ULL);      /* tag 2, other fields set */
    put(&b, 0, 0xffffffffffffffffULL);
    put(&b, 0, S(2, 0, 1));
    put(&b, 0, S(0, 1, 0));                 /* unknown fields */
    put(&b, 0, L(0, 2, 3));
    put(&b, 0, S(0, 4, 0));
    put(&b, 0, K(k32, 0));
    put(&b, 0, K(k32, 1));
    put(&b, 0, K(k32, 2));
    put(&b, 0, K(k32, 3));

    ok(load_build(&msg, &b, MODE_PACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_init(&msg,
           &init) == NGX_BEACON_OFFSET_CAPNP_OK
       && init.which == NGX_BEACON_OFFSET_INIT_CONNECT
       && memcmp(init.public_key, k32, 32) == 0,
       "evolution: larger sections are read, extra fields ignored");

    /* an older one: no data section reads tag 0 (listen) */

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, 0);

    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_init(&msg,
           &init) == NGX_BEACON_OFFSET_CAPNP_OK
       && init.which == NGX_BEACON_OFFSET_INIT_LISTEN,
       "evolution: no data section reads as discriminant 0");

    /* KaMessage{message} with no pointer section: empty Data */

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 1, 0));
    put(&b, 0, 1);

    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ka(&msg,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK
       && ka.which == NGX_BEACON_OFFSET_KA_MESSAGE
       && ka.message.data == NULL && ka.message.len == 0,
       "evolution: a missing pointer reads as null Data");

    /* short Buffer256 (2 words): the rest reads as zeros */

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, S(0, 2, 0));
    put(&b, 0, K(k32, 0));
    put(&b, 0, K(k32, 1));

    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_conn(&msg,
           &conn) == NGX_BEACON_OFFSET_CAPNP_OK
       && memcmp(conn.public_key, k32, 16) == 0
       && filled(conn.public_key + 16, 16, 0),
       "evolution: a short Buffer reads as zero-filled");

    /* null wrapper, null inner, zero-sized struct (offset -1) */

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, 0);

    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_conn(&msg,
           &conn) == NGX_BEACON_OFFSET_CAPNP_OK
       && filled(conn.public_key, 32, 0),
       "evolution: a null PublicKey reads as zeros");

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, S(-1, 0, 0));

    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_conn(&msg,
           &conn) == NGX_BEACON_OFFSET_CAPNP_OK
       && filled(conn.public_key, 32, 0),
       "evolution: a zero-sized wrapper (offset -1) reads as zeros");

    memset(&b, 0, sizeof(b));
    put(&b, 0, 0);

    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ka(&msg,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK
       && ka.which == NGX_BEACON_OFFSET_KA_KEEPALIVE,
       "evolution: a null root reads as defaults");
}


/* a hand-built message that must fail to decode as ka with rc */
static void
expect_ka(const build_t *b, int rc, const char *name)
{
    int                     mode, r;
    char                    buf[160];
    ngx_beacon_offset_capnp_ka_t   ka;
    ngx_beacon_offset_capnp_msg_t  msg;

    for (mode = 0; mode < 2; mode++) {
        r = load_build(&msg, b, mode);

        if (r == NGX_BEACON_OFFSET_CAPNP_OK) {
            r = ngx_beacon_offset_capnp_decode_ka(&msg, &ka);
        }

        snprintf(buf, sizeof(buf), "%s: %s (%s)", mode ? "packed" : "unpacked",
                 name, ngx_beacon_offset_capnp_strerror(rc));
        ok(r == rc && (r == 0 || (ka.which == 0 && ka.message.data == NULL)),
           buf);
    }
}


static void
expect_conn(const build_t *b, int rc, const char *name)
{
    int                      mode, r;
    char                     buf[160];
    ngx_beacon_offset_capnp_msg_t   msg;
    ngx_beacon_offset_capnp_conn_t  conn;

    for (mode = 0; mode < 2; mode++) {
        r = load_build(&msg, b, mode);

        if (r == NGX_BEACON_OFFSET_CAPNP_OK) {
            r = ngx_beacon_offset_capnp_decode_conn(&msg, &conn);
        }

        snprintf(buf, sizeof(buf), "%s: %s (%s)", mode ? "packed" : "unpacked",
                 name, ngx_beacon_offset_capnp_strerror(rc));
        ok(r == rc, buf);
    }
}


/* KaMessage{message} whose ptr0 is p, followed by more words */
static void
ka_with(build_t *b, uint64_t p)
{
    memset(b, 0, sizeof(build_t));
    put(b, 0, S(0, 1, 1));
    put(b, 0, 1);
    put(b, 0, p);
    put(b, 0, W("abcdefgh"));
}


static void
test_reject_pointers(void)
{
    build_t                     b;
    ngx_beacon_offset_capnp_msg_t      msg;
    ngx_beacon_offset_capnp_ern_t      ern;
    ngx_beacon_offset_capnp_init_t     init;
    ngx_beacon_offset_capnp_channel_t  ch;

    /* near pointers out of bounds */

    ka_with(&b, L(0, 2, 8));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_OK,
        "Data ending at the segment end");

    ka_with(&b, L(0, 2, 9));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
        "Data past the segment end");

    ka_with(&b, L(1, 2, 1));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
        "Data starting past the end");

    ka_with(&b, L(-4, 2, 1));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS, "Data before the segment");

    ka_with(&b, L(-3, 2, 1));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_OK,
        "Data at word 0 (negative offset)");

    ka_with(&b, L(0x1fffffff, 2, 1));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS, "largest positive offset");

    ka_with(&b, L(-0x20000000, 2, 1));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS, "most negative offset");

    ka_with(&b, L(0, 2, 0x1fffffff));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS, "largest Data count");

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 1, 2));
    put(&b, 0, 1);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS, "root struct past the end");

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0xffff, 0xffff));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
        "root struct of 128 Ki words");

    memset(&b, 0, sizeof(b));
    b.nsegs = 1;
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
        "empty segment 0 (no root)");

    /* wrong kinds */

    ka_with(&b, S(0, 1, 0));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER,
        "struct where Data expected");

    ka_with(&b, L(0, 3, 4));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER, "list of 16-bit for Data");

    ka_with(&b, L(0, 7, 1));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER,
        "inline composite for Data");

    ka_with(&b, 3);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER, "capability pointer");

    memset(&b, 0, sizeof(b));
    put(&b, 0, L(0, 2, 8));
    put(&b, 0, 1);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER, "list as the root struct");

    memset(&b, 0, sizeof(b));
    put(&b, 0, 3);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER, "capability as the root");

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, L(0, 2, 0));
    expect_conn(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER, "list as a PublicKey");

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, L(0, 2, 0));
    expect_conn(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER, "list as a Buffer256");

    /* far pointers */

    ka_with(&b, F(0, 0, 1));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
        "far into a missing segment");

    ka_with(&b, F(4, 0, 0));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
        "far landing pad past the end");

    ka_with(&b, F(3, 1, 0));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
        "double-far pad of one word");

    ka_with(&b, F(0x1fffffff, 1, 0));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
        "largest landing pad index");

    ka_with(&b, F(0, 0, 0xffffffff));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS, "largest segment id");

    ka_with(&b, F(2, 0, 0));
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER, "far landing on a far");

    ka_with(&b, F(3, 0, 0));
    b.w[0][3] = 3;
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER,
        "far landing on a capability");

    ka_with(&b, F(3, 0, 0));
    b.w[0][3] = L(-2, 2, 8);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_OK, "far landing pad pointing back");

    ka_with(&b, F(3, 0, 0));
    b.w[0][3] = L(-5, 2, 8);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
              "far landing pad pointing before the segment");

    /* double far: pad word 0 must be a plain far, word 1 a tag */

    ka_with(&b, F(3, 1, 0));
    put(&b, 0, L(0, 2, 8));
    b.w[0][3] = F(3, 0, 0);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_OK,
        "double far onto the tag's own word");

    ka_with(&b, F(3, 1, 0));
    put(&b, 0, L(0, 2, 8));
    b.w[0][3] = L(0, 2, 8);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER,
        "double-far pad not a far");

    ka_with(&b, F(3, 1, 0));
    put(&b, 0, L(0, 2, 8));
    b.w[0][3] = F(3, 1, 0);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER,
        "double-far pad is double");

    ka_with(&b, F(3, 1, 0));
    put(&b, 0, F(0, 0, 0));
    b.w[0][3] = F(3, 0, 0);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EPOINTER, "double-far tag is a far");

    ka_with(&b, F(3, 1, 0));
    put(&b, 0, L(0, 2, 8));
    b.w[0][3] = F(3, 0, 7);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
              "double-far content in a missing segment");

    ka_with(&b, F(3, 1, 0));
    put(&b, 0, L(0, 2, 16));
    b.w[0][3] = F(4, 0, 0);
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
              "double-far content past the end");

    /* unknown discriminants */

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 1, 1));
    put(&b, 0, 3);
    put(&b, 0, 0);
    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_init(&msg, &init)
          == NGX_BEACON_OFFSET_CAPNP_EUNION && init.which == 0,
       "InitConnection discriminant 3 (EUNION)");

    b.w[0][1] = 0xffff0002;
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_EUNION, "KaMessage discriminant 2");

    b.w[0][1] = 0x10000;                    /* bits above the tag: ignored */
    expect_ka(&b, NGX_BEACON_OFFSET_CAPNP_OK,
        "KaMessage tag 0, other bits set");

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 1, 3));
    put(&b, 0, 2);
    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ern(&msg,
           &ern) == NGX_BEACON_OFFSET_CAPNP_EBOUNDS,
       "ExchangeRandNonce root past the end (EBOUNDS)");

    put(&b, 0, 0);
    put(&b, 0, 0);
    put(&b, 0, 0);
    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ern(&msg,
           &ern) == NGX_BEACON_OFFSET_CAPNP_EUNION,
       "ExchangeRandNonce optDestPublicKey discriminant 2 (EUNION)");

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0, 2));
    put(&b, 0, 0);
    put(&b, 0, S(0, 1, 1));
    put(&b, 0, 2);
    put(&b, 0, 0);
    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_channel(&msg, &ch)
          == NGX_BEACON_OFFSET_CAPNP_EUNION && ch.which == 0,
       "ChannelContent discriminant 2 (EUNION)");

    /* randPadding is resolved too: a bad one is an error */

    b.w[0][1] = L(0, 3, 1);
    b.w[0][3] = 1;
    ok(load_build(&msg, &b, MODE_UNPACKED) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_channel(&msg, &ch)
          == NGX_BEACON_OFFSET_CAPNP_EPOINTER,
       "ChannelMessage with a non-byte randPadding (EPOINTER)");
}


static void
test_limits(void)
{
    int                         rc;
    size_t                      n;
    uint8_t                     in[64], *big;
    build_t                     b;
    ngx_beacon_offset_capnp_ka_t       ka;
    ngx_beacon_offset_capnp_msg_t      msg;
    ngx_beacon_offset_capnp_conn_t     conn;
    ngx_beacon_offset_capnp_channel_t  ch;

    /* segment count */

    memset(in, 0, sizeof(in));
    in[0] = 64;                               /* 65 segments */
    ok(ngx_beacon_offset_capnp_read(&msg, in, sizeof(in))
       == NGX_BEACON_OFFSET_CAPNP_ESEGMENTS, "65 segments (ESEGMENTS)");

    memset(in, 0xff, 4);
    ok(ngx_beacon_offset_capnp_read(&msg, in, sizeof(in))
       == NGX_BEACON_OFFSET_CAPNP_ESEGMENTS, "2^32 segments (ESEGMENTS)");

    /* 0x10 0xff: packed table word of 0 + 1 segments... of 65 */
    n = unhex(in, sizeof(in), "0140");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_ESEGMENTS,
       "packed: 65 segments (ESEGMENTS)");

    memset(&b, 0, sizeof(b));
    b.nsegs = 1;
    flat[0] = 63;
    memset(flat + 1, 0, 7);
    memset(flat + 8, 0, 256);
    ok(ngx_beacon_offset_capnp_read(&msg, flat,
        8 + 256) == NGX_BEACON_OFFSET_CAPNP_OK
       && msg.nsegs == 64, "64 empty segments read");

    /* truncated tables and segments */

    ok(ngx_beacon_offset_capnp_read(&msg, flat,
        7) == NGX_BEACON_OFFSET_CAPNP_ETRUNC,
       "unpacked: 7 bytes (ETRUNC)");
    ok(ngx_beacon_offset_capnp_read(&msg, flat,
        8 + 255) == NGX_BEACON_OFFSET_CAPNP_ETRUNC,
       "unpacked: table cut short (ETRUNC)");

    build_ka_far(&b, 0);
    n = flatten(&b, flat);
    ok(ngx_beacon_offset_capnp_read(&msg, flat,
        n - 1) == NGX_BEACON_OFFSET_CAPNP_ETRUNC
       && msg.nsegs == 0,
       "unpacked: last segment cut short (ETRUNC)");

    ok(ngx_beacon_offset_capnp_read(&msg, flat,
        n) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_read(&msg, flat,
           n + 8) == NGX_BEACON_OFFSET_CAPNP_OK
       && msg.len == n, "unpacked: trailing bytes ignored");

    /* scratch too small */

    n = ngx_beacon_offset_capnp_pack(packed, sizeof(packed), flat, n);
    rc = ngx_beacon_offset_capnp_read_packed(&msg, packed, n, scratch,
                                      flatten(&b, flat), NULL);
    ok(rc == NGX_BEACON_OFFSET_CAPNP_OK,
        "packed: scratch exactly large enough");

    rc = ngx_beacon_offset_capnp_read_packed(&msg, packed, n, scratch,
                                      flatten(&b, flat) - 8, NULL);
    ok(rc == NGX_BEACON_OFFSET_CAPNP_ELIMIT,
        "packed: scratch a word short (ELIMIT)");

    ok(ngx_beacon_offset_capnp_read_packed(&msg, packed, n, scratch, 7, NULL)
       == NGX_BEACON_OFFSET_CAPNP_ELIMIT, "packed: scratch under a word (ELIMIT)");

    ok(ngx_beacon_offset_capnp_read_packed(&msg, packed, n, scratch, 8, NULL)
       == NGX_BEACON_OFFSET_CAPNP_ELIMIT, "packed: scratch of one word (ELIMIT)");

    /* 0x00 runs expand 2 bytes into 2 KiB: the scratch bounds them */

    n = unhex(in, sizeof(in), "300008 00ff00ff00ff00ff00ff00ff00ff00ff");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n, scratch, 4096, NULL)
       == NGX_BEACON_OFFSET_CAPNP_ELIMIT,
       "packed: 2048 zero words in 19 bytes, 4 KiB scratch (ELIMIT)");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_OK
       && msg.size[0] == 2048
       && ngx_beacon_offset_capnp_decode_ka(&msg,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK,
       "packed: 2048 zero words in 19 bytes, 1 MiB scratch");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n - 2, scratch,
                                    sizeof(scratch), NULL)
       == NGX_BEACON_OFFSET_CAPNP_ETRUNC,
       "packed: 2048 words declared, 1792 given (ETRUNC)");

    /* traversal limit: more than 8 Mi words in total */

    big = calloc(1, 8 + 8 * (size_t) (NGX_BEACON_OFFSET_CAPNP_TRAVERSAL + 1));

    if (big) {
        n = (size_t) NGX_BEACON_OFFSET_CAPNP_TRAVERSAL + 1;
        big[4] = (uint8_t) n;
        big[5] = (uint8_t) (n >> 8);
        big[6] = (uint8_t) (n >> 16);
        big[7] = (uint8_t) (n >> 24);
        ok(ngx_beacon_offset_capnp_read(&msg, big, 8 + 8 * n)
           == NGX_BEACON_OFFSET_CAPNP_ELIMIT, "8 Mi + 1 words (ELIMIT)");

        n--;
        big[4] = (uint8_t) n;
        big[5] = (uint8_t) (n >> 8);
        big[6] = (uint8_t) (n >> 16);
        big[7] = (uint8_t) (n >> 24);
        ok(ngx_beacon_offset_capnp_read(&msg, big,
            8 + 8 * n) == NGX_BEACON_OFFSET_CAPNP_OK
           && ngx_beacon_offset_capnp_decode_ka(&msg,
               &ka) == NGX_BEACON_OFFSET_CAPNP_OK,
           "8 Mi words read");

        free(big);

    } else {
        ok(1, "# SKIP no memory for 64 MiB");
        ok(1, "# SKIP no memory for 64 MiB");
    }

    /* traversal limit per decode, lowered */

    ka_with(&b, L(0, 2, 8));
    rc = load_build(&msg, &b, MODE_UNPACKED);
    msg.traversal_limit = 3;
    ok(rc == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ka(&msg,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_ka(&msg,
           &ka) == NGX_BEACON_OFFSET_CAPNP_OK,
       "traversal limit 3 words: 2 + 1 words read, twice");

    msg.traversal_limit = 2;
    ok(ngx_beacon_offset_capnp_decode_ka(&msg,
        &ka) == NGX_BEACON_OFFSET_CAPNP_ELIMIT,
       "traversal limit 2 words: the Data is over it (ELIMIT)");

    msg.traversal_limit = 1;
    ok(ngx_beacon_offset_capnp_decode_ka(&msg,
        &ka) == NGX_BEACON_OFFSET_CAPNP_ELIMIT,
       "traversal limit 1 word: the root is over it (ELIMIT)");

    /* the same word reached twice is charged twice (amplification) */

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0, 2));
    put(&b, 0, L(1, 2, 8));
    put(&b, 0, S(0, 1, 1));
    put(&b, 0, 1);
    put(&b, 0, L(-2, 2, 8));
    rc = load_build(&msg, &b, MODE_UNPACKED);
    ok(rc == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_channel(&msg,
           &ch) == NGX_BEACON_OFFSET_CAPNP_OK
       && ch.user.data == ch.rand_padding.data && ch.user.len == 8,
       "overlapping objects are read");
    msg.traversal_limit = 5;
    ok(ngx_beacon_offset_capnp_decode_channel(&msg,
        &ch) == NGX_BEACON_OFFSET_CAPNP_ELIMIT,
       "overlapping objects are charged each time (ELIMIT)");

    /* nesting limit */

    memset(&b, 0, sizeof(b));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, S(0, 0, 1));
    put(&b, 0, S(0, 4, 0));
    put(&b, 0, K(k32, 0));
    put(&b, 0, K(k32, 1));
    put(&b, 0, K(k32, 2));
    put(&b, 0, K(k32, 3));
    rc = load_build(&msg, &b, MODE_UNPACKED);
    msg.nesting_limit = 3;
    ok(rc == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_conn(&msg,
           &conn) == NGX_BEACON_OFFSET_CAPNP_OK,
       "nesting limit 3: IncomingConnection is 3 deep");
    msg.nesting_limit = 2;
    ok(ngx_beacon_offset_capnp_decode_conn(&msg,
        &conn) == NGX_BEACON_OFFSET_CAPNP_ENESTING
       && filled(conn.public_key, 32, 0),
       "nesting limit 2 (ENESTING)");

    ok(load_hex(&msg, vec_rekey) == NGX_BEACON_OFFSET_CAPNP_OK, "rekey reads");
    msg.nesting_limit = 5;
    ok(ngx_beacon_offset_capnp_decode_channel(&msg,
        &ch) == NGX_BEACON_OFFSET_CAPNP_OK,
       "nesting limit 5: ChannelMessage{rekey} is 5 deep");
    msg.nesting_limit = 4;
    ok(ngx_beacon_offset_capnp_decode_channel(&msg, &ch)
       == NGX_BEACON_OFFSET_CAPNP_ENESTING, "nesting limit 4 (ENESTING)");
}


static void
test_packing(void)
{
    int                     rc, bad;
    size_t                  n, k, used;
    uint8_t                 in[4096], out[8192], back[8192];
    ngx_beacon_offset_capnp_msg_t  msg;

    /* runs stop at 255 */

    memset(in, 0, sizeof(in));
    n = ngx_beacon_offset_capnp_pack(out, sizeof(out), in, 300 * 8);
    ok(eqhex(out, n, "00ff 002b"), "300 zero words: 00 ff, 00 2b");

    memset(in, 0x5a, sizeof(in));
    n = ngx_beacon_offset_capnp_pack(out, sizeof(out), in, 300 * 8);
    ok(n == 2 * 10 + 298 * 8 && out[0] == 0xff && out[9] == 255
       && out[10 + 255 * 8] == 0xff && out[10 + 255 * 8 + 9] == 43,
       "300 full words: ff runs of 1 + 255 and 1 + 43");
    ok(ngx_beacon_offset_capnp_unpack(back, sizeof(back), out, n) == 300 * 8
       && memcmp(back, in, 300 * 8) == 0, "300 full words unpack");

    /* a raw run takes words with one zero byte, not two */

    n = unhex(in, sizeof(in),
              "0101010101010101 0001010101010101 0000010101010101");
    ok(eqhex(out, ngx_beacon_offset_capnp_pack(out, sizeof(out), in, n),
             "ff0101010101010101 01 0001010101010101 fc010101010101"),
       "raw run: one zero byte joins, two end it");

    ok(ngx_beacon_offset_capnp_pack(out, sizeof(out), in, 7) == 0,
       "pack: length not a multiple of 8 refused");

    /* decoders accept any valid run choice, e.g. none at all */

    n = unhex(in, sizeof(in), "10 03 50 01 01 00 00 00 00");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n, scratch,
        sizeof(scratch),
                                    &used) == NGX_BEACON_OFFSET_CAPNP_OK
       && used == n, "zero words as separate 00 00 tags");

    n = unhex(in, sizeof(in),
              "ff 0000000003000000 03 0000000001000100"
              "0000000000000000 0000000000000000");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n, scratch,
        sizeof(scratch),
                                    &used) == NGX_BEACON_OFFSET_CAPNP_OK
       && used == n, "a raw run over the table and the segment");

    n = unhex(in, sizeof(in), "10035001010001");

    for (bad = 0, k = 0; k < n; k++) {
        rc = ngx_beacon_offset_capnp_read_packed(&msg, in, k, scratch,
                                          sizeof(scratch), NULL);
        bad += (rc != NGX_BEACON_OFFSET_CAPNP_ETRUNC);
    }

    ok(bad == 0, "every prefix of a packed message (ETRUNC)");

    n = frame(in, sizeof(in), v19);

    for (bad = 0, k = 0; k < n; k++) {
        rc = ngx_beacon_offset_capnp_read_packed(&msg, in, k, scratch,
                                          sizeof(scratch), NULL);
        bad += (rc != NGX_BEACON_OFFSET_CAPNP_ETRUNC);
        bad += (ngx_beacon_offset_capnp_unpack(back, sizeof(back), in, k) != 0
                && k > 0 && rc == NGX_BEACON_OFFSET_CAPNP_OK);
    }

    ok(bad == 0, "every prefix of V19 (ETRUNC)");

    /* runs past the end of the message */

    n = unhex(in, sizeof(in), "10035001010002");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_EPACKED,
       "zero run past the message end (EPACKED)");

    n = unhex(in, sizeof(in),
              "10 02 ff 0102030405060708 01 0102030405060708 0000");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_OK,
       "raw run up to the message end");

    n = unhex(in, sizeof(in),
              "10 01 ff 0102030405060708 01 0102030405060708");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_EPACKED,
       "raw run past the message end (EPACKED)");

    /* trailing bytes after a message are not consumed */

    n = unhex(in, sizeof(in), "10035001010001 ffff");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, n, scratch,
        sizeof(scratch),
                                    &used) == NGX_BEACON_OFFSET_CAPNP_OK
       && used == 7, "trailing bytes ignored, consumed = 7");

    ok(ngx_beacon_offset_capnp_read_packed(&msg, in, 0, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_ETRUNC,
       "empty input (ETRUNC)");

    /* unpack on its own */

    n = unhex(in, sizeof(in), "ff 0102030405060708");
    ok(ngx_beacon_offset_capnp_unpack(back, sizeof(back), in, n) == 0,
       "unpack: 0xff without its count refused");
    n = unhex(in, sizeof(in), "ff 0102030405060708 01");
    ok(ngx_beacon_offset_capnp_unpack(back, sizeof(back), in, n) == 0,
       "unpack: missing raw word refused");
    n = unhex(in, sizeof(in), "0003");
    ok(ngx_beacon_offset_capnp_unpack(back, sizeof(back), in, n) == 32
       && ngx_beacon_offset_capnp_unpack(back, 24, in, n) == 0,
       "unpack: zero run, and its output bound");
}


/* every cap below the length fails without writing past cap */
static int
check_caps(size_t (*enc)(uint8_t *, size_t, const void *), const void *m)
{
    size_t   n, cap;
    uint8_t  out[2048];

    n = enc(out, sizeof(out), m);
    if (n == 0) {
        return 0;
    }

    for (cap = 0; cap < n; cap++) {
        memset(out, 0xee, sizeof(out));

        if (enc(out, cap, m) != 0 || !filled(out + cap, sizeof(out) - cap,
                                             0xee))
        {
            return 0;
        }
    }

    return enc(out, n, m) == n;
}


static size_t
enc_init(uint8_t *out, size_t cap, const void *m)
{
    return ngx_beacon_offset_capnp_encode_init(out, cap, m);
}


static size_t
enc_conn(uint8_t *out, size_t cap, const void *m)
{
    return ngx_beacon_offset_capnp_encode_conn(out, cap, m);
}


static size_t
enc_ka(uint8_t *out, size_t cap, const void *m)
{
    return ngx_beacon_offset_capnp_encode_ka(out, cap, m);
}


static size_t
enc_ern(uint8_t *out, size_t cap, const void *m)
{
    return ngx_beacon_offset_capnp_encode_ern(out, cap, m);
}


static size_t
enc_dh(uint8_t *out, size_t cap, const void *m)
{
    return ngx_beacon_offset_capnp_encode_dh(out, cap, m);
}


static size_t
enc_channel(uint8_t *out, size_t cap, const void *m)
{
    return ngx_beacon_offset_capnp_encode_channel(out, cap, m);
}


static uint32_t  rng = 12345;


static uint32_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;

    return rng;
}


/* random bytes, often zero so that every packing case occurs */
static void
fill(uint8_t *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        p[i] = (rnd() % 3 == 0) ? 0 : (uint8_t) rnd();
    }
}


static void
test_encoders(void)
{
    int                         i, bad;
    size_t                      n, k;
    uint8_t                     data[70000], pad[300], out[256];
    ngx_beacon_offset_capnp_ka_t       ka, ka2;
    ngx_beacon_offset_capnp_dh_t       dh, dh2;
    ngx_beacon_offset_capnp_ern_t      ern, ern2;
    ngx_beacon_offset_capnp_msg_t      msg;
    ngx_beacon_offset_capnp_conn_t     conn, conn2;
    ngx_beacon_offset_capnp_init_t     init, init2;
    ngx_beacon_offset_capnp_channel_t  ch, ch2;

    static uint8_t  big[200000];

    /* invalid input */

    memset(&init, 0, sizeof(init));
    init.which = 3;
    ok(ngx_beacon_offset_capnp_encode_init(out, sizeof(out), &init) == 0,
       "encode InitConnection with discriminant 3 refused");

    memset(&ka, 0, sizeof(ka));
    ka.which = 2;
    ok(ngx_beacon_offset_capnp_encode_ka(out, sizeof(out), &ka) == 0,
       "encode KaMessage with discriminant 2 refused");

    ka.which = NGX_BEACON_OFFSET_KA_MESSAGE;
    ka.message.len = 1;
    ok(ngx_beacon_offset_capnp_encode_ka(out, sizeof(out), &ka) == 0,
       "encode KaMessage with NULL Data of length 1 refused");

    ka.message.data = data;
    ka.message.len = (size_t) NGX_BEACON_OFFSET_CAPNP_MAX_DATA + 1;
    ok(ngx_beacon_offset_capnp_encode_ka(out, sizeof(out), &ka) == 0,
       "encode KaMessage with Data of 2^29 bytes refused");

    memset(&ch, 0, sizeof(ch));
    ch.which = 2;
    ok(ngx_beacon_offset_capnp_encode_channel(out, sizeof(out), &ch) == 0,
       "encode ChannelContent with discriminant 2 refused");

    ch.which = NGX_BEACON_OFFSET_CONTENT_USER;
    ch.user.len = 3;
    ok(ngx_beacon_offset_capnp_encode_channel(out, sizeof(out), &ch) == 0,
       "encode ChannelMessage with NULL user Data refused");

    ch.user.len = 0;
    ch.rand_padding.len = 3;
    ok(ngx_beacon_offset_capnp_encode_channel(out, sizeof(out), &ch) == 0,
       "encode ChannelMessage with NULL padding of length 3 refused");

    /* empty Data: zero-length list pointers */

    memset(&ka, 0, sizeof(ka));
    ka.which = NGX_BEACON_OFFSET_KA_MESSAGE;
    ok(eqhex(out, ngx_beacon_offset_capnp_encode_ka(out, sizeof(out), &ka),
             "1003 500101 0101 110102"),
       "encode KaMessage{message = empty}: L(0, 0)");

    memset(&ch, 0, sizeof(ch));
    ch.which = NGX_BEACON_OFFSET_CONTENT_USER;
    ch.rand_padding.data = pad;
    ch.user.data = data;
    n = ngx_beacon_offset_capnp_encode_channel(out, sizeof(out), &ch);
    ok(eqhex(out, n, "1005 4002 110502 500101 0101 110102"),
       "encode ChannelMessage{empty, user = empty}: L(1, 0), L(0, 0)");
    ok(ngx_beacon_offset_capnp_read_packed(&msg, out, n, scratch,
        sizeof(scratch),
                                    NULL) == NGX_BEACON_OFFSET_CAPNP_OK
       && ngx_beacon_offset_capnp_decode_channel(&msg,
           &ch2) == NGX_BEACON_OFFSET_CAPNP_OK
       && ch2.rand_padding.data != NULL && ch2.rand_padding.len == 0
       && ch2.user.data != NULL && ch2.user.len == 0,
       "... decodes to empty, non-null Data");

    /* caps */

    fill(data, sizeof(data));
    memset(&init, 0, sizeof(init));
    ok(check_caps(enc_init, &init), "encode InitConnection{listen}: caps");
    init.which = NGX_BEACON_OFFSET_INIT_CONNECT;
    memcpy(init.public_key, data, 32);
    ok(check_caps(enc_init, &init), "encode InitConnection{connect}: caps");
    memcpy(conn.public_key, data + 32, 32);
    ok(check_caps(enc_conn, &conn), "encode Incoming/Reject: caps");
    memset(&ka, 0, sizeof(ka));
    ok(check_caps(enc_ka, &ka), "encode KaMessage{keepAlive}: caps");
    ka.which = NGX_BEACON_OFFSET_KA_MESSAGE;
    ka.message.data = data;
    ka.message.len = 1000;
    ok(check_caps(enc_ka, &ka), "encode KaMessage{message}: caps");
    memset(&ern, 0, sizeof(ern));
    memset(ern.rand_nonce, 0xff, 16);
    ern.has_dest = 1;
    ok(check_caps(enc_ern, &ern), "encode ExchangeRandNonce: caps");
    fill((uint8_t *) &dh, sizeof(dh));
    ok(check_caps(enc_dh, &dh), "encode ExchangeDh: caps");
    memset(&ch, 0, sizeof(ch));
    ch.which = NGX_BEACON_OFFSET_CONTENT_USER;
    ch.rand_padding.data = data;
    ch.rand_padding.len = 37;
    ch.user.data = data + 100;
    ch.user.len = 500;
    ok(check_caps(enc_channel, &ch), "encode ChannelMessage{user}: caps");
    ch.which = NGX_BEACON_OFFSET_CONTENT_REKEY;
    ok(check_caps(enc_channel, &ch), "encode ChannelMessage{rekey}: caps");

    /* round trips of random messages */

    bad = 0;

    for (i = 0; i < 500; i++) {
        memset(&init, 0, sizeof(init));
        init.which = rnd() % 3;

        if (init.which) {
            fill(init.public_key, 32);
        }

        n = ngx_beacon_offset_capnp_encode_init(big, sizeof(big), &init);
        bad += !(n && ngx_beacon_offset_capnp_read_packed(&msg, big, n,
            scratch,
                                                   sizeof(scratch), NULL)
                      == NGX_BEACON_OFFSET_CAPNP_OK
                 && ngx_beacon_offset_capnp_decode_init(&msg, &init2) == 0
                 && memcmp(&init, &init2, sizeof(init)) == 0);

        fill(conn.public_key, 32);
        n = ngx_beacon_offset_capnp_encode_conn(big, sizeof(big), &conn);
        bad += !(n && ngx_beacon_offset_capnp_read_packed(&msg, big, n,
            scratch,
                                                   sizeof(scratch), NULL)
                      == NGX_BEACON_OFFSET_CAPNP_OK
                 && ngx_beacon_offset_capnp_decode_conn(&msg, &conn2) == 0
                 && memcmp(&conn, &conn2, sizeof(conn)) == 0);

        memset(&ern, 0, sizeof(ern));
        fill(ern.rand_nonce, 16);
        fill(ern.src_public_key, 32);
        ern.has_dest = rnd() & 1;

        if (ern.has_dest) {
            fill(ern.dest_public_key, 32);
        }

        n = ngx_beacon_offset_capnp_encode_ern(big, sizeof(big), &ern);
        bad += !(n && ngx_beacon_offset_capnp_read_packed(&msg, big, n,
            scratch,
                                                   sizeof(scratch), NULL)
                      == NGX_BEACON_OFFSET_CAPNP_OK
                 && ngx_beacon_offset_capnp_decode_ern(&msg, &ern2) == 0
                 && memcmp(&ern, &ern2, sizeof(ern)) == 0);

        fill((uint8_t *) &dh, sizeof(dh));
        n = ngx_beacon_offset_capnp_encode_dh(big, sizeof(big), &dh);
        bad += !(n && ngx_beacon_offset_capnp_read_packed(&msg, big, n,
            scratch,
                                                   sizeof(scratch), NULL)
                      == NGX_BEACON_OFFSET_CAPNP_OK
                 && ngx_beacon_offset_capnp_decode_dh(&msg, &dh2) == 0
                 && memcmp(&dh, &dh2, sizeof(dh)) == 0);

        memset(&ka, 0, sizeof(ka));
        ka.which = rnd() & 1;

        if (ka.which) {
            ka.message.data = data + rnd() % 1000;
            ka.message.len = (i % 50 == 0) ? 65536 + rnd() % 3000
                                           : rnd() % 100;
            fill(data, sizeof(data));
        }

        n = ngx_beacon_offset_capnp_encode_ka(big, sizeof(big), &ka);
        bad += !(n && ngx_beacon_offset_capnp_read_packed(&msg, big, n,
            scratch,
                                                   sizeof(scratch), NULL)
                      == NGX_BEACON_OFFSET_CAPNP_OK
                 && ngx_beacon_offset_capnp_decode_ka(&msg, &ka2) == 0
                 && ka2.which == ka.which
                 && ka2.message.len == ka.message.len
                 && (ka.message.len == 0
                     || memcmp(ka.message.data, ka2.message.data,
                               ka.message.len) == 0));

        memset(&ch, 0, sizeof(ch));
        ch.which = rnd() & 1;
        fill(pad, sizeof(pad));

        if (rnd() & 1) {
            ch.rand_padding.data = pad;
            ch.rand_padding.len = rnd() % sizeof(pad);
        }

        if (ch.which == NGX_BEACON_OFFSET_CONTENT_USER) {
            ch.user.data = data + 7;
            ch.user.len = (i % 50 == 1) ? 65536 + rnd() % 3000
                                        : rnd() % 300;

        } else {
            fill(ch.dh_public_key, 32);
            fill(ch.key_salt, 32);
        }

        n = ngx_beacon_offset_capnp_encode_channel(big, sizeof(big), &ch);
        bad += !(n && ngx_beacon_offset_capnp_read_packed(&msg, big, n,
            scratch,
                                                   sizeof(scratch), NULL)
                      == NGX_BEACON_OFFSET_CAPNP_OK
                 && ngx_beacon_offset_capnp_decode_channel(&msg, &ch2) == 0
                 && ch2.which == ch.which
                 && (ch2.rand_padding.data == NULL)
                    == (ch.rand_padding.data == NULL)
                 && ch2.rand_padding.len == ch.rand_padding.len
                 && (ch.rand_padding.len == 0
                     || memcmp(ch.rand_padding.data, ch2.rand_padding.data,
                               ch.rand_padding.len) == 0)
                 && ch2.user.len == ch.user.len
                 && (ch.user.len == 0
                     || memcmp(ch.user.data, ch2.user.data, ch.user.len)
                        == 0)
                 && memcmp(ch.dh_public_key, ch2.dh_public_key, 32) == 0
                 && memcmp(ch.key_salt, ch2.key_salt, 32) == 0);

        /* and the packer agrees with an unpack of its own output */

        k = ngx_beacon_offset_capnp_unpack(scratch, sizeof(scratch), big, n);
        bad += !(n && k == msg.len
                 && ngx_beacon_offset_capnp_pack(flat, sizeof(flat), scratch,
                     k)
                    == n
                 && memcmp(flat, big, n) == 0);
    }

    ok(bad == 0, "500 rounds of random messages of every type round-trip");
}


int
main(void)
{
    if (sodium_init() < 0) {
        printf("Bail out! sodium_init failed\n");
        return 1;
    }

    test_small_vectors();
    test_transcript();
    test_multisegment();
    test_evolution();
    test_reject_pointers();
    test_limits();
    test_packing();
    test_encoders();

    printf("1..%d\n", tests);

    if (failures) {
        printf("# %d of %d tests failed\n", failures, tests);
        return 1;
    }

    return 0;
}
