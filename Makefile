# ig.h - build, test, run.  Everything lands in build/.
#   make test       build the test runner and run every test (the CI command)
#   make toy        the 2D toy experiment (the main job)
#   make fmnist     sample the shipped Fashion-MNIST model with every method (out/fmnist/)
#   make fmnist-eval   its metrics table;  make fmnist-train  retrain the shipped model
#   make fmnist-data   unpack Debian's dataset-fashion-mnist into data/fashion-mnist/
#   make debug      the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make examples   every program in examples/ and the tools
#   make bench      the benchmark tool build/ig-bench
#   make fuzz       fuzz the safetensors parser for FUZZ_SECONDS (clang + libFuzzer)
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

TEST_SRC := tests/test_ig.c tests/test_ops.c tests/test_model.c tests/test_toy.c tests/test_st.c tests/test_toy_example.c \
            tests/test_fmnist.c
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/%,$(wildcard examples/*.c))
TOOLS    := $(patsubst tools/%.c,$(BUILD)/%,$(wildcard tools/*.c))

.PHONY: all test debug examples bench toy compile-check fuzz clean fmnist fmnist-eval fmnist-train fmnist-classifier fmnist-data fuzz-idx

all: $(BUILD)/test_ig examples

# Build the runner, check the header compiles cleanly everywhere, run the tests.
# A name filter runs a subset: make test T=attention
test: $(BUILD)/test_ig compile-check
	OMP_WAIT_POLICY=passive ./$(BUILD)/test_ig $(T)

$(BUILD)/test_ig: $(TEST_SRC) tests/test.h ig.h examples/*.h examples/toy2d.c examples/fmnist.c | $(BUILD)
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

# Fuzz the IDX reader of the Fashion-MNIST example the same way (make fuzz-idx);
# seed: a tiny valid IDX file (byte 0 = 2: three dimensions asked).
fuzz-idx: $(BUILD)/fuzz_idx
	@mkdir -p $(BUILD)/fuzz_idx_corpus
	@printf '\002\000\000\010\003\000\000\000\001\000\000\000\002\000\000\000\002\001\002\003\004' > $(BUILD)/fuzz_idx_corpus/seed_tiny
	./$(BUILD)/fuzz_idx -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=$(BUILD)/fuzz_idx_ $(BUILD)/fuzz_idx_corpus

$(BUILD)/fuzz_idx: tests/fuzz/fuzz_idx.c examples/idx.h | $(BUILD)
	$(FUZZ_CC) -std=c99 -Wall -Wextra -pedantic -g -O1 -fno-omit-frame-pointer \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< $(LDLIBS)

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

# Fashion-MNIST (examples/fmnist.c): Debian's dataset-fashion-mnist ships the
# four IDX files gzipped; fmnist-data unpacks them into data/fashion-mnist/.
FMNIST_SRC   ?= /usr/share/datasets/fashion-mnist
FMNIST_DIR   := data/fashion-mnist
FMNIST_FILES := $(addprefix $(FMNIST_DIR)/,train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
FMNIST_RUN   := OMP_WAIT_POLICY=passive ./$(BUILD)/fmnist
# The shipped model's recipe (README, "Fashion-MNIST"); fmnist-train takes about
# FMNIST_STEPS / 0.8 seconds on a busy 2-core machine.
FMNIST_MODEL := --patch 4 --width 96 --depth 6 --heads 4 --aux-depth 2 --batch 64
FMNIST_STEPS ?= 3000
# The sampling settings of `make fmnist` (chosen by `fmnist sweep`, README).
FMNIST_GUIDE ?= --ig-weight 2 --ig-low 0 --ig-high 1 --cfg-scale 1.5

fmnist-data: $(FMNIST_FILES)

$(FMNIST_DIR)/%:
	@test -f $(FMNIST_SRC)/$*.gz || { echo "fmnist-data: $(FMNIST_SRC)/$*.gz is missing: install the data with 'apt-get install dataset-fashion-mnist'" >&2; exit 1; }
	@mkdir -p $(FMNIST_DIR)
	gunzip -c $(FMNIST_SRC)/$*.gz > $@.tmp && mv $@.tmp $@

fmnist: $(BUILD)/fmnist fmnist-data
	@mkdir -p out/fmnist
	$(FMNIST_RUN) sample --model data/fmnist_ig.safetensors --dir out/fmnist $(FMNIST_GUIDE)

fmnist-eval: $(BUILD)/fmnist fmnist-data
	@test -f out/fmnist/samples_igcfg.npy || $(MAKE) fmnist
	$(FMNIST_RUN) eval --clf data/fmnist_classifier.safetensors --dir out/fmnist

fmnist-train: $(BUILD)/fmnist fmnist-data
	@mkdir -p out/fmnist
	$(FMNIST_RUN) train $(FMNIST_MODEL) --steps $(FMNIST_STEPS) --ckpt out/fmnist/train.safetensors --out data/fmnist_ig.safetensors

fmnist-classifier: $(BUILD)/fmnist fmnist-data
	$(FMNIST_RUN) classify --epochs 8 --clf data/fmnist_classifier.safetensors

$(BUILD):
	mkdir -p $(BUILD)

clean:
	rm -rf build
