# pad: one command from raw data to the paper's tables. Every target is a thin wrapper over the
# `pad` binary; the work itself is cached by content hash (.pad-cache/), so a second run with
# nothing changed finishes in seconds.
PAD      := target/release/pad
PROFILE  ?= demo
CARGO    ?= cargo
PYTHON   ?= python3
# `make reproduce EXECUTOR=slurm` (or JOBS=4): where and how many stages at once.
EXECUTOR ?= local
JOBS     ?= 1
RUNFLAGS  = --executor $(EXECUTOR) $(if $(filter local,$(EXECUTOR)),--jobs $(JOBS))
INCEPTION     := data/pt_inception-2015-12-05.safetensors
INCEPTION_PTH := data/pt_inception-2015-12-05-6726825d.pth
INCEPTION_URL := https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth

.PHONY: all build demo cifar-jpeg reproduce inception test bench data train probe occlusion distances pca dreams fid-real fid report status verify clean-cache

all: demo

build:
	$(CARGO) build --release --locked

# The embedded default: every stage end to end on data shipped in data/demo, no network.
demo: build
	$(PAD) run --config pipeline.toml --profile demo $(RUNFLAGS)

# The natural-image study committed in results/cifar-jpeg: the CIFAR-10 JPEG stand-in from
# $(SHARED_DATA), no network; about 2 hours on 2 cores with JOBS=2 THREADS_PER_JOB=1.
SHARED_DATA     ?= ../shared/data
THREADS_PER_JOB ?=
cifar-jpeg: build
	$(PAD) fetch cifar10-jpeg --mirror $(SHARED_DATA)
	$(PAD) run --config pipeline.toml --profile cifar-jpeg $(RUNFLAGS) $(if $(THREADS_PER_JOB),--threads-per-job $(THREADS_PER_JOB))

# The paper's grid (CIFAR-10 and SVHN; fetches the official archives; FID needs the Inception
# weights below).
reproduce: build $(INCEPTION)
	$(PAD) run --config pipeline.toml --profile paper $(RUNFLAGS)

# pytorch-fid's Inception-v3 (the network FID is defined with), converted to safetensors once.
# Needs curl and a Python with torch (docs/fid.md). pipeline.toml's [eval] fid_weights names it.
inception: $(INCEPTION)
$(INCEPTION):
	mkdir -p $(dir $@)
	curl -fL --retry 3 -o $(INCEPTION_PTH).part $(INCEPTION_URL)
	mv $(INCEPTION_PTH).part $(INCEPTION_PTH)
	$(PYTHON) tools/convert_inception.py $(INCEPTION_PTH) $@

test:
	$(CARGO) test --release --locked

bench: build
	$(PAD) bench
	$(CARGO) run --release --locked --example gemm_backends

# One stage (and whatever it needs) of $(PROFILE): make train PROFILE=paper
data train probe occlusion distances pca dreams fid-real fid report: build
	$(PAD) run --config pipeline.toml --profile $(PROFILE) $(RUNFLAGS) $@

status: build
	$(PAD) status --config pipeline.toml --profile $(PROFILE)

verify: build
	$(PAD) verify
