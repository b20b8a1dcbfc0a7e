
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_beacon_json.h"
#include "ngx_beacon_compat_session.h"


static unsigned ngx_beacon_compat_act(ngx_beacon_compat_action_t *a,
    unsigned type, const unsigned char *data, size_t len);
static unsigned ngx_beacon_compat_fail(ngx_beacon_compat_session_t *s,
    unsigned type, unsigned code, const char *reason,
    ngx_beacon_compat_action_t *a);
static unsigned ngx_beacon_compat_control(ngx_beacon_compat_session_t *s,
    ngx_beacon_compat_action_t *a);
static unsigned ngx_beacon_compat_message(ngx_beacon_compat_session_t *s,
    int64_t now, ngx_beacon_compat_action_t *a);


static const ngx_beacon_compat_header_t *ngx_beacon_compat_header(
    const ngx_beacon_compat_header_t *h, size_t n, const char *name,
    unsigned *count, const char *token);


static const char  ngx_beacon_compat_auth_ok[] = "{\"type\":\"auth_ok\"}";


static unsigned
ngx_beacon_compat_act(ngx_beacon_compat_action_t *a, unsigned type,
    const unsigned char *data, size_t len)
{
    a->type = type;
    a->code = 0;
    a->error = 0;
    a->node_id = 0;
    a->data = data;
    a->len = len;

    return type;
}


unsigned
ngx_beacon_compat_start(ngx_beacon_compat_session_t *s,
    const char *nonce_hex64, int64_t ts, uint64_t max_message,
    ngx_beacon_compat_action_t *a)
{
    size_t  n;

    memset(s, 0, sizeof(ngx_beacon_compat_session_t));

    s->state = NGX_BEACON_COMPAT_DONE;
    s->max_message = max_message;
    s->ts = ts;

    n = ngx_beacon_compat_challenge(s->out, sizeof(s->out), nonce_hex64, ts);

    if (n == 0) {
        return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_END, NULL, 0);
    }

    memcpy(s->nonce, nonce_hex64, 64);
    s->nonce[64] = '\0';
    s->state = NGX_BEACON_COMPAT_LOGIN;

    return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_TEXT, s->out, n);
}


unsigned
ngx_beacon_compat_close(ngx_beacon_compat_session_t *s, unsigned code,
    const char *reason, ngx_beacon_compat_action_t *a)
{
    return ngx_beacon_compat_fail(s, NGX_BEACON_COMPAT_A_CLOSE, code, reason,
                                  a);
}


/* any Close we send: the body, and the session is closing */

static unsigned
ngx_beacon_compat_fail(ngx_beacon_compat_session_t *s, unsigned type,
    unsigned code, const char *reason, ngx_beacon_compat_action_t *a)
{
    size_t  n;

    if (ngx_beacon_compat_closing(s)) {
        return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_NONE, NULL, 0);
    }

    n = code ? ngx_beacon_ws_close_body(s->out, code, reason) : 0;

    s->state = NGX_BEACON_COMPAT_CLOSING;

    ngx_beacon_compat_act(a, type, s->out, n);
    a->code = code;

    return type;
}


unsigned
ngx_beacon_compat_timeout(ngx_beacon_compat_session_t *s,
    ngx_beacon_compat_action_t *a)
{
    switch (s->state) {

    case NGX_BEACON_COMPAT_LOGIN:
    case NGX_BEACON_COMPAT_KEY:
        return ngx_beacon_compat_fail(s, NGX_BEACON_COMPAT_A_AUTH_FAIL,
                                      NGX_BEACON_WS_CLOSE_POLICY,
                                      "auth failed", a);

    case NGX_BEACON_COMPAT_OPEN:
        return ngx_beacon_compat_close(s, NGX_BEACON_WS_CLOSE_GOING_AWAY,
                                       "idle timeout", a);

    default:
        s->state = NGX_BEACON_COMPAT_DONE;
        return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_END, NULL, 0);
    }
}


unsigned
ngx_beacon_compat_key(ngx_beacon_compat_session_t *s,
    const unsigned char *key32, ngx_beacon_compat_action_t *a)
{
    if (s->state != NGX_BEACON_COMPAT_KEY) {
        return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_NONE, NULL, 0);
    }

    if (key32 == NULL
        || ngx_beacon_compat_verify(key32, s->claimed, s->ts, s->nonce,
                                    s->sig)
           != 0)
    {
        return ngx_beacon_compat_fail(s, NGX_BEACON_COMPAT_A_AUTH_FAIL,
                                      NGX_BEACON_WS_CLOSE_POLICY,
                                      "auth failed", a);
    }

    s->state = NGX_BEACON_COMPAT_OPEN;
    s->node_id = s->claimed;

    ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_AUTH_OK,
                          (const unsigned char *) ngx_beacon_compat_auth_ok,
                          sizeof(ngx_beacon_compat_auth_ok) - 1);
    a->node_id = s->node_id;

    return NGX_BEACON_COMPAT_A_AUTH_OK;
}


unsigned
ngx_beacon_compat_input(ngx_beacon_compat_session_t *s, unsigned char *buf,
    size_t len, int64_t now, size_t *used, ngx_beacon_compat_action_t *a)
{
    int                     rc;
    size_t                  take, need;
    unsigned                r;
    unsigned char          *p, *end, *nb;
    ngx_beacon_ws_frame_t  *f;

    p = buf;
    end = buf + len;
    f = &s->frame;
    r = NGX_BEACON_COMPAT_A_NONE;

    ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_NONE, NULL, 0);

    /* the buffer of the message handed out last time may go now */

    if (s->shrink) {
        s->shrink = 0;

        if (s->mcap > NGX_BEACON_COMPAT_MBUF_KEEP) {
            free(s->mbuf);
            s->mbuf = NULL;
            s->mcap = 0;
        }
    }

    if (s->state == NGX_BEACON_COMPAT_DONE) {
        *used = len;
        return NGX_BEACON_COMPAT_A_NONE;
    }

    while (p < end) {

        if (!s->in_frame) {
            rc = ngx_beacon_ws_parse_header(p, end - p, s->max_message, f);

            if (rc == NGX_BEACON_WS_AGAIN) {
                break;
            }

            if (rc == 0) {
                rc = ngx_beacon_ws_msg_frame(&s->msg, f, s->max_message);
            }

            if (rc != NGX_BEACON_WS_CONTROL
                && rc != NGX_BEACON_WS_DATA_PART
                && rc != NGX_BEACON_WS_DATA_END)
            {
                *used = p - buf;

                if (ngx_beacon_compat_closing(s)) {
                    /* no second Close: end */
                    s->state = NGX_BEACON_COMPAT_DONE;
                    return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_END,
                                                 NULL, 0);
                }

                (void) ngx_beacon_compat_close(s, (unsigned) rc,
                                       rc == NGX_BEACON_WS_CLOSE_TOO_BIG
                                       ? "message too big"
                                       : "protocol error", a);
                a->error = 1;

                return a->type;
            }

            s->frame_kind = rc;
            s->frame_done = 0;
            s->in_frame = 1;
            s->clen = 0;
            p += f->header_len;

            /* any frame, pings included, shows the peer is alive (W19) */

            if (s->state == NGX_BEACON_COMPAT_OPEN) {
                s->alive = 1;
            }

            if (rc != NGX_BEACON_WS_CONTROL) {
                need = (size_t) s->msg.len;

                if (need > s->mcap) {
                    nb = realloc(s->mbuf, need);

                    if (nb == NULL) {
                        *used = p - buf;
                        s->state = NGX_BEACON_COMPAT_DONE;
                        return ngx_beacon_compat_act(a,
                                                     NGX_BEACON_COMPAT_A_END,
                                                     NULL, 0);
                    }

                    s->mbuf = nb;
                    s->mcap = need;
                }
            }
        }

        take = end - p;

        if (take > f->payload_len - s->frame_done) {
            take = (size_t) (f->payload_len - s->frame_done);
        }

        ngx_beacon_ws_unmask(p, take, f->mask, s->frame_done);

        if (s->frame_kind == NGX_BEACON_WS_CONTROL) {
            memcpy(s->cbuf + s->clen, p, take);
            s->clen += take;

        } else if (take) {
            memcpy(s->mbuf + s->mlen, p, take);
            s->mlen += take;
        }

        s->frame_done += take;
        p += take;

        if (s->frame_done < f->payload_len) {
            break;
        }

        s->in_frame = 0;

        if (s->frame_kind == NGX_BEACON_WS_CONTROL) {
            r = ngx_beacon_compat_control(s, a);

        } else if (s->frame_kind == NGX_BEACON_WS_DATA_END) {
            r = ngx_beacon_compat_message(s, now, a);
            s->mlen = 0;
            s->shrink = 1;
        }

        if (r != NGX_BEACON_COMPAT_A_NONE) {
            break;
        }
    }

    *used = p - buf;

    return r;
}


static unsigned
ngx_beacon_compat_control(ngx_beacon_compat_session_t *s,
    ngx_beacon_compat_action_t *a)
{
    unsigned  code;

    switch (s->frame.opcode) {

    case NGX_BEACON_WS_OP_PING:
        if (ngx_beacon_compat_closing(s)) {
            /* nothing follows our Close */
            return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_NONE, NULL,
                                         0);
        }

        memcpy(s->out, s->cbuf, s->clen);

        return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_PONG, s->out,
                                     s->clen);

    case NGX_BEACON_WS_OP_CLOSE:
        if (ngx_beacon_compat_closing(s)) {
            /* the answer to our own Close (valid or not): the end */
            s->state = NGX_BEACON_COMPAT_DONE;
            return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_END, NULL,
                                         0);
        }

        if (ngx_beacon_ws_close_parse(s->cbuf, s->clen, &code) != 0) {
            return ngx_beacon_compat_close(s, NGX_BEACON_WS_CLOSE_PROTOCOL,
                                           "protocol error", a);
        }

        /* echo the code (none for an empty Close) and end */

        return ngx_beacon_compat_close(s,
                                       code == NGX_BEACON_WS_CLOSE_NO_STATUS
                                       ? 0 : code, NULL, a);

    default: /* pong: nothing to do */
        return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_NONE, NULL, 0);
    }
}


static unsigned
ngx_beacon_compat_message(ngx_beacon_compat_session_t *s, int64_t now,
    ngx_beacon_compat_action_t *a)
{
    switch (s->state) {

    case NGX_BEACON_COMPAT_LOGIN:

        /* one reply, text, well formed, within the challenge window */

        /* an empty message has no buffer: "" is not a reply either */

        if (s->msg.opcode != NGX_BEACON_WS_OP_TEXT
            || ngx_beacon_compat_parse_reply(s->mlen ? s->mbuf
                                             : (unsigned char *) "",
                                             s->mlen, &s->claimed, s->sig)
               != 0
            || now - s->ts > NGX_BEACON_COMPAT_CHALLENGE_AGE)
        {
            return ngx_beacon_compat_fail(s, NGX_BEACON_COMPAT_A_AUTH_FAIL,
                                          NGX_BEACON_WS_CLOSE_POLICY,
                                          "auth failed", a);
        }

        s->state = NGX_BEACON_COMPAT_KEY;

        /* the key comes from the authority, never from the reply (7.3) */

        ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_KEY, NULL, 0);
        a->node_id = s->claimed;

        return NGX_BEACON_COMPAT_A_KEY;

    case NGX_BEACON_COMPAT_KEY:
        /* a second message before the login completed */
        return ngx_beacon_compat_fail(s, NGX_BEACON_COMPAT_A_AUTH_FAIL,
                                      NGX_BEACON_WS_CLOSE_POLICY,
                                      "auth failed", a);

    case NGX_BEACON_COMPAT_OPEN:

        /* binary messages are datagrams, text is reserved */

        if (s->msg.opcode != NGX_BEACON_WS_OP_BINARY || s->mlen == 0) {
            return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_NONE, NULL,
                                         0);
        }

        return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_DATAGRAM,
                                     s->mbuf, s->mlen);

    default: /* closing: ignored */
        return ngx_beacon_compat_act(a, NGX_BEACON_COMPAT_A_NONE, NULL, 0);
    }
}


void
ngx_beacon_compat_free(ngx_beacon_compat_session_t *s)
{
    free(s->mbuf);
    s->mbuf = NULL;
    s->mcap = 0;
    s->mlen = 0;
    s->state = NGX_BEACON_COMPAT_DONE;
}


/*
 * The first header line called name (with token in its value, when
 * token is given), and how many lines are called name.
 */

static const ngx_beacon_compat_header_t *
ngx_beacon_compat_header(const ngx_beacon_compat_header_t *h, size_t n,
    const char *name, unsigned *count, const char *token)
{
    size_t                             i, j, len;
    unsigned char                      c, l;
    const ngx_beacon_compat_header_t  *first;

    len = strlen(name);
    first = NULL;
    *count = 0;

    for (i = 0; i < n; i++) {
        if (h[i].name_len != len) {
            continue;
        }

        for (j = 0; j < len; j++) {
            c = h[i].name[j];

            if (c >= 'A' && c <= 'Z') {
                c |= 0x20;
            }

            l = (unsigned char) name[j];

            if (l >= 'A' && l <= 'Z') {
                l |= 0x20;
            }

            if (c != l) {
                break;
            }
        }

        if (j < len) {
            continue;
        }

        (*count)++;

        if (first == NULL
            && (token == NULL
                || ngx_beacon_ws_has_token(h[i].value, h[i].value_len,
                                           token)))
        {
            first = &h[i];
        }
    }

    return first;
}


void
ngx_beacon_compat_upgrade(unsigned http_version, int get,
    const ngx_beacon_compat_header_t *h, size_t n,
    const unsigned char *host, size_t host_len,
    ngx_beacon_compat_upgrade_t *u)
{
    unsigned                           count;
    const ngx_beacon_compat_header_t  *v, *key, *origin;

    memset(u, 0, sizeof(ngx_beacon_compat_upgrade_t));

    if (http_version < 1001 || http_version >= 2000) {
        u->status = 426;
        return;
    }

    /* token lists, case-insensitive; any of several header lines counts */

    if (ngx_beacon_compat_header(h, n, "Connection", &count, "upgrade")
        == NULL
        || ngx_beacon_compat_header(h, n, "Upgrade", &count, "websocket")
           == NULL)
    {
        u->status = 426;
        u->header = "Upgrade";
        u->value = "websocket";
        return;
    }

    if (!get) {
        u->status = 405;
        return;
    }

    v = ngx_beacon_compat_header(h, n, "Sec-WebSocket-Version", &count,
                                 NULL);

    if (v == NULL || count != 1 || v->value_len != 2
        || memcmp(v->value, "13", 2) != 0)
    {
        u->status = 400;
        u->header = "Sec-WebSocket-Version";
        u->value = "13";
        return;
    }

    key = ngx_beacon_compat_header(h, n, "Sec-WebSocket-Key", &count, NULL);

    if (key == NULL || count != 1
        || !ngx_beacon_ws_key_valid(key->value, key->value_len))
    {
        u->status = 400;
        return;
    }

    origin = ngx_beacon_compat_header(h, n, "Origin", &count, NULL);

    if (origin != NULL
        && (host == NULL
            || !ngx_beacon_ws_origin_ok(origin->value, origin->value_len,
                                        host, host_len)))
    {
        u->status = 403;
        return;
    }

    u->key = key->value;
    u->key_len = key->value_len;
    u->pilot = ngx_beacon_compat_header(h, n, "Sec-WebSocket-Protocol",
                                        &count, "pilot.v1")
               != NULL;
}
