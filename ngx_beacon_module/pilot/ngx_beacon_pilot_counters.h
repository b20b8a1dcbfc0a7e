
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The Pilot beacon's counters: datagrams, DISCOVER, punch, relay, gossip
 * and registry rounds, counted by the UDP face (ngx_stream_beacon_module.c),
 * the relay router (ngx_beacon_relay.c), the gossip room, the transport
 * (ngx_beacon_udp.c) and, for "expired", the zone's reaper; the bridge
 * counts its datagrams here too.  The zone composes its counter enum from
 * this list and the other rooms' (zone/ngx_beacon_counters.h); the status
 * page and the Prometheus page print what is registered here, in this
 * order (README, "Metrics", "Adding a counter").
 *
 * G(group, JSON object, total, Prometheus family, label, help):
 *     a group of counters: its JSON object ("" the zone's own, "a.b" one
 *     nested in "a"), whether the object starts with "total", their sum;
 *     with a family, the group is one labelled Prometheus family and each
 *     counter's key is its label value, else each counter is a family of
 *     its own.
 * X(counter, group, key, metric, help):
 *     NGX_BEACON_C_<counter>; its JSON field (or label value); its
 *     Prometheus family after "beacon_" and its HELP (NULL in a labelled
 *     group); a key of NULL is never shown.
 */


#ifndef _NGX_BEACON_PILOT_COUNTERS_H_INCLUDED_
#define _NGX_BEACON_PILOT_COUNTERS_H_INCLUDED_


#define NGX_BEACON_PILOT_GROUPS(G)                                            \
    G(PILOT, "", 0, NULL, NULL, NULL)                                         \
    G(RELAY_DROPPED, "relay_dropped", 1, "relay_dropped_total", "reason",     \
      "RELAY dropped, by reason.")


#define NGX_BEACON_PILOT_COUNTERS(X)                                          \
    X(DATAGRAMS, PILOT, "datagrams", "datagrams_total",                       \
      "Datagrams received.")                                                  \
    X(MALFORMED, PILOT, "malformed", "datagrams_malformed_total",             \
      "Datagrams dropped as too short or truncated.")                         \
    X(UNKNOWN_TYPE, PILOT, "unknown_type", "datagrams_unknown_type_total",    \
      "Datagrams dropped for a message type the beacon does not accept.")     \
    X(TRUNCATED, PILOT, NULL, NULL, NULL)                                     \
    X(DISCOVER, PILOT, "discover", "discover_total",                          \
      "DISCOVER and DISCOVER_EX received.")                                   \
    X(DISCOVER_REPLIES, PILOT, "discover_replies", "discover_replies_total",  \
      "DISCOVER_REPLY sent.")                                                 \
    X(DISCOVER_THROTTLED, PILOT, "discover_throttled",                        \
      "discover_throttled_total",                                             \
      "Endpoint changes refused by the endpoint throttle.")                   \
    X(PROBES, PILOT, "probes", "probes_total",                                \
      "DISCOVER for node 0, answered and never registered.")                  \
    X(REFUSED_CAPACITY, PILOT, "refused_capacity", "refused_capacity_total",  \
      "New nodes refused: max_nodes reached or zone memory exhausted.")       \
    X(REGISTER_RATE_LIMITED, PILOT, "register_rate_limited",                  \
      "register_rate_limited_total",                                          \
      "New registrations dropped by beacon_register_limit.")                  \
    X(REPLY_RATE_LIMITED, PILOT, "reply_rate_limited",                        \
      "reply_rate_limited_total",                                             \
      "DISCOVER and PUNCH_REQUEST dropped by beacon_reply_limit.")            \
    X(EXPIRED, PILOT, "expired", "expired_total",                             \
      "Nodes removed after node_ttl without a refresh.")                      \
    X(PUNCH_REQUESTS, PILOT, "punch_requests", "punch_requests_total",        \
      "PUNCH_REQUEST received.")                                              \
    X(PUNCH_COORDINATED, PILOT, "punch_coordinated",                          \
      "punch_coordinated_total", "Pairs of PUNCH_COMMAND sent.")              \
    X(PUNCH_RATE_LIMITED, PILOT, "punch_rate_limited",                        \
      "punch_rate_limited_total",                                             \
      "PUNCH_REQUEST dropped by beacon_punch_limit.")                         \
    X(PUNCH_GRANT_REJECTED, PILOT, "punch_grant_rejected",                    \
      "punch_grant_rejected_total",                                           \
      "PUNCH_REQUEST dropped for a missing or invalid punch grant.")          \
    X(PUNCH_NOT_FOUND, PILOT, "punch_not_found", "punch_not_found_total",     \
      "PUNCH_REQUEST dropped for an unknown node.")                           \
    X(PUNCH_MISMATCH, PILOT, "punch_endpoint_mismatch",                       \
      "punch_endpoint_mismatch_total",                                        \
      "PUNCH_REQUEST dropped: source is not the requester's endpoint.")       \
    X(SYNC_RECEIVED, PILOT, "sync_received", "sync_received_total",           \
      "SYNC received from peer beacons.")                                     \
    X(SYNC_REJECTED, PILOT, "sync_rejected", "sync_rejected_total",           \
      "SYNC refused: not a configured peer, bad signature, or invalid.")      \
    X(SYNC_SENT, PILOT, "sync_sent", "sync_sent_total",                       \
      "SYNC sent to peer beacons.")                                           \
    X(ROUTES_FULL, PILOT, "routes_full", "routes_full_total",                 \
      "SYNC whose routes did not all fit in the route table.")                \
    X(RELAY_RECEIVED, PILOT, "relay_received", "relay_received_total",        \
      "RELAY received.")                                                      \
    X(RELAY_FORWARDED, PILOT, "relay_forwarded", "relay_forwarded_total",     \
      "Relay deliveries accepted by the kernel.")                             \
    X(RELAY_NOT_FOUND, PILOT, "relay_not_found", "relay_not_found_total",     \
      "RELAY for an unknown destination.")                                    \
    X(RELAY_PEER_FORWARDED, PILOT, "relay_peer_forwarded",                    \
      "relay_peer_forwarded_total",                                           \
      "RELAY forwarded to the peer beacon that announced the destination.")   \
    X(RELAY_LOOP, PILOT, "relay_loop", "relay_loop_total",                    \
      "RELAY from a peer beacon for a node not registered here, dropped.")    \
    X(REGISTRY_ROUNDS, PILOT, "registry_rounds", "registry_rounds_total",     \
      "Registry discovery rounds started (beacon_register, beacon_list).")    \
    X(REGISTRY_ERRORS, PILOT, "registry_errors", "registry_errors_total",     \
      "Registry rounds that failed or were refused; the peer set was kept.")  \
    X(SEND_ERRORS, PILOT, "send_errors", "send_errors_total",                 \
      "Datagrams the kernel refused to send.")                                \
    X(RELAY_RATE_LIMITED, RELAY_DROPPED, "rate_limited", NULL, NULL)          \
    X(RELAY_OVERSIZE, RELAY_DROPPED, "oversize", NULL, NULL)                  \
    X(RELAY_MALFORMED, RELAY_DROPPED, "malformed", NULL, NULL)                \
    X(RELAY_SENDER_MISMATCH, RELAY_DROPPED, "sender_mismatch", NULL, NULL)    \
    X(RELAY_SEND_FAILED, RELAY_DROPPED, "send_failed", NULL, NULL)


#endif /* _NGX_BEACON_PILOT_COUNTERS_H_INCLUDED_ */
