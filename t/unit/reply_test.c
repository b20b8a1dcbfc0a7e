
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Unit tests of the registry reply readers (ngx_beacon_registry_reply.c)
 * and of the per-worker channel's message codec (ngx_beacon_ipc_msg.c).
 */


#include <sodium.h>

#include "ngx_beacon_json.h"
#include "ngx_beacon_registry_reply.h"
#include "ngx_beacon_ipc_msg.h"
#include "tap.h"


#define S(s)  (const unsigned char *) (s), sizeof(s) - 1


static void
test_register(void)
{
    ok(ngx_beacon_registry_register_ok(
           S("{\"type\":\"beacon_register_ok\",\"beacon_id\":7}")) == 1,
       "register: beacon_register_ok");
    ok(ngx_beacon_registry_register_ok(
           S("{\"type\":\"error\",\"error\":\"refused\"}")) == 0,
       "register: error refused");
    ok(ngx_beacon_registry_register_ok(S("[\"beacon_register_ok\"]")) == 0,
       "register: not an object");
    ok(ngx_beacon_registry_register_ok(S("{\"type\":\"beacon_regi")) == 0,
       "register: cut reply");
}


static void
test_list(void)
{
    int                n;
    ngx_beacon_addr_t  p[4];

    n = ngx_beacon_registry_beacon_list(S(
        "{\"type\":\"beacon_list_ok\",\"beacons\":["
        "{\"id\":2,\"addr\":\"127.0.0.1:9000\"},"
        "{\"id\":7,\"addr\":\"127.0.0.1:9001\"},"
        "{\"id\":\"3\",\"addr\":\"127.0.0.1:9003\"},"
        "{\"id\":4,\"addr\":\"host.example:1\"},"
        "5,"
        "{\"id\":6,\"addr\":\"[::1]:9006\"}]}"), 7, p, 4);
    ok(n == 2 && p[0].port == 9000 && p[0].ip[12] == 127
       && p[1].port == 9006 && p[1].ip[15] == 1,
       "list: own id, string ids, names and non-objects skipped");

    n = ngx_beacon_registry_beacon_list(S(
        "{\"beacons\":[{\"id\":2,\"addr\":\"127.0.0.1:1\"},"
        "{\"id\":3,\"addr\":\"127.0.0.1:2\"},"
        "{\"id\":4,\"addr\":\"127.0.0.1:3\"}]}"), 7, p, 2);
    ok(n == 2 && p[1].port == 2, "list: at most max peers");

    ok(ngx_beacon_registry_beacon_list(S("{\"beacons\":[]}"), 7, p, 4) == 0,
       "list: empty");
    ok(ngx_beacon_registry_beacon_list(S("{\"beacons\":{}}"), 7, p, 4) == -1,
       "list: beacons not an array");
    ok(ngx_beacon_registry_beacon_list(S("{\"type\":\"x\"}"), 7, p, 4) == -1,
       "list: no beacons");
}


static void
test_lookup(void)
{
    unsigned char  key[32];

    memset(key, 0, sizeof(key));

    ok(ngx_beacon_registry_lookup_reply(S(
           "{\"type\":\"lookup_ok\",\"node_id\":1001,\"public_key\":"
           "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}"), 1001, key)
       == 0 && key[31] == 31, "lookup: the key of that node");
    ok(ngx_beacon_registry_lookup_reply(S(
           "{\"type\":\"lookup_ok\",\"public_key\":"
           "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}"), 1001, key)
       == 0, "lookup: no node_id: taken");
    ok(ngx_beacon_registry_lookup_reply(S(
           "{\"type\":\"lookup_ok\",\"node_id\":1002,\"public_key\":"
           "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}"), 1001, key)
       == -1, "lookup: another node's key is no answer");
    ok(ngx_beacon_registry_lookup_reply(S(
           "{\"type\":\"lookup_ok\",\"node_id\":\"1001\",\"public_key\":"
           "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}"), 1001, key)
       == -1, "lookup: a node_id that is not a number is no answer");
    ok(ngx_beacon_registry_lookup_reply(S(
           "{\"type\":\"error\",\"error\":\"not found\"}"), 1001, key) == 1,
       "lookup: error: no such node");
    ok(ngx_beacon_registry_lookup_reply(S(
           "{\"type\":\"lookup_ok\",\"public_key\":\"***\"}"), 1001, key)
       == -1, "lookup: bad key: garbled");
}


static void
test_ipc(void)
{
    unsigned char         buf[NGX_BEACON_IPC_HDR_LEN + 8];
    ngx_beacon_ipc_msg_t  m;

    ok(ngx_beacon_ipc_msg_header(buf, NGX_BEACON_IPC_DELIVER, 1001,
                                 0x0102030405060708ULL)
       == NGX_BEACON_IPC_HDR_LEN, "ipc: header is 24 bytes");
    memcpy(buf + NGX_BEACON_IPC_HDR_LEN, "payload!", 8);

    ok(ngx_beacon_ipc_msg_parse(buf, sizeof(buf), 0, &m)
       == NGX_BEACON_IPC_MSG_COMPAT && m.type == NGX_BEACON_IPC_DELIVER
       && m.node_id == 1001 && m.conn == 0x0102030405060708ULL
       && m.plen == 8 && memcmp(m.payload, "payload!", 8) == 0,
       "ipc: a delivery reads back");
    ok(ngx_beacon_ipc_msg_parse(buf, sizeof(buf), 1, &m)
       == NGX_BEACON_IPC_MSG_DROP, "ipc: truncated: dropped");
    ok(ngx_beacon_ipc_msg_parse(buf, NGX_BEACON_IPC_HDR_LEN - 1, 0, &m)
       == NGX_BEACON_IPC_MSG_DROP, "ipc: short: dropped");

    (void) ngx_beacon_ipc_msg_header(buf, NGX_BEACON_IPC_REPLACED, 5, 6);
    ok(ngx_beacon_ipc_msg_parse(buf, NGX_BEACON_IPC_HDR_LEN, 0, &m)
       == NGX_BEACON_IPC_MSG_COMPAT && m.type == NGX_BEACON_IPC_REPLACED
       && m.plen == 0, "ipc: replaced");
    ok(ngx_beacon_ipc_msg_parse(buf, sizeof(buf), 0, &m)
       == NGX_BEACON_IPC_MSG_DROP, "ipc: replaced with a payload: dropped");

    (void) ngx_beacon_ipc_msg_header(buf, 3, 5, 6);
    ok(ngx_beacon_ipc_msg_parse(buf, sizeof(buf), 0, &m)
       == NGX_BEACON_IPC_MSG_DROP, "ipc: unknown compat type: dropped");

    (void) ngx_beacon_ipc_msg_header(buf, NGX_BEACON_IPC_OFFSET + 2, 0, 6);
    ok(ngx_beacon_ipc_msg_parse(buf, sizeof(buf), 0, &m)
       == NGX_BEACON_IPC_MSG_OFFSET && m.type == NGX_BEACON_IPC_OFFSET + 2
       && m.conn == 6 && m.plen == 8, "ipc: Offset types go there");

    buf[0] ^= 1;
    ok(ngx_beacon_ipc_msg_parse(buf, sizeof(buf), 0, &m)
       == NGX_BEACON_IPC_MSG_DROP, "ipc: foreign magic: dropped");
    buf[0] ^= 1;
    buf[6] = 1;
    ok(ngx_beacon_ipc_msg_parse(buf, sizeof(buf), 0, &m)
       == NGX_BEACON_IPC_MSG_DROP, "ipc: reserved bits set: dropped");
}


int
main(void)
{
    if (sodium_init() < 0) {
        printf("Bail out! sodium_init failed\n");
        return 1;
    }

    test_register();
    test_list();
    test_lookup();
    test_ipc();

    printf("1..%d\n", tests);

    if (failures) {
        printf("# %d of %d tests failed\n", failures, tests);
        return 1;
    }

    return 0;
}
