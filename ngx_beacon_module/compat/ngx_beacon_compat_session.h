
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The compat bridge's session as a state machine, without nginx types or
 * syscalls: bytes from the client in, actions out.  It reassembles RFC
 * 6455 frames (fragments with control frames between them), answers
 * pings, runs the challenge/auth_reply login of spec 7.3 and the closing
 * handshake, and hands out bridged datagrams.  ngx_http_beacon_compat.c
 * drives it with the connection's bytes and carries out its actions
 * (writes, the key lookup, the zone); the unit tests (t/unit/
 * compat_session_test.c) and the fuzzer (t/fuzz/fuzz_compat.c) drive the
 * same code.
 *
 * Each call returns one action in *a (NGX_BEACON_COMPAT_A_NONE when
 * there is nothing to do); data pointers in it stay valid until the next
 * call on the session.
 */


#ifndef _NGX_BEACON_COMPAT_SESSION_H_INCLUDED_
#define _NGX_BEACON_COMPAT_SESSION_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "ngx_beacon_ws.h"


/* states */
#define NGX_BEACON_COMPAT_LOGIN        0   /* challenge sent */
#define NGX_BEACON_COMPAT_KEY          1   /* reply taken, key wanted */
#define NGX_BEACON_COMPAT_OPEN         2   /* logged in */
#define NGX_BEACON_COMPAT_CLOSING      3   /* our Close is out */
#define NGX_BEACON_COMPAT_DONE         4   /* nothing more to do */

/* actions */
#define NGX_BEACON_COMPAT_A_NONE       0   /* input: needs more bytes */
#define NGX_BEACON_COMPAT_A_TEXT       1   /* send a text message (data) */
#define NGX_BEACON_COMPAT_A_PONG       2   /* send a Pong with data */
#define NGX_BEACON_COMPAT_A_CLOSE      3   /* send a Close with body data,
                                              then end once it is out */
#define NGX_BEACON_COMPAT_A_AUTH_FAIL  4   /* a failed login: as CLOSE */
#define NGX_BEACON_COMPAT_A_KEY        5   /* find node_id's key, answer
                                              with ngx_beacon_compat_key() */
#define NGX_BEACON_COMPAT_A_AUTH_OK    6   /* logged in as node_id: send
                                              data (auth_ok), as TEXT */
#define NGX_BEACON_COMPAT_A_DATAGRAM   7   /* a bridged datagram (data) */
#define NGX_BEACON_COMPAT_A_END        8   /* end the connection now */

/* the challenge window (spec 7.3) */
#define NGX_BEACON_COMPAT_CHALLENGE_AGE  30

/* message buffers larger than this are freed after their message */
#define NGX_BEACON_COMPAT_MBUF_KEEP    4096


typedef struct {
    unsigned                 type;
    unsigned                 code;       /* CLOSE, AUTH_FAIL */
    unsigned                 error;      /* CLOSE: the client broke RFC
                                            6455 (code 1002 or 1009) */
    uint32_t                 node_id;    /* KEY, AUTH_OK */
    const unsigned char     *data;
    size_t                   len;
} ngx_beacon_compat_action_t;


typedef struct {
    unsigned                 state;
    uint64_t                 max_message;

    /* the login */
    char                     nonce[65];
    int64_t                  ts;
    uint32_t                 claimed;
    uint32_t                 node_id;
    unsigned char            sig[64];

    /* reading */
    ngx_beacon_ws_frame_t    frame;
    uint64_t                 frame_done;
    int                      frame_kind;
    ngx_beacon_ws_msg_t      msg;
    unsigned char           *mbuf;
    size_t                   mcap;
    size_t                   mlen;
    unsigned char            cbuf[NGX_BEACON_WS_CONTROL_MAX];
    size_t                   clen;

    /* what an action points to */
    unsigned char            out[NGX_BEACON_WS_CONTROL_MAX + 32];

    unsigned                 in_frame:1;
    unsigned                 shrink:1;
    /* a frame arrived after the login (the idle timer restarts);
     * the driver clears it */
    unsigned                 alive:1;
} ngx_beacon_compat_session_t;


/*
 * Starts a session with the challenge nonce (64 lowercase hex digits)
 * and its time; max_message bounds a reassembled message.  Returns
 * NGX_BEACON_COMPAT_A_TEXT (the challenge to send), or A_END if the
 * nonce is malformed.
 */
unsigned ngx_beacon_compat_start(ngx_beacon_compat_session_t *s,
    const char *nonce_hex64, int64_t ts, uint64_t max_message,
    ngx_beacon_compat_action_t *a);

/*
 * Reads from buf (len bytes, unmasked in place) until an action is due:
 * *used bytes were consumed; call again with the rest once the action
 * is carried out.  A_NONE: the rest (len - *used, less than a frame
 * header) must be given again with more bytes.  now is the current Unix
 * time (the challenge window).
 */
unsigned ngx_beacon_compat_input(ngx_beacon_compat_session_t *s,
    unsigned char *buf, size_t len, int64_t now, size_t *used,
    ngx_beacon_compat_action_t *a);

/*
 * The answer to A_KEY: the node's Ed25519 key, or NULL if it has none.
 * Returns A_AUTH_OK or A_AUTH_FAIL; A_NONE if no key was wanted (the
 * session closed meanwhile).
 */
unsigned ngx_beacon_compat_key(ngx_beacon_compat_session_t *s,
    const unsigned char *key32, ngx_beacon_compat_action_t *a);

/*
 * Closes the session from our side (code 0: a Close without a body):
 * A_CLOSE, or A_NONE if it is already closing.
 */
unsigned ngx_beacon_compat_close(ngx_beacon_compat_session_t *s,
    unsigned code, const char *reason, ngx_beacon_compat_action_t *a);

/*
 * The read timer fired: A_END while closing, A_AUTH_FAIL before the
 * login completed, else A_CLOSE 1001 "idle timeout".
 */
unsigned ngx_beacon_compat_timeout(ngx_beacon_compat_session_t *s,
    ngx_beacon_compat_action_t *a);

/* one request header line, as the client sent it */
typedef struct {
    const unsigned char     *name;
    size_t                   name_len;
    const unsigned char     *value;
    size_t                   value_len;
} ngx_beacon_compat_header_t;


typedef struct {
    unsigned                 status;     /* 0: switch protocols */
    const char              *header;     /* with the refusal, or NULL */
    const char              *value;
    const unsigned char     *key;        /* Sec-WebSocket-Key, on 0 */
    size_t                   key_len;
    unsigned                 pilot:1;    /* echo "pilot.v1" */
} ngx_beacon_compat_upgrade_t;


/*
 * The upgrade request checks of spec 7.2, in the reference's order, on
 * the request's HTTP version (major * 1000 + minor), whether it is a
 * GET, its header lines and its Host (NULL if none): 426 (with Upgrade:
 * websocket when Connection or Upgrade lack their token) for a version
 * other than 1.x with x >= 1, or a request that is no upgrade, 405 for another
 * method, 400 (with Sec-WebSocket-Version: 13) for a version other than
 * exactly one "13", 400 for a missing, repeated or malformed key, 403
 * for an Origin that is not ours.  Header names compare
 * case-insensitively; token lists may span several lines.
 */
void ngx_beacon_compat_upgrade(unsigned http_version, int get,
    const ngx_beacon_compat_header_t *h, size_t n,
    const unsigned char *host, size_t host_len,
    ngx_beacon_compat_upgrade_t *u);

/* frees the message buffer; the session is DONE */
void ngx_beacon_compat_free(ngx_beacon_compat_session_t *s);

#define ngx_beacon_compat_closing(s)                                         \
    ((s)->state >= NGX_BEACON_COMPAT_CLOSING)


#endif /* _NGX_BEACON_COMPAT_SESSION_H_INCLUDED_ */
