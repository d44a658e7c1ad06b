# meta-cni: build, test, lint, install, package. `make help` lists targets.
PREFIX      ?= /usr
DESTDIR     ?=
CNI_BIN_DIR ?= /opt/cni/bin
CNI_NET_DIR ?= /etc/cni/net.d
DOC_DIR     ?= $(PREFIX)/share/doc/meta-cni
CARGO       ?= cargo
VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
STATIC_TARGET ?= x86_64-unknown-linux-musl
# `make fuzz`: each target runs FUZZ_TIME seconds (one core), one after the other.
FUZZ_TIME    ?= 60
FUZZ_TARGETS ?= config_load overrides template result plugin_run
FUZZ_FLAGS   ?=
CARGO_FUZZ   ?= $(CARGO) +nightly fuzz

.PHONY: help build release test test-unit lint fmt demo install install-config clean fuzz fuzz-build

help:
	@echo "make build     debug build"
	@echo "make release   optimised build (target/release/meta-cni)"
	@echo "make test      the whole test suite (root runs the real-plugin tests)"
	@echo "make lint      rustfmt check + clippy -D warnings"
	@echo "make demo      build, install into a temp CNI dir, run the example through cnitool in a netns"
	@echo "make fuzz      cargo-fuzz every target for FUZZ_TIME=$(FUZZ_TIME)s each (nightly + cargo-fuzz; fuzz/README.md)"
	@echo "make install   binary to \$$(DESTDIR)$(CNI_BIN_DIR), docs and examples to $(DOC_DIR)"
	@echo "make install-config  example to $(CNI_NET_DIR) (never overwrites)"

build:
	$(CARGO) build

release:
	$(CARGO) build --release

test:
	$(CARGO) test --all-targets

test-unit:
	$(CARGO) test --lib

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

demo:
	sh scripts/demo.sh

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

install: release
	install -d $(DESTDIR)$(CNI_BIN_DIR) $(DESTDIR)$(DOC_DIR)/examples
	install -m 0755 target/release/meta-cni $(DESTDIR)$(CNI_BIN_DIR)/meta-cni
	install -m 0644 examples/*.conf $(DESTDIR)$(DOC_DIR)/examples/
	install -m 0644 README.md $(DESTDIR)$(DOC_DIR)/

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

clean:
	$(CARGO) clean
