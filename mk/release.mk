# Release builds (DESIGN.md §9): fully static agents for three targets, a fully
# static server for the image, the image's /opt/restic-manager/dist tree, sizes.
#
#   make agents                     build/agents/restic-manager-agent-{linux-amd64,linux-arm64,windows-amd64.exe}
#   make server-static TARGET=amd64 build/server-static/amd64/restic-manager-server (or arm64)
#   make dist                       dist/opt/restic-manager/dist/… + dist/SHA256SUMS
#   make size-report                agent sizes against the 2 MB budget, idle RSS of the Linux agent
#   make static-deps                (re)link build/deps/<triplet> from the dependency cache
#   make clean-release              remove the release outputs (the dependency cache stays)
#
# Third-party libraries come from scripts/static-deps.sh (Debian source packages built
# into a cache outside the clone, linked as build/deps/<triplet>); the first make of a
# target runs it for that triplet.  Linux targets use musl (x86_64 via the musl specs,
# aarch64 via aarch64-linux-gnu-gcc + musl-dev:arm64's specs), Windows MinGW-w64.
# Objects live in build/static/<triplet>/<agent|server>/; VERSION/COMMIT/DATE changes
# rebuild them (build/static/version.stamp).

DEPS := build/deps
REL_TRIPLET_amd64 := x86_64-linux-musl
REL_TRIPLET_arm64 := aarch64-linux-musl
REL_TRIPLET_win   := x86_64-w64-mingw32
REL_CC_x86_64-linux-musl  := $(DEPS)/bin/x86_64-linux-musl-gcc
REL_CC_aarch64-linux-musl := $(DEPS)/bin/aarch64-linux-musl-gcc
REL_CC_x86_64-w64-mingw32 := x86_64-w64-mingw32-gcc
# MinGW: gmtime_r/localtime_r need _POSIX_THREAD_SAFE_FUNCTIONS; C99 printf
# formats (%zu, %lld) need MinGW's own stdio rather than msvcrt's.
REL_TFLAGS_x86_64-w64-mingw32 := -D_POSIX_THREAD_SAFE_FUNCTIONS=200112L -D__USE_MINGW_ANSI_STDIO=1

# Sources: the Linux agent leaves out the Windows platform files, the Windows agent
# the POSIX ones.  The Windows agent is built only once src/agent/plat_win32.c exists.
REL_AGENT_SRC_LINUX := $(AGENT_SRC)
REL_AGENT_SRC_WIN   := $(filter-out src/agent/plat_posix.c,$(wildcard src/agent/*.c))
REL_COMMON_SRC_WIN  := $(filter-out src/common/plat_fs_posix.c,$(wildcard src/common/*.c))
REL_HAVE_WIN        := $(wildcard src/agent/plat_win32.c)

REL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) -Isrc -Ibuild/gen -DCURL_STATICLIB \
	-DRM_VERSION='"$(VERSION)"' -DRM_COMMIT='"$(COMMIT)"' -DRM_DATE='"$(DATE)"' \
	-ffunction-sections -fdata-sections -Wno-format-truncation
# -Wno-format-truncation: at -Os GCC's range analysis flags intended, bounded
# snprintf truncations that -O2 does not; the native build keeps the warning.
REL_OPT_agent  := -Os
REL_OPT_server := -O2
REL_LDFLAGS := -static -s -Wl,--gc-sections
REL_LIBS_agent_linux := -lcurl -lmbedtls -lmbedx509 -lmbedcrypto -ljansson
REL_LIBS_agent_win   := -lcurl -ljansson -lbcrypt -lcrypt32 -lsecur32 -lws2_32 -ladvapi32 -luserenv -pthread
REL_LIBS_server      := -levent_pthreads -levent_extra -levent_core -ljansson -lsqlite3 -lsodium \
	-lcurl -lmbedtls -lmbedx509 -lmbedcrypto -lpthread -lm
# The server links its own curl (HTTP(S)+SMTP for alert notifications; scripts/static-deps.sh).
REL_SERVER_CURL = $(DEPS)/$(REL_T)/server-curl/lib/libcurl.a

AGENT_NAMES := restic-manager-agent-linux-amd64 restic-manager-agent-linux-arm64 \
	$(if $(REL_HAVE_WIN),restic-manager-agent-windows-amd64.exe)
AGENT_BINS := $(AGENT_NAMES:%=build/agents/%)

.PHONY: agents server-static dist size-report static-deps release-check-agent-src

# musl has no <sys/queue.h> (BSD list macros; libevent's keyvalq and http.c use
# TAILQ): the host C library's copy is put on the include path after everything else.
REL_COMPAT := build/static/compat/sys/queue.h
# Written atomically: parallel sub-makes may all reach this rule at once.
$(REL_COMPAT):
	@mkdir -p $(dir $@)
	cp $(firstword $(wildcard /usr/include/*-linux-gnu/sys/queue.h /usr/include/sys/queue.h)) $@.tmp.$$$$ && mv -f $@.tmp.$$$$ $@
REL_CFLAGS += -idirafter build/static/compat

# Objects of one (triplet, role): $(1) triplet, $(2) agent|server
define REL_OBJ_RULE
build/static/$(1)/$(2)/%.o: src/%.c $(if $(filter server,$(2)),build/gen/web_assets.h) build/static/version.stamp | $(DEPS)/$(1)/lib/libjansson.a $(REL_COMPAT)
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$< ($(1) $(2))"
	@$$(REL_CC_$(1)) $$(REL_CFLAGS) $$(REL_TFLAGS_$(1)) $$(REL_OPT_$(2)) -I$(DEPS)/$(1)/include -MMD -MP -c $$< -o $$@
endef
$(foreach t,x86_64-linux-musl aarch64-linux-musl x86_64-w64-mingw32,$(eval $(call REL_OBJ_RULE,$(t),agent)))
$(foreach t,x86_64-linux-musl aarch64-linux-musl,$(eval $(call REL_OBJ_RULE,$(t),server)))

# One dependency tree per triplet, built (or re-linked from the cache) on first use.
$(DEPS)/%/lib/libjansson.a:
	bash scripts/static-deps.sh $*
static-deps:
	bash scripts/static-deps.sh

# Rebuild static objects when the embedded version changes (the content is the key).
REL_VERSION_LINE := $(VERSION) $(COMMIT) $(DATE)
build/static/version.stamp: FORCE_REL_VERSION
	@mkdir -p $(dir $@)
	@if [ ! -f $@ ] || [ "$$(cat $@)" != '$(REL_VERSION_LINE)' ]; then printf '%s\n' '$(REL_VERSION_LINE)' > $@.tmp.$$$$ && mv -f $@.tmp.$$$$ $@; fi
.PHONY: FORCE_REL_VERSION
FORCE_REL_VERSION:

release-check-agent-src:
	@if [ -z "$(AGENT_SRC)" ]; then echo "make agents: no agent sources in src/agent yet" >&2; exit 1; fi

# ---- agents ----
agents: release-check-agent-src $(AGENT_BINS)
	@ls -l $(AGENT_BINS)
	@if [ -z "$(REL_HAVE_WIN)" ]; then \
	  echo "NOTE: windows-amd64 agent NOT built: src/agent/plat_win32.c does not exist yet (the Windows port);"; \
	  echo "      its toolchain and libraries (build/deps/x86_64-w64-mingw32: curl+Schannel, jansson, mbedTLS) are ready."; \
	fi

build/agents/restic-manager-agent-linux-%: FORCE_REL_VERSION build/static/version.stamp | release-check-agent-src $(REL_COMPAT)
	@$(MAKE) --no-print-directory rel-agent-linux REL_T=$(REL_TRIPLET_$*) REL_OUT=$@

# A pattern rule (like the Linux one) so the sub-make's explicit $(REL_OUT) rule
# below replaces it instead of merging with it (FORCE would relink every time).
build/agents/restic-manager-agent-windows-%.exe: FORCE_REL_VERSION build/static/version.stamp | release-check-agent-src $(REL_COMPAT)
	@if [ -z "$(REL_HAVE_WIN)" ]; then echo "windows agent: src/agent/plat_win32.c does not exist yet" >&2; exit 1; fi
	@$(MAKE) --no-print-directory rel-agent-win REL_T=$(REL_TRIPLET_win) REL_OUT=$@

# The per-binary link steps run in a sub-make so the object lists can depend on REL_T.
ifneq ($(REL_T),)
REL_AGENT_OBJ_LINUX := $(patsubst src/%.c,build/static/$(REL_T)/agent/%.o,$(COMMON_SRC) $(REL_AGENT_SRC_LINUX))
REL_AGENT_OBJ_WIN   := $(patsubst src/%.c,build/static/$(REL_T)/agent/%.o,$(REL_COMMON_SRC_WIN) $(REL_AGENT_SRC_WIN))
REL_SERVER_OBJ      := $(patsubst src/%.c,build/static/$(REL_T)/server/%.o,$(COMMON_SRC) $(SERVER_SRC)) \
	build/static/$(REL_T)/server/web_assets.o
.PHONY: rel-agent-linux rel-agent-win rel-server
rel-agent-linux: $(REL_OUT)
rel-agent-win: $(REL_OUT)
rel-server: $(REL_OUT)
ifneq ($(filter rel-agent-linux,$(MAKECMDGOALS)),)
$(REL_OUT): $(REL_AGENT_OBJ_LINUX)
	@mkdir -p $(dir $@)
	$(REL_CC_$(REL_T)) -o $@ $(REL_AGENT_OBJ_LINUX) $(REL_LDFLAGS) -L$(DEPS)/$(REL_T)/lib $(REL_LIBS_agent_linux)
endif
ifneq ($(filter rel-agent-win,$(MAKECMDGOALS)),)
$(REL_OUT): $(REL_AGENT_OBJ_WIN)
	@mkdir -p $(dir $@)
	$(REL_CC_$(REL_T)) -o $@ $(REL_AGENT_OBJ_WIN) $(REL_LDFLAGS) -static-libgcc -Wl,--no-insert-timestamp -L$(DEPS)/$(REL_T)/lib $(REL_LIBS_agent_win)
endif
ifneq ($(filter rel-server,$(MAKECMDGOALS)),)
$(REL_OUT): $(REL_SERVER_OBJ) | $(REL_SERVER_CURL)
	@mkdir -p $(dir $@)
	$(REL_CC_$(REL_T)) -o $@ $(REL_SERVER_OBJ) $(REL_LDFLAGS) -L$(DEPS)/$(REL_T)/server-curl/lib -L$(DEPS)/$(REL_T)/lib \
	  $(REL_LIBS_server)
$(REL_SERVER_CURL):
	bash scripts/static-deps.sh $(REL_T)
endif
build/static/$(REL_T)/server/web_assets.o: build/gen/web_assets.c | $(DEPS)/$(REL_T)/lib/libjansson.a
	@mkdir -p $(dir $@)
	$(REL_CC_$(REL_T)) $(filter-out -Wmissing-prototypes,$(REL_CFLAGS)) $(REL_OPT_server) -c $< -o $@
endif

# ---- static server ----
TARGET ?= amd64
server-static: build/gen/web_assets.h build/static/version.stamp $(REL_COMPAT)
	@case "$(TARGET)" in amd64|arm64) ;; *) echo "server-static: TARGET must be amd64 or arm64" >&2; exit 2;; esac
	@$(MAKE) --no-print-directory rel-server REL_T=$(REL_TRIPLET_$(TARGET)) \
	  REL_OUT=build/server-static/$(TARGET)/restic-manager-server
	@ls -l build/server-static/$(TARGET)/restic-manager-server

# ---- dist: the image's /opt/restic-manager/dist tree, same names and modes ----
DIST_TREE := dist/opt/restic-manager/dist
INSTALL_FILES := deploy/install/install.sh deploy/install/install.ps1 deploy/install/restic-manager-agent.service
dist: agents $(INSTALL_FILES)
	rm -rf dist/opt
	install -d -m 0755 dist/opt dist/opt/restic-manager $(DIST_TREE) $(DIST_TREE)/agent-binaries $(DIST_TREE)/install
	install -m 0755 $(AGENT_BINS) $(DIST_TREE)/agent-binaries/
	install -m 0755 deploy/install/install.sh $(DIST_TREE)/install/
	install -m 0644 deploy/install/install.ps1 deploy/install/restic-manager-agent.service $(DIST_TREE)/install/
	cd $(DIST_TREE)/agent-binaries && sha256sum $(AGENT_NAMES) > ../../../../SHA256SUMS
	@cat dist/SHA256SUMS
	@if [ -z "$(REL_HAVE_WIN)" ]; then echo "NOTE: dist has no windows-amd64 agent yet (src/agent/plat_win32.c missing)"; fi

.PHONY: clean-release
clean-release:
	rm -rf build/static build/agents build/server-static dist

# ---- sizes and idle RSS ----
size-report: agents
	@/usr/bin/python3 scripts/size-report.py $(AGENT_BINS)

-include $(shell find build/static -name '*.d' 2>/dev/null)
