
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The Offset relay's counters (ngx_stream_beacon_offset_module.c), the
 * "offset" object of the status page after the relay's gauges.  The format
 * of the lists: pilot/ngx_beacon_pilot_counters.h.
 */


#ifndef _NGX_BEACON_OFFSET_COUNTERS_H_INCLUDED_
#define _NGX_BEACON_OFFSET_COUNTERS_H_INCLUDED_


#define NGX_BEACON_OFFSET_GROUPS(G)                                           \
    G(OFFSET, "offset", 0, NULL, NULL, NULL)


#define NGX_BEACON_OFFSET_COUNTERS(X)                                         \
    X(OFFSET_CONNECTIONS, OFFSET, "connections_total",                        \
      "offset_connections_total", "Offset relay: TCP connections accepted.")  \
    X(OFFSET_HANDSHAKES_OK, OFFSET, "handshakes_ok",                          \
      "offset_handshakes_ok_total",                                           \
      "Offset relay: secure-channel handshakes completed.")                   \
    X(OFFSET_HANDSHAKES_FAILED, OFFSET, "handshakes_failed",                  \
      "offset_handshakes_failed_total",                                       \
      "Offset relay: admitted connections closed before the handshake "       \
      "completed.")                                                           \
    X(OFFSET_LISTENS, OFFSET, "listens", "offset_listens_total",              \
      "Offset relay: Listen received.")                                       \
    X(OFFSET_CONNECTS, OFFSET, "connects", "offset_connects_total",           \
      "Offset relay: Connect received.")                                      \
    X(OFFSET_ACCEPTS, OFFSET, "accepts", "offset_accepts_total",              \
      "Offset relay: Accept received.")                                       \
    X(OFFSET_TUNNELS, OFFSET, "tunnels_total", "offset_tunnels_total",        \
      "Offset relay: tunnels spliced.")                                       \
    X(OFFSET_BYTES, OFFSET, "bytes_spliced", "offset_bytes_spliced_total",    \
      "Offset relay: tunnel payload bytes forwarded.")                        \
    X(OFFSET_MESSAGES, OFFSET, "messages_spliced",                            \
      "offset_messages_spliced_total",                                        \
      "Offset relay: tunnel messages forwarded.")                             \
    X(OFFSET_REJECTS, OFFSET, "rejects", "offset_rejects_total",              \
      "Offset relay: RejectConnection received.")                             \
    X(OFFSET_EXPIRED, OFFSET, "expired", "offset_expired_total",              \
      "Offset relay: half-tunnels closed after "                              \
      "beacon_offset_half_tunnel_timeout.")                                   \
    X(OFFSET_UNPAIRED, OFFSET, "unpaired", "offset_unpaired_total",           \
      "Offset relay: Connect with no reachable listener, Accept with "        \
      "nothing pending, or a duplicate.")                                     \
    X(OFFSET_LIMIT_HITS, OFFSET, "limit_hits", "offset_limit_hits_total",     \
      "Offset relay: connections refused by beacon_offset_handshakes, "       \
      "beacon_offset_connections, beacon_offset_connections_per_ip or a "     \
      "full zone.")                                                           \
    X(OFFSET_HANDOFFS, OFFSET, "handoffs", "offset_handoffs_total",           \
      "Offset relay: accepting sockets moved to the connector's worker.")     \
    X(OFFSET_HANDOFF_FAILED, OFFSET, "handoff_failed",                        \
      "offset_handoff_failed_total",                                          \
      "Offset relay: socket handoffs to the connector's worker that "         \
      "failed.")                                                              \
    X(OFFSET_LISTEN_REPLACED, OFFSET, "listen_replaced",                      \
      "offset_listen_replaced_total",                                         \
      "Offset relay: listeners closed for a newer Listen of the same key.")   \
    X(OFFSET_LISTEN_REFUSED, OFFSET, "listen_refused",                        \
      "offset_listen_refused_total",                                          \
      "Offset relay: Listen refused by beacon_offset_listen_allow.")          \
    X(OFFSET_BAD_FRAMES, OFFSET, "bad_frames", "offset_bad_frames_total",     \
      "Offset relay: connections closed for an oversized, short or "          \
      "undecodable frame.")                                                   \
    X(OFFSET_TIMEOUTS, OFFSET, "timeouts", "offset_timeouts_total",           \
      "Offset relay: connections closed by a handshake, init or idle "        \
      "timeout.")                                                             \
    X(OFFSET_REKEYS, OFFSET, "rekeys", "offset_rekeys_total",                 \
      "Offset relay: secure-channel rekeys completed.")


#endif /* _NGX_BEACON_OFFSET_COUNTERS_H_INCLUDED_ */
