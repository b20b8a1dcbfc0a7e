
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_channel.h>

#include <sys/un.h>

#include "ngx_beacon_ipc.h"


#define NGX_BEACON_IPC_PEERS      64
#define NGX_BEACON_IPC_BATCH      256
#define NGX_BEACON_IPC_BUFSIZE    (4 * 1024 * 1024)


typedef struct {
    ngx_pid_t                    pid;
    ngx_socket_t                 fd;
    ngx_msec_t                   used;
} ngx_beacon_ipc_peer_t;


typedef struct {
    ngx_socket_t                 listen_fd;
    ngx_beacon_ipc_peer_t        peers[NGX_BEACON_IPC_PEERS];
    u_char                      *buf;
    uid_t                        uid;
} ngx_beacon_ipc_t;


static void ngx_beacon_ipc_name(struct sockaddr_un *sun, socklen_t *len,
    ngx_pid_t pid);
static void ngx_beacon_ipc_accept(ngx_event_t *ev);
static void ngx_beacon_ipc_read(ngx_event_t *ev);
static void ngx_beacon_ipc_close(ngx_connection_t *c);
static ngx_socket_t ngx_beacon_ipc_connect(ngx_pid_t pid);


static ngx_int_t ngx_beacon_ipc_sendmsg(ngx_pid_t pid, ngx_uint_t type,
    uint32_t node_id, uint64_t conn, const u_char *hdr, size_t hlen,
    const u_char *payload, size_t plen, ngx_socket_t fd);


static ngx_beacon_ipc_t             *ngx_beacon_ipc;
static ngx_beacon_ipc_handler_pt     ngx_beacon_ipc_handler_p;
static ngx_beacon_ipc_fd_handler_pt  ngx_beacon_ipc_fd_handler_p;


static void
ngx_beacon_ipc_name(struct sockaddr_un *sun, socklen_t *len, ngx_pid_t pid)
{
    u_char  *p;

    ngx_memzero(sun, sizeof(struct sockaddr_un));
    sun->sun_family = AF_UNIX;

    /* abstract: sun_path[0] == 0, nothing on the filesystem */

    p = ngx_snprintf((u_char *) sun->sun_path + 1,
                     sizeof(sun->sun_path) - 1, "ngx-beacon/%P", pid);

    *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path)
                        + (p - (u_char *) sun->sun_path));
}


ngx_int_t
ngx_beacon_ipc_init(ngx_cycle_t *cycle)
{
    int                  size;
    socklen_t            len;
    ngx_uint_t           i;
    ngx_socket_t         s;
    ngx_beacon_ipc_t    *ipc;
    struct sockaddr_un   sun;

    ipc = ngx_pcalloc(cycle->pool, sizeof(ngx_beacon_ipc_t));
    if (ipc == NULL) {
        return NGX_ERROR;
    }

    ipc->buf = ngx_palloc(cycle->pool, NGX_BEACON_IPC_MAX
                                       + NGX_BEACON_IPC_HDR_LEN);
    if (ipc->buf == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_BEACON_IPC_PEERS; i++) {
        ipc->peers[i].fd = (ngx_socket_t) -1;
    }

    ipc->uid = geteuid();

    s = ngx_socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "beacon channel: socket() failed");
        return NGX_ERROR;
    }

    ngx_beacon_ipc_name(&sun, &len, ngx_pid);

    if (bind(s, (struct sockaddr *) &sun, len) == -1
        || listen(s, 512) == -1
        || ngx_nonblocking(s) == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "beacon channel: bind()/listen() failed");
        (void) ngx_close_socket(s);
        return NGX_ERROR;
    }

    size = NGX_BEACON_IPC_BUFSIZE;
    (void) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof(int));

    /* a channel event: the shutdown timer leaves it alone */

    if (ngx_add_channel_event(cycle, s, NGX_READ_EVENT, ngx_beacon_ipc_accept)
        != NGX_OK)
    {
        (void) ngx_close_socket(s);
        return NGX_ERROR;
    }

    ipc->listen_fd = s;
    ngx_beacon_ipc = ipc;

    return NGX_OK;
}


void
ngx_beacon_ipc_set_handler(ngx_beacon_ipc_handler_pt handler)
{
    ngx_beacon_ipc_handler_p = handler;
}


void
ngx_beacon_ipc_set_fd_handler(ngx_beacon_ipc_fd_handler_pt handler)
{
    ngx_beacon_ipc_fd_handler_p = handler;
}


ngx_beacon_ipc_handler_pt
ngx_beacon_ipc_handler(void)
{
    return ngx_beacon_ipc_handler_p;
}


void
ngx_beacon_ipc_exit(void)
{
    ngx_uint_t  i;

    if (ngx_beacon_ipc == NULL) {
        return;
    }

    for (i = 0; i < NGX_BEACON_IPC_PEERS; i++) {
        if (ngx_beacon_ipc->peers[i].fd != (ngx_socket_t) -1) {
            (void) ngx_close_socket(ngx_beacon_ipc->peers[i].fd);
            ngx_beacon_ipc->peers[i].fd = (ngx_socket_t) -1;
        }
    }
}


static void
ngx_beacon_ipc_accept(ngx_event_t *ev)
{
    int                size;
    socklen_t          len;
    ngx_uint_t         i;
    ngx_socket_t       s;
    struct ucred       cred;
    ngx_connection_t  *lc;

    lc = ev->data;

    for (i = 0; i < 64; i++) {
        s = accept4(lc->fd, NULL, NULL, SOCK_NONBLOCK);

        if (s == (ngx_socket_t) -1) {
            if (ngx_socket_errno != NGX_EAGAIN
                && ngx_socket_errno != NGX_EINTR)
            {
                ngx_log_error(NGX_LOG_ALERT, ev->log, ngx_socket_errno,
                              "beacon channel: accept() failed");
            }

            return;
        }

        /* abstract sockets have no permissions: only our own workers */

        len = sizeof(struct ucred);

        if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1
            || cred.uid != ngx_beacon_ipc->uid)
        {
            ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                          "beacon channel: refused a connection from "
                          "another user");
            (void) ngx_close_socket(s);
            continue;
        }

        size = NGX_BEACON_IPC_BUFSIZE;
        (void) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof(int));

        if (ngx_add_channel_event((ngx_cycle_t *) ngx_cycle, s,
                                  NGX_READ_EVENT, ngx_beacon_ipc_read)
            != NGX_OK)
        {
            (void) ngx_close_socket(s);
            return;
        }
    }
}


static void
ngx_beacon_ipc_read(ngx_event_t *ev)
{
    int                    rc;
    ssize_t                n;
    ngx_uint_t             i;
    ngx_socket_t           fd;
    struct iovec           iov;
    struct msghdr          msg;
    struct cmsghdr        *cmsg;
    ngx_connection_t      *c;
    ngx_beacon_ipc_msg_t   m;

    union {
        struct cmsghdr     cm;
        char               space[CMSG_SPACE(sizeof(int))];
    } cmsgbuf;

    c = ev->data;

    for (i = 0; i < NGX_BEACON_IPC_BATCH; i++) {

        iov.iov_base = ngx_beacon_ipc->buf;
        iov.iov_len = NGX_BEACON_IPC_MAX + NGX_BEACON_IPC_HDR_LEN;

        ngx_memzero(&msg, sizeof(struct msghdr));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = &cmsgbuf;
        msg.msg_controllen = sizeof(cmsgbuf);

        n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n == -1) {
            if (ngx_socket_errno == NGX_EAGAIN
                || ngx_socket_errno == NGX_EINTR)
            {
                return;
            }

            ngx_beacon_ipc_close(c);
            return;
        }

        if (n == 0) {
            /* the sending worker is gone */
            ngx_beacon_ipc_close(c);
            return;
        }

        fd = (ngx_socket_t) -1;

        for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg))
        {
            if (cmsg->cmsg_level == SOL_SOCKET
                && cmsg->cmsg_type == SCM_RIGHTS
                && cmsg->cmsg_len == CMSG_LEN(sizeof(int)))
            {
                ngx_memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
            }
        }

        rc = ngx_beacon_ipc_msg_parse(ngx_beacon_ipc->buf, (size_t) n,
                                      msg.msg_flags & (MSG_TRUNC|MSG_CTRUNC),
                                      &m);

        if (rc == NGX_BEACON_IPC_MSG_OFFSET && ngx_beacon_ipc_fd_handler_p) {
            /* the handler owns fd */
            ngx_beacon_ipc_fd_handler_p(m.type, m.conn, m.payload, m.plen,
                                        fd);
            continue;
        }

        if (fd != (ngx_socket_t) -1) {
            (void) ngx_close_socket(fd);
        }

        if (rc == NGX_BEACON_IPC_MSG_COMPAT && ngx_beacon_ipc_handler_p) {
            (void) ngx_beacon_ipc_handler_p(m.type, m.node_id, m.conn,
                                            NULL, 0, m.payload, m.plen);
        }
    }
}


static void
ngx_beacon_ipc_close(ngx_connection_t *c)
{
    ngx_close_connection(c);
}


static ngx_socket_t
ngx_beacon_ipc_connect(ngx_pid_t pid)
{
    int                 size;
    socklen_t           len;
    ngx_socket_t        s;
    struct sockaddr_un  sun;

    s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
    if (s == (ngx_socket_t) -1) {
        return s;
    }

    size = NGX_BEACON_IPC_BUFSIZE;
    (void) setsockopt(s, SOL_SOCKET, SO_SNDBUF, &size, sizeof(int));

    ngx_beacon_ipc_name(&sun, &len, pid);

    if (connect(s, (struct sockaddr *) &sun, len) == -1) {
        (void) ngx_close_socket(s);
        return (ngx_socket_t) -1;
    }

    return s;
}


ngx_int_t
ngx_beacon_ipc_send(ngx_pid_t pid, ngx_uint_t type, uint32_t node_id,
    uint64_t conn, const u_char *hdr, size_t hlen, const u_char *payload,
    size_t plen)
{
    return ngx_beacon_ipc_sendmsg(pid, type, node_id, conn, hdr, hlen,
                                  payload, plen, (ngx_socket_t) -1);
}


ngx_int_t
ngx_beacon_ipc_send_fd(ngx_pid_t pid, ngx_uint_t type, uint64_t conn,
    const u_char *hdr, size_t hlen, const u_char *payload, size_t plen,
    ngx_socket_t fd)
{
    return ngx_beacon_ipc_sendmsg(pid, type, 0, conn, hdr, hlen, payload,
                                  plen, fd);
}


static ngx_int_t
ngx_beacon_ipc_sendmsg(ngx_pid_t pid, ngx_uint_t type, uint32_t node_id,
    uint64_t conn, const u_char *hdr, size_t hlen, const u_char *payload,
    size_t plen, ngx_socket_t fd)
{
    ssize_t                 n;
    ngx_err_t               err;
    ngx_uint_t              i, retry;
    struct iovec            iov[3];
    struct msghdr           msg;
    u_char                  h[NGX_BEACON_IPC_HDR_LEN];
    ngx_beacon_ipc_peer_t  *peer, *victim, *p;

    union {
        struct cmsghdr      cm;
        char                space[CMSG_SPACE(sizeof(int))];
    } cmsgbuf;

    if (ngx_beacon_ipc == NULL) {
        return NGX_ERROR;
    }

    if (hlen + plen > NGX_BEACON_IPC_MAX) {
        return NGX_ERROR;
    }

    (void) ngx_beacon_ipc_msg_header(h, type, node_id, conn);

    iov[0].iov_base = h;
    iov[0].iov_len = NGX_BEACON_IPC_HDR_LEN;
    iov[1].iov_base = (void *) hdr;
    iov[1].iov_len = hlen;
    iov[2].iov_base = (void *) payload;
    iov[2].iov_len = plen;

    ngx_memzero(&msg, sizeof(struct msghdr));
    msg.msg_iov = iov;
    msg.msg_iovlen = 3;

    if (fd != (ngx_socket_t) -1) {
        ngx_memzero(&cmsgbuf, sizeof(cmsgbuf));
        msg.msg_control = &cmsgbuf;
        msg.msg_controllen = sizeof(cmsgbuf);

        cmsgbuf.cm.cmsg_level = SOL_SOCKET;
        cmsgbuf.cm.cmsg_type = SCM_RIGHTS;
        cmsgbuf.cm.cmsg_len = CMSG_LEN(sizeof(int));
        ngx_memcpy(CMSG_DATA(&cmsgbuf.cm), &fd, sizeof(int));
    }

    for (retry = 0; retry < 2; retry++) {

        /* this sender's connection to that worker, made on first use */

        peer = NULL;
        victim = NULL;

        for (i = 0; i < NGX_BEACON_IPC_PEERS; i++) {
            p = &ngx_beacon_ipc->peers[i];

            if (p->fd != (ngx_socket_t) -1 && p->pid == pid) {
                peer = p;
                break;
            }

            /* a free slot, else the least recently used connection */

            if (victim == NULL
                || (p->fd == (ngx_socket_t) -1
                    && victim->fd != (ngx_socket_t) -1)
                || (p->fd != (ngx_socket_t) -1
                    && victim->fd != (ngx_socket_t) -1
                    && (ngx_msec_int_t) (p->used - victim->used) < 0))
            {
                victim = p;
            }
        }

        if (peer == NULL) {
            if (victim->fd != (ngx_socket_t) -1) {
                (void) ngx_close_socket(victim->fd);
                victim->fd = (ngx_socket_t) -1;
            }

            victim->fd = ngx_beacon_ipc_connect(pid);

            if (victim->fd == (ngx_socket_t) -1) {
                err = ngx_socket_errno;

                if (err == NGX_EAGAIN) {
                    return NGX_AGAIN;
                }

                /* ECONNREFUSED, ENOENT: nobody listens under that pid */
                return NGX_DECLINED;
            }

            victim->pid = pid;
            peer = victim;
        }

        peer->used = ngx_current_msec;

        n = sendmsg(peer->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n != -1) {
            return NGX_OK;
        }

        err = ngx_socket_errno;

        if (err == NGX_EAGAIN) {
            return NGX_AGAIN;
        }

        /* the receiver went away: reconnect once (a new worker may reuse
         * nothing of it, and then the connect says so) */

        (void) ngx_close_socket(peer->fd);
        peer->fd = (ngx_socket_t) -1;
        peer->pid = 0;
    }

    return NGX_DECLINED;
}
