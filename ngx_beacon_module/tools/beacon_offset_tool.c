
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * beacon-offset-tool: Offset relay identity files and relay tickets,
 * byte-compatible with `stmgr gen-ident` and `stmgr relay-ticket`
 * (spec offset-relay.md section 2).  Unlike stmgr it exits non-zero on
 * errors and creates identity files with mode 0600.
 *
 *   beacon-offset-tool gen-ident --output FILE
 *   beacon-offset-tool relay-ticket --idfile ID --address HOST:PORT
 *                                   --output FILE
 *   beacon-offset-tool show FILE
 *
 * An empty --address is refused (stmgr writes such a ticket; no node can
 * connect to it); show reads one.  So is an address that is not UTF-8
 * (the ticket could not be read back).
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ngx_beacon_json.h"
#include "ngx_beacon_offset_ident.h"


#define TOOL_NAME  "beacon-offset-tool"

#define TOOL_EXIT_ERROR  1
#define TOOL_EXIT_USAGE  2


static void usage(FILE *f);
static void help(void);
static int fail(const char *path, int rc);
static const char *option(int argc, char **argv, int *i, const char *s,
    const char *l);
static int gen_ident(int argc, char **argv);
static int relay_ticket(int argc, char **argv);
static int show(int argc, char **argv);


static void
usage(FILE *f)
{
    fprintf(f,
        "usage: " TOOL_NAME " gen-ident -o|--output FILE\n"
        "       " TOOL_NAME " relay-ticket -i|--idfile ID"
        " -a|--address HOST:PORT -o|--output FILE\n"
        "       " TOOL_NAME " show FILE\n"
        "       " TOOL_NAME " -h|--help\n");
}


static void
help(void)
{
    usage(stdout);

    printf("\n"
        "Identity files and relay tickets for an Offset relay,\n"
        "byte-compatible with stmgr gen-ident and stmgr relay-ticket.\n"
        "Nothing is overwritten.\n"
        "\n"
        "  gen-ident     write a new Ed25519 identity (the relay's\n"
        "                private key, for beacon_offset_relay\n"
        "                identity=FILE), mode 0600\n"
        "  relay-ticket  write the ticket nodes add with stctrl config\n"
        "                add-relay: the identity's public key and\n"
        "                HOST:PORT, where nodes connect (1 to 256\n"
        "                bytes, not empty)\n"
        "  show          print what FILE is (identity or ticket), its\n"
        "                public key, format or address\n"
        "\n"
        "Options also take --option=VALUE.  Exit status: 0 success,\n"
        "1 a file cannot be read, written or parsed, 2 usage.\n"
        "See beacon-offset-tool(1).\n");
}


static int
fail(const char *path, int rc)
{
    if (rc == NGX_BEACON_OFFSET_IDENT_ERR_IO) {
        fprintf(stderr, TOOL_NAME ": %s: %s: %s\n", path,
                ngx_beacon_offset_ident_strerror(rc), strerror(errno));

    } else {
        fprintf(stderr, TOOL_NAME ": %s: %s\n", path,
                ngx_beacon_offset_ident_strerror(rc));
    }

    return TOOL_EXIT_ERROR;
}


/*
 * Matches "-x VALUE", "--long VALUE" or "--long=VALUE" at argv[*i];
 * returns the value (advancing *i) or NULL.  A missing value exits.
 */

static const char *
option(int argc, char **argv, int *i, const char *s, const char *l)
{
    size_t       n;
    const char  *a;

    a = argv[*i];
    n = strlen(l);

    if (strncmp(a, l, n) == 0 && a[n] == '=') {
        return a + n + 1;
    }

    if (strcmp(a, s) != 0 && strcmp(a, l) != 0) {
        return NULL;
    }

    if (*i + 1 >= argc) {
        fprintf(stderr, TOOL_NAME ": option %s needs a value\n", a);
        exit(TOOL_EXIT_USAGE);
    }

    (*i)++;

    return argv[*i];
}


static int
gen_ident(int argc, char **argv)
{
    int                 i, rc;
    char                buf[NGX_BEACON_OFFSET_IDENT_FILE_LEN];
    size_t              len;
    const char         *output, *v;
    ngx_beacon_offset_ident_t  id;

    output = NULL;

    for (i = 2; i < argc; i++) {
        if ((v = option(argc, argv, &i, "-o", "--output")) != NULL) {
            output = v;
            continue;
        }

        fprintf(stderr, TOOL_NAME ": gen-ident: unknown argument \"%s\"\n",
                argv[i]);
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }

    if (output == NULL || output[0] == '\0') {
        fprintf(stderr, TOOL_NAME ": gen-ident: --output FILE is required\n");
        return TOOL_EXIT_USAGE;
    }

    rc = ngx_beacon_offset_ident_generate(&id);
    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        return fail(output, rc);
    }

    len = ngx_beacon_offset_ident_format(buf, sizeof(buf), &id);
    rc = ngx_beacon_offset_write_new_file(output, buf, len);

    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(&id, sizeof(id));

    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        return fail(output, rc);
    }

    return 0;
}


static int
relay_ticket(int argc, char **argv)
{
    int                 i, rc;
    char                buf[128 + 6 * NGX_BEACON_OFFSET_MAX_ADDRESS_LEN];
    size_t              len, alen;
    const char         *idfile, *address, *output, *v;
    ngx_beacon_offset_ident_t  id;

    idfile = NULL;
    address = NULL;
    output = NULL;

    for (i = 2; i < argc; i++) {
        if ((v = option(argc, argv, &i, "-i", "--idfile")) != NULL) {
            idfile = v;
            continue;
        }

        if ((v = option(argc, argv, &i, "-a", "--address")) != NULL) {
            address = v;
            continue;
        }

        if ((v = option(argc, argv, &i, "-o", "--output")) != NULL) {
            output = v;
            continue;
        }

        fprintf(stderr,
                TOOL_NAME ": relay-ticket: unknown argument \"%s\"\n",
                argv[i]);
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }

    if (idfile == NULL || address == NULL || output == NULL
        || output[0] == '\0')
    {
        fprintf(stderr, TOOL_NAME ": relay-ticket: --idfile, --address and "
                "--output are required\n");
        return TOOL_EXIT_USAGE;
    }

    alen = strlen(address);

    /* stmgr writes a ticket for "", which no node can connect to */

    if (alen == 0 || alen > NGX_BEACON_OFFSET_MAX_ADDRESS_LEN) {
        fprintf(stderr, TOOL_NAME ": relay-ticket: address must be 1 to %d "
                "bytes (host:port)%s\n", NGX_BEACON_OFFSET_MAX_ADDRESS_LEN,
                alen == 0 ? "; an empty address, which stmgr accepts, "
                            "gives a ticket no node can use" : "");
        return TOOL_EXIT_USAGE;
    }

    /* a ticket is JSON: its reader refuses what is not UTF-8 */

    if (!ngx_beacon_json_utf8_valid((const unsigned char *) address, alen)) {
        fprintf(stderr, TOOL_NAME ": relay-ticket: address is not valid "
                "UTF-8\n");
        return TOOL_EXIT_USAGE;
    }

    rc = ngx_beacon_offset_ident_load(&id, idfile);
    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        return fail(idfile, rc);
    }

    len = ngx_beacon_offset_ticket_format(buf, sizeof(buf), id.pk, address,
        alen);
    sodium_memzero(&id, sizeof(id));

    if (len == 0) {
        return fail(output, NGX_BEACON_OFFSET_IDENT_ERR_SPACE);
    }

    rc = ngx_beacon_offset_write_new_file(output, buf, len);
    if (rc != NGX_BEACON_OFFSET_IDENT_OK) {
        return fail(output, rc);
    }

    return 0;
}


static int
show(int argc, char **argv)
{
    int                   rc, trc;
    char                  b64[NGX_BEACON_OFFSET_B64_KEY_LEN + 1];
    char                  hex[65];
    const char           *path, *format;
    ngx_beacon_offset_ident_t    id;
    ngx_beacon_offset_ticket_t   t;

    if (argc != 3) {
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }

    path = argv[2];

    rc = ngx_beacon_offset_ident_load(&id, path);

    if (rc == NGX_BEACON_OFFSET_IDENT_OK) {
        switch (id.format) {
        case NGX_BEACON_OFFSET_IDENT_SEED_PK:
            format = "seed+public-key (64 bytes)";
            break;
        case NGX_BEACON_OFFSET_IDENT_PKCS8:
            format = "legacy PKCS#8 (85 bytes, Offset v0.1.3 - v0.1.10)";
            break;
        default:
            format = "seed (32 bytes)";
        }

        ngx_beacon_offset_b64_key(b64, id.pk);
        sodium_bin2hex(hex, sizeof(hex), id.pk, 32);
        sodium_memzero(&id, sizeof(id));

        printf("type: identity\nformat: %s\npublicKey: %s\n"
               "publicKeyHex: %s\n", format, b64, hex);
        return 0;
    }

    if (rc != NGX_BEACON_OFFSET_IDENT_ERR_NO_KEY) {
        return fail(path, rc);
    }

    trc = ngx_beacon_offset_ticket_load(&t, path);

    if (trc != NGX_BEACON_OFFSET_IDENT_OK) {
        if (trc == NGX_BEACON_OFFSET_IDENT_ERR_NO_KEY) {
            fprintf(stderr, TOOL_NAME ": %s: neither an identity file "
                    "(privateKey) nor a ticket (publicKey)\n", path);
            return TOOL_EXIT_ERROR;
        }

        return fail(path, trc);
    }

    ngx_beacon_offset_b64_key(b64, t.pk);
    sodium_bin2hex(hex, sizeof(hex), t.pk, 32);

    printf("type: relay-ticket\npublicKey: %s\npublicKeyHex: %s\n"
           "address: %.*s\n", b64, hex, (int) t.address_len, t.address);

    return 0;
}


int
main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, TOOL_NAME ": sodium_init() failed\n");
        return TOOL_EXIT_ERROR;
    }

    if (argc < 2) {
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }

    if (strcmp(argv[1], "gen-ident") == 0) {
        return gen_ident(argc, argv);
    }

    if (strcmp(argv[1], "relay-ticket") == 0) {
        return relay_ticket(argc, argv);
    }

    if (strcmp(argv[1], "show") == 0) {
        return show(argc, argv);
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        help();
        return 0;
    }

    fprintf(stderr, TOOL_NAME ": unknown command \"%s\"\n", argv[1]);
    usage(stderr);

    return TOOL_EXIT_USAGE;
}
