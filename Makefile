# threadkit - the only build system. See README.md.
#   make            libraries (build/libthreadkit.a, build/libthreadkit.so)
#   make test       dependencies, then every test (C and Lua)
#   make sanitize   the tests under ThreadSanitizer, then ASan+UBSan, fuzz
#   make valgrind   the C tests under valgrind (leaks are errors)
#   make helgrind   the C tests under helgrind
#   make soak       the randomized long run (SOAK_SECONDS, default 600)
#   make bench      benchmarks against peers (not a test)
#   make install    PREFIX=/usr/local by default

CC      ?= gcc
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O2
SAN     ?=
# Scales every test's time limit (sanitizers and valgrind are slower).
TK_TEST_TIMEOUT_MULTIPLIER ?= 1
export TK_TEST_TIMEOUT_MULTIPLIER

WARN := -Wall -Wextra -Werror -Wshadow -Wundef -Wwrite-strings \
        -Wmissing-prototypes -Wstrict-prototypes -Wmissing-declarations \
        -Wredundant-decls
CFLAGS_ALL := -std=c11 $(OPT) -g $(WARN) -D_POSIX_C_SOURCE=200809L \
              -fPIC -fvisibility=hidden -Iinclude -MMD -MP $(SAN) $(CFLAGS)
LDLIBS_ALL := -lpthread $(LDLIBS)

CORE_SRC := $(wildcard src/core/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
LIB_A    := $(BUILD)/libthreadkit.a
LIB_SO   := $(BUILD)/libthreadkit.so

# The Lua layer. LUA_INC / LUA_LIB may be overridden.
LUA      ?= lua5.4
LUA_INC  ?= /usr/include/lua5.4
LUA_LIB  ?= -l:liblua5.4.a
LUA_SRC  := $(wildcard src/lua_bindings/*.c)
LUA_OBJ  := $(LUA_SRC:%.c=$(BUILD)/%.o)
MODULE   := $(BUILD)/threadkit.so
LIB_LUA  := $(BUILD)/libthreadkit_lua.a
TKLUA    := $(BUILD)/tklua

TEST_SRC := $(wildcard tests/c/test_*.c)
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)

DEMO_C := $(BUILD)/demo_c

.PHONY: all lib module cli demo test test-c deps sanitize tsan asan valgrind bench install soak-memory \
        clean check-layering readme-example demo-check test-lua fuzz soak \
        helgrind

all: lib module cli $(LIB_LUA)
lib: $(LIB_A) $(LIB_SO)
module: $(MODULE)
cli: $(TKLUA)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/src/lua_bindings/%.o: src/lua_bindings/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -c $< -o $@

$(BUILD)/src/cli/%.o: src/cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -Isrc/lua_bindings -c $< -o $@

# The module resolves Lua's symbols from the interpreter that loads it.
$(MODULE): $(LUA_OBJ) $(CORE_OBJ)
	$(CC) $(SAN) -shared -o $@ $^ -lpthread

# tklua links Lua statically and exports its symbols for C modules. Its
# REPL edits lines with readline where its headers are (libreadline-dev).
CLI_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/cli/*.c))
READLINE ?= $(if $(wildcard /usr/include/readline/readline.h),-lreadline)
$(BUILD)/src/cli/repl.o: CFLAGS_ALL += $(if $(READLINE),-DTK_USE_READLINE)
$(TKLUA): $(CLI_OBJ) $(LUA_OBJ) $(LIB_A)
	$(CC) $(SAN) -Wl,-E -o $@ $^ $(LUA_LIB) $(READLINE) -lm -ldl -lpthread

# For C hosts that embed Lua with threadkit (threadkit.h, "embedding Lua").
$(LIB_LUA): $(LUA_OBJ) $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/host: scripts/examples/host.c $(LIB_LUA)
	$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -o $@ $< $(LIB_LUA) $(LUA_LIB) -lm -ldl -lpthread

$(LIB_A): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(CORE_OBJ)
	$(CC) $(SAN) -shared -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/c/%.c tests/c/tk_test.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc/core -o $@ $< $(LIB_A) -lcmocka $(LDLIBS_ALL)

# The transfer and embedding tests reach into the Lua layer: they link it
# and Lua.
LUA_TESTS := $(BUILD)/tests/test_transfer $(BUILD)/tests/test_embed
$(LUA_TESTS): $(BUILD)/tests/%: tests/c/%.c tests/c/tk_test.h $(LIB_LUA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -Isrc/lua_bindings -o $@ $< $(LIB_LUA) \
	  -lcmocka $(LUA_LIB) -lm -ldl $(LDLIBS_ALL)

deps:
	@sh scripts/deps.sh

$(DEMO_C): scripts/examples/demo.c $(LIB_A)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB_A) $(LDLIBS_ALL)

# The README's first command: build everything, run the Lua demo.
demo: deps $(TKLUA)
	@$(TKLUA) scripts/examples/demo.lua $(BUILD)/demo-trace.json

# Results of every suite go to $(BUILD)/results; scripts/summary.sh adds up.
test: deps
	@rm -f $(BUILD)/results
	@$(MAKE) --no-print-directory test-c test-lua check-layering readme-example demo-check test-programs
	@sh scripts/summary.sh $(BUILD)/results

test-c: $(TEST_BIN)
	@sh scripts/run_c_tests.sh $(BUILD) $(TEST_BIN)

# The specs run under stock lua5.4 loading build/threadkit.so; the CLI and
# example specs run build/tklua and build/host. TK_LUA_INTERP overrides the
# interpreter (the sanitizer runs use their tklua).
TK_LUA_INTERP ?= $(LUA)
# A shim that moves the wall clock for one CLI spec (not in sanitizer
# builds: their runtimes must come first among preloaded libraries).
CLOCK_SHIFT := $(BUILD)/clock_shift.so
test-lua: $(MODULE) $(TKLUA) $(BUILD)/host $(if $(SAN),,$(CLOCK_SHIFT))
	@sh scripts/run_lua_tests.sh $(BUILD) $(TK_LUA_INTERP)

$(CLOCK_SHIFT): tests/lua/clock_shift.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O1 -o $@ $< -ldl

# The corpus of real programs (tests/programs): each checks its work against
# a serial run. Under tsan/asan $(TKLUA) is the sanitized one.
.PHONY: test-programs
test-programs: $(TKLUA)
	@sh scripts/run_programs.sh $(BUILD) $(TKLUA)

check-layering:
	@if grep -rlE '#include *[<"](lua|lauxlib|lualib)\.h' src/core; then \
	  echo "src/core must not include Lua headers"; exit 1; fi

# The README's C example must compile and run.
readme-example: $(LIB_A)
	@mkdir -p $(BUILD)/readme
	@sed -n '/^```c$$/,/^```$$/p' README.md | sed '1d;$$d' > $(BUILD)/readme/example.c
	@$(CC) $(CFLAGS_ALL) -o $(BUILD)/readme/example $(BUILD)/readme/example.c \
	  $(LIB_A) $(LDLIBS_ALL)
	@if $(BUILD)/readme/example > $(BUILD)/readme/out.txt; then \
	  echo "readme example: ok"; echo "readme-example 1 0" >> $(BUILD)/results; \
	else echo "readme example: FAILED"; echo "readme-example 0 1" >> $(BUILD)/results; exit 1; fi

# The demos must run and tell their story.
demo-check: $(TKLUA) $(DEMO_C)
	@if $(TKLUA) scripts/examples/demo.lua $(BUILD)/demo-trace.json > $(BUILD)/demo.out 2>&1 && \
	  grep -q "fetch mirror-b *completed *after 3 attempts" $(BUILD)/demo.out && \
	  grep -q "parse c *cancelled *(dependency 'fetch mirror-c' was cancelled)" $(BUILD)/demo.out && \
	  grep -q "aggregate = 160" $(BUILD)/demo.out && \
	  grep -q "verifier 2 found it" $(BUILD)/demo.out && \
	  grep -q "^threadkit stats" $(BUILD)/demo.out && \
	  grep -q "events written to" $(BUILD)/demo.out && \
	  test -s $(BUILD)/demo-trace.json && \
	  $(DEMO_C) > $(BUILD)/demo_c.out 2>&1 && \
	  grep -q "report (50 ms budget) *cancelled" $(BUILD)/demo_c.out; then \
	  echo "demo: ok"; echo "demo 1 0" >> $(BUILD)/results; \
	else echo "demo: FAILED"; cat $(BUILD)/demo.out $(BUILD)/demo_c.out; \
	  echo "demo 0 1" >> $(BUILD)/results; exit 1; fi

# The randomized long run (scripts/soak.lua): every kind of work, invariants
# checked each round, RSS floor slope reported. SOAK_SECONDS sets the length
# (SOAK_SEED replays a run); CI runs 60 s. RSS per round: build/soak/rss.log.
SOAK_SECONDS ?= 600
soak: deps $(TKLUA)
	@mkdir -p build/soak
	@rm -f build/soak/results
	@# Two malloc arenas: with one per thread, pools that come and go each
	@# round and megabyte values spread memory over arenas whose floors
	@# creep up for minutes (no leak: flat with two); a leak still shows.
	@if MALLOC_ARENA_MAX=2 SOAK_RSS_LOG=build/soak/rss.log $(TKLUA) scripts/soak.lua \
	  $(SOAK_SECONDS); then echo "soak 1 0" > build/soak/results; \
	else echo "soak 0 1" > build/soak/results; exit 1; fi

# The RSS slope of each memory workload of the soak alone (functions made
# by load, large values, a long-lived group, cycles of shared objects), for
# SOAK_SECONDS each (default here 120). Not a test: figures to read.
soak-memory: deps $(TKLUA)
	@for k in loaded large long_group cycles; do \
	  MALLOC_ARENA_MAX=2 SOAK_ONLY=$$k $(TKLUA) scripts/soak.lua \
	    $${SOAK_SECONDS:-120} | tail -n 2; done

# libFuzzer on the value transfer (clang, ASan+UBSan): arbitrary buffers
# into the decoder, arbitrary values through encode and decode. FUZZ_SECONDS
# sets the length; make sanitize runs 60 s. The log is build/fuzz/log.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_SRC := tests/fuzz/fuzz_transfer.c $(LUA_SRC) $(CORE_SRC)
fuzz: deps
	@sh scripts/deps.sh clang libclang-rt-14-dev
	@mkdir -p build/fuzz/corpus
	@rm -f build/fuzz/results
	$(FUZZ_CC) -std=c11 -O1 -g -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc/core \
	  -Isrc/lua_bindings -I$(LUA_INC) -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined \
	  -o build/fuzz/fuzz_transfer $(FUZZ_SRC) $(LUA_LIB) -lm -ldl -lpthread
	@echo "fuzzing for $(FUZZ_SECONDS) s"
	@if build/fuzz/fuzz_transfer -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=4096 -print_final_stats=1 -artifact_prefix=build/fuzz/ \
	  build/fuzz/corpus tests/fuzz/corpus > build/fuzz/log 2>&1; then \
	  grep -E 'DONE|number_of_executed_units' build/fuzz/log; \
	  echo "fuzz_transfer: ok"; echo "fuzz_transfer 1 0" > build/fuzz/results; \
	else tail -60 build/fuzz/log; echo "fuzz_transfer: FAILED"; \
	  echo "fuzz_transfer 0 1" > build/fuzz/results; exit 1; fi

sanitize: deps
	@rm -f build/tsan/results build/asan/results build/fuzz/results
	@$(MAKE) --no-print-directory tsan
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60

# Sanitizer builds run every C test and every Lua spec; the specs run in
# the sanitized tklua (a sanitized module cannot load into stock lua5.4).
SAN_TESTS := test-c test-lua test-programs

tsan:
	@$(MAKE) --no-print-directory BUILD=build/tsan OPT=-O1 \
	  SAN="-fsanitize=thread" TK_TEST_TIMEOUT_MULTIPLIER=10 \
	  TK_LUA_INTERP=$(CURDIR)/build/tsan/tklua \
	  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  $(SAN_TESTS)
	@sh scripts/summary.sh build/tsan/results

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  TK_TEST_TIMEOUT_MULTIPLIER=5 TK_LUA_INTERP=$(CURDIR)/build/asan/tklua \
	  ASAN_OPTIONS="detect_leaks=1" $(SAN_TESTS)
	@sh scripts/summary.sh build/asan/results

# Jobs and tasks are each their own malloc there (TK_SLAB_OFF, slab.c), so
# that memcheck sees every one.
valgrind: deps
	@rm -f build/valgrind/results
	@$(MAKE) --no-print-directory BUILD=build/valgrind OPT=-O1 CFLAGS=-DTK_SLAB_OFF \
	  TK_TEST_TIMEOUT_MULTIPLIER=30 TK_TEST_WRAPPER="valgrind -q \
	  --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible \
	  --show-leak-kinds=definite,possible" TK_STRESS_SCALE=20 test-c
	@# The CLI specs (abrupt ends: errors with work queued, Ctrl-C, os.exit
	@# in a task, a busy pool collected) with tklua under memcheck; fair
	@# scheduling, or spinning tasks starve the thread that takes Ctrl-C.
	@$(MAKE) --no-print-directory BUILD=build/valgrind OPT=-O1 CFLAGS=-DTK_SLAB_OFF \
	  TK_TEST_TIMEOUT_MULTIPLIER=30 TK_SPECS="cli_spec.lua exit_spec.lua" \
	  TK_TKLUA_WRAPPER="valgrind -q --fair-sched=yes --error-exitcode=99 \
	  --leak-check=full \
	  --errors-for-leak-kinds=definite --show-leak-kinds=definite" test-lua
	@sh scripts/summary.sh build/valgrind/results

# Helgrind over the C tests, in a build that declares the atomics' ordering
# to it (TK_HELGRIND, see tk_hg.h). Any report fails the run;
# tests/helgrind.supp holds one false report from inside glibc.
helgrind: deps
	@rm -f build/helgrind/results
	@$(MAKE) --no-print-directory BUILD=build/helgrind OPT=-O1 \
	  SAN=-DTK_HELGRIND TK_TEST_TIMEOUT_MULTIPLIER=30 \
	  TK_TEST_WRAPPER="valgrind -q --tool=helgrind --error-exitcode=99 \
	  --suppressions=$(CURDIR)/tests/helgrind.supp" \
	  TK_STRESS_SCALE=20 test-c
	@sh scripts/summary.sh build/helgrind/results

bench: deps lib module
	@$(MAKE) --no-print-directory -C scripts/bench BUILD=$(abspath $(BUILD))

install: lib module cli $(LIB_LUA)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.4
	install -m 644 include/threadkit.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(LIB_A) $(LIB_LUA) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(MODULE) $(DESTDIR)$(PREFIX)/lib/lua/5.4/
	install -m 755 $(TKLUA) $(DESTDIR)$(PREFIX)/bin/
	install -D -m 644 tklua.1 $(DESTDIR)$(PREFIX)/share/man/man1/tklua.1
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1.0|' threadkit.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/threadkit.pc

clean:
	rm -rf build

-include $(CORE_OBJ:.o=.d) $(LUA_OBJ:.o=.d)
