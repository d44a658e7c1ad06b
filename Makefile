# meta-cni: build, test, lint, install, package. `make help` lists targets.
PREFIX      ?= /usr
DESTDIR     ?=
CNI_BIN_DIR ?= /opt/cni/bin
CNI_NET_DIR ?= /etc/cni/net.d
DOC_DIR     ?= $(PREFIX)/share/doc/meta-cni
CARGO       ?= cargo
VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
STATIC_TARGET ?= x86_64-unknown-linux-musl

.PHONY: help build release test test-unit lint fmt demo install install-config clean

help:
	@echo "make build     debug build"
	@echo "make release   optimised build (target/release/meta-cni)"
	@echo "make test      the whole test suite (root runs the real-plugin tests)"
	@echo "make lint      rustfmt check + clippy -D warnings"
	@echo "make demo      build, install into a temp CNI dir, run the example through cnitool in a netns"
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
