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

.PHONY: all deps deps-checked build test test-unit test-integration test-asan lint format \
	    run run-operator bench fuzz clean test-docker

all: build

# What `deps` found installed last time: the PACKAGES list, one line. While
# it matches PACKAGES, `make build` (and every target built on it) skips the
# dpkg-query per package; a changed PACKAGES, `make clean` or `make deps`
# checks again.
DEPS_STAMP = $(BUILD)/.deps-checked

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
	fi; \
	mkdir -p $(BUILD) && printf '%s\n' '$(strip $(PACKAGES))' > $(DEPS_STAMP)

# deps, unless it has already passed for these PACKAGES.
deps-checked:
	@[ "$$(cat $(DEPS_STAMP) 2>/dev/null)" = '$(strip $(PACKAGES))' ] || \
	  $(MAKE) --no-print-directory deps

# The tests need cmocka; CMAKE_FLAGS=-DVAULTCTL_TESTS=OFF builds without them.
build: deps-checked
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

# The image and the Swarm stack on a real Docker engine: builds the image with
# the Dockerfile and runs it (plain containers, a single-node Swarm, the seed's
# `docker service create`, deploy/stack.yml). Not part of `make test`: it
# installs Docker when missing, runs a daemon and changes the host's network
# set-up. Root only. See scripts/test-docker.sh.
test-docker:
	@scripts/test-docker.sh

lint: build
	@scripts/lint.sh $(BUILD)

# Fails when clang-format does (missing, or a file it cannot format).
format: deps-checked
	@clang-format -i src/*.c src/*.h tests/unit/*.c tests/unit/*.h \
	  tests/integration/*.c tests/integration/*.h bench/*.c

run: build
	@scripts/run-dev.sh $(BUILD)

# nats-server in operator mode (vaultctl nats-init) and vaultctl minting NATS
# user credentials; prints the commands that mint and use them.
run-operator: build
	@scripts/run-operator.sh $(BUILD)

bench: build
	@scripts/bench.sh $(BUILD)

FUZZ_SECONDS ?= 60
fuzz: deps-checked
	@scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
