
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Offset relay (strelay) secure channel crypto: pure code, no nginx
 * types.  SHA-512/256, HMAC and HKDF over it, the handshake's signed
 * preimages and key derivation, transport frame seal/open with counter
 * nonces, rekeying and the u64 length framing (spec offset-relay.md
 * sections 3.2 - 3.4).  The Cap'n Proto message encoding lives in
 * ngx_beacon_offset_capnp.[ch]; everything here works on extracted fields.
 */


#ifndef _NGX_BEACON_OFFSET_CRYPTO_H_INCLUDED_
#define _NGX_BEACON_OFFSET_CRYPTO_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <sodium.h>


#define NGX_BEACON_OFFSET_HASH_LEN            32
#define NGX_BEACON_OFFSET_HMAC_BLOCK          128
#define NGX_BEACON_OFFSET_KEY_LEN             32
#define NGX_BEACON_OFFSET_PK_LEN              32
#define NGX_BEACON_OFFSET_SEED_LEN            32
#define NGX_BEACON_OFFSET_SK_LEN              64
#define NGX_BEACON_OFFSET_SIG_LEN             64
#define NGX_BEACON_OFFSET_RAND_NONCE_LEN      16
#define NGX_BEACON_OFFSET_SALT_LEN            32
#define NGX_BEACON_OFFSET_DH_LEN              32
#define NGX_BEACON_OFFSET_NONCE_LEN           12
#define NGX_BEACON_OFFSET_TAG_LEN             16
#define NGX_BEACON_OFFSET_FRAME_OVERHEAD                                      \
    (NGX_BEACON_OFFSET_NONCE_LEN + NGX_BEACON_OFFSET_TAG_LEN)
#define NGX_BEACON_OFFSET_SIGN_INPUT_LEN      80

/* L1 framing: u64 BE length; a configurable cap (W1), 2 MiB by default */
#define NGX_BEACON_OFFSET_FRAME_HDR_LEN       8
#define NGX_BEACON_OFFSET_FRAME_CAP_DEFAULT   (2 * 1024 * 1024)

/* L2: PROTOCOL_VERSION as u32 BE */
#define NGX_BEACON_OFFSET_PROTOCOL_VERSION    0
#define NGX_BEACON_OFFSET_VERSION_LEN         4
#define NGX_BEACON_OFFSET_VERSION_FRAME_LEN   12

/* random padding: we send 0..max (max <= 255 by default), accept 64 KiB */
#define NGX_BEACON_OFFSET_PADDING_SEND_MAX    255
#define NGX_BEACON_OFFSET_PADDING_ACCEPT_MAX  65535

#define NGX_BEACON_OFFSET_TICKS_TO_REKEY      3600


/* results */
#define NGX_BEACON_OFFSET_OK                  0
#define NGX_BEACON_OFFSET_AGAIN               1
#define NGX_BEACON_OFFSET_ERR                -1
#define NGX_BEACON_OFFSET_ERR_TOO_LONG       -2
#define NGX_BEACON_OFFSET_ERR_SHORT          -3
#define NGX_BEACON_OFFSET_ERR_NONCE          -4
#define NGX_BEACON_OFFSET_ERR_AUTH           -5
#define NGX_BEACON_OFFSET_ERR_DH             -6
#define NGX_BEACON_OFFSET_ERR_SIG            -7
#define NGX_BEACON_OFFSET_ERR_VERSION        -8
#define NGX_BEACON_OFFSET_ERR_PENDING        -9

/* ngx_beacon_offset_channel_rekey_recv() */
#define NGX_BEACON_OFFSET_REKEY_DONE          0
#define NGX_BEACON_OFFSET_REKEY_RESPOND       2


typedef struct {
    crypto_hash_sha512_state  st;
} ngx_beacon_offset_sha_t;


/* one direction of the transport: its key and its counter nonce */
typedef struct {
    uint8_t                   key[NGX_BEACON_OFFSET_KEY_LEN];
    uint8_t                   nonce[NGX_BEACON_OFFSET_NONCE_LEN];
} ngx_beacon_offset_cipher_t;


/* an ephemeral X25519 key pair plus the key salt sent with it */
typedef struct {
    uint8_t                   secret[NGX_BEACON_OFFSET_DH_LEN];
    uint8_t                   pub[NGX_BEACON_OFFSET_DH_LEN];
    uint8_t                   salt[NGX_BEACON_OFFSET_SALT_LEN];
} ngx_beacon_offset_dh_t;


/* the post-handshake state of one connection (section 3.4.5) */
typedef struct {
    ngx_beacon_offset_cipher_t       sender;
    ngx_beacon_offset_cipher_t       receiver;
    ngx_beacon_offset_cipher_t       old_receiver;
    ngx_beacon_offset_cipher_t       next_sender;
    ngx_beacon_offset_dh_t           pending;
    unsigned                  has_old_receiver:1;
    unsigned                  has_pending:1;
    unsigned                  has_next_sender:1;
} ngx_beacon_offset_channel_t;


/* sodium_init(); 0 on success */
int ngx_beacon_offset_crypto_init(void);

const char *ngx_beacon_offset_strerror(int rc);

/* SHA-512/256 (FIPS 180-4 section 5.3.6.2 IV, 32-byte output) */
void ngx_beacon_offset_sha512_256_init(ngx_beacon_offset_sha_t *ctx);
void ngx_beacon_offset_sha512_256_update(ngx_beacon_offset_sha_t *ctx,
    const uint8_t *in, size_t len);
void ngx_beacon_offset_sha512_256_final(ngx_beacon_offset_sha_t *ctx,
    uint8_t *out);
void ngx_beacon_offset_sha512_256(uint8_t *out, const uint8_t *in, size_t len);

/* HMAC-SHA-512/256 (block 128), out is 32 bytes */
void ngx_beacon_offset_hmac(uint8_t *out, const uint8_t *key, size_t key_len,
    const uint8_t *msg, size_t msg_len);

/*
 * RFC 5869 HKDF with HMAC-SHA-512/256 (an empty salt is 32 zero bytes);
 * out_len <= 255 * 32, info_len <= 256; 0 or -1.
 */
int ngx_beacon_offset_hkdf(uint8_t *out, size_t out_len, const uint8_t *salt,
    size_t salt_len, const uint8_t *ikm, size_t ikm_len,
    const uint8_t *info, size_t info_len);

/*
 * Fills dh: secret (clamped by X25519 itself), pub and salt.  A NULL
 * scalar or salt is drawn from the CSPRNG (non-NULL only for tests).
 */
void ngx_beacon_offset_dh_init(ngx_beacon_offset_dh_t *dh,
    const uint8_t *scalar, const uint8_t *salt);

/*
 * send_key = HKDF(local->salt, X25519(local->secret, peer_pub)),
 * recv_key = HKDF(peer_salt, same).  NGX_BEACON_OFFSET_ERR_DH for a low-order
 * peer point (all-zero shared secret).
 */
int ngx_beacon_offset_derive_keys(uint8_t *send_key, uint8_t *recv_key,
    const ngx_beacon_offset_dh_t *local, const uint8_t *peer_pub,
    const uint8_t *peer_salt);

/* the 80-byte ExchangeDh signature input: dh_pub || rand_nonce || salt */
void ngx_beacon_offset_dh_sign_input(uint8_t *out, const uint8_t *dh_pub,
    const uint8_t *rand_nonce, const uint8_t *salt);
/* sk is libsodium's 64-byte secret key (seed || pk) */
void ngx_beacon_offset_dh_sign(uint8_t *sig, const uint8_t *sk,
    const uint8_t *dh_pub, const uint8_t *rand_nonce, const uint8_t *salt);
/* NGX_BEACON_OFFSET_OK or NGX_BEACON_OFFSET_ERR_SIG */
int ngx_beacon_offset_dh_verify(const uint8_t *sig, const uint8_t *pk,
    const uint8_t *dh_pub, const uint8_t *rand_nonce, const uint8_t *salt);
/* constant time: NGX_BEACON_OFFSET_OK if the echoed nonce is ours */
int ngx_beacon_offset_nonce_check(const uint8_t *echoed, const uint8_t *ours);

/* transport frames: nonce (12) || ciphertext || tag (16), no AD */
void ngx_beacon_offset_cipher_init(ngx_beacon_offset_cipher_t *c,
    const uint8_t *key);
/*
 * out holds len + 28 bytes and must not overlap plain; returns len + 28;
 * then advances the nonce.
 */
size_t ngx_beacon_offset_seal(ngx_beacon_offset_cipher_t *c, uint8_t *out,
    const uint8_t *plain, size_t len);
/*
 * out holds len - 28 bytes (out == frame + 12 decrypts in place);
 * *out_len gets that.  NGX_BEACON_OFFSET_ERR_SHORT
 * (< 28 bytes), NGX_BEACON_OFFSET_ERR_NONCE (not the expected counter) or
 * NGX_BEACON_OFFSET_ERR_AUTH; the counter advances only on success.
 */
int ngx_beacon_offset_open(ngx_beacon_offset_cipher_t *c, uint8_t *out,
    size_t *out_len, const uint8_t *frame, size_t len);

/*
 * Random padding for ChannelMessage.randPadding: a uniform length in
 * 0..max (max clamped to NGX_BEACON_OFFSET_PADDING_ACCEPT_MAX), random bytes in
 * buf (which holds max bytes); returns the length.
 */
size_t ngx_beacon_offset_padding(uint8_t *buf, size_t max);

/* the channel after the handshake and its rekeying (section 3.4.5) */
void ngx_beacon_offset_channel_init(ngx_beacon_offset_channel_t *ch,
    const uint8_t *send_key, const uint8_t *recv_key);
/*
 * Seals with the current sender; if a rekey response was due (see
 * below) the sender switches to the new key after this frame.
 */
size_t ngx_beacon_offset_channel_seal(ngx_beacon_offset_channel_t *ch,
    uint8_t *out, const uint8_t *plain, size_t len);
/* tries old_receiver first, then receiver (which drops old_receiver) */
int ngx_beacon_offset_channel_open(ngx_beacon_offset_channel_t *ch,
    uint8_t *out, size_t *out_len, const uint8_t *frame, size_t len);
/*
 * Starts our own rekey: fills pub and salt for Rekey{dhPublicKey,
 * keySalt}, to be sealed with the current sender.
 * NGX_BEACON_OFFSET_ERR_PENDING if one is outstanding.  scalar/salt as in
 * ngx_beacon_offset_dh_init().
 */
int ngx_beacon_offset_channel_rekey_start(ngx_beacon_offset_channel_t *ch,
    uint8_t *pub, uint8_t *salt, const uint8_t *scalar,
    const uint8_t *salt_in);
/*
 * A Rekey{peer_pub, peer_salt} arrived.  With our rekey pending: keys
 * switch, NGX_BEACON_OFFSET_REKEY_DONE.  Otherwise
 * NGX_BEACON_OFFSET_REKEY_RESPOND: the receiver has switched, pub/salt hold
 * our Rekey, which the caller must seal with
 * ngx_beacon_offset_channel_seal() as the very next frame (it still goes
 * out under the old sender, which is then replaced).
 * NGX_BEACON_OFFSET_ERR_DH on a low-order point.
 */
int ngx_beacon_offset_channel_rekey_recv(ngx_beacon_offset_channel_t *ch,
    const uint8_t *peer_pub, const uint8_t *peer_salt, uint8_t *pub,
    uint8_t *salt, const uint8_t *scalar, const uint8_t *salt_in);
void ngx_beacon_offset_channel_wipe(ngx_beacon_offset_channel_t *ch);

/* L1 framing */
void ngx_beacon_offset_frame_put_len(uint8_t *out, uint64_t len);
/*
 * NGX_BEACON_OFFSET_AGAIN if fewer than 8 bytes,
 * NGX_BEACON_OFFSET_ERR_TOO_LONG above cap, else NGX_BEACON_OFFSET_OK with
 * *len set.
 */
int ngx_beacon_offset_frame_get_len(const uint8_t *buf, size_t avail,
    uint64_t cap, uint64_t *len);

/* L2: writes the 12-byte version frame; checks a received payload */
void ngx_beacon_offset_version_frame(uint8_t *out);
int ngx_beacon_offset_version_check(const uint8_t *payload, size_t len);


#endif /* _NGX_BEACON_OFFSET_CRYPTO_H_INCLUDED_ */
