
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * STUN Binding load generator for t/bench/stun.sh: the same client for
 * nginx and coturn.  N connected UDP sockets on loopback, epoll, a closed
 * loop with a window of requests in flight per socket (a socket silent
 * for 100 ms gets its window again: losses do not stall it).  Every
 * response is checked (Binding success, cookie, a transaction id this
 * socket sent, XOR-MAPPED-ADDRESS naming the socket's own port).  After
 * the warm-up it measures for the duration: responses per second and the
 * CPU time the server processes (--pids, from /proc/<pid>/stat, all
 * threads) spent in that window.  Prints one line:
 *
 *   RESULT rps=... server_cpu_s=... per_cpu_s=... us_per_resp=...
 *          responses=... bad=... resp_bytes=(average response size)
 *
 *   stunload -p PORT [-s 127.0.0.1] [-c 64] [-w 16] [-d 3] [-W 1]
 *            [--pids P1,P2,...]
 */


#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define MAX_SOCKS   1024
#define MAX_PIDS    64
#define BATCH       64


typedef struct {
    int          fd;
    uint16_t     port;          /* local, host order */
    uint32_t     next;          /* transaction counter */
    uint32_t     acked;         /* the highest counter answered */
    double       last_rx;
} sock_t;


static double now(void);
static double cpu_seconds(const int *pids, int n);
static void send_req(sock_t *s, int idx, int count);
static int check(const uint8_t *p, ssize_t n, const sock_t *s, int idx);


static uint8_t  reqs[BATCH][20];


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* utime + stime of each process: fields 14 and 15 of /proc/<pid>/stat */

static double
cpu_seconds(const int *pids, int n)
{
    int            i, f;
    char           path[64], buf[1024], *p;
    FILE          *fp;
    double         total;
    unsigned long  ut, st;

    total = 0;

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);

        fp = fopen(path, "r");
        if (fp == NULL) {
            continue;
        }

        if (fgets(buf, sizeof(buf), fp) == NULL) {
            fclose(fp);
            continue;
        }

        fclose(fp);

        /* after the ")" that closes the command name: field 3 on */

        p = strrchr(buf, ')');
        if (p == NULL) {
            continue;
        }

        p += 2;

        for (f = 3; f < 14 && p; f++) {
            p = strchr(p, ' ');
            p = p ? p + 1 : NULL;
        }

        if (p && sscanf(p, "%lu %lu", &ut, &st) == 2) {
            total += (double) (ut + st) / sysconf(_SC_CLK_TCK);
        }
    }

    return total;
}


static void
send_req(sock_t *s, int idx, int count)
{
    int             i;
    uint8_t        *r;
    struct iovec    iov[BATCH];
    struct mmsghdr  msg[BATCH];

    if (count > BATCH) {
        count = BATCH;
    }

    memset(msg, 0, sizeof(msg));

    for (i = 0; i < count; i++) {
        r = reqs[i];

        r[0] = 0x00; r[1] = 0x01; r[2] = 0; r[3] = 0;
        r[4] = 0x21; r[5] = 0x12; r[6] = 0xa4; r[7] = 0x42;
        memcpy(r + 8, &idx, 4);
        memcpy(r + 12, &s->next, 4);
        memset(r + 16, 0x5a, 4);
        s->next++;

        iov[i].iov_base = r;
        iov[i].iov_len = 20;
        msg[i].msg_hdr.msg_iov = &iov[i];
        msg[i].msg_hdr.msg_iovlen = 1;
    }

    (void) sendmmsg(s->fd, msg, count, 0);
}


static int
check(const uint8_t *p, ssize_t n, const sock_t *s, int idx)
{
    int       i, k;
    uint16_t  at, al, port;
    uint32_t  cnt;

    if (n < 32 || p[0] != 0x01 || p[1] != 0x01
        || memcmp(p + 4, "\x21\x12\xa4\x42", 4) != 0
        || memcmp(p + 8, &idx, 4) != 0)
    {
        return 0;
    }

    memcpy(&cnt, p + 12, 4);

    if (cnt >= s->next) {
        return 0;
    }

    /* XOR-MAPPED-ADDRESS: our own port */

    for (i = 20; i + 4 <= n; i += 4 + ((al + 3) & ~3)) {
        at = (uint16_t) (p[i] << 8 | p[i + 1]);
        al = (uint16_t) (p[i + 2] << 8 | p[i + 3]);

        if (at == 0x0020 && al >= 8 && i + 4 + al <= n) {
            port = (uint16_t) ((p[i + 6] << 8 | p[i + 7]) ^ 0x2112);
            k = (port == s->port);
            return k;
        }
    }

    return 0;
}


int
main(int argc, char **argv)
{
    int                 i, j, k, n, q, ep, nsocks, window, npids;
    int                 pids[MAX_PIDS];
    int                 measuring;
    char               *host, *pl, *tok;
    double              dur, warm, t0, tm, te, t, cpu0, cpu1;
    uint8_t             bufs[BATCH][1500];
    sock_t             *socks;
    socklen_t           sl;
    uint16_t            port;
    struct iovec        iov[BATCH];
    struct mmsghdr      msg[BATCH];
    struct sockaddr_in  sa, la;
    struct epoll_event  ev, evs[256];
    unsigned long long  rx, bad, rx0, bytes;

    host = "127.0.0.1";
    port = 0;
    nsocks = 64;
    window = 16;
    dur = 3;
    warm = 1;
    npids = 0;
    pl = NULL;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
            port = (uint16_t) atoi(argv[++i]);
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            nsocks = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
            window = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            dur = atof(argv[++i]);
        } else if (strcmp(argv[i], "-W") == 0 && i + 1 < argc) {
            warm = atof(argv[++i]);
        } else if (strcmp(argv[i], "--pids") == 0 && i + 1 < argc) {
            pl = argv[++i];
        } else {
            fprintf(stderr, "usage: %s -p PORT [-s HOST] [-c SOCKS] "
                    "[-w WINDOW] [-d SECONDS] [-W WARMUP] [--pids LIST]\n",
                    argv[0]);
            return 2;
        }
    }

    if (port == 0 || nsocks < 1 || nsocks > MAX_SOCKS || window < 1
        || dur <= 0 || dur > 120)
    {
        fprintf(stderr, "stunload: bad arguments\n");
        return 2;
    }

    for (tok = pl ? strtok(pl, ",") : NULL; tok && npids < MAX_PIDS;
         tok = strtok(NULL, ","))
    {
        pids[npids++] = atoi(tok);
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);

    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "stunload: bad host %s\n", host);
        return 2;
    }

    socks = calloc(nsocks, sizeof(sock_t));
    ep = epoll_create1(0);

    if (socks == NULL || ep < 0) {
        perror("stunload");
        return 1;
    }

    for (i = 0; i < nsocks; i++) {
        socks[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

        if (socks[i].fd < 0
            || connect(socks[i].fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
        {
            perror("stunload: socket");
            return 1;
        }

        sl = sizeof(la);
        getsockname(socks[i].fd, (struct sockaddr *) &la, &sl);
        socks[i].port = ntohs(la.sin_port);

        ev.events = EPOLLIN;
        ev.data.u32 = (uint32_t) i;
        epoll_ctl(ep, EPOLL_CTL_ADD, socks[i].fd, &ev);
    }

    rx = bad = rx0 = bytes = 0;
    cpu0 = 0;
    measuring = 0;
    t0 = now();
    tm = t0 + warm;
    te = tm + dur;

    for (i = 0; i < nsocks; i++) {
        socks[i].last_rx = t0;
        send_req(&socks[i], i, window);
    }

    for ( ;; ) {
        t = now();

        if (!measuring && t >= tm) {
            measuring = 1;
            rx0 = rx;
            cpu0 = cpu_seconds(pids, npids);
            tm = t;
        }

        if (t >= te) {
            break;
        }

        n = epoll_wait(ep, evs, 256, 20);

        for (j = 0; j < n; j++) {
            i = (int) evs[j].data.u32;

            memset(msg, 0, sizeof(msg));

            for (k = 0; k < BATCH; k++) {
                iov[k].iov_base = bufs[k];
                iov[k].iov_len = sizeof(bufs[k]);
                msg[k].msg_hdr.msg_iov = &iov[k];
                msg[k].msg_hdr.msg_iovlen = 1;
            }

            k = recvmmsg(socks[i].fd, msg, BATCH, MSG_DONTWAIT, NULL);

            if (k <= 0) {
                continue;
            }

            socks[i].last_rx = t;

            for (q = 0; q < k; q++) {
                if (check(bufs[q], msg[q].msg_len, &socks[i], i)) {
                    rx++;
                    bytes += msg[q].msg_len;
                } else {
                    bad++;
                }
            }

            send_req(&socks[i], i, k);
        }

        /* a socket whose window was lost */

        for (i = 0; i < nsocks; i++) {
            if (t - socks[i].last_rx > 0.1) {
                socks[i].last_rx = t;
                send_req(&socks[i], i, window);
            }
        }
    }

    cpu1 = cpu_seconds(pids, npids);
    t = now() - tm;

    printf("RESULT rps=%.0f server_cpu_s=%.3f per_cpu_s=%.0f "
           "us_per_resp=%.3f responses=%llu bad=%llu resp_bytes=%llu\n",
           (rx - rx0) / t, cpu1 - cpu0,
           cpu1 > cpu0 ? (rx - rx0) / (cpu1 - cpu0) : 0.0,
           rx > rx0 ? (cpu1 - cpu0) * 1e6 / (rx - rx0) : 0.0,
           rx - rx0, bad, rx ? bytes / rx : 0);

    return 0;
}
