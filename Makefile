# restic-manager — one GNU Makefile; per-concern fragments live in mk/*.mk.
# make build | check | dist | agents | server-static TARGET=amd64|arm64 | run | clean
# SANITIZE=address,undefined builds into build/san/ (binaries in build/san/bin/).

VERSION ?= dev
COMMIT  ?= none
DATE    ?= unknown
SANITIZE ?=

CC      ?= cc
PKGS_SERVER := libevent libevent_pthreads jansson sqlite3 libsodium libcurl
PKGS_AGENT  := libcurl jansson

ifeq ($(SANITIZE),)
  VARIANT := native
  BINDIR  := bin
  SANFLAGS :=
else
  VARIANT := san
  BINDIR  := build/san/bin
  SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
OBJDIR := build/$(VARIANT)/obj

WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wcast-qual -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wformat-security -Wundef -Wvla -Wwrite-strings \
        -Wimplicit-fallthrough -Wold-style-definition -Wnull-dereference -Wdouble-promotion
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) -Isrc -Ibuild/gen \
        -DRM_VERSION='"$(VERSION)"' -DRM_COMMIT='"$(COMMIT)"' -DRM_DATE='"$(DATE)"'
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)

COMMON_SRC := $(filter-out src/common/plat_fs_win32.c,$(wildcard src/common/*.c))
SERVER_SRC := $(wildcard src/server/*.c)
AGENT_SRC  := $(filter-out src/agent/plat_win32%.c src/agent/http_winhttp.c,$(wildcard src/agent/*.c))

COMMON_OBJ := $(COMMON_SRC:src/%.c=$(OBJDIR)/%.o)
SERVER_OBJ := $(SERVER_SRC:src/%.c=$(OBJDIR)/%.o)
AGENT_OBJ  := $(AGENT_SRC:src/%.c=$(OBJDIR)/%.o)

SERVER_CFLAGS := $(shell pkg-config --cflags $(PKGS_SERVER) 2>/dev/null)
SERVER_LIBS   := $(shell pkg-config --libs $(PKGS_SERVER) 2>/dev/null) -lpthread
AGENT_CFLAGS  := $(shell pkg-config --cflags $(PKGS_AGENT) 2>/dev/null)
AGENT_LIBS    := $(shell pkg-config --libs $(PKGS_AGENT) 2>/dev/null)

.PHONY: all build check deps run clean lint format unit system
all: build
build: $(BINDIR)/restic-manager-server $(if $(AGENT_SRC),$(BINDIR)/restic-manager-agent)

$(OBJDIR)/%.o: src/%.c build/gen/web_assets.h
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) $(SERVER_CFLAGS) $(AGENT_CFLAGS) -MMD -MP -c $< -o $@

$(BINDIR)/restic-manager-server: $(SERVER_OBJ) $(COMMON_OBJ) build/$(VARIANT)/obj/web_assets.o
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(SERVER_LIBS)

$(BINDIR)/restic-manager-agent: $(AGENT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(AGENT_LIBS)

# The web UI is embedded at build time: scripts/embed-web.sh turns web/ into a C table.
WEB_FILES := $(shell find web -type f 2>/dev/null | LC_ALL=C sort)
build/gen/web_assets.c build/gen/web_assets.h &: scripts/embed-web.sh $(WEB_FILES)
	@mkdir -p build/gen
	sh scripts/embed-web.sh web build/gen
build/$(VARIANT)/obj/web_assets.o: build/gen/web_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Wmissing-prototypes,$(ALL_CFLAGS)) -c $< -o $@

-include $(shell find build/$(VARIANT)/obj -name '*.d' 2>/dev/null)
-include mk/*.mk

deps:
	sh scripts/deps.sh

check:
	bash scripts/check.sh

lint:
	sh scripts/check-banned.sh

format:
	clang-format -i $(COMMON_SRC) $(SERVER_SRC) $(AGENT_SRC) src/*/*.h

# Run a development server with its data in ./data (RM_COOKIE_SECURE off for plain http).
RUN_LISTEN ?= 127.0.0.1:8080
run: build
	RM_DATA_DIR=$${RM_DATA_DIR:-$(CURDIR)/data} RM_COOKIE_SECURE=$${RM_COOKIE_SECURE:-false} \
	RM_BUNDLED_ASSETS_DIR=$${RM_BUNDLED_ASSETS_DIR:-$(CURDIR)/dist/opt/restic-manager/dist} \
	RM_BASE_URL=$${RM_BASE_URL:-http://$(RUN_LISTEN)} \
	  $(BINDIR)/restic-manager-server --listen $(RUN_LISTEN)

clean:
	rm -rf bin build/native build/san build/gen build/unit dist
