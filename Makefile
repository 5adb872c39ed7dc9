# pad: one command from raw data to the paper's tables. Every target is a thin wrapper over the
# `pad` binary; the work itself is cached by content hash (.pad-cache/), so a second run with
# nothing changed finishes in seconds.
PAD      := target/release/pad
PROFILE  ?= demo
CARGO    ?= cargo

.PHONY: all build demo reproduce test bench data train probe report status verify clean-cache

all: demo

build:
	$(CARGO) build --release --locked

# The embedded default: every stage end to end on data shipped in data/demo, no network.
demo: build
	$(PAD) run --config pipeline.toml --profile demo

# The paper's grid (CIFAR-10 and SVHN; fetches the official archives).
reproduce: build
	$(PAD) run --config pipeline.toml --profile paper

test:
	$(CARGO) test --release --locked

bench: build
	$(PAD) bench
	$(CARGO) run --release --locked --example gemm_backends

# One stage (and whatever it needs) of $(PROFILE): make train PROFILE=paper
data train probe report: build
	$(PAD) run --config pipeline.toml --profile $(PROFILE) $@

status: build
	$(PAD) status --config pipeline.toml --profile $(PROFILE)

verify: build
	$(PAD) verify
