# threadkit - the only build system. See README.md.
#   make            libraries (build/libthreadkit.a, build/libthreadkit.so)
#   make test       dependencies, then every test (C and Lua)
#   make sanitize   the tests under ThreadSanitizer, then ASan+UBSan, fuzz
#   make valgrind   the C tests under valgrind (leaks are errors)
#   make helgrind   the C tests under helgrind
#   make soak       the randomized long run (SOAK_SECONDS, default 600)
#   make bench      benchmarks against peers (not a test)
#   make install    PREFIX=/usr/local by default (see "install" below)
#   V=1             prints every command (V=0: nothing; default: one line each)

CC      ?= gcc
BUILD   ?= build
# Where `make install` puts things (DESTDIR is prepended to each).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
LUA_CMODDIR ?= $(LIBDIR)/lua/5.4
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR  ?= $(PREFIX)/share/man
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

# Quiet rules: one line per target; V=1 shows the commands.
ifeq ($(V),1)
Q :=
say := @true
else ifeq ($(V),0)
Q := @
say := @true
else
Q := @
say := @printf '  %-6s %s\n'
endif

# The version lives in include/threadkit.h; the SONAME, the .pc files and
# the module's _VERSION all read it from there.
version_part = $(shell sed -n 's/^\#define TK_VERSION_$(1) \([0-9]*\)$$/\1/p' include/threadkit.h)
VERSION_MAJOR := $(call version_part,MAJOR)
VERSION := $(VERSION_MAJOR).$(call version_part,MINOR).$(call version_part,PATCH)
ifneq ($(words $(subst ., ,$(VERSION))),3)
$(error cannot read the version from include/threadkit.h)
endif

CORE_SRC := $(wildcard src/core/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
LIB_A    := $(BUILD)/libthreadkit.a
# libthreadkit.so -> libthreadkit.so.0 (the SONAME) -> libthreadkit.so.0.x.y
LIB_SO   := $(BUILD)/libthreadkit.so
SONAME   := libthreadkit.so.$(VERSION_MAJOR)
LIB_SO_REAL := $(BUILD)/libthreadkit.so.$(VERSION)

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
        helgrind test-one-core uninstall test-install install-module

all: lib module cli $(LIB_LUA)
lib: $(LIB_A) $(LIB_SO)
module: $(MODULE)
cli: $(TKLUA)

$(BUILD)/%.o: %.c
	$(say) CC $<
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/src/lua_bindings/%.o: src/lua_bindings/%.c
	$(say) CC $<
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -I$(BUILD)/gen -c $< -o $@

# The parts of the module written in Lua are .lua files, compiled in as C
# strings made here.
$(BUILD)/gen/%_lua.h: src/lua_bindings/%.lua scripts/embed_lua.lua
	$(say) GEN $@
	@mkdir -p $(dir $@)
	$(Q)$(LUA) scripts/embed_lua.lua $< $@ script_lua
$(BUILD)/src/lua_bindings/lscript.o: $(BUILD)/gen/lscript_lua.h

$(BUILD)/src/cli/%.o: src/cli/%.c
	$(say) CC $<
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -c $< -o $@

# One core per process. The module links libthreadkit.so.0 (found next to
# it, or in LIBDIR) and carries no core of its own, so that a C host that
# links libthreadkit and requires the module shares one core with it.
# MODULE_CORE=own builds a module that carries its core, to be installed
# alone (the rockspec does). Either way the module exports
# luaopen_threadkit alone and resolves Lua's symbols from the interpreter
# that loads it.
MODULE_CORE ?= shared
ifeq ($(MODULE_CORE),shared)
# The library by its path (with -lthreadkit, ld could take libthreadkit.a
# when the .so link is not there yet). Its runpath finds it next to the
# module (the build tree), two levels up (LUA_CMODDIR under LIBDIR, where
# ever it was installed), or in LIBDIR.
MODULE_DEPS := $(LUA_OBJ) $(BUILD)/$(SONAME)
MODULE_LINK := $(LUA_OBJ) $(BUILD)/$(SONAME) \
  -Wl,-rpath,'$$ORIGIN:$$ORIGIN/../..:$(LIBDIR)'
else
MODULE_DEPS := $(LUA_OBJ) $(CORE_OBJ)
MODULE_LINK := $(LUA_OBJ) $(CORE_OBJ)
endif
$(MODULE): $(MODULE_DEPS) scripts/module.map
	$(say) LD $@
	$(Q)$(CC) $(SAN) -shared -Wl,--version-script=scripts/module.map -o $@ \
	  $(MODULE_LINK) -lpthread

# tklua links Lua statically and exports its symbols for C modules. Its
# REPL edits lines with readline where its headers are (libreadline-dev).
CLI_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/cli/*.c))
READLINE ?= $(if $(wildcard /usr/include/readline/readline.h),-lreadline)
$(BUILD)/src/cli/repl.o: CFLAGS_ALL += $(if $(READLINE),-DTK_USE_READLINE)
$(TKLUA): $(CLI_OBJ) $(LUA_OBJ) $(LIB_A)
	$(say) LD $@
	$(Q)$(CC) $(SAN) -Wl,-E -o $@ $^ $(LUA_LIB) $(READLINE) -lm -ldl -lpthread

# For C hosts that embed Lua with threadkit (threadkit_lua.h): the Lua
# layer and the core, not to be linked with libthreadkit as well.
$(LIB_LUA): $(LUA_OBJ) $(CORE_OBJ)
	$(say) AR $@
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BUILD)/host: scripts/examples/host.c $(LIB_LUA)
	$(say) CC $@
	$(Q)$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -o $@ $< $(LIB_LUA) $(LUA_LIB) -lm -ldl -lpthread

$(LIB_A): $(CORE_OBJ)
	$(say) AR $@
	@rm -f $@
	$(Q)ar rcs $@ $^

$(LIB_SO_REAL): $(CORE_OBJ)
	$(say) LD $@
	$(Q)$(CC) $(SAN) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/$(SONAME): $(LIB_SO_REAL)
	$(Q)ln -sf $(notdir $<) $@

$(LIB_SO): $(BUILD)/$(SONAME)
	$(Q)ln -sf $(notdir $<) $@

$(BUILD)/tests/%: tests/c/%.c tests/c/tk_test.h $(LIB_A)
	$(say) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_ALL) -Isrc/core -o $@ $< $(LIB_A) -lcmocka $(LDLIBS_ALL)

# The transfer and embedding tests reach into the Lua layer: they link it
# and Lua.
LUA_TESTS := $(BUILD)/tests/test_transfer $(BUILD)/tests/test_embed
$(LUA_TESTS): $(BUILD)/tests/%: tests/c/%.c tests/c/tk_test.h $(LIB_LUA)
	$(say) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -Isrc/lua_bindings -o $@ $< $(LIB_LUA) \
	  -lcmocka $(LUA_LIB) -lm -ldl $(LDLIBS_ALL)

# The Debian packages each kind of target needs (scripts/deps.sh installs
# the missing ones); `make deps` installs them all.
DEPS_BUILD := liblua5.4-dev lua5.4 libreadline-dev
DEPS_TEST := $(DEPS_BUILD) lua-busted libcmocka-dev pkg-config graphviz
DEPS_VALGRIND := $(DEPS_TEST) valgrind
DEPS_BENCH := $(DEPS_BUILD) libglib2.0-dev libuv1-dev lua-luv pkg-config
.PHONY: deps-build deps-test deps-valgrind deps-bench
deps:
	@sh scripts/deps.sh $(sort $(DEPS_VALGRIND) $(DEPS_BENCH))
deps-build:
	@sh scripts/deps.sh $(DEPS_BUILD)
deps-test:
	@sh scripts/deps.sh $(DEPS_TEST)
deps-valgrind:
	@sh scripts/deps.sh $(DEPS_VALGRIND)
deps-bench:
	@sh scripts/deps.sh $(DEPS_BENCH)

$(DEMO_C): scripts/examples/demo.c $(LIB_A)
	$(say) CC $@
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB_A) $(LDLIBS_ALL)

# The README's first command: build everything (quietly: V=1 shows the
# commands), run the Lua demo.
demo: deps-build
	@echo "building threadkit $(VERSION)..."
	@$(MAKE) $(if $(filter 1,$(V)),,-s) --no-print-directory V=$(or $(V),0) all
	@echo "built $(LIB_A), $(LIB_SO), $(LIB_LUA), $(MODULE) and $(TKLUA)"
	@echo
	@$(TKLUA) scripts/examples/demo.lua $(BUILD)/demo-trace.json

# Results of every suite go to $(BUILD)/results; scripts/summary.sh adds up.
test: deps-test
	@rm -f $(BUILD)/results
	@$(MAKE) -k --no-print-directory test-c test-lua check-layering \
	  readme-example demo-check test-programs test-one-core test-install; \
	  sh scripts/summary.sh --status $$? $(BUILD)/results

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
	$(say) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) -shared -fPIC -O1 -o $@ $< -ldl

# The corpus of real programs (tests/programs): each checks its work against
# a serial run. Under tsan/asan $(TKLUA) is the sanitized one.
.PHONY: test-programs
test-programs: $(TKLUA)
	@sh scripts/run_programs.sh $(BUILD) $(TKLUA)

# The layers reach each other through the public headers only; the
# second script proves the check catches each kind of violation.
check-layering:
	@sh scripts/run_check.sh check-layering $(BUILD) sh scripts/check_layering.sh
	@sh scripts/run_check.sh check-layering-catches $(BUILD) \
	  sh scripts/test_check_layering.sh

# The README's C example must compile and run.
readme-example: $(LIB_A)
	@CC="$(CC)" CFLAGS="$(CFLAGS_ALL)" LIBS="$(LIB_A) $(LDLIBS_ALL)" \
	  sh scripts/run_check.sh readme-example $(BUILD) \
	  sh scripts/readme_example.sh $(BUILD)

# The demos must run and tell their story.
demo-check: $(TKLUA) $(DEMO_C)
	@sh scripts/run_check.sh demo $(BUILD) \
	  sh scripts/check_demo.sh $(BUILD) $(TKLUA) $(DEMO_C)

# Each supported way of combining the module, tklua and a C host has one
# core in the process (scripts/check_one_core.sh).
ONE_CORE_HOST := $(BUILD)/one_core_host
$(ONE_CORE_HOST): scripts/one_core_host.c $(LIB_SO)
	$(say) CC $@
	$(Q)$(CC) $(CFLAGS_ALL) -I$(LUA_INC) -o $@ $< -L$(BUILD) -lthreadkit \
	  -Wl,-rpath,'$$ORIGIN' -Wl,-E $(LUA_LIB) -lm -ldl $(LDLIBS_ALL)
test-one-core: $(MODULE) $(TKLUA) $(ONE_CORE_HOST) $(BUILD)/host
	@MODULE_CORE=$(MODULE_CORE) sh scripts/run_check.sh one-core $(BUILD) \
	  sh scripts/check_one_core.sh $(BUILD) $(LUA)

# The randomized long run (scripts/soak.lua): every kind of work, invariants
# checked each round, RSS floor slope reported. SOAK_SECONDS sets the length
# (SOAK_SEED replays a run); CI runs 60 s. RSS per round: build/soak/rss.log.
SOAK_SECONDS ?= 600
soak: deps-build $(TKLUA)
	@mkdir -p $(BUILD)/soak
	@rm -f $(BUILD)/soak/results
	@# Two malloc arenas: with one per thread, pools that come and go each
	@# round and megabyte values spread memory over arenas whose floors
	@# creep up for minutes (no leak: flat with two); a leak still shows.
	@if MALLOC_ARENA_MAX=2 SOAK_RSS_LOG=$(BUILD)/soak/rss.log $(TKLUA) scripts/soak.lua \
	  $(SOAK_SECONDS); then echo "soak 1 0" > $(BUILD)/soak/results; \
	else echo "soak 0 1" > $(BUILD)/soak/results; exit 1; fi

# The RSS slope of each memory workload of the soak alone (functions made
# by load, large values, a long-lived group, cycles of shared objects), for
# SOAK_SECONDS each (default here 120). Not a test: figures to read.
soak-memory: deps-build $(TKLUA)
	@for k in loaded large long_group cycles; do \
	  MALLOC_ARENA_MAX=2 SOAK_ONLY=$$k $(TKLUA) scripts/soak.lua \
	    $${SOAK_SECONDS:-120} | tail -n 2; done

# libFuzzer on the value transfer (clang, ASan+UBSan): arbitrary buffers
# into the decoder, arbitrary values through encode and decode. FUZZ_SECONDS
# sets the length; make sanitize runs 60 s. The log is $(BUILD)/fuzz/log.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_SRC := tests/fuzz/fuzz_transfer.c $(LUA_SRC) $(CORE_SRC)
fuzz: deps-build $(BUILD)/gen/lscript_lua.h
	@sh scripts/deps.sh clang libclang-rt-14-dev
	@mkdir -p $(BUILD)/fuzz/corpus
	@rm -f $(BUILD)/fuzz/results
	$(FUZZ_CC) -std=c11 -O1 -g -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc/core \
	  -Isrc/lua_bindings -I$(BUILD)/gen -I$(LUA_INC) -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined \
	  -o $(BUILD)/fuzz/fuzz_transfer $(FUZZ_SRC) $(LUA_LIB) -lm -ldl -lpthread
	@echo "fuzzing for $(FUZZ_SECONDS) s"
	@if $(BUILD)/fuzz/fuzz_transfer -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=4096 -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ \
	  $(BUILD)/fuzz/corpus tests/fuzz/corpus > $(BUILD)/fuzz/log 2>&1; then \
	  grep -E 'DONE|number_of_executed_units' $(BUILD)/fuzz/log; \
	  echo "fuzz_transfer: ok"; echo "fuzz_transfer 1 0" > $(BUILD)/fuzz/results; \
	else tail -60 $(BUILD)/fuzz/log; echo "fuzz_transfer: FAILED"; \
	  echo "fuzz_transfer 0 1" > $(BUILD)/fuzz/results; exit 1; fi

sanitize: deps-test
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
	  $(SAN_TESTS); \
	  sh scripts/summary.sh --status $$? build/tsan/results

asan:
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  TK_TEST_TIMEOUT_MULTIPLIER=5 TK_LUA_INTERP=$(CURDIR)/build/asan/tklua \
	  ASAN_OPTIONS="detect_leaks=1" $(SAN_TESTS); \
	  sh scripts/summary.sh --status $$? build/asan/results

# Jobs and tasks are each their own malloc there (TK_SLAB_OFF, slab.c), so
# that memcheck sees every one.
# The CLI specs too (abrupt ends: errors with work queued, Ctrl-C, os.exit
# in a task, a busy pool collected), with tklua under memcheck; fair
# scheduling, or spinning tasks starve the thread that takes Ctrl-C.
valgrind: deps-valgrind
	@rm -f build/valgrind/results
	@status=0; \
	$(MAKE) --no-print-directory BUILD=build/valgrind OPT=-O1 CFLAGS=-DTK_SLAB_OFF \
	  TK_TEST_TIMEOUT_MULTIPLIER=30 TK_TEST_WRAPPER="valgrind -q \
	  --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible \
	  --show-leak-kinds=definite,possible" TK_STRESS_SCALE=20 test-c || status=1; \
	$(MAKE) --no-print-directory BUILD=build/valgrind OPT=-O1 CFLAGS=-DTK_SLAB_OFF \
	  TK_TEST_TIMEOUT_MULTIPLIER=30 TK_SPECS="cli_spec.lua exit_spec.lua" \
	  TK_TKLUA_WRAPPER="valgrind -q --fair-sched=yes --error-exitcode=99 \
	  --leak-check=full \
	  --errors-for-leak-kinds=definite --show-leak-kinds=definite" test-lua \
	  || status=1; \
	sh scripts/summary.sh --status $$status build/valgrind/results

# Helgrind over the C tests, in a build that declares the atomics' ordering
# to it (TK_HELGRIND, see tk_hg.h). Any report fails the run;
# tests/helgrind.supp holds one false report from inside glibc.
helgrind: deps-valgrind
	@rm -f build/helgrind/results
	@$(MAKE) --no-print-directory BUILD=build/helgrind OPT=-O1 \
	  SAN=-DTK_HELGRIND TK_TEST_TIMEOUT_MULTIPLIER=30 \
	  TK_TEST_WRAPPER="valgrind -q --tool=helgrind --error-exitcode=99 \
	  --suppressions=$(CURDIR)/tests/helgrind.supp" \
	  TK_STRESS_SCALE=20 test-c; \
	  sh scripts/summary.sh --status $$? build/helgrind/results

bench: deps-bench lib module
	@$(MAKE) --no-print-directory -C scripts/bench BUILD=$(abspath $(BUILD))

# The pkg-config files: threadkit.pc for the core, threadkit-lua.pc for
# hosts that embed Lua with threadkit (libthreadkit_lua.a and Lua).
PC_SED := sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|'

# What install puts where; uninstall removes exactly these.
INSTALLED := $(BINDIR)/tklua $(INCLUDEDIR)/threadkit.h \
  $(INCLUDEDIR)/threadkit_lua.h $(LIBDIR)/libthreadkit.a \
  $(LIBDIR)/libthreadkit_lua.a $(LIBDIR)/libthreadkit.so.$(VERSION) \
  $(LIBDIR)/$(SONAME) $(LIBDIR)/libthreadkit.so $(LUA_CMODDIR)/threadkit.so \
  $(PKGCONFIGDIR)/threadkit.pc $(PKGCONFIGDIR)/threadkit-lua.pc \
  $(MANDIR)/man1/tklua.1

install: lib module cli $(LIB_LUA)
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LUA_CMODDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(Q)install -m 755 $(TKLUA) $(DESTDIR)$(BINDIR)/
	$(Q)install -m 644 include/threadkit.h include/threadkit_lua.h \
	  $(DESTDIR)$(INCLUDEDIR)/
	$(Q)install -m 644 $(LIB_A) $(LIB_LUA) $(DESTDIR)$(LIBDIR)/
	$(Q)install -m 755 $(LIB_SO_REAL) $(DESTDIR)$(LIBDIR)/
	$(Q)ln -sf libthreadkit.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	$(Q)ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libthreadkit.so
	$(Q)install -m 755 $(MODULE) $(DESTDIR)$(LUA_CMODDIR)/
	$(Q)install -D -m 644 tklua.1 $(DESTDIR)$(MANDIR)/man1/tklua.1
	$(Q)$(PC_SED) threadkit.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/threadkit.pc
	$(Q)$(PC_SED) threadkit-lua.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/threadkit-lua.pc
	@echo "installed threadkit $(VERSION) under $(DESTDIR)$(PREFIX)"

# The module alone, into LUA_CMODDIR (LuaRocks: threadkit-scm-1.rockspec).
install-module: module
	$(Q)install -d $(DESTDIR)$(LUA_CMODDIR)
	$(Q)install -m 755 $(MODULE) $(DESTDIR)$(LUA_CMODDIR)/

uninstall:
	$(Q)rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@echo "removed threadkit from $(DESTDIR)$(PREFIX)"

# install and uninstall into a temporary DESTDIR; an example host built
# with pkg-config against the installed files (scripts/check_install.sh).
test-install: all
	@sh scripts/run_check.sh install $(BUILD) sh scripts/check_install.sh $(BUILD)

clean:
	rm -rf $(BUILD)

-include $(CORE_OBJ:.o=.d) $(LUA_OBJ:.o=.d)
