
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_keys.h"


static int ngx_beacon_keys_cmp(const void *one, const void *two);
static void ngx_beacon_keys_wipe(void *data);


char *
ngx_beacon_keys_load(ngx_conf_t *cf, ngx_str_t *directive, ngx_str_t *name,
    ngx_array_t **keys)
{
    u_char              *buf, *p, *last, *eol;
    int                  rc;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_str_t            file;
    ngx_uint_t           line, i;
    ngx_file_info_t      fi;
    ngx_beacon_key_t    *k, *sorted;
    ngx_pool_cleanup_t  *cln;

    file = *name;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" directive: " ngx_open_file_n
                           " \"%s\" failed", directive, file.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 64 * 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" directive: key file \"%s\" is unreadable "
                           "or too large", directive, file.data);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    buf = ngx_pnalloc(cf->temp_pool, (size_t) ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, (size_t) ngx_file_size(&fi));
    (void) ngx_close_file(fd);

    if (n == -1 || n != (ssize_t) ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" directive: could not read key file "
                           "\"%s\"", directive, file.data);
        return NGX_CONF_ERROR;
    }

    *keys = ngx_array_create(cf->pool, 16, sizeof(ngx_beacon_key_t));
    if (*keys == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_beacon_keys_wipe;
    cln->data = *keys;

    p = buf;
    last = buf + n;
    line = 0;
    rc = 0;

    while (p < last) {
        line++;

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        k = ngx_array_push(*keys);
        if (k == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_beacon_keyline_parse((const char *) p, eol - p, &k->id,
                                      k->key);

        if (rc < 0) {
            break;
        }

        if (rc > 0) {
            (*keys)->nelts--;
        }

        p = eol + 1;
    }

    ngx_explicit_memzero(buf, n);

    if (rc < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: key file \"%s\", line %ui: "
                           "expected \"<node_id> <base64 Ed25519 key>\"",
                           directive, file.data, line);
        return NGX_CONF_ERROR;
    }

    sorted = (*keys)->elts;

    ngx_qsort(sorted, (*keys)->nelts, sizeof(ngx_beacon_key_t),
              ngx_beacon_keys_cmp);

    for (i = 1; i < (*keys)->nelts; i++) {
        if (sorted[i].id == sorted[i - 1].id) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" directive: key file \"%s\": node %uD "
                               "is listed twice",
                               directive, file.data, sorted[i].id);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


const uint8_t *
ngx_beacon_keys_find(ngx_array_t *keys, uint32_t id)
{
    ngx_uint_t         lo, hi, mid;
    ngx_beacon_key_t  *k;

    if (keys == NULL) {
        return NULL;
    }

    k = keys->elts;
    lo = 0;
    hi = keys->nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (k[mid].id == id) {
            return k[mid].key;
        }

        if (k[mid].id < id) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


static int
ngx_beacon_keys_cmp(const void *one, const void *two)
{
    const ngx_beacon_key_t  *a = one;
    const ngx_beacon_key_t  *b = two;

    return (a->id > b->id) - (a->id < b->id);
}


static void
ngx_beacon_keys_wipe(void *data)
{
    ngx_array_t  *keys = data;

    ngx_explicit_memzero(keys->elts, keys->nelts * keys->size);
}
