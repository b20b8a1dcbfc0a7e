
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * The STUN server's counters (beacon_stun, counted by the UDP face,
 * ngx_stream_beacon_module.c).  The drops are in the order of the
 * parser's results (core/ngx_beacon_stun.h), NGX_BEACON_STUN_SHORT first:
 * the face counts NGX_BEACON_C_STUN_DROP_SHORT + (rc - NGX_BEACON_STUN_SHORT).
 * The format of the lists: pilot/ngx_beacon_pilot_counters.h.
 */


#ifndef _NGX_BEACON_STUN_COUNTERS_H_INCLUDED_
#define _NGX_BEACON_STUN_COUNTERS_H_INCLUDED_


#define NGX_BEACON_STUN_GROUPS(G)                                             \
    G(STUN, "stun", 0, NULL, NULL, NULL)                                      \
    G(STUN_ERRORS, "stun_errors", 0, "stun_errors_total", "code",             \
      "STUN: error responses sent, by code.")                                 \
    G(STUN_DROPPED, "stun_dropped", 0, "stun_dropped_total", "reason",        \
      "STUN: datagrams dropped unanswered, by reason.")


#define NGX_BEACON_STUN_COUNTERS(X)                                           \
    X(STUN_REQUESTS, STUN, "requests", "stun_requests_total",                 \
      "STUN: well-formed requests received.")                                 \
    X(STUN_RESPONSES, STUN, "responses", "stun_responses_total",              \
      "STUN: Binding success responses sent.")                                \
    X(STUN_INDICATIONS, STUN, "indications", "stun_indications_total",        \
      "STUN: Binding indications received (never answered).")                 \
    X(STUN_RATE_LIMITED, STUN, "rate_limited", "stun_rate_limited_total",     \
      "STUN: requests left unanswered by beacon_reply_limit.")                \
    X(STUN_ERROR_400, STUN_ERRORS, "400", NULL, NULL)                         \
    X(STUN_ERROR_420, STUN_ERRORS, "420", NULL, NULL)                         \
    X(STUN_DROP_SHORT, STUN_DROPPED, "short", NULL, NULL)                     \
    X(STUN_DROP_NOT_STUN, STUN_DROPPED, "not_stun", NULL, NULL)               \
    X(STUN_DROP_BAD_LENGTH, STUN_DROPPED, "bad_length", NULL, NULL)           \
    X(STUN_DROP_ATTR_OVERRUN, STUN_DROPPED, "attr_overrun", NULL, NULL)       \
    X(STUN_DROP_BAD_FINGERPRINT, STUN_DROPPED, "bad_fingerprint", NULL, NULL) \
    X(STUN_DROP_BAD_ATTRIBUTE, STUN_DROPPED, "bad_attribute", NULL, NULL)     \
    X(STUN_DROP_WRONG_CLASS, STUN_DROPPED, "wrong_class", NULL, NULL)


#endif /* _NGX_BEACON_STUN_COUNTERS_H_INCLUDED_ */
