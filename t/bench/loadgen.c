
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


/*
 * loadgen: UDP load generator for the beacon benchmark (loopback only).
 *
 * Modes:
 *
 *   discover  every client socket sends DISCOVER "01 <id>" (id fixed per
 *             socket) and counts the 8 byte DISCOVER_REPLY "02 04 ...".
 *
 *   relay     D destination sockets bound to 127.0.0.1:(dest_base + d) with
 *             node ids d = 1..D, and N sender sockets with ids
 *             id_base + i, all registered first by a DISCOVER from the very
 *             socket (the module requires a relay's sender_id to be
 *             registered at the datagram's source).  Senders then send
 *             "05 <sender> <dest> <payload>" spread over the destinations;
 *             the destinations count "06 <sender> <payload>" deliveries.
 *
 *   register  registers K distinct node ids (id_base .. id_base + K - 1)
 *             with DISCOVERs from N sockets, a bounded window of
 *             unanswered ones per socket, resending on a stall, so that
 *             every node is known to be registered at the end.
 *
 * Offered load (discover, relay):
 *
 *   -r 0      "max": closed loop, at most WINDOW unanswered datagrams per
 *             sender socket (refilled when half of it came back); measures
 *             capacity without overrunning socket buffers.  A socket whose
 *             window did not move for --stall-ms is reset (counted).
 *   -r PPS    open loop at a fixed aggregate rate, sent in small sendmmsg
 *             bursts every --tick-us, round robin over the senders.
 *
 * Timeline: probe until the server answers, [relay registration], warmup,
 * measurement (rates are computed over this window only), drain (receive
 * only, ends early once everything came back).  loss = sent - received over
 * the whole run after the drain.
 *
 * Output: one line starting with "RESULT " and key=value fields.
 */


#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>


#define LG_BATCH          64
#define LG_BUF_SIZE       65536
#define LG_MAX_SOCKS      1024
#define LG_MAX_DESTS      4096
#define LG_MAX_WINDOW     1024
#define LG_MAX_PIDS       64
#define LG_MAX_CHUNK      16
#define LG_MAX_PAYLOAD    65000
#define LG_EVENTS         256
#define LG_MAX_LOOPS      500000000ULL

#define LG_DISCOVER        0x01
#define LG_DISCOVER_REPLY  0x02
#define LG_RELAY           0x05
#define LG_RELAY_DELIVER   0x06

#define LG_SEC             1000000000ULL
#define LG_MSEC            1000000ULL
#define LG_USEC            1000ULL


typedef enum {
    LG_MODE_DISCOVER = 0,
    LG_MODE_RELAY,
    LG_MODE_REGISTER
} lg_mode_e;


typedef enum {
    LG_PHASE_SETUP = 0,
    LG_PHASE_TRAFFIC,
    LG_PHASE_NODES
} lg_phase_e;


typedef struct {
    int                 fd;
    int                 is_dest;
    int                 acked;
    uint32_t            id;
    int                 outstanding;
    uint64_t            progress;     /* last reply, or window opened/reset */
    uint64_t            seq;
    uint64_t            recv;

    uint32_t           *ring;         /* register mode: unanswered ids */
    int                 head;
    int                 count;
} lg_sock_t;


typedef struct {
    lg_mode_e           mode;
    const char         *target;
    struct sockaddr_in  server;
    int                 nsocks;
    int                 window;
    uint64_t            rate;
    double              duration;
    double              warmup;
    double              drain;
    int                 payload;
    int                 dests;
    int                 dest_base;
    uint32_t            id_base;
    int                 id_base_set;
    uint32_t            nodes;
    int                 max_seconds;
    double              wait_ready;
    int                 rcvbuf;
    uint64_t            tick;
    uint64_t            stall;
    pid_t               pids[LG_MAX_PIDS];
    int                 npids;
} lg_conf_t;


typedef struct {
    uint64_t            sent;
    uint64_t            recv;
    uint64_t            other;
    uint64_t            sendfail;
    uint64_t            stalls;
    uint64_t            abandoned;
    uint64_t            acked;
    uint64_t            resent;
    uint64_t            checked;
} lg_count_t;


static lg_conf_t     cf;
static lg_count_t    cnt;
static lg_phase_e    phase;
static lg_sock_t    *snd;            /* senders / clients */
static lg_sock_t    *dst;            /* relay destinations */
static int           epfd = -1;
static uint8_t      *rbuf;
static uint8_t      *payload;
static int           have_pwait2 = 1;
static uint64_t      lg_start;

static struct mmsghdr  rmsg[LG_BATCH];
static struct iovec    riov[LG_BATCH];
static struct mmsghdr  smsg[LG_MAX_WINDOW];
static struct iovec    siov[LG_MAX_WINDOW][2];
static uint8_t         shdr[LG_MAX_WINDOW][9];


static uint64_t
lg_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * LG_SEC + (uint64_t) ts.tv_nsec;
}


static void
lg_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}


static uint32_t
lg_get32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}


static void
lg_usage(void)
{
    fprintf(stderr,
        "usage: loadgen -m discover|relay|register -p PORT [options]\n"
        "  -s ADDR           server address (127.x.x.x only,"
        " default 127.0.0.1)\n"
        "  -T NAME           target label for the RESULT line\n"
        "  -n SOCKS          sender sockets (default 64)\n"
        "  -w WINDOW         max unanswered datagrams per socket"
        " (default 16)\n"
        "  -r PPS            fixed aggregate offered rate, 0 = max"
        " (default 0)\n"
        "  -d SECONDS        measurement duration (default 5)\n"
        "  -W SECONDS        warmup (default 1)\n"
        "  --drain SECONDS   drain period (default 1)\n"
        "  --dests D         relay destinations (default 64)\n"
        "  --dest-base PORT  destination d binds 127.0.0.1:(PORT + d)\n"
        "  --payload BYTES   relay payload (default 64)\n"
        "  -k NODES          register mode: nodes to register\n"
        "  --id-base ID      first node id of senders / registered nodes\n"
        "  --cpu-pids P,P    server pids whose CPU use to sample\n"
        "  --wait-ready SEC  wait for the server's first reply"
        " (default 5)\n"
        "  --rcvbuf BYTES    client socket buffers (default 1048576)\n"
        "  --tick-us US      fixed-rate send tick (default 100)\n"
        "  --stall-ms MS     window reset after MS without progress (200)\n"
        "  -t SECONDS        hard time limit (default 120)\n");
}


static int
lg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char                *end;
    unsigned long long   v;

    errno = 0;
    v = strtoull(s, &end, 0);

    if (errno != 0 || end == s || *end != '\0' || *s == '-'
        || v < min || v > max)
    {
        fprintf(stderr, "loadgen: bad number \"%s\" (%llu..%llu)\n", s,
                (unsigned long long) min, (unsigned long long) max);
        return -1;
    }

    *out = v;
    return 0;
}


static int
lg_parse_int(const char *s, int min, int max, int *out)
{
    uint64_t  v;

    if (lg_parse_u64(s, (uint64_t) min, (uint64_t) max, &v) != 0) {
        return -1;
    }

    *out = (int) v;
    return 0;
}


static int
lg_parse_double(const char *s, double min, double max, double *out)
{
    char    *end;
    double   v;

    errno = 0;
    v = strtod(s, &end);

    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max)) {
        fprintf(stderr, "loadgen: bad number \"%s\" (%g..%g)\n", s, min, max);
        return -1;
    }

    *out = v;
    return 0;
}


static int
lg_parse_pids(const char *s)
{
    char      *end;
    long       v;

    cf.npids = 0;

    while (*s != '\0' && cf.npids < LG_MAX_PIDS) {
        errno = 0;
        v = strtol(s, &end, 10);

        if (errno != 0 || end == s || v <= 0) {
            fprintf(stderr, "loadgen: bad --cpu-pids\n");
            return -1;
        }

        cf.pids[cf.npids++] = (pid_t) v;
        s = (*end == ',') ? end + 1 : end;

        if (*end != ',' && *end != '\0') {
            fprintf(stderr, "loadgen: bad --cpu-pids\n");
            return -1;
        }
    }

    return 0;
}


/*
 * CPU time of a process in ns, 0 if it is gone: the scheduler's runtime
 * from /proc/PID/schedstat, else utime + stime from /proc/PID/stat
 */

static uint64_t
lg_proc_ns(pid_t pid)
{
    int                  i;
    char                 path[64], buf[1024], *p;
    long                 hz;
    FILE                *f;
    size_t               n;
    unsigned long long   ut, st;

    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int) pid);

    f = fopen(path, "r");
    if (f != NULL) {
        n = (size_t) fscanf(f, "%llu", &ut);
        fclose(f);

        if (n == 1) {
            return ut;
        }
    }

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);

    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }

    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    /* "pid (comm) state ..." - comm may contain spaces; utime is field 14 */

    p = strrchr(buf, ')');
    if (p == NULL) {
        return 0;
    }

    p++;                                /* the space before field 3 */

    for (i = 0; i < 11 && p != NULL; i++) {
        p = strchr(p + 1, ' ');
    }

    if (p == NULL || sscanf(p, " %llu %llu", &ut, &st) != 2) {
        return 0;
    }

    hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) {
        hz = 100;
    }

    return (ut + st) * (LG_SEC / (uint64_t) hz);
}


static uint64_t
lg_server_ns(void)
{
    int       i;
    uint64_t  t;

    t = 0;

    for (i = 0; i < cf.npids; i++) {
        t += lg_proc_ns(cf.pids[i]);
    }

    return t;
}


static int
lg_socket(lg_sock_t *s, int bind_port)
{
    int                 fd;
    struct sockaddr_in  sin;
    struct epoll_event  ev;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        perror("loadgen: socket");
        return -1;
    }

    if (cf.rcvbuf > 0) {
        /* silently capped by net.core.{r,w}mem_max; that is fine */
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cf.rcvbuf,
                          sizeof(cf.rcvbuf));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cf.rcvbuf,
                          sizeof(cf.rcvbuf));
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t) bind_port);

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
        fprintf(stderr, "loadgen: bind 127.0.0.1:%d: %s\n", bind_port,
                strerror(errno));
        close(fd);
        return -1;
    }

    /* only the server's address may talk to us */

    if (connect(fd, (struct sockaddr *) &cf.server, sizeof(cf.server)) == -1)
    {
        perror("loadgen: connect");
        close(fd);
        return -1;
    }

    ev.events = EPOLLIN;
    ev.data.ptr = s;

    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        perror("loadgen: epoll_ctl");
        close(fd);
        return -1;
    }

    s->fd = fd;

    return 0;
}


static int
lg_wait(struct epoll_event *ev, int max, uint64_t timeout)
{
    int              n;
    struct timespec  ts;

    if (have_pwait2) {
        ts.tv_sec = (time_t) (timeout / LG_SEC);
        ts.tv_nsec = (long) (timeout % LG_SEC);

        n = epoll_pwait2(epfd, ev, max, &ts, NULL);

        if (n == -1 && errno == ENOSYS) {
            have_pwait2 = 0;

        } else {
            return n;
        }
    }

    return epoll_wait(epfd, ev, max, (int) ((timeout + LG_MSEC - 1) / LG_MSEC));
}


static int
lg_sendmmsg(lg_sock_t *s, int n)
{
    int  k;

    k = sendmmsg(s->fd, smsg, (unsigned int) n, 0);

    if (k == -1) {
        /* EAGAIN (buffer full), ECONNREFUSED (server gone, ICMP) ... */
        k = 0;
    }

    cnt.sendfail += (uint64_t) (n - k);

    return k;
}


static int
lg_send_discover_ids(lg_sock_t *s, const uint32_t *ids, uint32_t id, int n)
{
    int  i;

    if (n > LG_MAX_WINDOW) {
        n = LG_MAX_WINDOW;
    }

    for (i = 0; i < n; i++) {
        shdr[i][0] = LG_DISCOVER;
        lg_put32(&shdr[i][1], ids ? ids[i] : id);

        siov[i][0].iov_base = shdr[i];
        siov[i][0].iov_len = 5;

        memset(&smsg[i], 0, sizeof(struct mmsghdr));
        smsg[i].msg_hdr.msg_iov = siov[i];
        smsg[i].msg_hdr.msg_iovlen = 1;
    }

    return lg_sendmmsg(s, n);
}


static int
lg_send_relay(lg_sock_t *s, int n)
{
    int       i;
    uint32_t  d;

    if (n > LG_MAX_WINDOW) {
        n = LG_MAX_WINDOW;
    }

    for (i = 0; i < n; i++) {
        d = 1 + (uint32_t) ((s->seq + (uint64_t) i) % (uint64_t) cf.dests);

        shdr[i][0] = LG_RELAY;
        lg_put32(&shdr[i][1], s->id);
        lg_put32(&shdr[i][5], d);

        siov[i][0].iov_base = shdr[i];
        siov[i][0].iov_len = 9;
        siov[i][1].iov_base = payload;
        siov[i][1].iov_len = (size_t) cf.payload;

        memset(&smsg[i], 0, sizeof(struct mmsghdr));
        smsg[i].msg_hdr.msg_iov = siov[i];
        smsg[i].msg_hdr.msg_iovlen = 2;
    }

    n = lg_sendmmsg(s, n);
    s->seq += (uint64_t) n;

    return n;
}


/* sends n traffic datagrams on a sender socket, returns how many went out */

static int
lg_send_traffic(lg_sock_t *s, int n, uint64_t now)
{
    int  k;

    if (cf.mode == LG_MODE_DISCOVER) {
        k = lg_send_discover_ids(s, NULL, s->id, n);

    } else {
        k = lg_send_relay(s, n);
    }

    if (s->outstanding == 0) {
        s->progress = now;
    }

    s->outstanding += k;
    cnt.sent += (uint64_t) k;

    return k;
}


static void
lg_on_reply(lg_sock_t *s, uint64_t now)
{
    s->acked = 1;

    switch (phase) {

    case LG_PHASE_TRAFFIC:
        if (cf.mode != LG_MODE_DISCOVER) {
            cnt.other++;
            return;
        }

        s->recv++;
        cnt.recv++;

        if (s->outstanding > 0) {
            s->outstanding--;
        }

        s->progress = now;
        return;

    case LG_PHASE_NODES:
        if (s->count > 0) {
            s->head = (s->head + 1) % cf.window;
            s->count--;
            cnt.acked++;
        }

        s->progress = now;
        return;

    default:
        return;
    }
}


static void
lg_on_delivery(lg_sock_t *d, const uint8_t *p, uint64_t now)
{
    uint32_t    idx;
    lg_sock_t  *s;

    if (phase == LG_PHASE_SETUP && cf.mode == LG_MODE_RELAY) {
        cnt.checked++;
        return;
    }

    if (phase != LG_PHASE_TRAFFIC || cf.mode != LG_MODE_RELAY) {
        cnt.other++;
        return;
    }

    d->recv++;
    cnt.recv++;

    idx = lg_get32(p + 1) - cf.id_base;

    if (idx < (uint32_t) cf.nsocks) {
        s = &snd[idx];

        if (s->outstanding > 0) {
            s->outstanding--;
        }

        s->progress = now;
    }
}


static void
lg_on_readable(lg_sock_t *s, uint64_t now)
{
    int       i, n, round;
    size_t    len;
    uint8_t  *p;

    /* at most 8 batches per wakeup so that one socket cannot starve others */

    for (round = 0; round < 8; round++) {

        for (i = 0; i < LG_BATCH; i++) {
            rmsg[i].msg_hdr.msg_name = NULL;
            rmsg[i].msg_hdr.msg_namelen = 0;
        }

        n = recvmmsg(s->fd, rmsg, LG_BATCH, MSG_DONTWAIT, NULL);

        if (n <= 0) {
            return;
        }

        for (i = 0; i < n; i++) {
            p = riov[i].iov_base;
            len = rmsg[i].msg_len;

            if (len == 8 && p[0] == LG_DISCOVER_REPLY && p[1] == 4) {
                lg_on_reply(s, now);

            } else if (s->is_dest && len == 5 + (size_t) cf.payload
                       && p[0] == LG_RELAY_DELIVER)
            {
                lg_on_delivery(s, p, now);

            } else {
                cnt.other++;
            }
        }

        if (n < LG_BATCH) {
            return;
        }
    }
}


static void
lg_poll(uint64_t timeout)
{
    int                 i, n;
    uint64_t            now;
    struct epoll_event  ev[LG_EVENTS];

    n = lg_wait(ev, LG_EVENTS, timeout);

    if (n <= 0) {
        return;
    }

    now = lg_now();

    for (i = 0; i < n; i++) {
        lg_on_readable(ev[i].data.ptr, now);
    }
}


/*
 * DISCOVER from each socket until it got a reply: readiness probe and
 * relay registration.  At most "rounds" rounds of 200ms.
 */

static int
lg_register_socks(lg_sock_t *s, int n, int rounds)
{
    int       i, r, missing;
    uint64_t  end, now;

    phase = LG_PHASE_SETUP;
    missing = n;

    for (r = 0; r < rounds && missing > 0; r++) {

        for (i = 0; i < n; i++) {
            if (!s[i].acked) {
                (void) lg_send_discover_ids(&s[i], NULL, s[i].id, 1);
            }
        }

        end = lg_now() + 200 * LG_MSEC;

        for (now = lg_now(); now < end; now = lg_now()) {
            lg_poll(end - now);

            missing = 0;
            for (i = 0; i < n; i++) {
                missing += !s[i].acked;
            }

            if (missing == 0) {
                break;
            }
        }
    }

    /* registration replies are not part of the traffic counters */

    cnt.sendfail = 0;
    cnt.other = 0;

    return missing;
}


static double
lg_pct(uint64_t lost, uint64_t sent)
{
    return sent ? 100.0 * (double) lost / (double) sent : 0.0;
}


static int
lg_run_traffic(void)
{
    int                 i, k, chunk, state, rr;
    double              secs, srv_cpu, lg_cpu;
    uint64_t            t0, warm, mend, dend, now, next_stall, timeout, end;
    uint64_t            attempted, target, skipped, due, cap, loops, lost;
    uint64_t            s_sent[2], s_recv[2], s_srv[2], s_self[2];

    if (cf.mode == LG_MODE_RELAY) {
        k = lg_register_socks(dst, cf.dests, 25);
        if (k != 0) {
            fprintf(stderr, "loadgen: %d of %d destinations not registered\n",
                    k, cf.dests);
            return 1;
        }

        k = lg_register_socks(snd, cf.nsocks, 25);
        if (k != 0) {
            fprintf(stderr, "loadgen: %d of %d senders not registered\n",
                    k, cf.nsocks);
            return 1;
        }
    }

    if (cf.mode == LG_MODE_RELAY) {

        /* one relay per sender must come through before we measure */

        cnt.checked = 0;

        for (i = 0; i < cf.nsocks; i++) {
            (void) lg_send_relay(&snd[i], 1);
        }

        end = lg_now() + LG_SEC;

        for (now = lg_now(); now < end && cnt.checked < (uint64_t) cf.nsocks;
             now = lg_now())
        {
            lg_poll(end - now);
        }

        if (cnt.checked < (uint64_t) cf.nsocks) {
            fprintf(stderr, "loadgen: only %llu of %d relay probes were"
                    " delivered (sender or destination not accepted?)\n",
                    (unsigned long long) cnt.checked, cf.nsocks);
        }
    }

    /* let late setup replies settle, then forget them */

    lg_poll(20 * LG_MSEC);
    lg_poll(0);
    memset(&cnt, 0, sizeof(cnt));

    phase = LG_PHASE_TRAFFIC;

    t0 = lg_now();
    warm = t0 + (uint64_t) (cf.warmup * (double) LG_SEC);
    mend = warm + (uint64_t) (cf.duration * (double) LG_SEC);
    dend = mend + (uint64_t) (cf.drain * (double) LG_SEC);

    memset(s_sent, 0, sizeof(s_sent));
    memset(s_recv, 0, sizeof(s_recv));
    memset(s_srv, 0, sizeof(s_srv));
    memset(s_self, 0, sizeof(s_self));

    state = 0;
    rr = 0;
    attempted = 0;
    skipped = 0;
    next_stall = t0 + 10 * LG_MSEC;

    cap = cf.rate / 1000;               /* at most 1ms worth of catch-up */
    if (cap < LG_MAX_CHUNK) {
        cap = LG_MAX_CHUNK;
    }

    for (loops = 0; loops < LG_MAX_LOOPS; loops++) {
        now = lg_now();

        if (state == 0 && now >= warm) {
            s_sent[0] = cnt.sent;
            s_recv[0] = cnt.recv;
            s_srv[0] = lg_server_ns();
            s_self[0] = lg_proc_ns(getpid());
            state = 1;
        }

        if (state == 1 && now >= mend) {
            s_sent[1] = cnt.sent;
            s_recv[1] = cnt.recv;
            s_srv[1] = lg_server_ns();
            s_self[1] = lg_proc_ns(getpid());
            state = 2;
        }

        if (state == 2 && (cnt.recv >= cnt.sent || now >= dend)) {
            break;
        }

        timeout = 10 * LG_MSEC;

        if (state < 2 && cf.rate == 0) {

            /* closed loop: refill windows that are at least half empty */

            if (now >= next_stall) {
                next_stall = now + 10 * LG_MSEC;

                for (i = 0; i < cf.nsocks; i++) {
                    if (snd[i].outstanding > 0
                        && now - snd[i].progress > cf.stall)
                    {
                        cnt.stalls++;
                        cnt.abandoned += (uint64_t) snd[i].outstanding;
                        snd[i].outstanding = 0;
                    }
                }
            }

            for (i = 0; i < cf.nsocks; i++) {
                if (snd[i].outstanding <= cf.window / 2) {
                    (void) lg_send_traffic(&snd[i],
                                           cf.window - snd[i].outstanding, now);
                }
            }

        } else if (state < 2) {

            /* open loop: follow the schedule, never burst beyond 1ms */

            target = (uint64_t) ((double) (now - t0) * (double) cf.rate
                                 / (double) LG_SEC);

            due = (target > skipped + attempted)
                  ? target - skipped - attempted : 0;

            if (due > cap) {
                skipped += due - cap;
                due = cap;
            }

            for (i = 0; i < cf.nsocks && due > 0; i++) {
                chunk = due > LG_MAX_CHUNK ? LG_MAX_CHUNK : (int) due;

                (void) lg_send_traffic(&snd[rr], chunk, now);

                attempted += (uint64_t) chunk;
                due -= (uint64_t) chunk;
                rr = (rr + 1) % cf.nsocks;
            }

            timeout = cf.tick;
        }

        if (state == 0 && warm - now < timeout) {
            timeout = warm - now;

        } else if (state == 1 && mend - now < timeout) {
            timeout = mend - now;
        }

        lg_poll(timeout);
    }

    lost = cnt.sent > cnt.recv ? cnt.sent - cnt.recv : 0;

    if (state < 2) {
        fprintf(stderr, "loadgen: loop bound reached\n");
        return 1;
    }

    secs = cf.duration;
    srv_cpu = (double) (s_srv[1] - s_srv[0]) / (double) LG_SEC / secs;
    lg_cpu = (double) (s_self[1] - s_self[0]) / (double) LG_SEC / secs;

    printf("RESULT mode=%s target=%s offered=",
           cf.mode == LG_MODE_DISCOVER ? "discover" : "relay", cf.target);

    if (cf.rate) {
        printf("%llu", (unsigned long long) cf.rate);

    } else {
        printf("max");
    }

    printf(" rate=%.0f achieved=%.0f sent=%llu recv=%llu lost=%llu"
           " loss=%.2f%% socks=%d window=%d dests=%d dur=%.2f stalls=%llu"
           " abandoned=%llu"
           " sendfail=%llu other=%llu srv_cpu=%.2f lg_cpu=%.2f"
           " per_core=%.0f\n",
           (double) (s_recv[1] - s_recv[0]) / secs,
           (double) (s_sent[1] - s_sent[0]) / secs,
           (unsigned long long) cnt.sent, (unsigned long long) cnt.recv,
           (unsigned long long) lost, lg_pct(lost, cnt.sent),
           cf.nsocks, cf.window,
           cf.mode == LG_MODE_RELAY ? cf.dests : 0, secs,
           (unsigned long long) cnt.stalls,
           (unsigned long long) cnt.abandoned,
           (unsigned long long) cnt.sendfail,
           (unsigned long long) cnt.other, srv_cpu, lg_cpu,
           srv_cpu > 0.01
               ? (double) (s_recv[1] - s_recv[0]) / secs / srv_cpu : 0.0);

    fflush(stdout);

    return 0;
}


static int
lg_run_nodes(void)
{
    int        i, j, n;
    uint32_t   next, ids[LG_MAX_WINDOW];
    uint64_t   t0, now, deadline, loops, next_stall;
    double     secs;
    lg_sock_t *s;

    for (i = 0; i < cf.nsocks; i++) {
        snd[i].ring = calloc((size_t) cf.window, sizeof(uint32_t));
        if (snd[i].ring == NULL) {
            fprintf(stderr, "loadgen: out of memory\n");
            return 1;
        }
    }

    memset(&cnt, 0, sizeof(cnt));
    phase = LG_PHASE_NODES;

    next = 0;
    t0 = lg_now();
    deadline = lg_start + (uint64_t) (cf.max_seconds - 1) * LG_SEC;
    next_stall = t0 + 10 * LG_MSEC;

    for (loops = 0; loops < LG_MAX_LOOPS && cnt.acked < cf.nodes; loops++) {
        now = lg_now();

        if (now >= deadline) {
            break;
        }

        for (i = 0; i < cf.nsocks && next < cf.nodes; i++) {
            s = &snd[i];

            if (s->count > cf.window / 2) {
                continue;
            }

            n = 0;

            while (s->count + n < cf.window && next + (uint32_t) n < cf.nodes)
            {
                ids[n] = cf.id_base + next + (uint32_t) n;
                n++;
            }

            n = lg_send_discover_ids(s, ids, 0, n);

            for (j = 0; j < n; j++) {
                s->ring[(s->head + s->count) % cf.window] = ids[j];
                s->count++;
            }

            if (n > 0 && s->count == n) {
                s->progress = now;
            }

            next += (uint32_t) n;
            cnt.sent += (uint64_t) n;
        }

        if (now >= next_stall) {
            next_stall = now + 10 * LG_MSEC;

            /* nothing came back for a while: resend what is unanswered */

            for (i = 0; i < cf.nsocks; i++) {
                s = &snd[i];

                if (s->count == 0 || now - s->progress < 2 * cf.stall) {
                    continue;
                }

                for (j = 0; j < s->count; j++) {
                    ids[j] = s->ring[(s->head + j) % cf.window];
                }

                n = lg_send_discover_ids(s, ids, 0, s->count);

                cnt.stalls++;
                cnt.resent += (uint64_t) n;
                cnt.sent += (uint64_t) n;
                s->progress = now;
            }
        }

        lg_poll(10 * LG_MSEC);
    }

    secs = (double) (lg_now() - t0) / (double) LG_SEC;

    printf("RESULT mode=register target=%s nodes=%u acked=%llu sent=%llu"
           " resent=%llu stalls=%llu secs=%.2f rate=%.0f\n",
           cf.target, cf.nodes, (unsigned long long) cnt.acked,
           (unsigned long long) cnt.sent, (unsigned long long) cnt.resent,
           (unsigned long long) cnt.stalls, secs,
           secs > 0 ? (double) cnt.acked / secs : 0.0);

    fflush(stdout);

    return cnt.acked == cf.nodes ? 0 : 1;
}


int
main(int argc, char **argv)
{
    int         c, i, rc, port, rounds;
    char       *server;
    uint64_t    v;
    lg_sock_t   probe;

    static const struct option  opts[] = {
        { "mode",       required_argument, NULL, 'm' },
        { "port",       required_argument, NULL, 'p' },
        { "server",     required_argument, NULL, 's' },
        { "target",     required_argument, NULL, 'T' },
        { "socks",      required_argument, NULL, 'n' },
        { "window",     required_argument, NULL, 'w' },
        { "rate",       required_argument, NULL, 'r' },
        { "duration",   required_argument, NULL, 'd' },
        { "warmup",     required_argument, NULL, 'W' },
        { "nodes",      required_argument, NULL, 'k' },
        { "time",       required_argument, NULL, 't' },
        { "drain",      required_argument, NULL, 1 },
        { "dests",      required_argument, NULL, 2 },
        { "dest-base",  required_argument, NULL, 3 },
        { "payload",    required_argument, NULL, 4 },
        { "id-base",    required_argument, NULL, 5 },
        { "cpu-pids",   required_argument, NULL, 6 },
        { "wait-ready", required_argument, NULL, 7 },
        { "rcvbuf",     required_argument, NULL, 8 },
        { "tick-us",    required_argument, NULL, 9 },
        { "stall-ms",   required_argument, NULL, 10 },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(&cf, 0, sizeof(cf));
    cf.target = "server";
    cf.nsocks = 64;
    cf.window = 16;
    cf.duration = 5.0;
    cf.warmup = 1.0;
    cf.drain = 1.0;
    cf.payload = 64;
    cf.dests = 64;
    cf.max_seconds = 120;
    cf.wait_ready = 5.0;
    cf.rcvbuf = 1048576;
    cf.tick = 100 * LG_USEC;
    cf.stall = 200 * LG_MSEC;
    server = "127.0.0.1";
    port = 0;
    rc = 2;

    while ((c = getopt_long(argc, argv, "m:p:s:T:n:w:r:d:W:k:t:h", opts,
                            NULL))
           != -1)
    {
        switch (c) {

        case 'm':
            if (strcmp(optarg, "discover") == 0) {
                cf.mode = LG_MODE_DISCOVER;

            } else if (strcmp(optarg, "relay") == 0) {
                cf.mode = LG_MODE_RELAY;

            } else if (strcmp(optarg, "register") == 0) {
                cf.mode = LG_MODE_REGISTER;

            } else {
                goto usage;
            }
            break;

        case 'p':
            if (lg_parse_int(optarg, 1, 65535, &port) != 0) {
                return 2;
            }
            break;

        case 's':
            server = optarg;
            break;

        case 'T':
            cf.target = optarg;
            break;

        case 'n':
            if (lg_parse_int(optarg, 1, LG_MAX_SOCKS, &cf.nsocks) != 0) {
                return 2;
            }
            break;

        case 'w':
            if (lg_parse_int(optarg, 1, LG_MAX_WINDOW, &cf.window) != 0) {
                return 2;
            }
            break;

        case 'r':
            if (lg_parse_u64(optarg, 0, 100000000, &cf.rate) != 0) {
                return 2;
            }
            break;

        case 'd':
            if (lg_parse_double(optarg, 0.1, 3600, &cf.duration) != 0) {
                return 2;
            }
            break;

        case 'W':
            if (lg_parse_double(optarg, 0, 3600, &cf.warmup) != 0) {
                return 2;
            }
            break;

        case 'k':
            if (lg_parse_u64(optarg, 1, 100000000, &v) != 0) {
                return 2;
            }
            cf.nodes = (uint32_t) v;
            break;

        case 't':
            if (lg_parse_int(optarg, 2, 86400, &cf.max_seconds) != 0) {
                return 2;
            }
            break;

        case 1:
            if (lg_parse_double(optarg, 0, 3600, &cf.drain) != 0) {
                return 2;
            }
            break;

        case 2:
            if (lg_parse_int(optarg, 1, LG_MAX_DESTS, &cf.dests) != 0) {
                return 2;
            }
            break;

        case 3:
            if (lg_parse_int(optarg, 1, 65534, &cf.dest_base) != 0) {
                return 2;
            }
            break;

        case 4:
            if (lg_parse_int(optarg, 0, LG_MAX_PAYLOAD, &cf.payload) != 0) {
                return 2;
            }
            break;

        case 5:
            if (lg_parse_u64(optarg, 1, 0xffffffffULL, &v) != 0) {
                return 2;
            }
            cf.id_base = (uint32_t) v;
            cf.id_base_set = 1;
            break;

        case 6:
            if (lg_parse_pids(optarg) != 0) {
                return 2;
            }
            break;

        case 7:
            if (lg_parse_double(optarg, 0.2, 600, &cf.wait_ready) != 0) {
                return 2;
            }
            break;

        case 8:
            if (lg_parse_int(optarg, 0, 1 << 30, &cf.rcvbuf) != 0) {
                return 2;
            }
            break;

        case 9:
            if (lg_parse_u64(optarg, 10, 100000, &v) != 0) {
                return 2;
            }
            cf.tick = v * LG_USEC;
            break;

        case 10:
            if (lg_parse_u64(optarg, 1, 10000, &v) != 0) {
                return 2;
            }
            cf.stall = v * LG_MSEC;
            break;

        default:
            goto usage;
        }
    }

    if (port == 0) {
        goto usage;
    }

    memset(&cf.server, 0, sizeof(cf.server));
    cf.server.sin_family = AF_INET;
    cf.server.sin_port = htons((uint16_t) port);

    if (inet_pton(AF_INET, server, &cf.server.sin_addr) != 1
        || (ntohl(cf.server.sin_addr.s_addr) >> 24) != 127)
    {
        fprintf(stderr, "loadgen: the server must be a 127.x.x.x address\n");
        return 2;
    }

    if (!cf.id_base_set) {
        cf.id_base = (cf.mode == LG_MODE_DISCOVER) ? 0x20000000
                     : (cf.mode == LG_MODE_RELAY) ? 0x10000000 : 0x30000000;
    }

    if (cf.mode == LG_MODE_RELAY
        && (cf.dest_base == 0 || cf.dest_base + cf.dests > 65535))
    {
        fprintf(stderr, "loadgen: relay needs --dest-base (base + dests must"
                " stay <= 65535)\n");
        return 2;
    }

    if (cf.mode == LG_MODE_REGISTER
        && (cf.nodes == 0 || cf.id_base + (uint64_t) cf.nodes > 0xffffffffULL))
    {
        fprintf(stderr, "loadgen: register needs -k NODES\n");
        return 2;
    }

    if ((uint64_t) cf.id_base + (uint64_t) cf.nsocks > 0xffffffffULL
        || (cf.mode == LG_MODE_RELAY && cf.id_base <= (uint32_t) cf.dests))
    {
        fprintf(stderr, "loadgen: --id-base clashes with destination ids\n");
        return 2;
    }

    /* hard bound on the whole run: SIGALRM's default action terminates */

    lg_start = lg_now();
    alarm((unsigned int) cf.max_seconds);
    signal(SIGPIPE, SIG_IGN);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    rbuf = malloc((size_t) LG_BATCH * LG_BUF_SIZE);
    payload = malloc((size_t) cf.payload + 1);
    snd = calloc((size_t) cf.nsocks, sizeof(lg_sock_t));
    dst = calloc((size_t) cf.dests, sizeof(lg_sock_t));

    if (epfd == -1 || rbuf == NULL || payload == NULL || snd == NULL
        || dst == NULL)
    {
        fprintf(stderr, "loadgen: setup failed\n");
        return 1;
    }

    for (i = 0; i < cf.payload; i++) {
        payload[i] = (uint8_t) ('P' + i % 16);
    }

    for (i = 0; i < cf.nsocks; i++) {
        snd[i].fd = -1;
    }

    for (i = 0; i < cf.dests; i++) {
        dst[i].fd = -1;
    }

    for (i = 0; i < LG_BATCH; i++) {
        riov[i].iov_base = rbuf + (size_t) i * LG_BUF_SIZE;
        riov[i].iov_len = LG_BUF_SIZE;
        rmsg[i].msg_hdr.msg_iov = &riov[i];
        rmsg[i].msg_hdr.msg_iovlen = 1;
    }

    rc = 1;

    for (i = 0; i < cf.nsocks; i++) {
        snd[i].id = cf.id_base + (uint32_t) i;

        if (lg_socket(&snd[i], 0) != 0) {
            goto done;
        }
    }

    if (cf.mode == LG_MODE_RELAY) {
        for (i = 0; i < cf.dests; i++) {
            dst[i].id = (uint32_t) i + 1;
            dst[i].is_dest = 1;

            if (lg_socket(&dst[i], cf.dest_base + i + 1) != 0) {
                goto done;
            }
        }
    }

    /*
     * readiness: a DISCOVER for node 0 (probe-only for the module) from an
     * extra socket until the server answers
     */

    memset(&probe, 0, sizeof(probe));

    if (lg_socket(&probe, 0) != 0) {
        goto done;
    }

    rounds = (int) (cf.wait_ready * 5.0 + 0.5);

    if (lg_register_socks(&probe, 1, rounds) != 0) {
        probe.id = cf.id_base + (cf.mode == LG_MODE_REGISTER ? cf.nodes : 0);

        if (lg_register_socks(&probe, 1, 5) != 0) {
            fprintf(stderr, "loadgen: no DISCOVER reply from 127.0.0.1:%d"
                    " within %.1fs\n", port, cf.wait_ready + 1.0);
            goto done;
        }
    }

    epoll_ctl(epfd, EPOLL_CTL_DEL, probe.fd, NULL);
    close(probe.fd);

    if (cf.mode == LG_MODE_REGISTER) {
        rc = lg_run_nodes();

    } else {
        rc = lg_run_traffic();
    }

done:

    for (i = 0; i < cf.nsocks; i++) {
        if (snd[i].fd != -1) {
            close(snd[i].fd);
        }
        free(snd[i].ring);
    }

    for (i = 0; i < cf.dests; i++) {
        if (dst[i].fd != -1) {
            close(dst[i].fd);
        }
    }

    return rc;

usage:

    lg_usage();
    return rc;
}
