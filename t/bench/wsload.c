
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


/*
 * wsload: compat bridge delivery benchmark (loopback only).
 *
 * Opens CONNS TLS WebSocket connections to /v1/compat (at most
 * --handshakes of them in the middle of their handshake at any time) and
 * logs in node ids node_base .. node_base + CONNS - 1 with the Ed25519
 * challenge of spec 7.3; the keys come from a deterministic seed per node
 * id (--write-keys writes the matching key file for nginx).  Then SENDERS
 * UDP sockets, each registered first by a DISCOVER from the very socket,
 * send RELAY "05 <sender> <dest> <payload>" to the beacon's UDP port, each
 * sender walking round robin over all logged-in destinations; the
 * receivers count the deliveries, one binary message "06 <sender>
 * <payload>" each, and check them:
 *
 *   payload   "WSL1" <sender idx> <dest idx> <flow seq> <send ns> <phase>
 *             <pad>, then a filler pattern of the flow seq; a mismatch is
 *             "corrupt", a delivery to the wrong connection too;
 *   order     per (sender, destination) flow: a sequence number below the
 *             last one seen is an "inversion", the same one a "dup";
 *   latency   send to receive, p50 / p99 / max.
 *
 * Phases, all over the same connections:
 *
 *   probe     one relay to every destination, awaited (up to 3 s);
 *   capacity  --rounds closed loop runs: at most WINDOW undelivered relays
 *             per sender, refilled when half of it came back; a sender
 *             whose window did not move for --stall-ms is reset (counted);
 *   fixed     open loop at -r PPS, or at --load-pct % of the median
 *             capacity, sent in small sendmmsg bursts every --tick-us.
 *
 * Every ready connection sends a ping every --ping-s (the bridge ends
 * connections that send nothing for its idle timeout).
 *
 * Each phase: warmup, measurement (rates use this window only), drain
 * (receive only, ends early when everything came back).  A delivery is
 * credited to the phase that sent it (the phase number is in the payload),
 * so loss = sent - delivered per phase, after its drain.
 *
 * Output: "RESULT mode=wss_login ...", then one "RESULT mode=wss ..." line
 * per phase, key=value fields.
 */


#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sodium.h>


#define WL_MAX_CONNS      20000
#define WL_MAX_SENDERS    1024
#define WL_MAX_WINDOW     1024
#define WL_MAX_PIDS       64
#define WL_MAX_PHASES     64
#define WL_MAX_PAYLOAD    16000
#define WL_MIN_PAYLOAD    32
#define WL_MAX_CHUNK      16
#define WL_BATCH          64
#define WL_EVENTS         128
#define WL_RBUF           (WL_MAX_PAYLOAD + 4096)
#define WL_WBUF           2048
#define WL_READS          64          /* SSL_read calls per wakeup */
#define WL_MAX_LOOPS      500000000ULL
/* latency buckets: 10us wide up to 10ms, then 1ms wide up to 10s */
#define WL_LAT_FINE       1000
#define WL_LAT_BUCKETS    (WL_LAT_FINE + 9990)
#define WL_TRIES          3           /* login attempts per connection */
#define WL_NOTES          8           /* error messages shown per kind */

#define WL_DISCOVER        0x01
#define WL_DISCOVER_REPLY  0x02
#define WL_RELAY           0x05
#define WL_RELAY_DELIVER   0x06

#define WL_SEC             1000000000ULL
#define WL_MSEC            1000000ULL
#define WL_USEC            1000ULL

#define WL_GUID            "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WL_MAGIC           0x57534c31   /* "WSL1" */


typedef enum {
    WL_KIND_CONN = 1,
    WL_KIND_SENDER
} wl_kind_e;


typedef enum {
    WL_ST_IDLE = 0,
    WL_ST_TCP,
    WL_ST_TLS,
    WL_ST_HTTP,
    WL_ST_CHALLENGE,
    WL_ST_AUTH,
    WL_ST_READY,
    WL_ST_DEAD
} wl_state_e;


typedef struct {
    int                 kind;
    int                 idx;
    int                 fd;
    wl_state_e          state;
    int                 tries;
    int                 worker;        /* index in cf.pids, -1 unknown */
    int                 in_pending;
    int                 want_write;    /* TLS needs the socket writable */
    uint32_t            events;        /* current epoll interest */
    uint32_t            node_id;
    uint64_t            started;
    uint64_t            recv;
    SSL                *ssl;
    uint8_t            *rb;
    size_t              rlen;
    size_t              wlen;
    size_t              wpos;
    uint8_t             wb[WL_WBUF];
    char                accept[32];
} wl_conn_t;


typedef struct {
    int                 kind;
    int                 idx;
    int                 fd;
    int                 acked;
    uint32_t            id;
    int                 outstanding;
    uint64_t            progress;
    uint32_t            cursor;
} wl_sender_t;


typedef struct {
    uint64_t            sent;
    uint64_t            recv;
    uint64_t            sendfail;
    uint64_t            stalls;
    uint64_t            abandoned;
    uint64_t            inversions;
    uint64_t            dups;
    uint64_t            lat_max;
    uint64_t            lat_n;
    uint64_t            skipped;       /* open loop: schedule not kept */
    uint64_t            loops;
    uint64_t            max_gap;       /* longest pass of the main loop */
    int                 reported;
    uint64_t           *lat;
} wl_phase_t;


typedef struct {
    const char         *target;
    struct sockaddr_in  udp;
    struct sockaddr_in  tls;
    int                 nconns;
    int                 nsenders;
    int                 window;
    int                 handshakes;
    uint64_t            rate;
    int                 rounds;
    int                 load_pct;
    double              duration;
    double              warmup;
    double              drain;
    int                 payload;
    uint32_t            node_base;
    uint32_t            sender_base;
    int                 max_seconds;
    double              login_time;
    double              hs_timeout;
    int                 rcvbuf;
    uint64_t            tick;
    uint64_t            stall;
    uint64_t            ping;
    pid_t               pids[WL_MAX_PIDS];
    int                 npids;
    const char         *write_keys;
    const char         *host;
} wl_conf_t;


/* totals that are not per phase */

typedef struct {
    uint64_t            recv;          /* all deliveries, any phase */
    uint64_t            sent;          /* all relays sent */
    uint64_t            corrupt;
    uint64_t            late;          /* for a phase already reported */
    uint64_t            other;         /* unexpected frames / datagrams */
    uint64_t            closed;        /* ready connections lost */
    uint64_t            pong_drops;
    uint64_t            pings;
    uint64_t            login_fail;
    uint64_t            retries;
    int                 ready;
} wl_count_t;


static wl_conf_t      cf;
static wl_count_t     cnt;
static wl_conn_t     *conns;
static wl_sender_t   *snd;
static wl_phase_t     phases[WL_MAX_PHASES];
static int            cur_phase = -1;
static int            closed_loop;
static int           *dests;          /* connection index per destination */
static int            ndests;
static uint32_t      *flow_sent;      /* [sender * nconns + conn] last seq */
static uint32_t      *flow_recv;
static int           *pending;        /* connections with buffered TLS data */
static int            npending;
static int            epfd = -1;
static SSL_CTX       *ctx;
static uint64_t       wl_start;
static uint64_t       rnd_state = 0x9e3779b97f4a7c15ULL;
static int            notes[8];

/* --timeline: per 10ms of the current phase, deliveries and worst latency */
#define WL_TL_SLOTS       6000
static int            timeline;
static uint64_t       tl_t0;
static uint32_t       tl_recv[WL_TL_SLOTS];
static uint32_t       tl_sent[WL_TL_SLOTS];
static uint32_t       tl_lat[WL_TL_SLOTS];

static struct mmsghdr smsg[WL_BATCH];
static struct iovec   siov[WL_BATCH];
static uint8_t       *sbuf;           /* WL_BATCH datagrams */
static uint8_t        rbuf_udp[65536];


static uint64_t
wl_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * WL_SEC + (uint64_t) ts.tv_nsec;
}


static uint64_t
wl_rand(void)
{
    /* xorshift64: masks and WebSocket keys need no cryptographic quality */

    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;

    return rnd_state;
}


static void
wl_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}


static uint32_t
wl_get32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}


static void
wl_put64(uint8_t *p, uint64_t v)
{
    wl_put32(p, (uint32_t) (v >> 32));
    wl_put32(p + 4, (uint32_t) v);
}


static uint64_t
wl_get64(const uint8_t *p)
{
    return ((uint64_t) wl_get32(p) << 32) | wl_get32(p + 4);
}


/* at most WL_NOTES messages of each kind on stderr */

static void
wl_note(int kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
wl_note(int kind, const char *fmt, ...)
{
    va_list  ap;

    if (notes[kind]++ >= WL_NOTES) {
        return;
    }

    fprintf(stderr, "wsload: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}


static void
wl_usage(void)
{
    fprintf(stderr,
        "usage: wsload -p UDP_PORT -P TLS_PORT [options]\n"
        "       wsload --write-keys FILE [-c CONNS] [--node-base ID]\n"
        "  -c CONNS          WebSocket connections / node ids (default 1000)\n"
        "  -n SENDERS        UDP sender sockets (default 32)\n"
        "  -w WINDOW         closed loop: undelivered relays per sender"
        " (default 128)\n"
        "  -r PPS            fixed open-loop rate (default: --load-pct)\n"
        "  --load-pct P      fixed rate = P %% of the median capacity"
        " (default 50, 0 = no fixed phase)\n"
        "  --rounds N        closed loop capacity runs (default 3)\n"
        "  -d SECONDS        measurement per phase (default 3)\n"
        "  -W SECONDS        warmup per phase (default 1)\n"
        "  --drain SECONDS   drain per phase (default 1)\n"
        "  --payload BYTES   relay payload, %d..%d (default 64)\n"
        "  --handshakes N    concurrent handshakes (default 100)\n"
        "  --node-base ID    first WebSocket node id (default 0x40000000)\n"
        "  --sender-base ID  first UDP sender id (default 0x50000000)\n"
        "  --host NAME       Host header (default 127.0.0.1:TLS_PORT)\n"
        "  --cpu-pids P,P    nginx worker pids: CPU and connection owners\n"
        "  --login-time SEC  bound on the login phase (default 60)\n"
        "  --rcvbuf BYTES    UDP socket buffers (default 4194304)\n"
        "  --tick-us US      open-loop send tick (default 100)\n"
        "  --stall-ms MS     window reset after MS without progress (200)\n"
        "  --ping-s SEC      keepalive ping per connection (default 20,"
        " 0 = none)\n"
        "  --timeline        per 10ms of each phase: sent, delivered, worst"
        " latency (stderr)\n"
        "  -T NAME           target label (default nginx)\n"
        "  -t SECONDS        hard time limit (default 180)\n",
        WL_MIN_PAYLOAD, WL_MAX_PAYLOAD);
}


static int
wl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char                *end;
    unsigned long long   v;

    errno = 0;
    v = strtoull(s, &end, 0);

    if (errno != 0 || end == s || *end != '\0' || *s == '-'
        || v < min || v > max)
    {
        fprintf(stderr, "wsload: bad number \"%s\" (%llu..%llu)\n", s,
                (unsigned long long) min, (unsigned long long) max);
        return -1;
    }

    *out = v;
    return 0;
}


static int
wl_parse_int(const char *s, int min, int max, int *out)
{
    uint64_t  v;

    if (wl_parse_u64(s, (uint64_t) min, (uint64_t) max, &v) != 0) {
        return -1;
    }

    *out = (int) v;
    return 0;
}


static int
wl_parse_double(const char *s, double min, double max, double *out)
{
    char    *end;
    double   v;

    errno = 0;
    v = strtod(s, &end);

    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max)) {
        fprintf(stderr, "wsload: bad number \"%s\" (%g..%g)\n", s, min, max);
        return -1;
    }

    *out = v;
    return 0;
}


static int
wl_parse_pids(const char *s)
{
    char  *end;
    long   v;

    cf.npids = 0;

    while (*s != '\0' && cf.npids < WL_MAX_PIDS) {
        errno = 0;
        v = strtol(s, &end, 10);

        if (errno != 0 || end == s || v <= 0
            || (*end != ',' && *end != '\0'))
        {
            fprintf(stderr, "wsload: bad --cpu-pids\n");
            return -1;
        }

        cf.pids[cf.npids++] = (pid_t) v;
        s = (*end == ',') ? end + 1 : end;
    }

    return 0;
}


/* CPU time of a process in ns (scheduler runtime), 0 if it is gone */

static uint64_t
wl_proc_ns(pid_t pid)
{
    char                 path[64];
    FILE                *f;
    int                  n;
    unsigned long long   v;

    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int) pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }

    n = fscanf(f, "%llu", &v);
    fclose(f);

    return n == 1 ? v : 0;
}


/*
 * host-wide CPU time in ns from /proc/stat: busy (user, nice, system, irq,
 * softirq) and stolen by the hypervisor
 */

static void
wl_host_ns(uint64_t *busy, uint64_t *steal)
{
    int                  n;
    long                 hz;
    FILE                *f;
    unsigned long long   v[8];

    *busy = 0;
    *steal = 0;

    f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return;
    }

    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);

    hz = sysconf(_SC_CLK_TCK);
    if (n != 8 || hz <= 0) {
        return;
    }

    *busy = (v[0] + v[1] + v[2] + v[5] + v[6]) * (WL_SEC / (uint64_t) hz);
    *steal = v[7] * (WL_SEC / (uint64_t) hz);
}


static uint64_t
wl_self_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);

    return (uint64_t) ts.tv_sec * WL_SEC + (uint64_t) ts.tv_nsec;
}


/* ------------------------------------------------------------ keys */


static void
wl_keypair(uint32_t id, unsigned char pk[32], unsigned char sk[64])
{
    char           s[64];
    unsigned char  seed[crypto_hash_sha256_BYTES];

    snprintf(s, sizeof(s), "wsload-bench-seed:%u", id);
    crypto_hash_sha256(seed, (const unsigned char *) s, strlen(s));
    crypto_sign_seed_keypair(pk, sk, seed);
}


static int
wl_write_keys(const char *path)
{
    int            i;
    char           b64[64];
    FILE          *f;
    unsigned char  pk[32], sk[64];

    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "wsload: %s: %s\n", path, strerror(errno));
        return 1;
    }

    fprintf(f, "# wsload bench keys: node_id base64-ed25519-public-key\n");

    for (i = 0; i < cf.nconns; i++) {
        wl_keypair(cf.node_base + (uint32_t) i, pk, sk);
        sodium_bin2base64(b64, sizeof(b64), pk, 32,
                          sodium_base64_VARIANT_ORIGINAL);
        fprintf(f, "%u %s\n", cf.node_base + (uint32_t) i, b64);
    }

    if (fclose(f) != 0) {
        fprintf(stderr, "wsload: %s: %s\n", path, strerror(errno));
        return 1;
    }

    return 0;
}


/* ------------------------------------------------------- epoll, I/O */


static int
wl_epoll_set(int fd, void *ptr, uint32_t *cur, uint32_t events)
{
    struct epoll_event  ev;

    if (*cur == events) {
        return 0;
    }

    ev.events = events;
    ev.data.ptr = ptr;

    if (epoll_ctl(epfd, *cur ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == -1)
    {
        return -1;
    }

    *cur = events;
    return 0;
}


static void
wl_pending_add(wl_conn_t *c)
{
    if (!c->in_pending) {
        c->in_pending = 1;
        pending[npending++] = c->idx;
    }
}


static void conn_start(wl_conn_t *c);


static void
conn_close(wl_conn_t *c)
{
    if (c->fd != -1) {
        (void) epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    }

    if (c->ssl != NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }

    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    c->events = 0;
    c->rlen = 0;
    c->wlen = 0;
    c->wpos = 0;
    c->want_write = 0;
}


/* a connection failed: retried while logging in, lost once it was ready */

static void
conn_fail(wl_conn_t *c, const char *why)
{
    unsigned long  e;
    char           buf[256];

    e = ERR_get_error();

    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();

    } else {
        buf[0] = '\0';
    }

    if (c->state == WL_ST_READY) {
        cnt.closed++;
        cnt.ready--;
        wl_note(0, "node %u (ready) lost: %s%s%s", c->node_id, why,
                buf[0] ? " " : "", buf);
        conn_close(c);
        c->state = WL_ST_DEAD;
        return;
    }

    wl_note(1, "node %u login attempt %d failed in state %d: %s%s%s",
            c->node_id, c->tries, (int) c->state, why, buf[0] ? " " : "",
            buf);

    conn_close(c);

    if (c->tries < WL_TRIES) {
        cnt.retries++;
        c->state = WL_ST_IDLE;      /* picked up again by the scheduler */

    } else {
        cnt.login_fail++;
        c->state = WL_ST_DEAD;
    }
}


/* a masked client frame into the connection's write buffer */

static int
conn_queue_frame(wl_conn_t *c, int opcode, const uint8_t *p, size_t n)
{
    size_t    i, hl;
    uint8_t  *o, mask[4];
    uint32_t  m;

    hl = (n < 126) ? 6 : 8;

    if (n > 65535 || c->wlen + hl + n > WL_WBUF) {
        return -1;
    }

    if (c->wpos == c->wlen) {
        c->wpos = 0;
        c->wlen = 0;
    }

    o = c->wb + c->wlen;
    o[0] = (uint8_t) (0x80 | opcode);

    if (n < 126) {
        o[1] = (uint8_t) (0x80 | n);

    } else {
        o[1] = 0x80 | 126;
        o[2] = (uint8_t) (n >> 8);
        o[3] = (uint8_t) n;
    }

    m = (uint32_t) wl_rand();
    wl_put32(mask, m);
    memcpy(o + hl - 4, mask, 4);

    for (i = 0; i < n; i++) {
        o[hl + i] = p[i] ^ mask[i & 3];
    }

    c->wlen += hl + n;

    return 0;
}


/* 1 flushed, 0 blocked, -1 error */

static int
conn_flush(wl_conn_t *c)
{
    int  r, e;

    while (c->wpos < c->wlen) {
        ERR_clear_error();
        r = SSL_write(c->ssl, c->wb + c->wpos, (int) (c->wlen - c->wpos));

        if (r > 0) {
            c->wpos += (size_t) r;
            continue;
        }

        e = SSL_get_error(c->ssl, r);

        if (e == SSL_ERROR_WANT_WRITE) {
            c->want_write = 1;
            return 0;
        }

        if (e == SSL_ERROR_WANT_READ) {
            return 0;
        }

        return -1;
    }

    c->wpos = 0;
    c->wlen = 0;

    return 1;
}


static int
conn_send_request(wl_conn_t *c)
{
    int            n;
    char           host[64];
    unsigned char  key[16], digest[EVP_MAX_MD_SIZE];
    char           key64[32], buf[512];
    unsigned int   dlen;

    wl_put64(key, wl_rand());
    wl_put64(key + 8, wl_rand());
    sodium_bin2base64(key64, sizeof(key64), key, sizeof(key),
                      sodium_base64_VARIANT_ORIGINAL);

    /* the Sec-WebSocket-Accept we expect back */

    n = snprintf(buf, sizeof(buf), "%s%s", key64, WL_GUID);

    if (EVP_Digest(buf, (size_t) n, digest, &dlen, EVP_sha1(), NULL) != 1) {
        return -1;
    }

    sodium_bin2base64(c->accept, sizeof(c->accept), digest, dlen,
                      sodium_base64_VARIANT_ORIGINAL);

    if (cf.host != NULL) {
        snprintf(host, sizeof(host), "%s", cf.host);

    } else {
        snprintf(host, sizeof(host), "127.0.0.1:%u",
                 (unsigned) ntohs(cf.tls.sin_port));
    }

    n = snprintf(buf, sizeof(buf),
                 "GET /v1/compat HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Protocol: pilot.v1\r\n"
                 "User-Agent: wsload\r\n"
                 "\r\n", host, key64);

    if (n <= 0 || (size_t) n > WL_WBUF) {
        return -1;
    }

    memcpy(c->wb, buf, (size_t) n);
    c->wpos = 0;
    c->wlen = (size_t) n;

    return 0;
}


/* the 101 response: 1 done (consumed), 0 incomplete, -1 rejected */

static int
conn_http(wl_conn_t *c)
{
    char    *h, *end, *p, *eol;
    size_t   hlen;
    int      accept_ok;

    end = memmem(c->rb, c->rlen, "\r\n\r\n", 4);

    if (end == NULL) {
        if (c->rlen > 8192) {
            conn_fail(c, "HTTP response header too long");
            return -1;
        }

        return 0;
    }

    hlen = (size_t) (end - (char *) c->rb) + 4;
    h = (char *) c->rb;
    *end = '\0';                        /* the blank line is consumed */

    if (strncmp(h, "HTTP/1.1 101", 12) != 0) {
        eol = strstr(h, "\r\n");
        if (eol) {
            *eol = '\0';
        }

        wl_note(2, "node %u: upgrade refused: %s", c->node_id, h);
        conn_fail(c, "upgrade refused");
        return -1;
    }

    accept_ok = 0;

    for (p = strstr(h, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, "Sec-WebSocket-Accept:", 21) == 0) {
            p += 2 + 21;
            p += strspn(p, " \t");
            accept_ok = strncmp(p, c->accept, strlen(c->accept)) == 0;
            break;
        }
    }

    if (!accept_ok) {
        conn_fail(c, "bad or missing Sec-WebSocket-Accept");
        return -1;
    }

    memmove(c->rb, c->rb + hlen, c->rlen - hlen);
    c->rlen -= hlen;
    c->state = WL_ST_CHALLENGE;

    return 1;
}


static int
conn_challenge(wl_conn_t *c, const uint8_t *p, size_t n)
{
    char           js[512], nonce[160], m[256], reply[512];
    char           sig64[128], pk64[64];
    const char    *q, *e;
    long long      ts;
    size_t         len;
    unsigned char  pk[32], sk[64], sig[crypto_sign_BYTES];

    if (n >= sizeof(js)) {
        return -1;
    }

    memcpy(js, p, n);
    js[n] = '\0';

    if (strstr(js, "\"auth_challenge\"") == NULL) {
        return -1;
    }

    q = strstr(js, "\"nonce\"");
    if (q == NULL || (q = strchr(q + 7, '"')) == NULL) {
        return -1;
    }

    q++;
    e = strchr(q, '"');
    if (e == NULL || (size_t) (e - q) >= sizeof(nonce) || e == q) {
        return -1;
    }

    memcpy(nonce, q, (size_t) (e - q));
    nonce[e - q] = '\0';

    q = strstr(js, "\"ts\"");
    if (q == NULL || (q = strchr(q, ':')) == NULL) {
        return -1;
    }

    ts = strtoll(q + 1, NULL, 10);

    wl_keypair(c->node_id, pk, sk);

    len = (size_t) snprintf(m, sizeof(m), "compat_auth:%u:%lld:%s",
                            c->node_id, ts, nonce);

    crypto_sign_detached(sig, NULL, (unsigned char *) m, len, sk);
    sodium_memzero(sk, sizeof(sk));

    sodium_bin2base64(sig64, sizeof(sig64), sig, sizeof(sig),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(pk64, sizeof(pk64), pk, sizeof(pk),
                      sodium_base64_VARIANT_ORIGINAL);

    len = (size_t) snprintf(reply, sizeof(reply),
                            "{\"type\":\"auth_reply\",\"node_id\":%u,"
                            "\"public_key\":\"%s\",\"sig\":\"%s\"}",
                            c->node_id, pk64, sig64);

    if (conn_queue_frame(c, 1, (uint8_t *) reply, len) != 0) {
        return -1;
    }

    c->state = WL_ST_AUTH;

    return 0;
}


static void
wl_on_delivery(wl_conn_t *c, const uint8_t *p, size_t n, uint64_t now)
{
    int           i;
    uint8_t       b;
    uint32_t      sid, sidx, didx, seq, ph, flow, last;
    uint64_t      ts, lat, bucket;
    wl_phase_t   *P;
    const uint8_t *q;

    cnt.recv++;
    c->recv++;

    if (n != 5 + (size_t) cf.payload || p[0] != WL_RELAY_DELIVER) {
        cnt.corrupt++;
        return;
    }

    sid = wl_get32(p + 1);
    q = p + 5;

    if (wl_get32(q) != WL_MAGIC) {
        cnt.corrupt++;
        return;
    }

    sidx = wl_get32(q + 4);
    didx = wl_get32(q + 8);
    seq = wl_get32(q + 12);
    ts = wl_get64(q + 16);
    ph = wl_get32(q + 24);

    if (sidx >= (uint32_t) cf.nsenders || sid != snd[sidx].id
        || didx != (uint32_t) c->idx || ph >= WL_MAX_PHASES
        || (int) ph > cur_phase)
    {
        cnt.corrupt++;
        return;
    }

    for (i = 32; i < cf.payload; i++) {
        b = (uint8_t) (i * 31 + seq);
        if (q[i] != b) {
            cnt.corrupt++;
            return;
        }
    }

    P = &phases[ph];

    flow = sidx * (uint32_t) cf.nconns + didx;
    last = flow_recv[flow];

    if (seq == last) {
        P->dups++;
        return;
    }

    if (seq < last) {
        P->inversions++;

    } else {
        flow_recv[flow] = seq;
    }

    P->recv++;

    if (P->reported) {
        cnt.late++;
    }

    lat = now > ts ? (now - ts) / WL_USEC : 0;

    if (lat > P->lat_max) {
        P->lat_max = lat;
    }

    if (timeline && (int) ph == cur_phase && now > tl_t0) {
        bucket = (now - tl_t0) / (10 * WL_MSEC);

        if (bucket < WL_TL_SLOTS) {
            tl_recv[bucket]++;
            if (lat > tl_lat[bucket]) {
                tl_lat[bucket] = (uint32_t) lat;
            }
        }
    }

    bucket = (lat < 10000) ? lat / 10 : WL_LAT_FINE + (lat - 10000) / 1000;
    P->lat[bucket < WL_LAT_BUCKETS ? bucket : WL_LAT_BUCKETS - 1]++;
    P->lat_n++;

    if ((int) ph == cur_phase && closed_loop && snd[sidx].outstanding > 0) {
        snd[sidx].outstanding--;
        snd[sidx].progress = now;
    }
}


/* complete frames in rb; -1 when the connection was failed */

static int
conn_frames(wl_conn_t *c, uint64_t now)
{
    int        op, fin;
    size_t     off, hl, len, i;
    uint8_t   *f;
    unsigned   code;
    char       reason[128];

    off = 0;

    while (c->rlen - off >= 2) {
        f = c->rb + off;
        fin = f[0] & 0x80;
        op = f[0] & 0x0f;

        if (f[0] & 0x70) {
            conn_fail(c, "RSV bits in a server frame");
            return -1;
        }

        if (f[1] & 0x80) {
            conn_fail(c, "masked server frame");
            return -1;
        }

        len = f[1] & 0x7f;
        hl = 2;

        if (len == 126) {
            if (c->rlen - off < 4) {
                break;
            }
            len = ((size_t) f[2] << 8) | f[3];
            hl = 4;

        } else if (len == 127) {
            if (c->rlen - off < 10) {
                break;
            }
            len = (size_t) wl_get64(f + 2);
            hl = 10;
        }

        if (len > WL_RBUF - 16) {
            conn_fail(c, "server frame too large for the client buffer");
            return -1;
        }

        if (c->rlen - off < hl + len) {
            break;
        }

        off += hl + len;
        f += hl;

        if (!fin || op == 0) {
            conn_fail(c, "fragmented server message");
            return -1;
        }

        switch (op) {

        case 0x1:
            if (c->state == WL_ST_CHALLENGE) {
                if (conn_challenge(c, f, len) != 0) {
                    conn_fail(c, "bad auth_challenge");
                    return -1;
                }

            } else if (c->state == WL_ST_AUTH) {
                if (memmem(f, len, "\"auth_ok\"", 9) == NULL) {
                    wl_note(2, "node %u: login answer: %.*s", c->node_id,
                            (int) (len > 200 ? 200 : len), (char *) f);
                    conn_fail(c, "auth not ok");
                    return -1;
                }

                c->state = WL_ST_READY;
                cnt.ready++;

            } else {
                cnt.other++;
            }

            break;

        case 0x2:
            if (c->state == WL_ST_READY) {
                wl_on_delivery(c, f, len, now);

            } else {
                cnt.other++;
            }

            break;

        case 0x8:
            code = len >= 2 ? ((unsigned) f[0] << 8) | f[1] : 1005;
            i = len > 2 ? len - 2 : 0;
            if (i >= sizeof(reason)) {
                i = sizeof(reason) - 1;
            }
            memcpy(reason, f + 2, i);
            reason[i] = '\0';

            wl_note(3, "node %u: close %u \"%s\" from the server",
                    c->node_id, code, reason);
            conn_fail(c, "close frame from the server");
            return -1;

        case 0x9:
            if (len > 125 || conn_queue_frame(c, 0xa, f, len) != 0) {
                cnt.pong_drops++;
            }

            break;

        case 0xa:
            break;

        default:
            conn_fail(c, "reserved opcode");
            return -1;
        }
    }

    if (off > 0) {
        memmove(c->rb, c->rb + off, c->rlen - off);
        c->rlen -= off;
    }

    return 0;
}


/* drives a connection as far as it goes without blocking */

static void
conn_io(wl_conn_t *c, uint64_t now)
{
    int       r, e, i, err;
    uint32_t  want;
    socklen_t len;

    if (c->state == WL_ST_TCP) {
        err = 0;
        len = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1
            || err != 0)
        {
            conn_fail(c, err ? strerror(err) : "connect failed");
            return;
        }

        c->ssl = SSL_new(ctx);

        if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
            conn_fail(c, "SSL_new failed");
            return;
        }

        SSL_set_connect_state(c->ssl);
        c->state = WL_ST_TLS;
    }

    c->want_write = 0;

    if (c->state == WL_ST_TLS) {
        ERR_clear_error();
        r = SSL_connect(c->ssl);

        if (r != 1) {
            e = SSL_get_error(c->ssl, r);

            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                want = (e == SSL_ERROR_WANT_READ) ? EPOLLIN : EPOLLOUT;

                if (wl_epoll_set(c->fd, c, &c->events, want) != 0) {
                    conn_fail(c, "epoll_ctl");
                }

                return;
            }

            conn_fail(c, "TLS handshake failed");
            return;
        }

        if (conn_send_request(c) != 0) {
            conn_fail(c, "request");
            return;
        }

        c->state = WL_ST_HTTP;
    }

    if (c->wpos < c->wlen && conn_flush(c) < 0) {
        conn_fail(c, "write failed");
        return;
    }

    for (i = 0; i < WL_READS; i++) {

        if (c->rlen >= WL_RBUF) {
            conn_fail(c, "read buffer full");
            return;
        }

        ERR_clear_error();
        r = SSL_read(c->ssl, c->rb + c->rlen, (int) (WL_RBUF - c->rlen));

        if (r > 0) {
            c->rlen += (size_t) r;

            if (c->state == WL_ST_HTTP) {
                r = conn_http(c);
                if (r < 0) {
                    return;
                }
                if (r == 0) {
                    continue;
                }
            }

            if (conn_frames(c, now) != 0) {
                return;
            }

            if (c->wpos < c->wlen && conn_flush(c) < 0) {
                conn_fail(c, "write failed");
                return;
            }

            continue;
        }

        e = SSL_get_error(c->ssl, r);

        if (e == SSL_ERROR_WANT_READ) {
            break;
        }

        if (e == SSL_ERROR_WANT_WRITE) {
            c->want_write = 1;
            break;
        }

        if (e == SSL_ERROR_ZERO_RETURN
            || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
        {
            conn_fail(c, errno ? strerror(errno) : "EOF from the server");
            return;
        }

        conn_fail(c, "TLS read failed");
        return;
    }

    if (i == WL_READS && SSL_has_pending(c->ssl)) {
        wl_pending_add(c);
    }

    want = EPOLLIN;

    if (c->want_write || c->wpos < c->wlen) {
        want |= EPOLLOUT;
    }

    if (wl_epoll_set(c->fd, c, &c->events, want) != 0) {
        conn_fail(c, "epoll_ctl");
    }
}


static void
conn_start(wl_conn_t *c)
{
    int  fd, one;

    c->tries++;
    c->started = wl_now();
    c->events = 0;
    c->rlen = 0;
    c->wlen = 0;
    c->wpos = 0;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        c->fd = -1;
        conn_fail(c, strerror(errno));
        return;
    }

    c->fd = fd;

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (connect(fd, (struct sockaddr *) &cf.tls, sizeof(cf.tls)) == -1
        && errno != EINPROGRESS)
    {
        conn_fail(c, strerror(errno));
        return;
    }

    c->state = WL_ST_TCP;

    if (wl_epoll_set(fd, c, &c->events, EPOLLOUT) != 0) {
        conn_fail(c, "epoll_ctl");
    }
}


/* ------------------------------------------------------------ UDP */


static int
sender_open(wl_sender_t *s)
{
    int                 fd;
    uint32_t            none;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        perror("wsload: socket");
        return -1;
    }

    if (cf.rcvbuf > 0) {
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cf.rcvbuf,
                          sizeof(cf.rcvbuf));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cf.rcvbuf,
                          sizeof(cf.rcvbuf));
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || connect(fd, (struct sockaddr *) &cf.udp, sizeof(cf.udp)) == -1)
    {
        perror("wsload: bind/connect");
        close(fd);
        return -1;
    }

    s->fd = fd;
    none = 0;

    if (wl_epoll_set(fd, s, &none, EPOLLIN) != 0) {
        perror("wsload: epoll_ctl");
        close(fd);
        s->fd = -1;
        return -1;
    }

    return 0;
}


static void
sender_readable(wl_sender_t *s)
{
    int      i;
    ssize_t  n;

    for (i = 0; i < 64; i++) {
        n = recv(s->fd, rbuf_udp, sizeof(rbuf_udp), MSG_DONTWAIT);

        if (n < 0) {
            return;
        }

        if (n == 8 && rbuf_udp[0] == WL_DISCOVER_REPLY && rbuf_udp[1] == 4) {
            s->acked = 1;

        } else {
            cnt.other++;
        }
    }
}


/*
 * n relays from one sender, round robin over the destinations; returns how
 * many the kernel took (the flow numbers of the others are taken back)
 */

static int
sender_send(wl_sender_t *s, int n, uint64_t now, wl_phase_t *P)
{
    int        i, k;
    uint8_t   *m, *q;
    uint32_t   didx, flow, seq;
    int        j;

    if (n > WL_BATCH) {
        n = WL_BATCH;
    }

    for (i = 0; i < n; i++) {
        didx = (uint32_t) dests[(s->cursor + (uint32_t) i) % (uint32_t) ndests];
        flow = (uint32_t) s->idx * (uint32_t) cf.nconns + didx;
        seq = ++flow_sent[flow];

        m = sbuf + (size_t) i * (9 + (size_t) cf.payload);
        m[0] = WL_RELAY;
        wl_put32(m + 1, s->id);
        wl_put32(m + 5, conns[didx].node_id);

        q = m + 9;
        wl_put32(q, WL_MAGIC);
        wl_put32(q + 4, (uint32_t) s->idx);
        wl_put32(q + 8, didx);
        wl_put32(q + 12, seq);
        wl_put64(q + 16, now);
        wl_put32(q + 24, (uint32_t) cur_phase);
        wl_put32(q + 28, 0);

        for (j = 32; j < cf.payload; j++) {
            q[j] = (uint8_t) (j * 31 + seq);
        }

        siov[i].iov_base = m;
        siov[i].iov_len = 9 + (size_t) cf.payload;
        memset(&smsg[i], 0, sizeof(smsg[i]));
        smsg[i].msg_hdr.msg_iov = &siov[i];
        smsg[i].msg_hdr.msg_iovlen = 1;
    }

    k = sendmmsg(s->fd, smsg, (unsigned int) n, 0);

    if (k < 0) {
        k = 0;
    }

    /* take back the sequence numbers of what did not go out, newest first */

    for (i = n - 1; i >= k; i--) {
        didx = (uint32_t) dests[(s->cursor + (uint32_t) i) % (uint32_t) ndests];
        flow_sent[(uint32_t) s->idx * (uint32_t) cf.nconns + didx]--;
    }

    s->cursor += (uint32_t) k;

    if (closed_loop) {
        if (s->outstanding == 0) {
            s->progress = now;
        }

        s->outstanding += k;
    }

    if (timeline && now > tl_t0 && (now - tl_t0) / (10 * WL_MSEC) < WL_TL_SLOTS)
    {
        tl_sent[(now - tl_t0) / (10 * WL_MSEC)] += (uint32_t) k;
    }

    P->sent += (uint64_t) k;
    P->sendfail += (uint64_t) (n - k);
    cnt.sent += (uint64_t) k;

    return k;
}


/* ------------------------------------------------------------ poll */


/*
 * a ping on every ready connection every --ping-s: the bridge ends
 * connections that send nothing for its idle timeout (90 s by default),
 * and the receivers never send data
 */

static void
wl_keepalive(uint64_t now)
{
    int                  i;
    uint32_t             want;
    wl_conn_t           *c;
    static uint64_t      next;
    static const uint8_t ka[2] = { 'k', 'a' };

    if (cf.ping == 0) {
        return;
    }

    if (next == 0) {
        next = now + cf.ping;
        return;
    }

    if (now < next) {
        return;
    }

    next = now + cf.ping;

    for (i = 0; i < cf.nconns; i++) {
        c = &conns[i];

        if (c->state != WL_ST_READY || conn_queue_frame(c, 0x9, ka, 2) != 0) {
            continue;
        }

        cnt.pings++;

        if (conn_flush(c) < 0) {
            conn_fail(c, "write failed");
            continue;
        }

        want = EPOLLIN;

        if (c->want_write || c->wpos < c->wlen) {
            want |= EPOLLOUT;
        }

        if (wl_epoll_set(c->fd, c, &c->events, want) != 0) {
            conn_fail(c, "epoll_ctl");
        }
    }
}



static void
wl_poll(uint64_t timeout)
{
    int                 i, n, k, list[WL_EVENTS];
    int                 kind;
    uint64_t            now;
    struct timespec     ts;
    struct epoll_event  ev[WL_EVENTS];
    wl_conn_t          *c;

    if (npending > 0) {
        timeout = 0;
    }

    ts.tv_sec = (time_t) (timeout / WL_SEC);
    ts.tv_nsec = (long) (timeout % WL_SEC);

    n = epoll_pwait2(epfd, ev, WL_EVENTS, &ts, NULL);

    if (n == -1 && errno == ENOSYS) {
        n = epoll_wait(epfd, ev, WL_EVENTS,
                       (int) ((timeout + WL_MSEC - 1) / WL_MSEC));
    }

    now = wl_now();

    for (i = 0; i < n; i++) {
        kind = *(int *) ev[i].data.ptr;

        if (kind == WL_KIND_SENDER) {
            sender_readable(ev[i].data.ptr);
            continue;
        }

        c = ev[i].data.ptr;

        if (c->fd == -1 || c->state == WL_ST_DEAD || c->state == WL_ST_IDLE) {
            continue;
        }

        conn_io(c, now);
    }

    wl_keepalive(now);

    /* connections whose TLS layer holds data the socket no longer shows */

    k = npending < WL_EVENTS ? npending : WL_EVENTS;

    for (i = 0; i < k; i++) {
        list[i] = pending[i];
    }

    memmove(pending, pending + k, (size_t) (npending - k) * sizeof(int));
    npending -= k;

    for (i = 0; i < k; i++) {
        c = &conns[list[i]];
        c->in_pending = 0;

        if (c->fd != -1 && c->state != WL_ST_DEAD && c->state != WL_ST_IDLE) {
            conn_io(c, now);
        }
    }
}


/* ----------------------------------------------------------- login */


static int
wl_login(void)
{
    int        i, next, busy, done, started;
    uint64_t   t0, now, deadline, next_check, loops, hs_to;
    double     secs;

    t0 = wl_now();
    deadline = t0 + (uint64_t) (cf.login_time * (double) WL_SEC);
    hs_to = (uint64_t) (cf.hs_timeout * (double) WL_SEC);
    next_check = t0 + 100 * WL_MSEC;
    next = 0;
    started = 0;

    for (loops = 0; loops < WL_MAX_LOOPS; loops++) {
        now = wl_now();

        if (now >= deadline) {
            break;
        }

        busy = 0;
        done = 0;

        for (i = 0; i < cf.nconns; i++) {
            switch (conns[i].state) {
            case WL_ST_READY:
            case WL_ST_DEAD:
                done++;
                break;
            case WL_ST_IDLE:
                break;
            default:
                busy++;
            }
        }

        if (done == cf.nconns) {
            break;
        }

        /* new connections first, then the ones to retry */

        for (i = 0; i < cf.nconns && busy < cf.handshakes; i++) {
            int  j = (next + i) % cf.nconns;

            if (conns[j].state == WL_ST_IDLE
                && (conns[j].tries == 0 || started >= cf.nconns))
            {
                conn_start(&conns[j]);

                if (conns[j].tries == 1) {
                    started++;
                }

                busy++;
                next = (j + 1) % cf.nconns;
            }
        }

        if (now >= next_check) {
            next_check = now + 100 * WL_MSEC;

            for (i = 0; i < cf.nconns; i++) {
                if (conns[i].state > WL_ST_IDLE
                    && conns[i].state < WL_ST_READY
                    && now > conns[i].started
                    && now - conns[i].started > hs_to)
                {
                    conn_fail(&conns[i], "login timed out");
                }
            }
        }

        wl_poll(5 * WL_MSEC);
    }

    /* whatever did not finish is given up */

    for (i = 0; i < cf.nconns; i++) {
        if (conns[i].state != WL_ST_READY && conns[i].state != WL_ST_DEAD) {
            conn_close(&conns[i]);
            conns[i].state = WL_ST_DEAD;
            cnt.login_fail++;
        }
    }

    secs = (double) (wl_now() - t0) / (double) WL_SEC;

    ndests = 0;

    for (i = 0; i < cf.nconns; i++) {
        if (conns[i].state == WL_ST_READY) {
            dests[ndests++] = i;
        }
    }

    fprintf(stderr, "wsload: %d of %d connections logged in in %.2fs"
            " (%llu retries)\n", ndests, cf.nconns, secs,
            (unsigned long long) cnt.retries);

    return ndests > 0 ? 0 : -1;
}


/*
 * which nginx worker owns each connection: the server side socket's inode
 * from /proc/net/tcp, then the workers' descriptors
 */

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}


static void
wl_map_workers(int *per_worker)
{
    int                  i, w, k, n;
    char                 line[512], path[320], link[128];
    FILE                *f;
    DIR                 *d;
    uint64_t            *byport, *sorted, ino, key;
    unsigned int         lport, rport, st;
    unsigned long long   inode;
    struct dirent       *de;
    struct sockaddr_in   sin;
    socklen_t            len;
    ssize_t              r;

    for (w = 0; w < cf.npids; w++) {
        per_worker[w] = 0;
    }

    if (cf.npids == 0) {
        return;
    }

    byport = calloc(65536, sizeof(uint64_t));
    sorted = calloc((size_t) cf.nconns, sizeof(uint64_t));

    if (byport == NULL || sorted == NULL) {
        free(byport);
        free(sorted);
        return;
    }

    f = fopen("/proc/net/tcp", "r");

    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            if (sscanf(line, " %*d: %*x:%x %*x:%x %x %*x:%*x %*x:%*x %*x"
                       " %*u %*u %llu", &lport, &rport, &st, &inode) != 4)
            {
                continue;
            }

            if (lport == ntohs(cf.tls.sin_port) && st == 1 && rport < 65536) {
                byport[rport] = inode;
            }
        }

        fclose(f);
    }

    /* sorted keys: inode << 20 | connection index */

    n = 0;

    for (i = 0; i < cf.nconns; i++) {
        conns[i].worker = -1;

        if (conns[i].state != WL_ST_READY) {
            continue;
        }

        len = sizeof(sin);

        if (getsockname(conns[i].fd, (struct sockaddr *) &sin, &len) != 0) {
            continue;
        }

        ino = byport[ntohs(sin.sin_port)];

        if (ino != 0) {
            sorted[n++] = (ino << 20) | (uint64_t) i;
        }
    }

    qsort(sorted, (size_t) n, sizeof(uint64_t), cmp_u64);

    for (w = 0; w < cf.npids; w++) {
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) cf.pids[w]);

        d = opendir(path);
        if (d == NULL) {
            continue;
        }

        while ((de = readdir(d)) != NULL) {
            snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int) cf.pids[w],
                     de->d_name);

            r = readlink(path, link, sizeof(link) - 1);
            if (r <= 0) {
                continue;
            }

            link[r] = '\0';

            if (sscanf(link, "socket:[%llu]", &inode) != 1) {
                continue;
            }

            /* binary search for inode << 20 */

            key = (uint64_t) inode << 20;
            i = 0;
            k = n;

            while (i < k) {
                int  mid = (i + k) / 2;

                if (sorted[mid] < key) {
                    i = mid + 1;
                } else {
                    k = mid;
                }
            }

            if (i < n && (sorted[i] >> 20) == (uint64_t) inode) {
                conns[sorted[i] & 0xfffff].worker = w;
                per_worker[w]++;
            }
        }

        closedir(d);
    }

    free(byport);
    free(sorted);
}


/* ---------------------------------------------------------- phases */


static uint64_t
wl_lat_pct(wl_phase_t *P, double pct)
{
    uint64_t  i, want, acc;

    if (P->lat_n == 0) {
        return 0;
    }

    want = (uint64_t) ((double) P->lat_n * pct / 100.0);
    if (want >= P->lat_n) {
        want = P->lat_n - 1;
    }

    acc = 0;

    for (i = 0; i < WL_LAT_BUCKETS; i++) {
        acc += P->lat[i];

        if (acc > want) {
            /* the upper bound of the bucket */
            return (i < WL_LAT_FINE) ? (i + 1) * 10
                                     : 10000 + (i - WL_LAT_FINE + 1) * 1000;
        }
    }

    return P->lat_max;
}


static void
wl_list(char *out, size_t size, const uint64_t *a, const uint64_t *b,
    double div, const char *fmt)
{
    int     w;
    size_t  len;

    out[0] = '\0';
    len = 0;

    for (w = 0; w < cf.npids && len < size; w++) {
        len += (size_t) snprintf(out + len, size - len, w ? "/" : "");
        len += (size_t) snprintf(out + len, size - len, fmt,
                                 (double) (b[w] - a[w]) / div);
    }

    if (cf.npids == 0) {
        snprintf(out, size, "-");
    }
}


static double
wl_run_phase(const char *name, int round, uint64_t rate)
{
    int          i, k, chunk, state, rr;
    double       secs, srv, self;
    char         wcpu[256];
    uint64_t     t0, warm, mend, dend, now, next_stall, timeout, prev;
    uint64_t     attempted, target, skipped, due, cap, loops, lost;
    uint64_t     s_sent[2], s_recv[2], s_self[2], s_host[2], s_steal[2];
    uint64_t     w0[WL_MAX_PIDS], w1[WL_MAX_PIDS];
    wl_phase_t  *P;

    if (cur_phase + 1 >= WL_MAX_PHASES) {
        return 0.0;
    }

    cur_phase++;
    P = &phases[cur_phase];
    closed_loop = (rate == 0);

    now = wl_now();

    for (i = 0; i < cf.nsenders; i++) {
        snd[i].outstanding = 0;
        snd[i].progress = now;
    }

    t0 = now;
    tl_t0 = t0;
    memset(tl_recv, 0, sizeof(tl_recv));
    memset(tl_sent, 0, sizeof(tl_sent));
    memset(tl_lat, 0, sizeof(tl_lat));
    warm = t0 + (uint64_t) (cf.warmup * (double) WL_SEC);
    mend = warm + (uint64_t) (cf.duration * (double) WL_SEC);
    dend = mend + (uint64_t) (cf.drain * (double) WL_SEC);

    memset(s_sent, 0, sizeof(s_sent));
    memset(s_recv, 0, sizeof(s_recv));
    memset(s_self, 0, sizeof(s_self));
    memset(s_host, 0, sizeof(s_host));
    memset(s_steal, 0, sizeof(s_steal));
    memset(w0, 0, sizeof(w0));
    memset(w1, 0, sizeof(w1));

    state = 0;
    rr = 0;
    attempted = 0;
    skipped = 0;
    next_stall = t0 + 10 * WL_MSEC;

    /*
     * at most 10ms worth of catch-up: one wakeup may read hundreds of TLS
     * records; what is still behind after that is skipped (reported)
     */

    cap = rate / 100;
    if (cap < WL_MAX_CHUNK) {
        cap = WL_MAX_CHUNK;
    }

    prev = t0;

    for (loops = 0; loops < WL_MAX_LOOPS; loops++) {
        now = wl_now();

        /*
         * a long pass means that this process did not run (a busy host)
         * or that one wakeup had very much to read
         */

        if (state < 2 && now - prev > P->max_gap) {
            P->max_gap = now - prev;
        }

        prev = now;

        if (now - wl_start > (uint64_t) (cf.max_seconds - 2) * WL_SEC) {
            fprintf(stderr, "wsload: time limit reached in %s\n", name);
            break;
        }

        if (state == 0 && now >= warm) {
            s_sent[0] = cnt.sent;
            s_recv[0] = cnt.recv;
            s_self[0] = wl_self_ns();
            wl_host_ns(&s_host[0], &s_steal[0]);
            for (i = 0; i < cf.npids; i++) {
                w0[i] = wl_proc_ns(cf.pids[i]);
            }
            state = 1;
        }

        if (state == 1 && now >= mend) {
            s_sent[1] = cnt.sent;
            s_recv[1] = cnt.recv;
            s_self[1] = wl_self_ns();
            wl_host_ns(&s_host[1], &s_steal[1]);
            for (i = 0; i < cf.npids; i++) {
                w1[i] = wl_proc_ns(cf.pids[i]);
            }
            state = 2;
        }

        if (state == 2 && (P->recv >= P->sent || now >= dend)) {
            break;
        }

        timeout = 10 * WL_MSEC;

        if (state < 2 && closed_loop) {

            if (now >= next_stall) {
                next_stall = now + 10 * WL_MSEC;

                for (i = 0; i < cf.nsenders; i++) {
                    if (snd[i].outstanding > 0
                        && now - snd[i].progress > cf.stall)
                    {
                        P->stalls++;
                        P->abandoned += (uint64_t) snd[i].outstanding;
                        snd[i].outstanding = 0;
                    }
                }
            }

            for (i = 0; i < cf.nsenders; i++) {
                if (snd[i].outstanding <= cf.window / 2) {
                    (void) sender_send(&snd[i],
                                       cf.window - snd[i].outstanding, now,
                                       P);
                }
            }

        } else if (state < 2) {

            /* open loop: follow the schedule */

            target = (uint64_t) ((double) (now - t0) * (double) rate
                                 / (double) WL_SEC);

            due = (target > skipped + attempted)
                  ? target - skipped - attempted : 0;

            if (due > cap) {
                skipped += due - cap;
                due = cap;
            }

            for (i = 0; i < cf.nsenders && due > 0; i++) {
                chunk = due > WL_MAX_CHUNK ? WL_MAX_CHUNK : (int) due;

                k = sender_send(&snd[rr], chunk, now, P);
                (void) k;

                attempted += (uint64_t) chunk;
                due -= (uint64_t) chunk;
                rr = (rr + 1) % cf.nsenders;
            }

            timeout = cf.tick;
        }

        if (state == 0 && warm - now < timeout) {
            timeout = warm - now;

        } else if (state == 1 && mend - now < timeout) {
            timeout = mend - now;
        }

        wl_poll(timeout);
    }

    if (timeline) {
        for (i = 0; i < WL_TL_SLOTS && (uint64_t) i * 10 * WL_MSEC < now - t0;
             i++)
        {
            fprintf(stderr, "TIMELINE phase=%d t_ms=%d sent=%u recv=%u"
                    " max_lat_us=%u\n", cur_phase, i * 10, tl_sent[i],
                    tl_recv[i], tl_lat[i]);
        }
    }

    P->reported = 1;
    P->skipped = skipped;
    P->loops = loops;

    if (state < 2) {
        fprintf(stderr, "wsload: %s did not complete\n", name);
        return 0.0;
    }

    secs = cf.duration;
    lost = P->sent > P->recv ? P->sent - P->recv : 0;
    self = (double) (s_self[1] - s_self[0]) / (double) WL_SEC / secs;

    srv = 0.0;

    for (i = 0; i < cf.npids; i++) {
        srv += (double) (w1[i] - w0[i]);
    }

    srv = srv / (double) WL_SEC / secs;

    wl_list(wcpu, sizeof(wcpu), w0, w1, (double) WL_SEC * secs, "%.2f");

    printf("RESULT mode=wss target=%s phase=%s round=%d offered=",
           cf.target, name, round);

    if (rate) {
        printf("%llu", (unsigned long long) rate);

    } else {
        printf("max");
    }

    printf(" rate=%.0f achieved=%.0f sent=%llu recv=%llu lost=%llu"
           " loss=%.3f%% conns=%d ready=%d senders=%d window=%d payload=%d"
           " dur=%.2f skipped=%llu loops=%llu max_gap_us=%llu stalls=%llu"
           " abandoned=%llu"
           " sendfail=%llu"
           " inversions=%llu dups=%llu corrupt=%llu closed=%llu other=%llu"
           " late=%llu pings=%llu lat_p50_us=%llu lat_p99_us=%llu"
           " lat_max_us=%llu"
           " srv_cpu=%.2f srv_cpu_w=%s lg_cpu=%.2f host_cpu=%.2f"
           " host_steal=%.2f per_core=%.0f\n",
           (double) (s_recv[1] - s_recv[0]) / secs,
           (double) (s_sent[1] - s_sent[0]) / secs,
           (unsigned long long) P->sent, (unsigned long long) P->recv,
           (unsigned long long) lost,
           P->sent ? 100.0 * (double) lost / (double) P->sent : 0.0,
           cf.nconns, cnt.ready, cf.nsenders, closed_loop ? cf.window : 0,
           cf.payload, secs, (unsigned long long) P->skipped,
           (unsigned long long) P->loops,
           (unsigned long long) (P->max_gap / WL_USEC),
           (unsigned long long) P->stalls, (unsigned long long) P->abandoned,
           (unsigned long long) P->sendfail,
           (unsigned long long) P->inversions, (unsigned long long) P->dups,
           (unsigned long long) cnt.corrupt, (unsigned long long) cnt.closed,
           (unsigned long long) cnt.other, (unsigned long long) cnt.late,
           (unsigned long long) cnt.pings,
           (unsigned long long) wl_lat_pct(P, 50.0),
           (unsigned long long) wl_lat_pct(P, 99.0),
           (unsigned long long) P->lat_max, srv, wcpu, self,
           (double) (s_host[1] - s_host[0]) / (double) WL_SEC / secs,
           (double) (s_steal[1] - s_steal[0]) / (double) WL_SEC / secs,
           srv > 0.01 ? (double) (s_recv[1] - s_recv[0]) / secs / srv : 0.0);

    fflush(stdout);

    return (double) (s_recv[1] - s_recv[0]) / secs;
}


/*
 * one relay to every destination, awaited: returns how many destinations
 * got theirs
 */

static int
wl_probe(void)
{
    int           i, k, n, tries, reached;
    uint32_t      saved;
    uint64_t      now, end, loops;
    wl_phase_t   *P;
    wl_sender_t  *s;

    cur_phase++;
    P = &phases[cur_phase];
    closed_loop = 0;

    now = wl_now();
    tries = 0;

    for (i = 0; i < ndests && tries < 1000; i += k, tries++) {
        n = ndests - i < WL_MAX_CHUNK ? ndests - i : WL_MAX_CHUNK;

        /* destinations i .. i + n - 1, whatever the sender's position */

        s = &snd[(i / WL_MAX_CHUNK) % cf.nsenders];
        saved = s->cursor;
        s->cursor = (uint32_t) i;
        k = sender_send(s, n, now, P);
        s->cursor = saved;

        if (k == 0) {
            wl_poll(WL_MSEC);
        }
    }

    end = wl_now() + 3 * WL_SEC;

    for (loops = 0; loops < WL_MAX_LOOPS; loops++) {
        now = wl_now();

        if (now >= end || P->recv >= P->sent) {
            break;
        }

        wl_poll(end - now);
    }

    P->reported = 1;

    reached = 0;

    for (i = 0; i < ndests; i++) {
        reached += conns[dests[i]].recv > 0;
    }

    return reached;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


int
main(int argc, char **argv)
{
    int          c, i, rc, udp_port, tls_port, rounds;
    int          per_worker[WL_MAX_PIDS];
    char         wl[256];
    int          probe;
    uint64_t     v, fixed;
    double       caps[WL_MAX_PHASES], secs, r;
    size_t       len;

    static const struct option  opts[] = {
        { "port",        required_argument, NULL, 'p' },
        { "tls-port",    required_argument, NULL, 'P' },
        { "conns",       required_argument, NULL, 'c' },
        { "senders",     required_argument, NULL, 'n' },
        { "window",      required_argument, NULL, 'w' },
        { "rate",        required_argument, NULL, 'r' },
        { "duration",    required_argument, NULL, 'd' },
        { "warmup",      required_argument, NULL, 'W' },
        { "target",      required_argument, NULL, 'T' },
        { "time",        required_argument, NULL, 't' },
        { "drain",       required_argument, NULL, 1 },
        { "payload",     required_argument, NULL, 2 },
        { "handshakes",  required_argument, NULL, 3 },
        { "node-base",   required_argument, NULL, 4 },
        { "sender-base", required_argument, NULL, 5 },
        { "cpu-pids",    required_argument, NULL, 6 },
        { "login-time",  required_argument, NULL, 7 },
        { "rcvbuf",      required_argument, NULL, 8 },
        { "tick-us",     required_argument, NULL, 9 },
        { "stall-ms",    required_argument, NULL, 10 },
        { "rounds",      required_argument, NULL, 11 },
        { "load-pct",    required_argument, NULL, 12 },
        { "write-keys",  required_argument, NULL, 13 },
        { "host",        required_argument, NULL, 14 },
        { "ping-s",      required_argument, NULL, 15 },
        { "timeline",    no_argument,       NULL, 16 },
        { "help",        no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(&cf, 0, sizeof(cf));
    cf.target = "nginx";
    cf.nconns = 1000;
    cf.nsenders = 32;
    cf.window = 128;
    cf.handshakes = 100;
    cf.rounds = 3;
    cf.load_pct = 50;
    cf.duration = 3.0;
    cf.warmup = 1.0;
    cf.drain = 1.0;
    cf.payload = 64;
    cf.node_base = 0x40000000;
    cf.sender_base = 0x50000000;
    cf.max_seconds = 180;
    cf.login_time = 60.0;
    cf.hs_timeout = 10.0;
    cf.rcvbuf = 4194304;
    cf.tick = 100 * WL_USEC;
    cf.stall = 200 * WL_MSEC;
    cf.ping = 20 * WL_SEC;
    udp_port = 0;
    tls_port = 0;
    rc = 2;

    while ((c = getopt_long(argc, argv, "p:P:c:n:w:r:d:W:T:t:h", opts, NULL))
           != -1)
    {
        switch (c) {

        case 'p':
            if (wl_parse_int(optarg, 1, 65535, &udp_port) != 0) {
                return 2;
            }
            break;

        case 'P':
            if (wl_parse_int(optarg, 1, 65535, &tls_port) != 0) {
                return 2;
            }
            break;

        case 'c':
            if (wl_parse_int(optarg, 1, WL_MAX_CONNS, &cf.nconns) != 0) {
                return 2;
            }
            break;

        case 'n':
            if (wl_parse_int(optarg, 1, WL_MAX_SENDERS, &cf.nsenders) != 0) {
                return 2;
            }
            break;

        case 'w':
            if (wl_parse_int(optarg, 2, WL_MAX_WINDOW, &cf.window) != 0) {
                return 2;
            }
            break;

        case 'r':
            if (wl_parse_u64(optarg, 1, 100000000, &cf.rate) != 0) {
                return 2;
            }
            break;

        case 'd':
            if (wl_parse_double(optarg, 0.1, 600, &cf.duration) != 0) {
                return 2;
            }
            break;

        case 'W':
            if (wl_parse_double(optarg, 0, 600, &cf.warmup) != 0) {
                return 2;
            }
            break;

        case 'T':
            cf.target = optarg;
            break;

        case 't':
            if (wl_parse_int(optarg, 5, 86400, &cf.max_seconds) != 0) {
                return 2;
            }
            break;

        case 1:
            if (wl_parse_double(optarg, 0, 600, &cf.drain) != 0) {
                return 2;
            }
            break;

        case 2:
            if (wl_parse_int(optarg, WL_MIN_PAYLOAD, WL_MAX_PAYLOAD,
                             &cf.payload) != 0)
            {
                return 2;
            }
            break;

        case 3:
            if (wl_parse_int(optarg, 1, 10000, &cf.handshakes) != 0) {
                return 2;
            }
            break;

        case 4:
            if (wl_parse_u64(optarg, 1, 0xffffffffULL, &v) != 0) {
                return 2;
            }
            cf.node_base = (uint32_t) v;
            break;

        case 5:
            if (wl_parse_u64(optarg, 1, 0xffffffffULL, &v) != 0) {
                return 2;
            }
            cf.sender_base = (uint32_t) v;
            break;

        case 6:
            if (wl_parse_pids(optarg) != 0) {
                return 2;
            }
            break;

        case 7:
            if (wl_parse_double(optarg, 1, 3600, &cf.login_time) != 0) {
                return 2;
            }
            break;

        case 8:
            if (wl_parse_int(optarg, 0, 1 << 30, &cf.rcvbuf) != 0) {
                return 2;
            }
            break;

        case 9:
            if (wl_parse_u64(optarg, 10, 100000, &v) != 0) {
                return 2;
            }
            cf.tick = v * WL_USEC;
            break;

        case 10:
            if (wl_parse_u64(optarg, 1, 10000, &v) != 0) {
                return 2;
            }
            cf.stall = v * WL_MSEC;
            break;

        case 11:
            if (wl_parse_int(optarg, 0, WL_MAX_PHASES - 3, &cf.rounds) != 0) {
                return 2;
            }
            break;

        case 12:
            if (wl_parse_int(optarg, 0, 100, &cf.load_pct) != 0) {
                return 2;
            }
            break;

        case 13:
            cf.write_keys = optarg;
            break;

        case 14:
            cf.host = optarg;
            break;

        case 16:
            timeline = 1;
            break;

        case 15:
            if (wl_parse_u64(optarg, 0, 3600, &v) != 0) {
                return 2;
            }
            cf.ping = v * WL_SEC;
            break;

        default:
            wl_usage();
            return 2;
        }
    }

    if (sodium_init() < 0) {
        fprintf(stderr, "wsload: sodium_init failed\n");
        return 1;
    }

    if ((uint64_t) cf.node_base + (uint64_t) cf.nconns > 0xffffffffULL
        || (uint64_t) cf.sender_base + (uint64_t) cf.nsenders > 0xffffffffULL
        || (cf.sender_base < cf.node_base + (uint32_t) cf.nconns
            && cf.node_base < cf.sender_base + (uint32_t) cf.nsenders))
    {
        fprintf(stderr, "wsload: node and sender id ranges overlap\n");
        return 2;
    }

    if (cf.write_keys != NULL) {
        return wl_write_keys(cf.write_keys);
    }

    if (udp_port == 0 || tls_port == 0) {
        wl_usage();
        return 2;
    }

    /* loopback only */

    memset(&cf.udp, 0, sizeof(cf.udp));
    cf.udp.sin_family = AF_INET;
    cf.udp.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cf.udp.sin_port = htons((uint16_t) udp_port);

    cf.tls = cf.udp;
    cf.tls.sin_port = htons((uint16_t) tls_port);

    /* CONNS + SENDERS descriptors: raise the soft limit as far as allowed */

    {
        struct rlimit  rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0
            && rl.rlim_cur < (rlim_t) (cf.nconns + cf.nsenders + 64))
        {
            rl.rlim_cur = (rlim_t) (cf.nconns + cf.nsenders + 64);
            if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
            }
            (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
    }

    /* hard bound on the whole run: SIGALRM's default action terminates */

    wl_start = wl_now();
    alarm((unsigned int) cf.max_seconds);
    signal(SIGPIPE, SIG_IGN);

    randombytes_buf(&rnd_state, sizeof(rnd_state));
    rnd_state |= 1;

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        fprintf(stderr, "wsload: SSL_CTX_new failed\n");
        return 1;
    }

    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif

    epfd = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc((size_t) cf.nconns, sizeof(wl_conn_t));
    snd = calloc((size_t) cf.nsenders, sizeof(wl_sender_t));
    dests = calloc((size_t) cf.nconns, sizeof(int));
    pending = calloc((size_t) cf.nconns, sizeof(int));
    len = (size_t) cf.nsenders * (size_t) cf.nconns;
    flow_sent = calloc(len, sizeof(uint32_t));
    flow_recv = calloc(len, sizeof(uint32_t));
    sbuf = malloc((size_t) WL_BATCH * (9 + (size_t) cf.payload));

    if (epfd == -1 || conns == NULL || snd == NULL || dests == NULL
        || pending == NULL || flow_sent == NULL || flow_recv == NULL
        || sbuf == NULL)
    {
        fprintf(stderr, "wsload: setup failed\n");
        return 1;
    }

    for (i = 0; i < WL_MAX_PHASES; i++) {
        phases[i].lat = calloc(WL_LAT_BUCKETS, sizeof(uint64_t));
        if (phases[i].lat == NULL) {
            fprintf(stderr, "wsload: out of memory\n");
            return 1;
        }
    }

    rc = 1;

    for (i = 0; i < cf.nconns; i++) {
        conns[i].kind = WL_KIND_CONN;
        conns[i].idx = i;
        conns[i].fd = -1;
        conns[i].worker = -1;
        conns[i].node_id = cf.node_base + (uint32_t) i;
        conns[i].rb = malloc(WL_RBUF);

        if (conns[i].rb == NULL) {
            fprintf(stderr, "wsload: out of memory\n");
            goto done;
        }
    }

    for (i = 0; i < cf.nsenders; i++) {
        snd[i].kind = WL_KIND_SENDER;
        snd[i].idx = i;
        snd[i].fd = -1;
        snd[i].id = cf.sender_base + (uint32_t) i;
        snd[i].cursor = (uint32_t) i * 7919u;

        if (sender_open(&snd[i]) != 0) {
            goto done;
        }
    }

    /* 1. logins */

    secs = (double) wl_now();

    if (wl_login() != 0) {
        printf("RESULT mode=wss_login target=%s conns=%d ready=0 failed=%llu"
               "\n", cf.target, cf.nconns,
               (unsigned long long) cnt.login_fail);
        goto done;
    }

    secs = ((double) wl_now() - secs) / (double) WL_SEC;

    /* 2. UDP senders register from their own sockets */

    for (rounds = 0; rounds < 25; rounds++) {
        int  missing = 0;

        for (i = 0; i < cf.nsenders; i++) {
            uint8_t  d[5];

            if (snd[i].acked) {
                continue;
            }

            missing++;
            d[0] = WL_DISCOVER;
            wl_put32(d + 1, snd[i].id);
            (void) send(snd[i].fd, d, sizeof(d), 0);
        }

        if (missing == 0) {
            break;
        }

        for (v = wl_now() + 200 * WL_MSEC; wl_now() < v; ) {
            wl_poll(20 * WL_MSEC);
        }
    }

    for (i = 0; i < cf.nsenders; i++) {
        if (!snd[i].acked) {
            fprintf(stderr, "wsload: UDP sender %u got no DISCOVER reply\n",
                    snd[i].id);
            goto done;
        }
    }

    cnt.other = 0;

    /* 3. every destination reachable */

    probe = wl_probe();

    wl_map_workers(per_worker);

    wl[0] = '\0';
    len = 0;

    for (i = 0; i < cf.npids; i++) {
        len += (size_t) snprintf(wl + len, sizeof(wl) - len, "%s%d",
                                 i ? "/" : "", per_worker[i]);
    }

    printf("RESULT mode=wss_login target=%s conns=%d ready=%d failed=%llu"
           " retries=%llu secs=%.2f rate=%.0f probe=%d/%d conns_w=%s"
           " corrupt=%llu other=%llu closed=%llu\n",
           cf.target, cf.nconns, ndests,
           (unsigned long long) cnt.login_fail,
           (unsigned long long) cnt.retries, secs,
           secs > 0 ? (double) ndests / secs : 0.0,
           probe, ndests, cf.npids ? wl : "-",
           (unsigned long long) cnt.corrupt, (unsigned long long) cnt.other,
           (unsigned long long) cnt.closed);
    fflush(stdout);

    /* 4. capacity, closed loop */

    for (i = 0; i < cf.rounds; i++) {
        caps[i] = wl_run_phase("capacity", i + 1, 0);
    }

    /* 5. loss at a fixed rate below saturation */

    fixed = cf.rate;

    if (fixed == 0 && cf.load_pct > 0 && cf.rounds > 0) {
        qsort(caps, (size_t) cf.rounds, sizeof(double), cmp_double);
        r = (cf.rounds % 2) ? caps[cf.rounds / 2]
                            : (caps[cf.rounds / 2 - 1] + caps[cf.rounds / 2])
                              / 2.0;
        fixed = (uint64_t) (r * cf.load_pct / 100.0);
    }

    if (fixed > 0) {
        (void) wl_run_phase("fixed", 1, fixed);
    }

    rc = 0;

done:

    for (i = 0; i < cf.nconns; i++) {
        if (conns[i].state == WL_ST_READY && conns[i].ssl != NULL) {
            static const uint8_t  bye[2] = { 0x03, 0xe8 };

            conns[i].wpos = 0;
            conns[i].wlen = 0;

            if (conn_queue_frame(&conns[i], 0x8, bye, 2) == 0) {
                (void) conn_flush(&conns[i]);
            }
        }

        conn_close(&conns[i]);
        free(conns[i].rb);
    }

    for (i = 0; i < cf.nsenders; i++) {
        if (snd[i].fd != -1) {
            close(snd[i].fd);
        }
    }

    SSL_CTX_free(ctx);

    return rc;
}
