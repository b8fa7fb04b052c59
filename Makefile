# Entry points: `make run` (the main job on the default data) and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
DAAS := $(BUILD)/daas

.PHONY: all setup configure build install run search test bench bench-compare format format-check clean

all: build

setup:
	bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

configure: setup $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The main job: search an architecture and a policy on Fashion-MNIST (fashion
# profile, about 5 minutes on 2 cores), then retrain what it found (about
# half an hour) and evaluate it on the test split. The run folder is fixed
# once, when make reads this file (`:=`), so search and train share it;
# `make run RUN=DIR` chooses another.
ifeq ($(origin RUN),undefined)
RUN := runs/fashion-$(shell date +%Y%m%d-%H%M%S)
endif
run: build
	$(DAAS) search --out $(RUN)/search
	$(DAAS) train --genotype $(RUN)/search --policy $(RUN)/search --out $(RUN)/train

search: build
	$(DAAS) search --out $(RUN)/search

# The binary to PREFIX/bin, the profiles to PREFIX/share/daas/configs
# (where the installed binary looks for them); PREFIX defaults to /usr/local.
PREFIX ?= /usr/local
install: build
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

clean:
	rm -rf $(BUILD)
