
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_beacon_udp.h"


#define NGX_BEACON_CMSG_SPACE                                                \
    CMSG_SPACE(sizeof(struct in6_pktinfo) > sizeof(struct in_pktinfo)        \
               ? sizeof(struct in6_pktinfo) : sizeof(struct in_pktinfo))


typedef struct {
    ngx_beacon_zone_t       *zone;
    ngx_beacon_out_e         kind;
    ngx_socket_t             fd;
} ngx_beacon_out_meta_t;


typedef struct {
    ngx_array_t              socks;        /* ngx_beacon_sock_t */

    /* receive side */
    struct mmsghdr           rmsg[NGX_BEACON_RECV_BATCH];
    struct iovec             riov[NGX_BEACON_RECV_BATCH];
    ngx_sockaddr_t           rname[NGX_BEACON_RECV_BATCH];
    u_char                   rctl[NGX_BEACON_RECV_BATCH]
                                 [NGX_BEACON_CMSG_SPACE];
    u_char                  *rbuf;         /* batch * 64 KiB */

    /* send side */
    ngx_uint_t               nout;
    struct mmsghdr           omsg[NGX_BEACON_OUT_MAX];
    struct iovec             oiov[NGX_BEACON_OUT_MAX][2];
    ngx_sockaddr_t           oname[NGX_BEACON_OUT_MAX];
    u_char                   octl[NGX_BEACON_OUT_MAX][NGX_BEACON_CMSG_SPACE];
    u_char                   ohdr[NGX_BEACON_OUT_MAX][32];
    ngx_beacon_out_meta_t    ometa[NGX_BEACON_OUT_MAX];

    time_t                   last_error_log;
} ngx_beacon_worker_t;


static void ngx_beacon_udp_read_handler(ngx_event_t *rev);
static void ngx_beacon_udp_account(ngx_beacon_out_meta_t *m, ngx_err_t err);
static void ngx_beacon_udp_send_error(ngx_err_t err);


static ngx_beacon_worker_t  *ngx_beacon_worker;


ngx_int_t
ngx_beacon_udp_init_worker(ngx_cycle_t *cycle)
{
    ngx_uint_t            i;
    ngx_beacon_worker_t  *w;

    w = ngx_pcalloc(cycle->pool, sizeof(ngx_beacon_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&w->socks, cycle->pool, 4, sizeof(ngx_beacon_sock_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    w->rbuf = ngx_palloc(cycle->pool,
                         NGX_BEACON_RECV_BATCH * (NGX_BEACON_MAX_DATAGRAM + 1));
    if (w->rbuf == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_BEACON_RECV_BATCH; i++) {
        w->riov[i].iov_base = w->rbuf + i * (NGX_BEACON_MAX_DATAGRAM + 1);
        w->riov[i].iov_len = NGX_BEACON_MAX_DATAGRAM + 1;
        w->rmsg[i].msg_hdr.msg_iov = &w->riov[i];
        w->rmsg[i].msg_hdr.msg_iovlen = 1;
        w->rmsg[i].msg_hdr.msg_name = &w->rname[i];
    }

    ngx_beacon_worker = w;

    return NGX_OK;
}


ngx_int_t
ngx_beacon_udp_add_sock(ngx_cycle_t *cycle, ngx_listening_t *ls, void *conf,
    ngx_beacon_datagram_pt handler, ngx_uint_t batched)
{
    int                   on;
    ngx_connection_t     *c;
    ngx_beacon_sock_t    *bs;
    ngx_beacon_worker_t  *w;

    w = ngx_beacon_worker;

    bs = ngx_array_push(&w->socks);
    if (bs == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(bs, sizeof(ngx_beacon_sock_t));

    bs->listening = ls;
    bs->fd = ls->fd;
    bs->family = ls->sockaddr->sa_family;
    bs->wildcard = ls->wildcard;
    bs->conf = conf;
    bs->handler = handler;

    (void) ngx_beacon_addr_from_sockaddr(&bs->local, ls->sockaddr);

    if (bs->wildcard) {
        /* nginx asks for these too; make sure the batched loop gets them */

        on = 1;

        if (bs->family == AF_INET6) {
            (void) setsockopt(bs->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO,
                              &on, sizeof(int));

        } else {
            (void) setsockopt(bs->fd, IPPROTO_IP, IP_PKTINFO,
                              &on, sizeof(int));
        }
    }

    c = ls->connection;

    if (batched && c != NULL) {
        /*
         * Our receive loop replaces ngx_event_recvmsg() on this worker's
         * socket: no per-datagram session, pool or phase walk.
         */

        bs->batched = 1;
        c->data = bs;
        c->read->handler = ngx_beacon_udp_read_handler;

        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, cycle->log, 0,
                       "beacon batched receive on %V", &ls->addr_text);
    }

    return NGX_OK;
}


ngx_beacon_sock_t *
ngx_beacon_udp_sock_by_fd(ngx_socket_t fd)
{
    ngx_uint_t          i;
    ngx_beacon_sock_t  *bs;

    if (ngx_beacon_worker == NULL) {
        return NULL;
    }

    bs = ngx_beacon_worker->socks.elts;

    for (i = 0; i < ngx_beacon_worker->socks.nelts; i++) {
        if (bs[i].fd == fd) {
            return &bs[i];
        }
    }

    return NULL;
}


ngx_beacon_sock_t *
ngx_beacon_udp_socks(ngx_uint_t *n)
{
    if (ngx_beacon_worker == NULL) {
        *n = 0;
        return NULL;
    }

    *n = ngx_beacon_worker->socks.nelts;

    return ngx_beacon_worker->socks.elts;
}


ngx_beacon_sock_t *
ngx_beacon_udp_sock_for(const ngx_beacon_ep_t *ep)
{
    int                 family;
    ngx_uint_t          i;
    ngx_beacon_sock_t  *bs, *wild;

    family = (ep->flags & NGX_BEACON_NODE_LV6) ? AF_INET6 : AF_INET;
    bs = ngx_beacon_worker->socks.elts;
    wild = NULL;

    for (i = 0; i < ngx_beacon_worker->socks.nelts; i++) {

        if (bs[i].family != family || bs[i].local.port != ep->local.port) {
            continue;
        }

        if (ngx_memcmp(bs[i].local.ip, ep->local.ip, 16) == 0) {
            return &bs[i];
        }

        if (bs[i].wildcard && wild == NULL) {
            wild = &bs[i];
        }
    }

    return wild;
}


void
ngx_beacon_udp_local(ngx_beacon_sock_t *bs, struct sockaddr *sa,
    ngx_beacon_addr_t *local)
{
    if (sa == NULL || ngx_beacon_addr_from_sockaddr(local, sa) != 0) {
        *local = bs->local;
    }

    local->port = bs->local.port;
}


static void
ngx_beacon_udp_read_handler(ngx_event_t *rev)
{
    int                   n, i;
    size_t                len;
    ngx_err_t             err;
    ngx_uint_t            round;
    struct msghdr        *msg;
    struct cmsghdr       *cmsg;
    ngx_connection_t     *c;
    ngx_beacon_addr_t     local;
    ngx_beacon_sock_t    *bs;
    ngx_beacon_worker_t  *w;

    c = rev->data;
    bs = c->data;
    w = ngx_beacon_worker;

    /* a bounded number of batches per wakeup; epoll is level-triggered */

    for (round = 0; round < 8; round++) {

        for (i = 0; i < NGX_BEACON_RECV_BATCH; i++) {
            w->rmsg[i].msg_hdr.msg_namelen = sizeof(ngx_sockaddr_t);
            w->rmsg[i].msg_hdr.msg_control = bs->wildcard ? w->rctl[i] : NULL;
            w->rmsg[i].msg_hdr.msg_controllen = bs->wildcard
                                                ? NGX_BEACON_CMSG_SPACE : 0;
            w->rmsg[i].msg_hdr.msg_flags = 0;
        }

        n = recvmmsg(bs->fd, w->rmsg, NGX_BEACON_RECV_BATCH, MSG_DONTWAIT,
                     NULL);

        if (n == -1) {
            err = ngx_socket_errno;

            if (err == NGX_EAGAIN || err == NGX_EINTR) {
                break;
            }

            if (err == ECONNREFUSED || err == EHOSTUNREACH
                || err == ENETUNREACH)
            {
                /* ICMP errors of earlier sends surface here: ignore */
                continue;
            }

            ngx_log_error(NGX_LOG_ALERT, c->log, err,
                          "beacon recvmmsg() failed");
            break;
        }

        for (i = 0; i < n; i++) {
            msg = &w->rmsg[i].msg_hdr;
            len = w->rmsg[i].msg_len;

            if (len > NGX_BEACON_MAX_DATAGRAM || (msg->msg_flags & MSG_TRUNC))
            {
                continue;
            }

            local = bs->local;

            if (bs->wildcard) {
                for (cmsg = CMSG_FIRSTHDR(msg);
                     cmsg != NULL;
                     cmsg = CMSG_NXTHDR(msg, cmsg))
                {
                    if (cmsg->cmsg_level == IPPROTO_IP
                        && cmsg->cmsg_type == IP_PKTINFO)
                    {
                        ngx_memzero(local.ip, 10);
                        local.ip[10] = 0xff;
                        local.ip[11] = 0xff;
                        ngx_memcpy(local.ip + 12,
                                   &((struct in_pktinfo *)
                                      CMSG_DATA(cmsg))->ipi_addr, 4);
                        break;
                    }

                    if (cmsg->cmsg_level == IPPROTO_IPV6
                        && cmsg->cmsg_type == IPV6_PKTINFO)
                    {
                        ngx_memcpy(local.ip,
                                   &((struct in6_pktinfo *)
                                      CMSG_DATA(cmsg))->ipi6_addr, 16);
                        break;
                    }
                }
            }

            bs->handler(bs, msg->msg_name, &local, w->riov[i].iov_base, len);
        }

        ngx_beacon_udp_flush();

        if (n < NGX_BEACON_RECV_BATCH) {
            break;
        }
    }
}


void
ngx_beacon_udp_send(ngx_beacon_zone_t *z, ngx_beacon_out_e kind,
    ngx_beacon_sock_t *bs, const ngx_beacon_addr_t *dst,
    const ngx_beacon_addr_t *src, const u_char *hdr, size_t hlen,
    const u_char *payload, size_t plen)
{
    ngx_uint_t             i;
    struct msghdr         *msg;
    struct cmsghdr        *cmsg;
    struct sockaddr_in    *sin;
    struct sockaddr_in6   *sin6;
    struct in_pktinfo     *pkt;
    struct in6_pktinfo    *pkt6;
    ngx_beacon_worker_t   *w;
    ngx_beacon_out_meta_t *m;

    w = ngx_beacon_worker;

    if (w->nout == NGX_BEACON_OUT_MAX) {
        ngx_beacon_udp_flush();
    }

    i = w->nout;
    msg = &w->omsg[i].msg_hdr;
    m = &w->ometa[i];

    m->zone = z;
    m->kind = kind;
    m->fd = bs->fd;

    ngx_memzero(msg, sizeof(struct msghdr));

    if (bs->family == AF_INET6) {
        sin6 = (struct sockaddr_in6 *) &w->oname[i];
        ngx_memzero(sin6, sizeof(struct sockaddr_in6));
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(dst->port);
        ngx_memcpy(&sin6->sin6_addr, dst->ip, 16);
        msg->msg_namelen = sizeof(struct sockaddr_in6);

    } else {
        if (!ngx_beacon_addr_is_v4(dst)) {
            ngx_beacon_udp_account(m, EAFNOSUPPORT);
            return;
        }

        sin = (struct sockaddr_in *) &w->oname[i];
        ngx_memzero(sin, sizeof(struct sockaddr_in));
        sin->sin_family = AF_INET;
        sin->sin_port = htons(dst->port);
        ngx_memcpy(&sin->sin_addr, dst->ip + 12, 4);
        msg->msg_namelen = sizeof(struct sockaddr_in);
    }

    msg->msg_name = &w->oname[i];

    ngx_memcpy(w->ohdr[i], hdr, hlen);
    w->oiov[i][0].iov_base = w->ohdr[i];
    w->oiov[i][0].iov_len = hlen;
    msg->msg_iov = w->oiov[i];
    msg->msg_iovlen = 1;

    if (plen) {
        w->oiov[i][1].iov_base = (void *) payload;
        w->oiov[i][1].iov_len = plen;
        msg->msg_iovlen = 2;
    }

    /* on a wildcard socket, leave from the address the node talked to */

    if (bs->wildcard && src != NULL) {
        ngx_memzero(w->octl[i], NGX_BEACON_CMSG_SPACE);
        msg->msg_control = w->octl[i];
        cmsg = (struct cmsghdr *) w->octl[i];

        if (bs->family == AF_INET6) {
            cmsg->cmsg_level = IPPROTO_IPV6;
            cmsg->cmsg_type = IPV6_PKTINFO;
            cmsg->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
            pkt6 = (struct in6_pktinfo *) CMSG_DATA(cmsg);
            ngx_memcpy(&pkt6->ipi6_addr, src->ip, 16);
            msg->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));

        } else {
            cmsg->cmsg_level = IPPROTO_IP;
            cmsg->cmsg_type = IP_PKTINFO;
            cmsg->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
            pkt = (struct in_pktinfo *) CMSG_DATA(cmsg);
            ngx_memcpy(&pkt->ipi_spec_dst, src->ip + 12, 4);
            msg->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
        }
    }

    w->nout++;
}


void
ngx_beacon_udp_flush(void)
{
    int                   n;
    ngx_err_t             err;
    ngx_uint_t            i, j, end;
    ngx_beacon_worker_t  *w;

    w = ngx_beacon_worker;
    i = 0;

    while (i < w->nout) {

        /* one sendmmsg() per run of datagrams on the same socket */

        for (end = i + 1;
             end < w->nout && w->ometa[end].fd == w->ometa[i].fd;
             end++)
        {
            /* void */
        }

        while (i < end) {
            n = sendmmsg(w->ometa[i].fd, &w->omsg[i], end - i, 0);

            if (n > 0) {
                for (j = i; j < i + (ngx_uint_t) n; j++) {
                    ngx_beacon_udp_account(&w->ometa[j], 0);
                }

                i += n;
                continue;
            }

            err = ngx_socket_errno;

            if (err == NGX_EINTR) {
                continue;
            }

            if (err == NGX_EAGAIN) {
                /* a full socket buffer: drop the rest of the run, count */

                for ( /* void */ ; i < end; i++) {
                    ngx_beacon_udp_account(&w->ometa[i], err);
                }

                break;
            }

            /* this datagram failed: count it, go on with the next */

            ngx_beacon_udp_account(&w->ometa[i], err);
            ngx_beacon_udp_send_error(err);
            i++;
        }
    }

    w->nout = 0;
}


static void
ngx_beacon_udp_account(ngx_beacon_out_meta_t *m, ngx_err_t err)
{
    if (err == 0) {
        if (m->kind == NGX_BEACON_OUT_RELAY) {
            ngx_beacon_count(m->zone, NGX_BEACON_C_RELAY_FORWARDED);
        }

        return;
    }

    if (m->kind == NGX_BEACON_OUT_RELAY) {
        ngx_beacon_count(m->zone, NGX_BEACON_C_RELAY_SEND_FAILED);
    }

    ngx_beacon_count(m->zone, NGX_BEACON_C_SEND_ERRORS);
}


static void
ngx_beacon_udp_send_error(ngx_err_t err)
{
    ngx_beacon_worker_t  *w;

    /* peer-caused errors are counted; log at most once a minute */

    w = ngx_beacon_worker;

    if (ngx_time() - w->last_error_log < 60) {
        return;
    }

    w->last_error_log = ngx_time();

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, err,
                  "beacon sendmmsg() failed (counted in send_errors; "
                  "logged at most once a minute)");
}
