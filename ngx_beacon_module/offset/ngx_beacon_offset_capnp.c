
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 *
 * Cap'n Proto for the Offset relay (spec offset-relay.md section 4).
 * Decoding resolves every pointer through one bounds-checked path
 * (ngx_beacon_offset_capnp_follow) and charges each struct and list it reads to
 * a traversal budget; encoding streams the canonical pre-order layout of
 * section 4.4 word by word through an incremental packer, so no unpacked
 * copy of a message is ever built.
 */


#include <string.h>

#include "ngx_beacon_offset_capnp.h"


#define NGX_BEACON_OFFSET_PTR_STRUCT   0
#define NGX_BEACON_OFFSET_PTR_LIST     1
#define NGX_BEACON_OFFSET_PTR_FAR      2

#define NGX_BEACON_OFFSET_ELEM_BYTE    2

#define NGX_BEACON_OFFSET_RUN_NONE     0
#define NGX_BEACON_OFFSET_RUN_ZERO     1
#define NGX_BEACON_OFFSET_RUN_RAW      2

/* Data of n bytes in words */
#define ngx_beacon_offset_words(n)     (((n) + 7) / 8)

#define ngx_beacon_offset_min(a, b)    ((a) < (b) ? (a) : (b))

/* the segment table of one segment of words words */
#define ngx_beacon_offset_emit_table(pk, words)                               \
    ngx_beacon_offset_emit(pk, (uint64_t) (words) << 32)


/* a struct being read: its data section starts at word data of seg */
typedef struct {
    uint32_t                 seg;
    uint64_t                 data;
    unsigned                 dw;
    unsigned                 pw;
} ngx_beacon_offset_struct_t;


/* a resolved pointer: the content at word idx of seg, shaped by ptr */
typedef struct {
    uint32_t                 seg;
    uint64_t                 idx;
    uint64_t                 ptr;
} ngx_beacon_offset_ref_t;


typedef struct {
    const uint8_t           *in;
    const uint8_t           *end;
    uint8_t                 *out;
    size_t                   pos;
    unsigned                 zeros;      /* pending all-zero words */
    unsigned                 raw;        /* pending verbatim words */
} ngx_beacon_offset_unpack_t;


typedef struct {
    uint8_t                 *out;
    size_t                   cap;
    size_t                   len;
    size_t                   run_pos;    /* the count byte of a run */
    unsigned                 run;
    unsigned                 count;
    unsigned                 failed;
} ngx_beacon_offset_pack_t;


static uint32_t ngx_beacon_offset_get32(const uint8_t *p);
static uint64_t ngx_beacon_offset_word(ngx_beacon_offset_capnp_msg_t *msg,
    uint32_t seg, uint64_t idx);
static int ngx_beacon_offset_unpack_to(ngx_beacon_offset_unpack_t *u,
    size_t target);
static int ngx_beacon_offset_capnp_follow(ngx_beacon_offset_capnp_msg_t *msg,
    uint32_t seg, uint64_t idx, ngx_beacon_offset_ref_t *ref);
static int ngx_beacon_offset_capnp_charge(ngx_beacon_offset_capnp_msg_t *msg,
    uint64_t words);
static int ngx_beacon_offset_capnp_struct(ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_struct_t *parent, unsigned field, unsigned depth,
    ngx_beacon_offset_struct_t *s);
static int ngx_beacon_offset_capnp_data(ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_struct_t *parent, unsigned field,
    ngx_beacon_offset_capnp_data_t *d);
static int ngx_beacon_offset_capnp_buffer(ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_struct_t *parent, unsigned field, unsigned depth,
    uint8_t *out, size_t n);
static unsigned ngx_beacon_offset_capnp_tag(ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_struct_t *s);
static int ngx_beacon_offset_capnp_root(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_struct_t *s);
static void ngx_beacon_offset_pack_init(ngx_beacon_offset_pack_t *pk,
    uint8_t *out, size_t cap);
static void ngx_beacon_offset_pack_word(ngx_beacon_offset_pack_t *pk,
    const uint8_t *w);
static void ngx_beacon_offset_emit(ngx_beacon_offset_pack_t *pk, uint64_t v);
static void ngx_beacon_offset_emit_struct(ngx_beacon_offset_pack_t *pk,
    uint32_t off, unsigned dw, unsigned pw);
static void ngx_beacon_offset_emit_list(ngx_beacon_offset_pack_t *pk,
    uint32_t off, size_t n);
static void ngx_beacon_offset_emit_buffer(ngx_beacon_offset_pack_t *pk,
    const uint8_t *b, size_t n);
static void ngx_beacon_offset_emit_data(ngx_beacon_offset_pack_t *pk,
    const uint8_t *b, size_t n);
static size_t ngx_beacon_offset_pack_done(ngx_beacon_offset_pack_t *pk);


static uint32_t
ngx_beacon_offset_get32(const uint8_t *p)
{
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8)
           | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}


/* the caller has checked idx < msg->size[seg] */

static uint64_t
ngx_beacon_offset_word(ngx_beacon_offset_capnp_msg_t *msg, uint32_t seg,
    uint64_t idx)
{
    const uint8_t  *p;

    p = msg->seg[seg] + idx * 8;

    return (uint64_t) ngx_beacon_offset_get32(p)
           | ((uint64_t) ngx_beacon_offset_get32(p + 4) << 32);
}


/* unpacks until u->pos reaches target bytes (a multiple of 8) */

static int
ngx_beacon_offset_unpack_to(ngx_beacon_offset_unpack_t *u, size_t target)
{
    size_t    n;
    unsigned  tag, i;

    while (u->pos < target) {

        if (u->zeros) {
            n = ngx_beacon_offset_min((size_t) u->zeros,
                (target - u->pos + 7) / 8);
            memset(u->out + u->pos, 0, 8 * n);
            u->pos += 8 * n;
            u->zeros -= n;
            continue;
        }

        if (u->raw) {
            if (u->end - u->in < 8) {
                return NGX_BEACON_OFFSET_CAPNP_ETRUNC;
            }

            n = ngx_beacon_offset_min((size_t) u->raw,
                (target - u->pos + 7) / 8);
            n = ngx_beacon_offset_min(n, (size_t) (u->end - u->in) / 8);

            memcpy(u->out + u->pos, u->in, 8 * n);
            u->in += 8 * n;
            u->pos += 8 * n;
            u->raw -= n;
            continue;
        }

        if (u->in == u->end) {
            return NGX_BEACON_OFFSET_CAPNP_ETRUNC;
        }

        tag = *u->in++;

        for (i = 0; i < 8; i++) {
            if (tag & (1u << i)) {
                if (u->in == u->end) {
                    return NGX_BEACON_OFFSET_CAPNP_ETRUNC;
                }

                u->out[u->pos + i] = *u->in++;

            } else {
                u->out[u->pos + i] = 0;
            }
        }

        u->pos += 8;

        if (tag == 0x00 || tag == 0xff) {
            if (u->in == u->end) {
                return NGX_BEACON_OFFSET_CAPNP_ETRUNC;
            }

            if (tag == 0x00) {
                u->zeros = *u->in++;

            } else {
                u->raw = *u->in++;
            }
        }
    }

    return NGX_BEACON_OFFSET_CAPNP_OK;
}


int
ngx_beacon_offset_capnp_read_packed(ngx_beacon_offset_capnp_msg_t *msg,
    const uint8_t *in,
    size_t len, uint8_t *scratch, size_t cap, size_t *consumed)
{
    int                  rc;
    size_t               tbytes, i;
    uint64_t             count, total;
    ngx_beacon_offset_unpack_t  u;

    memset(msg, 0, sizeof(ngx_beacon_offset_capnp_msg_t));

    if (len == 0) {
        return NGX_BEACON_OFFSET_CAPNP_ETRUNC;
    }

    if (cap < 8) {
        return NGX_BEACON_OFFSET_CAPNP_ELIMIT;
    }

    u.in = in;
    u.end = in + len;
    u.out = scratch;
    u.pos = 0;
    u.zeros = 0;
    u.raw = 0;

    rc = ngx_beacon_offset_unpack_to(&u, 8);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    count = (uint64_t) ngx_beacon_offset_get32(scratch) + 1;

    if (count > NGX_BEACON_OFFSET_CAPNP_MAX_SEGMENTS) {
        return NGX_BEACON_OFFSET_CAPNP_ESEGMENTS;
    }

    tbytes = (size_t) (count / 2 + 1) * 8;

    if (tbytes > cap) {
        return NGX_BEACON_OFFSET_CAPNP_ELIMIT;
    }

    rc = ngx_beacon_offset_unpack_to(&u, tbytes);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    total = 0;

    for (i = 0; i < count; i++) {
        total += ngx_beacon_offset_get32(scratch + 4 + 4 * i);
    }

    if (total > NGX_BEACON_OFFSET_CAPNP_TRAVERSAL ||
        total > (cap - tbytes) / 8) {
        return NGX_BEACON_OFFSET_CAPNP_ELIMIT;
    }

    rc = ngx_beacon_offset_unpack_to(&u, tbytes + (size_t) total * 8);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    /* a run may cross from the table into the segments, not past the end */

    if (u.zeros || u.raw) {
        return NGX_BEACON_OFFSET_CAPNP_EPACKED;
    }

    if (consumed) {
        *consumed = (size_t) (u.in - in);
    }

    return ngx_beacon_offset_capnp_read(msg, scratch, u.pos);
}


int
ngx_beacon_offset_capnp_read(ngx_beacon_offset_capnp_msg_t *msg,
    const uint8_t *buf, size_t len)
{
    size_t    off, tbytes;
    uint32_t  i, size;
    uint64_t  count, total;

    memset(msg, 0, sizeof(ngx_beacon_offset_capnp_msg_t));

    if (len < 8) {
        return NGX_BEACON_OFFSET_CAPNP_ETRUNC;
    }

    count = (uint64_t) ngx_beacon_offset_get32(buf) + 1;

    if (count > NGX_BEACON_OFFSET_CAPNP_MAX_SEGMENTS) {
        return NGX_BEACON_OFFSET_CAPNP_ESEGMENTS;
    }

    tbytes = (size_t) (count / 2 + 1) * 8;

    if (len < tbytes) {
        return NGX_BEACON_OFFSET_CAPNP_ETRUNC;
    }

    off = tbytes;
    total = 0;

    for (i = 0; i < count; i++) {
        size = ngx_beacon_offset_get32(buf + 4 + 4 * i);

        if (size > (len - off) / 8) {
            memset(msg, 0, sizeof(ngx_beacon_offset_capnp_msg_t));
            return NGX_BEACON_OFFSET_CAPNP_ETRUNC;
        }

        msg->seg[i] = buf + off;
        msg->size[i] = size;
        off += (size_t) size * 8;
        total += size;
    }

    if (total > NGX_BEACON_OFFSET_CAPNP_TRAVERSAL) {
        memset(msg, 0, sizeof(ngx_beacon_offset_capnp_msg_t));
        return NGX_BEACON_OFFSET_CAPNP_ELIMIT;
    }

    msg->nsegs = (uint32_t) count;
    msg->len = off;
    msg->traversal_limit = NGX_BEACON_OFFSET_CAPNP_TRAVERSAL;
    msg->nesting_limit = NGX_BEACON_OFFSET_CAPNP_NESTING;

    return NGX_BEACON_OFFSET_CAPNP_OK;
}


/*
 * Resolves the pointer at word idx of seg, following a single or double
 * far pointer.  ref->ptr is 0 for a null pointer; otherwise it is a
 * struct or list pointer and ref->idx the first word of its content,
 * which the caller checks against the segment with the shape it expects.
 */

static int
ngx_beacon_offset_capnp_follow(ngx_beacon_offset_capnp_msg_t *msg,
    uint32_t seg, uint64_t idx, ngx_beacon_offset_ref_t *ref)
{
    int64_t   target;
    uint32_t  lo, pad, sid, off;
    uint64_t  p, tag;

    p = ngx_beacon_offset_word(msg, seg, idx);

    ref->ptr = 0;

    if (p == 0) {
        return NGX_BEACON_OFFSET_CAPNP_OK;
    }

    lo = (uint32_t) p;

    if ((lo & 3) == NGX_BEACON_OFFSET_PTR_FAR) {
        pad = lo >> 3;
        sid = (uint32_t) (p >> 32);

        if (sid >= msg->nsegs) {
            return NGX_BEACON_OFFSET_CAPNP_EBOUNDS;
        }

        if ((lo & 4) == 0) {

            /* single far: the landing pad is a struct or list pointer */

            if (pad >= msg->size[sid]) {
                return NGX_BEACON_OFFSET_CAPNP_EBOUNDS;
            }

            p = ngx_beacon_offset_word(msg, sid, pad);

            if ((p & 3) > NGX_BEACON_OFFSET_PTR_LIST) {
                return NGX_BEACON_OFFSET_CAPNP_EPOINTER;
            }

            seg = sid;
            idx = pad;
            lo = (uint32_t) p;

        } else {

            /* double far: a single far to the content, then its tag */

            if ((uint64_t) pad + 2 > msg->size[sid]) {
                return NGX_BEACON_OFFSET_CAPNP_EBOUNDS;
            }

            p = ngx_beacon_offset_word(msg, sid, pad);
            tag = ngx_beacon_offset_word(msg, sid, (uint64_t) pad + 1);

            if ((p & 7) != NGX_BEACON_OFFSET_PTR_FAR
                || (tag & 3) > NGX_BEACON_OFFSET_PTR_LIST)
            {
                return NGX_BEACON_OFFSET_CAPNP_EPOINTER;
            }

            sid = (uint32_t) (p >> 32);

            if (sid >= msg->nsegs) {
                return NGX_BEACON_OFFSET_CAPNP_EBOUNDS;
            }

            ref->seg = sid;
            ref->idx = (uint32_t) p >> 3;
            ref->ptr = tag;

            return NGX_BEACON_OFFSET_CAPNP_OK;
        }
    }

    if ((lo & 3) > NGX_BEACON_OFFSET_PTR_LIST) {
        /* a capability (other pointer) */
        return NGX_BEACON_OFFSET_CAPNP_EPOINTER;
    }

    /* a signed 30-bit word offset from the word after the pointer */

    off = lo >> 2;
    target = (int64_t) idx + 1 + (int64_t) off;

    if (off & 0x20000000) {
        target -= 0x40000000;
    }

    if (target < 0) {
        return NGX_BEACON_OFFSET_CAPNP_EBOUNDS;
    }

    ref->seg = seg;
    ref->idx = (uint64_t) target;
    ref->ptr = p;   /* a landing pad of all zeros reads as null */

    return NGX_BEACON_OFFSET_CAPNP_OK;
}


static int
ngx_beacon_offset_capnp_charge(ngx_beacon_offset_capnp_msg_t *msg,
    uint64_t words)
{
    if (words > msg->traversal_left) {
        return NGX_BEACON_OFFSET_CAPNP_ELIMIT;
    }

    msg->traversal_left -= words;

    return NGX_BEACON_OFFSET_CAPNP_OK;
}


/*
 * Reads the struct that pointer field of parent (the root pointer if
 * parent is NULL) points to, at nesting depth depth (the root is 1).
 * A null pointer or a field beyond the pointer section reads as an empty
 * struct, whose fields all read as their defaults.
 */

static int
ngx_beacon_offset_capnp_struct(ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_struct_t *parent, unsigned field, unsigned depth,
    ngx_beacon_offset_struct_t *s)
{
    int               rc;
    uint32_t          seg;
    uint64_t          idx;
    ngx_beacon_offset_ref_t  ref;

    s->seg = 0;
    s->data = 0;
    s->dw = 0;
    s->pw = 0;

    if (parent == NULL) {
        if (msg->nsegs == 0 || msg->size[0] == 0) {
            return NGX_BEACON_OFFSET_CAPNP_EBOUNDS;
        }

        seg = 0;
        idx = 0;

    } else {
        if (field >= parent->pw) {
            return NGX_BEACON_OFFSET_CAPNP_OK;
        }

        seg = parent->seg;
        idx = parent->data + parent->dw + field;
    }

    rc = ngx_beacon_offset_capnp_follow(msg, seg, idx, &ref);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    if (ref.ptr == 0) {
        return NGX_BEACON_OFFSET_CAPNP_OK;
    }

    if ((ref.ptr & 3) != NGX_BEACON_OFFSET_PTR_STRUCT) {
        return NGX_BEACON_OFFSET_CAPNP_EPOINTER;
    }

    if (depth > msg->nesting_limit) {
        return NGX_BEACON_OFFSET_CAPNP_ENESTING;
    }

    s->dw = (unsigned) ((ref.ptr >> 32) & 0xffff);
    s->pw = (unsigned) (ref.ptr >> 48);

    if (ref.idx > msg->size[ref.seg]
        || (uint64_t) s->dw + s->pw > msg->size[ref.seg] - ref.idx)
    {
        s->dw = 0;
        s->pw = 0;
        return NGX_BEACON_OFFSET_CAPNP_EBOUNDS;
    }

    rc = ngx_beacon_offset_capnp_charge(msg, (uint64_t) s->dw + s->pw);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        s->dw = 0;
        s->pw = 0;
        return rc;
    }

    s->seg = ref.seg;
    s->data = ref.idx;

    return NGX_BEACON_OFFSET_CAPNP_OK;
}


/* a Data field: a list of bytes; null reads as { NULL, 0 } */

static int
ngx_beacon_offset_capnp_data(ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_struct_t *parent, unsigned field,
    ngx_beacon_offset_capnp_data_t *d)
{
    int               rc;
    uint64_t          n, words;
    ngx_beacon_offset_ref_t  ref;

    d->data = NULL;
    d->len = 0;

    if (field >= parent->pw) {
        return NGX_BEACON_OFFSET_CAPNP_OK;
    }

    rc = ngx_beacon_offset_capnp_follow(msg, parent->seg,
                                 parent->data + parent->dw + field, &ref);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    if (ref.ptr == 0) {
        return NGX_BEACON_OFFSET_CAPNP_OK;
    }

    if ((ref.ptr & 3) != NGX_BEACON_OFFSET_PTR_LIST
        || ((ref.ptr >> 32) & 7) != NGX_BEACON_OFFSET_ELEM_BYTE)
    {
        return NGX_BEACON_OFFSET_CAPNP_EPOINTER;
    }

    n = ref.ptr >> 35;
    words = (n + 7) / 8;

    if (ref.idx > msg->size[ref.seg]
        || words > msg->size[ref.seg] - ref.idx)
    {
        return NGX_BEACON_OFFSET_CAPNP_EBOUNDS;
    }

    rc = ngx_beacon_offset_capnp_charge(msg, words);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    d->data = msg->seg[ref.seg] + ref.idx * 8;
    d->len = (size_t) n;

    return NGX_BEACON_OFFSET_CAPNP_OK;
}


/*
 * A PublicKey, RandValue, Salt or Signature field: a wrapper struct whose
 * pointer 0 is a BufferN of n / 8 data words, each the big-endian value
 * of 8 bytes stored little-endian.  Null or short reads as zeros.
 */

static int
ngx_beacon_offset_capnp_buffer(ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_struct_t *parent, unsigned field, unsigned depth,
    uint8_t *out, size_t n)
{
    int                  rc;
    size_t               i, j;
    const uint8_t       *p;
    ngx_beacon_offset_struct_t  w, b;

    memset(out, 0, n);

    rc = ngx_beacon_offset_capnp_struct(msg, parent, field, depth, &w);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    rc = ngx_beacon_offset_capnp_struct(msg, &w, 0, depth + 1, &b);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    for (i = 0; i < n / 8 && i < b.dw; i++) {
        p = msg->seg[b.seg] + (b.data + i) * 8;

        for (j = 0; j < 8; j++) {
            out[i * 8 + j] = p[7 - j];
        }
    }

    return NGX_BEACON_OFFSET_CAPNP_OK;
}


/* a union discriminant: bits [0,16) of data word 0 */

static unsigned
ngx_beacon_offset_capnp_tag(ngx_beacon_offset_capnp_msg_t *msg,
    const ngx_beacon_offset_struct_t *s)
{
    const uint8_t  *p;

    if (s->dw == 0) {
        return 0;
    }

    p = msg->seg[s->seg] + s->data * 8;

    return (unsigned) p[0] | ((unsigned) p[1] << 8);
}


static int
ngx_beacon_offset_capnp_root(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_struct_t *s)
{
    msg->traversal_left = msg->traversal_limit;

    return ngx_beacon_offset_capnp_struct(msg, NULL, 0, 1, s);
}


int
ngx_beacon_offset_capnp_decode_init(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_init_t *out)
{
    int                  rc;
    ngx_beacon_offset_struct_t  r;

    memset(out, 0, sizeof(ngx_beacon_offset_capnp_init_t));

    rc = ngx_beacon_offset_capnp_root(msg, &r);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    out->which = ngx_beacon_offset_capnp_tag(msg, &r);

    switch (out->which) {

    case NGX_BEACON_OFFSET_INIT_LISTEN:
        break;

    case NGX_BEACON_OFFSET_INIT_ACCEPT:
    case NGX_BEACON_OFFSET_INIT_CONNECT:
        rc = ngx_beacon_offset_capnp_buffer(msg, &r, 0, 2, out->public_key,
                                     NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
        break;

    default:
        rc = NGX_BEACON_OFFSET_CAPNP_EUNION;
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        memset(out, 0, sizeof(ngx_beacon_offset_capnp_init_t));
    }

    return rc;
}


int
ngx_beacon_offset_capnp_decode_conn(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_conn_t *out)
{
    int                  rc;
    ngx_beacon_offset_struct_t  r;

    memset(out, 0, sizeof(ngx_beacon_offset_capnp_conn_t));

    rc = ngx_beacon_offset_capnp_root(msg, &r);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_buffer(msg, &r, 0, 2, out->public_key,
                                     NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        memset(out, 0, sizeof(ngx_beacon_offset_capnp_conn_t));
    }

    return rc;
}


int
ngx_beacon_offset_capnp_decode_ka(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_ka_t *out)
{
    int                  rc;
    ngx_beacon_offset_struct_t  r;

    memset(out, 0, sizeof(ngx_beacon_offset_capnp_ka_t));

    rc = ngx_beacon_offset_capnp_root(msg, &r);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    out->which = ngx_beacon_offset_capnp_tag(msg, &r);

    switch (out->which) {

    case NGX_BEACON_OFFSET_KA_KEEPALIVE:
        break;

    case NGX_BEACON_OFFSET_KA_MESSAGE:
        rc = ngx_beacon_offset_capnp_data(msg, &r, 0, &out->message);
        break;

    default:
        rc = NGX_BEACON_OFFSET_CAPNP_EUNION;
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        memset(out, 0, sizeof(ngx_beacon_offset_capnp_ka_t));
    }

    return rc;
}


int
ngx_beacon_offset_capnp_decode_ern(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_ern_t *out)
{
    int                  rc;
    unsigned             tag;
    ngx_beacon_offset_struct_t  r;

    memset(out, 0, sizeof(ngx_beacon_offset_capnp_ern_t));

    rc = ngx_beacon_offset_capnp_root(msg, &r);
    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        return rc;
    }

    rc = ngx_beacon_offset_capnp_buffer(msg, &r, 0, 2, out->rand_nonce,
                                 NGX_BEACON_OFFSET_CAPNP_NONCE_LEN);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_buffer(msg, &r, 1, 2, out->src_public_key,
                                     NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
    }

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        tag = ngx_beacon_offset_capnp_tag(msg, &r);

        if (tag == 1) {
            out->has_dest = 1;
            rc = ngx_beacon_offset_capnp_buffer(msg, &r, 2, 2,
                                         out->dest_public_key,
                                         NGX_BEACON_OFFSET_CAPNP_KEY_LEN);

        } else if (tag != 0) {
            rc = NGX_BEACON_OFFSET_CAPNP_EUNION;
        }
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        memset(out, 0, sizeof(ngx_beacon_offset_capnp_ern_t));
    }

    return rc;
}


int
ngx_beacon_offset_capnp_decode_dh(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_dh_t *out)
{
    int                  rc;
    ngx_beacon_offset_struct_t  r;

    memset(out, 0, sizeof(ngx_beacon_offset_capnp_dh_t));

    rc = ngx_beacon_offset_capnp_root(msg, &r);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_buffer(msg, &r, 0, 2, out->dh_public_key,
                                     NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
    }

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_buffer(msg, &r, 1, 2, out->rand_nonce,
                                     NGX_BEACON_OFFSET_CAPNP_NONCE_LEN);
    }

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_buffer(msg, &r, 2, 2, out->key_salt,
                                     NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
    }

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_buffer(msg, &r, 3, 2, out->signature,
                                     NGX_BEACON_OFFSET_CAPNP_SIG_LEN);
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        memset(out, 0, sizeof(ngx_beacon_offset_capnp_dh_t));
    }

    return rc;
}


int
ngx_beacon_offset_capnp_decode_channel(ngx_beacon_offset_capnp_msg_t *msg,
    ngx_beacon_offset_capnp_channel_t *out)
{
    int                  rc;
    ngx_beacon_offset_struct_t  r, c, k;

    memset(out, 0, sizeof(ngx_beacon_offset_capnp_channel_t));

    rc = ngx_beacon_offset_capnp_root(msg, &r);

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_data(msg, &r, 0, &out->rand_padding);
    }

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        rc = ngx_beacon_offset_capnp_struct(msg, &r, 1, 2, &c);
    }

    if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
        out->which = ngx_beacon_offset_capnp_tag(msg, &c);

        switch (out->which) {

        case NGX_BEACON_OFFSET_CONTENT_REKEY:
            rc = ngx_beacon_offset_capnp_struct(msg, &c, 0, 3, &k);

            if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
                rc = ngx_beacon_offset_capnp_buffer(msg, &k, 0, 4,
                                             out->dh_public_key,
                                             NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
            }

            if (rc == NGX_BEACON_OFFSET_CAPNP_OK) {
                rc = ngx_beacon_offset_capnp_buffer(msg, &k, 1, 4,
                    out->key_salt,
                                             NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
            }

            break;

        case NGX_BEACON_OFFSET_CONTENT_USER:
            rc = ngx_beacon_offset_capnp_data(msg, &c, 0, &out->user);
            break;

        default:
            rc = NGX_BEACON_OFFSET_CAPNP_EUNION;
        }
    }

    if (rc != NGX_BEACON_OFFSET_CAPNP_OK) {
        memset(out, 0, sizeof(ngx_beacon_offset_capnp_channel_t));
    }

    return rc;
}


static void
ngx_beacon_offset_pack_init(ngx_beacon_offset_pack_t *pk, uint8_t *out,
    size_t cap)
{
    pk->out = out;
    pk->cap = cap;
    pk->len = 0;
    pk->run_pos = 0;
    pk->run = NGX_BEACON_OFFSET_RUN_NONE;
    pk->count = 0;
    pk->failed = 0;
}


/*
 * Packs one word.  A run count is patched as later words join the run:
 * up to 255 more all-zero words after a 0x00 tag, or up to 255 words
 * with at most one zero byte copied verbatim after a 0xff tag, the
 * choice of the C++ and Rust packers.
 */

static void
ngx_beacon_offset_pack_word(ngx_beacon_offset_pack_t *pk, const uint8_t *w)
{
    size_t    need;
    uint64_t  v;
    unsigned  i, tag, zeros;

    if (pk->failed) {
        return;
    }

    /*
     * The fast path for random bytes (encrypted tunnel payloads): a word
     * without any zero byte continues a verbatim run.
     */

    memcpy(&v, w, 8);

    if (pk->run == NGX_BEACON_OFFSET_RUN_RAW && pk->count < 255
        && ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL) == 0)
    {
        if (pk->cap - pk->len < 8) {
            pk->failed = 1;
            return;
        }

        memcpy(pk->out + pk->len, w, 8);
        pk->len += 8;
        pk->out[pk->run_pos] = (uint8_t) ++pk->count;
        return;
    }

    tag = 0;
    zeros = 0;

    for (i = 0; i < 8; i++) {
        if (w[i]) {
            tag |= 1u << i;

        } else {
            zeros++;
        }
    }

    if (pk->run == NGX_BEACON_OFFSET_RUN_ZERO) {
        if (tag == 0 && pk->count < 255) {
            pk->out[pk->run_pos] = (uint8_t) ++pk->count;
            return;
        }

        pk->run = NGX_BEACON_OFFSET_RUN_NONE;

    } else if (pk->run == NGX_BEACON_OFFSET_RUN_RAW) {
        if (zeros <= 1 && pk->count < 255) {
            if (pk->cap - pk->len < 8) {
                pk->failed = 1;
                return;
            }

            memcpy(pk->out + pk->len, w, 8);
            pk->len += 8;
            pk->out[pk->run_pos] = (uint8_t) ++pk->count;
            return;
        }

        pk->run = NGX_BEACON_OFFSET_RUN_NONE;
    }

    need = 1 + (8 - zeros) + ((tag == 0x00 || tag == 0xff) ? 1 : 0);

    if (pk->cap - pk->len < need) {
        pk->failed = 1;
        return;
    }

    pk->out[pk->len++] = (uint8_t) tag;

    for (i = 0; i < 8; i++) {
        if (w[i]) {
            pk->out[pk->len++] = w[i];
        }
    }

    if (tag == 0x00 || tag == 0xff) {
        pk->run = (tag == 0x00) ? NGX_BEACON_OFFSET_RUN_ZERO
                                : NGX_BEACON_OFFSET_RUN_RAW;
        pk->run_pos = pk->len;
        pk->count = 0;
        pk->out[pk->len++] = 0;
    }
}


static void
ngx_beacon_offset_emit(ngx_beacon_offset_pack_t *pk, uint64_t v)
{
    uint8_t   w[8];
    unsigned  i;

    for (i = 0; i < 8; i++) {
        w[i] = (uint8_t) (v >> (8 * i));
    }

    ngx_beacon_offset_pack_word(pk, w);
}


static void
ngx_beacon_offset_emit_struct(ngx_beacon_offset_pack_t *pk, uint32_t off,
    unsigned dw, unsigned pw)
{
    ngx_beacon_offset_emit(pk, (uint64_t) (off << 2) | ((uint64_t) dw << 32)
                        | ((uint64_t) pw << 48));
}


static void
ngx_beacon_offset_emit_list(ngx_beacon_offset_pack_t *pk, uint32_t off,
    size_t n)
{
    ngx_beacon_offset_emit(pk,
        (uint64_t) ((off << 2) | NGX_BEACON_OFFSET_PTR_LIST)
                        | ((uint64_t) (NGX_BEACON_OFFSET_ELEM_BYTE | (n << 3))
                           << 32));
}


/* a wrapper struct (0, 1) and its BufferN of n / 8 byte-reversed words */

static void
ngx_beacon_offset_emit_buffer(ngx_beacon_offset_pack_t *pk, const uint8_t *b,
    size_t n)
{
    size_t   i, j;
    uint8_t  w[8];

    ngx_beacon_offset_emit_struct(pk, 0, (unsigned) (n / 8), 0);

    for (i = 0; i < n; i += 8) {
        for (j = 0; j < 8; j++) {
            w[j] = b[i + 7 - j];
        }

        ngx_beacon_offset_pack_word(pk, w);
    }
}


static void
ngx_beacon_offset_emit_data(ngx_beacon_offset_pack_t *pk, const uint8_t *b,
    size_t n)
{
    size_t    i, k, max;
    uint8_t   w[8];
    uint64_t  v;

    for (i = 0; i + 8 <= n; /* void */) {

        /* inside a verbatim run: copy all the zero-free words at once */

        if (pk->run == NGX_BEACON_OFFSET_RUN_RAW && !pk->failed) {
            max = ngx_beacon_offset_min((size_t) (255 - pk->count),
                (n - i) / 8);

            for (k = 0; k < max; k++) {
                memcpy(&v, b + i + 8 * k, 8);

                if ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL)
                {
                    break;
                }
            }

            if (k) {
                if (pk->cap - pk->len < 8 * k) {
                    pk->failed = 1;
                    return;
                }

                memcpy(pk->out + pk->len, b + i, 8 * k);
                pk->len += 8 * k;
                pk->count += k;
                pk->out[pk->run_pos] = (uint8_t) pk->count;
                i += 8 * k;
                continue;
            }
        }

        ngx_beacon_offset_pack_word(pk, b + i);
        i += 8;
    }

    if (i < n) {
        memset(w, 0, 8);
        memcpy(w, b + i, n - i);
        ngx_beacon_offset_pack_word(pk, w);
    }
}


static size_t
ngx_beacon_offset_pack_done(ngx_beacon_offset_pack_t *pk)
{
    return pk->failed ? 0 : pk->len;
}


size_t
ngx_beacon_offset_capnp_encode_init(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_init_t *m)
{
    ngx_beacon_offset_pack_t  pk;

    ngx_beacon_offset_pack_init(&pk, out, cap);

    switch (m->which) {

    case NGX_BEACON_OFFSET_INIT_LISTEN:
        ngx_beacon_offset_emit_table(&pk, 3);
        ngx_beacon_offset_emit_struct(&pk, 0, 1, 1);
        ngx_beacon_offset_emit(&pk, NGX_BEACON_OFFSET_INIT_LISTEN);
        ngx_beacon_offset_emit(&pk, 0);
        break;

    case NGX_BEACON_OFFSET_INIT_ACCEPT:
    case NGX_BEACON_OFFSET_INIT_CONNECT:
        ngx_beacon_offset_emit_table(&pk, 8);
        ngx_beacon_offset_emit_struct(&pk, 0, 1, 1);
        ngx_beacon_offset_emit(&pk, m->which);
        ngx_beacon_offset_emit_struct(&pk, 0, 0, 1);
        ngx_beacon_offset_emit_buffer(&pk, m->public_key,
            NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
        break;

    default:
        return 0;
    }

    return ngx_beacon_offset_pack_done(&pk);
}


size_t
ngx_beacon_offset_capnp_encode_conn(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_conn_t *m)
{
    ngx_beacon_offset_pack_t  pk;

    ngx_beacon_offset_pack_init(&pk, out, cap);

    ngx_beacon_offset_emit_table(&pk, 7);
    ngx_beacon_offset_emit_struct(&pk, 0, 0, 1);
    ngx_beacon_offset_emit_struct(&pk, 0, 0, 1);
    ngx_beacon_offset_emit_buffer(&pk, m->public_key,
        NGX_BEACON_OFFSET_CAPNP_KEY_LEN);

    return ngx_beacon_offset_pack_done(&pk);
}


size_t
ngx_beacon_offset_capnp_encode_ka(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_ka_t *m)
{
    size_t             n;
    ngx_beacon_offset_pack_t  pk;

    ngx_beacon_offset_pack_init(&pk, out, cap);

    switch (m->which) {

    case NGX_BEACON_OFFSET_KA_KEEPALIVE:
        ngx_beacon_offset_emit_table(&pk, 3);
        ngx_beacon_offset_emit_struct(&pk, 0, 1, 1);
        ngx_beacon_offset_emit(&pk, NGX_BEACON_OFFSET_KA_KEEPALIVE);
        ngx_beacon_offset_emit(&pk, 0);
        break;

    case NGX_BEACON_OFFSET_KA_MESSAGE:
        n = m->message.len;

        if (n > NGX_BEACON_OFFSET_CAPNP_MAX_DATA || (n &&
            m->message.data == NULL)) {
            return 0;
        }

        ngx_beacon_offset_emit_table(&pk, 3 + ngx_beacon_offset_words(n));
        ngx_beacon_offset_emit_struct(&pk, 0, 1, 1);
        ngx_beacon_offset_emit(&pk, NGX_BEACON_OFFSET_KA_MESSAGE);
        ngx_beacon_offset_emit_list(&pk, 0, n);
        ngx_beacon_offset_emit_data(&pk, m->message.data, n);
        break;

    default:
        return 0;
    }

    return ngx_beacon_offset_pack_done(&pk);
}


size_t
ngx_beacon_offset_capnp_encode_ern(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_ern_t *m)
{
    ngx_beacon_offset_pack_t  pk;

    ngx_beacon_offset_pack_init(&pk, out, cap);

    ngx_beacon_offset_emit_table(&pk, m->has_dest ? 18 : 13);
    ngx_beacon_offset_emit_struct(&pk, 0, 1, 3);
    ngx_beacon_offset_emit(&pk, m->has_dest ? 1 : 0);
    ngx_beacon_offset_emit_struct(&pk, 2, 0, 1);
    ngx_beacon_offset_emit_struct(&pk, 4, 0, 1);

    if (m->has_dest) {
        ngx_beacon_offset_emit_struct(&pk, 8, 0, 1);

    } else {
        ngx_beacon_offset_emit(&pk, 0);
    }

    ngx_beacon_offset_emit_buffer(&pk, m->rand_nonce,
        NGX_BEACON_OFFSET_CAPNP_NONCE_LEN);
    ngx_beacon_offset_emit_buffer(&pk, m->src_public_key,
        NGX_BEACON_OFFSET_CAPNP_KEY_LEN);

    if (m->has_dest) {
        ngx_beacon_offset_emit_buffer(&pk, m->dest_public_key,
            NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
    }

    return ngx_beacon_offset_pack_done(&pk);
}


size_t
ngx_beacon_offset_capnp_encode_dh(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_dh_t *m)
{
    ngx_beacon_offset_pack_t  pk;

    ngx_beacon_offset_pack_init(&pk, out, cap);

    ngx_beacon_offset_emit_table(&pk, 27);
    ngx_beacon_offset_emit_struct(&pk, 0, 0, 4);
    ngx_beacon_offset_emit_struct(&pk, 3, 0, 1);
    ngx_beacon_offset_emit_struct(&pk, 7, 0, 1);
    ngx_beacon_offset_emit_struct(&pk, 9, 0, 1);
    ngx_beacon_offset_emit_struct(&pk, 13, 0, 1);
    ngx_beacon_offset_emit_buffer(&pk, m->dh_public_key,
        NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
    ngx_beacon_offset_emit_buffer(&pk, m->rand_nonce,
        NGX_BEACON_OFFSET_CAPNP_NONCE_LEN);
    ngx_beacon_offset_emit_buffer(&pk, m->key_salt,
        NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
    ngx_beacon_offset_emit_buffer(&pk, m->signature,
        NGX_BEACON_OFFSET_CAPNP_SIG_LEN);

    return ngx_beacon_offset_pack_done(&pk);
}


/*
 * w0 root (0, 2); w1 randPadding: null, or L(1, |P|) to pad(P) at w3;
 * w2 content (1, 1) right after the padding, then its Data or Rekey.
 */

size_t
ngx_beacon_offset_capnp_encode_channel(uint8_t *out, size_t cap,
    const ngx_beacon_offset_capnp_channel_t *m)
{
    size_t             p, u, words;
    ngx_beacon_offset_pack_t  pk;

    p = m->rand_padding.len;
    u = m->user.len;

    if (p > NGX_BEACON_OFFSET_CAPNP_MAX_DATA
        || (p && m->rand_padding.data == NULL))
    {
        return 0;
    }

    switch (m->which) {

    case NGX_BEACON_OFFSET_CONTENT_REKEY:
        words = 3 + ngx_beacon_offset_words(p) + 2 + 2 + 5 + 5;
        break;

    case NGX_BEACON_OFFSET_CONTENT_USER:
        if (u > NGX_BEACON_OFFSET_CAPNP_MAX_DATA || (u &&
            m->user.data == NULL)) {
            return 0;
        }

        words =
            3 + ngx_beacon_offset_words(p) + 2 + ngx_beacon_offset_words(u);
        break;

    default:
        return 0;
    }

    ngx_beacon_offset_pack_init(&pk, out, cap);

    ngx_beacon_offset_emit_table(&pk, words);
    ngx_beacon_offset_emit_struct(&pk, 0, 0, 2);

    if (m->rand_padding.data) {
        ngx_beacon_offset_emit_list(&pk, 1, p);

    } else {
        ngx_beacon_offset_emit(&pk, 0);
    }

    ngx_beacon_offset_emit_struct(&pk, (uint32_t) ngx_beacon_offset_words(p), 1,
        1);
    ngx_beacon_offset_emit_data(&pk, m->rand_padding.data, p);
    ngx_beacon_offset_emit(&pk, m->which);

    if (m->which == NGX_BEACON_OFFSET_CONTENT_USER) {
        ngx_beacon_offset_emit_list(&pk, 0, u);
        ngx_beacon_offset_emit_data(&pk, m->user.data, u);

    } else {
        ngx_beacon_offset_emit_struct(&pk, 0, 0, 2);
        ngx_beacon_offset_emit_struct(&pk, 1, 0, 1);
        ngx_beacon_offset_emit_struct(&pk, 5, 0, 1);
        ngx_beacon_offset_emit_buffer(&pk, m->dh_public_key,
            NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
        ngx_beacon_offset_emit_buffer(&pk, m->key_salt,
            NGX_BEACON_OFFSET_CAPNP_KEY_LEN);
    }

    return ngx_beacon_offset_pack_done(&pk);
}


size_t
ngx_beacon_offset_capnp_pack(uint8_t *out, size_t cap, const uint8_t *in,
    size_t len)
{
    size_t             i;
    ngx_beacon_offset_pack_t  pk;

    if (len % 8) {
        return 0;
    }

    ngx_beacon_offset_pack_init(&pk, out, cap);

    for (i = 0; i < len; i += 8) {
        ngx_beacon_offset_pack_word(&pk, in + i);
    }

    return ngx_beacon_offset_pack_done(&pk);
}


size_t
ngx_beacon_offset_capnp_unpack(uint8_t *out, size_t cap, const uint8_t *in,
    size_t len)
{
    ngx_beacon_offset_unpack_t  u;

    u.in = in;
    u.end = in + len;
    u.out = out;
    u.pos = 0;
    u.zeros = 0;
    u.raw = 0;

    while (u.in < u.end || u.zeros) {
        if (cap - u.pos < 8) {
            return 0;
        }

        if (ngx_beacon_offset_unpack_to(&u,
            u.pos + 8) != NGX_BEACON_OFFSET_CAPNP_OK) {
            return 0;
        }
    }

    if (u.raw) {
        return 0;
    }

    return u.pos;
}


const char *
ngx_beacon_offset_capnp_strerror(int rc)
{
    switch (rc) {
    case NGX_BEACON_OFFSET_CAPNP_OK:
        return "ok";
    case NGX_BEACON_OFFSET_CAPNP_ETRUNC:
        return "truncated message";
    case NGX_BEACON_OFFSET_CAPNP_ESEGMENTS:
        return "too many segments";
    case NGX_BEACON_OFFSET_CAPNP_ELIMIT:
        return "size or traversal limit exceeded";
    case NGX_BEACON_OFFSET_CAPNP_EPACKED:
        return "packed run past the end of the message";
    case NGX_BEACON_OFFSET_CAPNP_EBOUNDS:
        return "pointer out of bounds";
    case NGX_BEACON_OFFSET_CAPNP_EPOINTER:
        return "unexpected pointer kind";
    case NGX_BEACON_OFFSET_CAPNP_ENESTING:
        return "nesting limit exceeded";
    case NGX_BEACON_OFFSET_CAPNP_EUNION:
        return "unknown union discriminant";
    default:
        return "unknown error";
    }
}
