# ig.h - build, test, run.  Everything lands in build/.
#   make test       build the test runner and run every test (the CI command)
#   make toy        the 2D toy experiment (the main job)
#   make fmnist     sample the shipped Fashion-MNIST model with every method (out/fmnist/)
#   make fmnist-eval   its metrics table;  make fmnist-train  retrain the shipped model
#   make fmnist-data   unpack Debian's dataset-fashion-mnist into data/fashion-mnist/
#   make fmnist-claims rerun the claims tables with their error bars (examples/fmnist_claims.sh)
#   make debug      the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make examples   every program in examples/ and the tools
#   make shards-check  sharded ImageNet sampling with real processes (tests/shards.sh)
#   make bench      the benchmark tool build/ig-bench
#   make fuzz       fuzz every parser in FUZZ_TARGETS for FUZZ_SECONDS each (clang + libFuzzer)
#   make mutants    apply each of tests/mutants.py's changes to a copy of ig.h: the tests must fail
#   make exercises  list the coursework exercises; make exercise E=NAME writes a student copy,
#                   make check E=NAME [STUDENT=path/to/ig.h] grades it (docs/tour.md)
#   make exercises-check  every exercise: blank fails, ig.h passes, wrong answers fail
#   make docs-check run the commands README.md and docs/*.md mark as runnable, in a fresh clone
#                   (SLOW=1: the slow ones too; tools/check_docs.py)
#   OMP=0           build without OpenMP (single thread)     NATIVE=0  no -march=native
#   ARCH=-march=x86-64-v3   build for another CPU (here AVX2 without AVX-512), e.g.
#                   make BUILD=build/avx2 ARCH=-march=x86-64-v3 test T=matmul
#   NO_FAST_GEMM=1  build with -DIG_NO_FAST_GEMM: the plain matmul of section 4 only
#                   (e.g. make BUILD=build/nofast NO_FAST_GEMM=1 test)

CC     ?= cc
BUILD  ?= build
OMP    ?= 1
NATIVE ?= 1
NO_FAST_GEMM ?= 0
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
ifeq ($(NO_FAST_GEMM),1)
  GEMMFLAG := -DIG_NO_FAST_GEMM
endif
# sqrtf without errno: AdamW's sqrt vectorizes (the same correctly rounded results).
MATHFLAG := -fno-math-errno
ALL_CFLAGS = $(WARN) $(CFLAGS) $(MATHFLAG) $(ARCH) $(OMPFLAG) $(GEMMFLAG) $(EXTRA)

TEST_SRC := tests/test_ig.c tests/test_ops.c tests/test_model.c tests/test_method.c tests/test_toy.c tests/test_st.c tests/test_toy_example.c tests/test_tools.c tests/test_vae.c tests/test_pt.c tests/test_ldit.c tests/test_harden.c tests/test_imagenet.c tests/test_fmnist.c tests/test_st2pt.c tests/test_shards.c
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/%,$(wildcard examples/*.c))
TOOLS    := $(patsubst tools/%.c,$(BUILD)/%,$(wildcard tools/*.c))

.PHONY: exercises exercise check exercises-check all test debug examples bench toy compile-check fuzz mutants clean fmnist fmnist-eval fmnist-train fmnist-claims fmnist-classifier fmnist-data shards-check docs-check

all: $(BUILD)/test_ig examples

# Build the runner, check the header compiles cleanly everywhere, run the tests.
# A name filter runs a subset: make test T=attention
test: $(BUILD)/test_ig compile-check
	OMP_WAIT_POLICY=passive ./$(BUILD)/test_ig $(T)

$(BUILD)/test_ig: $(TEST_SRC) tests/*.h ig.h examples/*.h examples/toy2d.c examples/imagenet.c examples/fmnist.c tools/ig-forward.c tools/st2pt.c | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_SRC) $(LDLIBS)

# The header as C99 and C++, gcc and clang, -Werror; plus a two-file link.
compile-check: | $(BUILD)
	@set -e; for cc in gcc clang; do command -v $$cc >/dev/null || continue; \
	  $$cc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only tests/compile/impl.c; \
	  $$cc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only -DIG_STATIC tests/compile/impl.c; \
	  $$cc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only $(ARCH) tests/compile/impl.c; \
	  $$cc -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only -DIG_NO_FAST_GEMM tests/compile/impl.c; \
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

# Fuzzing (clang's libFuzzer + ASan/UBSan), FUZZ_SECONDS per target (60 by default).
# Target NAME is tests/fuzz/fuzz_NAME.c, with seeds in tests/fuzz/corpus_NAME/ and an
# optional dictionary tests/fuzz/fuzz_NAME.dict.  New inputs go to build/fuzz_corpus_NAME/,
# crashes to build/fuzz_NAME-crash-*.  To fuzz another parser, add its NAME below.
#   st    the safetensors reader and writer
#   ckpt  ig_config_from_file, ig_load, ig_save on what loaded
#   pt    the .pt reader and pt2st's conversion (examples/pt.h)
#   npy   the .npy reader and writer (examples/npy.h)
#   json  the dataset.json parser of the REPA latent folders (examples/latents.h)
#   idx   the IDX reader of the Fashion-MNIST example (examples/idx.h)
# One target alone: make fuzz FUZZ_TARGETS=pt
FUZZ_TARGETS ?= st ckpt pt npy json idx
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
fuzz: $(patsubst %,$(BUILD)/fuzz_%,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/fuzz_corpus_$$t; d=; [ -f tests/fuzz/fuzz_$$t.dict ] && d=-dict=tests/fuzz/fuzz_$$t.dict; \
	  echo "fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  ./$(BUILD)/fuzz_$$t $$d -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -artifact_prefix=$(BUILD)/fuzz_$$t- \
	    $(BUILD)/fuzz_corpus_$$t $$(ls -d tests/fuzz/corpus_$$t 2>/dev/null); done

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c ig.h examples/*.h tests/*.h tests/fuzz/*.h | $(BUILD)
	$(FUZZ_CC) -std=c99 -Wall -Wextra -pedantic -g -O1 -fno-omit-frame-pointer \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< $(LDLIBS)

# The IDX reader is examples/idx.h, not ig.h.
$(BUILD)/fuzz_idx: examples/idx.h
# Mutation testing: each small semantic change listed in tests/mutants.py must
# make the suite fail.  MUTANT_JOBS=2 runs two at once (only on an idle machine).
MUTANT_JOBS ?= 1
mutants:
	python3 tests/mutants.py --cc "$(CC)" --cflags "$(WARN) -O2 $(ARCH) $(OMPFLAG)" --jobs $(MUTANT_JOBS)

# The documentation's commands: tools/check_docs.py clones the repository (its
# committed HEAD) into a temporary directory and runs every ```sh block of README.md
# and docs/*.md marked <!-- run --> (a few minutes); SLOW=1 also runs those marked
# <!-- run: slow --> (toy, fmnist, mutants, fuzz, the XL timings: over an hour).
SLOW ?= 0
docs-check:
	python3 tools/check_docs.py $(if $(filter 1,$(SLOW)),--slow)

examples: $(EXAMPLES) $(TOOLS)

$(BUILD)/%: examples/%.c ig.h examples/*.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/%: tools/%.c ig.h examples/*.h | $(BUILD)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

# Coursework (issue 20; docs/tour.md): tools/exercise.c cuts an exercise's piece out of
# ig.h, tests/exercises/grade.c grades a copy, tests/exercises/check_all.sh checks the
# grader itself (the blank copy fails, ig.h passes, the wrong answers in
# tests/exercises/answers/ fail, the second solutions there pass).
exercises: $(BUILD)/exercise
	@./$(BUILD)/exercise list

exercise: $(BUILD)/exercise
	@test -n "$(E)" || { echo "usage: make exercise E=NAME   (make exercises lists the names)"; exit 2; }
	@mkdir -p $(BUILD)/exercises/$(E)
	@./$(BUILD)/exercise blank $(E) ig.h $(BUILD)/exercises/$(E)/ig.h
	@cp tests/exercises/tasks/$(E).md $(BUILD)/exercises/$(E)/TASK.md
	@echo "wrote $(BUILD)/exercises/$(E)/ig.h and $(BUILD)/exercises/$(E)/TASK.md; then: make check E=$(E)"

check:
	@CC="$(CC)" sh tests/exercises/check.sh "$(E)" "$(STUDENT)" $(BUILD)

exercises-check: $(BUILD)/exercise
	@CC="$(CC)" BUILD=$(BUILD) sh tests/exercises/check_all.sh

# Sharded sampling with real processes: 3 at once (xargs -P 3) against 1, the SLURM
# array script's command line, numpy reading the .npz (tests/shards.sh).
shards-check: $(BUILD)/imagenet $(BUILD)/ig-init
	BUILD=$(BUILD) OMP_WAIT_POLICY=passive bash tests/shards.sh

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
# The shipped model's recipe (docs/fmnist.md): D 192, 12,000 steps of batch 64 (12.8
# epochs); the shipped run took 83.9 minutes on this 2-core machine, sharing it with
# other jobs (152.7 samples/s; about 57 minutes at the 225 samples/s of a quiet machine).
FMNIST_MODEL := --patch 4 --width 192 --depth 6 --heads 4 --aux-depth 2 --batch 64 --ema 0.9995
FMNIST_STEPS ?= 12000
# The sampling settings of `make fmnist` (chosen by `fmnist sweep`, docs/fmnist.md).
FMNIST_GUIDE ?= --ig-weight 1.5 --ig-low 0 --ig-high 1 --cfg-scale 1.25

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
	$(FMNIST_RUN) train $(FMNIST_MODEL) --steps $(FMNIST_STEPS) --keep-every 2000 --ckpt out/fmnist/train.safetensors --out data/fmnist_ig.safetensors

# The claims tables of docs/fmnist.md, every row a mean +- sd over seeds (hours on
# 2 cores; STAGES="sampling", "sweep" or "training" runs one part, see the script).
fmnist-claims: $(BUILD)/fmnist fmnist-data
	OMP_WAIT_POLICY=passive FM=./$(BUILD)/fmnist examples/fmnist_claims.sh

fmnist-classifier: $(BUILD)/fmnist fmnist-data
	$(FMNIST_RUN) classify --epochs 6 --clf data/fmnist_classifier.safetensors

$(BUILD):
	mkdir -p $(BUILD)

clean:
	rm -rf build
