# Thin wrapper over CMake + CTest. `make run` and `make test` do all the
# set-up on a fresh Debian 12 machine (see README.md).

BUILD     ?= build
ASAN_BUILD?= build-asan
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

# Debian packages the project needs to build, test and run.
PACKAGES = build-essential cmake pkg-config clang libclang-rt-14-dev clang-tidy clang-format cppcheck \
	       valgrind libnats-dev libsodium-dev liblmdb-dev libjansson-dev \
	       libyaml-dev libcmocka-dev nats-server lmdb-utils gnuplot-nox

.PHONY: all deps build test test-unit test-integration test-asan lint format \
	    run bench fuzz clean

all: build

# Installs what is missing when run as root; otherwise prints the exact
# apt-get line and stops.
deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) >/dev/null || exit 1; \
	  else \
	    echo "deps: missing packages. Run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

# Every test: unit + integration on the normal build, then the same under
# AddressSanitizer + UndefinedBehaviorSanitizer.
test: build
	@scripts/run-tests.sh $(BUILD) $(ASAN_BUILD)

test-unit: build
	@ctest --test-dir $(BUILD) -L unit --output-on-failure

test-integration: build
	@ctest --test-dir $(BUILD) -L integration --output-on-failure

lint: build
	@scripts/lint.sh $(BUILD)

format:
	@clang-format -i src/*.c src/*.h tests/unit/*.c tests/integration/*.c bench/*.c 2>/dev/null || true

run: build
	@scripts/run-dev.sh $(BUILD)

bench: build
	@scripts/bench.sh $(BUILD)

FUZZ_SECONDS ?= 60
fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
