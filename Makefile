# meta-cni: build, test, lint, install, package. `make help` lists targets.
PREFIX      ?= /usr
DESTDIR     ?=
CNI_BIN_DIR ?= /opt/cni/bin
CNI_NET_DIR ?= /etc/cni/net.d
DOC_DIR     ?= $(PREFIX)/share/doc/meta-cni
CARGO       ?= cargo
VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
TARGET_DIR  := $(or $(CARGO_TARGET_DIR),target)
# auto: musl if its Rust target is (or can be) installed, else static glibc.
# See packaging/static-build.sh.
STATIC_TARGET ?= auto
STATIC_DIR  := $(TARGET_DIR)/static
# What `make install` / `install-files` copy: the static build and the
# copyright file made with it.
INSTALL_BIN ?= $(STATIC_DIR)/meta-cni
INSTALL_COPYRIGHT ?= $(STATIC_DIR)/copyright
DEB_ARCH    ?= amd64
DEB_MAINTAINER ?= meta-cni maintainers <maintainers@meta-cni.invalid>
DEB_DIR     := $(TARGET_DIR)/deb
DEB_ROOT    := $(DEB_DIR)/root
DEB_FILE    := $(DEB_DIR)/meta-cni_$(VERSION)_$(DEB_ARCH).deb
# `make fuzz`: each target runs FUZZ_TIME seconds (one core), one after the other.
FUZZ_TIME    ?= 60
FUZZ_TARGETS ?= config_load overrides template result plugin_run
FUZZ_FLAGS   ?=
CARGO_FUZZ   ?= $(CARGO) +nightly fuzz
# Test targets with `test = false` in Cargo.toml (root, real plugins, a
# release build): a plain `cargo test` skips them, `make test` names them.
# The containerd suite is named once tests/containerd/main.rs exists.
SLOW_TESTS  := --test realplugins --test packaging $(if $(wildcard tests/containerd/main.rs),--test containerd)

.PHONY: help build release static test test-tools test-unit lint fmt demo install install-files install-config deb lintian clean fuzz fuzz-build bench

help:
	@echo "make build     debug build"
	@echo "make release   optimised build (target/release/meta-cni)"
	@echo "make test      test-tools, then the whole suite: cargo test (unit, integration, fuzz replay),"
	@echo "               then the real-plugin and packaging tests (they SKIP what the machine lacks, e.g. not root)"
	@echo "make test-tools  scripts/install-test-tools.sh: as root, the Debian packages the tests need and"
	@echo "               cnitool (tests/tools/cnitool, into \$$CNITOOL or /usr/local/bin); else lists what is missing"
	@echo "make test-unit unit tests only (cargo test --lib)"
	@echo "make lint      rustfmt check + clippy -D warnings on every target (MSRV via clippy's incompatible_msrv)"
	@echo "make demo      build, install into a temp CNI dir, run the example through cnitool in a netns"
	@echo "make fuzz      cargo-fuzz every target for FUZZ_TIME=$(FUZZ_TIME)s each (nightly + cargo-fuzz; fuzz/README.md)"
	@echo "make bench     the benchmark (bench/run): meta-cni against the process-spawn floor"
	@echo "make static    statically linked x86-64 build ($(STATIC_DIR)/meta-cni)"
	@echo "make install   static build to \$$(DESTDIR)$(CNI_BIN_DIR), docs, copyright and examples to $(DOC_DIR)"
	@echo "make install-files   the same without building (INSTALL_BIN=... to pick the binary)"
	@echo "make install-config  example to $(CNI_NET_DIR) (never overwrites)"
	@echo "make deb      $(DEB_FILE) from the static build (dpkg-deb)"
	@echo "make lintian  run lintian on the .deb (if lintian is installed)"

build:
	$(CARGO) build

release:
	$(CARGO) build --release

static:
	STATIC_TARGET=$(STATIC_TARGET) CARGO=$(CARGO) sh packaging/static-build.sh

test: test-tools
	$(CARGO) test
	$(CARGO) test $(SLOW_TESTS)

test-tools:
	sh scripts/install-test-tools.sh

test-unit:
	$(CARGO) test --lib

# clippy's incompatible_msrv (on by default, named here so it stays on) fails
# on std APIs newer than Cargo.toml's rust-version: the MSRV check. The second
# clippy run covers the test targets --all-targets leaves out (test = false).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings -D clippy::incompatible_msrv
	$(CARGO) clippy $(SLOW_TESTS) -- -D warnings -D clippy::incompatible_msrv

fmt:
	$(CARGO) fmt --all

demo:
	sh scripts/demo.sh

bench:
	python3 bench/run

fuzz-build:
	$(CARGO_FUZZ) build

# New corpus entries go to fuzz/corpus/<target> (kept between runs, not in
# git); the seeds are read-only. A crash stops the loop: libFuzzer leaves the
# input in fuzz/artifacts/<target>/; keep it as tests/fixtures/fuzz/<target>/<name>.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t tests/fixtures/fuzz/$$t; \
	  echo "== fuzz $$t for $(FUZZ_TIME)s"; \
	  $(CARGO_FUZZ) run $$t fuzz/corpus/$$t fuzz/seeds/$$t examples tests/fixtures/results \
	    tests/fixtures/fuzz/$$t -- \
	    -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
	    -dict=fuzz/dict/meta-cni.dict -print_final_stats=1 $(FUZZ_FLAGS) || exit 1; \
	done

# Binary, README, copyright and examples; nothing in $(CNI_NET_DIR).
install: static
	@$(MAKE) --no-print-directory install-files

install-files:
	install -d $(DESTDIR)$(CNI_BIN_DIR) $(DESTDIR)$(DOC_DIR)/examples $(DESTDIR)$(DOC_DIR)/docs
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(CNI_BIN_DIR)/meta-cni
	install -m 0644 examples/*.conf $(DESTDIR)$(DOC_DIR)/examples/
	install -m 0644 README.md $(DESTDIR)$(DOC_DIR)/
	install -m 0644 docs/*.md $(DESTDIR)$(DOC_DIR)/docs/
	install -m 0644 $(INSTALL_COPYRIGHT) $(DESTDIR)$(DOC_DIR)/copyright

# Put the example into the runtime's config dir. A .conf there becomes a live
# network (the lexicographically first file wins), so this is a separate,
# explicit step, and an existing file is never overwritten.
install-config:
	install -d $(DESTDIR)$(CNI_NET_DIR)
	@if [ -e $(DESTDIR)$(CNI_NET_DIR)/00-meta.example.conf ]; then \
	  echo "keeping existing $(DESTDIR)$(CNI_NET_DIR)/00-meta.example.conf"; \
	else \
	  install -m 0644 examples/00-meta.example.conf $(DESTDIR)$(CNI_NET_DIR)/00-meta.example.conf; \
	fi

# The install layout (with PREFIX=/usr) in a fresh tree, plus the Debian
# bits, packed by dpkg-deb. See packaging/deb/build.sh.
deb: static
	rm -rf $(DEB_ROOT)
	@$(MAKE) --no-print-directory install-files DESTDIR=$(abspath $(DEB_ROOT)) \
	  PREFIX=/usr CNI_BIN_DIR=/opt/cni/bin DOC_DIR=/usr/share/doc/meta-cni
	VERSION=$(VERSION) DEB_ARCH=$(DEB_ARCH) DEB_MAINTAINER="$(DEB_MAINTAINER)" \
	  sh packaging/deb/build.sh $(DEB_ROOT) $(DEB_FILE)

lintian:
	@if command -v lintian >/dev/null 2>&1; then lintian --info $(DEB_FILE); \
	else echo "lintian is not installed (apt-get install lintian)"; fi

clean:
	$(CARGO) clean
