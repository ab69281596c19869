# Unit tests: tests/unit/test_<area>_*.c, one program each, linked against the
# objects of their area (common | server | agent) minus the program's main.o.
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/$(VARIANT)/unit/%)
SERVER_LIB_OBJ := $(filter-out %/server/main.o,$(SERVER_OBJ)) build/$(VARIANT)/obj/web_assets.o
AGENT_LIB_OBJ  := $(filter-out %/agent/main.o,$(AGENT_OBJ))
UNIT_CFLAGS = $(filter-out -Wmissing-prototypes,$(ALL_CFLAGS)) -Itests/unit $(SERVER_CFLAGS) $(AGENT_CFLAGS)

build/$(VARIANT)/unit/test_common_%: tests/unit/test_common_%.c $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -o $@ $^ $(LDFLAGS_ALL)
build/$(VARIANT)/unit/test_server_%: tests/unit/test_server_%.c $(SERVER_LIB_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -o $@ $^ $(LDFLAGS_ALL) $(SERVER_LIBS)
build/$(VARIANT)/unit/test_agent_%: tests/unit/test_agent_%.c $(AGENT_LIB_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -o $@ $^ $(LDFLAGS_ALL) $(AGENT_LIBS)

.PHONY: unit-build
unit-build: $(UNIT_BIN)
