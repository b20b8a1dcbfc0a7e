
/*
 * Copyright (C) 2026 the ngx_beacon_module authors
 */


#ifndef _NGX_BEACON_H_INCLUDED_
#define _NGX_BEACON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_BEACON_VERSION     "0.1.0"


/* the tag of every beacon zone, on the stream and the http side alike */
extern ngx_module_t  ngx_stream_beacon_module;


#endif /* _NGX_BEACON_H_INCLUDED_ */
