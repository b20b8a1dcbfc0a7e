# ngx_beacon_module — build, run, test, fuzz, bench.
#
#   make            build build/ngx_stream_beacon_module.so against Debian's nginx-dev
#   make run        install packages, build, run nginx in the foreground (127.0.0.1)
#   make test       install packages, build, run the test suite (prove -r t/)
#   make fuzz       run the libFuzzer targets for a bounded time
#   make bench      run the benchmarks (not part of the tests)
#
# CC=clang builds with clang; NGINX_SRC points at another configured-able
# nginx tree (default: Debian's nginx-dev headers in /usr/share/nginx/src).

SHELL      := /bin/bash
CC         ?= cc
NGINX_SRC  ?= /usr/share/nginx/src
NGINX_BIN  ?= /usr/sbin/nginx
BUILD      ?= build
B          := $(CURDIR)/$(BUILD)
MODULE     := $(B)/ngx_stream_beacon_module.so
SRCS       := $(wildcard ngx_beacon_module/*.c ngx_beacon_module/*.h) config
CFLAGS_DEB := -g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
LDFLAGS_DEB:= -Wl,-z,relro -Wl,-z,now -fPIC
FUZZ_SECONDS ?= 60

DEB_PACKAGES := nginx libnginx-mod-stream nginx-dev libsodium-dev libpcre2-dev \
                libssl-dev zlib1g-dev pkg-config gcc make perl clang \
                libclang-rt-14-dev iproute2 procps

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all module deps run test unit fuzz bench clean tools

all: module tools

module: $(MODULE)

$(B)/nginx-src/.configured: config
	rm -rf $(B)/nginx-src $(B)/objs
	mkdir -p $(B)
	cp -a $(NGINX_SRC) $(B)/nginx-src
	cd $(B)/nginx-src && \
	    if [ -f conf_flags ]; then . ./conf_flags; else NGX_CONF_FLAGS=(--with-compat); fi && \
	    ./configure --with-cc="$(CC)" --with-cc-opt="$(CFLAGS_DEB)" \
	        --with-ld-opt="$(LDFLAGS_DEB)" "$${NGX_CONF_FLAGS[@]}" \
	        --with-stream --add-dynamic-module=$(CURDIR) \
	        --builddir=$(B)/objs > $(B)/configure.log 2>&1 || \
	    { cat $(B)/configure.log; exit 1; }
	touch $@

$(MODULE): $(B)/nginx-src/.configured $(SRCS)
	$(MAKE) -s -f $(B)/objs/Makefile -C $(B)/nginx-src modules
	cp $(B)/objs/ngx_stream_beacon_module.so $@.tmp && mv -f $@.tmp $@

tools: $(B)/unit_proto $(B)/unit_ws $(B)/unit_json $(B)/wsc

TEST_CFLAGS := -O1 -g -Wall -Wextra -Werror -Ingx_beacon_module

$(B)/unit_proto: t/unit/proto_test.c ngx_beacon_module/ngx_beacon_proto.c ngx_beacon_module/ngx_beacon_proto.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/proto_test.c \
	    ngx_beacon_module/ngx_beacon_proto.c -lsodium

$(B)/unit_ws: t/unit/ws_test.c ngx_beacon_module/ngx_beacon_ws.c ngx_beacon_module/ngx_beacon_ws.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/ws_test.c \
	    ngx_beacon_module/ngx_beacon_ws.c -lcrypto

$(B)/unit_json: t/unit/json_test.c ngx_beacon_module/ngx_beacon_json.c ngx_beacon_module/ngx_beacon_json.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/json_test.c \
	    ngx_beacon_module/ngx_beacon_json.c -lsodium

# the WebSocket/TLS client the compat tests drive
$(B)/wsc: t/tools/wsc.c ngx_beacon_module/ngx_beacon_ws.c ngx_beacon_module/ngx_beacon_ws.h
	mkdir -p $(B)
	$(CC) -O2 -g -Wall -Wextra -Werror -Ingx_beacon_module -o $@ t/tools/wsc.c \
	    -lssl -lcrypto -lsodium

deps:
	@if ! dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1; then \
	    $(SUDO) apt-get update && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $(DEB_PACKAGES); \
	fi

run: deps all
	mkdir -p $(B)/run/logs $(B)/run/modules
	ln -sf /usr/lib/nginx/modules/ngx_stream_module.so $(B)/run/modules/
	ln -sf $(MODULE) $(B)/run/modules/
	$(NGINX_BIN) -p $(B)/run/ -c $(CURDIR)/conf.examples/beacon.conf \
	    -e $(B)/run/logs/error.log -g 'daemon off; error_log stderr notice;'

test: deps all
	TEST_NGINX_BINARY=$(NGINX_BIN) TEST_NGINX_BEACON_MODULE=$(MODULE) \
	TEST_BEACON_BUILD=$(B) prove -r t/

fuzz: deps
	bash t/fuzz/run.sh $(FUZZ_SECONDS)

bench: deps all
	bash t/bench/run.sh

clean:
	rm -rf $(B)
