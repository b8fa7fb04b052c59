# Entry points: `make run` (the main job on the default data) and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
DAAS := $(BUILD)/daas

.PHONY: all setup configure build run test bench format format-check clean

all: build

setup:
	bash scripts/setup.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

configure: setup $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(DAAS) data info

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	bash bench/run_all.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

format-check: setup
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)
