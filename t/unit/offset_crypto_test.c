
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Known-answer unit tests for the Offset relay crypto and key files
 * (ngx_beacon_offset_crypto.c, ngx_beacon_offset_ident.c).  Vectors come from the
 * specification offset-relay.md: section 3.4.2, Appendix A (V1 - V31,
 * N1) and Appendix B; SHA-512/256 and its HMAC are cross-checked with
 * OpenSSL.  Output is TAP; the exit status is non-zero on any failure.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_beacon_offset_crypto.h"
#include "ngx_beacon_offset_ident.h"
#include "tap.h"




/* Appendix A */
static const char  v2[] =
    "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737";
static const char  v4[] =
    "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0";
static const char  v8[] =
    "219e4d800da968d2a5fcb009c784f4746c7138edb9ee4844b739e830b05cf424";
static const char  v10[] =
    "38ab664bd86f77d7e66bdd9ae0792913a94fd8b33a1260027e4b46c1f4884c67";
static const char  v13[] =
    "559ed2171b98fa0c0f417b78b5c5a43e971990d7605860038d940284d3245142";
static const char  v14[] = "000000000000000400000000";
static const char  v15_hdr[] = "000000000000006c";
static const char  v16_hdr[] = "0000000000000047";
static const char  v19_hdr[] = "00000000000000b0";
static const char  v17[] =
    "219e4d800da968d2a5fcb009c784f4746c7138edb9ee4844b739e830b05cf424"
    "3333333333333333333333333333333388888888888888888888888888888888"
    "88888888888888888888888888888888";
static const char  v18[] =
    "a340926aef4ad9462fa22ff81fa0edaa5b6085df0d7900ae6546c05baf45e794"
    "54849c3083fb9ddfbab100adce9e37f67d058a6002b7cd85c10fe964eda9700a";
static const char  v20[] =
    "38ab664bd86f77d7e66bdd9ae0792913a94fd8b33a1260027e4b46c1f4884c67"
    "4444444444444444444444444444444477777777777777777777777777777777"
    "77777777777777777777777777777777";
static const char  v21[] =
    "5d0226cd00924576f73bc5bad27ed1d2ac7ac47dc76f8112731a93cf98485685"
    "5cf20e9d85e3f73b1015758f8f3de983fbcdded96c5741c53e03a79173bf960e";
static const char  v23[] =
    "1d51e36f66066937d9f9fdd71fea89235f2e2237fff24cd9302d3e83f1e9a299";
static const char  v24[] =
    "e22469b6c4dc2438777b74919979eea5691004a03970ea13518349701a492507";
static const char  v27[] =
    "1009400211051a5104010107c0ffee010111018aff100450010101011101013a"
    "5f10035001010101";
static const char  v28[] =
    "000000000000004400000000000000000000000087d549ec1de4f545cb055b19"
    "e938ff66a421d68a73fb6a746cbc3703bdcb43e8d7e00c69c942cbd1ed0f7dd1"
    "c827c37ce85e10801e906f91";
static const char  v30[] =
    "100640020000500101010111013a5f100350010101";
static const char  v31[] =
    "00000000000000310000000000000000000000000fc35668578a3f7a2b886000"
    "1d085a2dcdce88bfa8739dd7e150dab96ca750186bcc6ea5ed";
static const char  n1[] =
    "8f53413da5fc487b020d5090981fb4a8515a3bec32d872d9972da12e68f0b454";


static void
fill(uint8_t *p, uint8_t v, size_t n)
{
    memset(p, v, n);
}


static void
test_sha512_256(void)
{
    int            i, same;
    size_t         len;
    uint8_t        in[300], out[32], ref[64];
    unsigned int   ref_len;
    EVP_MD        *md;
    EVP_MD_CTX    *mctx;

    static const char  test[] = "This is a test!";

    ngx_beacon_offset_sha512_256(out, (const uint8_t *) test,
        sizeof(test) - 1);
    ok(eqhex(out, 32, "349c7ea7498d0432dcb0604a9ed37a8b"
                      "65a90bfa166c91475f072a29e42da1fb"),
       "SHA-512/256 known answer of section 3.4.2 (hash.rs)");

    ngx_beacon_offset_sha512_256(out, (const uint8_t *) "abc", 3);
    ok(eqhex(out, 32, "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46"
                      "e0e2f13107e7af23"),
       "SHA-512/256 FIPS 180-4 example \"abc\"");

    md = EVP_MD_fetch(NULL, "SHA512-256", NULL);
    mctx = EVP_MD_CTX_new();

    if (md == NULL || mctx == NULL) {
        ok(0, "OpenSSL has SHA512-256");
        return;
    }

    for (i = 0; i < (int) sizeof(in); i++) {
        in[i] = (uint8_t) (i * 7 + 1);
    }

    same = 1;

    for (len = 0; len <= sizeof(in); len++) {
        ngx_beacon_offset_sha512_256(out, in, len);
        EVP_DigestInit_ex(mctx, md, NULL);
        EVP_DigestUpdate(mctx, in, len);
        EVP_DigestFinal_ex(mctx, ref, &ref_len);

        if (ref_len != 32 || memcmp(out, ref, 32) != 0) {
            same = 0;
        }
    }

    ok(same, "SHA-512/256 equals OpenSSL SHA512-256 for lengths 0..300");

    same = 1;

    for (len = 0; len <= sizeof(in); len += 13) {
        ngx_beacon_offset_hmac(out, in, len, in + 3, sizeof(in) - 3 - len / 2);
        HMAC(md, in, (int) len, in + 3, sizeof(in) - 3 - len / 2, ref,
             &ref_len);

        if (ref_len != 32 || memcmp(out, ref, 32) != 0) {
            same = 0;
        }
    }

    ok(same, "HMAC-SHA-512/256 equals OpenSSL HMAC, keys 0..299 bytes");

    EVP_MD_CTX_free(mctx);
    EVP_MD_free(md);
}


static void
test_identities(void)
{
    uint8_t  seed[32], pk[32], sk[64];

    fill(seed, 0x11, 32);
    crypto_sign_seed_keypair(pk, sk, seed);
    ok(eqhex(pk, 32, v2), "V2 relay public key from seed V1");

    fill(seed, 0x22, 32);
    crypto_sign_seed_keypair(pk, sk, seed);
    ok(eqhex(pk, 32, v4), "V4 client public key from seed V3");
}


static void
test_handshake(void)
{
    int              rc;
    uint8_t          seed[32], pk_r[32], sk_r[64], pk_c[32], sk_c[64];
    uint8_t          scalar[32], salt[32], nonce_c[16], nonce_r[16];
    uint8_t          m[80], sig[64], shared[32];
    uint8_t          c_send[32], c_recv[32], r_send[32], r_recv[32];
    uint8_t          hdr[8];
    uint64_t         len;
    ngx_beacon_offset_dh_t  dh_c, dh_r, zero_dh;

    fill(seed, 0x11, 32);
    crypto_sign_seed_keypair(pk_r, sk_r, seed);
    fill(seed, 0x22, 32);
    crypto_sign_seed_keypair(pk_c, sk_c, seed);

    fill(nonce_c, 0x44, 16);
    fill(nonce_r, 0x33, 16);

    fill(scalar, 0x66, 32);
    fill(salt, 0x88, 32);
    ngx_beacon_offset_dh_init(&dh_c, scalar, salt);
    ok(eqhex(dh_c.pub, 32, v8), "V8 client X25519 public key");

    fill(scalar, 0x55, 32);
    fill(salt, 0x77, 32);
    ngx_beacon_offset_dh_init(&dh_r, scalar, salt);
    ok(eqhex(dh_r.pub, 32, v10), "V10 relay X25519 public key");

    ok(crypto_scalarmult(shared, dh_c.secret, dh_r.pub) == 0
       && eqhex(shared, 32, v13), "V13 shared secret");

    ngx_beacon_offset_dh_sign_input(m, dh_c.pub, nonce_r, dh_c.salt);
    ok(eqhex(m, 80, v17), "V17 client signature input");

    ngx_beacon_offset_dh_sign(sig, sk_c, dh_c.pub, nonce_r, dh_c.salt);
    ok(eqhex(sig, 64, v18), "V18 client signature");

    ok(ngx_beacon_offset_dh_verify(sig, pk_c, dh_c.pub, nonce_r, dh_c.salt)
       == NGX_BEACON_OFFSET_OK, "relay verifies V18");

    ngx_beacon_offset_dh_sign_input(m, dh_r.pub, nonce_c, dh_r.salt);
    ok(eqhex(m, 80, v20), "V20 relay signature input");

    ngx_beacon_offset_dh_sign(sig, sk_r, dh_r.pub, nonce_c, dh_r.salt);
    ok(eqhex(sig, 64, v21), "V21 relay signature");

    ok(ngx_beacon_offset_dh_verify(sig, pk_r, dh_r.pub, nonce_c, dh_r.salt)
       == NGX_BEACON_OFFSET_OK, "client verifies V21");

    ok(ngx_beacon_offset_dh_verify(sig, pk_c, dh_r.pub, nonce_c, dh_r.salt)
       == NGX_BEACON_OFFSET_ERR_SIG, "V21 under the wrong key is rejected");

    ok(ngx_beacon_offset_dh_verify(sig, pk_r, dh_r.pub, nonce_r, dh_r.salt)
       == NGX_BEACON_OFFSET_ERR_SIG, "V21 over the wrong echoed nonce is rejected");

    sig[10] ^= 0x01;
    ok(ngx_beacon_offset_dh_verify(sig, pk_r, dh_r.pub, nonce_c, dh_r.salt)
       == NGX_BEACON_OFFSET_ERR_SIG, "tampered V21 is rejected");

    ok(ngx_beacon_offset_nonce_check(nonce_c, nonce_c) == NGX_BEACON_OFFSET_OK
       && ngx_beacon_offset_nonce_check(nonce_r,
           nonce_c) == NGX_BEACON_OFFSET_ERR_NONCE,
       "echoed randNonce check");

    rc = ngx_beacon_offset_derive_keys(c_send, c_recv, &dh_c, dh_r.pub,
        dh_r.salt);
    ok(rc == NGX_BEACON_OFFSET_OK && eqhex(c_send, 32, v23)
       && eqhex(c_recv, 32, v24), "client keys: send V23, receive V24");

    rc = ngx_beacon_offset_derive_keys(r_send, r_recv, &dh_r, dh_c.pub,
        dh_c.salt);
    ok(rc == NGX_BEACON_OFFSET_OK && eqhex(r_send, 32, v24)
       && eqhex(r_recv, 32, v23), "relay keys: send V24, receive V23");

    memset(&zero_dh, 0, sizeof(zero_dh));
    ok(ngx_beacon_offset_derive_keys(c_send, c_recv, &dh_c, zero_dh.pub,
                              dh_r.salt)
       == NGX_BEACON_OFFSET_ERR_DH, "low-order peer point is rejected");

    {
        uint8_t  vf[12];

        ngx_beacon_offset_version_frame(vf);
        ok(eqhex(vf, 12, v14), "V14 version frame");
        ok(ngx_beacon_offset_version_check(vf + 8, 4) == NGX_BEACON_OFFSET_OK,
           "version 0 accepted");
        vf[11] = 1;
        ok(ngx_beacon_offset_version_check(vf + 8,
            4) == NGX_BEACON_OFFSET_ERR_VERSION,
           "version 1 rejected");
        ok(ngx_beacon_offset_version_check(vf + 8,
            3) == NGX_BEACON_OFFSET_ERR_VERSION,
           "3-byte version rejected");
    }

    unhex(hdr, 8, v15_hdr);
    ok(ngx_beacon_offset_frame_get_len(hdr, 8,
        NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT, &len)
       == NGX_BEACON_OFFSET_OK && len == 108, "V15 frame length 108");
    unhex(hdr, 8, v16_hdr);
    ok(ngx_beacon_offset_frame_get_len(hdr, 8,
        NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT, &len)
       == NGX_BEACON_OFFSET_OK && len == 71, "V16 frame length 71");
    unhex(hdr, 8, v19_hdr);
    ok(ngx_beacon_offset_frame_get_len(hdr, 8,
        NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT, &len)
       == NGX_BEACON_OFFSET_OK && len == 176, "V19/V22 frame length 176");
}


static void
test_hkdf(void)
{
    uint8_t                   shared[32], salt[32], out[32], prk[32];
    uint8_t                   one, longer[100];
    crypto_auth_hmacsha512256_state  st;

    unhex(shared, 32, v13);
    fill(salt, 0x88, 32);

    ok(ngx_beacon_offset_hkdf(out, 32, salt, 32, shared, 32, NULL, 0) == 0
       && eqhex(out, 32, v23), "V23 = HKDF-SHA-512/256(V11, V13)");

    fill(salt, 0x77, 32);
    ok(ngx_beacon_offset_hkdf(out, 32, salt, 32, shared, 32, NULL, 0) == 0
       && eqhex(out, 32, v24), "V24 = HKDF-SHA-512/256(V12, V13)");

    /* N1: the wrong construction (HMAC-SHA-512 truncated) */

    fill(salt, 0x88, 32);
    crypto_auth_hmacsha512256_init(&st, salt, 32);
    crypto_auth_hmacsha512256_update(&st, shared, 32);
    crypto_auth_hmacsha512256_final(&st, prk);

    one = 1;
    crypto_auth_hmacsha512256_init(&st, prk, 32);
    crypto_auth_hmacsha512256_update(&st, &one, 1);
    crypto_auth_hmacsha512256_final(&st, out);

    ok(eqhex(out, 32, n1), "N1 reproduced with HMAC-SHA-512 truncated");

    ngx_beacon_offset_hkdf(prk, 32, salt, 32, shared, 32, NULL, 0);
    ok(memcmp(prk, out, 32) != 0, "our HKDF does not produce N1");

    ok(ngx_beacon_offset_hkdf(longer, sizeof(longer), salt, 32, shared, 32,
                       (const uint8_t *) "info", 4) == 0,
       "HKDF with info and L = 100");

    ngx_beacon_offset_hkdf(out, 32, salt, 32, shared, 32,
                    (const uint8_t *) "info", 4);
    ok(memcmp(longer, out, 32) == 0, "HKDF L = 100 extends L = 32");

    ok(ngx_beacon_offset_hkdf(longer, 255 * 32 + 1, salt, 32, shared, 32, NULL,
        0)
       == -1, "HKDF L > 255 * 32 refused");
}


static void
test_frames(void)
{
    int                  rc, all;
    size_t               n, plen, i;
    uint8_t              key[32], plain[128], frame[256], out[256];
    uint8_t              exp[256];
    ngx_beacon_offset_cipher_t  c, r;

    /* V28: client -> relay, key V23, nonce 0, plaintext V27 */

    unhex(key, 32, v23);
    plen = unhex(plain, sizeof(plain), v27);
    ngx_beacon_offset_cipher_init(&c, key);

    ngx_beacon_offset_frame_put_len(frame,
        plen + NGX_BEACON_OFFSET_FRAME_OVERHEAD);
    n = ngx_beacon_offset_seal(&c, frame + 8, plain, plen);
    ok(n == plen + 28 && eqhex(frame, 8 + n, v28),
       "V28 sealed byte for byte (with length prefix)");

    ok(eqhex(c.nonce, 12, "010000000000000000000000"),
       "send nonce advanced to 1");

    ngx_beacon_offset_cipher_init(&r, key);
    n = unhex(exp, sizeof(exp), v28);
    rc = ngx_beacon_offset_open(&r, out, &plen, exp + 8, n - 8);
    ok(rc == NGX_BEACON_OFFSET_OK && eqhex(out, plen, v27),
        "V28 opens to V27");
    ok(eqhex(r.nonce, 12, "010000000000000000000000"),
       "receive nonce advanced to 1");

    rc = ngx_beacon_offset_open(&r, out, &plen, exp + 8, n - 8);
    ok(rc == NGX_BEACON_OFFSET_ERR_NONCE, "replayed V28 rejected (nonce)");

    /* tamper with each byte after the nonce */

    all = 1;

    for (i = 8 + 12; i < n; i++) {
        ngx_beacon_offset_cipher_init(&r, key);
        exp[i] ^= 0x80;

        if (ngx_beacon_offset_open(&r, out, &plen, exp + 8, n - 8)
            != NGX_BEACON_OFFSET_ERR_AUTH
            || r.nonce[0] != 0)
        {
            all = 0;
        }

        exp[i] ^= 0x80;
    }

    ok(all, "every tampered ciphertext/tag byte rejected, counter kept");

    ngx_beacon_offset_cipher_init(&r, key);
    exp[8] ^= 0x01;
    ok(ngx_beacon_offset_open(&r, out, &plen, exp + 8, n - 8)
       == NGX_BEACON_OFFSET_ERR_NONCE, "wrong nonce bytes rejected");
    exp[8] ^= 0x01;

    ok(ngx_beacon_offset_open(&r, out, &plen, exp + 8,
        27) == NGX_BEACON_OFFSET_ERR_SHORT
       && ngx_beacon_offset_open(&r, out, &plen, exp + 8, 0)
          == NGX_BEACON_OFFSET_ERR_SHORT, "frames under 28 bytes rejected");

    ok(ngx_beacon_offset_open(&r, out, &plen, exp + 8, n - 9)
       == NGX_BEACON_OFFSET_ERR_AUTH, "truncated frame rejected");

    ok(ngx_beacon_offset_open(&r, out, &plen, exp + 8,
        n - 8) == NGX_BEACON_OFFSET_OK,
       "V28 still opens after rejected attempts");

    /* V31: relay -> client, key V24, plaintext V30 */

    unhex(key, 32, v24);
    plen = unhex(plain, sizeof(plain), v30);
    ngx_beacon_offset_cipher_init(&c, key);
    ngx_beacon_offset_frame_put_len(frame,
        plen + NGX_BEACON_OFFSET_FRAME_OVERHEAD);
    n = ngx_beacon_offset_seal(&c, frame + 8, plain, plen);
    ok(eqhex(frame, 8 + n, v31), "V31 sealed byte for byte");

    ngx_beacon_offset_cipher_init(&r, key);
    n = unhex(exp, sizeof(exp), v31);
    ok(ngx_beacon_offset_open(&r, out, &plen, exp + 8,
        n - 8) == NGX_BEACON_OFFSET_OK
       && eqhex(out, plen, v30), "V31 opens to V30");

    /* in place: out == frame + 12 */

    ngx_beacon_offset_cipher_init(&r, key);
    n = unhex(exp, sizeof(exp), v31);
    ok(ngx_beacon_offset_open(&r, exp + 8 + 12, &plen, exp + 8, n - 8)
       == NGX_BEACON_OFFSET_OK && eqhex(exp + 20, plen, v30),
       "V31 opens in place");

    /* empty plaintext: exactly 28 bytes */

    ngx_beacon_offset_cipher_init(&c, key);
    ngx_beacon_offset_cipher_init(&r, key);
    n = ngx_beacon_offset_seal(&c, frame, plain, 0);
    ok(n == 28 && ngx_beacon_offset_open(&r, out, &plen, frame, n)
                  == NGX_BEACON_OFFSET_OK &&
                      plen == 0, "empty plaintext round trip");
}


static void
test_counter(void)
{
    int                  i, all;
    size_t               n, plen;
    uint8_t              key[32], frame[64], out[64], msg[8];
    ngx_beacon_offset_cipher_t  c, r;

    randombytes_buf(key, 32);
    ngx_beacon_offset_cipher_init(&c, key);
    ngx_beacon_offset_cipher_init(&r, key);

    all = 1;

    for (i = 0; i < 300; i++) {
        memcpy(msg, &i, sizeof(int));
        n = ngx_beacon_offset_seal(&c, frame, msg, sizeof(msg));

        if (frame[0] != (uint8_t) (i & 0xff)
            || frame[1] != (uint8_t) (i >> 8)
            || ngx_beacon_offset_open(&r, out, &plen, frame,
                n) != NGX_BEACON_OFFSET_OK
            || plen != sizeof(msg) || memcmp(out, msg, plen) != 0)
        {
            all = 0;
        }
    }

    ok(all, "300 frames: nonce is a little-endian counter, all open");
    ok(eqhex(c.nonce, 12, "2c0100000000000000000000")
       && memcmp(c.nonce, r.nonce, 12) == 0, "both counters at 300");

    ngx_beacon_offset_cipher_init(&c, key);

    for (i = 0; i < 256; i++) {
        ngx_beacon_offset_seal(&c, frame, msg, 0);
    }

    ok(eqhex(c.nonce, 12, "000100000000000000000000"),
       "256 increments give 00 01 00 ...");

    memset(c.nonce, 0xff, 12);
    ngx_beacon_offset_seal(&c, frame, msg, 0);
    ok(frame[0] == 0xff && eqhex(c.nonce, 12, "000000000000000000000000"),
       "ff..ff wraps to zero");

    /* out of order is refused */

    ngx_beacon_offset_cipher_init(&c, key);
    ngx_beacon_offset_cipher_init(&r, key);
    ngx_beacon_offset_seal(&c, frame, msg, sizeof(msg));
    n = ngx_beacon_offset_seal(&c, frame, msg, sizeof(msg));
    ok(ngx_beacon_offset_open(&r, out, &plen, frame,
        n) == NGX_BEACON_OFFSET_ERR_NONCE,
       "skipped frame: next one rejected");
}


/* seal pub || salt as a stand-in for the Rekey message */
static size_t
send_rekey(ngx_beacon_offset_channel_t *ch, uint8_t *frame, const uint8_t *pub,
    const uint8_t *salt)
{
    uint8_t  m[64];

    memcpy(m, pub, 32);
    memcpy(m + 32, salt, 32);

    return ngx_beacon_offset_channel_seal(ch, frame, m, 64);
}


static int
round_trip(ngx_beacon_offset_channel_t *from, ngx_beacon_offset_channel_t *to)
{
    size_t   n, plen;
    uint8_t  frame[128], out[128], msg[16];

    randombytes_buf(msg, sizeof(msg));
    n = ngx_beacon_offset_channel_seal(from, frame, msg, sizeof(msg));

    return ngx_beacon_offset_channel_open(to, out, &plen, frame,
        n) == NGX_BEACON_OFFSET_OK
           && plen == sizeof(msg) && memcmp(out, msg, plen) == 0;
}


static void
test_rekey(void)
{
    int                   rc;
    size_t                n1_len, n2_len, n3_len, plen;
    uint8_t               k1[32], k2[32], pub[32], salt[32];
    uint8_t               rpub[32], rsalt[32], bpub[32], bsalt[32];
    uint8_t               f1[128], f2[128], f3[128], out[128];
    uint8_t               sa[32], sb[32], e_send[32], e_recv[32];
    ngx_beacon_offset_dh_t       dh;
    ngx_beacon_offset_channel_t  a, b;

    unhex(k1, 32, v23);
    unhex(k2, 32, v24);

    /* sequential: a (client) starts, b (relay) responds */

    ngx_beacon_offset_channel_init(&a, k1, k2);
    ngx_beacon_offset_channel_init(&b, k2, k1);

    ok(round_trip(&a, &b) && round_trip(&b, &a), "channel before rekey");

    fill(sa, 0x99, 32);
    fill(salt, 0xaa, 32);
    rc = ngx_beacon_offset_channel_rekey_start(&a, pub, salt, sa, salt);
    ok(rc == NGX_BEACON_OFFSET_OK && a.has_pending, "rekey started");
    /* the Appendix A packed Rekey holds it as four byte-swapped words */
    ok(eqhex(pub, 32, "ba193836cff1f4e866c139715d306408"
                      "d26a76f76d638a39afc1001084d25411"),
       "rekey public key of 99.. matches Appendix A ChannelMessage");

    ok(ngx_beacon_offset_channel_rekey_start(&a, rpub, rsalt, NULL, NULL)
       == NGX_BEACON_OFFSET_ERR_PENDING, "second rekey refused while pending");

    n1_len = send_rekey(&a, f1, pub, salt);

    /* a data frame in flight under the old key */
    n2_len = ngx_beacon_offset_channel_seal(&a, f2, (const uint8_t *) "late",
        4);

    ok(ngx_beacon_offset_channel_open(&b, out, &plen, f1,
        n1_len) == NGX_BEACON_OFFSET_OK
       && plen == 64, "relay opens Rekey");

    fill(sb, 0xbb, 32);
    fill(bsalt, 0xcc, 32);
    rc = ngx_beacon_offset_channel_rekey_recv(&b, out, out + 32, rpub, rsalt,
        sb,
                                       bsalt);
    ok(rc == NGX_BEACON_OFFSET_REKEY_RESPOND && b.has_old_receiver
       && b.has_next_sender, "relay responds to rekey");

    ngx_beacon_offset_dh_init(&dh, sb, bsalt);
    ngx_beacon_offset_derive_keys(e_send, e_recv, &dh, pub, salt);
    ok(memcmp(b.receiver.key, e_recv, 32) == 0
       && memcmp(b.next_sender.key, e_send, 32) == 0
       && memcmp(rpub, dh.pub, 32) == 0,
       "responder keys = HKDF of its salt and the requester's");

    ok(ngx_beacon_offset_channel_open(&b, out, &plen, f2,
        n2_len) == NGX_BEACON_OFFSET_OK
       && plen == 4 && memcmp(out, "late", 4) == 0 && b.has_old_receiver,
       "in-flight frame opens with old_receiver");

    n3_len = send_rekey(&b, f3, rpub, rsalt);
    ok(!b.has_next_sender && b.sender.nonce[0] == 0
       && memcmp(b.sender.key, e_send, 32) == 0,
       "response sealed with the old sender, then sender switched");

    ok(ngx_beacon_offset_channel_open(&a, out, &plen, f3,
        n3_len) == NGX_BEACON_OFFSET_OK
       && plen == 64, "client opens the response with the old receiver");

    rc = ngx_beacon_offset_channel_rekey_recv(&a, out, out + 32, pub, salt,
        NULL,
                                       NULL);
    ok(rc == NGX_BEACON_OFFSET_REKEY_DONE && !a.has_pending
       && memcmp(a.sender.key, e_recv, 32) == 0
       && memcmp(a.receiver.key, e_send, 32) == 0,
       "client completes rekey with matching keys");

    ok(round_trip(&a, &b) && !b.has_old_receiver,
       "client -> relay under new keys drops relay old_receiver");
    ok(round_trip(&b, &a) && !a.has_old_receiver,
       "relay -> client under new keys drops client old_receiver");
    ok(round_trip(&a, &b) && round_trip(&b, &a), "channel after rekey");

    /* simultaneous: both start, both receive */

    ngx_beacon_offset_channel_init(&a, k1, k2);
    ngx_beacon_offset_channel_init(&b, k2, k1);

    ngx_beacon_offset_channel_rekey_start(&a, pub, salt, NULL, NULL);
    ngx_beacon_offset_channel_rekey_start(&b, bpub, bsalt, NULL, NULL);
    n1_len = send_rekey(&a, f1, pub, salt);
    n2_len = send_rekey(&b, f2, bpub, bsalt);

    ok(ngx_beacon_offset_channel_open(&b, out, &plen, f1,
        n1_len) == NGX_BEACON_OFFSET_OK
       && ngx_beacon_offset_channel_rekey_recv(&b, out, out + 32, rpub, rsalt,
                                        NULL, NULL)
          == NGX_BEACON_OFFSET_REKEY_DONE, "simultaneous: relay sends nothing");

    ok(ngx_beacon_offset_channel_open(&a, out, &plen, f2,
        n2_len) == NGX_BEACON_OFFSET_OK
       && ngx_beacon_offset_channel_rekey_recv(&a, out, out + 32, rpub, rsalt,
                                        NULL, NULL)
          == NGX_BEACON_OFFSET_REKEY_DONE, "simultaneous: client sends nothing");

    ok(memcmp(a.sender.key, b.receiver.key, 32) == 0
       && memcmp(b.sender.key, a.receiver.key, 32) == 0
       && memcmp(a.sender.key, k1, 32) != 0, "simultaneous: keys agree");

    ok(round_trip(&a, &b) && round_trip(&b, &a),
       "channel after simultaneous rekey");

    memset(rpub, 0, 32);
    ok(ngx_beacon_offset_channel_rekey_recv(&a, rpub, rsalt, pub, salt, NULL,
        NULL)
       == NGX_BEACON_OFFSET_ERR_DH, "rekey with a low-order point rejected");

    ngx_beacon_offset_channel_wipe(&a);
    ngx_beacon_offset_channel_wipe(&b);
}


static void
test_framing(void)
{
    uint8_t   h[8];
    uint64_t  len;

    ngx_beacon_offset_frame_put_len(h, 0x0102030405060708ULL);
    ok(eqhex(h, 8, "0102030405060708"), "u64 length is big-endian");

    ok(ngx_beacon_offset_frame_get_len(h, 7, UINT64_MAX,
        &len) == NGX_BEACON_OFFSET_AGAIN,
       "7 header bytes: again");

    ngx_beacon_offset_frame_put_len(h, NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT);
    ok(ngx_beacon_offset_frame_get_len(h, 8,
        NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT, &len)
       == NGX_BEACON_OFFSET_OK && len == NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT,
       "length equal to the cap accepted");

    ngx_beacon_offset_frame_put_len(h,
        NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT + 1);
    ok(ngx_beacon_offset_frame_get_len(h, 8,
        NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT, &len)
       == NGX_BEACON_OFFSET_ERR_TOO_LONG, "length above the cap rejected");

    memset(h, 0xff, 8);
    ok(ngx_beacon_offset_frame_get_len(h, 8, 1024,
        &len) == NGX_BEACON_OFFSET_ERR_TOO_LONG,
       "2^64 - 1 rejected");

    memset(h, 0, 8);
    ok(ngx_beacon_offset_frame_get_len(h, 8, 1024,
        &len) == NGX_BEACON_OFFSET_OK
       && len == 0, "zero-length frame legal");
}


static void
test_padding(void)
{
    int      i, max_seen, bounded;
    size_t   n;
    uint8_t  buf[65536];

    bounded = 1;
    max_seen = 0;

    for (i = 0; i < 2000; i++) {
        n = ngx_beacon_offset_padding(buf, NGX_BEACON_OFFSET_PADDING_SEND_MAX);

        if (n > NGX_BEACON_OFFSET_PADDING_SEND_MAX) {
            bounded = 0;
        }

        if ((int) n > max_seen) {
            max_seen = (int) n;
        }
    }

    ok(bounded && max_seen > 200, "padding length uniform in 0..255");
    ok(ngx_beacon_offset_padding(buf, 0) == 0, "padding max 0 gives 0");

    n = ngx_beacon_offset_padding(buf, sizeof(buf) + 1000);
    ok(n <= NGX_BEACON_OFFSET_PADDING_ACCEPT_MAX, "padding clamped to 65535");
}


/* a string literal and its length */
#define LIT_LEN(s)  s, sizeof(s) - 1

/* V1's seed and V2, base64url; the seed less its last character */
#define V1_B64      "ERERERERERERERERERERERERERERERERERERERERERE"
#define V1_B64_42   "ERERERERERERERERERERERERERERERERERERERERER"
#define V2_B64      "0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc"


static void
test_ident(void)
{
    int                  rc;
    char                 file[256], b64[200], big[400], fillc[300];
    size_t               n;
    uint8_t              raw[85], seed[32];
    ngx_beacon_offset_ident_t   id;
    ngx_beacon_offset_ticket_t  t;

    static const char  v1_file[] =
        "{\n  \"privateKey\": "
        "\"ERERERERERERERERERERERERERERERERERERERERERE\"\n}";
    static const char  ticket[] =
        "{\n  \"publicKey\": \"0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc\",\n"
        "  \"address\": \"relay.example.org:4567\"\n}";

    rc = ngx_beacon_offset_ident_parse(&id, v1_file, sizeof(v1_file) - 1);
    ok(rc == NGX_BEACON_OFFSET_IDENT_OK &&
        id.format == NGX_BEACON_OFFSET_IDENT_SEED
       && eqhex(id.pk, 32, v2), "V1 identity file parses to V2");

    n = ngx_beacon_offset_ident_format(file, sizeof(file), &id);
    ok(n == NGX_BEACON_OFFSET_IDENT_FILE_LEN && n == sizeof(v1_file) - 1
       && memcmp(file, v1_file, n) == 0, "V1 identity file written exactly");

    n = ngx_beacon_offset_ticket_format(file, sizeof(file), id.pk,
                                 "relay.example.org:4567", 22);
    ok(n == sizeof(ticket) - 1 && memcmp(file, ticket, n) == 0,
       "section 2.2 ticket written exactly");

    rc = ngx_beacon_offset_ticket_parse(&t, ticket, sizeof(ticket) - 1);
    ok(rc == NGX_BEACON_OFFSET_IDENT_OK && eqhex(t.pk, 32, v2)
       && strcmp(t.address, "relay.example.org:4567") == 0,
       "section 2.2 ticket parses");

    /* legacy PKCS#8 v2 (section 2.1.3) */

    fill(seed, 0x11, 32);
    unhex(raw, 16, "3053020101300506032b657004220420");
    memcpy(raw + 16, seed, 32);
    unhex(raw + 48, 5, "a123032100");
    unhex(raw + 53, 32, v2);

    memcpy(file, "{\"privateKey\":\"", 15);
    sodium_bin2base64(file + 15, sizeof(file) - 15, raw, 85,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    n = strlen(file);
    memcpy(file + n, "\"}", 3);

    rc = ngx_beacon_offset_ident_parse(&id, file, strlen(file));
    ok(rc == NGX_BEACON_OFFSET_IDENT_OK &&
        id.format == NGX_BEACON_OFFSET_IDENT_PKCS8
       && eqhex(id.pk, 32, v2) && memcmp(id.seed, seed, 32) == 0,
       "legacy 85-byte PKCS#8 file gives the V1/V2 identity");

    raw[60] ^= 1;
    sodium_bin2base64(file + 15, sizeof(file) - 15, raw, 85,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    memcpy(file + n, "\"}", 3);
    ok(ngx_beacon_offset_ident_parse(&id, file, strlen(file))
       == NGX_BEACON_OFFSET_IDENT_ERR_MISMATCH, "legacy file with wrong pk rejected");

    raw[60] ^= 1;
    raw[2] = 0x03;
    sodium_bin2base64(file + 15, sizeof(file) - 15, raw, 85,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    memcpy(file + n, "\"}", 3);
    ok(ngx_beacon_offset_ident_parse(&id, file, strlen(file))
       == NGX_BEACON_OFFSET_IDENT_ERR_PKCS8, "85 bytes with a bad prefix rejected");

    /* 64 bytes: seed || pk */

    memcpy(raw, seed, 32);
    unhex(raw + 32, 32, v2);
    sodium_bin2base64(b64, sizeof(b64), raw, 64,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(file, sizeof(file), "{\"x\":[1,{\"y\":null}],"
             "\"privateKey\":\"%s\"}", b64);
    ok(ngx_beacon_offset_ident_parse(&id, file,
        strlen(file)) == NGX_BEACON_OFFSET_IDENT_OK
       && id.format == NGX_BEACON_OFFSET_IDENT_SEED_PK && eqhex(id.pk, 32, v2),
       "64-byte seed || pk accepted, unknown fields ignored");

    sodium_bin2base64(b64, sizeof(b64), raw, 31,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(file, sizeof(file), "{\"privateKey\":\"%s\"}", b64);
    ok(ngx_beacon_offset_ident_parse(&id, file, strlen(file))
       == NGX_BEACON_OFFSET_IDENT_ERR_KEY_LEN, "31-byte key rejected");

    ok(ngx_beacon_offset_ident_parse(&id, "{\"privateKey\":\"ERE=\"}", 21)
       == NGX_BEACON_OFFSET_IDENT_ERR_BASE64, "padded base64 rejected");
    ok(ngx_beacon_offset_ident_parse(&id, "{\"publicKey\":\"x\"}", 17)
       == NGX_BEACON_OFFSET_IDENT_ERR_NO_KEY, "missing privateKey");
    ok(ngx_beacon_offset_ident_parse(&id, "{\"privateKey\":", 14)
       == NGX_BEACON_OFFSET_IDENT_ERR_JSON, "truncated JSON");
    ok(ngx_beacon_offset_ident_parse(&id, v1_file, sizeof(v1_file) - 3)
       == NGX_BEACON_OFFSET_IDENT_ERR_JSON, "unterminated object");
    ok(ngx_beacon_offset_ident_parse(&id, "{\"privateKey\":1}", 16)
       == NGX_BEACON_OFFSET_IDENT_ERR_JSON, "non-string key");

    /* the JSON is read by ngx_beacon_json.c: UTF-8 checked, strict */

    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"privateKey\":\"" V1_B64_42 "\xff\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_UTF8, "0xff in privateKey: not UTF-8");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"note\":\"\xc0\xaf\",\"privateKey\":"
           "\"" V1_B64 "\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_UTF8,
       "overlong UTF-8 in an ignored field refused");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"privateKey\":\"" V1_B64 "\","
           "\"n\":\"\xed\xa0\x80\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_UTF8, "UTF-8 encoded surrogate refused");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"privateKey\":\"" V1_B64 "\","
           "\"n\":\"\xe2\x82\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_UTF8, "truncated UTF-8 sequence refused");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"privateKey\":\"" V1_B64 "\","
           "\"n\":\"\xe2\x82\xac \xf0\x9f\x94\x91\"}"))
       == NGX_BEACON_OFFSET_IDENT_OK, "valid multi-byte UTF-8 accepted");
    ok(strstr(ngx_beacon_offset_ident_strerror(
                  NGX_BEACON_OFFSET_IDENT_ERR_UTF8), "UTF-8") != NULL,
       "the UTF-8 error says so");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"privateKey\":\"" V1_B64 "\","
           "\"privateKey\":\"" V1_B64 "\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_JSON, "duplicate privateKey refused");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"privateKey\":\"" V1_B64 "\"} x"))
       == NGX_BEACON_OFFSET_IDENT_ERR_JSON, "trailing garbage refused");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("[\"" V1_B64 "\"]"))
       == NGX_BEACON_OFFSET_IDENT_ERR_JSON, "top level not an object");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"n\":01,\"privateKey\":"
           "\"" V1_B64 "\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_JSON, "leading zero in a number refused");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"privateKey\":\"" V1_B64_42 "\\u0045\"}"))
       == NGX_BEACON_OFFSET_IDENT_OK
       && id.format == NGX_BEACON_OFFSET_IDENT_SEED && eqhex(id.pk, 32, v2),
       "escaped character in privateKey unescaped");
    ok(ngx_beacon_offset_ident_parse(&id,
           LIT_LEN("{\"private\\u004bey\":"
           "\"" V1_B64 "\"}"))
       == NGX_BEACON_OFFSET_IDENT_OK, "member names compared unescaped");

    memset(fillc, 'A', sizeof(fillc));
    snprintf(file, sizeof(file), "{\"privateKey\":\"%.*s\"}", 190, fillc);
    ok(ngx_beacon_offset_ident_parse(&id, file, strlen(file))
       == NGX_BEACON_OFFSET_IDENT_ERR_KEY_LEN, "190-character key: length");

    ok(ngx_beacon_offset_ticket_parse(&t,
           LIT_LEN("{\"publicKey\":\"" V2_B64 "\","
           "\"address\":\"h\xfe:1\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_UTF8, "ticket address not UTF-8");
    ok(ngx_beacon_offset_ticket_parse(&t,
           LIT_LEN("{\"publicKey\":\"" V2_B64 "\","
           "\"address\":\"h\\ud800:1\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_JSON, "lone surrogate escape refused");
    rc = ngx_beacon_offset_ticket_parse(&t,
           LIT_LEN("{\"publicKey\":\"" V2_B64 "\","
           "\"address\":\"r\xc3\xa9lais\\ud83d\\udd11:1\"}"));
    ok(rc == NGX_BEACON_OFFSET_IDENT_OK && t.address_len == 13
       && memcmp(t.address, "r\xc3\xa9lais\xf0\x9f\x94\x91:1", 13) == 0,
       "ticket address: UTF-8 and a surrogate pair escape");
    ok(ngx_beacon_offset_ticket_parse(&t,
           LIT_LEN("{\"publicKey\":\"" V2_B64 "\","
           "\"address\":\"a\",\"address\":\"b\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_JSON, "duplicate address refused");
    ok(ngx_beacon_offset_ticket_parse(&t,
           LIT_LEN("{\"publicKey\":\"" V2_B64 "\"}"))
       == NGX_BEACON_OFFSET_IDENT_ERR_ADDRESS, "ticket without address");

    memset(fillc, 'a', sizeof(fillc));
    snprintf(big, sizeof(big), "{\"publicKey\":"
             "\"" V2_B64 "\","
             "\"address\":\"%.*s\"}", 256, fillc);
    ok(ngx_beacon_offset_ticket_parse(&t, big, strlen(big))
       == NGX_BEACON_OFFSET_IDENT_OK && t.address_len == 256,
       "256-byte address accepted");

    snprintf(big, sizeof(big), "{\"publicKey\":"
             "\"" V2_B64 "\","
             "\"address\":\"%.*s\"}", 257, fillc);
    ok(ngx_beacon_offset_ticket_parse(&t, big, strlen(big))
       == NGX_BEACON_OFFSET_IDENT_ERR_ADDRESS, "257-byte address refused");

    snprintf(big, sizeof(big), "{\"publicKey\":\"%.*s\","
             "\"address\":\"x:1\"}", 257, fillc);
    ok(ngx_beacon_offset_ticket_parse(&t, big, strlen(big))
       == NGX_BEACON_OFFSET_IDENT_ERR_KEY_LEN, "257-character publicKey");

    n = ngx_beacon_offset_ticket_format(file, sizeof(file), id.pk,
        "a\"\\\n\x01", 5);
    ok(n > 28 && memcmp(file + n - 28,
                        "\"address\": \"a\\\"\\\\\\n\\u0001\"\n}", 28) == 0,
       "address escaped like serde_json");

    rc = ngx_beacon_offset_ticket_parse(&t, file, n);
    ok(rc == NGX_BEACON_OFFSET_IDENT_OK && t.address_len == 5
       && memcmp(t.address, "a\"\\\n\x01", 5) == 0,
       "escaped address parses back");
}


int
main(void)
{
    if (ngx_beacon_offset_crypto_init() != 0) {
        printf("Bail out! sodium_init failed\n");
        return 1;
    }

    test_sha512_256();
    test_identities();
    test_hkdf();
    test_handshake();
    test_frames();
    test_counter();
    test_rekey();
    test_framing();
    test_padding();
    test_ident();

    printf("1..%d\n", tests);

    if (failures) {
        printf("# %d of %d tests failed\n", failures, tests);
        return 1;
    }

    return 0;
}
