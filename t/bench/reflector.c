
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


/*
 * reflector: the "physical limit" reference for the beacon benchmark.
 *
 * A raw UDP server doing the minimum a beacon must do, with the best
 * batching the kernel offers (recvmmsg/sendmmsg, 64 per call), in W
 * forked worker processes each owning one SO_REUSEPORT socket bound to
 * the same address (like nginx workers with "listen ... udp reuseport").
 *
 *   discover: "01 <u32 id>" -> "02 04 <ipv4> <u16 port>" to the source.
 *   relay:    "05 <u32 sender> <u32 dest> <payload>" ->
 *             "06 <sender> <payload>" to 127.0.0.1:(dest_base + dest),
 *             1 <= dest <= dests; DISCOVER is answered as well so that
 *             the load generator's registration phase works unchanged.
 *
 * usage: reflector -m discover|relay -p PORT [-w WORKERS] [-a ADDR]
 *                  [--dest-base PORT --dests N] [--rcvbuf BYTES]
 *                  [--sndbuf BYTES] [--work-ns NS] [-t MAX_SECONDS]
 *
 * --work-ns spins NS nanoseconds per datagram: a deliberately slower server
 * to check how the benchmark's ratios respond (calibration only).
 *
 * Runs until SIGTERM/SIGINT or MAX_SECONDS (default 900).  Only loopback
 * addresses are accepted.  Each worker prints its counters on exit.
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>


#define RF_BATCH        64
#define RF_BUF_SIZE     65536
#define RF_MAX_WORKERS  64
#define RF_MAX_DESTS    4096

#define RF_DISCOVER        0x01
#define RF_DISCOVER_REPLY  0x02
#define RF_RELAY           0x05
#define RF_RELAY_DELIVER   0x06


typedef enum {
    RF_MODE_DISCOVER = 0,
    RF_MODE_RELAY
} rf_mode_e;


typedef struct {
    rf_mode_e           mode;
    struct in_addr      addr;
    int                 port;
    int                 workers;
    int                 dest_base;
    int                 dests;
    int                 rcvbuf;
    int                 sndbuf;
    int                 max_seconds;
    int                 work_ns;
    uint64_t            work_iters;
} rf_conf_t;


typedef struct {
    uint64_t            rx;
    uint64_t            tx;
    uint64_t            tx_err;
    uint64_t            dropped;
    uint64_t            calls;
} rf_stats_t;


static volatile sig_atomic_t  rf_stop;
static volatile sig_atomic_t  rf_child_exited;


static void
rf_on_signal(int signo)
{
    if (signo == SIGCHLD) {
        rf_child_exited = 1;
        return;
    }

    rf_stop = 1;
}


static void
rf_usage(void)
{
    fprintf(stderr,
            "usage: reflector -m discover|relay -p PORT [-w WORKERS]"
            " [-a 127.0.0.1]\n"
            "                 [--dest-base PORT --dests N] [--rcvbuf BYTES]"
            " [--sndbuf BYTES]\n"
            "                 [--work-ns NS] [-t MAX_SECONDS]\n");
}


static uint32_t
rf_get32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}


static volatile uint64_t  rf_sink;


/* burns about "iters" loop iterations of CPU, preemption does not count */

static void
rf_spin(uint64_t iters)
{
    uint64_t  i, x;

    x = rf_sink;

    for (i = 0; i < iters; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }

    rf_sink = x;
}


/* loop iterations per 1000 ns of CPU time, measured over ~50ms of CPU */

static uint64_t
rf_spin_calibrate(void)
{
    int              round;
    uint64_t         iters, ns;
    struct timespec  t0, t1;

    iters = 100000;

    for (round = 0; round < 20; round++) {
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        rf_spin(iters);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);

        ns = (uint64_t) ((t1.tv_sec - t0.tv_sec) * 1000000000L
                         + (t1.tv_nsec - t0.tv_nsec));

        if (ns >= 50000000) {
            return iters * 1000 / ns + 1;
        }

        iters *= 2;
    }

    return iters * 1000 / (ns ? ns : 1) + 1;
}


static int
rf_signals(void)
{
    struct sigaction  sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = rf_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;                /* no SA_RESTART: interrupt recvmmsg() */

    if (sigaction(SIGTERM, &sa, NULL) == -1
        || sigaction(SIGINT, &sa, NULL) == -1
        || sigaction(SIGALRM, &sa, NULL) == -1
        || sigaction(SIGCHLD, &sa, NULL) == -1)
    {
        perror("reflector: sigaction");
        return -1;
    }

    return 0;
}


static int
rf_socket(rf_conf_t *cf)
{
    int                 fd, one;
    struct timeval      tv;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd == -1) {
        perror("reflector: socket");
        return -1;
    }

    one = 1;

    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) {
        perror("reflector: SO_REUSEPORT");
        goto failed;
    }

    /* bound blocking receives so that a stop request is always noticed */

    tv.tv_sec = 0;
    tv.tv_usec = 200000;

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1) {
        perror("reflector: SO_RCVTIMEO");
        goto failed;
    }

    if (cf->rcvbuf > 0
        && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cf->rcvbuf,
                      sizeof(cf->rcvbuf)) == -1)
    {
        perror("reflector: SO_RCVBUF");
        goto failed;
    }

    if (cf->sndbuf > 0
        && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cf->sndbuf,
                      sizeof(cf->sndbuf)) == -1)
    {
        perror("reflector: SO_SNDBUF");
        goto failed;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr = cf->addr;
    sin.sin_port = htons((uint16_t) cf->port);

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
        perror("reflector: bind");
        goto failed;
    }

    return fd;

failed:

    close(fd);
    return -1;
}


static int
rf_worker(rf_conf_t *cf, int idx)
{
    int                  fd, i, n, out, sent, k, retries;
    uint8_t             *p;
    uint8_t             *rbuf;
    uint8_t              hdr[RF_BATCH][8];
    size_t               len;
    rf_stats_t           st;
    struct iovec         riov[RF_BATCH], siov[RF_BATCH][2];
    struct mmsghdr       rmsg[RF_BATCH], smsg[RF_BATCH];
    struct sockaddr_in   from[RF_BATCH];
    struct sockaddr_in  *dst;

    memset(&st, 0, sizeof(st));

    fd = rf_socket(cf);
    if (fd == -1) {
        return 1;
    }

    rbuf = malloc((size_t) RF_BATCH * RF_BUF_SIZE);
    dst = calloc((size_t) cf->dests + 1, sizeof(struct sockaddr_in));

    if (rbuf == NULL || dst == NULL) {
        fprintf(stderr, "reflector: out of memory\n");
        return 1;
    }

    /* relay destinations: id d -> 127.0.0.1:(dest_base + d), 1 <= d <= N */

    for (i = 1; i <= cf->dests; i++) {
        dst[i].sin_family = AF_INET;
        dst[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        dst[i].sin_port = htons((uint16_t) (cf->dest_base + i));
    }

    memset(rmsg, 0, sizeof(rmsg));

    for (i = 0; i < RF_BATCH; i++) {
        riov[i].iov_base = rbuf + (size_t) i * RF_BUF_SIZE;
        riov[i].iov_len = RF_BUF_SIZE;
        rmsg[i].msg_hdr.msg_iov = &riov[i];
        rmsg[i].msg_hdr.msg_iovlen = 1;
    }

    /* bounded by rf_stop, which SIGTERM or the alarm() always sets */

    while (!rf_stop) {

        for (i = 0; i < RF_BATCH; i++) {
            rmsg[i].msg_hdr.msg_name = &from[i];
            rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        }

        n = recvmmsg(fd, rmsg, RF_BATCH, MSG_WAITFORONE, NULL);

        if (n == -1) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }

            perror("reflector: recvmmsg");
            break;
        }

        st.rx += (uint64_t) n;
        st.calls++;
        out = 0;

        for (i = 0; i < n; i++) {
            p = riov[i].iov_base;
            len = rmsg[i].msg_len;

            if (cf->work_iters) {
                rf_spin(cf->work_iters);
            }

            if (len >= 5 && p[0] == RF_DISCOVER
                && rmsg[i].msg_hdr.msg_namelen == sizeof(struct sockaddr_in))
            {
                hdr[out][0] = RF_DISCOVER_REPLY;
                hdr[out][1] = 4;
                memcpy(&hdr[out][2], &from[i].sin_addr.s_addr, 4);
                memcpy(&hdr[out][6], &from[i].sin_port, 2);

                siov[out][0].iov_base = hdr[out];
                siov[out][0].iov_len = 8;

                memset(&smsg[out], 0, sizeof(struct mmsghdr));
                smsg[out].msg_hdr.msg_name = &from[i];
                smsg[out].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
                smsg[out].msg_hdr.msg_iov = siov[out];
                smsg[out].msg_hdr.msg_iovlen = 1;
                out++;
                continue;
            }

            if (cf->mode == RF_MODE_RELAY && len >= 9 && p[0] == RF_RELAY) {
                uint32_t  d;

                d = rf_get32(p + 5);

                if (d == 0 || d > (uint32_t) cf->dests) {
                    st.dropped++;
                    continue;
                }

                /* "06 <sender>" then the payload, straight from rbuf */

                hdr[out][0] = RF_RELAY_DELIVER;
                memcpy(&hdr[out][1], p + 1, 4);

                siov[out][0].iov_base = hdr[out];
                siov[out][0].iov_len = 5;
                siov[out][1].iov_base = p + 9;
                siov[out][1].iov_len = len - 9;

                memset(&smsg[out], 0, sizeof(struct mmsghdr));
                smsg[out].msg_hdr.msg_name = &dst[d];
                smsg[out].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
                smsg[out].msg_hdr.msg_iov = siov[out];
                smsg[out].msg_hdr.msg_iovlen = 2;
                out++;
                continue;
            }

            st.dropped++;
        }

        sent = 0;
        retries = 0;

        /* each pass either advances "sent" or is one of 16 EINTR retries */

        while (sent < out) {
            k = sendmmsg(fd, smsg + sent, (unsigned int) (out - sent), 0);

            if (k == -1) {
                if (errno == EINTR && retries++ < 16) {
                    continue;
                }

                st.tx_err++;
                sent++;                 /* skip the failing datagram */
                continue;
            }

            st.tx += (uint64_t) k;
            sent += k;
        }
    }

    fprintf(stderr, "reflector: worker %d pid %d rx=%llu tx=%llu tx_err=%llu"
            " dropped=%llu avg_batch=%.1f\n", idx, (int) getpid(),
            (unsigned long long) st.rx, (unsigned long long) st.tx,
            (unsigned long long) st.tx_err, (unsigned long long) st.dropped,
            st.calls ? (double) st.rx / (double) st.calls : 0.0);

    close(fd);
    free(rbuf);
    free(dst);

    return 0;
}


static int
rf_parse_int(const char *s, int min, int max, int *out)
{
    char  *end;
    long   v;

    errno = 0;
    v = strtol(s, &end, 10);

    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "reflector: bad number \"%s\" (%d..%d)\n", s, min, max);
        return -1;
    }

    *out = (int) v;
    return 0;
}


int
main(int argc, char **argv)
{
    int               c, i, alive, status, rounds;
    pid_t             pid, pids[RF_MAX_WORKERS];
    sigset_t          block, old;
    rf_conf_t         cf;
    struct sigaction  sa;

    static const struct option  opts[] = {
        { "mode",      required_argument, NULL, 'm' },
        { "port",      required_argument, NULL, 'p' },
        { "workers",   required_argument, NULL, 'w' },
        { "addr",      required_argument, NULL, 'a' },
        { "dest-base", required_argument, NULL, 'B' },
        { "dests",     required_argument, NULL, 'D' },
        { "rcvbuf",    required_argument, NULL, 'R' },
        { "sndbuf",    required_argument, NULL, 'S' },
        { "time",      required_argument, NULL, 't' },
        { "work-ns",   required_argument, NULL, 'X' },
        { "help",      no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(&cf, 0, sizeof(cf));
    cf.mode = RF_MODE_DISCOVER;
    cf.addr.s_addr = htonl(INADDR_LOOPBACK);
    cf.workers = 2;
    cf.max_seconds = 900;

    while ((c = getopt_long(argc, argv, "m:p:w:a:t:h", opts, NULL)) != -1) {

        switch (c) {

        case 'm':
            if (strcmp(optarg, "discover") == 0) {
                cf.mode = RF_MODE_DISCOVER;

            } else if (strcmp(optarg, "relay") == 0) {
                cf.mode = RF_MODE_RELAY;

            } else {
                rf_usage();
                return 2;
            }
            break;

        case 'p':
            if (rf_parse_int(optarg, 1, 65535, &cf.port) != 0) {
                return 2;
            }
            break;

        case 'w':
            if (rf_parse_int(optarg, 1, RF_MAX_WORKERS, &cf.workers) != 0) {
                return 2;
            }
            break;

        case 'a':
            if (inet_pton(AF_INET, optarg, &cf.addr) != 1
                || (ntohl(cf.addr.s_addr) >> 24) != 127)
            {
                fprintf(stderr, "reflector: -a must be a 127.x.x.x address\n");
                return 2;
            }
            break;

        case 'B':
            if (rf_parse_int(optarg, 1, 65534, &cf.dest_base) != 0) {
                return 2;
            }
            break;

        case 'D':
            if (rf_parse_int(optarg, 1, RF_MAX_DESTS, &cf.dests) != 0) {
                return 2;
            }
            break;

        case 'R':
            if (rf_parse_int(optarg, 0, 1 << 30, &cf.rcvbuf) != 0) {
                return 2;
            }
            break;

        case 'S':
            if (rf_parse_int(optarg, 0, 1 << 30, &cf.sndbuf) != 0) {
                return 2;
            }
            break;

        case 't':
            if (rf_parse_int(optarg, 1, 86400, &cf.max_seconds) != 0) {
                return 2;
            }
            break;

        case 'X':
            if (rf_parse_int(optarg, 0, 100000, &cf.work_ns) != 0) {
                return 2;
            }
            break;

        default:
            rf_usage();
            return 2;
        }
    }

    if (cf.port == 0) {
        rf_usage();
        return 2;
    }

    if (cf.mode == RF_MODE_RELAY) {
        if (cf.dest_base == 0 || cf.dests == 0
            || cf.dest_base + cf.dests > 65535)
        {
            fprintf(stderr, "reflector: relay needs --dest-base and --dests"
                    " (dest_base + dests <= 65535)\n");
            return 2;
        }
    }

    if (cf.work_ns > 0) {
        cf.work_iters = rf_spin_calibrate() * (uint64_t) cf.work_ns / 1000;
        fprintf(stderr, "reflector: --work-ns %d = %llu iterations\n",
                cf.work_ns, (unsigned long long) cf.work_iters);
    }

    if (rf_signals() != 0) {
        return 1;
    }

    /* keep signals blocked until sigsuspend() so none is lost */

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGALRM);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);

    alive = 0;

    for (i = 0; i < cf.workers; i++) {
        pid = fork();

        if (pid == -1) {
            perror("reflector: fork");
            rf_stop = 1;
            break;
        }

        if (pid == 0) {
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = SIG_DFL;
            sigaction(SIGCHLD, &sa, NULL);

            /* die with the parent, stop on our own after max_seconds */

            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() == 1) {
                _exit(1);
            }

            alarm((unsigned int) cf.max_seconds + 1);
            sigprocmask(SIG_SETMASK, &old, NULL);

            _exit(rf_worker(&cf, i));
        }

        pids[alive++] = pid;
    }

    fprintf(stderr, "reflector: mode=%s port=%d workers=%d pid=%d\n",
            cf.mode == RF_MODE_DISCOVER ? "discover" : "relay", cf.port,
            alive, (int) getpid());

    alarm((unsigned int) cf.max_seconds);

    /* bounded: the alarm sets rf_stop at the latest after max_seconds */

    while (!rf_stop && !rf_child_exited) {
        sigsuspend(&old);
    }

    sigprocmask(SIG_SETMASK, &old, NULL);

    for (i = 0; i < alive; i++) {
        kill(pids[i], SIGTERM);
    }

    status = 0;

    for (rounds = 0; rounds < 50 && alive > 0; rounds++) {

        for (i = 0; i < alive; /* void */) {
            if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                pids[i] = pids[--alive];
                continue;
            }

            i++;
        }

        if (alive > 0) {
            usleep(100000);
        }
    }

    for (i = 0; i < alive; i++) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], &status, 0);
    }

    return 0;
}
