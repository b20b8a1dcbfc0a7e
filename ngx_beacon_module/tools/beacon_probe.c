
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * beacon-probe: sends one DISCOVER to a Pilot Protocol beacon over UDP
 * and prints the DISCOVER_REPLY, the address the beacon saw.  Node 0 (the
 * default) is a probe the module answers but never registers.
 *
 *   beacon-probe [-n NODE_ID] [-x] [-t SECONDS] HOST:PORT
 *
 * The DISCOVER is sent again every 500 ms until a reply arrives or the
 * timeout ends.  Exit status: 0 a reply, 1 no reply or a bad one, 2 usage.
 */


#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "ngx_beacon_proto.h"


#define PROBE_NAME        "beacon-probe"

#define PROBE_EXIT_NONE   1
#define PROBE_EXIT_USAGE  2

#define PROBE_RESEND_MS   500


static void usage(FILE *f);
static int split_hostport(char *s, char **host, char **port);
static int parse_uint(const char *s, unsigned long max, unsigned long *v);
static long long now_ms(void);
static void hex(const uint8_t *p, size_t n);


static void
usage(FILE *f)
{
    fprintf(f,
        "usage: " PROBE_NAME " [-n NODE_ID] [-x] [-t SECONDS] HOST:PORT\n"
        "\n"
        "Sends a DISCOVER to the beacon at HOST:PORT (UDP; [v6]:PORT for\n"
        "IPv6) and prints its DISCOVER_REPLY: the address it saw.\n"
        "\n"
        "  -n NODE_ID  the node id to discover (default 0: a probe, answered\n"
        "              but never registered; any other id registers it)\n"
        "  -x          send DISCOVER_EX (0x08) instead of DISCOVER (0x01)\n"
        "  -t SECONDS  give up after this long (default 2, 1..60); the\n"
        "              DISCOVER is resent every 500 ms until a reply\n"
        "  -h, --help  this text\n"
        "\n"
        "Exit status: 0 a reply, 1 no reply or a malformed one, 2 usage.\n");
}


/* "host:port", "[v6]:port"; modifies s */

static int
split_hostport(char *s, char **host, char **port)
{
    char  *p;

    if (s[0] == '[') {
        p = strchr(s, ']');

        if (p == NULL || p[1] != ':' || p[2] == '\0') {
            return -1;
        }

        *p = '\0';
        *host = s + 1;
        *port = p + 2;

        return 0;
    }

    p = strrchr(s, ':');

    if (p == NULL || p == s || p[1] == '\0' || strchr(s, ':') != p) {
        return -1;
    }

    *p = '\0';
    *host = s;
    *port = p + 1;

    return 0;
}


static int
parse_uint(const char *s, unsigned long max, unsigned long *v)
{
    char           *end;
    unsigned long   n;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }

    errno = 0;
    n = strtoul(s, &end, 10);

    if (errno || *end != '\0' || n > max) {
        return -1;
    }

    *v = n;

    return 0;
}


static long long
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
hex(const uint8_t *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        printf("%s%02x", i ? " " : "", p[i]);
    }
}


int
main(int argc, char **argv)
{
    int                  fd, i, rc, ready;
    char                *target, *host, *port, *spec;
    char                 text[64];
    uint8_t              out[64], in[NGX_BEACON_ADDR_MSG_MAX + 1], type;
    ssize_t              n;
    size_t               len;
    long long            start, deadline, next, wait;
    unsigned long        node_id, timeout;
    struct pollfd        pfd;
    struct addrinfo      hints, *ai, *a;
    ngx_beacon_addr_t    seen;

    node_id = 0;
    timeout = 2;
    type = NGX_BEACON_DISCOVER;
    target = NULL;

    for (i = 1; i < argc; i++) {

        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }

        if (strcmp(argv[i], "-x") == 0) {
            type = NGX_BEACON_DISCOVER_EX;
            continue;
        }

        if (strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "-t") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, PROBE_NAME ": %s needs a value\n", argv[i]);
                return PROBE_EXIT_USAGE;
            }

            if (argv[i][1] == 'n') {
                rc = parse_uint(argv[i + 1], 0xffffffffUL, &node_id);

            } else {
                rc = parse_uint(argv[i + 1], 60, &timeout);

                if (timeout == 0) {
                    rc = -1;
                }
            }

            if (rc != 0) {
                fprintf(stderr, PROBE_NAME ": invalid %s \"%s\" (%s)\n",
                        argv[i], argv[i + 1],
                        argv[i][1] == 'n' ? "0..4294967295" : "1..60 s");
                return PROBE_EXIT_USAGE;
            }

            i++;
            continue;
        }

        if (argv[i][0] == '-' || target != NULL) {
            fprintf(stderr, PROBE_NAME ": unexpected argument \"%s\"\n",
                    argv[i]);
            usage(stderr);
            return PROBE_EXIT_USAGE;
        }

        target = argv[i];
    }

    if (target == NULL) {
        usage(stderr);
        return PROBE_EXIT_USAGE;
    }

    spec = strdup(target);

    if (spec == NULL || split_hostport(spec, &host, &port) != 0) {
        fprintf(stderr, PROBE_NAME ": \"%s\" is not HOST:PORT or [V6]:PORT\n",
                target);
        return PROBE_EXIT_USAGE;
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_protocol = IPPROTO_UDP;

    rc = getaddrinfo(host, port, &hints, &ai);

    if (rc != 0) {
        fprintf(stderr, PROBE_NAME ": %s: %s\n", target, gai_strerror(rc));
        return PROBE_EXIT_NONE;
    }

    /* connected: the kernel keeps replies from anyone else away */

    fd = -1;

    for (a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);

        if (fd == -1) {
            continue;
        }

        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            break;
        }

        close(fd);
        fd = -1;
    }

    freeaddrinfo(ai);

    if (fd == -1) {
        fprintf(stderr, PROBE_NAME ": %s: %s\n", target, strerror(errno));
        return PROBE_EXIT_NONE;
    }

    len = ngx_beacon_encode_discover(out, type, (uint32_t) node_id, NULL);

    printf("sent:     %s node %lu to %s (",
           type == NGX_BEACON_DISCOVER ? "DISCOVER" : "DISCOVER_EX",
           node_id, target);
    hex(out, len);
    printf(")\n");
    fflush(stdout);

    start = now_ms();
    deadline = start + (long long) timeout * 1000;
    next = start;

    for ( ;; ) {
        if (now_ms() >= next) {
            if (send(fd, out, len, 0) == -1 && errno != ECONNREFUSED) {
                fprintf(stderr, PROBE_NAME ": send: %s\n", strerror(errno));
                return PROBE_EXIT_NONE;
            }

            next += PROBE_RESEND_MS;
        }

        wait = (next < deadline ? next : deadline) - now_ms();

        if (wait <= 0 && now_ms() >= deadline) {
            break;
        }

        pfd.fd = fd;
        pfd.events = POLLIN;

        ready = poll(&pfd, 1, wait > 0 ? (int) wait : 0);

        if (ready == -1 && errno != EINTR) {
            fprintf(stderr, PROBE_NAME ": poll: %s\n", strerror(errno));
            return PROBE_EXIT_NONE;
        }

        if (ready <= 0) {
            if (now_ms() >= deadline) {
                break;
            }

            continue;
        }

        n = recv(fd, in, sizeof(in), 0);

        if (n == -1) {
            /* ICMP port unreachable: nothing listens (yet); keep trying */
            if (errno == ECONNREFUSED || errno == EINTR) {
                continue;
            }

            fprintf(stderr, PROBE_NAME ": recv: %s\n", strerror(errno));
            return PROBE_EXIT_NONE;
        }

        /* exactly 8 (IPv4) or 20 (IPv6) bytes */

        if (ngx_beacon_decode_addr_msg(in, (size_t) n, &type, &seen) != 0
            || type != NGX_BEACON_DISCOVER_REPLY
            || (size_t) n != (in[1] == 4 ? 8 : 20))
        {
            printf("reply:    ");
            hex(in, (size_t) n);
            printf("\n");
            fprintf(stderr, PROBE_NAME ": %s: not a DISCOVER_REPLY\n",
                    target);
            return PROBE_EXIT_NONE;
        }

        ngx_beacon_addr_print(text, &seen, 1);

        printf("reply:    DISCOVER_REPLY after %lld ms (", now_ms() - start);
        hex(in, (size_t) n);
        printf(")\nobserved: %s (this host as the beacon sees it)\n", text);

        return 0;
    }

    fprintf(stderr, PROBE_NAME ": %s: no reply within %lu s\n", target,
            timeout);

    return PROBE_EXIT_NONE;
}
