
/*
 * offset_node -- the node side of the Offset relay protocol (spec
 * offset-relay.md sections 3 and 4), for the tests and benchmarks of the
 * nginx Offset relay (beacon_offset_relay).  Written for this project from
 * the spec; it links the module's pure codecs (ngx_beacon_offset_capnp,
 * ngx_beacon_offset_crypto, ngx_beacon_offset_ident).
 *
 * Usage:
 *   offset_node -r HOST:PORT -k RELAY_PUBKEY_B64URL [options] SCENARIO [args]
 *   offset_node selftest
 *
 * Options:
 *   -s SEEDHEX   own identity seed (default random); the other nodes of a
 *                scenario derive theirs from it (B: last byte xor 1, ...)
 *   -S SEEDHEX2  the seed of node B instead
 *   -b BYTES     bytes per direction for the data scenarios (K/M/G suffixes
 *                are binary); slow-reader: bytes A sends to B (default
 *                256 MiB)
 *   -n N         count: tunnels (splice, bench-tunnel), concurrency
 *                (bench-handshakes)
 *   -t SECONDS   time bound of the scenario (default 60)
 *   -m SIZE      message size of bench-tunnel (default 16 KiB)
 *   -p MAXPAD    random padding of our ChannelMessages: 0..MAXPAD (default 64)
 *   -A SECONDS   keepalive interval on long-lived connections (default 10)
 *   -l ADDR      local address to bind (default: any)
 *   -L [HOST:]PORT  bench-direct: where node B listens (HOST 127.0.0.1)
 *   -c           hold: a clean close by the relay counts as a pass
 *   -w SECONDS   slow-reader: how long B does not read once A is blocked
 *                (default 2); keepalive-rekey: how long the idle hops
 *                are watched
 *   -v           verbose, to stderr
 *
 * Output: "ok - what" or "not ok - what: why" per check on stdout,
 * measurements as "# key=value"; exit status 0 when all checks passed,
 * 1 otherwise, 2 on a usage error.  Every wait is bounded by -t (and a
 * watchdog at -t + 30 s).  Only the relay given with -r is contacted.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ngx_beacon_offset_capnp.h"

/* older ngx_beacon_offset_capnp.h defined these with other values (nonce 16) */
#undef NGX_BEACON_OFFSET_KEY_LEN
#undef NGX_BEACON_OFFSET_NONCE_LEN
#undef NGX_BEACON_OFFSET_SIG_LEN

#include "ngx_beacon_offset_crypto.h"
#include "ngx_beacon_offset_ident.h"


#define KEY_LEN         32
#define RNONCE_LEN      16
#define SIG_LEN         64
#define TNONCE_LEN      12

#define MAXC            24
#define RX_CAP          (64u * 1024 * 1024)
#define POOL_LEN        (4u * 1024 * 1024)
#define WB_HIGH         (1024u * 1024)
#define QUICK           3.0         /* "closed at once" */

#define CL_EOF          1
#define CL_RESET        2
#define CL_LOCAL        3

#define HS_OK           0
#define HS_CLOSED      -1
#define HS_BAD         -2
#define HS_TIMEOUT     -3

#define ROLE_A          0
#define ROLE_B          1
#define ROLE_C          2
#define ROLE_A2         3
#define ROLE_D          4
#define ROLE_BY         5           /* bystanders: 5, 6 */


typedef struct {
    uint8_t              *p;
    size_t                pos;
    size_t                len;
    size_t                cap;
} buf_t;


typedef struct msg_s  msg_t;

struct msg_s {
    msg_t                *next;
    size_t                len;
    uint8_t               data[];
};


typedef struct {
    msg_t                *head;
    msg_t                *tail;
    int                   n;
} msgq_t;


typedef struct conn_s  conn_t;
typedef struct sess_s  sess_t;

struct conn_s {
    int                   fd;
    char                  name[48];
    sess_t               *sess;
    const ngx_beacon_offset_ident_t *id;

    int                   chan;
    int                   closed;
    int                   bad;
    char                  why[256];
    int                   silent;
    int                   noread;       /* not polled for reading */
    size_t                maxpad;

    double                t_open;
    double                t_hs;
    double                t_last_send;
    double                t_last_msg;   /* the last KaMessage we sent */
    double                t_last_recv;
    double                t_closed;
    double                t_progress;   /* the last send() that took bytes */
    uint64_t              tx_sock;      /* bytes send() took */

    buf_t                 rb;
    buf_t                 wb;
    size_t                partial;

    int                   raw_want;
    int                   raw_seen;
    msgq_t                rawq;
    msgq_t                inbox;

    ngx_beacon_offset_channel_t  ch;
    uint64_t              rx_frames;
    uint64_t              tx_frames;
    uint8_t               nonces[8][TNONCE_LEN];

    int                   ka_in;
    double                ka_t[256];

    int                   rekey_in;
    int                   rekey_answered;
    int                   rekey_started;
    int                   rekey_done;
    int                   simul;
    int                   simul_done;
    double                t_simul;
    int                   extra_rekey;
    int                   cap_next;
    int                   cap_done;
    uint8_t               cap_nonce[TNONCE_LEN];

    void                (*on_msg)(conn_t *c, const uint8_t *m, size_t len);
    void                (*on_drain)(conn_t *c);
    void                 *data;

    uint8_t              *scr1;
    size_t                scap1;
    uint8_t              *scr2;
    size_t                scap2;
    uint8_t              *kbuf;
    size_t                kcap;
    uint8_t              *cbuf;
    size_t                ccap;
    uint8_t               pad[65536];
};


struct sess_s {
    conn_t               *c[MAXC];
    int                   n;
    int                   stdin_watch;
    int                   stdin_got;
};


/* the handshake (section 3.4.1), with knobs for the negative scenarios */
typedef struct {
    uint32_t              ver_value;
    size_t                ver_len;
    const uint8_t        *nonce;
    const uint8_t        *scalar;
    const uint8_t        *salt;
    int                   bad_echo;
    int                   flip_sig;
    int                   no_dest;
    int                   stop;         /* 1 ERN sent, 2 ERN got, 3 DH sent */
    int                   step;         /* where hs_run() resumes */
    const uint8_t        *peer_pk;      /* expected peer; NULL: -k */

    uint8_t               my_nonce[RNONCE_LEN];
    uint8_t               sent_ern[256];
    size_t                sent_ern_len;
    uint8_t               sent_dh[512];
    size_t                sent_dh_len;
    uint8_t               relay_ver[64];
    size_t                relay_ver_len;
    ngx_beacon_offset_capnp_ern_t  relay_ern;
    ngx_beacon_offset_capnp_dh_t   relay_dh;
    ngx_beacon_offset_dh_t       dh;
    uint8_t               send_key[KEY_LEN];
    uint8_t               recv_key[KEY_LEN];
    int                   ver_ok;
    int                   ern_key_ok;
    int                   echo_ok;
    int                   sig_ok;
} hs_t;


/* one direction of deterministic tunnel traffic */
typedef struct {
    uint64_t              seed;
    uint64_t              total;
    uint64_t              bytes;
    uint64_t              k;
    size_t                fixed;
    int                   big;
} stream_t;


typedef struct {
    conn_t               *c;
    stream_t              tx;
    stream_t              rx;
    uint64_t              pre_limit;
    uint64_t              need_rx;
    int                  *go;
    int                   err;
    char                  why[256];
    uint64_t              rekey_every;
    uint64_t              rekey_next;
    int                   rekeys_wanted;
} end_t;


typedef struct {
    int                   idx;
    sess_t                s;
    ngx_beacon_offset_ident_t    ida;
    ngx_beacon_offset_ident_t    idb;
    conn_t               *lb;
    conn_t               *ca;
    conn_t               *cb;
    end_t                 ea;
    end_t                 eb;
    int                   go;
    double                t_go;
    double                t_done;
} tunnel_t;


static struct {
    char                  host[256];
    char                  port[16];
    int                   have_relay;
    uint8_t               relay_pk[KEY_LEN];
    int                   have_pk;
    uint8_t               seed[32];
    int                   have_seed;
    uint8_t               seed2[32];
    int                   have_seed2;
    uint64_t              bytes;
    int                   have_bytes;
    int                   n;
    double                t;
    size_t                msgsize;
    size_t                maxpad;
    double                ka;
    char                  local[64];
    char                  listen[128];
    int                   clean_ok;
    double                stall;
    int                   which;        /* oversize: 1 pre, 2 post only */
    int                   verbose;
    int                   quiet;
    double                t0;
    double                deadline;
} G;


static pthread_mutex_t    out_mtx = PTHREAD_MUTEX_INITIALIZER;
static int                g_failed;
static int                g_checks;
static __thread char      t_pfx[48];
static uint8_t           *g_pool;


/* ------------------------------------------------------------------ */
/* utilities */

static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}


static void
die(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    fprintf(stderr, "offset_node: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);

    printf("not ok - internal error\n");
    fflush(stdout);

    exit(1);
}


static void *
xmalloc(size_t n)
{
    void  *p;

    p = malloc(n ? n : 1);
    if (p == NULL) {
        die("out of memory (%zu bytes)", n);
    }

    return p;
}


static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        die("out of memory (%zu bytes)", n);
    }

    return p;
}


static int
check(int cond, const char *why, const char *fmt, ...)
{
    va_list  ap;

    pthread_mutex_lock(&out_mtx);

    g_checks++;

    if (!cond) {
        g_failed = 1;
    }

    if (!cond || !G.quiet) {
        printf(cond ? "ok - %s" : "not ok - %s", t_pfx);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);

        if (!cond && why && why[0]) {
            printf(": %s", why);
        }

        printf("\n");
        fflush(stdout);
    }

    pthread_mutex_unlock(&out_mtx);

    return cond;
}


static void
note(const char *key, const char *fmt, ...)
{
    va_list  ap;

    pthread_mutex_lock(&out_mtx);

    printf("# %s=", key);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);

    pthread_mutex_unlock(&out_mtx);
}


static void
vlog(const char *fmt, ...)
{
    va_list  ap;

    if (!G.verbose) {
        return;
    }

    pthread_mutex_lock(&out_mtx);

    fprintf(stderr, "[%8.3f] %s", now() - G.t0, t_pfx);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");

    pthread_mutex_unlock(&out_mtx);
}


static uint64_t
mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;

    return x ^ (x >> 31);
}


static int
hex_decode(uint8_t *out, size_t n, const char *hex)
{
    size_t  i;
    int     hi, lo;

    if (strlen(hex) != 2 * n) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        hi = hex[2 * i];
        lo = hex[2 * i + 1];

#define HEXV(ch)  ((ch) >= '0' && (ch) <= '9' ? (ch) - '0'                  \
                   : (ch) >= 'a' && (ch) <= 'f' ? (ch) - 'a' + 10            \
                   : (ch) >= 'A' && (ch) <= 'F' ? (ch) - 'A' + 10 : -1)

        if (HEXV(hi) < 0 || HEXV(lo) < 0) {
            return -1;
        }

        out[i] = (uint8_t) (HEXV(hi) * 16 + HEXV(lo));

#undef HEXV
    }

    return 0;
}


/* a hex vector of the spec (whitespace ignored) into a malloc()ed buffer */
static uint8_t *
vec(const char *hex, size_t *len)
{
    size_t    n, i, j;
    uint8_t  *out;
    char     *clean;

    n = strlen(hex);
    clean = xmalloc(n + 1);

    for (i = 0, j = 0; i < n; i++) {
        if (hex[i] != ' ' && hex[i] != '\n') {
            clean[j++] = hex[i];
        }
    }

    clean[j] = '\0';
    out = xmalloc(j / 2 + 1);

    if (j % 2 || hex_decode(out, j / 2, clean) != 0) {
        die("bad vector");
    }

    free(clean);
    *len = j / 2;

    return out;
}


static void
tohex(char *out, const uint8_t *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", p[i]);
    }

    out[2 * n] = '\0';
}


static uint64_t
be64(const uint8_t *p)
{
    uint64_t  v;
    int       i;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


static void
put_le64(uint8_t *p, uint64_t v)
{
    int  i;

    for (i = 0; i < 8; i++) {
        p[i] = (uint8_t) (v >> (8 * i));
    }
}


static void
put_le32(uint8_t *p, uint32_t v)
{
    int  i;

    for (i = 0; i < 4; i++) {
        p[i] = (uint8_t) (v >> (8 * i));
    }
}


/* ------------------------------------------------------------------ */
/* buffers and queues */

static void
buf_reserve(buf_t *b, size_t more)
{
    size_t  cap;

    if (b->pos && b->pos + b->len + more > b->cap) {
        memmove(b->p, b->p + b->pos, b->len);
        b->pos = 0;
    }

    if (b->len + more > b->cap) {
        cap = b->cap ? b->cap : 65536;

        while (cap < b->len + more) {
            cap *= 2;
        }

        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
}


static void
q_push(msgq_t *q, const uint8_t *d, size_t len)
{
    msg_t  *m;

    m = xmalloc(sizeof(msg_t) + len);
    m->next = NULL;
    m->len = len;

    if (len) {
        memcpy(m->data, d, len);
    }

    if (q->tail) {
        q->tail->next = m;

    } else {
        q->head = m;
    }

    q->tail = m;
    q->n++;
}


static msg_t *
q_pop(msgq_t *q)
{
    msg_t  *m;

    m = q->head;

    if (m) {
        q->head = m->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->n--;
    }

    return m;
}


static void
q_free(msgq_t *q)
{
    msg_t  *m;

    while ((m = q_pop(q)) != NULL) {
        free(m);
    }
}


static uint8_t *
grow(uint8_t **b, size_t *cap, size_t need)
{
    if (*cap < need) {
        *b = xrealloc(*b, need);
        *cap = need;
    }

    return *b;
}


/* ------------------------------------------------------------------ */
/* connections */

static conn_t *
conn_new(sess_t *s, const char *name, const ngx_beacon_offset_ident_t *id)
{
    conn_t  *c;

    if (s->n == MAXC) {
        die("too many connections in one session");
    }

    c = xmalloc(sizeof(conn_t));
    memset(c, 0, sizeof(conn_t) - sizeof(c->pad));

    c->fd = -1;
    c->sess = s;
    c->id = id;
    c->raw_want = 3;
    c->maxpad = G.maxpad;
    snprintf(c->name, sizeof(c->name), "%s", name);

    s->c[s->n++] = c;

    return c;
}


static void
conn_mark_closed(conn_t *c, int how)
{
    if (c->closed) {
        return;
    }

    c->closed = how;
    c->t_closed = now();
    c->partial = c->rb.len;

    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    vlog("%s: closed (%s)%s%s", c->name,
         how == CL_EOF ? "eof" : how == CL_RESET ? "reset" : "local",
         c->bad ? ": " : "", c->bad ? c->why : "");
}


static void
conn_fail(conn_t *c, const char *fmt, ...)
{
    va_list  ap;

    if (c->bad) {
        return;
    }

    c->bad = 1;

    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);

    conn_mark_closed(c, CL_LOCAL);
}


static void
conn_close(conn_t *c, int rst)
{
    struct linger  l;

    if (c->closed) {
        return;
    }

    if (rst && c->fd != -1) {
        l.l_onoff = 1;
        l.l_linger = 0;
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }

    conn_mark_closed(c, CL_LOCAL);
}


static void
conn_free(conn_t *c)
{
    if (c->fd != -1) {
        close(c->fd);
    }

    ngx_beacon_offset_channel_wipe(&c->ch);
    q_free(&c->rawq);
    q_free(&c->inbox);
    free(c->rb.p);
    free(c->wb.p);
    free(c->scr1);
    free(c->scr2);
    free(c->kbuf);
    free(c->cbuf);
    free(c);
}


static void
sess_free(sess_t *s)
{
    int  i;

    for (i = 0; i < s->n; i++) {
        conn_free(s->c[i]);
        s->c[i] = NULL;
    }

    s->n = 0;
}


static int
conn_connect(conn_t *c, double deadline)
{
    int               fd, rc, err, one;
    socklen_t         len;
    struct pollfd     pfd;
    struct addrinfo   hints, *ai, *a;
    struct addrinfo  *lai;
    double            left;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(G.host, G.port, &hints, &ai);
    if (rc != 0) {
        snprintf(c->why, sizeof(c->why), "%.100s:%s: %s", G.host, G.port,
                 gai_strerror(rc));
        return -1;
    }

    fd = -1;
    err = 0;

    for (a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK
                    | SOCK_CLOEXEC, 0);
        if (fd == -1) {
            err = errno;
            continue;
        }

        if (G.local[0]) {
            hints.ai_family = a->ai_family;
            hints.ai_flags = AI_NUMERICHOST;

            if (getaddrinfo(G.local, "0", &hints, &lai) != 0) {
                snprintf(c->why, sizeof(c->why), "bad local address %s",
                         G.local);
                close(fd);
                freeaddrinfo(ai);
                return -1;
            }

            rc = bind(fd, lai->ai_addr, lai->ai_addrlen);
            err = errno;
            freeaddrinfo(lai);

            if (rc != 0) {
                close(fd);
                fd = -1;
                continue;
            }
        }

        rc = connect(fd, a->ai_addr, a->ai_addrlen);

        if (rc == 0 || errno == EINPROGRESS) {
            break;
        }

        err = errno;
        close(fd);
        fd = -1;
    }

    freeaddrinfo(ai);

    if (fd == -1) {
        snprintf(c->why, sizeof(c->why), "connect: %s", strerror(err));
        return -1;
    }

    pfd.fd = fd;
    pfd.events = POLLOUT;

    for ( ;; ) {
        left = deadline - now();
        if (left <= 0) {
            close(fd);
            snprintf(c->why, sizeof(c->why), "connect: timed out");
            return -1;
        }

        rc = poll(&pfd, 1, (int) (left * 1000) + 1);
        if (rc > 0) {
            break;
        }

        if (rc < 0 && errno != EINTR) {
            err = errno;
            close(fd);
            snprintf(c->why, sizeof(c->why), "poll: %s", strerror(err));
            return -1;
        }
    }

    len = sizeof(err);
    err = 0;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);

    if (err) {
        close(fd);
        snprintf(c->why, sizeof(c->why), "connect: %s", strerror(err));
        return -1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->fd = fd;
    c->t_open = now();
    c->t_last_recv = c->t_open;
    c->t_last_send = c->t_open;
    c->t_last_msg = c->t_open;

    vlog("%s: connected", c->name);

    return 0;
}


static void
conn_flush(conn_t *c)
{
    ssize_t  n;

    while (c->wb.len && !c->closed) {
        n = send(c->fd, c->wb.p + c->wb.pos, c->wb.len, MSG_NOSIGNAL);

        if (n > 0) {
            c->wb.pos += (size_t) n;
            c->wb.len -= (size_t) n;
            c->tx_sock += (uint64_t) n;
            c->t_progress = now();
            continue;
        }

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }

        /* the peer is gone: read what is left before calling it closed */
        vlog("%s: send: %s", c->name, strerror(errno));
        c->wb.len = 0;
        c->wb.pos = 0;
        return;
    }

    if (c->wb.len == 0) {
        c->wb.pos = 0;
    }
}


static void conn_transport(conn_t *c, uint8_t *frame, size_t len);


static void
conn_process(conn_t *c)
{
    uint64_t   len;
    uint8_t   *frame;

    while (!c->closed && c->rb.len >= 8) {
        len = be64(c->rb.p + c->rb.pos);

        if (len > RX_CAP) {
            conn_fail(c, "relay sent a frame of %llu bytes",
                      (unsigned long long) len);
            return;
        }

        if (c->rb.len < 8 + len) {
            buf_reserve(&c->rb, 8 + (size_t) len - c->rb.len);
            return;
        }

        frame = c->rb.p + c->rb.pos + 8;

        if (!c->chan) {
            if (c->raw_seen >= c->raw_want) {
                return;
            }

            q_push(&c->rawq, frame, (size_t) len);
            c->raw_seen++;
            c->t_last_recv = now();

        } else {
            conn_transport(c, frame, (size_t) len);
        }

        c->rb.pos += 8 + (size_t) len;
        c->rb.len -= 8 + (size_t) len;
    }

    if (c->rb.len == 0) {
        c->rb.pos = 0;
    }
}


static void
conn_input(conn_t *c)
{
    ssize_t  n;
    size_t   total;

    total = 0;

    while (!c->closed && total < 8 * 1024 * 1024) {
        buf_reserve(&c->rb, 256 * 1024);

        n = recv(c->fd, c->rb.p + c->rb.pos + c->rb.len,
                 c->rb.cap - c->rb.pos - c->rb.len, 0);

        if (n > 0) {
            c->rb.len += (size_t) n;
            total += (size_t) n;
            conn_process(c);
            continue;
        }

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }

        conn_process(c);
        conn_mark_closed(c, n == 0 ? CL_EOF : CL_RESET);
        return;
    }
}


/* ------------------------------------------------------------------ */
/* sending */

static void
send_raw(conn_t *c, const void *d, size_t n)
{
    if (c->closed) {
        return;
    }

    buf_reserve(&c->wb, n);
    memcpy(c->wb.p + c->wb.pos + c->wb.len, d, n);
    c->wb.len += n;
    c->t_last_send = now();
}


static void
send_frame(conn_t *c, const void *d, size_t n)
{
    uint8_t  hdr[8];

    ngx_beacon_offset_frame_put_len(hdr, n);
    send_raw(c, hdr, 8);
    send_raw(c, d, n);
}


static void
send_plain(conn_t *c, const uint8_t *p, size_t n)
{
    uint8_t  *out;
    size_t    len;

    if (c->closed) {
        return;
    }

    buf_reserve(&c->wb, 8 + n + NGX_BEACON_OFFSET_FRAME_OVERHEAD);
    out = c->wb.p + c->wb.pos + c->wb.len;

    ngx_beacon_offset_frame_put_len(out, n + NGX_BEACON_OFFSET_FRAME_OVERHEAD);
    len = ngx_beacon_offset_channel_seal(&c->ch, out + 8, p, n);

    c->wb.len += 8 + len;
    c->tx_frames++;
    c->t_last_send = now();
}


static size_t
pack_bound(size_t n)
{
    return n + n / 4 + 1024;
}


static void
send_channel(conn_t *c, ngx_beacon_offset_capnp_channel_t *cm)
{
    size_t  padlen, n;

    padlen = ngx_beacon_offset_padding(c->pad, c->maxpad);
    cm->rand_padding.data = c->pad;
    cm->rand_padding.len = padlen;

    grow(&c->cbuf, &c->ccap, pack_bound(padlen + cm->user.len + 512));

    n = ngx_beacon_offset_capnp_encode_channel(c->cbuf, c->ccap, cm);
    if (n == 0) {
        die("encode ChannelMessage");
    }

    send_plain(c, c->cbuf, n);
}


static void
send_user(conn_t *c, const uint8_t *u, size_t n)
{
    ngx_beacon_offset_capnp_channel_t  cm;

    memset(&cm, 0, sizeof(cm));
    cm.which = NGX_BEACON_OFFSET_CONTENT_USER;
    cm.user.data = u;
    cm.user.len = n;

    send_channel(c, &cm);

    /* only keepalive-layer messages count for our keepalive (3.5) */
    c->t_last_msg = now();
}


static size_t
encode_ka_msg(uint8_t **buf, size_t *cap, const uint8_t *m, size_t n)
{
    size_t                 len;
    ngx_beacon_offset_capnp_ka_t  ka;

    memset(&ka, 0, sizeof(ka));
    ka.which = NGX_BEACON_OFFSET_KA_MESSAGE;
    ka.message.data = m ? m : (const uint8_t *) "";
    ka.message.len = n;

    grow(buf, cap, pack_bound(n + 64));

    len = ngx_beacon_offset_capnp_encode_ka(*buf, *cap, &ka);
    if (len == 0) {
        die("encode KaMessage");
    }

    return len;
}


/* an L4 message: KaMessage{message = m} */
static void
send_msg(conn_t *c, const uint8_t *m, size_t n)
{
    size_t  len;

    if (c->closed) {
        return;
    }

    len = encode_ka_msg(&c->kbuf, &c->kcap, m, n);
    send_user(c, c->kbuf, len);
}


static void
send_keepalive(conn_t *c)
{
    uint8_t                buf[64];
    size_t                 len;
    ngx_beacon_offset_capnp_ka_t  ka;

    memset(&ka, 0, sizeof(ka));
    ka.which = NGX_BEACON_OFFSET_KA_KEEPALIVE;

    len = ngx_beacon_offset_capnp_encode_ka(buf, sizeof(buf), &ka);
    send_user(c, buf, len);
    vlog("%s: keepalive sent", c->name);
}


static void
send_init(conn_t *c, unsigned which, const uint8_t *key)
{
    uint8_t                  buf[128];
    size_t                   len;
    ngx_beacon_offset_capnp_init_t  in;

    memset(&in, 0, sizeof(in));
    in.which = which;

    if (key) {
        memcpy(in.public_key, key, KEY_LEN);
    }

    len = ngx_beacon_offset_capnp_encode_init(buf, sizeof(buf), &in);
    send_msg(c, buf, len);
}


static void
send_reject(conn_t *c, const uint8_t *key)
{
    uint8_t                  buf[128];
    size_t                   len;
    ngx_beacon_offset_capnp_conn_t  rj;

    memcpy(rj.public_key, key, KEY_LEN);

    len = ngx_beacon_offset_capnp_encode_conn(buf, sizeof(buf), &rj);
    send_msg(c, buf, len);
}


static void
send_rekey_msg(conn_t *c, const uint8_t *pub, const uint8_t *salt)
{
    ngx_beacon_offset_capnp_channel_t  cm;

    memset(&cm, 0, sizeof(cm));
    cm.which = NGX_BEACON_OFFSET_CONTENT_REKEY;
    memcpy(cm.dh_public_key, pub, KEY_LEN);
    memcpy(cm.key_salt, salt, KEY_LEN);

    send_channel(c, &cm);
}


static int
start_rekey(conn_t *c)
{
    uint8_t  pub[KEY_LEN], salt[KEY_LEN];

    if (c->closed || !c->chan) {
        return -1;
    }

    if (ngx_beacon_offset_channel_rekey_start(&c->ch, pub, salt, NULL, NULL)
        != NGX_BEACON_OFFSET_OK)
    {
        return -1;
    }

    send_rekey_msg(c, pub, salt);
    c->rekey_started++;

    vlog("%s: rekey started (#%d)", c->name, c->rekey_started);

    return 0;
}


/* ------------------------------------------------------------------ */
/* receiving transport frames */

static int
read_packed(ngx_beacon_offset_capnp_msg_t *msg, const uint8_t *in, size_t len,
    uint8_t **scr, size_t *cap)
{
    int     rc;
    size_t  want;

    want = 2 * len + 65536;

    for ( ;; ) {
        grow(scr, cap, want);

        rc = ngx_beacon_offset_capnp_read_packed(msg, in, len, *scr, *cap,
            NULL);

        if (rc != NGX_BEACON_OFFSET_CAPNP_ELIMIT ||
            *cap >= 256u * 1024 * 1024) {
            return rc;
        }

        want = *cap * 4;
    }
}


static void
conn_transport(conn_t *c, uint8_t *frame, size_t len)
{
    int                          rc, crossing;
    size_t                       plen;
    uint8_t                      nonce[TNONCE_LEN];
    uint8_t                      pub[KEY_LEN], salt[KEY_LEN];
    ngx_beacon_offset_capnp_ka_t        ka;
    ngx_beacon_offset_capnp_msg_t       msg;
    ngx_beacon_offset_capnp_channel_t   cm;

    if (len >= TNONCE_LEN) {
        memcpy(nonce, frame, TNONCE_LEN);

        if (c->rx_frames < 8) {
            memcpy(c->nonces[c->rx_frames], frame, TNONCE_LEN);
        }
    }

    rc = ngx_beacon_offset_channel_open(&c->ch, frame + TNONCE_LEN, &plen,
        frame,
                                 len);
    if (rc != NGX_BEACON_OFFSET_OK) {
        conn_fail(c, "relay transport frame #%llu (%zu bytes): %s",
                  (unsigned long long) c->rx_frames, len,
                  ngx_beacon_offset_strerror(rc));
        return;
    }

    if (c->cap_next && !c->ch.has_old_receiver) {
        memcpy(c->cap_nonce, nonce, TNONCE_LEN);
        c->cap_next = 0;
        c->cap_done = 1;
    }

    c->rx_frames++;
    c->t_last_recv = now();

    rc = read_packed(&msg, frame + TNONCE_LEN, plen, &c->scr1, &c->scap1);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_channel(&msg, &cm);
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        conn_fail(c, "relay ChannelMessage does not decode: %s",
                  ngx_beacon_offset_capnp_strerror(rc));
        return;
    }

    if (cm.which == NGX_BEACON_OFFSET_CONTENT_REKEY) {
        c->rekey_in++;

        if (c->t_simul > 0 && now() - c->t_simul < 0.5) {
            c->extra_rekey++;
        }

        crossing = 0;

        if (c->simul > 0 && !c->ch.has_pending) {
            /* make it simultaneous: our Rekey crosses the relay's */
            c->simul--;
            start_rekey(c);
            crossing = 1;
        }

        rc = ngx_beacon_offset_channel_rekey_recv(&c->ch, cm.dh_public_key,
                                           cm.key_salt, pub, salt, NULL,
                                           NULL);

        if (rc == NGX_BEACON_OFFSET_REKEY_RESPOND) {
            send_rekey_msg(c, pub, salt);
            c->rekey_answered++;
            c->cap_next = 1;
            c->cap_done = 0;
            vlog("%s: answered the relay's rekey", c->name);

        } else if (rc == NGX_BEACON_OFFSET_REKEY_DONE) {
            c->rekey_done++;
            c->cap_next = 1;
            c->cap_done = 0;

            if (crossing) {
                c->simul_done++;
                c->t_simul = now();
            }

            vlog("%s: rekey done%s", c->name, crossing ? " (crossed)" : "");

        } else {
            conn_fail(c, "relay Rekey: %s", ngx_beacon_offset_strerror(rc));
        }

        return;
    }

    rc = read_packed(&msg, cm.user.data, cm.user.len, &c->scr2, &c->scap2);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_ka(&msg, &ka);
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        conn_fail(c, "relay KaMessage does not decode: %s",
                  ngx_beacon_offset_capnp_strerror(rc));
        return;
    }

    if (ka.which == NGX_BEACON_OFFSET_KA_KEEPALIVE) {
        if (c->ka_in < 256) {
            c->ka_t[c->ka_in] = now();
        }

        c->ka_in++;
        vlog("%s: keepalive from the relay", c->name);
        return;
    }

    if (c->on_msg) {
        c->on_msg(c, ka.message.data, ka.message.len);

    } else {
        q_push(&c->inbox, ka.message.data, ka.message.len);
    }
}


/* ------------------------------------------------------------------ */
/* the session loop: every wait services every connection */

static void
sess_poll(sess_t *s, double timeout)
{
    int             i, n, rc, ms;
    char            tmp[256];
    double          t;
    ssize_t         r;
    conn_t         *c, *who[MAXC + 1];
    struct pollfd   pfd[MAXC + 1];

    n = 0;
    t = now();

    for (i = 0; i < s->n; i++) {
        c = s->c[i];

        if (c->closed || c->fd == -1) {
            continue;
        }

        if (c->chan && !c->silent && t - c->t_last_msg >= G.ka) {
            send_keepalive(c);
        }

        if (c->chan && c->on_drain && c->wb.len < WB_HIGH) {
            c->on_drain(c);
        }

        if (c->wb.len) {
            conn_flush(c);
        }

        if (c->closed) {
            continue;
        }

        if (c->noread && c->wb.len == 0) {
            /* a reader that stalls: its socket is not polled at all */
            continue;
        }

        pfd[n].fd = c->fd;
        pfd[n].events = (c->noread ? 0 : POLLIN) | (c->wb.len ? POLLOUT : 0);
        pfd[n].revents = 0;
        who[n++] = c;
    }

    if (s->stdin_watch && !s->stdin_got) {
        pfd[n].fd = 0;
        pfd[n].events = POLLIN;
        pfd[n].revents = 0;
        who[n++] = NULL;
    }

    ms = timeout > 0 ? (int) (timeout * 1000) : 0;

    if (n == 0) {
        if (ms) {
            usleep((useconds_t) ms * 1000);
        }
        return;
    }

    rc = poll(pfd, (nfds_t) n, ms);
    if (rc <= 0) {
        return;
    }

    for (i = 0; i < n; i++) {
        if (pfd[i].revents == 0) {
            continue;
        }

        c = who[i];

        if (c == NULL) {
            r = read(0, tmp, sizeof(tmp));
            if (r <= 0 || memchr(tmp, '\n', (size_t) r)) {
                s->stdin_got = 1;
            }
            continue;
        }

        if (pfd[i].revents & POLLOUT) {
            conn_flush(c);
        }

        if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && !c->noread) {
            conn_input(c);
        }
    }
}


typedef int (*pred_pt)(void *arg);


/* 1 when pred holds, 0 at the deadline */
static int
sess_wait(sess_t *s, double deadline, pred_pt pred, void *arg)
{
    double  left;

    if (deadline > G.deadline) {
        deadline = G.deadline;
    }

    for ( ;; ) {
        if (pred && pred(arg)) {
            return 1;
        }

        left = deadline - now();
        if (left <= 0) {
            return pred ? pred(arg) : 1;
        }

        sess_poll(s, left < 0.05 ? left : 0.05);
    }
}


static int
p_raw(void *arg)
{
    conn_t  *c = arg;

    return c->rawq.n > 0 || c->closed;
}


static int
p_inbox(void *arg)
{
    conn_t  *c = arg;

    return c->inbox.n > 0 || c->closed;
}


static int
p_closed(void *arg)
{
    conn_t  *c = arg;

    return c->closed != 0;
}


static int
p_rekeyed(void *arg)
{
    conn_t  *c = arg;

    return !c->ch.has_pending || c->closed;
}


static int
p_never(void *arg)
{
    (void) arg;
    return 0;
}




static void
sess_sleep(sess_t *s, double secs)
{
    sess_wait(s, now() + secs, p_never, NULL);
}


static double
until(double secs)
{
    double  d;

    d = now() + secs;

    return d < G.deadline ? d : G.deadline;
}


static const char *
closed_how(conn_t *c)
{
    switch (c->closed) {
    case CL_EOF:
        return "closed by the relay";
    case CL_RESET:
        return "reset by the relay";
    case CL_LOCAL:
        return c->bad ? c->why : "closed locally";
    default:
        return "open";
    }
}


/* ------------------------------------------------------------------ */
/* the handshake */

static size_t
frame_put(uint8_t *out, const uint8_t *p, size_t n)
{
    ngx_beacon_offset_frame_put_len(out, n);
    memcpy(out + 8, p, n);

    return n + 8;
}


static int
hs_fail(conn_t *c, int rc, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);

    return rc;
}


static int
hs_wait_frame(conn_t *c, double deadline, msg_t **m, const char *what)
{
    sess_wait(c->sess, deadline, p_raw, c);

    *m = q_pop(&c->rawq);

    if (*m) {
        return HS_OK;
    }

    if (c->closed) {
        return hs_fail(c, HS_CLOSED, "%s before the relay's %s",
                       closed_how(c), what);
    }

    return hs_fail(c, HS_TIMEOUT, "no %s from the relay", what);
}


static int
hs_run(conn_t *c, hs_t *h, double deadline)
{
    int                       rc;
    size_t                    n;
    const uint8_t            *peer;
    msg_t                    *m;
    uint8_t                   buf[512], ver[16], sig[SIG_LEN];
    ngx_beacon_offset_capnp_dh_t     dh;
    ngx_beacon_offset_capnp_ern_t    ern;
    ngx_beacon_offset_capnp_msg_t    msg;

    peer = h->peer_pk ? h->peer_pk : G.have_pk ? G.relay_pk : NULL;

    if (h->step == 1) {
        goto recv_ern;
    }

    if (h->step == 2) {
        goto send_dh;
    }

    if (h->step == 3) {
        goto recv_dh;
    }

    if (c->fd == -1 && conn_connect(c, deadline) != 0) {
        return HS_BAD;
    }

    /* version frame, then ExchangeRandNonce, without waiting */

    memset(ver, 0, sizeof(ver));
    ver[0] = (uint8_t) (h->ver_value >> 24);
    ver[1] = (uint8_t) (h->ver_value >> 16);
    ver[2] = (uint8_t) (h->ver_value >> 8);
    ver[3] = (uint8_t) h->ver_value;
    send_frame(c, ver, h->ver_len ? h->ver_len : 4);

    if (h->nonce) {
        memcpy(h->my_nonce, h->nonce, RNONCE_LEN);

    } else {
        randombytes_buf(h->my_nonce, RNONCE_LEN);
    }

    memset(&ern, 0, sizeof(ern));
    memcpy(ern.rand_nonce, h->my_nonce, RNONCE_LEN);
    memcpy(ern.src_public_key, c->id->pk, KEY_LEN);

    if (!h->no_dest && peer) {
        ern.has_dest = 1;
        memcpy(ern.dest_public_key, peer, KEY_LEN);
    }

    n = ngx_beacon_offset_capnp_encode_ern(buf, sizeof(buf), &ern);
    if (n == 0) {
        die("encode ExchangeRandNonce");
    }

    h->sent_ern_len = frame_put(h->sent_ern, buf, n);
    send_raw(c, h->sent_ern, h->sent_ern_len);

    h->step = 1;

    if (h->stop == 1) {
        return HS_OK;
    }

recv_ern:

    rc = hs_wait_frame(c, deadline, &m, "version frame");
    if (rc != HS_OK) {
        return rc;
    }

    h->relay_ver_len = m->len < sizeof(h->relay_ver) ? m->len
                                                     : sizeof(h->relay_ver);
    memcpy(h->relay_ver, m->data, h->relay_ver_len);
    h->ver_ok = ngx_beacon_offset_version_check(m->data,
        m->len) == NGX_BEACON_OFFSET_OK;
    free(m);

    if (!h->ver_ok) {
        return hs_fail(c, HS_BAD, "relay version frame is not version 0");
    }

    rc = hs_wait_frame(c, deadline, &m, "ExchangeRandNonce");
    if (rc != HS_OK) {
        return rc;
    }

    rc = ngx_beacon_offset_capnp_read_packed(&msg, m->data, m->len, buf,
                                      sizeof(buf), NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_ern(&msg, &h->relay_ern);
    }

    free(m);

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return hs_fail(c, HS_BAD, "relay ExchangeRandNonce: %s",
                       ngx_beacon_offset_capnp_strerror(rc));
    }

    h->ern_key_ok = peer == NULL
                    || memcmp(h->relay_ern.src_public_key, peer, KEY_LEN)
                       == 0;

    if (!h->ern_key_ok) {
        return hs_fail(c, HS_BAD, "relay srcPublicKey is not the ticket's");
    }

    h->step = 2;

    if (h->stop == 2) {
        return HS_OK;
    }

send_dh:

    /* ExchangeDh: our ephemeral key, the relay's nonce echoed, signed */

    ngx_beacon_offset_dh_init(&h->dh, h->scalar, h->salt);

    memset(&dh, 0, sizeof(dh));
    memcpy(dh.dh_public_key, h->dh.pub, KEY_LEN);
    memcpy(dh.rand_nonce, h->relay_ern.rand_nonce, RNONCE_LEN);
    memcpy(dh.key_salt, h->dh.salt, KEY_LEN);

    if (h->bad_echo) {
        dh.rand_nonce[5] ^= 0x40;
    }

    ngx_beacon_offset_dh_sign(sig, c->id->sk, h->dh.pub,
        h->relay_ern.rand_nonce,
                       h->dh.salt);

    if (h->flip_sig) {
        sig[17] ^= 0x08;
    }

    memcpy(dh.signature, sig, SIG_LEN);

    n = ngx_beacon_offset_capnp_encode_dh(buf, sizeof(buf), &dh);
    if (n == 0) {
        die("encode ExchangeDh");
    }

    h->sent_dh_len = frame_put(h->sent_dh, buf, n);
    send_raw(c, h->sent_dh, h->sent_dh_len);

    h->step = 3;

    if (h->stop == 3) {
        return HS_OK;
    }

recv_dh:

    rc = hs_wait_frame(c, deadline, &m, "ExchangeDh");
    if (rc != HS_OK) {
        return rc;
    }

    rc = ngx_beacon_offset_capnp_read_packed(&msg, m->data, m->len, buf,
                                      sizeof(buf), NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_dh(&msg, &h->relay_dh);
    }

    free(m);

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return hs_fail(c, HS_BAD, "relay ExchangeDh: %s",
                       ngx_beacon_offset_capnp_strerror(rc));
    }

    h->echo_ok = ngx_beacon_offset_nonce_check(h->relay_dh.rand_nonce,
        h->my_nonce)
                 == NGX_BEACON_OFFSET_OK;

    if (!h->echo_ok) {
        return hs_fail(c, HS_BAD, "relay ExchangeDh echoes another nonce");
    }

    h->sig_ok = ngx_beacon_offset_dh_verify(h->relay_dh.signature,
                                     h->relay_ern.src_public_key,
                                     h->relay_dh.dh_public_key, h->my_nonce,
                                     h->relay_dh.key_salt) == NGX_BEACON_OFFSET_OK;

    if (!h->sig_ok) {
        return hs_fail(c, HS_BAD, "relay ExchangeDh signature does not "
                       "verify");
    }

    rc = ngx_beacon_offset_derive_keys(h->send_key, h->recv_key, &h->dh,
                                h->relay_dh.dh_public_key,
                                h->relay_dh.key_salt);
    if (rc != NGX_BEACON_OFFSET_OK) {
        return hs_fail(c, HS_BAD, "key derivation: %s",
                       ngx_beacon_offset_strerror(rc));
    }

    ngx_beacon_offset_channel_init(&c->ch, h->send_key, h->recv_key);
    c->chan = 1;
    c->t_hs = now();
    h->step = 4;

    vlog("%s: handshake done", c->name);

    /* frames that came with the relay's ExchangeDh */
    conn_process(c);

    return HS_OK;
}


/* a node connection: handshake, then InitConnection (which < 0: none) */
static conn_t *
node(sess_t *s, const char *name, const ngx_beacon_offset_ident_t *id,
    int which, const uint8_t *key, double deadline, char *err, size_t errlen)
{
    int      rc;
    hs_t     h;
    conn_t  *c;

    c = conn_new(s, name, id);

    memset(&h, 0, sizeof(h));
    rc = hs_run(c, &h, deadline);

    if (rc != HS_OK) {
        snprintf(err, errlen, "%s: handshake: %s", name, c->why);
        conn_close(c, 0);
        return NULL;
    }

    if (which >= 0) {
        send_init(c, (unsigned) which, key);
        conn_flush(c);
    }

    if (which == NGX_BEACON_OFFSET_INIT_LISTEN) {
        /*
         * Listen has no acknowledgement: give the relay (maybe another
         * worker than the next Connect's) a moment to register it
         */
        sess_sleep(s, 0.1);
    }

    return c;
}


/* ------------------------------------------------------------------ */
/* identities */

static void
ident_for(ngx_beacon_offset_ident_t *id, int idx, int role)
{
    uint8_t  seed[32];

    memcpy(seed, G.seed, 32);

    if (role == ROLE_B && idx == 0 && G.have_seed2) {
        memcpy(seed, G.seed2, 32);

    } else {
        seed[31] ^= (uint8_t) role;
        seed[30] ^= (uint8_t) (idx & 0xff);
        seed[29] ^= (uint8_t) ((idx >> 8) & 0xff);
    }

    if (ngx_beacon_offset_ident_from_seed(id,
        seed) != NGX_BEACON_OFFSET_IDENT_OK) {
        die("identity from seed");
    }
}


static void
ident_random(ngx_beacon_offset_ident_t *id)
{
    if (ngx_beacon_offset_ident_generate(id) != NGX_BEACON_OFFSET_IDENT_OK) {
        die("identity");
    }
}


/* ------------------------------------------------------------------ */
/* deterministic tunnel traffic */

static void
pool_init(void)
{
    size_t    i;
    uint64_t  x;

    g_pool = xmalloc(POOL_LEN);

    for (i = 0; i < POOL_LEN; i += 8) {
        x = mix64(i ^ 0x4f66667365744e6fULL);
        put_le64(g_pool + i, x);
    }
}


static size_t
stream_len(stream_t *st)
{
    size_t    len;
    uint64_t  h, left;

    h = mix64(st->seed ^ (st->k * 0x9e3779b97f4a7c15ULL));

    if (st->fixed) {
        len = st->fixed;

    } else if (st->k == 0) {
        len = 0;

    } else if (st->k == 1) {
        len = 116;

    } else if (st->big && st->k % 64 == 5) {
        len = (1u << 20) - (size_t) (h % 4096);

    } else {
        len = (size_t) (h % 65537);
    }

    left = st->total - st->bytes;

    if (len > left) {
        len = (size_t) left;
    }

    return len;
}


static const uint8_t *
stream_data(stream_t *st, size_t len)
{
    uint64_t  h;

    h = mix64(st->seed ^ 0x5a5a5a5a12345678ULL
              ^ (st->k * 0xc2b2ae3d27d4eb4fULL));

    return g_pool + (size_t) (h % (POOL_LEN - len + 1));
}


static int
stream_done(stream_t *st)
{
    return st->k >= 2 && st->bytes >= st->total;
}


static void
stream_init(stream_t *st, uint64_t seed, uint64_t total)
{
    memset(st, 0, sizeof(stream_t));
    st->seed = seed;
    st->total = total;
    st->fixed = G.msgsize;
    st->big = total >= 8u * 1024 * 1024;
}


static void
end_produce(conn_t *c)
{
    size_t     len;
    end_t     *e = c->data;
    uint64_t   limit;

    limit = e->pre_limit;

    if (*e->go && e->rx.k >= e->need_rx) {
        limit = UINT64_MAX;
    }

    for ( ;; ) {
        /* our rekeys: the n-th once n/(wanted + 1) of the bytes are sent */
        if (e->rekeys_wanted && c->rekey_started < e->rekeys_wanted
            && !c->ch.has_pending && *e->go
            && e->tx.bytes >= e->rekey_next)
        {
            if (start_rekey(c) == 0) {
                e->rekey_next += e->rekey_every;
            }
        }

        if (c->wb.len >= WB_HIGH || c->closed || stream_done(&e->tx)
            || e->tx.k >= limit)
        {
            break;
        }

        len = stream_len(&e->tx);
        send_msg(c, stream_data(&e->tx, len), len);
        e->tx.bytes += len;
        e->tx.k++;
    }
}


static void
end_on_msg(conn_t *c, const uint8_t *m, size_t len)
{
    size_t          want, i;
    end_t          *e = c->data;
    const uint8_t  *d;

    if (e->err) {
        return;
    }

    if (stream_done(&e->rx)) {
        e->err = 1;
        snprintf(e->why, sizeof(e->why), "an extra message of %zu bytes "
                 "after message %llu", len, (unsigned long long) e->rx.k);
        return;
    }

    want = stream_len(&e->rx);

    if (len != want) {
        e->err = 1;
        snprintf(e->why, sizeof(e->why), "message %llu has %zu bytes, "
                 "expected %zu", (unsigned long long) e->rx.k, len, want);
        return;
    }

    d = stream_data(&e->rx, len);

    if (len && memcmp(m, d, len) != 0) {
        for (i = 0; i < len && m[i] == d[i]; i++) {
            /* void */
        }

        e->err = 1;
        snprintf(e->why, sizeof(e->why), "message %llu (%zu bytes) differs "
                 "at byte %zu", (unsigned long long) e->rx.k, len, i);
        return;
    }

    e->rx.bytes += len;
    e->rx.k++;
}


static void
end_init(end_t *e, conn_t *c, uint64_t txseed, uint64_t rxseed,
    uint64_t total, int *go)
{
    memset(e, 0, sizeof(end_t));
    e->c = c;
    e->go = go;
    stream_init(&e->tx, txseed, total);
    stream_init(&e->rx, rxseed, total);

    c->data = e;
    c->on_msg = end_on_msg;
    c->on_drain = end_produce;
}


/* stop the traffic engine: further messages go to the inbox */
static void
end_detach(end_t *e)
{
    if (e->c) {
        e->c->on_msg = NULL;
        e->c->on_drain = NULL;
    }
}


static int
p_tunnel_done(void *arg)
{
    tunnel_t  *t = arg;

    if (t->ea.err || t->eb.err || t->ca->closed || t->cb->closed) {
        return 1;
    }

    return stream_done(&t->ea.tx) && stream_done(&t->ea.rx)
           && stream_done(&t->eb.tx) && stream_done(&t->eb.rx)
           && t->ca->rekey_started >= t->ea.rekeys_wanted
           && t->cb->rekey_started >= t->eb.rekeys_wanted
           && !t->ca->ch.has_pending && !t->cb->ch.has_pending;
}


static int
p_tunnel_up(void *arg)
{
    tunnel_t  *t = arg;

    if (t->ea.err || t->eb.err || t->ca->closed || t->cb->closed) {
        return 1;
    }

    return t->eb.rx.k >= 2 && t->ea.rx.k >= 1;
}


static int
p_conn_msg(void *arg)
{
    conn_t  *c = arg;

    return c->inbox.n > 0 || c->closed;
}


/*
 * Listen as B (unless t->lb is set), Connect as A followed by F1 and F2,
 * the notification, Accept as B on a new connection followed by G1; true
 * when B got F1, F2 and A got G1.  The transfer runs once t->go is set.
 */
static int
tunnel_setup(tunnel_t *t, uint64_t total, double deadline, int report)
{
    char                     err[300], name[48];
    msg_t                   *m;
    uint64_t                 sab, sba;
    ngx_beacon_offset_capnp_msg_t   msg;
    ngx_beacon_offset_capnp_conn_t  in;
    int                      rc;
    uint8_t                  scr[1024];

    if (t->lb == NULL) {
        snprintf(name, sizeof(name), "B%d.listen", t->idx);
        t->lb = node(&t->s, name, &t->idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
                     deadline, err, sizeof(err));
        if (t->lb == NULL) {
            check(0, err, "B listens");
            return 0;
        }
    }

    sab = mix64(((uint64_t) t->idx << 8) ^ 0xab ^ be64(t->ida.pk));
    sba = mix64(((uint64_t) t->idx << 8) ^ 0xba ^ be64(t->idb.pk));

    snprintf(name, sizeof(name), "A%d.connect", t->idx);
    t->ca = node(&t->s, name, &t->ida, NGX_BEACON_OFFSET_INIT_CONNECT,
        t->idb.pk,
                 deadline, err, sizeof(err));
    if (t->ca == NULL) {
        check(0, err, "A connects");
        return 0;
    }

    /* F1 and F2 right after Connect, before anyone accepts */
    end_init(&t->ea, t->ca, sab, sba, total, &t->go);
    t->ea.pre_limit = 2;
    t->ea.need_rx = 1;
    end_produce(t->ca);
    conn_flush(t->ca);

    sess_wait(&t->s, deadline, p_conn_msg, t->lb);

    m = q_pop(&t->lb->inbox);
    if (m == NULL) {
        check(0, t->lb->closed ? closed_how(t->lb) : "nothing within -t",
              "B notified of A's Connect");
        return 0;
    }

    rc = ngx_beacon_offset_capnp_read_packed(&msg, m->data, m->len, scr,
                                      sizeof(scr), NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_conn(&msg, &in);
    }

    free(m);

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK
        || memcmp(in.public_key, t->ida.pk, KEY_LEN) != 0)
    {
        check(0,
            rc != NGX_BEACON_OFFSET_CAPNP_OK ? ngx_beacon_offset_capnp_strerror(rc)
                                           : "another key",
              "B gets IncomingConnection{A}");
        return 0;
    }

    if (report) {
        check(1, NULL, "B gets IncomingConnection{A}");
    }

    snprintf(name, sizeof(name), "B%d.accept", t->idx);
    t->cb = node(&t->s, name, &t->idb, NGX_BEACON_OFFSET_INIT_ACCEPT,
        t->ida.pk,
                 deadline, err, sizeof(err));
    if (t->cb == NULL) {
        check(0, err, "B accepts on a new connection");
        return 0;
    }

    end_init(&t->eb, t->cb, sba, sab, total, &t->go);
    t->eb.pre_limit = 1;
    end_produce(t->cb);
    conn_flush(t->cb);

    sess_wait(&t->s, deadline, p_tunnel_up, t);

    if (t->eb.rx.k < 2) {
        check(0, t->eb.err ? t->eb.why
                 : t->cb->closed ? closed_how(t->cb)
                 : t->ca->closed ? closed_how(t->ca) : "not within -t",
              "B receives F1 and F2, exactly and in order");
        return 0;
    }

    if (t->ea.rx.k < 1) {
        check(0, t->ea.err ? t->ea.why
                 : t->ca->closed ? closed_how(t->ca) : "not within -t",
              "A receives G1");
        return 0;
    }

    if (report) {
        check(1, NULL, "B receives F1 and F2, exactly and in order");
        check(1, NULL, "A receives G1");
    }

    return 1;
}


static const char *
tunnel_why(tunnel_t *t)
{
    static __thread char  why[300];

    if (t->ea.err) {
        snprintf(why, sizeof(why), "A received: %s", t->ea.why);

    } else if (t->eb.err) {
        snprintf(why, sizeof(why), "B received: %s", t->eb.why);

    } else if (t->ca->closed) {
        snprintf(why, sizeof(why), "A's connection: %s", closed_how(t->ca));

    } else if (t->cb->closed) {
        snprintf(why, sizeof(why), "B's connection: %s", closed_how(t->cb));

    } else {
        snprintf(why, sizeof(why), "not done within -t (A->B %llu of %llu,"
                 " B->A %llu of %llu bytes)",
                 (unsigned long long) t->eb.rx.bytes,
                 (unsigned long long) t->ea.tx.total,
                 (unsigned long long) t->ea.rx.bytes,
                 (unsigned long long) t->eb.tx.total);
    }

    return why;
}


/* runs the transfer; true when every byte arrived, byte-exact */
static int
tunnel_transfer(tunnel_t *t, double deadline)
{
    t->go = 1;
    t->t_go = now();

    sess_wait(&t->s, deadline, p_tunnel_done, t);

    t->t_done = now();

    return !t->ea.err && !t->eb.err && stream_done(&t->ea.rx)
           && stream_done(&t->eb.rx);
}


static void
tunnel_report(tunnel_t *t, int ok)
{
    check(ok && stream_done(&t->eb.rx), tunnel_why(t),
          "A->B %llu bytes in %llu messages, byte-exact",
          (unsigned long long) t->eb.rx.bytes,
          (unsigned long long) t->eb.rx.k);
    check(ok && stream_done(&t->ea.rx), tunnel_why(t),
          "B->A %llu bytes in %llu messages, byte-exact",
          (unsigned long long) t->ea.rx.bytes,
          (unsigned long long) t->ea.rx.k);
}


static void
tunnel_init(tunnel_t *t, int idx)
{
    memset(t, 0, sizeof(tunnel_t));
    t->idx = idx;
    ident_for(&t->ida, idx, ROLE_A);
    ident_for(&t->idb, idx, ROLE_B);
}


/* one message from -> to through the relay, in inbox mode */
static int
xfer_one(conn_t *from, conn_t *to, size_t len, double deadline, char *why,
    size_t whylen)
{
    msg_t    *m;
    uint8_t  *d;
    int       ok;

    d = xmalloc(len);
    randombytes_buf(d, len);

    send_msg(from, d, len);
    conn_flush(from);

    sess_wait(to->sess, deadline, p_inbox, to);

    m = q_pop(&to->inbox);
    ok = m && m->len == len && memcmp(m->data, d, len) == 0;

    if (!ok) {
        snprintf(why, whylen, "%s", m ? "the message differs"
                 : to->closed ? closed_how(to)
                 : from->closed ? closed_how(from) : "not within -t");
    }

    free(m);
    free(d);

    return ok;
}


/* ------------------------------------------------------------------ */
/* checks shared by the scenarios */

static int
decode_incoming(msg_t *m, uint8_t *key)
{
    int                      rc;
    uint8_t                  scr[1024];
    ngx_beacon_offset_capnp_msg_t   msg;
    ngx_beacon_offset_capnp_conn_t  in;

    rc = ngx_beacon_offset_capnp_read_packed(&msg, m->data, m->len, scr,
                                      sizeof(scr), NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_conn(&msg, &in);
    }

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        memcpy(key, in.public_key, KEY_LEN);
    }

    return rc;
}


/* waits for IncomingConnection{key} on a Listen connection */
static int
expect_incoming(conn_t *l, const uint8_t *key, double deadline, char *why,
    size_t whylen)
{
    msg_t    *m;
    uint8_t   got[KEY_LEN];
    int       rc;

    sess_wait(l->sess, deadline, p_inbox, l);

    m = q_pop(&l->inbox);
    if (m == NULL) {
        snprintf(why, whylen, "%s", l->closed ? closed_how(l)
                                              : "no notification within -t");
        return 0;
    }

    rc = decode_incoming(m, got);
    free(m);

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        snprintf(why, whylen, "not an IncomingConnection: %s",
                 ngx_beacon_offset_capnp_strerror(rc));
        return 0;
    }

    if (memcmp(got, key, KEY_LEN) != 0) {
        snprintf(why, whylen, "IncomingConnection names another key");
        return 0;
    }

    return 1;
}


/* waits (up to bound seconds) for the relay to close c */
static int
expect_closed(conn_t *c, double from, double bound, const char *what)
{
    char    why[320];
    int     ok;

    sess_wait(c->sess, until(bound), p_closed, c);

    ok = c->closed == CL_EOF || c->closed == CL_RESET;

    if (c->closed == CL_LOCAL) {
        snprintf(why, sizeof(why), "%s", c->why);

    } else {
        snprintf(why, sizeof(why), "still open after %.1f s",
                 now() - from);
    }

    check(ok, why, "%s", what);

    if (ok) {
        note("closed_after", "%.2f", c->t_closed - from);
    }

    return ok;
}


/*
 * A bystander: a Listen connection opened before a bad input; afterwards
 * a new node connects to it and the bystander must be notified (the bad
 * connection closed only itself, and new handshakes still work).
 */
typedef struct {
    ngx_beacon_offset_ident_t    id;
    ngx_beacon_offset_ident_t    peer;
    conn_t               *c;
} bystander_t;


static void
by_open(sess_t *s, bystander_t *b)
{
    char  err[300];

    ident_random(&b->id);
    ident_random(&b->peer);

    b->c = node(s, "bystander", &b->id, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
                until(10), err, sizeof(err));

    if (b->c == NULL) {
        check(0, err, "a bystander connection is set up");
    }
}


static void
by_check(sess_t *s, bystander_t *b)
{
    char     err[300];
    conn_t  *p;
    int      ok;

    if (b->c == NULL) {
        return;
    }

    p = node(s, "newcomer", &b->peer, NGX_BEACON_OFFSET_INIT_CONNECT, b->id.pk,
             until(10), err, sizeof(err));

    if (p == NULL) {
        check(0, err, "the relay keeps serving: a new handshake works");
        return;
    }

    check(1, NULL, "the relay keeps serving: a new handshake works");

    ok = expect_incoming(b->c, b->peer.pk, until(5), err, sizeof(err));
    check(ok, err, "other connections are unaffected (bystander notified)");

    if (ok) {
        send_reject(b->c, b->peer.pk);
        conn_flush(b->c);
    }

    conn_close(p, 0);
    conn_close(b->c, 0);
}


/* ------------------------------------------------------------------ */
/* hand-built messages */

static uint64_t
ptr_struct(int32_t off, unsigned dw, unsigned pw)
{
    return ((uint64_t) ((uint32_t) off << 2))
           | ((uint64_t) (dw | (pw << 16)) << 32);
}


static uint64_t
ptr_list(int32_t off, size_t n)
{
    return ((uint64_t) (((uint32_t) off << 2) | 1))
           | ((uint64_t) (2 | ((uint32_t) n << 3)) << 32);
}


static uint64_t
ptr_far(uint32_t pad, uint32_t seg)
{
    return (uint64_t) ((pad << 3) | 2) | ((uint64_t) seg << 32);
}


static size_t
words(size_t n)
{
    return (n + 7) / 8;
}


/*
 * Packs an unpacked message of nseg segments given as word arrays; the
 * result is malloc()ed.
 */
static uint8_t *
pack_segments(size_t *outlen, int nseg, uint8_t **seg, size_t *nwords)
{
    int       i;
    size_t    tbytes, total, off, n;
    uint8_t  *un, *out;

    tbytes = (size_t) (nseg / 2 + 1) * 8;
    total = tbytes;

    for (i = 0; i < nseg; i++) {
        total += nwords[i] * 8;
    }

    un = xmalloc(total);
    memset(un, 0, tbytes);
    put_le32(un, (uint32_t) (nseg - 1));

    off = tbytes;

    for (i = 0; i < nseg; i++) {
        put_le32(un + 4 + 4 * i, (uint32_t) nwords[i]);
        memcpy(un + off, seg[i], nwords[i] * 8);
        off += nwords[i] * 8;
    }

    out = xmalloc(pack_bound(total));
    n = ngx_beacon_offset_capnp_pack(out, pack_bound(total), un, total);
    free(un);

    if (n == 0) {
        die("pack");
    }

    *outlen = n;

    return out;
}


/*
 * KaMessage{message = d} as capnp-rust lays it out when d does not fit in
 * the first segment: the struct in segment 0, the Data behind a single far
 * pointer in segment 1.
 */
static uint8_t *
build_ka_multiseg(size_t *outlen, const uint8_t *d, size_t n)
{
    uint8_t   *seg[2], *out;
    size_t     nw[2];

    nw[0] = 3;
    nw[1] = 1 + words(n);
    seg[0] = xmalloc(nw[0] * 8);
    seg[1] = xmalloc(nw[1] * 8);
    memset(seg[0], 0, nw[0] * 8);
    memset(seg[1], 0, nw[1] * 8);

    put_le64(seg[0], ptr_struct(0, 1, 1));
    put_le64(seg[0] + 8, NGX_BEACON_OFFSET_KA_MESSAGE);
    put_le64(seg[0] + 16, ptr_far(0, 1));

    put_le64(seg[1], ptr_list(0, n));
    memcpy(seg[1] + 8, d, n);

    out = pack_segments(outlen, 2, seg, nw);

    free(seg[0]);
    free(seg[1]);

    return out;
}


/*
 * ChannelMessage{randPadding = padlen random bytes, user = u} over three
 * segments: the root and the content struct in segment 0, the padding
 * behind a far pointer in segment 1, the user Data behind a far pointer in
 * segment 2 (what capnp-rust's 1024-word first segment produces for 60 KB
 * of padding and a 20 KB payload).
 */
static uint8_t *
build_channel_multiseg(size_t *outlen, size_t padlen, const uint8_t *u,
    size_t n)
{
    uint8_t   *seg[3], *out;
    size_t     nw[3];
    int        i;

    nw[0] = 5;
    nw[1] = 1 + words(padlen);
    nw[2] = 1 + words(n);

    for (i = 0; i < 3; i++) {
        seg[i] = xmalloc(nw[i] * 8);
        memset(seg[i], 0, nw[i] * 8);
    }

    put_le64(seg[0], ptr_struct(0, 0, 2));
    put_le64(seg[0] + 8, ptr_far(0, 1));          /* randPadding */
    put_le64(seg[0] + 16, ptr_struct(0, 1, 1));   /* content at w3 */
    put_le64(seg[0] + 24, NGX_BEACON_OFFSET_CONTENT_USER);
    put_le64(seg[0] + 32, ptr_far(0, 2));         /* user */

    put_le64(seg[1], ptr_list(0, padlen));
    randombytes_buf(seg[1] + 8, padlen);

    put_le64(seg[2], ptr_list(0, n));
    memcpy(seg[2] + 8, u, n);

    out = pack_segments(outlen, 3, seg, nw);

    for (i = 0; i < 3; i++) {
        free(seg[i]);
    }

    return out;
}


/* KaMessage with discriminant 7 */
static uint8_t *
build_ka_tag7(size_t *outlen)
{
    uint8_t   w[24], *seg[1];
    size_t    nw[1];

    memset(w, 0, sizeof(w));
    put_le64(w, ptr_struct(0, 1, 1));
    put_le64(w + 8, 7);

    seg[0] = w;
    nw[0] = 3;

    return pack_segments(outlen, 1, seg, nw);
}


/* InitConnection whose root pointer is a capability (pointer kind 3) */
static uint8_t *
build_init_capability(size_t *outlen)
{
    uint8_t   w[24], *seg[1];
    size_t    nw[1];

    memset(w, 0, sizeof(w));
    put_le64(w, 3);
    put_le64(w + 8, NGX_BEACON_OFFSET_INIT_CONNECT);

    seg[0] = w;
    nw[0] = 3;

    return pack_segments(outlen, 1, seg, nw);
}


/* ------------------------------------------------------------------ */
/* Appendix A */

#define V2_HEX  "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737"
#define V4_HEX  "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0"
#define V8_HEX  "219e4d800da968d2a5fcb009c784f4746c7138edb9ee4844b739e830b05cf424"
#define V10_HEX "38ab664bd86f77d7e66bdd9ae0792913a94fd8b33a1260027e4b46c1f4884c67"
#define V13_HEX "559ed2171b98fa0c0f417b78b5c5a43e971990d7605860038d940284d3245142"
#define V14_HEX "000000000000000400000000"
#define V15_HEX                                                               \
    "000000000000006c101250010301014108014110014120011002ff4444444444"        \
    "4444440144444444444444441004ff8059677af4a59aa003142a2ddcf855f92f"        \
    "64f897be239dc9a5f0a4553438f97f121004ffabb42b7432b24ad003e6e41546"        \
    "bd68133aaf6b011ab74a22d0378777c932a32085"
#define V16_HEX                                                               \
    "0000000000000047100d500103000041080141100100001002ff333333333333"        \
    "33330133333333333333331004ffabb42b7432b24ad003e6e41546bd68133aaf"        \
    "6b011ab74a22d0378777c932a32085"
#define V18_HEX                                                               \
    "a340926aef4ad9462fa22ff81fa0edaa5b6085df0d7900ae6546c05baf45e794"        \
    "54849c3083fb9ddfbab100adce9e37f67d058a6002b7cd85c10fe964eda9700a"
#define V19_HEX                                                               \
    "00000000000000b0101b4004410c01411c014124014134011004ffd268a90d80"        \
    "4d9e210374f484c709b0fca54448eeb9ed38716c24f45cb030e839b71002ff33"        \
    "333333333333330133333333333333331004ff88888888888888880388888888"        \
    "88888888888888888888888888888888888888881008ff46d94aef6a9240a307"        \
    "aaeda01ff82fa22fae00790ddf85605b94e745af5bc04665df9dfb83309c8454"        \
    "f6379ecead00b1ba85cdb702608a057d0a70a9ed64e90fc1"
#define V22_HEX                                                               \
    "00000000000000b0101b4004410c01411c014124014134011004ffd7776fd84b"        \
    "66ab3803132979e09add6be60260123ab3d84fa9674c88f4c1464b7e1002ff44"        \
    "444444444444440144444444444444441004ff77777777777777770377777777"        \
    "77777777777777777777777777777777777777771008f7764592cd26025dffd2"        \
    "d17ed2bac53bf70612816fc77dc47aac85564898cf931a733bf7e3859d0ef25c"        \
    "83e93d8f8f751510c541576cd9decdfb0e96bf7391a7033e"
#define V23_HEX "1d51e36f66066937d9f9fdd71fea89235f2e2237fff24cd9302d3e83f1e9a299"
#define V24_HEX "e22469b6c4dc2438777b74919979eea5691004a03970ea13518349701a492507"
#define V25_HEX "10035001010001"
#define V26_HEX "1004500101010111013a5f100350010101"
#define V27_HEX                                                               \
    "1009400211051a5104010107c0ffee010111018aff100450010101011101013a"        \
    "5f10035001010101"
#define V28_HEX                                                               \
    "000000000000004400000000000000000000000087d549ec1de4f545cb055b19"        \
    "e938ff66a421d68a73fb6a746cbc3703bdcb43e8d7e00c69c942cbd1ed0f7dd1"        \
    "c827c37ce85e10801e906f91"
#define V30_HEX "100640020000500101010111013a5f100350010101"
#define V31_HEX                                                               \
    "00000000000000310000000000000000000000000fc35668578a3f7a2b886000"        \
    "1d085a2dcdce88bfa8739dd7e150dab96ca750186bcc6ea5ed"


static int
vec_eq(const uint8_t *p, size_t n, const char *hex, char *why, size_t wl)
{
    size_t    vn;
    uint8_t  *v;
    int       ok;
    char      got[160];

    v = vec(hex, &vn);
    ok = vn == n && memcmp(p, v, n) == 0;

    if (!ok) {
        tohex(got, p, n < 64 ? n : 64);
        snprintf(why, wl, "got %zu bytes %s%s", n, got, n > 64 ? "..." : "");
    }

    free(v);

    return ok;
}


/* the V27 plaintext: ChannelMessage{c0ffee, user = KaMessage{Listen}} */
static size_t
build_v27(uint8_t *out, size_t cap)
{
    uint8_t                      listen[64], ka[128];
    size_t                       ln, kn;
    ngx_beacon_offset_capnp_init_t      in;
    ngx_beacon_offset_capnp_channel_t   cm;

    memset(&in, 0, sizeof(in));
    in.which = NGX_BEACON_OFFSET_INIT_LISTEN;
    ln = ngx_beacon_offset_capnp_encode_init(listen, sizeof(listen), &in);

    {
        uint8_t  *kb = NULL;
        size_t    kc = 0;

        kn = encode_ka_msg(&kb, &kc, listen, ln);
        memcpy(ka, kb, kn);
        free(kb);
    }

    memset(&cm, 0, sizeof(cm));
    cm.rand_padding.data = (const uint8_t *) "\xc0\xff\xee";
    cm.rand_padding.len = 3;
    cm.which = NGX_BEACON_OFFSET_CONTENT_USER;
    cm.user.data = ka;
    cm.user.len = kn;

    return ngx_beacon_offset_capnp_encode_channel(out, cap, &cm);
}


static void
sc_selftest(void)
{
    char                         why[400];
    uint8_t                      seed[32], buf[1024];
    uint8_t                      sig[SIG_LEN], sk[KEY_LEN], rk[KEY_LEN];
    uint8_t                      frame[1024], *v, *u, *p, *big;
    size_t                       n, vn, un, pn, plen, i;
    ngx_beacon_offset_dh_t              dh;
    ngx_beacon_offset_ident_t           id, rid;
    ngx_beacon_offset_cipher_t          ci;
    ngx_beacon_offset_capnp_dh_t        edh;
    ngx_beacon_offset_capnp_ka_t        ka;
    ngx_beacon_offset_capnp_ern_t       ern;
    ngx_beacon_offset_capnp_msg_t       msg;
    ngx_beacon_offset_capnp_init_t      in;
    ngx_beacon_offset_capnp_channel_t   cm;
    uint8_t                      s66[32], s88[32], s77[32], n33[RNONCE_LEN];
    uint8_t                      n44[RNONCE_LEN], v2[32], v10[32], v13[32];
    uint8_t                      relay_pk[32];
    int                          rc, ok;

    memset(seed, 0x22, 32);
    memset(s66, 0x66, 32);
    memset(s88, 0x88, 32);
    memset(s77, 0x77, 32);
    memset(n33, 0x33, RNONCE_LEN);
    memset(n44, 0x44, RNONCE_LEN);
    hex_decode(v2, 32, V2_HEX);
    hex_decode(v10, 32, V10_HEX);
    hex_decode(v13, 32, V13_HEX);

    ngx_beacon_offset_ident_from_seed(&id, seed);
    check(vec_eq(id.pk, 32, V4_HEX, why, sizeof(why)), why,
          "V4: client public key from seed 22..");

    memset(seed, 0x11, 32);
    ngx_beacon_offset_ident_from_seed(&rid, seed);
    check(vec_eq(rid.pk, 32, V2_HEX, why, sizeof(why)), why,
          "V2: relay public key from seed 11..");

    /* V15 */
    memset(&ern, 0, sizeof(ern));
    memcpy(ern.rand_nonce, n44, RNONCE_LEN);
    memcpy(ern.src_public_key, id.pk, KEY_LEN);
    ern.has_dest = 1;
    memcpy(ern.dest_public_key, v2, KEY_LEN);
    n = ngx_beacon_offset_capnp_encode_ern(buf, sizeof(buf), &ern);
    n = frame_put(frame, buf, n);
    check(vec_eq(frame, n, V15_HEX, why, sizeof(why)), why,
          "V15: client ExchangeRandNonce frame, byte for byte");

    /* V14 */
    ngx_beacon_offset_version_frame(frame);
    check(vec_eq(frame, 12, V14_HEX, why, sizeof(why)), why,
          "V14: version frame");

    /* V8, V18, V19 */
    ngx_beacon_offset_dh_init(&dh, s66, s88);
    check(vec_eq(dh.pub, 32, V8_HEX, why, sizeof(why)), why,
          "V8: client X25519 public key");

    ngx_beacon_offset_dh_sign(sig, id.sk, dh.pub, n33, dh.salt);
    check(vec_eq(sig, SIG_LEN, V18_HEX, why, sizeof(why)), why,
          "V18: client signature");

    memset(&edh, 0, sizeof(edh));
    memcpy(edh.dh_public_key, dh.pub, KEY_LEN);
    memcpy(edh.rand_nonce, n33, RNONCE_LEN);
    memcpy(edh.key_salt, dh.salt, KEY_LEN);
    memcpy(edh.signature, sig, SIG_LEN);
    n = ngx_beacon_offset_capnp_encode_dh(buf, sizeof(buf), &edh);
    n = frame_put(frame, buf, n);
    check(vec_eq(frame, n, V19_HEX, why, sizeof(why)), why,
          "V19: client ExchangeDh frame, byte for byte");

    /* V23, V24 */
    rc = ngx_beacon_offset_derive_keys(sk, rk, &dh, v10, s77);
    check(rc == NGX_BEACON_OFFSET_OK && vec_eq(sk, 32, V23_HEX, why,
        sizeof(why)),
          why, "V23: client->relay key from the client's DH and V10");
    check(rc == NGX_BEACON_OFFSET_OK && vec_eq(rk, 32, V24_HEX, why,
        sizeof(why)),
          why, "V24: relay->client key");

    ngx_beacon_offset_hkdf(sk, 32, s88, 32, v13, 32, NULL, 0);
    check(vec_eq(sk, 32, V23_HEX, why, sizeof(why)), why,
          "V23: HKDF-SHA-512/256(salt V11, V13)");
    ngx_beacon_offset_hkdf(rk, 32, s77, 32, v13, 32, NULL, 0);
    check(vec_eq(rk, 32, V24_HEX, why, sizeof(why)), why,
          "V24: HKDF-SHA-512/256(salt V12, V13)");

    /* V25 .. V28 */
    memset(&in, 0, sizeof(in));
    n = ngx_beacon_offset_capnp_encode_init(buf, sizeof(buf), &in);
    check(vec_eq(buf, n, V25_HEX, why, sizeof(why)), why,
          "V25: InitConnection{listen}");

    p = NULL;
    pn = 0;
    n = encode_ka_msg(&p, &pn, buf, n);
    check(vec_eq(p, n, V26_HEX, why, sizeof(why)), why,
          "V26: KaMessage{message = V25}");
    free(p);

    n = build_v27(buf, sizeof(buf));
    check(vec_eq(buf, n, V27_HEX, why, sizeof(why)), why,
          "V27: ChannelMessage{c0ffee, user = V26}");

    ngx_beacon_offset_cipher_init(&ci, sk);
    ngx_beacon_offset_frame_put_len(frame,
        n + NGX_BEACON_OFFSET_FRAME_OVERHEAD);
    plen = ngx_beacon_offset_seal(&ci, frame + 8, buf, n);
    check(vec_eq(frame, plen + 8, V28_HEX, why, sizeof(why)), why,
          "V28: first client transport frame, byte for byte");

    /* the relay's side: V16, V22, V31 decode and verify */
    v = vec(V16_HEX, &vn);
    rc = ngx_beacon_offset_capnp_read_packed(&msg, v + 8, vn - 8, buf,
        sizeof(buf),
                                      NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_ern(&msg, &ern);
    }
    check(rc == NGX_BEACON_OFFSET_CAPNP_OK && !ern.has_dest
          && memcmp(ern.src_public_key, v2, 32) == 0
          && memcmp(ern.rand_nonce, n33, RNONCE_LEN) == 0,
          ngx_beacon_offset_capnp_strerror(rc),
          "V16: relay ExchangeRandNonce decodes (key V2, nonce 33.., "
          "no dest)");
    memcpy(relay_pk, ern.src_public_key, 32);
    free(v);

    v = vec(V22_HEX, &vn);
    rc = ngx_beacon_offset_capnp_read_packed(&msg, v + 8, vn - 8, buf,
        sizeof(buf),
                                      NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_dh(&msg, &edh);
    }
    check(rc == NGX_BEACON_OFFSET_CAPNP_OK
          && ngx_beacon_offset_nonce_check(edh.rand_nonce,
              n44) == NGX_BEACON_OFFSET_OK
          && ngx_beacon_offset_dh_verify(edh.signature, relay_pk,
              edh.dh_public_key,
                                  n44, edh.key_salt) == NGX_BEACON_OFFSET_OK
          && memcmp(edh.dh_public_key, v10, 32) == 0,
          "decode or signature", "V22: relay ExchangeDh decodes, echoes "
          "44.., its signature verifies under V2");
    free(v);

    v = vec(V31_HEX, &vn);
    ngx_beacon_offset_cipher_init(&ci, rk);
    rc = ngx_beacon_offset_open(&ci, v + 8 + TNONCE_LEN, &plen, v + 8, vn - 8);
    ok = rc == NGX_BEACON_OFFSET_OK && vec_eq(v + 8 + TNONCE_LEN, plen,
        V30_HEX,
                                       why, sizeof(why));
    if (ok) {
        rc = ngx_beacon_offset_capnp_read_packed(&msg, v + 20, plen, buf,
                                          sizeof(buf), NULL);
        ok = rc == NGX_BEACON_OFFSET_CAPNP_OK
             && ngx_beacon_offset_capnp_decode_channel(&msg, &cm)
                == NGX_BEACON_OFFSET_CAPNP_OK
             && cm.which == NGX_BEACON_OFFSET_CONTENT_USER
             && cm.rand_padding.data == NULL;
    }
    check(ok,
        rc != NGX_BEACON_OFFSET_OK ? ngx_beacon_offset_strerror(rc) : why,
          "V31: relay transport frame opens with V24 to V30");
    free(v);

    /* our hand-built messages decode as intended */
    big = xmalloc(20000);
    randombytes_buf(big, 20000);
    u = build_ka_multiseg(&un, big, 20000);
    p = build_channel_multiseg(&pn, 60000, u, un);

    {
        uint8_t  *s1 = NULL, *s2 = NULL;
        size_t    c1 = 0, c2 = 0;

        rc = read_packed(&msg, p, pn, &s1, &c1);
        ok = rc == NGX_BEACON_OFFSET_CAPNP_OK && msg.nsegs == 3
             && ngx_beacon_offset_capnp_decode_channel(&msg, &cm)
                == NGX_BEACON_OFFSET_CAPNP_OK
             && cm.which == NGX_BEACON_OFFSET_CONTENT_USER
             && cm.rand_padding.len == 60000
             && cm.user.len == un && memcmp(cm.user.data, u, un) == 0;

        if (ok) {
            rc = read_packed(&msg, cm.user.data, cm.user.len, &s2, &c2);
            ok = rc == NGX_BEACON_OFFSET_CAPNP_OK && msg.nsegs == 2
                 && ngx_beacon_offset_capnp_decode_ka(&msg, &ka)
                    == NGX_BEACON_OFFSET_CAPNP_OK
                 && ka.which == NGX_BEACON_OFFSET_KA_MESSAGE
                 && ka.message.len == 20000
                 && memcmp(ka.message.data, big, 20000) == 0;
        }

        free(s1);
        free(s2);
    }

    check(ok, "does not decode as built",
          "multi-segment ChannelMessage (far pointers, 60000 B padding) and "
          "KaMessage (20000 B) decode");
    note("multiseg_packed_bytes", "%zu", pn);
    free(u);
    free(p);
    free(big);

    p = build_ka_tag7(&pn);
    rc = ngx_beacon_offset_capnp_read_packed(&msg, p, pn, buf, sizeof(buf),
        NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_ka(&msg, &ka);
    }
    check(rc == NGX_BEACON_OFFSET_CAPNP_EUNION,
        ngx_beacon_offset_capnp_strerror(rc),
          "KaMessage with discriminant 7 is refused by the decoder");
    free(p);

    p = build_init_capability(&pn);
    rc = ngx_beacon_offset_capnp_read_packed(&msg, p, pn, buf, sizeof(buf),
        NULL);
    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_decode_init(&msg, &in);
    }
    check(rc == NGX_BEACON_OFFSET_CAPNP_EPOINTER,
        ngx_beacon_offset_capnp_strerror(rc),
          "InitConnection with a capability root is refused by the decoder");
    free(p);

    /* the traffic streams are reproducible */
    {
        stream_t  a, b;
        int       same = 1;

        stream_init(&a, 42, 1000000);
        stream_init(&b, 42, 1000000);

        for (i = 0; i < 200 && !stream_done(&a); i++) {
            n = stream_len(&a);
            same &= n == stream_len(&b)
                    && memcmp(stream_data(&a, n), stream_data(&b, n), n) == 0;
            a.bytes += n;
            a.k++;
            b.bytes += n;
            b.k++;
        }

        check(same && stream_done(&a) && a.bytes == 1000000, "streams differ",
              "traffic streams are deterministic and end exactly");
    }
}


/* ------------------------------------------------------------------ */
/* scenarios: the handshake (section 6.3, 1 - 9) */

static double
raw_connect(sess_t *s, conn_t **cp, const char *name,
    const ngx_beacon_offset_ident_t *id)
{
    conn_t  *c;

    c = conn_new(s, name, id);
    c->raw_want = 1000;
    *cp = c;

    if (conn_connect(c, until(10)) != 0) {
        check(0, c->why, "connect to the relay");
        return -1;
    }

    return c->t_open;
}


static void
sc_version(void)
{
    sess_t   s;
    conn_t  *c;
    msg_t   *m;
    int      ok;

    memset(&s, 0, sizeof(s));

    if (raw_connect(&s, &c, "version", NULL) < 0) {
        goto done;
    }

    sess_wait(&s, until(G.t), p_raw, c);

    m = q_pop(&c->rawq);
    ok = m && m->len == 4 && memcmp(m->data, "\0\0\0\0", 4) == 0;

    check(ok, m ? "another first frame" : closed_how(c),
          "the relay's first 12 bytes are 0000000000000004 00000000");
    free(m);

done:

    sess_free(&s);
}


/* a bad pre-handshake input: closed, relay keeps serving */
static void
sc_bad_start(const char *what, int kind)
{
    sess_t              s;
    conn_t             *c;
    uint8_t             buf[512];
    bystander_t         by;
    ngx_beacon_offset_ident_t  id;
    hs_t                h;
    double              t;
    size_t              i;

    memset(&s, 0, sizeof(s));
    by_open(&s, &by);
    ident_random(&id);

    c = conn_new(&s, what, &id);
    c->raw_want = 1000;
    memset(&h, 0, sizeof(h));

    switch (kind) {

    case 0:     /* version 1 */
        h.ver_value = 1;
        h.stop = 1;
        hs_run(c, &h, until(10));
        break;

    case 1:     /* 5-byte version frame */
        h.ver_len = 5;
        h.stop = 1;
        hs_run(c, &h, until(10));
        break;

    case 2:     /* a 64-byte garbage frame instead of the version */
        if (conn_connect(c, until(10)) == 0) {
            randombytes_buf(buf, 64);
            send_frame(c, buf, 64);
        }
        break;

    case 3:     /* version, then a garbage frame instead of ERN */
        if (conn_connect(c, until(10)) == 0) {
            ngx_beacon_offset_version_frame(buf);
            send_raw(c, buf, 12);
            randombytes_buf(buf, 100);
            memset(buf, 0xff, 5);
            send_frame(c, buf, 100);
        }
        break;

    case 4:     /* raw random bytes, no framing */
        if (conn_connect(c, until(10)) == 0) {
            randombytes_buf(buf, 256);
            buf[0] |= 0x80;
            send_raw(c, buf, 256);
        }
        break;

    default:    /* 5: an oversize length before the handshake */
        if (conn_connect(c, until(10)) == 0) {
            ngx_beacon_offset_version_frame(buf);
            send_raw(c, buf, 12);
            ngx_beacon_offset_frame_put_len(buf, G.have_bytes ? G.bytes
                                                       : 1ULL << 40);
            send_raw(c, buf, 8);

            for (i = 0; i < 4; i++) {
                randombytes_buf(buf, 512);
                send_raw(c, buf, 512);
            }
        }
        break;
    }

    if (c->fd == -1 && !c->closed) {
        check(0, c->why, "%s: connect", what);
        goto done;
    }

    t = now();
    conn_flush(c);
    expect_closed(c, t, kind >= 4 ? QUICK : G.t,
                  kind == 0 ? "version 1: closed"
                  : kind == 1 ? "5-byte version frame: closed"
                  : kind == 2 ? "garbage frame instead of the version: closed"
                  : kind == 3 ? "garbage frame instead of ExchangeRandNonce: "
                                "closed"
                  : kind == 4 ? "raw garbage bytes: closed at once"
                  : "oversize length before the handshake: closed at once");

    by_check(&s, &by);

done:

    sess_free(&s);
}


static void
sc_version_mismatch(void)
{
    sc_bad_start("version-mismatch", 0);
}


static void
sc_bad_version_len(void)
{
    sc_bad_start("bad-version-len", 1);
}


static void
sc_garbage_pre(void)
{
    sc_bad_start("garbage-frame", 2);
    sc_bad_start("garbage-ern", 3);
    sc_bad_start("garbage-raw", 4);
}


static void
sc_identity(void)
{
    sess_t              s;
    conn_t             *c;
    hs_t                h;
    ngx_beacon_offset_ident_t  id;
    int                 rc;

    memset(&s, 0, sizeof(s));
    ident_for(&id, 0, ROLE_A);

    c = conn_new(&s, "identity", &id);
    memset(&h, 0, sizeof(h));
    h.stop = 2;

    rc = hs_run(c, &h, until(G.t));

    check(h.ver_ok, rc == HS_OK ? "" : c->why, "relay sends version 0");
    check(rc == HS_OK && h.ern_key_ok, c->why,
          "relay ExchangeRandNonce srcPublicKey is the ticket's key");
    check(rc == HS_OK, c->why, "relay randNonce is 16 bytes");

    sess_free(&s);
}


static void
sc_proof(void)
{
    sess_t              s;
    conn_t             *c;
    hs_t                h;
    ngx_beacon_offset_ident_t  id;
    int                 rc;

    memset(&s, 0, sizeof(s));
    ident_for(&id, 0, ROLE_A);

    c = conn_new(&s, "proof", &id);
    memset(&h, 0, sizeof(h));

    rc = hs_run(c, &h, until(G.t));

    check(h.ern_key_ok, c->why, "relay identity is the ticket's key");
    check(h.echo_ok, c->why, "relay ExchangeDh echoes our nonce");
    check(h.sig_ok, c->why, "relay signature verifies over dhPublicKey || "
          "ourNonce || keySalt");
    check(rc == HS_OK, c->why, "handshake complete");

    sess_free(&s);
}


static void
sc_bad_dh(const char *what, int flip)
{
    sess_t              s;
    conn_t             *c;
    hs_t                h;
    bystander_t         by;
    ngx_beacon_offset_ident_t  id;
    int                 rc;
    double              t;

    memset(&s, 0, sizeof(s));
    by_open(&s, &by);
    ident_random(&id);

    c = conn_new(&s, what, &id);
    c->raw_want = 1000;
    memset(&h, 0, sizeof(h));
    h.stop = 3;
    h.bad_echo = !flip;
    h.flip_sig = flip;

    rc = hs_run(c, &h, until(10));
    if (rc != HS_OK) {
        check(0, c->why, "%s: handshake up to our ExchangeDh", what);
        goto done;
    }

    t = now();
    conn_flush(c);

    expect_closed(c, t, QUICK, flip ? "bad signature: closed"
                                    : "wrong echoed nonce: closed");

    /* version, ExchangeRandNonce and maybe ExchangeDh, nothing else */
    check(c->raw_seen <= 3, "the relay sent transport frames",
          "no transport frame sent (%d frames)", c->raw_seen);

    by_check(&s, &by);

done:

    sess_free(&s);
}


static void
sc_wrong_nonce(void)
{
    sc_bad_dh("wrong-nonce", 0);
}


static void
sc_bad_sig(void)
{
    sc_bad_dh("bad-sig", 1);
}


static void
sc_hs_timeout(void)
{
    sess_t              s;
    conn_t             *c;
    hs_t                h;
    ngx_beacon_offset_ident_t  id;

    memset(&s, 0, sizeof(s));
    ident_random(&id);

    c = conn_new(&s, "hs-timeout", &id);
    c->raw_want = 1000;
    memset(&h, 0, sizeof(h));
    h.stop = 1;

    if (hs_run(c, &h, until(10)) != HS_OK) {
        check(0, c->why, "connect");
        goto done;
    }

    expect_closed(c, c->t_open, G.t, "silent after ExchangeRandNonce: "
                  "closed by the handshake timeout");

done:

    sess_free(&s);
}


static void
sc_transport(void)
{
    sess_t              s;
    conn_t             *l, *a;
    char                err[300], name[32];
    ngx_beacon_offset_ident_t  idb, ida[3];
    uint8_t             want[TNONCE_LEN];
    int                 i, ok;

    memset(&s, 0, sizeof(s));
    ident_for(&idb, 0, ROLE_B);

    l = node(&s, "B.listen", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
        until(10),
             err, sizeof(err));
    if (l == NULL) {
        check(0, err, "B listens");
        goto done;
    }

    /* three notifications: three relay transport frames at least */

    for (i = 0; i < 3; i++) {
        ident_for(&ida[i], i, ROLE_A2);
        snprintf(name, sizeof(name), "A%d", i);

        a = node(&s, name, &ida[i], NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
                 until(10), err, sizeof(err));
        if (a == NULL) {
            check(0, err, "A%d connects", i);
            goto done;
        }

        if (!expect_incoming(l, ida[i].pk, until(G.t), err, sizeof(err))) {
            check(0, err, "notification %d", i);
            goto done;
        }

        send_reject(l, ida[i].pk);
        sess_wait(&s, until(5), p_closed, a);
    }

    ok = l->rx_frames >= 3 && !l->bad;

    for (i = 0; ok && i < 3; i++) {
        memset(want, 0, sizeof(want));
        want[0] = (uint8_t) i;
        ok = memcmp(l->nonces[i], want, TNONCE_LEN) == 0;
    }

    check(ok, l->bad ? l->why : "nonces are not 0, 1, 2",
          "relay transport frames carry counter nonces 00.., 01 00.., "
          "02 00..");
    check(!l->bad, l->why, "every relay frame authenticates and decodes as "
          "ChannelMessage (%llu frames)", (unsigned long long) l->rx_frames);

done:

    sess_free(&s);
}


/* ------------------------------------------------------------------ */
/* scenarios: after the handshake (10 - 13, 27 - 30) */

static void
sc_silent(void)
{
    sess_t              s;
    conn_t             *c;
    char                err[300];
    ngx_beacon_offset_ident_t  id;

    memset(&s, 0, sizeof(s));
    ident_random(&id);

    c = node(&s, "silent", &id, -1, NULL, until(10), err, sizeof(err));
    if (c == NULL) {
        check(0, err, "handshake");
        goto done;
    }

    c->silent = 1;

    expect_closed(c, c->t_hs, G.t, "silent after the handshake: closed by "
                  "the first-message timeout");

done:

    sess_free(&s);
}


/* a bad input after the handshake: closed at once, relay keeps serving */
static void
sc_bad_post(const char *what, int kind)
{
    sess_t              s;
    conn_t             *c;
    char                err[300];
    uint8_t             buf[512], *p;
    size_t              n;
    bystander_t         by;
    ngx_beacon_offset_ident_t  id;
    double              t;

    memset(&s, 0, sizeof(s));
    by_open(&s, &by);
    ident_random(&id);

    c = node(&s, what, &id, kind == 1 || kind == 7 ? -1
                                                   : NGX_BEACON_OFFSET_INIT_LISTEN,
             NULL, until(10), err, sizeof(err));
    if (c == NULL) {
        check(0, err, "%s: handshake", what);
        goto done;
    }

    /* let the Listen be processed first */
    sess_sleep(&s, 0.2);

    if (c->closed) {
        check(0, closed_how(c), "%s: the connection is set up", what);
        goto done;
    }

    t = now();

    switch (kind) {

    case 0:     /* a 5-byte frame */
        send_frame(c, "\x01\x02\x03\x04\x05", 5);
        break;

    case 1:     /* an invalid first message */
        send_msg(c, (const uint8_t *) "This is an invalid message", 26);
        break;

    case 2:     /* a random 100-byte frame */
        randombytes_buf(buf, 100);
        buf[0] |= 0x80;
        send_frame(c, buf, 100);
        break;

    case 3:     /* the expected nonce, then random bytes: auth fails */
        randombytes_buf(buf, 100);
        memcpy(buf, c->ch.sender.nonce, TNONCE_LEN);
        send_frame(c, buf, 100);
        break;

    case 4:     /* raw random bytes: a huge length */
        randombytes_buf(buf, 256);
        buf[0] |= 0x80;
        send_raw(c, buf, 256);
        break;

    case 5:     /* length 2^40 (or -b) */
        ngx_beacon_offset_frame_put_len(buf,
            G.have_bytes ? G.bytes : 1ULL << 40);
        send_raw(c, buf, 8);
        randombytes_buf(buf, 512);
        send_raw(c, buf, 512);
        break;

    case 6:     /* KaMessage discriminant 7 (after Listen) */
        p = build_ka_tag7(&n);
        send_user(c, p, n);
        free(p);
        break;

    default:    /* 7: InitConnection with a capability root pointer */
        p = build_init_capability(&n);
        send_msg(c, p, n);
        free(p);
        break;
    }

    conn_flush(c);

    snprintf(err, sizeof(err), "%s: closed at once",
             kind == 0 ? "5-byte frame after the handshake"
             : kind == 1 ? "invalid first message"
             : kind == 2 ? "garbage frame after the handshake"
             : kind == 3 ? "frame failing authentication"
             : kind == 4 ? "raw garbage after the handshake"
             : kind == 5 ? "oversize length after the handshake"
             : kind == 6 ? "KaMessage discriminant 7"
             : "InitConnection with a capability root pointer");

    expect_closed(c, t, QUICK, err);

    by_check(&s, &by);

done:

    sess_free(&s);
}


static void
sc_short_frame(void)
{
    sc_bad_post("short-frame", 0);
}


static void
sc_invalid_first(void)
{
    sc_bad_post("invalid-first", 1);
}


static void
sc_garbage_post(void)
{
    sc_bad_post("garbage-frame", 2);
    sc_bad_post("bad-auth", 3);
    sc_bad_post("garbage-raw", 4);
}


static void
sc_oversize(void)
{
    if (G.which != 2) {
        sc_bad_start("oversize-pre", 5);
    }

    if (G.which != 1) {
        sc_bad_post("oversize-post", 5);
    }
}


/* a Listen the relay refuses (beacon_offset_listen_allow): closed */
static void
sc_listen_refused(void)
{
    sess_t              s;
    conn_t             *c;
    hs_t                h;
    ngx_beacon_offset_ident_t  idb;

    memset(&s, 0, sizeof(s));
    memset(&h, 0, sizeof(h));
    ident_for(&idb, 0, ROLE_B);

    c = conn_new(&s, "B.listen", &idb);

    if (hs_run(c, &h, until(10)) != HS_OK) {
        check(0, c->why, "B's handshake");
        goto done;
    }

    send_init(c, NGX_BEACON_OFFSET_INIT_LISTEN, NULL);
    conn_flush(c);

    expect_closed(c, now(), QUICK, "Listen by a key not allowed: closed");

done:

    sess_free(&s);
}


/* the public keys of the nodes of -s (base64url) */
static void
sc_keys(void)
{
    char                b64[64];
    ngx_beacon_offset_ident_t  id;
    static const char  *names[] = { "a", "b", "c", "a2" };
    int                 i;

    for (i = 0; i < 4; i++) {
        ident_for(&id, 0, i);
        ngx_beacon_offset_b64_key(b64, id.pk);
        note(names[i], "%s", b64);
    }

    check(1, NULL, "keys");
}


static void
sc_bad_tag(void)
{
    sc_bad_post("ka-tag-7", 6);
    sc_bad_post("init-capability", 7);
}


static void
sc_keepalive(void)
{
    sess_t              s;
    conn_t             *c;
    char                err[300];
    ngx_beacon_offset_ident_t  id;
    double              t, gaps;
    int                 i, n;

    memset(&s, 0, sizeof(s));
    ident_random(&id);

    c = node(&s, "keepalive", &id, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
        until(10),
             err, sizeof(err));
    if (c == NULL) {
        check(0, err, "handshake and Listen");
        goto done;
    }

    c->silent = 1;
    conn_flush(c);
    t = c->t_last_send;

    sess_wait(&s, until(G.t), p_closed, c);

    n = c->ka_in < 256 ? c->ka_in : 256;

    check(n > 0, "no keepalive before the close", "relay sends keepalives "
          "to a silent listener (%d)", c->ka_in);

    if (n > 0) {
        note("first_keepalive", "%.2f", c->ka_t[0] - t);
        note("keepalives", "%d", c->ka_in);

        if (n > 1) {
            gaps = 0;
            for (i = 1; i < n; i++) {
                gaps += c->ka_t[i] - c->ka_t[i - 1];
            }
            note("keepalive_interval", "%.2f", gaps / (n - 1));
        }
    }

    check(c->closed == CL_EOF || c->closed == CL_RESET,
          c->closed ? closed_how(c) : "still open at -t",
          "relay drops the silent connection");

    if (c->closed) {
        note("closed_after", "%.2f", c->t_closed - t);
    }

done:

    sess_free(&s);
}


static void
sc_known_answer(void)
{
    sess_t                   s;
    conn_t                  *c, *a;
    hs_t                     h;
    char                     why[400];
    uint8_t                  seed[32], n44[16], s66[32], s88[32], n33[16];
    uint8_t                  buf[1024];
    size_t                   n;
    ngx_beacon_offset_ident_t       id, ida;
    ngx_beacon_offset_capnp_ern_t   ern;
    int                      rc;

    memset(&s, 0, sizeof(s));
    memset(seed, 0x22, 32);
    memset(n44, 0x44, 16);
    memset(s66, 0x66, 32);
    memset(s88, 0x88, 32);
    memset(n33, 0x33, 16);

    ngx_beacon_offset_ident_from_seed(&id, seed);

    c = conn_new(&s, "V-client", &id);
    memset(&h, 0, sizeof(h));
    h.nonce = n44;
    h.scalar = s66;
    h.salt = s88;

    rc = hs_run(c, &h, until(G.t));

    check(h.sent_ern_len && vec_eq(h.sent_ern, h.sent_ern_len, V15_HEX, why,
                                   sizeof(why)),
          why, "sent V15 byte for byte");
    check(h.relay_ver_len == 4 && h.ver_ok, "not version 0",
          "relay version frame is V14");

    check(h.ern_key_ok && h.relay_ver_len, rc == HS_OK ? "" : c->why,
          "relay ExchangeRandNonce srcPublicKey is V2");

    if (h.ern_key_ok && h.relay_ver_len) {
        ern = h.relay_ern;
        memcpy(ern.rand_nonce, n33, 16);
        n = ngx_beacon_offset_capnp_encode_ern(buf + 8, sizeof(buf) - 8, &ern);
        ngx_beacon_offset_frame_put_len(buf, n);
        check(vec_eq(buf, n + 8, V16_HEX, why, sizeof(why)), why,
              "relay ExchangeRandNonce has V16's shape (no optDestPublicKey)");
    }

    check(h.sent_dh_len && vec_eq(h.dh.pub, 32, V8_HEX, why, sizeof(why)),
          why, "sent ExchangeDh with V8");
    check(rc == HS_OK && h.sig_ok && h.echo_ok, c->why,
          "relay ExchangeDh echoes 44.. and its signature verifies under V2");

    if (rc != HS_OK) {
        goto done;
    }

    /* V27 as the first transport frame (nonce 0), under the real key */
    n = build_v27(buf, sizeof(buf));
    check(vec_eq(buf, n, V27_HEX, why, sizeof(why)), why,
          "V27 plaintext built");
    check(sodium_is_zero(c->ch.sender.nonce, TNONCE_LEN), "",
          "first transport frame has nonce 0");
    send_plain(c, buf, n);
    conn_flush(c);

    sess_sleep(&s, 0.2);

    ident_random(&ida);
    a = node(&s, "A", &ida, NGX_BEACON_OFFSET_INIT_CONNECT, id.pk, until(10),
        why,
             sizeof(why));
    if (a == NULL) {
        check(0, why, "a node connects to V4");
        goto done;
    }

    check(expect_incoming(c, ida.pk, until(G.t), why, sizeof(why)), why,
          "the relay took the V27/V28 frame as Listen: notified of a "
          "Connect");
    check(!c->bad, c->why, "relay frames decrypt with keys from its DH");

    send_reject(c, ida.pk);
    conn_flush(c);

done:

    sess_free(&s);
}


/* ------------------------------------------------------------------ */
/* scenarios: the relay (14 - 23) */

static void
sc_connect_nolistener(void)
{
    sess_t              s;
    conn_t             *a;
    char                err[300];
    ngx_beacon_offset_ident_t  ida, idb;
    double              t;

    memset(&s, 0, sizeof(s));
    ident_random(&ida);
    ident_random(&idb);

    a = node(&s, "A", &ida, NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk, until(10),
        err,
             sizeof(err));
    if (a == NULL) {
        check(0, err, "A connects");
        goto done;
    }

    t = now();
    expect_closed(a, t, QUICK, "Connect to a key nobody listens on: closed");

done:

    sess_free(&s);
}


static void
sc_notify(void)
{
    sess_t              s;
    conn_t             *l, *a;
    char                err[300];
    ngx_beacon_offset_ident_t  ida, idb;

    memset(&s, 0, sizeof(s));
    ident_for(&ida, 0, ROLE_A);
    ident_for(&idb, 0, ROLE_B);

    l = node(&s, "B.listen", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
        until(10),
             err, sizeof(err));
    if (l == NULL) {
        check(0, err, "B listens");
        goto done;
    }

    a = node(&s, "A.connect", &ida, NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
             until(10), err, sizeof(err));
    if (a == NULL) {
        check(0, err, "A connects");
        goto done;
    }

    check(expect_incoming(l, ida.pk, until(G.t), err, sizeof(err)), err,
          "B's Listen connection receives IncomingConnection{A}");

done:

    sess_free(&s);
}


static void
sc_reject(void)
{
    sess_t              s;
    conn_t             *l, *a, *a2;
    char                err[300];
    ngx_beacon_offset_ident_t  ida, ida2, idb;
    double              t;

    memset(&s, 0, sizeof(s));
    ident_for(&ida, 0, ROLE_A);
    ident_for(&ida2, 0, ROLE_A2);
    ident_for(&idb, 0, ROLE_B);

    l = node(&s, "B.listen", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
        until(10),
             err, sizeof(err));
    if (l == NULL) {
        check(0, err, "B listens");
        goto done;
    }

    a = node(&s, "A.connect", &ida, NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
             until(10), err, sizeof(err));
    if (a == NULL || !expect_incoming(l, ida.pk, until(G.t), err,
                                      sizeof(err)))
    {
        check(0, err, "B notified of A");
        goto done;
    }

    send_reject(l, ida.pk);
    conn_flush(l);
    t = now();

    expect_closed(a, t, QUICK, "RejectConnection{A}: A's connection closed");

    a2 = node(&s, "A2.connect", &ida2, NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
              until(10), err, sizeof(err));

    check(a2 && expect_incoming(l, ida2.pk, until(G.t), err, sizeof(err)),
          err, "B's Listen connection stays open (notified of the next "
          "Connect)");

    if (a2) {
        send_reject(l, ida2.pk);
        conn_flush(l);
    }

done:

    sess_free(&s);
}


static void
sc_half_expiry(void)
{
    sess_t              s;
    conn_t             *l, *a;
    char                err[300];
    ngx_beacon_offset_ident_t  ida, idb;
    double              t;

    memset(&s, 0, sizeof(s));
    ident_random(&ida);
    ident_random(&idb);

    l = node(&s, "B.listen", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
        until(10),
             err, sizeof(err));
    if (l == NULL) {
        check(0, err, "B listens");
        goto done;
    }

    a = node(&s, "A.connect", &ida, NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
             until(10), err, sizeof(err));
    if (a == NULL) {
        check(0, err, "A connects");
        goto done;
    }

    t = a->t_last_send;

    if (!check(expect_incoming(l, ida.pk, until(10), err, sizeof(err)), err,
               "B notified of A"))
    {
        goto done;
    }

    expect_closed(a, t, G.t, "nobody accepts: A's half-tunnel expires");

    check(!l->closed, closed_how(l), "B's Listen connection stays open");

done:

    sess_free(&s);
}


/*
 * 3.6.2: a listener that leaves takes its pending Connects with it (they
 * are closed at once, not at the half-tunnel timeout); a Connect pending
 * for another listener stays.
 */
static void
sc_listener_leaves(void)
{
    int                 i;
    sess_t              s;
    conn_t             *l, *l2, *a[3], *a2;
    char                err[300], name[64];
    ngx_beacon_offset_ident_t  ida[3], ida2, idb, idc;
    double              t0;

    memset(&s, 0, sizeof(s));
    ident_random(&idb);
    ident_random(&idc);
    ident_random(&ida2);

    l = node(&s, "B.listen", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
             until(10), err, sizeof(err));
    if (l == NULL) {
        check(0, err, "B listens");
        goto done;
    }

    l2 = node(&s, "C.listen", &idc, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
              until(10), err, sizeof(err));
    if (l2 == NULL) {
        check(0, err, "C listens");
        goto done;
    }

    for (i = 0; i < 3; i++) {
        ident_random(&ida[i]);
        snprintf(name, sizeof(name), "A%d.connect", i + 1);

        a[i] = node(&s, name, &ida[i], NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
                    until(10), err, sizeof(err));
        if (a[i] == NULL) {
            check(0, err, "A%d connects to B", i + 1);
            goto done;
        }

        if (!check(expect_incoming(l, ida[i].pk, until(10), err,
                                   sizeof(err)),
                   err, "B notified of A%d", i + 1))
        {
            goto done;
        }
    }

    a2 = node(&s, "D.connect", &ida2, NGX_BEACON_OFFSET_INIT_CONNECT, idc.pk,
              until(10), err, sizeof(err));
    if (a2 == NULL) {
        check(0, err, "D connects to C");
        goto done;
    }

    if (!check(expect_incoming(l2, ida2.pk, until(10), err, sizeof(err)),
               err, "C notified of D"))
    {
        goto done;
    }

    conn_close(l, 0);
    t0 = now();

    for (i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "B leaves: A%d's Connect is closed",
                 i + 1);
        /* well before any half-tunnel timeout (the tests' is 3 s) */
        expect_closed(a[i], t0, 1.0, name);
    }

    /* a wrong drop would have closed D with the others (one close of B) */
    sess_sleep(&s, 0.3);

    check(!a2->closed && !l2->closed, closed_how(a2),
          "D's Connect to C and C's Listen stay");

done:

    sess_free(&s);
}


/* W18: a connector that leaves while pending is noticed at once */
static void
sc_connector_leaves(void)
{
    sess_t              s;
    conn_t             *l, *a, *b2;
    char                err[300];
    ngx_beacon_offset_ident_t  ida, idb;
    double              t;

    memset(&s, 0, sizeof(s));
    ident_random(&ida);
    ident_random(&idb);

    l = node(&s, "B.listen", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
        until(10),
             err, sizeof(err));
    if (l == NULL) {
        check(0, err, "B listens");
        goto done;
    }

    sess_sleep(&s, 0.2);

    a = node(&s, "A.connect", &ida, NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
             until(10), err, sizeof(err));
    if (a == NULL) {
        check(0, err, "A connects");
        goto done;
    }

    check(expect_incoming(l, ida.pk, until(G.t), err, sizeof(err)), err,
          "B's Listen connection receives IncomingConnection{A}");

    conn_close(a, 0);
    sess_sleep(&s, 0.5);

    b2 = node(&s, "B.accept", &idb, NGX_BEACON_OFFSET_INIT_ACCEPT, ida.pk,
              until(10), err, sizeof(err));
    if (b2 == NULL) {
        check(0, err, "B connects");
        goto done;
    }

    t = now();
    expect_closed(b2, t, QUICK, "A left while pending: B's Accept(A) finds "
                  "nothing pending and is closed");

    check(!l->closed, closed_how(l), "B's Listen connection stays open");

done:

    sess_free(&s);
}


static void
sc_accept_nothing(void)
{
    sess_t              s;
    conn_t             *l, *b2, *d;
    char                err[300];
    ngx_beacon_offset_ident_t  idb, idc, idd;
    double              t;

    memset(&s, 0, sizeof(s));
    ident_random(&idb);
    ident_random(&idc);
    ident_random(&idd);

    l = node(&s, "B.listen", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
        until(10),
             err, sizeof(err));
    if (l == NULL) {
        check(0, err, "B listens");
        goto done;
    }

    sess_sleep(&s, 0.2);

    b2 = node(&s, "B.accept", &idb, NGX_BEACON_OFFSET_INIT_ACCEPT, idc.pk,
              until(10), err, sizeof(err));
    if (b2 == NULL) {
        check(0, err, "B connects");
        goto done;
    }

    t = now();
    expect_closed(b2, t, QUICK, "listening B sends Accept(C) with nothing "
                  "pending: closed");

    d = node(&s, "D.accept", &idd, NGX_BEACON_OFFSET_INIT_ACCEPT, idc.pk,
             until(10), err, sizeof(err));
    if (d == NULL) {
        check(0, err, "D connects");
        goto done;
    }

    t = now();
    expect_closed(d, t, QUICK, "D, not listening, sends Accept(C): closed");

    check(!l->closed, closed_how(l), "B's Listen connection stays open");

done:

    sess_free(&s);
}


static void
sc_dup_listen(void)
{
    sess_t              s;
    conn_t             *l1, *l2, *a;
    char                err[300];
    ngx_beacon_offset_ident_t  ida, idb;
    double              t;

    memset(&s, 0, sizeof(s));
    ident_random(&ida);
    ident_random(&idb);

    l1 = node(&s, "B.listen1", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
              until(10), err, sizeof(err));
    if (l1 == NULL) {
        check(0, err, "B listens");
        goto done;
    }

    sess_sleep(&s, 0.3);

    l2 = node(&s, "B.listen2", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
              until(10), err, sizeof(err));
    if (l2 == NULL) {
        check(0, err, "B listens again");
        goto done;
    }

    t = now();

    /* our relay: the newer Listen replaces the older one (section 9 #8) */
    expect_closed(l1, t, QUICK, "a newer Listen for the same key: the older "
                  "Listen connection is closed");

    a = node(&s, "A.connect", &ida, NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
             until(10), err, sizeof(err));
    if (a == NULL) {
        check(0, err, "A connects");
        goto done;
    }

    check(expect_incoming(l2, ida.pk, until(G.t), err, sizeof(err)), err,
          "the newer Listen connection receives the notification");

    send_reject(l2, ida.pk);
    conn_flush(l2);

done:

    sess_free(&s);
}


static void
sc_dup_connect(void)
{
    sess_t              s;
    conn_t             *l, *a1, *a2, *b;
    char                err[300];
    ngx_beacon_offset_ident_t  ida, idb;
    double              t;

    memset(&s, 0, sizeof(s));
    ident_random(&ida);
    ident_random(&idb);

    l = node(&s, "B.listen", &idb, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
        until(10),
             err, sizeof(err));
    if (l == NULL) {
        check(0, err, "B listens");
        goto done;
    }

    a1 = node(&s, "A.connect1", &ida, NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
              until(10), err, sizeof(err));
    if (a1 == NULL || !expect_incoming(l, ida.pk, until(10), err,
                                       sizeof(err)))
    {
        check(0, err, "B notified of A");
        goto done;
    }

    a2 = node(&s, "A.connect2", &ida, NGX_BEACON_OFFSET_INIT_CONNECT, idb.pk,
              until(10), err, sizeof(err));
    if (a2 == NULL) {
        check(0, err, "A connects again");
        goto done;
    }

    t = now();
    expect_closed(a2, t, QUICK, "a second Connect(B) from A while one is "
                  "pending: closed");

    /* drop a second notification, if the relay sent one */
    q_free(&l->inbox);

    check(!a1->closed, closed_how(a1), "the first Connect stays pending");

    b = node(&s, "B.accept", &idb, NGX_BEACON_OFFSET_INIT_ACCEPT, ida.pk,
             until(10), err, sizeof(err));
    if (b == NULL) {
        check(0, err, "B accepts");
        goto done;
    }

    check(xfer_one(b, a1, 1000, until(10), err, sizeof(err))
          && xfer_one(a1, b, 1000, until(10), err, sizeof(err)), err,
          "the first Connect is spliced with B's Accept");

done:

    sess_free(&s);
}


static int
small_tunnel(tunnel_t *t, conn_t *lb, int report)
{
    t->lb = lb;
    t->go = 1;

    if (!tunnel_setup(t, G.have_bytes ? G.bytes : 65536, until(G.t), report))
    {
        return 0;
    }

    if (!tunnel_transfer(t, until(G.t))) {
        tunnel_report(t, 0);
        return 0;
    }

    end_detach(&t->ea);
    end_detach(&t->eb);

    return 1;
}


static void
sc_splice_small_teardown(void)
{
    tunnel_t  t1, t2;
    double    t;
    conn_t   *lb;

    tunnel_init(&t1, 0);
    snprintf(t_pfx, sizeof(t_pfx), "A closes: ");

    if (!small_tunnel(&t1, NULL, 0)) {
        goto done;
    }

    conn_close(t1.ca, 0);
    t = now();
    expect_closed(t1.cb, t, QUICK, "A closes its TCP: B's tunnel connection "
                  "is closed");
    check(!t1.lb->closed, closed_how(t1.lb), "B's Listen connection stays "
          "open");

    /* the other order, through the same Listen connection */

    tunnel_init(&t2, 0);
    memcpy(&t2.s, &t1.s, sizeof(sess_t));
    lb = t1.lb;
    t1.s.n = 0;
    snprintf(t_pfx, sizeof(t_pfx), "B closes: ");

    if (!small_tunnel(&t2, lb, 0)) {
        sess_free(&t2.s);
        goto done;
    }

    conn_close(t2.cb, 0);
    t = now();
    expect_closed(t2.ca, t, QUICK, "B closes its tunnel TCP: A's connection "
                  "is closed");

    sess_free(&t2.s);

done:

    t_pfx[0] = '\0';
    sess_free(&t1.s);
}


static void
sc_listener_gone(void)
{
    tunnel_t            t;
    conn_t             *a2;
    char                err[300];
    ngx_beacon_offset_ident_t  ida2;
    double              t0;

    tunnel_init(&t, 0);

    if (!small_tunnel(&t, NULL, 0)) {
        goto done;
    }

    conn_close(t.lb, 0);
    sess_sleep(&t.s, 0.3);

    check(xfer_one(t.ca, t.cb, 5000, until(10), err, sizeof(err))
          && xfer_one(t.cb, t.ca, 5000, until(10), err, sizeof(err)), err,
          "B's Listen connection closed: the tunnel keeps working");

    ident_for(&ida2, 0, ROLE_A2);
    a2 = node(&t.s, "A2.connect", &ida2, NGX_BEACON_OFFSET_INIT_CONNECT,
        t.idb.pk,
              until(10), err, sizeof(err));
    if (a2 == NULL) {
        check(0, err, "A2 connects");
        goto done;
    }

    t0 = now();
    expect_closed(a2, t0, QUICK, "a new Connect(B) is closed");

    check(xfer_one(t.ca, t.cb, 100, until(10), err, sizeof(err)), err,
          "the tunnel still works");

done:

    sess_free(&t.s);
}


/* ------------------------------------------------------------------ */
/* scenarios: tunnels and rekeys (16, 24 - 26) */

static void *
splice_thread(void *arg)
{
    tunnel_t  *t = arg;
    int        ok;

    if (G.n > 1) {
        snprintf(t_pfx, sizeof(t_pfx), "tunnel %d: ", t->idx);
    }

    t->go = 1;

    if (!tunnel_setup(t, G.have_bytes ? G.bytes : 1024 * 1024, until(G.t),
                      1))
    {
        return NULL;
    }

    ok = tunnel_transfer(t, until(G.t));
    tunnel_report(t, ok);

    if (ok) {
        note(G.n > 1 ? "tunnel_seconds" : "seconds", "%.2f",
             t->t_done - t->t_go);
    }

    return NULL;
}


static void
run_tunnels(void *(*fn)(void *))
{
    int         i, n;
    tunnel_t   *t;
    pthread_t  *th;

    n = G.n > 0 ? G.n : 1;
    t = xmalloc(sizeof(tunnel_t) * (size_t) n);
    th = xmalloc(sizeof(pthread_t) * (size_t) n);

    for (i = 0; i < n; i++) {
        tunnel_init(&t[i], i);
    }

    if (n == 1) {
        fn(&t[0]);

    } else {
        for (i = 0; i < n; i++) {
            if (pthread_create(&th[i], NULL, fn, &t[i]) != 0) {
                die("pthread_create");
            }
        }

        for (i = 0; i < n; i++) {
            pthread_join(th[i], NULL);
        }
    }

    for (i = 0; i < n; i++) {
        sess_free(&t[i].s);
    }

    free(t);
    free(th);
}


static void
sc_splice(void)
{
    run_tunnels(splice_thread);
}


static void *
tunnel_rekey_thread(void *arg)
{
    tunnel_t  *t = arg;
    uint64_t   total;
    int        ok;

    if (G.n > 1) {
        snprintf(t_pfx, sizeof(t_pfx), "tunnel %d: ", t->idx);
    }

    total = G.have_bytes ? G.bytes : 8 * 1024 * 1024;
    t->go = 1;

    if (!tunnel_setup(t, total, until(G.t), 0)) {
        return NULL;
    }

    /* each node rekeys its hop four times during the transfer */
    t->ea.rekeys_wanted = 4;
    t->ea.rekey_every = total / 5 + 1;
    t->ea.rekey_next = t->ea.rekey_every;
    t->eb.rekeys_wanted = 4;
    t->eb.rekey_every = total / 5 + 1;
    t->eb.rekey_next = t->eb.rekey_every + t->eb.rekey_every / 2;

    ok = tunnel_transfer(t, until(G.t));
    tunnel_report(t, ok);

    check(t->ca->rekey_done >= 4 && t->ca->rekey_done == t->ca->rekey_started,
          "not every rekey completed", "A's hop rekeyed %d times "
          "(%d started), relay answered each", t->ca->rekey_done,
          t->ca->rekey_started);
    check(t->cb->rekey_done >= 4 && t->cb->rekey_done == t->cb->rekey_started,
          "not every rekey completed", "B's hop rekeyed %d times "
          "(%d started), relay answered each", t->cb->rekey_done,
          t->cb->rekey_started);

    note("relay_initiated_rekeys", "%d",
         t->ca->rekey_answered + t->cb->rekey_answered
         + t->lb->rekey_answered);

    return NULL;
}


static void
sc_tunnel_rekey(void)
{
    run_tunnels(tunnel_rekey_thread);
}


/*
 * Our Rekey on one hop, then three messages under the old key right away;
 * the relay's Rekey must come under the old key, the messages must reach
 * the other side, the relay's next frame must use the new key, nonce 0.
 */
static void
rekey_hop(const char *hop, conn_t *c, conn_t *peer)
{
    char      err[300];
    uint8_t   d[3][3000];
    msg_t    *m;
    int       i, ok;

    if (!check(start_rekey(c) == 0, "a rekey is pending", "%s hop: Rekey "
               "sent", hop))
    {
        return;
    }

    for (i = 0; i < 3; i++) {
        randombytes_buf(d[i], sizeof(d[i]));
        send_msg(c, d[i], sizeof(d[i]) - (size_t) i * 1000);
    }

    conn_flush(c);

    sess_wait(c->sess, until(G.t), p_rekeyed, c);

    check(c->rekey_done == c->rekey_started && !c->bad && !c->closed,
          c->closed ? closed_how(c) : "no Rekey from the relay",
          "%s hop: the relay answers with its Rekey under the old key", hop);

    ok = 1;

    for (i = 0; i < 3 && ok; i++) {
        sess_wait(peer->sess, until(10), p_inbox, peer);
        m = q_pop(&peer->inbox);
        ok = m && m->len == sizeof(d[i]) - (size_t) i * 1000
             && memcmp(m->data, d[i], m->len) == 0;
        free(m);
    }

    check(ok, peer->closed ? closed_how(peer) : "missing or different",
          "%s hop: messages sent under the old key after our Rekey are "
          "accepted and forwarded", hop);

    check(xfer_one(peer, c, 2000, until(10), err, sizeof(err)), err,
          "%s hop: the relay's next frame reaches us", hop);
    check(c->cap_done && sodium_is_zero(c->cap_nonce, TNONCE_LEN),
          c->cap_done ? "nonce is not 0" : "no frame under the new key",
          "%s hop: relay frames after the rekey use the new key from nonce 0",
          hop);

    check(xfer_one(c, peer, 2000, until(10), err, sizeof(err)), err,
          "%s hop: our frames under the new key are accepted", hop);
}


static void
sc_rekey(void)
{
    tunnel_t            t;
    conn_t             *a2;
    char                err[300];
    ngx_beacon_offset_ident_t  ida2;
    int                 ok;

    tunnel_init(&t, 0);

    if (!small_tunnel(&t, NULL, 0)) {
        goto done;
    }

    rekey_hop("A", t.ca, t.cb);
    rekey_hop("B", t.cb, t.ca);

    /* the Listen hop: keepalives under the old key, then notification */

    if (start_rekey(t.lb) != 0) {
        check(0, "pending", "Listen hop: Rekey sent");
        goto done;
    }

    send_keepalive(t.lb);
    send_keepalive(t.lb);
    conn_flush(t.lb);

    sess_wait(&t.s, until(G.t), p_rekeyed, t.lb);

    check(t.lb->rekey_done == t.lb->rekey_started && !t.lb->closed,
          t.lb->closed ? closed_how(t.lb) : "no Rekey from the relay",
          "Listen hop: the relay answers our Rekey");

    ident_for(&ida2, 0, ROLE_A2);
    a2 = node(&t.s, "A2.connect", &ida2, NGX_BEACON_OFFSET_INIT_CONNECT,
        t.idb.pk,
              until(10), err, sizeof(err));

    ok = a2 && expect_incoming(t.lb, ida2.pk, until(10), err, sizeof(err));
    check(ok && t.lb->cap_done && sodium_is_zero(t.lb->cap_nonce,
                                                 TNONCE_LEN),
          ok ? "not under the new key from nonce 0" : err,
          "Listen hop: notification under the new key, nonce 0");

    if (a2) {
        send_reject(t.lb, ida2.pk);
        conn_flush(t.lb);
        expect_closed(a2, now(), QUICK, "Listen hop: our Reject under the "
                      "new key is acted on");
    }

    /* and more traffic: several rekeys each way while data moves */
    check(xfer_one(t.ca, t.cb, 100000, until(10), err, sizeof(err))
          && xfer_one(t.cb, t.ca, 100000, until(10), err, sizeof(err)), err,
          "the tunnel still works after the rekeys");

done:

    sess_free(&t.s);
}


static int
p_simul(void *arg)
{
    tunnel_t  *t = arg;

    if (t->ca->closed || t->cb->closed || t->lb->closed) {
        return 1;
    }

    return t->ca->simul_done && t->cb->simul_done && t->lb->simul_done;
}


static void
sc_rekey_simul(void)
{
    tunnel_t  t;
    char      err[300];
    conn_t   *c[3];
    int       i;
    static const char  *hop[3] = { "A", "B", "Listen" };

    tunnel_init(&t, 0);

    if (!small_tunnel(&t, NULL, 0)) {
        goto done;
    }

    c[0] = t.ca;
    c[1] = t.cb;
    c[2] = t.lb;

    for (i = 0; i < 3; i++) {
        c[i]->simul = 1;
    }

    /* the relay starts rekeys on its timer; ours cross each of them */
    sess_wait(&t.s, until(G.t), p_simul, &t);

    for (i = 0; i < 3; i++) {
        check(c[i]->simul_done == 1, c[i]->closed ? closed_how(c[i])
              : "the relay started no rekey within -t "
                "(beacon_offset_rekey_interval)",
              "%s hop: simultaneous Rekey from both sides, both switch",
              hop[i]);
    }

    sess_sleep(&t.s, 0.4);

    for (i = 0; i < 3; i++) {
        check(c[i]->extra_rekey == 0 && !c[i]->bad,
              c[i]->bad ? c[i]->why : "the relay answered with another Rekey",
              "%s hop: no further Rekey is sent", hop[i]);
    }

    check(xfer_one(t.ca, t.cb, 30000, until(10), err, sizeof(err))
          && xfer_one(t.cb, t.ca, 30000, until(10), err, sizeof(err)), err,
          "traffic continues through the tunnel");

done:

    sess_free(&t.s);
}


/*
 * A relay-initiated Rekey is a secure-channel frame, not a keepalive-layer
 * message (3.5): with beacon_offset_rekey_interval shorter than the
 * keepalive, each idle hop (Listen, A, B) must still get a keepAlive every
 * keepalive interval.  The hops are watched for -w seconds.
 */

static void
sc_keepalive_rekey(void)
{
    int        i, j, k0[3], r0[3], n, rk;
    double     t0, t1, prev, gap, worst;
    conn_t    *c[3];
    tunnel_t   t;
    static const char  *hop[3] = { "Listen", "A", "B" };

    tunnel_init(&t, 0);

    if (!small_tunnel(&t, NULL, 0)) {
        goto done;
    }

    c[0] = t.lb;
    c[1] = t.ca;
    c[2] = t.cb;

    for (i = 0; i < 3; i++) {
        k0[i] = c[i]->ka_in;
        r0[i] = c[i]->rekey_answered + c[i]->rekey_done;
    }

    t0 = now();
    sess_sleep(&t.s, G.stall);
    t1 = now();

    for (i = 0; i < 3; i++) {
        n = (c[i]->ka_in < 256 ? c[i]->ka_in : 256) - k0[i];
        rk = c[i]->rekey_answered + c[i]->rekey_done - r0[i];

        prev = t0;
        worst = 0;

        for (j = 0; j < n; j++) {
            gap = c[i]->ka_t[k0[i] + j] - prev;
            worst = gap > worst ? gap : worst;
            prev = c[i]->ka_t[k0[i] + j];
        }

        gap = t1 - prev;
        worst = gap > worst ? gap : worst;

        note("keepalives", "%s:%d", hop[i], n);
        note("relay_rekeys", "%s:%d", hop[i], rk);
        note("longest_keepalive_gap", "%s:%.2f", hop[i], worst);

        check(!c[i]->closed && !c[i]->bad,
              c[i]->closed ? closed_how(c[i]) : c[i]->why,
              "%s hop: open after %.0f s idle", hop[i], t1 - t0);
        check(rk >= (int) (G.stall / 8), "the relay rekeyed too rarely "
              "(beacon_offset_rekey_interval)", "%s hop: relay rekeys "
              "meanwhile (%d)", hop[i], rk);
        check(n >= 2 && worst <= 16.5, "a keepalive came late or never",
              "%s hop: a relay keepalive at least every 16 s "
              "(%d, longest gap %.2f s)", hop[i], n, worst);
    }

done:

    sess_free(&t.s);
}


/*
 * A Listen connection that sends nothing but Rekeys (one a second, each
 * answered) is silent at the keepalive layer: the relay drops it after its
 * idle timeout all the same.
 */

static void
sc_rekey_silent(void)
{
    sess_t              s;
    conn_t             *c;
    char                err[300];
    double              t;
    ngx_beacon_offset_ident_t  id;

    memset(&s, 0, sizeof(s));
    ident_random(&id);

    c = node(&s, "rekey-silent", &id, NGX_BEACON_OFFSET_INIT_LISTEN, NULL,
             until(10), err, sizeof(err));
    if (c == NULL) {
        check(0, err, "handshake and Listen");
        goto done;
    }

    c->silent = 1;
    conn_flush(c);
    t = c->t_last_msg;

    while (!c->closed && now() < G.deadline) {
        if (!c->ch.has_pending) {
            (void) start_rekey(c);
        }

        sess_wait(&s, now() + 1, p_closed, c);
    }

    check(c->rekey_done >= 2, c->closed ? closed_how(c) : "no rekey done",
          "the relay answers our Rekeys (%d)", c->rekey_done);
    check(c->closed == CL_EOF || c->closed == CL_RESET,
          c->closed ? closed_how(c) : "still open at -t",
          "a connection that sends only Rekeys is dropped as idle");

    if (c->closed) {
        note("closed_after", "%.2f", c->t_closed - t);
    }

done:

    sess_free(&s);
}


static void
multiseg_one(const char *dir, conn_t *from, conn_t *to)
{
    uint8_t  *blob, *ka, *cm;
    size_t    kn, cn;
    msg_t    *m;
    int       ok;

    blob = xmalloc(20000);
    randombytes_buf(blob, 20000);

    ka = build_ka_multiseg(&kn, blob, 20000);
    cm = build_channel_multiseg(&cn, 60000, ka, kn);

    send_plain(from, cm, cn);
    conn_flush(from);

    sess_wait(to->sess, until(G.t), p_inbox, to);

    m = q_pop(&to->inbox);
    ok = m && m->len == 20000 && memcmp(m->data, blob, 20000) == 0;

    check(ok, m ? "payload differs" : from->closed ? closed_how(from)
              : to->closed ? closed_how(to) : "nothing within -t",
          "%s: multi-segment ChannelMessage (60000 B padding, far pointers) "
          "with a multi-segment 20000 B KaMessage: payload forwarded intact",
          dir);

    free(m);
    free(ka);
    free(cm);
    free(blob);
}


static void
sc_multiseg(void)
{
    tunnel_t  t;
    char      err[300];

    tunnel_init(&t, 0);

    if (!small_tunnel(&t, NULL, 0)) {
        goto done;
    }

    multiseg_one("A->B", t.ca, t.cb);
    multiseg_one("B->A", t.cb, t.ca);

    check(xfer_one(t.ca, t.cb, 1000, until(10), err, sizeof(err)), err,
          "the tunnel still works");

done:

    sess_free(&t.s);
}


/* ------------------------------------------------------------------ */
/* reload support and benchmarks */

/* the go line on stdin, or a tunnel connection closed */
static int
p_hold(void *arg)
{
    tunnel_t  *t = arg;

    return t->s.stdin_got || t->ca->closed || t->cb->closed;
}


static void
sc_hold(void)
{
    tunnel_t  t;
    int       ok, clean;

    tunnel_init(&t, 0);
    t.go = 0;

    if (!tunnel_setup(&t, G.have_bytes ? G.bytes : 1024 * 1024, until(G.t),
                      0))
    {
        goto done;
    }

    check(1, NULL, "tunnel up");

    pthread_mutex_lock(&out_mtx);
    printf("# ready\n");
    fflush(stdout);
    pthread_mutex_unlock(&out_mtx);

    t.s.stdin_watch = 1;
    sess_wait(&t.s, until(G.t), p_hold, &t);
    t.s.stdin_watch = 0;

    check(t.s.stdin_got || t.ca->closed || t.cb->closed, "no line on stdin",
          "go");

    ok = tunnel_transfer(&t, until(G.t));

    if (ok) {
        tunnel_report(&t, ok);
        goto done;
    }

    if (G.clean_ok && (t.ca->closed || t.cb->closed) && !t.ea.err
        && !t.eb.err)
    {
        /* closed by the relay at a frame boundary, everything before intact */
        sess_wait(&t.s, until(QUICK), p_closed,
                  t.ca->closed ? t.cb : t.ca);

        clean = (t.ca->closed == CL_EOF || t.ca->closed == CL_RESET)
                && (t.cb->closed == CL_EOF || t.cb->closed == CL_RESET)
                && t.ca->partial == 0 && t.cb->partial == 0;

        check(clean, "unclean close", "closed cleanly");
        note("received_before_close", "%llu",
             (unsigned long long) (t.ea.rx.bytes + t.eb.rx.bytes));
        goto done;
    }

    tunnel_report(&t, ok);

done:

    sess_free(&t.s);
}


/* slow-reader: A blocked, everything handed over, or the tunnel broken */
static int
p_stalled(void *arg)
{
    tunnel_t  *t = arg;
    conn_t    *a = t->ca;

    if (t->ea.err || t->eb.err || t->ca->closed || t->cb->closed) {
        return 1;
    }

    if (stream_done(&t->ea.tx) && a->wb.len == 0) {
        return 1;
    }

    return a->wb.len > 0 && now() - a->t_progress >= 1.0;
}


static int
p_broken(void *arg)
{
    tunnel_t  *t = arg;

    return t->ea.err || t->eb.err || t->ca->closed || t->cb->closed;
}


static int
p_slow_go(void *arg)
{
    tunnel_t  *t = arg;

    return t->s.stdin_got || p_broken(t);
}


/*
 * Backpressure through a spliced tunnel: A sends -b bytes (default
 * 256 MiB) to B as fast as its socket takes them while B's socket is not
 * read at all (B only writes its keepalives).  Once A could not write for
 * 1 s it stays so for -w seconds more, then "# ready" and a line on stdin;
 * then B reads and sends 256 KiB back, and both directions are checked
 * byte for byte.  stalled_bytes: what A's socket had taken when it was
 * found blocked (the payload with its framing, under 1 % more).
 */
static void
sc_slow_reader(void)
{
    int       ok, stalled, go_b;
    double    t_stall;
    uint64_t  total, back, at_stall;
    tunnel_t  t;

    total = G.have_bytes ? G.bytes : 256ull * 1024 * 1024;
    back = total < 256 * 1024 ? total : 256 * 1024;

    tunnel_init(&t, 0);
    t.go = 0;

    if (!tunnel_setup(&t, total, until(G.t), 0)) {
        goto done;
    }

    check(1, NULL, "tunnel up");

    /* B sends nothing until the go line, then 256 KiB */
    go_b = 0;
    t.eb.go = &go_b;
    t.eb.tx.total = back;
    t.ea.rx.total = back;

    t.cb->noread = 1;
    t.ca->t_progress = now();
    t.go = 1;
    t.t_go = now();

    sess_wait(&t.s, until(G.t), p_stalled, &t);

    stalled = !p_broken(&t) && t.ca->wb.len > 0
              && now() - t.ca->t_progress >= 1.0;
    at_stall = t.ca->tx_sock;
    t_stall = t.ca->t_progress;

    note("stalled_bytes", "%llu", (unsigned long long) at_stall);
    note("stalled_after", "%.2f", t_stall - t.t_go);

    if (!check(stalled, p_broken(&t) ? tunnel_why(&t)
                        : stream_done(&t.ea.tx) ? "A handed everything over"
                        : "A never blocked within -t",
               "A blocked (no write progress for 1 s) while B does not read"))
    {
        note("stalled", "0");
        goto done;
    }

    /* still blocked -w seconds later: nothing piles up anywhere */
    sess_wait(&t.s, until(G.stall), p_broken, &t);

    note("stalled", "1");
    note("stalled_bytes_later", "%llu", (unsigned long long) t.ca->tx_sock);

    pthread_mutex_lock(&out_mtx);
    printf("# ready\n");
    fflush(stdout);
    pthread_mutex_unlock(&out_mtx);

    t.s.stdin_watch = 1;
    sess_wait(&t.s, until(G.t), p_slow_go, &t);
    t.s.stdin_watch = 0;

    check(t.s.stdin_got || p_broken(&t), "no line on stdin", "go");

    note("stalled_bytes_go", "%llu", (unsigned long long) t.ca->tx_sock);
    note("stalled_seconds", "%.2f", now() - t_stall);

    check(!p_broken(&t), tunnel_why(&t), "the tunnel survived the stall");

    /* B reads from now on */
    t.cb->noread = 0;
    go_b = 1;

    ok = tunnel_transfer(&t, until(G.t));
    tunnel_report(&t, ok);

    if (ok) {
        note("drain_seconds", "%.2f", t.t_done - t.t_go);
    }

done:

    sess_free(&t.s);
}


static pthread_barrier_t  g_barrier;


static void *
bench_tunnel_thread(void *arg)
{
    tunnel_t  *t = arg;
    int        up;

    snprintf(t_pfx, sizeof(t_pfx), "tunnel %d: ", t->idx);
    t->go = 0;

    up = tunnel_setup(t, G.have_bytes ? G.bytes : 64 * 1024 * 1024,
                      until(G.t), 0);

    pthread_barrier_wait(&g_barrier);

    if (!up) {
        return NULL;
    }

    if (!tunnel_transfer(t, until(G.t))) {
        tunnel_report(t, 0);
    }

    return NULL;
}


/*
 * Runs one thread per tunnel (each sets up, waits at the barrier, then
 * transfers), times them from the barrier to the last join, reports the
 * bytes moved and frees the tunnels.
 */
static void
bench_run(tunnel_t *t, int n, void *(*fn)(void *), const char *what)
{
    int         i;
    double      t0, t1;
    uint64_t    bytes;
    pthread_t  *th;

    th = xmalloc(sizeof(pthread_t) * (size_t) n);

    pthread_barrier_init(&g_barrier, NULL, (unsigned) n + 1);

    for (i = 0; i < n; i++) {
        if (pthread_create(&th[i], NULL, fn, &t[i]) != 0) {
            die("pthread_create");
        }
    }

    pthread_barrier_wait(&g_barrier);
    t0 = now();

    for (i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
    }

    t1 = now();

    bytes = 0;

    for (i = 0; i < n; i++) {
        bytes += t[i].ea.rx.bytes + t[i].eb.rx.bytes;
        sess_free(&t[i].s);
    }

    note(what, "%d", n);
    note("bytes", "%llu", (unsigned long long) bytes);
    note("seconds", "%.3f", t1 - t0);
    note("mbps", "%.1f", (double) bytes / (t1 - t0) / 1e6);

    pthread_barrier_destroy(&g_barrier);
    free(t);
    free(th);
}


static void
sc_bench_tunnel(void)
{
    int         i, n;
    tunnel_t   *t;

    n = G.n > 0 ? G.n : 1;

    if (G.msgsize == 0) {
        G.msgsize = 16 * 1024;
    }

    G.quiet = 1;

    t = xmalloc(sizeof(tunnel_t) * (size_t) n);

    for (i = 0; i < n; i++) {
        tunnel_init(&t[i], i);
    }

    bench_run(t, n, bench_tunnel_thread, "tunnels");
}


typedef struct {
    double      end;
    uint64_t    ok;
    uint64_t    failed;
    char        why[300];
} hsbench_t;


static void *
bench_hs_thread(void *arg)
{
    hsbench_t          *b = arg;
    sess_t              s;
    conn_t             *c;
    hs_t                h;
    ngx_beacon_offset_ident_t  id;

    while (now() < b->end) {
        memset(&s, 0, sizeof(s));
        ident_random(&id);

        c = conn_new(&s, "hs", &id);
        memset(&h, 0, sizeof(h));

        if (hs_run(c, &h, until(10)) == HS_OK) {
            send_init(c, NGX_BEACON_OFFSET_INIT_LISTEN, NULL);
            conn_flush(c);
            b->ok++;

        } else {
            b->failed++;
            snprintf(b->why, sizeof(b->why), "%s", c->why);
        }

        conn_close(c, 1);
        sess_free(&s);
    }

    return NULL;
}


static void
sc_bench_handshakes(void)
{
    int         i, n;
    double      t0, t1, secs;
    uint64_t    ok, failed;
    hsbench_t  *b;
    pthread_t  *th;

    n = G.n > 0 ? G.n : 1;
    secs = G.t;
    G.deadline = now() + G.t + 10;     /* the handshakes in flight finish */
    G.quiet = 1;

    b = xmalloc(sizeof(hsbench_t) * (size_t) n);
    th = xmalloc(sizeof(pthread_t) * (size_t) n);

    t0 = now();

    for (i = 0; i < n; i++) {
        memset(&b[i], 0, sizeof(hsbench_t));
        b[i].end = t0 + secs;

        if (pthread_create(&th[i], NULL, bench_hs_thread, &b[i]) != 0) {
            die("pthread_create");
        }
    }

    ok = 0;
    failed = 0;

    for (i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        ok += b[i].ok;
        failed += b[i].failed;
    }

    t1 = now();

    note("concurrency", "%d", n);
    note("handshakes", "%llu", (unsigned long long) ok);
    note("failures", "%llu", (unsigned long long) failed);
    note("seconds", "%.3f", t1 - t0);
    note("hps", "%.1f", (double) ok / (t1 - t0));

    for (i = 0; i < n; i++) {
        if (b[i].failed) {
            note("last_failure", "%s", b[i].why);
            break;
        }
    }

    free(b);
    free(th);
}


/*
 * bench-direct: the two nodes of bench-tunnel run the same secure channel
 * and the same traffic directly with each other: A connects to -r (nginx
 * proxy_pass in the benchmark), B accepts on -L.
 */

static int
listen_socket(const char *spec)
{
    int                  fd, one;
    char                 host[128];
    const char          *port, *colon;
    struct addrinfo      hints, *ai;

    colon = strrchr(spec, ':');

    if (colon) {
        snprintf(host, sizeof(host), "%.*s", (int) (colon - spec), spec);
        port = colon + 1;

    } else {
        snprintf(host, sizeof(host), "127.0.0.1");
        port = spec;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;

    if (getaddrinfo(host, port, &hints, &ai) != 0) {
        die("-L %s: not an address", spec);
    }

    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    one = 1;

    if (fd == -1
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0
        || listen(fd, 1024) != 0)
    {
        die("-L %s: %s", spec, strerror(errno));
    }

    freeaddrinfo(ai);

    return fd;
}


static conn_t *
conn_accept(sess_t *s, int lfd, const char *name,
    const ngx_beacon_offset_ident_t *id, double deadline)
{
    int             fd, one;
    double          left;
    conn_t         *c;
    struct pollfd   pfd;

    pfd.fd = lfd;
    pfd.events = POLLIN;

    for ( ;; ) {
        left = deadline - now();
        if (left <= 0) {
            return NULL;
        }

        if (poll(&pfd, 1, (int) (left * 1000) + 1) > 0) {
            break;
        }
    }

    fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd == -1) {
        return NULL;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c = conn_new(s, name, id);
    c->fd = fd;
    c->t_open = now();
    c->t_last_recv = c->t_open;
    c->t_last_send = c->t_open;
    c->t_last_msg = c->t_open;

    return c;
}


static void *
bench_direct_thread(void *arg)
{
    tunnel_t  *t = arg;
    hs_t       ha, hb;
    int        up, i;
    uint64_t   total, sab, sba;
    static const int  stops[3] = { 1, 3, 0 };

    snprintf(t_pfx, sizeof(t_pfx), "stream %d: ", t->idx);
    t->go = 0;

    memset(&ha, 0, sizeof(hs_t));
    memset(&hb, 0, sizeof(hs_t));
    ha.peer_pk = t->idb.pk;
    hb.peer_pk = t->ida.pk;

    up = t->ca && t->cb;

    /* both sides step by step: neither waits for the other */
    for (i = 0; up && i < 3; i++) {
        ha.stop = stops[i];
        hb.stop = stops[i];
        up = hs_run(t->ca, &ha, until(10)) == HS_OK
             && hs_run(t->cb, &hb, until(10)) == HS_OK;
    }

    if (!up) {
        check(0, t->ca && t->ca->why[0] ? t->ca->why
                 : t->cb && t->cb->why[0] ? t->cb->why : "no connection",
              "direct handshake");

    } else {
        total = G.have_bytes ? G.bytes : 64 * 1024 * 1024;
        sab = mix64(((uint64_t) t->idx << 8) ^ 0xab ^ be64(t->ida.pk));
        sba = mix64(((uint64_t) t->idx << 8) ^ 0xba ^ be64(t->idb.pk));

        end_init(&t->ea, t->ca, sab, sba, total, &t->go);
        end_init(&t->eb, t->cb, sba, sab, total, &t->go);
    }

    pthread_barrier_wait(&g_barrier);

    if (up && !tunnel_transfer(t, until(G.t))) {
        tunnel_report(t, 0);
    }

    return NULL;
}


static void
sc_bench_direct(void)
{
    int         i, n, lfd;
    tunnel_t   *t;

    n = G.n > 0 ? G.n : 1;

    if (G.msgsize == 0) {
        G.msgsize = 16 * 1024;
    }

    G.quiet = 1;

    lfd = listen_socket(G.listen);

    t = xmalloc(sizeof(tunnel_t) * (size_t) n);

    /* pairs one at a time, so the accepted connection is this A's */

    for (i = 0; i < n; i++) {
        tunnel_init(&t[i], i);

        t[i].ca = conn_new(&t[i].s, "A", &t[i].ida);

        if (conn_connect(t[i].ca, until(10)) != 0) {
            check(0, t[i].ca->why, "stream %d: connect", i);
            t[i].ca = NULL;
            continue;
        }

        t[i].cb = conn_accept(&t[i].s, lfd, "B", &t[i].idb, until(10));
    }

    close(lfd);

    bench_run(t, n, bench_direct_thread, "streams");
}


/* ------------------------------------------------------------------ */
/* main */

typedef struct {
    const char   *name;
    void        (*fn)(void);
    int           relay;
} scenario_t;


static const scenario_t  scenarios[] = {
    { "selftest",           sc_selftest,              0 },
    { "keys",               sc_keys,                  0 },
    { "listen-refused",     sc_listen_refused,        1 },
    { "version",            sc_version,               1 },
    { "version-mismatch",   sc_version_mismatch,      1 },
    { "wrong-version",      sc_version_mismatch,      1 },
    { "bad-version-len",    sc_bad_version_len,       1 },
    { "identity",           sc_identity,              1 },
    { "proof",              sc_proof,                 1 },
    { "wrong-nonce",        sc_wrong_nonce,           1 },
    { "bad-sig",            sc_bad_sig,               1 },
    { "hs-timeout",         sc_hs_timeout,            1 },
    { "transport",          sc_transport,             1 },
    { "silent",             sc_silent,                1 },
    { "invalid-first",      sc_invalid_first,         1 },
    { "keepalive",          sc_keepalive,             1 },
    { "connect-nolistener", sc_connect_nolistener,    1 },
    { "notify",             sc_notify,                1 },
    { "splice",             sc_splice,                1 },
    { "reject",             sc_reject,                1 },
    { "half-expiry",        sc_half_expiry,           1 },
    { "connector-leaves",   sc_connector_leaves,      1 },
    { "listener-leaves",    sc_listener_leaves,       1 },
    { "accept-nothing",     sc_accept_nothing,        1 },
    { "dup-listen",         sc_dup_listen,            1 },
    { "dup-connect",        sc_dup_connect,           1 },
    { "teardown",           sc_splice_small_teardown, 1 },
    { "listener-gone",      sc_listener_gone,         1 },
    { "rekey",              sc_rekey,                 1 },
    { "rekey-simul",        sc_rekey_simul,           1 },
    { "keepalive-rekey",    sc_keepalive_rekey,       1 },
    { "rekey-silent",       sc_rekey_silent,          1 },
    { "multiseg",           sc_multiseg,              1 },
    { "short-frame",        sc_short_frame,           1 },
    { "oversize",           sc_oversize,              1 },
    { "bad-tag",            sc_bad_tag,               1 },
    { "known-answer",       sc_known_answer,          1 },
    { "tunnel-rekey",       sc_tunnel_rekey,          1 },
    { "garbage-pre",        sc_garbage_pre,           1 },
    { "garbage-post",       sc_garbage_post,          1 },
    { "hold",               sc_hold,                  1 },
    { "slow-reader",        sc_slow_reader,           1 },
    { "bench-tunnel",       sc_bench_tunnel,          1 },
    { "bench-handshakes",   sc_bench_handshakes,      1 },
    { "bench-direct",       sc_bench_direct,          2 },
    { NULL, NULL, 0 }
};


static void
usage(void)
{
    const scenario_t  *s;

    fprintf(stderr,
        "usage: offset_node -r HOST:PORT -k RELAY_PUBKEY_B64URL [-s SEEDHEX]\n"
        "           [-S SEEDHEX2] [-b BYTES] [-n N] [-t SECONDS] [-m SIZE]\n"
        "           [-p MAXPAD] [-A KEEPALIVE_SECONDS] [-l LOCALADDR] [-c]"
        " [-v]\n"
        "           [-L [HOST:]PORT (bench-direct)]"
        " [-w SECONDS (slow-reader)]\n"
        "           SCENARIO [ARG]      (oversize [LEN [pre|post]])\n"
        "       offset_node selftest\n"
        "scenarios:");

    for (s = scenarios; s->name; s++) {
        fprintf(stderr, " %s", s->name);
    }

    fprintf(stderr, "\n");
    exit(2);
}


static uint64_t
parse_size(const char *s)
{
    char               *end;
    unsigned long long  v;

    errno = 0;
    v = strtoull(s, &end, 10);

    if (errno || end == s) {
        usage();
    }

    switch (*end) {
    case 'k': case 'K':
        v <<= 10;
        end++;
        break;
    case 'm': case 'M':
        v <<= 20;
        end++;
        break;
    case 'g': case 'G':
        v <<= 30;
        end++;
        break;
    default:
        break;
    }

    if (*end == 'i' || *end == 'B') {
        while (*end == 'i' || *end == 'B') {
            end++;
        }
    }

    if (*end) {
        usage();
    }

    return v;
}


static void
watchdog(int sig)
{
    static const char  msg[] = "not ok - watchdog: time bound exceeded\n";
    ssize_t            n;

    (void) sig;

    n = write(1, msg, sizeof(msg) - 1);
    (void) n;

    _exit(1);
}


int
main(int argc, char **argv)
{
    int                 ch;
    char               *colon;
    size_t              len;
    const scenario_t   *sc;

    G.n = 1;
    G.t = 60;
    G.maxpad = 64;
    G.ka = 10;
    G.stall = 2;

    while ((ch = getopt(argc, argv, "r:k:s:S:b:n:t:m:p:A:l:L:w:cvh")) != -1) {
        switch (ch) {

        case 'r':
            colon = strrchr(optarg, ':');
            if (colon == NULL || colon == optarg
                || (size_t) (colon - optarg) >= sizeof(G.host)
                || strlen(colon + 1) >= sizeof(G.port))
            {
                usage();
            }

            memcpy(G.host, optarg, (size_t) (colon - optarg));
            G.host[colon - optarg] = '\0';

            if (G.host[0] == '[' && G.host[strlen(G.host) - 1] == ']') {
                memmove(G.host, G.host + 1, strlen(G.host));
                G.host[strlen(G.host) - 1] = '\0';
            }

            snprintf(G.port, sizeof(G.port), "%s", colon + 1);
            G.have_relay = 1;
            break;

        case 'k':
            if (sodium_base642bin(G.relay_pk, KEY_LEN, optarg, strlen(optarg),
                                  NULL, &len, NULL,
                                  sodium_base64_VARIANT_URLSAFE_NO_PADDING)
                != 0 || len != KEY_LEN)
            {
                fprintf(stderr, "offset_node: -k: not a base64url key\n");
                exit(2);
            }

            G.have_pk = 1;
            break;

        case 's':
        case 'S':
            if (hex_decode(ch == 's' ? G.seed : G.seed2, 32, optarg) != 0) {
                fprintf(stderr, "offset_node: -%c: 64 hex digits\n", ch);
                exit(2);
            }

            if (ch == 'S') {
                G.have_seed2 = 1;

            } else {
                G.have_seed = 1;
            }

            break;

        case 'b':
            G.bytes = parse_size(optarg);
            G.have_bytes = 1;
            break;

        case 'n':
            G.n = atoi(optarg);
            if (G.n < 1 || G.n > 4096) {
                usage();
            }
            break;

        case 't':
            G.t = atof(optarg);
            if (G.t <= 0) {
                usage();
            }
            break;

        case 'm':
            G.msgsize = (size_t) parse_size(optarg);
            if (G.msgsize == 0 || G.msgsize > 1024 * 1024) {
                usage();
            }
            break;

        case 'p':
            G.maxpad = (size_t) parse_size(optarg);
            if (G.maxpad > 65535) {
                usage();
            }
            break;

        case 'A':
            G.ka = atof(optarg);
            if (G.ka <= 0) {
                usage();
            }
            break;

        case 'w':
            G.stall = atof(optarg);
            if (G.stall < 0 || G.stall > 600) {
                usage();
            }
            break;

        case 'l':
            snprintf(G.local, sizeof(G.local), "%s", optarg);
            break;

        case 'L':
            snprintf(G.listen, sizeof(G.listen), "%s", optarg);
            break;

        case 'c':
            G.clean_ok = 1;
            break;

        case 'v':
            G.verbose = 1;
            break;

        default:
            usage();
        }
    }

    if (optind >= argc) {
        usage();
    }

    for (sc = scenarios; sc->name; sc++) {
        if (strcmp(sc->name, argv[optind]) == 0) {
            break;
        }
    }

    if (sc->name == NULL) {
        fprintf(stderr, "offset_node: unknown scenario \"%s\"\n",
                argv[optind]);
        usage();
    }

    if (sc->relay == 1 && (!G.have_relay || !G.have_pk)) {
        fprintf(stderr, "offset_node: %s needs -r HOST:PORT and -k KEY\n",
                sc->name);
        exit(2);
    }

    if (sc->relay == 2 && (!G.have_relay || G.listen[0] == '\0')) {
        fprintf(stderr, "offset_node: %s needs -r HOST:PORT (the proxy) "
                "and -L [HOST:]PORT (where B listens)\n", sc->name);
        exit(2);
    }

    if (optind + 1 < argc) {
        if (strcmp(sc->name, "oversize") != 0 || optind + 3 < argc) {
            usage();
        }

        G.bytes = parse_size(argv[optind + 1]);
        G.have_bytes = 1;

        if (optind + 2 < argc) {
            if (strcmp(argv[optind + 2], "pre") == 0) {
                G.which = 1;

            } else if (strcmp(argv[optind + 2], "post") == 0) {
                G.which = 2;

            } else {
                usage();
            }
        }
    }

    if (ngx_beacon_offset_crypto_init() != 0) {
        die("sodium_init");
    }

    if (!G.have_seed) {
        randombytes_buf(G.seed, 32);
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, watchdog);
    alarm((unsigned) G.t + 30);

    G.t0 = now();
    G.deadline = G.t0 + G.t;

    pool_init();

    sc->fn();

    if (g_checks == 0 && !G.quiet) {
        printf("not ok - %s: no checks ran\n", sc->name);
        g_failed = 1;
    }

    fflush(stdout);
    free(g_pool);

    return g_failed ? 1 : 0;
}
