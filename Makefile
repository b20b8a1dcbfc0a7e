# ngx_beacon_module — build, run, test, fuzz, bench.
#
#   make            build build/ngx_stream_beacon_module.so against Debian's nginx-dev
#   make run        install packages, build, run nginx in the foreground (127.0.0.1)
#   make test       install packages, build, run the test suite (prove -r t/)
#   make fuzz       run the libFuzzer targets for a bounded time
#   make bench      run the benchmarks (not part of the tests)
#   make bench-offset  only the Offset relay benchmark
#   make bench-stun    only the STUN benchmark (nginx against coturn)
#   make deb        build the libnginx-mod-stream-beacon Debian package
#   make test-sanitize  build nginx from a full source tree with
#                   -fsanitize=address,undefined, the module linked in
#                   statically (and as a .so against the same tree, checked
#                   to load), and run the whole t/ suite with that binary;
#                   NGINX_SANITIZE_TARBALL picks the tree (default
#                   ../shared/vendor/nginx-1.31.4.tar.gz), it builds into
#                   build/sanitize-<version>/
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
SRCS       := $(wildcard ngx_beacon_module/*.[ch] ngx_beacon_module/*/*.[ch]) config
# the module's folders (README, Layout): every one is an include directory
BEACON_INCS := -Ingx_beacon_module -Ingx_beacon_module/core -Ingx_beacon_module/zone -Ingx_beacon_module/transport -Ingx_beacon_module/pilot -Ingx_beacon_module/compat -Ingx_beacon_module/offset
CFLAGS_DEB := -g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
LDFLAGS_DEB:= -Wl,-z,relro -Wl,-z,now -fPIC
FUZZ_SECONDS ?= 60

DEB_PACKAGES := nginx libnginx-mod-stream nginx-dev libsodium-dev libpcre2-dev \
                libssl-dev zlib1g-dev pkg-config gcc make perl clang \
                libclang-rt-14-dev iproute2 procps openssl ca-certificates curl

# for the tests only: promtool checks the Prometheus page; gdb writes the
# counters of a running worker (t/status_counters.t) and stops and kills a
# worker inside an Offset pairing stripe (t/offset_dead_holder.t)
TEST_PACKAGES := prometheus gdb

# STUN clients the STUN tests drive (t/stun_clients.t, t/stun_browser.t)
# and coturn for the STUN benchmark; aioice comes from PyPI into a venv
STUN_PACKAGES := stun-client coturn chromium python3-venv iproute2
PYENV         := $(B)/pyenv

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all module deps test-deps stun-deps run test unit fuzz bench bench-offset bench-stun \
        clean tools deb test-sanitize sanitize-nginx offset-seeds

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

tools: $(B)/unit_proto $(B)/unit_ws $(B)/unit_json $(B)/wsc \
       $(B)/unit_offset_crypto $(B)/beacon-offset-tool $(B)/unit_capnp \
       $(B)/offset_node $(B)/beacon-probe $(B)/unit_stun $(B)/unit_reply \
       $(B)/unit_compat $(B)/unit_offset_conn $(B)/ntab_stress \
       $(B)/ntab_stress_broken $(B)/unit_state $(B)/gtab_stress \
       $(B)/gtab_stress_broken

TEST_CFLAGS := -O1 -g -Wall -Wextra -Werror $(BEACON_INCS)

# the zone's node table under many processes (t/zone_stress.t); the
# broken build skips the seqlock re-check, to show the checker sees it
NTAB_DEPS := t/unit/ntab_stress.c ngx_beacon_module/zone/ngx_beacon_ntab.c ngx_beacon_module/zone/ngx_beacon_ntab.h

$(B)/unit_state: t/unit/state_test.c t/unit/tap.h ngx_beacon_module/core/ngx_beacon_state.c ngx_beacon_module/core/ngx_beacon_state.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/state_test.c \
	    ngx_beacon_module/core/ngx_beacon_state.c

$(B)/ntab_stress: $(NTAB_DEPS)
	mkdir -p $(B)
	$(CC) -O2 -g -Wall -Wextra -Werror $(BEACON_INCS) -o $@ \
	    t/unit/ntab_stress.c ngx_beacon_module/zone/ngx_beacon_ntab.c

$(B)/ntab_stress_broken: $(NTAB_DEPS)
	mkdir -p $(B)
	$(CC) -O2 -g -Wall -Wextra -Werror -DNGX_BEACON_NT_BROKEN=1 \
	    $(BEACON_INCS) -o $@ \
	    t/unit/ntab_stress.c ngx_beacon_module/zone/ngx_beacon_ntab.c

# the gossip route table under many processes (t/gossip_stress.t); the
# broken build gives a slot to a new address without a new generation,
# to show the checker sees routes that lead to the wrong peer
GTAB_DEPS := t/unit/gtab_stress.c ngx_beacon_module/pilot/ngx_beacon_gtab.c ngx_beacon_module/pilot/ngx_beacon_gtab.h $(NTAB_DEPS)
GTAB_SRCS := t/unit/gtab_stress.c ngx_beacon_module/pilot/ngx_beacon_gtab.c ngx_beacon_module/zone/ngx_beacon_ntab.c

$(B)/gtab_stress: $(GTAB_DEPS)
	mkdir -p $(B)
	$(CC) -O2 -g -Wall -Wextra -Werror $(BEACON_INCS) -o $@ $(GTAB_SRCS)

$(B)/gtab_stress_broken: $(GTAB_DEPS)
	mkdir -p $(B)
	$(CC) -O2 -g -Wall -Wextra -Werror -DNGX_BEACON_GT_BROKEN=1 \
	    $(BEACON_INCS) -o $@ $(GTAB_SRCS)

$(B)/unit_proto: t/unit/proto_test.c t/unit/tap.h ngx_beacon_module/core/ngx_beacon_proto.c ngx_beacon_module/core/ngx_beacon_proto.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/proto_test.c \
	    ngx_beacon_module/core/ngx_beacon_proto.c -lsodium

$(B)/unit_ws: t/unit/ws_test.c t/unit/tap.h ngx_beacon_module/core/ngx_beacon_ws.c ngx_beacon_module/core/ngx_beacon_ws.h ngx_beacon_module/core/ngx_beacon_json.c ngx_beacon_module/core/ngx_beacon_json.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/ws_test.c \
	    ngx_beacon_module/core/ngx_beacon_ws.c ngx_beacon_module/core/ngx_beacon_json.c \
	    -lcrypto -lsodium

$(B)/unit_json: t/unit/json_test.c t/unit/tap.h ngx_beacon_module/core/ngx_beacon_json.c ngx_beacon_module/core/ngx_beacon_json.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/json_test.c \
	    ngx_beacon_module/core/ngx_beacon_json.c -lsodium

$(B)/unit_stun: t/unit/stun_test.c t/unit/tap.h ngx_beacon_module/core/ngx_beacon_stun.c ngx_beacon_module/core/ngx_beacon_stun.h ngx_beacon_module/core/ngx_beacon_proto.c ngx_beacon_module/core/ngx_beacon_proto.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/stun_test.c \
	    ngx_beacon_module/core/ngx_beacon_stun.c ngx_beacon_module/core/ngx_beacon_proto.c -lsodium
REPLY_SRCS := ngx_beacon_module/pilot/ngx_beacon_registry_reply.c \
              ngx_beacon_module/core/ngx_beacon_json.c \
              ngx_beacon_module/core/ngx_beacon_proto.c \
              ngx_beacon_module/core/ngx_beacon_ipc_msg.c

$(B)/unit_reply: t/unit/reply_test.c t/unit/tap.h $(REPLY_SRCS) ngx_beacon_module/pilot/ngx_beacon_registry_reply.h ngx_beacon_module/core/ngx_beacon_ipc_msg.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/reply_test.c $(REPLY_SRCS) -lsodium

COMPAT_SRCS := ngx_beacon_module/compat/ngx_beacon_compat_session.c \
               ngx_beacon_module/core/ngx_beacon_ws.c \
               ngx_beacon_module/core/ngx_beacon_json.c

$(B)/unit_compat: t/unit/compat_session_test.c t/unit/tap.h $(COMPAT_SRCS) ngx_beacon_module/compat/ngx_beacon_compat_session.h ngx_beacon_module/core/ngx_beacon_ws.h ngx_beacon_module/core/ngx_beacon_json.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/compat_session_test.c $(COMPAT_SRCS) \
	    -lsodium -lcrypto

# the identity reader reads its JSON with the module's one JSON reader
OFFSET_SRCS := ngx_beacon_module/offset/ngx_beacon_offset_crypto.c ngx_beacon_module/offset/ngx_beacon_offset_ident.c ngx_beacon_module/core/ngx_beacon_json.c
OFFSET_DEPS := $(OFFSET_SRCS) ngx_beacon_module/offset/ngx_beacon_offset_crypto.h ngx_beacon_module/offset/ngx_beacon_offset_ident.h ngx_beacon_module/core/ngx_beacon_json.h

$(B)/unit_offset_crypto: t/unit/offset_crypto_test.c t/unit/tap.h $(OFFSET_DEPS)
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/offset_crypto_test.c $(OFFSET_SRCS) \
	    -lsodium -lcrypto

$(B)/unit_capnp: t/unit/capnp_test.c t/unit/tap.h ngx_beacon_module/offset/ngx_beacon_offset_capnp.c ngx_beacon_module/offset/ngx_beacon_offset_capnp.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/capnp_test.c \
	    ngx_beacon_module/offset/ngx_beacon_offset_capnp.c -lsodium

# the pure Offset relay connection core, through the fuzz bench
OFFSET_CONN_SRCS := ngx_beacon_module/offset/ngx_beacon_offset_conn.c \
                    ngx_beacon_module/offset/ngx_beacon_offset_crypto.c \
                    ngx_beacon_module/offset/ngx_beacon_offset_capnp.c

$(B)/unit_offset_conn: t/unit/offset_conn_test.c t/unit/tap.h t/fuzz/offset_fuzz.h $(OFFSET_CONN_SRCS) ngx_beacon_module/offset/ngx_beacon_offset_conn.h
	mkdir -p $(B)
	$(CC) $(TEST_CFLAGS) -o $@ t/unit/offset_conn_test.c $(OFFSET_CONN_SRCS) \
	    -lsodium

# the seed corpora of the offset_handshake and offset_relay fuzz targets
offset-seeds:
	$(CC) $(TEST_CFLAGS) -o $(B)/offset_seeds t/fuzz/offset_seeds.c \
	    $(OFFSET_CONN_SRCS) -lsodium
	rm -rf t/fuzz/corpus-offset_handshake t/fuzz/corpus-offset_relay
	$(B)/offset_seeds t/fuzz/corpus-offset_handshake t/fuzz/corpus-offset_relay

# identity files and relay tickets for Offset nodes (stmgr-compatible)
# (shipped by make deb: built with Debian's hardening flags)
TOOL_CFLAGS := $(CFLAGS_DEB) -Wall -Wextra -Werror $(BEACON_INCS)

$(B)/beacon-offset-tool: ngx_beacon_module/tools/beacon_offset_tool.c $(OFFSET_DEPS)
	mkdir -p $(B)
	$(CC) $(TOOL_CFLAGS) -o $@ ngx_beacon_module/tools/beacon_offset_tool.c \
	    $(OFFSET_SRCS) $(LDFLAGS_DEB) -lsodium

# sends a DISCOVER and prints the reply (README's quick start, the package)
$(B)/beacon-probe: ngx_beacon_module/tools/beacon_probe.c ngx_beacon_module/core/ngx_beacon_proto.c ngx_beacon_module/core/ngx_beacon_proto.h
	mkdir -p $(B)
	$(CC) $(TOOL_CFLAGS) -o $@ ngx_beacon_module/tools/beacon_probe.c \
	    ngx_beacon_module/core/ngx_beacon_proto.c $(LDFLAGS_DEB) -lsodium

# the WebSocket/TLS client the compat tests drive
$(B)/wsc: t/tools/wsc.c ngx_beacon_module/core/ngx_beacon_ws.c ngx_beacon_module/core/ngx_beacon_ws.h
	mkdir -p $(B)
	$(CC) -O2 -g -Wall -Wextra -Werror $(BEACON_INCS) -o $@ t/tools/wsc.c \
	    -lssl -lcrypto -lsodium

# the Offset node the relay tests and benchmarks drive (t/offset_*.t)
$(B)/offset_node: t/tools/offset_node.c $(OFFSET_DEPS) ngx_beacon_module/offset/ngx_beacon_offset_capnp.c ngx_beacon_module/offset/ngx_beacon_offset_capnp.h
	mkdir -p $(B)
	$(CC) -O2 -g -Wall -Wextra -Werror $(BEACON_INCS) -o $@ t/tools/offset_node.c \
	    $(OFFSET_SRCS) ngx_beacon_module/offset/ngx_beacon_offset_capnp.c -pthread -lsodium -lcrypto

deps:
	@if ! dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1; then \
	    $(SUDO) apt-get update && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y $(DEB_PACKAGES); \
	fi

test-deps: deps stun-deps
	@if ! dpkg -s $(TEST_PACKAGES) >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y \
	        --no-install-recommends $(TEST_PACKAGES) || \
	    echo "note: $(TEST_PACKAGES) not installed; promtool and gdb checks will be skipped"; \
	fi

# the STUN clients: Debian packages, and aioice in $(PYENV) (the tests look
# for $(PYENV)/bin/python first, then python3)
stun-deps: deps
	@if ! dpkg -s $(STUN_PACKAGES) >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y \
	        --no-install-recommends $(STUN_PACKAGES); \
	fi
	@if ! $(PYENV)/bin/python -c 'import aioice' >/dev/null 2>&1; then \
	    rm -rf $(PYENV) && python3 -m venv $(PYENV) && \
	    $(PYENV)/bin/pip install -q aioice; \
	fi

run: deps all
	mkdir -p $(B)/run/logs $(B)/run/modules
	ln -sf /usr/lib/nginx/modules/ngx_stream_module.so $(B)/run/modules/
	ln -sf $(MODULE) $(B)/run/modules/
	@echo "beacon on udp 127.0.0.1:9001, status on http://127.0.0.1:8080/beacon/status"
	@echo "in another terminal:  $(BUILD)/beacon-probe 127.0.0.1:9001"
	@echo "                      curl -s http://127.0.0.1:8080/beacon/status"
	@echo "Ctrl-C stops nginx."
	$(NGINX_BIN) -p $(B)/run/ -c $(CURDIR)/conf.examples/beacon.conf \
	    -e $(B)/run/logs/error.log -g 'daemon off; error_log stderr notice;'

test: test-deps all
	TEST_NGINX_BINARY=$(NGINX_BIN) TEST_NGINX_BEACON_MODULE=$(MODULE) \
	TEST_BEACON_BUILD=$(B) prove -r t/

# make test-sanitize: an nginx of NGINX_SANITIZE_TARBALL (a release tarball
# with ./configure, or a "git archive" of the nginx repository with
# ./auto/configure) built with SANITIZE_FLAGS; the module is built in (the
# suite runs with TEST_NGINX_BEACON_MODULE empty: no load_module line), and a
# second configuration of the same tree builds nginx without it plus the
# module as a .so, which must pass "nginx -t" with a load_module line. The
# unit tests are rebuilt with the sanitizers too (TEST_BEACON_BUILD). Reports
# go to per-test files (the harness sets log_path in the test directory and
# fails the test file that caused one); t/sanitize/ubsan.supp names the two
# known reports in nginx's own core and nothing else, t/sanitize/lsan.supp
# is empty ("nginx -t" runs with detect_leaks=0, the master and workers with
# leak detection), t/sanitize/asan.supp is for the dynamic pair only (the
# ngx_modules globals nginx generates in both). README.md, Tests.
NGINX_SANITIZE_TARBALL ?= ../shared/vendor/nginx-1.31.4.tar.gz
SANITIZE_VERSION = $(patsubst nginx-%.tar.gz,%,$(notdir $(NGINX_SANITIZE_TARBALL)))
SAN            = $(B)/sanitize-$(SANITIZE_VERSION)
SANITIZE_FLAGS ?= -fsanitize=address,undefined -fno-omit-frame-pointer
# clang: its UBSan runtime starts with ASan's, at exec; gcc's libubsan reads
# UBSAN_OPTIONS at the first report from /proc/self/environ, which nginx's
# setproctitle has overwritten by then (no suppressions, no log_path)
SANITIZE_CC    ?= clang
SANITIZE_PROVE ?= prove -r
# run with the dynamic build (nginx without the module + the .so) as well
SANITIZE_DYNAMIC_TESTS ?= t/beacon_discover.t t/compat_http.t
SANITIZE_CONF  := --with-debug --with-threads --with-pcre-jit \
                  --with-http_ssl_module --with-http_v2_module \
                  --with-http_realip_module --with-http_stub_status_module \
                  --with-http_auth_request_module --with-http_sub_module \
                  --with-http_gzip_static_module --with-http_gunzip_module \
                  --with-http_slice_module --with-http_dav_module \
                  --with-stream --with-stream_ssl_module \
                  --with-stream_realip_module --with-stream_ssl_preread_module

# unpack and configure one build of the tree: $(call san_configure,dir,args)
define san_configure
	rm -rf $(SAN)/$(1)
	mkdir -p $(SAN)/$(1)
	tar -xzf $(NGINX_SANITIZE_TARBALL) -C $(SAN)/$(1) --strip-components=1
	cd $(SAN)/$(1) && \
	    if [ -f configure ]; then conf=./configure; else conf=./auto/configure; fi && \
	    $$conf --with-cc="$(SANITIZE_CC)" --prefix=$(SAN)/$(1)/prefix \
	        --with-cc-opt="-g -O1 $(SANITIZE_FLAGS)" \
	        --with-ld-opt="$(SANITIZE_FLAGS)" $(SANITIZE_CONF) \
	        $(2) > configure.log 2>&1 || { cat configure.log; exit 1; }
endef

$(SAN)/static/.configured: $(NGINX_SANITIZE_TARBALL) config
	$(call san_configure,static,--add-module=$(CURDIR))
	touch $@

$(SAN)/dynamic/.configured: $(NGINX_SANITIZE_TARBALL) config
	$(call san_configure,dynamic,--with-compat --add-dynamic-module=$(CURDIR))
	touch $@

$(SAN)/nginx: $(SAN)/static/.configured $(SRCS)
	$(MAKE) -s -C $(SAN)/static build
	cp $(SAN)/static/objs/nginx $@.tmp && mv -f $@.tmp $@

$(SAN)/nginx-dynamic: $(SAN)/dynamic/.configured $(SRCS)
	$(MAKE) -s -C $(SAN)/dynamic build
	cp $(SAN)/dynamic/objs/ngx_stream_beacon_module.so $(SAN)/ngx_stream_beacon_module.so
	cp $(SAN)/dynamic/objs/nginx $@.tmp && mv -f $@.tmp $@

SANITIZE_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

sanitize-nginx: deps
	@test -f $(NGINX_SANITIZE_TARBALL) || { echo "test-sanitize: no nginx tree" \
	    "$(NGINX_SANITIZE_TARBALL) (set NGINX_SANITIZE_TARBALL)" >&2; exit 1; }
	$(MAKE) -j$(SANITIZE_JOBS) $(SAN)/nginx $(SAN)/nginx-dynamic
	$(MAKE) -s CC=$(SANITIZE_CC) BUILD=$(BUILD)/sanitize-$(SANITIZE_VERSION)/tools \
	    TEST_CFLAGS="$(TEST_CFLAGS) $(SANITIZE_FLAGS) -fno-sanitize-recover=all" tools

test-sanitize: test-deps sanitize-nginx
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:suppressions=$(CURDIR)/t/sanitize/ubsan.supp \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/t/sanitize/lsan.supp && \
	bash t/sanitize/dynamic_check.sh $(SAN) && \
	ASAN_OPTIONS=$$ASAN_OPTIONS:suppressions=$(CURDIR)/t/sanitize/asan.supp \
	TEST_BEACON_SANITIZE=1 TEST_NGINX_BINARY=$(SAN)/nginx-dynamic \
	TEST_NGINX_BEACON_MODULE=$(SAN)/ngx_stream_beacon_module.so \
	TEST_BEACON_BUILD=$(SAN)/tools prove $(SANITIZE_DYNAMIC_TESTS) && \
	TEST_BEACON_SANITIZE=1 TEST_NGINX_BINARY=$(SAN)/nginx \
	TEST_NGINX_BEACON_MODULE= TEST_BEACON_BUILD=$(SAN)/tools \
	$(SANITIZE_PROVE) t/

fuzz: deps
	bash t/fuzz/run.sh $(FUZZ_SECONDS)

bench: deps all
	bash t/bench/run.sh; rc=$$?; bash t/bench/sweep.sh; bash t/bench/offset.sh || rc=1; \
	bash t/bench/stun.sh || rc=1; exit $$rc

# the STUN part alone: nginx against coturn
bench-stun: deps stun-deps all
	bash t/bench/stun.sh

# the Offset relay part alone
bench-offset: deps all
	bash t/bench/offset.sh

# make deb: build/libnginx-mod-stream-beacon_<version>-<rev>_<arch>.deb, a binary
# package laid out the way Debian's dh_nginx lays out libnginx-mod-* packages
# (design/nginx-craft.md §9), put together with dpkg-deb under build/deb-src/
# (no debian/ directory in the repository). The name gives load priority 70, so
# modules-enabled/70-mod-stream-beacon.conf sorts after 50-mod-stream.conf.
# Depends: libnginx-mod-stream, the nginx ABI the module was built against
# (nginx:abi from nginx-dev's libnginx-mod.abisubstvars, else the installed nginx
# package's nginx-abi-* Provides; DEB_NGINX_ABI overrides) and the shared
# libraries dpkg-shlibdeps finds (libc6, libsodium23). No conffiles. It also
# ships the tools, /usr/bin/beacon-offset-tool (Offset identity files and
# tickets) and /usr/bin/beacon-probe (a DISCOVER), with their man pages.
DEB_PKG        := libnginx-mod-stream-beacon
DEB_REVISION   ?= 1
DEB_VERSION     = $(shell sed -n 's/.*NGX_BEACON_VERSION[[:space:]]*"\([^"]*\)".*/\1/p' ngx_beacon_module/ngx_beacon.h | head -n1)-$(DEB_REVISION)
DEB_ARCH        = $(shell dpkg --print-architecture)
DEB_FILE        = $(B)/$(DEB_PKG)_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_NGINX_ABI  ?=
DEB_MAINTAINER ?= $(or $(shell git config user.name 2>/dev/null),ngx_beacon_module authors) <$(or $(shell git config user.email 2>/dev/null),root@localhost)>

# Maintainer scripts, the behaviour of dh_nginx's: enable on fresh install, keep
# the administrator's choice on upgrade, disable on remove (link renamed to
# *.removed, which the *.conf include no longer matches, restored on reinstall),
# delete on purge. The reload goes through the nginx-reload trigger: nginx's own
# postinst reloads only if "invoke-rc.d nginx status" says it runs (systemd or
# not) and never fails on it.
define DEB_POSTINST
#!/bin/sh
set -e
avail=/usr/share/nginx/modules-available/mod-stream-beacon.conf
link=/etc/nginx/modules-enabled/70-mod-stream-beacon.conf

case "$1" in
configure|abort-remove|abort-deconfigure)
    if [ -L "$link.removed" ]; then
        rm -f "$link.removed"
        ln -sf "$avail" "$link"
    elif [ "$1" = configure ] && [ -z "$2" ]; then
        ln -sf "$avail" "$link"
    fi
    if [ "$1" = configure ] && [ -n "$2" ]; then
        echo "libnginx-mod-stream-beacon: run 'systemctl restart nginx' to load the new module;"
        echo "a reload keeps the old code mapped (the beacon zone is lost on restart)."
    fi
    if command -v dpkg-trigger >/dev/null 2>&1; then
        dpkg-trigger --no-await nginx-reload || true
    fi
    ;;
esac
exit 0
endef

define DEB_PRERM
#!/bin/sh
set -e
link=/etc/nginx/modules-enabled/70-mod-stream-beacon.conf

case "$1" in
remove|deconfigure)
    if [ -L "$link" ]; then
        mv -f "$link" "$link.removed"
    fi
    ;;
esac
exit 0
endef

define DEB_POSTRM
#!/bin/sh
set -e
link=/etc/nginx/modules-enabled/70-mod-stream-beacon.conf

case "$1" in
remove)
    if [ -L "$link" ]; then
        mv -f "$link" "$link.removed"
    fi
    if command -v dpkg-trigger >/dev/null 2>&1; then
        dpkg-trigger --no-await nginx-reload || true
    fi
    ;;
purge)
    rm -f "$link" "$link.removed"
    ;;
esac
exit 0
endef

.PHONY: deb
deb: export DEB_POSTINST_SH = $(value DEB_POSTINST)
deb: export DEB_PRERM_SH = $(value DEB_PRERM)
deb: export DEB_POSTRM_SH = $(value DEB_POSTRM)
deb: $(MODULE) $(B)/beacon-offset-tool $(B)/beacon-probe
	@set -euo pipefail; \
	case '$(DEB_VERSION)' in [0-9]*-*) ;; \
	    *) echo "deb: no NGX_BEACON_VERSION in ngx_beacon_module/ngx_beacon.h" >&2; exit 1;; esac; \
	src=$(B)/deb-src; pkg=$$src/debian/$(DEB_PKG); doc=$$pkg/usr/share/doc/$(DEB_PKG); \
	so=$$pkg/usr/lib/nginx/modules/ngx_stream_beacon_module.so; \
	rm -rf $$src; \
	install -d -m 0755 $$pkg/DEBIAN $$pkg/usr/lib/nginx/modules \
	    $$pkg/usr/share/nginx/modules-available $$doc \
	    $$pkg/usr/bin $$pkg/usr/share/man/man1; \
	install -m 0644 $(MODULE) $$so; \
	strip --strip-unneeded --remove-section=.comment --remove-section=.note $$so; \
	for tool in beacon-offset-tool beacon-probe; do \
	    install -m 0755 $(B)/$$tool $$pkg/usr/bin/$$tool; \
	    strip --remove-section=.comment --remove-section=.note $$pkg/usr/bin/$$tool; \
	    gzip -9n < man/$$tool.1 > $$pkg/usr/share/man/man1/$$tool.1.gz; \
	    chmod 0644 $$pkg/usr/share/man/man1/$$tool.1.gz; \
	done; \
	echo 'load_module modules/ngx_stream_beacon_module.so;' \
	    > $$pkg/usr/share/nginx/modules-available/mod-stream-beacon.conf; \
	{ echo 'ngx_beacon_module, packaged as $(DEB_PKG).'; echo; cat LICENSE; } > $$doc/copyright; \
	{ echo '$(DEB_PKG) ($(DEB_VERSION)) unstable; urgency=medium'; echo; \
	  echo '  * Built from the ngx_beacon_module tree with "make deb".'; echo; \
	  echo " -- $(DEB_MAINTAINER)  $$(date -R)"; } | gzip -9n > $$doc/changelog.Debian.gz; \
	chmod 0644 $$doc/*; \
	abi='$(DEB_NGINX_ABI)'; \
	[ -n "$$abi" ] || abi=$$(sed -n 's/^nginx:abi=//p' $(NGINX_SRC)/debian/libnginx-mod.abisubstvars 2>/dev/null || true); \
	[ -n "$$abi" ] || abi=$$(dpkg-query -W -f '$${Provides}' nginx 2>/dev/null | tr ',' '\n' \
	    | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p' | head -n1); \
	[ -n "$$abi" ] || { echo "deb: cannot tell the nginx ABI (install nginx-dev or set DEB_NGINX_ABI)" >&2; exit 1; }; \
	if command -v dpkg-shlibdeps >/dev/null 2>&1; then \
	    printf 'Source: ngx-beacon-module\n\nPackage: $(DEB_PKG)\nArchitecture: any\n' > $$src/debian/control; \
	    shlibs=$$(cd $$src && dpkg-shlibdeps -O -edebian/$(DEB_PKG)/usr/lib/nginx/modules/ngx_stream_beacon_module.so \
	        -edebian/$(DEB_PKG)/usr/bin/beacon-offset-tool -edebian/$(DEB_PKG)/usr/bin/beacon-probe \
	        | sed -n 's/^shlibs:Depends=//p'); \
	else \
	    shlibs='libc6, libsodium23'; \
	fi; \
	printf '%s\n' "$$DEB_POSTINST_SH" > $$pkg/DEBIAN/postinst; \
	printf '%s\n' "$$DEB_PRERM_SH" > $$pkg/DEBIAN/prerm; \
	printf '%s\n' "$$DEB_POSTRM_SH" > $$pkg/DEBIAN/postrm; \
	chmod 0755 $$pkg/DEBIAN/postinst $$pkg/DEBIAN/prerm $$pkg/DEBIAN/postrm; \
	(cd $$pkg && find usr -type f -print0 | sort -z | xargs -0 md5sum) > $$pkg/DEBIAN/md5sums; \
	{ echo 'Package: $(DEB_PKG)'; \
	  echo 'Version: $(DEB_VERSION)'; \
	  echo 'Architecture: $(DEB_ARCH)'; \
	  echo 'Maintainer: $(DEB_MAINTAINER)'; \
	  echo "Installed-Size: $$(du -sk --exclude=DEBIAN $$pkg | cut -f1)"; \
	  echo "Depends: libnginx-mod-stream, $$abi, $$shlibs"; \
	  echo 'Section: httpd'; \
	  echo 'Priority: optional'; \
	  echo 'Description: Pilot Protocol beacon (NAT traversal) module for nginx stream'; \
	  echo ' ngx_beacon_module serves the Pilot Protocol beacon from the nginx stream'; \
	  echo ' workers: endpoint discovery, hole-punch coordination and UDP relay for'; \
	  echo ' peers behind NATs, with node state in a shared-memory zone.'; \
	  echo ' .'; \
	  echo ' The module is enabled as modules-enabled/70-mod-stream-beacon.conf, after'; \
	  echo ' the stream module. After an upgrade, restart nginx to load the new code.'; \
	  echo ' .'; \
	  echo ' Tools: beacon-offset-tool writes the identity file and relay ticket of an'; \
	  echo ' Offset relay (stmgr-compatible); beacon-probe sends a DISCOVER to a beacon'; \
	  echo ' and prints the address it saw.'; \
	} > $$pkg/DEBIAN/control; \
	chmod 0644 $$pkg/DEBIAN/control $$pkg/DEBIAN/md5sums; \
	dpkg-deb --root-owner-group --build $$pkg $(DEB_FILE).tmp >/dev/null; \
	mv -f $(DEB_FILE).tmp $(DEB_FILE); \
	echo "built $(DEB_FILE)"

clean:
	rm -rf $(B)
