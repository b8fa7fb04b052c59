# Entry points: `make run` (the main job on the default data) and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
DAAS := $(BUILD)/daas

.PHONY: all setup configure build cli install run search test bench bench-compare fuzz sanitize format format-check clean

all: build

setup:
	bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

configure: setup $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The daas binary alone, without the tests and benchmarks (what run, search
# and install need; the tests are most of a fresh build).
cli: configure
	cmake --build $(BUILD) -j $(JOBS) --target daas_cli

# The main job: search an architecture and a policy on Fashion-MNIST (fashion
# profile, 2 to 5 minutes on 2 cores), then retrain what it found (26
# epochs, 1 h 15 min to 2 h 15 min) and evaluate it on the test split. Each writes its own
# report.html; the last line printed is the report of both. The run folder is
# fixed once, when make reads this file (`:=`), so search and train share it;
# `make run RUN=DIR` chooses another.
ifeq ($(origin RUN),undefined)
RUN := runs/fashion-$(shell date +%Y%m%d-%H%M%S)
endif
run: cli
	$(DAAS) search --out $(RUN)/search
	$(DAAS) train --genotype $(RUN)/search --policy $(RUN)/search --out $(RUN)/train
	$(DAAS) report $(RUN)/search $(RUN)/train --out $(RUN)/report.html

search: cli
	$(DAAS) search --out $(RUN)/search

# The binary to PREFIX/bin, the profiles to PREFIX/share/daas/configs
# (where the installed binary looks for them); PREFIX defaults to /usr/local.
PREFIX ?= /usr/local
install: cli
	cmake --install $(BUILD) --prefix $(PREFIX)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	bash bench/run_all.sh $(BUILD)

# daas against a plain PyTorch reference (bench/reference.py), case by case;
# ROUNDS=1 STEPS=3 for a quick look.
bench-compare: configure
	cmake --build $(BUILD) -j $(JOBS) --target bench_compare
	sh bench/compare.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

format-check: setup
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.h')

# libFuzzer over every reader (fuzz/): a clang build with ASan and UBSan in
# build-fuzz, each target FUZZ_SECONDS seconds on its corpus; new inputs
# that reach new code are added to fuzz/corpus/<target> (commit them, and
# any crash-* file after fixing the crash: the test suite replays them).
# FUZZ_TARGETS="model_file idx" runs only those; FUZZ_JOBS=1 builds on one core.
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= build-fuzz
FUZZ_TARGETS ?=
FUZZ_JOBS ?=
fuzz:
	bash scripts/setup.sh fuzz
	FUZZ_JOBS=$(FUZZ_JOBS) bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The whole test suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
# GCC's -fsanitize=undefined leaves out float-cast-overflow (a double too large
# for the integer it is converted to), so it is named on its own.
SANITIZE_BUILD ?= build-sanitize
SANITIZE_FLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer \
  -fno-sanitize-recover=undefined,float-cast-overflow
sanitize: setup
	cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDAAS_BUILD_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS="$(SANITIZE_FLAGS)"
	cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	cd $(SANITIZE_BUILD) && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)
