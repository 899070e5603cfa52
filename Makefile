# ig.h - build, test, run.  Everything lands in build/.
#   make test       build the test runner and run every test (the CI command)
#   make toy        the 2D toy experiment (the main job)
#   make debug      the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make examples   every program in examples/ and the tools
#   make bench      the benchmark tool build/ig-bench
#   make fuzz       fuzz the safetensors parser for FUZZ_SECONDS (clang + libFuzzer)
#   make mutants    apply each of tests/mutants.py's changes to a copy of ig.h: the tests must fail
#   OMP=0           build without OpenMP (single thread)     NATIVE=0  no -march=native

CC     ?= cc
BUILD  ?= build
OMP    ?= 1
NATIVE ?= 1
# -O3, and never -ffast-math: it silently changes results (NaN checks, exp, GELU).
CFLAGS ?= -O3 -g
WARN   := -std=c99 -Wall -Wextra -pedantic
LDLIBS := -lm

# OpenMP only if the compiler has it; NATIVE uses this CPU's vector units.
# Runs below use OMP_WAIT_POLICY=passive: idle OpenMP threads sleep instead of
# spinning, which keeps a shared or busy machine from slowing to a crawl.
ifeq ($(OMP),1)
  OMPFLAG := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
endif
ifeq ($(NATIVE),1)
  ARCH := $(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo -march=native)
endif
ALL_CFLAGS = $(WARN) $(CFLAGS) $(ARCH) $(OMPFLAG) $(EXTRA)

TEST_SRC := tests/test_ig.c tests/test_ops.c tests/test_model.c tests/test_method.c tests/test_toy.c tests/test_st.c tests/test_toy_example.c
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/%,$(wildcard examples/*.c))
TOOLS    := $(patsubst tools/%.c,$(BUILD)/%,$(wildcard tools/*.c))

.PHONY: all test debug examples bench toy compile-check fuzz mutants clean

all: $(BUILD)/test_ig examples

# Build the runner, check the header compiles cleanly everywhere, run the tests.
# A name filter runs a subset: make test T=attention
test: $(BUILD)/test_ig compile-check
	OMP_WAIT_POLICY=passive ./$(BUILD)/test_ig $(T)

$(BUILD)/test_ig: $(TEST_SRC) tests/test.h ig.h examples/*.h examples/toy2d.c | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_SRC) $(LDLIBS)

# The header as C99 and C++, gcc and clang, -Werror; plus a two-file link.
compile-check: | $(BUILD)
	@set -e; for cc in gcc clang; do command -v $$cc >/dev/null || continue; \
	  $$cc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only tests/compile/impl.c; \
	  $$cc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only -DIG_STATIC tests/compile/impl.c; \
	  $$cc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only $(ARCH) tests/compile/impl.c; \
	  $$cc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only -fopenmp tests/compile/impl.c 2>/dev/null || \
	    $$cc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only tests/compile/impl.c; \
	  echo "compile-check: $$cc C99 ok"; done
	@set -e; for cxx in g++ clang++; do command -v $$cxx >/dev/null || continue; \
	  $$cxx -x c++ -std=c++11 -Wall -Wextra -pedantic -Werror -fsyntax-only tests/compile/impl.c; \
	  $$cxx -x c++ -std=c++11 -Wall -Wextra -pedantic -Werror -fsyntax-only $(ARCH) tests/compile/impl.c; \
	  echo "compile-check: $$cxx C++11 ok"; done
	@$(CC) $(WARN) -Werror -O1 -o $(BUILD)/two_tu tests/compile/tu_a.c tests/compile/tu_b.c $(LDLIBS) && ./$(BUILD)/two_tu

# Sanitizers catch out-of-bounds reads, use-after-free and undefined behaviour.
debug:
	$(MAKE) BUILD=build/debug OMP=0 CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" test

# Fuzz the safetensors parser (clang's libFuzzer + ASan/UBSan); FUZZ_SECONDS=60 by default.
# Seeds from point.safetensors: its JSON header (byte 0 = 0x1d: header mode with a
# 1 MiB zero data section, so it opens) and the whole file (byte 0 = 0x00; inputs
# are capped at 32 KiB for speed, so it is read truncated).  Crashes: build/fuzz_*.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
fuzz: $(BUILD)/fuzz_st
	@mkdir -p $(BUILD)/fuzz_corpus
	@f=tests/fixtures/point.safetensors; n=$$(od -An -tu8 -N8 $$f | tr -d ' '); \
	  { printf '\035'; tail -c +9 $$f | head -c $$n; } > $(BUILD)/fuzz_corpus/seed_point_header; \
	  { printf '\000'; cat $$f; } > $(BUILD)/fuzz_corpus/seed_point_file
	./$(BUILD)/fuzz_st -dict=tests/fuzz/fuzz_st.dict -max_total_time=$(FUZZ_SECONDS) -max_len=32768 \
	  -artifact_prefix=$(BUILD)/fuzz_ $(BUILD)/fuzz_corpus

$(BUILD)/fuzz_st: tests/fuzz/fuzz_st.c ig.h | $(BUILD)
	$(FUZZ_CC) -std=c99 -Wall -Wextra -pedantic -g -O1 -fno-omit-frame-pointer \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< $(LDLIBS)

# Mutation testing: each small semantic change listed in tests/mutants.py must
# make the suite fail.  MUTANT_JOBS=2 runs two at once (only on an idle machine).
MUTANT_JOBS ?= 1
mutants:
	python3 tests/mutants.py --cc "$(CC)" --cflags "$(WARN) -O2 $(ARCH) $(OMPFLAG)" --jobs $(MUTANT_JOBS)

examples: $(EXAMPLES) $(TOOLS)

$(BUILD)/%: examples/%.c ig.h examples/*.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/%: tools/%.c ig.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

# The speed benchmark (compare with PyTorch: ../shared/bench/compare.sh).
bench: $(BUILD)/ig-bench

# The main job: train the 2D toy model, sample with every method, write figures.
toy: $(BUILD)/toy2d
	OMP_WAIT_POLICY=passive ./$(BUILD)/toy2d --out out/toy2d

$(BUILD):
	mkdir -p $(BUILD)

clean:
	rm -rf build
