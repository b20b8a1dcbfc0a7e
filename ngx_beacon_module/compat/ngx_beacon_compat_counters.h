
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The compat bridge's counters (ngx_http_beacon_compat.c; the relay router
 * counts the drops of deliveries to bridged nodes), the "compat" object of
 * the status page.  The format of the lists: pilot/ngx_beacon_pilot_counters.h.
 */


#ifndef _NGX_BEACON_COMPAT_COUNTERS_H_INCLUDED_
#define _NGX_BEACON_COMPAT_COUNTERS_H_INCLUDED_


#define NGX_BEACON_COMPAT_GROUPS(G)                                           \
    G(COMPAT, "compat", 0, NULL, NULL, NULL)                                  \
    G(COMPAT_DROPPED, "compat.dropped", 0, "compat_dropped_total", "reason",  \
      "Compat bridge: messages dropped, by reason.")


#define NGX_BEACON_COMPAT_COUNTERS(X)                                         \
    X(WS_UPGRADE_OK, COMPAT, "upgrade_ok", "compat_upgrade_ok_total",         \
      "Compat bridge: WebSocket upgrades accepted (101).")                    \
    X(WS_UPGRADE_FAIL, COMPAT, "upgrade_fail", "compat_upgrade_fail_total",   \
      "Compat bridge: upgrades refused (4xx, 503).")                          \
    X(WS_AUTH_OK, COMPAT, "auth_ok", "compat_auth_ok_total",                  \
      "Compat bridge: logins.")                                               \
    X(WS_AUTH_FAIL, COMPAT, "auth_fail", "compat_auth_fail_total",            \
      "Compat bridge: failed logins.")                                        \
    X(WS_AUTH_RATE_LIMITED, COMPAT, "auth_rate_limited",                      \
      "compat_auth_rate_limited_total",                                       \
      "Compat bridge: upgrades refused with 429 after failed logins.")        \
    X(WS_FRAMES_IN, COMPAT, "frames_in", "compat_frames_in_total",            \
      "Compat bridge: binary datagrams received.")                            \
    X(WS_FRAMES_OUT, COMPAT, "frames_out", "compat_frames_out_total",         \
      "Compat bridge: deliveries queued to peers.")                           \
    X(WS_IDLE_DISCONNECTS, COMPAT, "idle_disconnects",                        \
      "compat_idle_disconnects_total",                                        \
      "Compat bridge: peers closed for silence.")                             \
    X(WS_REPLACED, COMPAT, "replaced", "compat_replaced_total",               \
      "Compat bridge: connections replaced by a newer login.")                \
    X(WS_KEY_LOOKUPS, COMPAT, "key_lookups", "compat_key_lookups_total",      \
      "Compat bridge: registry key lookups.")                                 \
    X(WS_KEY_CACHE_HITS, COMPAT, "key_cache_hits",                            \
      "compat_key_cache_hits_total",                                          \
      "Compat bridge: keys taken from the zone cache.")                       \
    X(WS_DROP_OVERSIZE, COMPAT_DROPPED, "oversize", NULL, NULL)               \
    X(WS_DROP_QUEUE_FULL, COMPAT_DROPPED, "queue_full", NULL, NULL)           \
    X(WS_DROP_CHANNEL_FULL, COMPAT_DROPPED, "channel_full", NULL, NULL)       \
    X(WS_DROP_STALE_OWNER, COMPAT_DROPPED, "stale_owner", NULL, NULL)         \
    X(WS_DROP_WRITE_TIMEOUT, COMPAT_DROPPED, "write_timeout", NULL, NULL)     \
    X(WS_DROP_NOT_ALLOWED, COMPAT_DROPPED, "not_allowed", NULL, NULL)


#endif /* _NGX_BEACON_COMPAT_COUNTERS_H_INCLUDED_ */
