/*
 * wsc -- a scriptable WebSocket client (RFC 6455) over TLS or plain TCP,
 * for the compat bridge tests of ngx_beacon_module.  Written for this
 * project.
 *
 * Build:
 *   gcc -O2 -g -Wall -Wextra -o build/wsc t/tools/wsc.c -lssl -lcrypto -lsodium
 *
 * Usage: wsc [-t default_timeout_ms] [-T max_lifetime_s] [-x max_hex_bytes]
 *
 * Commands are read from stdin, one per line; every command prints zero or
 * more event lines on stdout followed by a line "done".  wsc exits on EOF
 * of stdin or on "quit".  Nothing is read from the connection between
 * commands (the client is "stalled" unless a command reads).
 *
 * Payload specs (PAYLOAD below): parts joined by '+':
 *   hex:0501ab      bytes in hex           str:text      escaped text
 *   u32:N / u16:N / u8:N  big-endian ints  rep:N:HH      N times byte HH
 *   seq:N           N bytes (i % 251)      - or empty    no bytes
 * Escapes in text: \r \n \t \\ \s (space) \xHH.
 *
 * Commands:
 *   connect HOST PORT [plain] [sni=NAME|nosni] [alpn=a,b|alpn=none]
 *           [bind=IP] [rcvbuf=N] [timeout=MS]
 *       -> "connected TLSv1.3 ALPN LOCALIP:PORT" | "connected plain - LOCALIP:PORT"
 *          | "connect_error WHY"
 *   send_text ESCAPED | send_hex HEX          raw bytes on the connection
 *   http [timeout=MS]                          read one HTTP response
 *   request ESCAPED [timeout=MS]               send_text + http
 *       -> "status CODE STATUSLINE", "header NAME VALUE" (name lowercased),
 *          "body LEN HEX|-", or "http_error WHY"
 *   upgrade [path=P] [host=H] [key=K|key=none|key=dup] [proto=LIST|proto=none]
 *           [origin=O] [version=V|version=none] [method=M] [httpver=V]
 *           [connection=V] [upgradehdr=V] [header=Name:escaped-value]...
 *           [timeout=MS]
 *       -> the response as for http, then "accept ok|bad|missing|multiple",
 *          then "upgraded" or "upgrade_failed CODE"
 *   challenge [timeout=MS]  -> "challenge NONCE TS" (or the events seen and
 *                              "challenge_missing")
 *   auth_reply SEEDHEX NODE [sigseed=HEX] [sigid=N] [old] [badsig]
 *           [sig=B64] [type=T] [pubkey=B64|pubkey=none] [node=RAWJSON]
 *           [ts=N] [nonce=HEX] [binary] [notjson] [raw=ESCAPED]
 *       -> "sent_auth_reply LEN"
 *   auth SEEDHEX NODE [same options] [timeout=MS]
 *       = challenge, auth_reply, one event; -> also "auth_ok" | "auth_failed"
 *   binary PAYLOAD | text PAYLOAD | ping PAYLOAD | pong PAYLOAD
 *   frame OP FIN PAYLOAD [nomask] [mask=HEX8] [rsv=N]   OP: name or number
 *   close [CODE|none [REASON...]] [timeout=MS]  send close, await reply + EOF
 *   fragments OP SIZES PAYLOAD [ping_after=K] [ping=PAYLOAD]
 *       SIZES comma list of non-final fragment sizes; a final fragment
 *       (fin=1) carries the rest (possibly empty)
 *   many N PAYLOAD          N binary messages in one write -> "sent N"
 *   recv [timeout=MS]       one event, or "timeout"
 *   recv_all [quiet=MS] [max=MS] [count=N]   events until quiet
 *   expect_close [timeout=MS]  events until the connection is closed
 *   wait MS                 read events for MS
 *   stall MS                sleep without reading
 *   keepalive INTERVAL_MS TOTAL_MS [PAYLOAD]  ping every interval, read
 *   autopong on|off         answer pings (default on)
 *   closereply on|off       answer a server close (default on)
 *   disconnect [rst]        close the TCP connection without a close frame
 *   state                   -> "state open|closed|none"
 *   pubkey SEEDHEX          -> "pubkey HEX", "pubkey_b64 B64" (Ed25519)
 *   echo WORDS              -> the words
 *   quit
 *
 * Events:
 *   msg text|binary LEN HEX|- FRAMES      a complete data message
 *   ping HEX|-        pong HEX|-          control frames (autopong: "pong_sent")
 *   close CODE|none REASON                 a close frame from the server
 *   closed CODE [WHY]                      connection gone (1006 = no close
 *                                          frame seen)
 *   frame_error WHY                        a protocol violation by the server
 *   timeout    error WHY
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sodium.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_FRAME (64 * 1024 * 1024)
#define MAX_HTTP_HEAD 65536
#define MAX_ARGS 64

/* buffer */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf_t;

static void
buf_reserve(buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap) {
        return;
    }

    size_t cap = b->cap ? b->cap : 4096;

    while (cap < b->len + extra) {
        cap *= 2;
    }

    unsigned char *p = realloc(b->p, cap);
    if (p == NULL) {
        fprintf(stderr, "wsc: out of memory\n");
        exit(2);
    }

    b->p = p;
    b->cap = cap;
}

static void
buf_add(buf_t *b, const void *d, size_t n)
{
    buf_reserve(b, n + 1);
    if (n) {
        memcpy(b->p + b->len, d, n);
    }
    b->len += n;
    b->p[b->len] = '\0';
}

static void
buf_addc(buf_t *b, unsigned char c)
{
    buf_add(b, &c, 1);
}

static void
buf_adds(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void
buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    char tmp[1024];

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }

    if ((size_t) n < sizeof(tmp)) {
        buf_add(b, tmp, n);
        return;
    }

    char *big = malloc(n + 1);
    if (big == NULL) {
        exit(2);
    }
    va_start(ap, fmt);
    vsnprintf(big, n + 1, fmt, ap);
    va_end(ap);
    buf_add(b, big, n);
    free(big);
}

static void
buf_consume(buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

static void
buf_free(buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* state */

static int     timeout_ms = 5000;
static size_t  max_hex = (size_t) -1;
static int     autopong = 1;
static int     closereply = 1;

static int     fd = -1;
static SSL_CTX *ctx;
static SSL    *ssl;
static int     conn_open;          /* the connection is usable */
static int     close_sent;         /* we sent a close frame */
static int     close_code_seen = -1;
static buf_t   rb;                 /* bytes read, not yet parsed */

static char    ch_nonce[256];
static long long ch_ts;
static int     have_challenge;

/* data message being assembled */
static buf_t   msg;
static int     msg_op = -1;
static int     msg_frames;

static void
out(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static void
out_hex_line(const char *prefix, const unsigned char *p, size_t n,
    const char *suffix)
{
    fputs(prefix, stdout);

    if (n == 0) {
        fputc('-', stdout);

    } else {
        size_t shown = n < max_hex ? n : max_hex;
        for (size_t i = 0; i < shown; i++) {
            fprintf(stdout, "%02x", p[i]);
        }
        if (shown < n) {
            fputs("...", stdout);
        }
    }

    if (suffix) {
        fputs(suffix, stdout);
    }

    fputc('\n', stdout);
    fflush(stdout);
}

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long long ms)
{
    if (ms <= 0) {
        return;
    }
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) { }
}

static int
wait_fd(short events, long long deadline)
{
    for ( ;; ) {
        long long left = deadline - now_ms();
        if (left < 0) {
            left = 0;
        }

        struct pollfd p = { fd, events, 0 };
        int n = poll(&p, 1, (int) left);

        if (n > 0) {
            return 1;
        }
        if (n == 0) {
            return 0;
        }
        if (errno != EINTR) {
            return -1;
        }
    }
}

static char last_err[256];

static const char *
ssl_err_string(void)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        return errno ? strerror(errno) : "unknown";
    }
    static char s[256];
    ERR_error_string_n(e, s, sizeof(s));
    ERR_clear_error();
    return s;
}

/* returns >0 bytes, 0 EOF, -1 error (last_err), -2 timeout */

static ssize_t
io_read(unsigned char *p, size_t n, long long deadline)
{
    if (fd < 0) {
        snprintf(last_err, sizeof(last_err), "not connected");
        return -1;
    }

    for ( ;; ) {
        if (ssl) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(ssl, p, n > INT32_MAX ? INT32_MAX : (int) n);
            if (r > 0) {
                return r;
            }

            int e = SSL_get_error(ssl, r);
            short ev;

            if (e == SSL_ERROR_WANT_READ) {
                ev = POLLIN;
            } else if (e == SSL_ERROR_WANT_WRITE) {
                ev = POLLOUT;
            } else if (e == SSL_ERROR_ZERO_RETURN) {
                return 0;
            } else if (e == SSL_ERROR_SYSCALL && errno == 0) {
                return 0;       /* EOF without close_notify */
            } else {
                snprintf(last_err, sizeof(last_err), "%s",
                    e == SSL_ERROR_SYSCALL ? strerror(errno)
                                           : ssl_err_string());
                return -1;
            }

            int w = wait_fd(ev, deadline);
            if (w == 0) {
                return -2;
            }
            if (w < 0) {
                snprintf(last_err, sizeof(last_err), "%s", strerror(errno));
                return -1;
            }
            continue;
        }

        ssize_t r = read(fd, p, n);
        if (r >= 0) {
            return r;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            snprintf(last_err, sizeof(last_err), "%s", strerror(errno));
            return -1;
        }

        int w = wait_fd(POLLIN, deadline);
        if (w == 0) {
            return -2;
        }
        if (w < 0) {
            snprintf(last_err, sizeof(last_err), "%s", strerror(errno));
            return -1;
        }
    }
}

/* returns 0 ok, -1 error (last_err), -2 timeout */

static int
io_write(const unsigned char *p, size_t n, long long deadline)
{
    if (fd < 0) {
        snprintf(last_err, sizeof(last_err), "not connected");
        return -1;
    }

    while (n > 0) {
        size_t chunk = n > 1 << 20 ? 1 << 20 : n;

        if (ssl) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_write(ssl, p, (int) chunk);
            if (r > 0) {
                p += r;
                n -= r;
                continue;
            }

            int e = SSL_get_error(ssl, r);
            short ev;

            if (e == SSL_ERROR_WANT_WRITE) {
                ev = POLLOUT;
            } else if (e == SSL_ERROR_WANT_READ) {
                ev = POLLIN;
            } else {
                snprintf(last_err, sizeof(last_err), "%s",
                    e == SSL_ERROR_SYSCALL
                        ? (errno ? strerror(errno) : "EOF")
                        : ssl_err_string());
                return -1;
            }

            int w = wait_fd(ev, deadline);
            if (w == 0) {
                return -2;
            }
            if (w < 0) {
                snprintf(last_err, sizeof(last_err), "%s", strerror(errno));
                return -1;
            }
            continue;
        }

        ssize_t r = write(fd, p, chunk);
        if (r >= 0) {
            p += r;
            n -= r;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            snprintf(last_err, sizeof(last_err), "%s", strerror(errno));
            return -1;
        }

        int w = wait_fd(POLLOUT, deadline);
        if (w == 0) {
            return -2;
        }
        if (w < 0) {
            snprintf(last_err, sizeof(last_err), "%s", strerror(errno));
            return -1;
        }
    }

    return 0;
}

static void
conn_reset(void)
{
    if (ssl) {
        SSL_free(ssl);
        ssl = NULL;
    }
    if (fd >= 0) {
        close(fd);
        fd = -1;
    }
    conn_open = 0;
    close_sent = 0;
    close_code_seen = -1;
    rb.len = 0;
    msg.len = 0;
    msg_op = -1;
    msg_frames = 0;
    have_challenge = 0;
}

/* reads more bytes into rb: returns >0, 0 EOF, -1 error, -2 timeout */

static ssize_t
fill_some(long long deadline)
{
    buf_reserve(&rb, 65536 + 1);
    ssize_t r = io_read(rb.p + rb.len, 65536, deadline);
    if (r > 0) {
        rb.len += r;
    }
    return r;
}

static ssize_t
fill(size_t need, long long deadline)
{
    while (rb.len < need) {
        ssize_t r = fill_some(deadline);
        if (r <= 0) {
            return r;
        }
    }
    return 1;
}

/* text escapes */

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int
unescape(const char *s, buf_t *b)
{
    while (*s) {
        if (*s != '\\') {
            buf_addc(b, (unsigned char) *s++);
            continue;
        }

        s++;
        switch (*s) {
        case 'r': buf_addc(b, '\r'); s++; break;
        case 'n': buf_addc(b, '\n'); s++; break;
        case 't': buf_addc(b, '\t'); s++; break;
        case 's': buf_addc(b, ' '); s++; break;
        case '0': buf_addc(b, '\0'); s++; break;
        case '\\': buf_addc(b, '\\'); s++; break;
        case 'x': {
            int h = hexval(s[1]), l = h >= 0 ? hexval(s[2]) : -1;
            if (l < 0) {
                return -1;
            }
            buf_addc(b, (unsigned char) (h * 16 + l));
            s += 3;
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

static int
unhex(const char *s, size_t n, buf_t *b)
{
    if (n % 2) {
        return -1;
    }
    for (size_t i = 0; i < n; i += 2) {
        int h = hexval(s[i]), l = hexval(s[i + 1]);
        if (h < 0 || l < 0) {
            return -1;
        }
        buf_addc(b, (unsigned char) (h * 16 + l));
    }
    return 0;
}

/* payload spec */

static int
parse_payload(const char *spec, buf_t *b)
{
    if (spec == NULL || strcmp(spec, "-") == 0 || *spec == '\0') {
        buf_reserve(b, 1);
        return 0;
    }

    char *copy = strdup(spec);
    char *save = NULL;
    int rc = 0;

    for (char *part = strtok_r(copy, "+", &save); part;
         part = strtok_r(NULL, "+", &save))
    {
        if (strncmp(part, "hex:", 4) == 0) {
            if (unhex(part + 4, strlen(part + 4), b) != 0) { rc = -1; break; }

        } else if (strncmp(part, "str:", 4) == 0) {
            if (unescape(part + 4, b) != 0) { rc = -1; break; }

        } else if (strncmp(part, "u32:", 4) == 0) {
            uint32_t v = htonl((uint32_t) strtoul(part + 4, NULL, 0));
            buf_add(b, &v, 4);

        } else if (strncmp(part, "u16:", 4) == 0) {
            uint16_t v = htons((uint16_t) strtoul(part + 4, NULL, 0));
            buf_add(b, &v, 2);

        } else if (strncmp(part, "u8:", 3) == 0) {
            buf_addc(b, (unsigned char) strtoul(part + 3, NULL, 0));

        } else if (strncmp(part, "rep:", 4) == 0) {
            char *end;
            unsigned long n = strtoul(part + 4, &end, 10);
            int v = 0;
            if (*end == ':') {
                v = (int) strtoul(end + 1, NULL, 16);
            }
            if (n > MAX_FRAME) { rc = -1; break; }
            buf_reserve(b, n + 1);
            memset(b->p + b->len, v, n);
            b->len += n;

        } else if (strncmp(part, "seq:", 4) == 0) {
            unsigned long n = strtoul(part + 4, NULL, 10);
            if (n > MAX_FRAME) { rc = -1; break; }
            buf_reserve(b, n + 1);
            for (unsigned long i = 0; i < n; i++) {
                b->p[b->len++] = (unsigned char) (i % 251);
            }

        } else {
            rc = -1;
            break;
        }
    }

    free(copy);
    return rc;
}

/* WebSocket frames */

static int
opcode_of(const char *s)
{
    if (strcmp(s, "cont") == 0) return 0;
    if (strcmp(s, "text") == 0) return 1;
    if (strcmp(s, "binary") == 0) return 2;
    if (strcmp(s, "close") == 0) return 8;
    if (strcmp(s, "ping") == 0) return 9;
    if (strcmp(s, "pong") == 0) return 10;
    char *end;
    long v = strtol(s, &end, 0);
    if (*end || v < 0 || v > 15) return -1;
    return (int) v;
}

typedef struct {
    int      mask;          /* 1: masked (default) */
    int      fixed_mask;
    uint8_t  key[4];
    int      rsv;
} frame_opts_t;

static void
build_frame(buf_t *out_b, int op, int fin, const unsigned char *p, size_t n,
    const frame_opts_t *fo)
{
    unsigned char h[14];
    size_t hl = 0;
    int mask = fo ? fo->mask : 1;

    h[hl++] = (unsigned char) ((fin ? 0x80 : 0) | ((fo ? fo->rsv : 0) & 7) << 4
                               | (op & 0x0f));

    unsigned char mbit = mask ? 0x80 : 0;

    if (n < 126) {
        h[hl++] = mbit | (unsigned char) n;
    } else if (n <= 0xffff) {
        h[hl++] = mbit | 126;
        h[hl++] = (unsigned char) (n >> 8);
        h[hl++] = (unsigned char) n;
    } else {
        h[hl++] = mbit | 127;
        for (int i = 7; i >= 0; i--) {
            h[hl++] = (unsigned char) ((uint64_t) n >> (i * 8));
        }
    }

    uint8_t key[4] = { 0, 0, 0, 0 };

    if (mask) {
        if (fo && fo->fixed_mask) {
            memcpy(key, fo->key, 4);
        } else {
            randombytes_buf(key, 4);
        }
        memcpy(h + hl, key, 4);
        hl += 4;
    }

    buf_add(out_b, h, hl);
    buf_reserve(out_b, n + 1);

    for (size_t i = 0; i < n; i++) {
        out_b->p[out_b->len + i] = mask ? p[i] ^ key[i & 3] : p[i];
    }

    out_b->len += n;
}

static int
send_buf(const buf_t *b, long long deadline)
{
    int r = io_write(b->p, b->len, deadline);

    if (r == -2) {
        out("error write timeout");
    } else if (r < 0) {
        out("error write %s", last_err);
    }

    return r;
}

static int
send_frame(int op, int fin, const unsigned char *p, size_t n,
    const frame_opts_t *fo)
{
    buf_t f = { 0 };

    if (!conn_open) {
        out("error not connected");
        return -1;
    }

    build_frame(&f, op, fin, p, n, fo);
    int r = send_buf(&f, now_ms() + timeout_ms);
    buf_free(&f);

    if (r == 0 && op == 8) {
        close_sent = 1;
    }

    return r;
}

enum {
    EV_NONE = 0, EV_MSG, EV_CTRL, EV_CLOSE, EV_CLOSED, EV_TIMEOUT, EV_ERROR
};

static void
mark_closed(int code, const char *why)
{
    if (why && *why) {
        out("closed %d %s", code, why);
    } else {
        out("closed %d", code);
    }

    if (ssl) {
        SSL_free(ssl);
        ssl = NULL;
    }
    if (fd >= 0) {
        close(fd);
        fd = -1;
    }
    conn_open = 0;
}

/* after a close frame: wait (bounded) for the TCP EOF */

static void
drain_to_eof(int code)
{
    long long deadline = now_ms() + 3000;

    for ( ;; ) {
        rb.len = 0;
        ssize_t r = fill_some(deadline);
        if (r == 0) {
            mark_closed(code, NULL);
            return;
        }
        if (r == -2) {
            mark_closed(code, "no eof");
            return;
        }
        if (r < 0) {
            mark_closed(code, last_err);
            return;
        }
    }
}

/*
 * reads one frame and handles it; returns an EV_* code.  Data frames that
 * do not complete a message return EV_NONE (the caller loops).
 */

static int
read_event(long long deadline)
{
    if (!conn_open) {
        out("error not connected");
        return EV_ERROR;
    }

    ssize_t r = fill(2, deadline);

    if (r == -2) {
        return EV_TIMEOUT;
    }
    if (r == 0) {
        mark_closed(close_code_seen >= 0 ? close_code_seen : 1006,
            rb.len ? "eof mid-frame" : "eof");
        return EV_CLOSED;
    }
    if (r < 0) {
        mark_closed(close_code_seen >= 0 ? close_code_seen : 1006, last_err);
        return EV_CLOSED;
    }

    unsigned char b0 = rb.p[0], b1 = rb.p[1];
    int fin = b0 >> 7, rsv = (b0 >> 4) & 7, op = b0 & 15;
    int masked = b1 >> 7;
    uint64_t len = b1 & 127;
    size_t hl = 2;

    if (len == 126) {
        hl = 4;
    } else if (len == 127) {
        hl = 10;
    }
    if (masked) {
        hl += 4;
    }

    r = fill(hl, deadline);
    if (r <= 0) {
        goto short_read;
    }

    if (len == 126) {
        len = (uint64_t) rb.p[2] << 8 | rb.p[3];
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++) {
            len = len << 8 | rb.p[2 + i];
        }
    }

    if (len > MAX_FRAME) {
        out("frame_error frame length %llu", (unsigned long long) len);
        mark_closed(1006, "protocol error");
        return EV_CLOSED;
    }

    r = fill(hl + len, deadline);
    if (r <= 0) {
        goto short_read;
    }

    unsigned char *p = rb.p + hl;

    if (masked) {
        out("frame_error masked server frame");
        unsigned char *k = rb.p + hl - 4;
        for (uint64_t i = 0; i < len; i++) {
            p[i] ^= k[i & 3];
        }
    }
    if (rsv) {
        out("frame_error rsv bits %d", rsv);
    }

    int ev = EV_NONE;

    if (op >= 8) {
        if (!fin || len > 125) {
            out("frame_error bad control frame fin=%d len=%llu", fin,
                (unsigned long long) len);
        }

        if (op == 9) {
            out_hex_line("ping ", p, len, NULL);
            /* the auto pong goes after the frame is consumed */
            unsigned char copy[128];
            size_t cl = len > sizeof(copy) ? sizeof(copy) : len;
            memcpy(copy, p, cl);
            buf_consume(&rb, hl + len);
            if (autopong && !close_sent) {
                if (send_frame(10, 1, copy, cl, NULL) == 0) {
                    out("pong_sent");
                }
            }
            return EV_CTRL;
        }

        if (op == 10) {
            out_hex_line("pong ", p, len, NULL);
            buf_consume(&rb, hl + len);
            return EV_CTRL;
        }

        if (op == 8) {
            int code = -1;
            char reason[256] = "";

            if (len >= 2) {
                code = p[0] << 8 | p[1];
                size_t rl = len - 2 < sizeof(reason) - 1 ? len - 2
                                                         : sizeof(reason) - 1;
                memcpy(reason, p + 2, rl);
                reason[rl] = '\0';
                for (size_t i = 0; i < rl; i++) {
                    if (reason[i] == '\n' || reason[i] == '\r') {
                        reason[i] = ' ';
                    }
                }
            }
            if (len == 1) {
                out("frame_error close payload of 1 byte");
            }

            if (code >= 0) {
                out("close %d %s", code, reason);
            } else {
                out("close none");
            }

            buf_consume(&rb, hl + len);
            close_code_seen = code >= 0 ? code : 1005;

            if (!close_sent && closereply) {
                unsigned char e2[2];
                e2[0] = (unsigned char) (close_code_seen >> 8);
                e2[1] = (unsigned char) close_code_seen;
                send_frame(8, 1, e2, code >= 0 ? 2 : 0, NULL);
            }

            drain_to_eof(close_code_seen);
            return EV_CLOSED;
        }

        out_hex_line("frame_error unknown control opcode ", &rb.p[0], 1, NULL);
        buf_consume(&rb, hl + len);
        return EV_CTRL;
    }

    if (op == 0) {
        if (msg_op < 0) {
            out("frame_error continuation without a message");
        }
    } else if (op == 1 || op == 2) {
        if (msg_op >= 0) {
            out("frame_error new message inside a fragmented one");
            msg.len = 0;
        }
        msg_op = op;
        msg_frames = 0;
        msg.len = 0;
    } else {
        out("frame_error unknown data opcode %d", op);
        buf_consume(&rb, hl + len);
        return EV_CTRL;
    }

    buf_add(&msg, p, len);
    msg_frames++;
    buf_consume(&rb, hl + len);

    if (fin) {
        char suffix[32];
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "msg %s %zu ",
            msg_op == 1 ? "text" : "binary", msg.len);
        snprintf(suffix, sizeof(suffix), " %d", msg_frames);
        out_hex_line(prefix, msg.p, msg.len, suffix);
        ev = EV_MSG;
        msg_op = -1;
    }

    return ev;

short_read:

    if (r == -2) {
        return EV_TIMEOUT;
    }

    mark_closed(close_code_seen >= 0 ? close_code_seen : 1006,
        r == 0 ? "eof mid-frame" : last_err);
    return EV_CLOSED;
}

/* one complete event (message or control frame) before the deadline */

static int
next_event(long long deadline)
{
    for ( ;; ) {
        int ev = read_event(deadline);
        if (ev != EV_NONE) {
            return ev;
        }
    }
}

/* options "name=value" */

typedef struct {
    int   argc;
    char *argv[MAX_ARGS];
} args_t;

static const char *
opt(const args_t *a, int from, const char *name)
{
    size_t n = strlen(name);

    for (int i = from; i < a->argc; i++) {
        if (strncmp(a->argv[i], name, n) == 0 && a->argv[i][n] == '=') {
            return a->argv[i] + n + 1;
        }
    }
    return NULL;
}

static int
flag(const args_t *a, int from, const char *name)
{
    for (int i = from; i < a->argc; i++) {
        if (strcmp(a->argv[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
opt_timeout(const args_t *a, int from)
{
    const char *t = opt(a, from, "timeout");
    return t ? atoi(t) : timeout_ms;
}

/* connect */

static int
is_ip_literal(const char *h)
{
    unsigned char tmp[16];
    return inet_pton(AF_INET, h, tmp) == 1 || inet_pton(AF_INET6, h, tmp) == 1;
}

static char cur_host[256];
static int  cur_port;
static char cur_local[INET6_ADDRSTRLEN + 8];

static void
cmd_connect(const args_t *a)
{
    if (a->argc < 3) {
        out("error usage: connect HOST PORT [options]");
        return;
    }

    conn_reset();

    const char *host = a->argv[1];
    const char *port = a->argv[2];
    int plain = flag(a, 3, "plain");
    const char *sni = opt(a, 3, "sni");
    const char *alpn = opt(a, 3, "alpn");
    const char *bindip = opt(a, 3, "bind");
    const char *rcvbuf = opt(a, 3, "rcvbuf");
    long long deadline = now_ms() + opt_timeout(a, 3);

    snprintf(cur_host, sizeof(cur_host), "%s", host);
    cur_port = atoi(port);

    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;

    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        out("connect_error resolve %s", gai_strerror(gai));
        return;
    }

    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        out("connect_error socket %s", strerror(errno));
        freeaddrinfo(res);
        return;
    }

    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (rcvbuf) {
        int v = atoi(rcvbuf);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    }

    if (bindip) {
        struct addrinfo *lres = NULL;
        struct addrinfo lh = { 0 };
        lh.ai_family = res->ai_family;
        lh.ai_socktype = SOCK_STREAM;
        lh.ai_flags = AI_NUMERICHOST;
        if (getaddrinfo(bindip, "0", &lh, &lres) != 0
            || bind(fd, lres->ai_addr, lres->ai_addrlen) != 0)
        {
            out("connect_error bind %s %s", bindip, strerror(errno));
            if (lres) freeaddrinfo(lres);
            freeaddrinfo(res);
            conn_reset();
            return;
        }
        freeaddrinfo(lres);
    }

    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);

    if (rc != 0 && errno != EINPROGRESS) {
        out("connect_error connect %s", strerror(errno));
        conn_reset();
        return;
    }

    if (rc != 0) {
        int w = wait_fd(POLLOUT, deadline);
        int err = 0;
        socklen_t el = sizeof(err);
        if (w <= 0) {
            out("connect_error connect timeout");
            conn_reset();
            return;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            out("connect_error connect %s", strerror(err));
            conn_reset();
            return;
        }
    }

    {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char ip[INET6_ADDRSTRLEN] = "?";
        int lport = 0;

        if (getsockname(fd, (struct sockaddr *) &ss, &sl) == 0) {
            if (ss.ss_family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
                inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
                lport = ntohs(sin->sin_port);
            } else if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
                inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
                lport = ntohs(sin6->sin6_port);
            }
        }
        snprintf(cur_local, sizeof(cur_local), "%s:%d", ip, lport);
    }

    if (plain) {
        conn_open = 1;
        out("connected plain - %s", cur_local);
        return;
    }

    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE
                      | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    if (flag(a, 3, "nosni")) {
        /* nothing */
    } else if (sni) {
        SSL_set_tlsext_host_name(ssl, sni);
    } else if (!is_ip_literal(host)) {
        SSL_set_tlsext_host_name(ssl, host);
    }

    const char *al = alpn ? alpn : "http/1.1";

    if (strcmp(al, "none") != 0) {
        unsigned char wire[256];
        size_t wl = 0;
        char *copy = strdup(al), *save = NULL;

        for (char *t = strtok_r(copy, ",", &save); t;
             t = strtok_r(NULL, ",", &save))
        {
            size_t tl = strlen(t);
            if (tl == 0 || tl > 255 || wl + 1 + tl > sizeof(wire)) {
                continue;
            }
            wire[wl++] = (unsigned char) tl;
            memcpy(wire + wl, t, tl);
            wl += tl;
        }
        free(copy);
        SSL_set_alpn_protos(ssl, wire, (unsigned) wl);
    }

    for ( ;; ) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(ssl);
        if (r == 1) {
            break;
        }

        int e = SSL_get_error(ssl, r);
        short ev;

        if (e == SSL_ERROR_WANT_READ) {
            ev = POLLIN;
        } else if (e == SSL_ERROR_WANT_WRITE) {
            ev = POLLOUT;
        } else {
            out("connect_error tls %s",
                e == SSL_ERROR_SYSCALL
                    ? (errno ? strerror(errno) : "EOF") : ssl_err_string());
            conn_reset();
            return;
        }

        if (wait_fd(ev, deadline) <= 0) {
            out("connect_error tls timeout");
            conn_reset();
            return;
        }
    }

    const unsigned char *sel = NULL;
    unsigned int sl = 0;
    SSL_get0_alpn_selected(ssl, &sel, &sl);

    conn_open = 1;
    out("connected %s %.*s %s", SSL_get_version(ssl), sl ? (int) sl : 1,
        sl ? (const char *) sel : "-", cur_local);
}

/* HTTP */

typedef struct {
    int  code;
    char accept[256];
    int  naccept;
    char proto[256];
} http_resp_t;

static int
http_read(long long deadline, int head_only, http_resp_t *hr)
{
    memset(hr, 0, sizeof(*hr));

    if (!conn_open) {
        out("http_error not connected");
        return -1;
    }

    size_t end = 0;

    for ( ;; ) {
        if (rb.len >= 4) {
            unsigned char *e = memmem(rb.p, rb.len, "\r\n\r\n", 4);
            if (e) {
                end = (size_t) (e - rb.p) + 4;
                break;
            }
        }
        if (rb.len > MAX_HTTP_HEAD) {
            out("http_error header too long");
            return -1;
        }

        ssize_t r = fill_some(deadline);
        if (r == -2) {
            out("http_error timeout (%zu bytes)", rb.len);
            return -1;
        }
        if (r == 0) {
            out("http_error eof (%zu bytes)", rb.len);
            if (rb.len) {
                out_hex_line("http_partial ", rb.p, rb.len, NULL);
            }
            mark_closed(1006, "eof");
            return -1;
        }
        if (r < 0) {
            out("http_error %s", last_err);
            mark_closed(1006, last_err);
            return -1;
        }
    }

    char *head = strndup((char *) rb.p, end - 4);
    buf_consume(&rb, end);

    char *save = NULL;
    char *line = strtok_r(head, "\r\n", &save);
    long long clen = -1;
    int chunked = 0, conn_close = 0, http10 = 0;

    if (line == NULL || sscanf(line, "HTTP/%*d.%*d %d", &hr->code) != 1) {
        out("http_error bad status line %s", line ? line : "");
        free(head);
        return -1;
    }

    http10 = strncmp(line, "HTTP/1.0", 8) == 0;
    out("status %d %s", hr->code, line);

    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            out("header_error %s", line);
            continue;
        }
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) v[--vl] = '\0';
        for (char *c = line; *c; c++) *c = (char) tolower((unsigned char) *c);

        out("header %s %s", line, v);

        if (strcmp(line, "content-length") == 0) {
            clen = atoll(v);
        } else if (strcmp(line, "transfer-encoding") == 0
                   && strcasestr(v, "chunked")) {
            chunked = 1;
        } else if (strcmp(line, "connection") == 0
                   && strcasestr(v, "close")) {
            conn_close = 1;
        } else if (strcmp(line, "sec-websocket-accept") == 0) {
            snprintf(hr->accept, sizeof(hr->accept), "%s", v);
            hr->naccept++;
        } else if (strcmp(line, "sec-websocket-protocol") == 0) {
            snprintf(hr->proto, sizeof(hr->proto), "%s", v);
        }
    }

    free(head);

    if (head_only || hr->code == 101 || hr->code == 204 || hr->code == 304
        || hr->code < 200)
    {
        return 0;
    }

    buf_t body = { 0 };

    if (chunked) {
        for ( ;; ) {
            unsigned char *e;
            while ((e = rb.len ? memmem(rb.p, rb.len, "\r\n", 2) : NULL)
                   == NULL)
            {
                if (fill_some(deadline) <= 0) {
                    out("http_error chunked body truncated");
                    goto body_done;
                }
            }
            unsigned long n = strtoul((char *) rb.p, NULL, 16);
            size_t ll = (size_t) (e - rb.p) + 2;
            if (fill(ll + n + 2, deadline) <= 0) {
                out("http_error chunked body truncated");
                goto body_done;
            }
            buf_add(&body, rb.p + ll, n);
            buf_consume(&rb, ll + n + 2);
            if (n == 0) {
                break;
            }
        }

    } else if (clen >= 0) {
        if (fill((size_t) clen, deadline) <= 0) {
            out("http_error body truncated (%zu of %lld)", rb.len, clen);
            buf_add(&body, rb.p, rb.len);
            rb.len = 0;
        } else {
            buf_add(&body, rb.p, (size_t) clen);
            buf_consume(&rb, (size_t) clen);
        }

    } else if (conn_close || http10) {
        for ( ;; ) {
            ssize_t r = fill_some(deadline);
            if (r <= 0) {
                break;
            }
        }
        buf_add(&body, rb.p, rb.len);
        rb.len = 0;
    }

body_done:

    {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "body %zu ", body.len);
        out_hex_line(prefix, body.p, body.len, NULL);
    }

    buf_free(&body);
    return 0;
}

static void
cmd_send_raw(const args_t *a, int hex, const char *line_rest)
{
    buf_t b = { 0 };

    (void) a;

    if (!conn_open) {
        out("error not connected");
        return;
    }

    int rc = hex ? unhex(line_rest, strlen(line_rest), &b)
                 : unescape(line_rest, &b);
    if (rc != 0) {
        out("error bad %s", hex ? "hex" : "escape");
        buf_free(&b);
        return;
    }

    if (send_buf(&b, now_ms() + timeout_ms) == 0) {
        out("sent %zu", b.len);
    }

    buf_free(&b);
}

static void
accept_for(const char *key, char *outb, size_t outl)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdl = 0;
    buf_t s = { 0 };

    buf_adds(&s, key);
    buf_adds(&s, WS_GUID);
    EVP_Digest(s.p, s.len, md, &mdl, EVP_sha1(), NULL);
    buf_free(&s);

    sodium_bin2base64(outb, outl, md, mdl, sodium_base64_VARIANT_ORIGINAL);
}

static void
cmd_upgrade(const args_t *a)
{
    const char *path = opt(a, 1, "path");
    const char *host = opt(a, 1, "host");
    const char *key = opt(a, 1, "key");
    const char *proto = opt(a, 1, "proto");
    const char *origin = opt(a, 1, "origin");
    const char *version = opt(a, 1, "version");
    const char *method = opt(a, 1, "method");
    const char *httpver = opt(a, 1, "httpver");
    const char *connection = opt(a, 1, "connection");
    const char *upgradehdr = opt(a, 1, "upgradehdr");
    long long deadline = now_ms() + opt_timeout(a, 1);

    if (!conn_open) {
        out("error not connected");
        return;
    }

    char keybuf[64];
    if (key == NULL || strcmp(key, "dup") == 0) {
        unsigned char raw[16];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2base64(keybuf, sizeof(keybuf), raw, sizeof(raw),
            sodium_base64_VARIANT_ORIGINAL);
    } else {
        snprintf(keybuf, sizeof(keybuf), "%s", key);
    }

    char hostbuf[300];
    if (host == NULL) {
        snprintf(hostbuf, sizeof(hostbuf), "%s:%d", cur_host, cur_port);
        host = hostbuf;
    }

    buf_t req = { 0 };

    buf_printf(&req, "%s %s %s\r\n", method ? method : "GET",
        path ? path : "/v1/compat", httpver ? httpver : "HTTP/1.1");

    if (strcmp(host, "none") != 0) {
        buf_printf(&req, "Host: %s\r\n", host);
    }
    if (!upgradehdr || strcmp(upgradehdr, "none") != 0) {
        buf_t v = { 0 };
        unescape(upgradehdr ? upgradehdr : "websocket", &v);
        buf_printf(&req, "Upgrade: %s\r\n", v.p);
        buf_free(&v);
    }
    if (!connection || strcmp(connection, "none") != 0) {
        buf_t v = { 0 };
        unescape(connection ? connection : "Upgrade", &v);
        buf_printf(&req, "Connection: %s\r\n", v.p);
        buf_free(&v);
    }
    if (!key || strcmp(key, "none") != 0) {
        buf_printf(&req, "Sec-WebSocket-Key: %s\r\n", keybuf);
    }
    if (key && strcmp(key, "dup") == 0) {
        buf_printf(&req, "Sec-WebSocket-Key: %s\r\n", keybuf);
    }
    if (!version || strcmp(version, "none") != 0) {
        buf_printf(&req, "Sec-WebSocket-Version: %s\r\n",
            version ? version : "13");
    }
    if (!proto || strcmp(proto, "none") != 0) {
        buf_t v = { 0 };
        unescape(proto ? proto : "pilot.v1", &v);
        buf_printf(&req, "Sec-WebSocket-Protocol: %s\r\n", v.p);
        buf_free(&v);
    }
    if (origin) {
        buf_t v = { 0 };
        unescape(origin, &v);
        buf_printf(&req, "Origin: %s\r\n", v.p);
        buf_free(&v);
    }

    for (int i = 1; i < a->argc; i++) {
        if (strncmp(a->argv[i], "header=", 7) == 0) {
            buf_t v = { 0 };
            unescape(a->argv[i] + 7, &v);
            buf_printf(&req, "%s\r\n", v.p ? (char *) v.p : "");
            buf_free(&v);
        }
    }

    buf_adds(&req, "\r\n");

    int r = send_buf(&req, deadline);
    buf_free(&req);
    if (r != 0) {
        out("upgrade_failed 0");
        return;
    }

    http_resp_t hr;
    if (http_read(deadline, 0, &hr) != 0) {
        out("upgrade_failed 0");
        return;
    }

    if (hr.naccept == 0) {
        out("accept missing");
    } else if (hr.naccept > 1) {
        out("accept multiple");
    } else {
        char want[64];
        accept_for(keybuf, want, sizeof(want));
        if (strcmp(want, hr.accept) == 0) {
            out("accept ok");
        } else {
            out("accept bad %s %s", hr.accept, want);
        }
    }

    if (hr.code == 101) {
        msg.len = 0;
        msg_op = -1;
        out("upgraded");
    } else {
        out("upgrade_failed %d", hr.code);
    }
}

/* auth */

static int
json_str(const char *j, const char *name, char *outb, size_t outl)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\"", name);
    const char *p = strstr(j, pat);
    if (p == NULL) return -1;
    p += strlen(pat);
    while (*p == ' ' || *p == ':' || *p == '\t') p++;
    if (*p != '"') return -1;
    p++;
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < outl) outb[n++] = *p++;
    outb[n] = '\0';
    return *p == '"' ? 0 : -1;
}

static int
json_int(const char *j, const char *name, long long *v)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\"", name);
    const char *p = strstr(j, pat);
    if (p == NULL) return -1;
    p += strlen(pat);
    while (*p == ' ' || *p == ':' || *p == '\t') p++;
    char *end;
    *v = strtoll(p, &end, 10);
    return end == p ? -1 : 0;
}

static int
do_challenge(long long deadline)
{
    have_challenge = 0;

    for ( ;; ) {
        int ev = next_event(deadline);

        if (ev == EV_TIMEOUT) {
            out("timeout");
            out("challenge_missing");
            return -1;
        }
        if (ev == EV_CLOSED || ev == EV_ERROR) {
            out("challenge_missing");
            return -1;
        }
        if (ev == EV_CTRL) {
            continue;
        }

        /* EV_MSG: the message is in msg (already printed) */
        char *txt = strndup((char *) msg.p, msg.len);
        char type[64] = "";
        long long ts = 0;

        if (json_str(txt, "type", type, sizeof(type)) == 0
            && strcmp(type, "auth_challenge") == 0
            && json_str(txt, "nonce", ch_nonce, sizeof(ch_nonce)) == 0
            && json_int(txt, "ts", &ts) == 0)
        {
            ch_ts = ts;
            have_challenge = 1;
            out("challenge %s %lld", ch_nonce, ch_ts);
            free(txt);
            return 0;
        }

        free(txt);
        out("challenge_missing");
        return -1;
    }
}

static void
cmd_challenge(const args_t *a)
{
    do_challenge(now_ms() + opt_timeout(a, 1));
}

static int
seed_of(const char *hex, unsigned char pk[32], unsigned char sk[64])
{
    buf_t s = { 0 };
    if (hex == NULL || unhex(hex, strlen(hex), &s) != 0 || s.len != 32) {
        buf_free(&s);
        return -1;
    }
    crypto_sign_seed_keypair(pk, sk, s.p);
    buf_free(&s);
    return 0;
}

static int
do_auth_reply(const args_t *a)
{
    if (a->argc < 3) {
        out("error usage: auth_reply SEEDHEX NODE [options]");
        return -1;
    }

    const char *seed = a->argv[1];
    const char *node = a->argv[2];
    const char *sigseed = opt(a, 3, "sigseed");
    const char *sigid = opt(a, 3, "sigid");
    const char *sigopt = opt(a, 3, "sig");
    const char *type = opt(a, 3, "type");
    const char *pubkey = opt(a, 3, "pubkey");
    const char *nodejson = opt(a, 3, "node");
    const char *tsopt = opt(a, 3, "ts");
    const char *nonceopt = opt(a, 3, "nonce");
    const char *rawopt = opt(a, 3, "raw");

    unsigned char pk[32], sk[64], spk[32], ssk[64];

    if (seed_of(seed, pk, sk) != 0) {
        out("error bad seed");
        return -1;
    }
    memcpy(spk, pk, 32);
    memcpy(ssk, sk, 64);
    if (sigseed && seed_of(sigseed, spk, ssk) != 0) {
        out("error bad sigseed");
        return -1;
    }

    if (!have_challenge && !(tsopt && nonceopt)) {
        out("error no challenge");
        return -1;
    }

    buf_t pre = { 0 };
    const char *nonce = nonceopt ? nonceopt : ch_nonce;
    long long ts = tsopt ? atoll(tsopt) : ch_ts;

    if (flag(a, 3, "old")) {
        buf_printf(&pre, "compat_auth:%s:%s", sigid ? sigid : node, nonce);
    } else {
        buf_printf(&pre, "compat_auth:%s:%lld:%s", sigid ? sigid : node, ts,
            nonce);
    }

    unsigned char sig[64];
    crypto_sign_detached(sig, NULL, pre.p, pre.len, ssk);
    buf_free(&pre);

    char sigb64[128], pkb64[64];
    sodium_bin2base64(sigb64, sizeof(sigb64), sig, 64,
        sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(pkb64, sizeof(pkb64), pk, 32,
        sodium_base64_VARIANT_ORIGINAL);

    if (flag(a, 3, "badsig")) {
        snprintf(sigb64, sizeof(sigb64), "%s", "not*base64!!");
    } else if (sigopt) {
        snprintf(sigb64, sizeof(sigb64), "%s", sigopt);
    }

    buf_t j = { 0 };

    if (rawopt) {
        unescape(rawopt, &j);

    } else if (flag(a, 3, "notjson")) {
        buf_adds(&j, "{\"type\":\"auth_reply\",\"node_id\":");

    } else {
        buf_printf(&j, "{\"type\":\"%s\",\"node_id\":%s",
            type ? type : "auth_reply", nodejson ? nodejson : node);
        if (!pubkey || strcmp(pubkey, "none") != 0) {
            buf_printf(&j, ",\"public_key\":\"%s\"", pubkey ? pubkey : pkb64);
        }
        buf_printf(&j, ",\"sig\":\"%s\"}", sigb64);
    }

    int op = flag(a, 3, "binary") ? 2 : 1;
    int r = send_frame(op, 1, j.p, j.len, NULL);

    if (r == 0) {
        out("sent_auth_reply %zu", j.len);
    }

    buf_free(&j);
    return r;
}

static void
cmd_auth_reply(const args_t *a)
{
    do_auth_reply(a);
}

static void
cmd_auth(const args_t *a)
{
    long long deadline = now_ms() + opt_timeout(a, 3);

    if (do_challenge(deadline) != 0) {
        out("auth_failed no challenge");
        return;
    }

    if (do_auth_reply(a) != 0) {
        out("auth_failed send");
        return;
    }

    for ( ;; ) {
        int ev = next_event(deadline);

        if (ev == EV_CTRL) {
            continue;
        }
        if (ev == EV_TIMEOUT) {
            out("timeout");
            out("auth_failed timeout");
            return;
        }
        if (ev == EV_MSG) {
            char *txt = strndup((char *) msg.p, msg.len);
            char type[64] = "";
            if (json_str(txt, "type", type, sizeof(type)) == 0
                && strcmp(type, "auth_ok") == 0)
            {
                out("auth_ok");
            } else {
                out("auth_failed unexpected message");
            }
            free(txt);
            return;
        }

        out("auth_failed %d", close_code_seen);
        return;
    }
}

/* frames */

static void
cmd_data(const args_t *a, int op)
{
    buf_t p = { 0 };

    if (parse_payload(a->argc > 1 ? a->argv[1] : NULL, &p) != 0) {
        out("error bad payload");
        buf_free(&p);
        return;
    }

    if (send_frame(op, 1, p.p, p.len, NULL) == 0) {
        out("sent %zu", p.len);
    }
    buf_free(&p);
}

static void
cmd_frame(const args_t *a)
{
    if (a->argc < 4) {
        out("error usage: frame OP FIN PAYLOAD [nomask] [mask=HEX8] [rsv=N]");
        return;
    }

    int op = opcode_of(a->argv[1]);
    if (op < 0) {
        out("error bad opcode");
        return;
    }

    frame_opts_t fo = { 1, 0, { 0 }, 0 };
    if (flag(a, 4, "nomask")) {
        fo.mask = 0;
    }
    const char *m = opt(a, 4, "mask");
    if (m) {
        buf_t k = { 0 };
        if (unhex(m, strlen(m), &k) != 0 || k.len != 4) {
            out("error bad mask");
            buf_free(&k);
            return;
        }
        memcpy(fo.key, k.p, 4);
        fo.fixed_mask = 1;
        buf_free(&k);
    }
    const char *rsv = opt(a, 4, "rsv");
    if (rsv) {
        fo.rsv = atoi(rsv);
    }

    buf_t p = { 0 };
    if (parse_payload(a->argv[3], &p) != 0) {
        out("error bad payload");
        buf_free(&p);
        return;
    }

    if (send_frame(op, atoi(a->argv[2]), p.p, p.len, &fo) == 0) {
        out("sent %zu", p.len);
    }
    buf_free(&p);
}

static void
cmd_fragments(const args_t *a)
{
    if (a->argc < 4) {
        out("error usage: fragments OP SIZES PAYLOAD [ping_after=K]"
            " [ping=PAYLOAD]");
        return;
    }

    int op = opcode_of(a->argv[1]);
    if (op < 0) {
        out("error bad opcode");
        return;
    }

    buf_t p = { 0 }, ping = { 0 }, f = { 0 };
    if (parse_payload(a->argv[3], &p) != 0) {
        out("error bad payload");
        goto done;
    }

    const char *pa = opt(a, 4, "ping_after");
    int ping_after = pa ? atoi(pa) : -1;
    const char *pp = opt(a, 4, "ping");
    if (parse_payload(pp ? pp : "str:frag", &ping) != 0) {
        out("error bad ping payload");
        goto done;
    }

    char *sizes = strdup(a->argv[2]), *save = NULL;
    size_t off = 0;
    int k = 0;

    for (char *t = strtok_r(sizes, ",", &save); ; t = strtok_r(NULL, ",",
        &save)) {
        size_t want = t ? strtoul(t, NULL, 10) : p.len - off;
        int last = (t == NULL);

        if (want > p.len - off) {
            want = p.len - off;
        }

        build_frame(&f, k == 0 ? op : 0, last, p.p + off, want, NULL);
        off += want;
        k++;

        if (k == ping_after && !last) {
            build_frame(&f, 9, 1, ping.p, ping.len, NULL);
        }

        if (last) {
            break;
        }
    }

    free(sizes);

    if (conn_open) {
        if (send_buf(&f, now_ms() + timeout_ms) == 0) {
            out("sent %zu %d", p.len, k);
        }
    } else {
        out("error not connected");
    }

done:

    buf_free(&p);
    buf_free(&ping);
    buf_free(&f);
}

static void
cmd_many(const args_t *a)
{
    if (a->argc < 3) {
        out("error usage: many N PAYLOAD");
        return;
    }

    long n = atol(a->argv[1]);
    buf_t p = { 0 }, f = { 0 };

    if (n < 0 || n > 1000000 || parse_payload(a->argv[2], &p) != 0) {
        out("error bad arguments");
        buf_free(&p);
        return;
    }

    if (!conn_open) {
        out("error not connected");
        buf_free(&p);
        return;
    }

    for (long i = 0; i < n; i++) {
        build_frame(&f, 2, 1, p.p, p.len, NULL);
    }

    if (send_buf(&f, now_ms() + opt_timeout(a, 3)) == 0) {
        out("sent %ld", n);
    }

    buf_free(&p);
    buf_free(&f);
}

static void
cmd_close(const args_t *a)
{
    buf_t p = { 0 };
    int code = 1000;
    int none = 0;
    int i = 1;

    if (a->argc > 1 && strncmp(a->argv[1], "timeout=", 8) != 0) {
        if (strcmp(a->argv[1], "none") == 0) {
            none = 1;
        } else {
            code = atoi(a->argv[1]);
        }
        i = 2;
    }

    if (!none) {
        buf_addc(&p, (unsigned char) (code >> 8));
        buf_addc(&p, (unsigned char) code);
        for (int first = 1; i < a->argc; i++) {
            if (strncmp(a->argv[i], "timeout=", 8) == 0) {
                continue;
            }
            if (!first) {
                buf_addc(&p, ' ');
            }
            buf_adds(&p, a->argv[i]);
            first = 0;
        }
    }

    if (send_frame(8, 1, p.p, p.len, NULL) != 0) {
        buf_free(&p);
        return;
    }
    buf_free(&p);
    out("close_sent");

    long long deadline = now_ms() + opt_timeout(a, 1);

    while (conn_open) {
        int ev = next_event(deadline);
        if (ev == EV_TIMEOUT) {
            out("timeout");
            break;
        }
        if (ev == EV_ERROR) {
            break;
        }
    }
}

static void
cmd_recv(const args_t *a)
{
    int ev = next_event(now_ms() + opt_timeout(a, 1));
    if (ev == EV_TIMEOUT) {
        out("timeout");
    }
}

static void
cmd_recv_all(const args_t *a)
{
    const char *q = opt(a, 1, "quiet");
    const char *m = opt(a, 1, "max");
    const char *c = opt(a, 1, "count");
    int quiet = q ? atoi(q) : 300;
    long long end = now_ms() + (m ? atoi(m) : 10000);
    long count = c ? atol(c) : 1000000;
    long got = 0;

    while (conn_open && got < count) {
        long long dl = now_ms() + quiet;
        if (dl > end) {
            dl = end;
        }
        int ev = next_event(dl);
        if (ev == EV_TIMEOUT || ev == EV_ERROR || ev == EV_CLOSED) {
            break;
        }
        got++;
        if (now_ms() >= end) {
            break;
        }
    }

    out("received %ld", got);
}

static void
cmd_expect_close(const args_t *a)
{
    long long deadline = now_ms() + opt_timeout(a, 1);

    while (conn_open) {
        int ev = next_event(deadline);
        if (ev == EV_TIMEOUT) {
            out("timeout");
            return;
        }
        if (ev == EV_ERROR) {
            return;
        }
    }
}

static void
cmd_wait(const args_t *a)
{
    long long end = now_ms() + (a->argc > 1 ? atoi(a->argv[1]) : 1000);

    while (conn_open && now_ms() < end) {
        int ev = next_event(end);
        if (ev == EV_TIMEOUT || ev == EV_ERROR) {
            break;
        }
    }
}

static void
cmd_keepalive(const args_t *a)
{
    if (a->argc < 3) {
        out("error usage: keepalive INTERVAL_MS TOTAL_MS [PAYLOAD]");
        return;
    }

    int interval = atoi(a->argv[1]);
    long long end = now_ms() + atoi(a->argv[2]);
    buf_t p = { 0 };
    int pings = 0;

    if (interval < 1 || parse_payload(a->argc > 3 ? a->argv[3] : "str:ka",
                                      &p) != 0)
    {
        out("error bad arguments");
        buf_free(&p);
        return;
    }

    while (conn_open && now_ms() < end) {
        if (send_frame(9, 1, p.p, p.len, NULL) != 0) {
            break;
        }
        pings++;

        long long next = now_ms() + interval;
        if (next > end) {
            next = end;
        }

        while (conn_open && now_ms() < next) {
            int ev = next_event(next);
            if (ev == EV_TIMEOUT || ev == EV_ERROR) {
                break;
            }
        }
    }

    out("pings %d", pings);
    buf_free(&p);
}

static void
cmd_disconnect(const args_t *a)
{
    if (fd >= 0) {
        if (flag(a, 1, "rst")) {
            struct linger l = { 1, 0 };
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        }
        conn_reset();
        out("disconnected");
    } else {
        out("error not connected");
    }
}

/* main loop */

static int
split_args(char *line, args_t *a)
{
    a->argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t", &save); t && a->argc < MAX_ARGS;
         t = strtok_r(NULL, " \t", &save))
    {
        a->argv[a->argc++] = t;
    }
    return a->argc;
}

static void
usage(void)
{
    fprintf(stderr,
        "usage: wsc [-t timeout_ms] [-T lifetime_s] [-x max_hex]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    int lifetime = 600;
    int c;

    while ((c = getopt(argc, argv, "t:T:x:")) != -1) {
        switch (c) {
        case 't': timeout_ms = atoi(optarg); break;
        case 'T': lifetime = atoi(optarg); break;
        case 'x': max_hex = (size_t) atol(optarg); break;
        default: usage();
        }
    }

    signal(SIGPIPE, SIG_IGN);
    if (lifetime > 0) {
        alarm((unsigned) lifetime);    /* hard bound on the process */
    }

    if (sodium_init() < 0) {
        fprintf(stderr, "wsc: sodium_init failed\n");
        return 2;
    }

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        fprintf(stderr, "wsc: SSL_CTX_new failed\n");
        return 2;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }

        /* the raw rest of the line for send_text / send_hex / request */
        char *rest = line;
        while (*rest == ' ' || *rest == '\t') rest++;
        char *sp = strpbrk(rest, " \t");
        char *after = sp ? sp + strspn(sp, " \t") : rest + strlen(rest);
        char *raw = strdup(after);

        args_t a;
        if (split_args(line, &a) == 0 || a.argv[0][0] == '#') {
            free(raw);
            continue;
        }

        const char *cmd = a.argv[0];

        if (strcmp(cmd, "quit") == 0) {
            out("done");
            free(raw);
            break;

        } else if (strcmp(cmd, "connect") == 0) {
            cmd_connect(&a);
        } else if (strcmp(cmd, "send_text") == 0) {
            cmd_send_raw(&a, 0, raw);
        } else if (strcmp(cmd, "send_hex") == 0) {
            cmd_send_raw(&a, 1, raw);
        } else if (strcmp(cmd, "http") == 0) {
            http_resp_t hr;
            http_read(now_ms() + opt_timeout(&a, 1), 0, &hr);
        } else if (strcmp(cmd, "request") == 0) {
            /* the request text is the first word; options follow */
            cmd_send_raw(&a, 0, a.argc > 1 ? a.argv[1] : "");
            if (conn_open) {
                http_resp_t hr;
                http_read(now_ms() + opt_timeout(&a, 2), 0, &hr);
            }
        } else if (strcmp(cmd, "upgrade") == 0) {
            cmd_upgrade(&a);
        } else if (strcmp(cmd, "challenge") == 0) {
            cmd_challenge(&a);
        } else if (strcmp(cmd, "auth_reply") == 0) {
            cmd_auth_reply(&a);
        } else if (strcmp(cmd, "auth") == 0) {
            cmd_auth(&a);
        } else if (strcmp(cmd, "binary") == 0) {
            cmd_data(&a, 2);
        } else if (strcmp(cmd, "text") == 0) {
            cmd_data(&a, 1);
        } else if (strcmp(cmd, "ping") == 0) {
            cmd_data(&a, 9);
        } else if (strcmp(cmd, "pong") == 0) {
            cmd_data(&a, 10);
        } else if (strcmp(cmd, "frame") == 0) {
            cmd_frame(&a);
        } else if (strcmp(cmd, "fragments") == 0) {
            cmd_fragments(&a);
        } else if (strcmp(cmd, "many") == 0) {
            cmd_many(&a);
        } else if (strcmp(cmd, "close") == 0) {
            cmd_close(&a);
        } else if (strcmp(cmd, "recv") == 0) {
            cmd_recv(&a);
        } else if (strcmp(cmd, "recv_all") == 0) {
            cmd_recv_all(&a);
        } else if (strcmp(cmd, "expect_close") == 0) {
            cmd_expect_close(&a);
        } else if (strcmp(cmd, "wait") == 0) {
            cmd_wait(&a);
        } else if (strcmp(cmd, "stall") == 0 || strcmp(cmd, "sleep") == 0) {
            sleep_ms(a.argc > 1 ? atoll(a.argv[1]) : 1000);
            out("stalled");
        } else if (strcmp(cmd, "keepalive") == 0) {
            cmd_keepalive(&a);
        } else if (strcmp(cmd, "autopong") == 0) {
            autopong = a.argc > 1 && strcmp(a.argv[1], "on") == 0;
            out("autopong %s", autopong ? "on" : "off");
        } else if (strcmp(cmd, "closereply") == 0) {
            closereply = a.argc > 1 && strcmp(a.argv[1], "on") == 0;
            out("closereply %s", closereply ? "on" : "off");
        } else if (strcmp(cmd, "disconnect") == 0) {
            cmd_disconnect(&a);
        } else if (strcmp(cmd, "state") == 0) {
            out("state %s", conn_open ? "open" : fd >= 0 ? "closed" : "none");
        } else if (strcmp(cmd, "pubkey") == 0) {
            unsigned char pk[32], sk[64];
            char b64[64];
            if (a.argc < 2 || seed_of(a.argv[1], pk, sk) != 0) {
                out("error bad seed");
            } else {
                sodium_bin2base64(b64, sizeof(b64), pk, 32,
                    sodium_base64_VARIANT_ORIGINAL);
                out_hex_line("pubkey ", pk, 32, NULL);
                out("pubkey_b64 %s", b64);
            }
        } else if (strcmp(cmd, "echo") == 0) {
            out("%s", raw);
        } else {
            out("error unknown command %s", cmd);
        }

        free(raw);
        out("done");
    }

    free(line);
    conn_reset();
    SSL_CTX_free(ctx);
    return 0;
}
