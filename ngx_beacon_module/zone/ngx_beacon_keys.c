
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_beacon_keys.h"


static void ngx_beacon_keys_wipe(void *data);


char *
ngx_beacon_keys_load(ngx_conf_t *cf, ngx_str_t *directive, ngx_str_t *name,
    ngx_array_t **keys)
{
    int                  rc;
    u_char              *buf;
    size_t               line, nkeys;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_str_t            file;
    ngx_file_info_t      fi;
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

    /* one entry per line at most; parsed by the pure key file parser */

    *keys = ngx_array_create(cf->pool,
                             ngx_beacon_keyfile_lines((char *) buf, n),
                             sizeof(ngx_beacon_key_t));
    if (*keys == NULL) {
        ngx_explicit_memzero(buf, n);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_explicit_memzero(buf, n);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_beacon_keys_wipe;
    cln->data = *keys;

    rc = ngx_beacon_keyfile_parse((char *) buf, n, (*keys)->elts, &nkeys,
                                  &line);

    (*keys)->nelts = nkeys;

    ngx_explicit_memzero(buf, n);

    if (rc == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: key file \"%s\", line %uz: "
                           "expected \"<node_id> <base64 Ed25519 key>\"",
                           directive, file.data, line);
        return NGX_CONF_ERROR;
    }

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive: key file \"%s\": node %uz "
                           "is listed twice", directive, file.data, line);
        return NGX_CONF_ERROR;
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


static void
ngx_beacon_keys_wipe(void *data)
{
    ngx_array_t  *keys = data;

    /* every slot: a malformed line may have left key bytes past nelts */
    ngx_explicit_memzero(keys->elts, keys->nalloc * keys->size);
}
