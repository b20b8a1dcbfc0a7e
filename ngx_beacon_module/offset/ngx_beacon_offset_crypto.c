
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Offset relay secure channel crypto (spec offset-relay.md 3.2 - 3.4).
 * libsodium supplies every primitive it has; SHA-512/256 is libsodium's
 * SHA-512 with the FIPS 180-4 section 5.3.6.2 initial hash value.
 */


#include <string.h>

#include "ngx_beacon_offset_crypto.h"


static const uint64_t  ngx_beacon_offset_sha512_256_iv[8] = {
    0x22312194fc2bf72cULL, 0x9f555fa3c84c64c2ULL,
    0x2393b86b6f53b151ULL, 0x963877195940eabdULL,
    0x96283ee2a88effe3ULL, 0xbe5e1e2553863992ULL,
    0x2b0199fc2c85b8aaULL, 0x0eb72ddc81c52ca2ULL
};


int
ngx_beacon_offset_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}


const char *
ngx_beacon_offset_strerror(int rc)
{
    switch (rc) {
    case NGX_BEACON_OFFSET_OK:
        return "ok";
    case NGX_BEACON_OFFSET_AGAIN:
        return "incomplete";
    case NGX_BEACON_OFFSET_ERR_TOO_LONG:
        return "frame length above the cap";
    case NGX_BEACON_OFFSET_ERR_SHORT:
        return "frame shorter than nonce and tag";
    case NGX_BEACON_OFFSET_ERR_NONCE:
        return "unexpected nonce";
    case NGX_BEACON_OFFSET_ERR_AUTH:
        return "authentication failed";
    case NGX_BEACON_OFFSET_ERR_DH:
        return "low-order X25519 point";
    case NGX_BEACON_OFFSET_ERR_SIG:
        return "bad signature";
    case NGX_BEACON_OFFSET_ERR_VERSION:
        return "invalid remote version";
    case NGX_BEACON_OFFSET_ERR_PENDING:
        return "rekey already pending";
    default:
        return "error";
    }
}


void
ngx_beacon_offset_sha512_256_init(ngx_beacon_offset_sha_t *ctx)
{
    crypto_hash_sha512_init(&ctx->st);
    memcpy(ctx->st.state, ngx_beacon_offset_sha512_256_iv,
           sizeof(ngx_beacon_offset_sha512_256_iv));
}


void
ngx_beacon_offset_sha512_256_update(ngx_beacon_offset_sha_t *ctx,
    const uint8_t *in, size_t len)
{
    crypto_hash_sha512_update(&ctx->st, in, len);
}


void
ngx_beacon_offset_sha512_256_final(ngx_beacon_offset_sha_t *ctx, uint8_t *out)
{
    uint8_t  full[crypto_hash_sha512_BYTES];

    crypto_hash_sha512_final(&ctx->st, full);
    memcpy(out, full, NGX_BEACON_OFFSET_HASH_LEN);
    sodium_memzero(full, sizeof(full));
    sodium_memzero(ctx, sizeof(ngx_beacon_offset_sha_t));
}


void
ngx_beacon_offset_sha512_256(uint8_t *out, const uint8_t *in, size_t len)
{
    ngx_beacon_offset_sha_t  ctx;

    ngx_beacon_offset_sha512_256_init(&ctx);
    ngx_beacon_offset_sha512_256_update(&ctx, in, len);
    ngx_beacon_offset_sha512_256_final(&ctx, out);
}


void
ngx_beacon_offset_hmac(uint8_t *out, const uint8_t *key, size_t key_len,
    const uint8_t *msg, size_t msg_len)
{
    size_t            i;
    uint8_t           k[NGX_BEACON_OFFSET_HMAC_BLOCK];
    uint8_t           pad[NGX_BEACON_OFFSET_HMAC_BLOCK];
    uint8_t           inner[NGX_BEACON_OFFSET_HASH_LEN];
    ngx_beacon_offset_sha_t  ctx;

    memset(k, 0, sizeof(k));

    if (key_len > NGX_BEACON_OFFSET_HMAC_BLOCK) {
        ngx_beacon_offset_sha512_256(k, key, key_len);

    } else if (key_len) {
        memcpy(k, key, key_len);
    }

    for (i = 0; i < NGX_BEACON_OFFSET_HMAC_BLOCK; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    ngx_beacon_offset_sha512_256_init(&ctx);
    ngx_beacon_offset_sha512_256_update(&ctx, pad, sizeof(pad));
    ngx_beacon_offset_sha512_256_update(&ctx, msg, msg_len);
    ngx_beacon_offset_sha512_256_final(&ctx, inner);

    for (i = 0; i < NGX_BEACON_OFFSET_HMAC_BLOCK; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    ngx_beacon_offset_sha512_256_init(&ctx);
    ngx_beacon_offset_sha512_256_update(&ctx, pad, sizeof(pad));
    ngx_beacon_offset_sha512_256_update(&ctx, inner, sizeof(inner));
    ngx_beacon_offset_sha512_256_final(&ctx, out);

    sodium_memzero(k, sizeof(k));
    sodium_memzero(pad, sizeof(pad));
    sodium_memzero(inner, sizeof(inner));
}


int
ngx_beacon_offset_hkdf(uint8_t *out, size_t out_len, const uint8_t *salt,
    size_t salt_len, const uint8_t *ikm, size_t ikm_len,
    const uint8_t *info, size_t info_len)
{
    size_t   n, done, t_len;
    uint8_t  prk[NGX_BEACON_OFFSET_HASH_LEN], t[NGX_BEACON_OFFSET_HASH_LEN];
    uint8_t  buf[NGX_BEACON_OFFSET_HASH_LEN + 256 + 1];
    uint8_t  counter;

    if (out_len > 255 * NGX_BEACON_OFFSET_HASH_LEN || info_len > 256) {
        return -1;
    }

    /* extract: PRK = HMAC(salt, IKM); RFC 5869 empty salt = zero block */

    if (salt_len == 0) {
        memset(t, 0, sizeof(t));
        ngx_beacon_offset_hmac(prk, t, sizeof(t), ikm, ikm_len);

    } else {
        ngx_beacon_offset_hmac(prk, salt, salt_len, ikm, ikm_len);
    }

    /* expand: T(i) = HMAC(PRK, T(i-1) || info || i) */

    t_len = 0;
    counter = 1;

    for (done = 0; done < out_len; done += n) {
        memcpy(buf, t, t_len);

        if (info_len) {
            memcpy(buf + t_len, info, info_len);
        }

        buf[t_len + info_len] = counter++;

        ngx_beacon_offset_hmac(t, prk, sizeof(prk), buf, t_len + info_len + 1);
        t_len = sizeof(t);

        n = out_len - done;
        if (n > sizeof(t)) {
            n = sizeof(t);
        }

        memcpy(out + done, t, n);
    }

    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(t, sizeof(t));
    sodium_memzero(buf, sizeof(buf));

    return 0;
}


void
ngx_beacon_offset_dh_init(ngx_beacon_offset_dh_t *dh, const uint8_t *scalar,
    const uint8_t *salt)
{
    if (scalar) {
        memcpy(dh->secret, scalar, NGX_BEACON_OFFSET_DH_LEN);

    } else {
        randombytes_buf(dh->secret, NGX_BEACON_OFFSET_DH_LEN);
    }

    if (salt) {
        memcpy(dh->salt, salt, NGX_BEACON_OFFSET_SALT_LEN);

    } else {
        randombytes_buf(dh->salt, NGX_BEACON_OFFSET_SALT_LEN);
    }

    crypto_scalarmult_base(dh->pub, dh->secret);
}


int
ngx_beacon_offset_derive_keys(uint8_t *send_key, uint8_t *recv_key,
    const ngx_beacon_offset_dh_t *local, const uint8_t *peer_pub,
    const uint8_t *peer_salt)
{
    uint8_t  shared[NGX_BEACON_OFFSET_DH_LEN];

    if (crypto_scalarmult(shared, local->secret, peer_pub) != 0) {
        sodium_memzero(shared, sizeof(shared));
        return NGX_BEACON_OFFSET_ERR_DH;
    }

    (void) ngx_beacon_offset_hkdf(send_key, NGX_BEACON_OFFSET_KEY_LEN,
        local->salt,
                           NGX_BEACON_OFFSET_SALT_LEN, shared, sizeof(shared),
                           NULL, 0);
    (void) ngx_beacon_offset_hkdf(recv_key, NGX_BEACON_OFFSET_KEY_LEN,
        peer_salt,
                           NGX_BEACON_OFFSET_SALT_LEN, shared, sizeof(shared),
                           NULL, 0);

    sodium_memzero(shared, sizeof(shared));

    return NGX_BEACON_OFFSET_OK;
}


void
ngx_beacon_offset_dh_sign_input(uint8_t *out, const uint8_t *dh_pub,
    const uint8_t *rand_nonce, const uint8_t *salt)
{
    memcpy(out, dh_pub, NGX_BEACON_OFFSET_DH_LEN);
    memcpy(out + NGX_BEACON_OFFSET_DH_LEN, rand_nonce,
        NGX_BEACON_OFFSET_RAND_NONCE_LEN);
    memcpy(out + NGX_BEACON_OFFSET_DH_LEN + NGX_BEACON_OFFSET_RAND_NONCE_LEN,
        salt,
           NGX_BEACON_OFFSET_SALT_LEN);
}


void
ngx_beacon_offset_dh_sign(uint8_t *sig, const uint8_t *sk,
    const uint8_t *dh_pub, const uint8_t *rand_nonce, const uint8_t *salt)
{
    uint8_t  m[NGX_BEACON_OFFSET_SIGN_INPUT_LEN];

    ngx_beacon_offset_dh_sign_input(m, dh_pub, rand_nonce, salt);
    crypto_sign_detached(sig, NULL, m, sizeof(m), sk);
}


int
ngx_beacon_offset_dh_verify(const uint8_t *sig, const uint8_t *pk,
    const uint8_t *dh_pub, const uint8_t *rand_nonce, const uint8_t *salt)
{
    uint8_t  m[NGX_BEACON_OFFSET_SIGN_INPUT_LEN];

    ngx_beacon_offset_dh_sign_input(m, dh_pub, rand_nonce, salt);

    if (crypto_sign_verify_detached(sig, m, sizeof(m), pk) != 0) {
        return NGX_BEACON_OFFSET_ERR_SIG;
    }

    return NGX_BEACON_OFFSET_OK;
}


int
ngx_beacon_offset_nonce_check(const uint8_t *echoed, const uint8_t *ours)
{
    if (sodium_memcmp(echoed, ours, NGX_BEACON_OFFSET_RAND_NONCE_LEN) != 0) {
        return NGX_BEACON_OFFSET_ERR_NONCE;
    }

    return NGX_BEACON_OFFSET_OK;
}


void
ngx_beacon_offset_cipher_init(ngx_beacon_offset_cipher_t *c,
    const uint8_t *key)
{
    memcpy(c->key, key, NGX_BEACON_OFFSET_KEY_LEN);
    memset(c->nonce, 0, NGX_BEACON_OFFSET_NONCE_LEN);
}


size_t
ngx_beacon_offset_seal(ngx_beacon_offset_cipher_t *c, uint8_t *out,
    const uint8_t *plain, size_t len)
{
    unsigned long long  clen;

    memcpy(out, c->nonce, NGX_BEACON_OFFSET_NONCE_LEN);

    crypto_aead_chacha20poly1305_ietf_encrypt(out + NGX_BEACON_OFFSET_NONCE_LEN,
                                              &clen, plain, len, NULL, 0,
                                              NULL, c->nonce, c->key);

    sodium_increment(c->nonce, NGX_BEACON_OFFSET_NONCE_LEN);

    return NGX_BEACON_OFFSET_NONCE_LEN + (size_t) clen;
}


int
ngx_beacon_offset_open(ngx_beacon_offset_cipher_t *c, uint8_t *out,
    size_t *out_len, const uint8_t *frame, size_t len)
{
    unsigned long long  mlen;

    if (len < NGX_BEACON_OFFSET_FRAME_OVERHEAD) {
        return NGX_BEACON_OFFSET_ERR_SHORT;
    }

    if (sodium_memcmp(frame, c->nonce, NGX_BEACON_OFFSET_NONCE_LEN) != 0) {
        return NGX_BEACON_OFFSET_ERR_NONCE;
    }

    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL,
            frame + NGX_BEACON_OFFSET_NONCE_LEN,
            len - NGX_BEACON_OFFSET_NONCE_LEN, NULL, 0, c->nonce, c->key)
        != 0)
    {
        return NGX_BEACON_OFFSET_ERR_AUTH;
    }

    sodium_increment(c->nonce, NGX_BEACON_OFFSET_NONCE_LEN);
    *out_len = (size_t) mlen;

    return NGX_BEACON_OFFSET_OK;
}


size_t
ngx_beacon_offset_padding(uint8_t *buf, size_t max)
{
    size_t  n;

    if (max > NGX_BEACON_OFFSET_PADDING_ACCEPT_MAX) {
        max = NGX_BEACON_OFFSET_PADDING_ACCEPT_MAX;
    }

    n = (size_t) randombytes_uniform((uint32_t) max + 1);

    if (n) {
        randombytes_buf(buf, n);
    }

    return n;
}


void
ngx_beacon_offset_channel_init(ngx_beacon_offset_channel_t *ch,
    const uint8_t *send_key, const uint8_t *recv_key)
{
    memset(ch, 0, sizeof(ngx_beacon_offset_channel_t));
    ngx_beacon_offset_cipher_init(&ch->sender, send_key);
    ngx_beacon_offset_cipher_init(&ch->receiver, recv_key);
}


size_t
ngx_beacon_offset_channel_seal(ngx_beacon_offset_channel_t *ch, uint8_t *out,
    const uint8_t *plain, size_t len)
{
    size_t  n;

    n = ngx_beacon_offset_seal(&ch->sender, out, plain, len);

    if (ch->has_next_sender) {
        ch->sender = ch->next_sender;
        sodium_memzero(&ch->next_sender, sizeof(ngx_beacon_offset_cipher_t));
        ch->has_next_sender = 0;
    }

    return n;
}


int
ngx_beacon_offset_channel_open(ngx_beacon_offset_channel_t *ch, uint8_t *out,
    size_t *out_len, const uint8_t *frame, size_t len)
{
    int  rc;

    if (ch->has_old_receiver) {
        rc = ngx_beacon_offset_open(&ch->old_receiver, out, out_len, frame,
            len);
        if (rc == NGX_BEACON_OFFSET_OK) {
            return rc;
        }
    }

    rc = ngx_beacon_offset_open(&ch->receiver, out, out_len, frame, len);

    if (rc == NGX_BEACON_OFFSET_OK && ch->has_old_receiver) {
        sodium_memzero(&ch->old_receiver, sizeof(ngx_beacon_offset_cipher_t));
        ch->has_old_receiver = 0;
    }

    return rc;
}


int
ngx_beacon_offset_channel_rekey_start(ngx_beacon_offset_channel_t *ch,
    uint8_t *pub, uint8_t *salt, const uint8_t *scalar, const uint8_t *salt_in)
{
    if (ch->has_pending || ch->has_next_sender) {
        return NGX_BEACON_OFFSET_ERR_PENDING;
    }

    ngx_beacon_offset_dh_init(&ch->pending, scalar, salt_in);
    ch->has_pending = 1;

    memcpy(pub, ch->pending.pub, NGX_BEACON_OFFSET_DH_LEN);
    memcpy(salt, ch->pending.salt, NGX_BEACON_OFFSET_SALT_LEN);

    return NGX_BEACON_OFFSET_OK;
}


int
ngx_beacon_offset_channel_rekey_recv(ngx_beacon_offset_channel_t *ch,
    const uint8_t *peer_pub, const uint8_t *peer_salt, uint8_t *pub,
    uint8_t *salt, const uint8_t *scalar, const uint8_t *salt_in)
{
    int              rc, respond;
    uint8_t          send_key[NGX_BEACON_OFFSET_KEY_LEN];
    uint8_t          recv_key[NGX_BEACON_OFFSET_KEY_LEN];
    ngx_beacon_offset_dh_t  local;

    if (ch->has_next_sender) {
        return NGX_BEACON_OFFSET_ERR_PENDING;
    }

    respond = !ch->has_pending;

    if (respond) {
        ngx_beacon_offset_dh_init(&local, scalar, salt_in);

    } else {
        local = ch->pending;
    }

    rc = ngx_beacon_offset_derive_keys(send_key, recv_key, &local, peer_pub,
                                peer_salt);

    if (rc != NGX_BEACON_OFFSET_OK) {
        sodium_memzero(&local, sizeof(local));
        return rc;
    }

    ch->old_receiver = ch->receiver;
    ch->has_old_receiver = 1;
    ngx_beacon_offset_cipher_init(&ch->receiver, recv_key);

    if (respond) {
        ngx_beacon_offset_cipher_init(&ch->next_sender, send_key);
        ch->has_next_sender = 1;
        memcpy(pub, local.pub, NGX_BEACON_OFFSET_DH_LEN);
        memcpy(salt, local.salt, NGX_BEACON_OFFSET_SALT_LEN);

    } else {
        ngx_beacon_offset_cipher_init(&ch->sender, send_key);
        sodium_memzero(&ch->pending, sizeof(ngx_beacon_offset_dh_t));
        ch->has_pending = 0;
    }

    sodium_memzero(&local, sizeof(local));
    sodium_memzero(send_key, sizeof(send_key));
    sodium_memzero(recv_key, sizeof(recv_key));

    return respond ? NGX_BEACON_OFFSET_REKEY_RESPOND
                   : NGX_BEACON_OFFSET_REKEY_DONE;
}


void
ngx_beacon_offset_channel_wipe(ngx_beacon_offset_channel_t *ch)
{
    sodium_memzero(ch, sizeof(ngx_beacon_offset_channel_t));
}


void
ngx_beacon_offset_frame_put_len(uint8_t *out, uint64_t len)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        out[i] = (uint8_t) (len & 0xff);
        len >>= 8;
    }
}


int
ngx_beacon_offset_frame_get_len(const uint8_t *buf, size_t avail, uint64_t cap,
    uint64_t *len)
{
    int       i;
    uint64_t  v;

    if (avail < NGX_BEACON_OFFSET_FRAME_HDR_LEN) {
        return NGX_BEACON_OFFSET_AGAIN;
    }

    v = 0;

    for (i = 0; i < NGX_BEACON_OFFSET_FRAME_HDR_LEN; i++) {
        v = (v << 8) | buf[i];
    }

    if (v > cap) {
        return NGX_BEACON_OFFSET_ERR_TOO_LONG;
    }

    *len = v;

    return NGX_BEACON_OFFSET_OK;
}


void
ngx_beacon_offset_version_frame(uint8_t *out)
{
    ngx_beacon_offset_frame_put_len(out, NGX_BEACON_OFFSET_VERSION_LEN);
    out[8] = 0;
    out[9] = 0;
    out[10] = 0;
    out[11] = NGX_BEACON_OFFSET_PROTOCOL_VERSION;
}


int
ngx_beacon_offset_version_check(const uint8_t *payload, size_t len)
{
    if (len != NGX_BEACON_OFFSET_VERSION_LEN
        || payload[0] != 0 || payload[1] != 0 || payload[2] != 0
        || payload[3] != NGX_BEACON_OFFSET_PROTOCOL_VERSION)
    {
        return NGX_BEACON_OFFSET_ERR_VERSION;
    }

    return NGX_BEACON_OFFSET_OK;
}
