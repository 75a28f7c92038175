# Two entry points on a fresh machine:  make demo  (runs the default workflow + report),  make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU machines get the CPU wheel of torch (pinned) before the package, so pip never pulls a CUDA build;
# machines with an NVIDIA driver get torch from the package's own range instead.
TORCH_CPU ?= torch==2.13.0

.PHONY: setup demo test dry-run lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/python -m pip install --quiet "$(TORCH_CPU)"; fi
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(BIN)/snakemake --profile profiles/local
	$(BIN)/snakemake --profile profiles/local --report results/report.html
	@echo "report: results/report.html"

test: setup
	$(BIN)/python -m pytest -q

dry-run: setup
	$(BIN)/snakemake -n

lint: setup
	$(BIN)/ruff check src tests tools scripts
	$(BIN)/ruff format --check src tests tools scripts
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check workflow/

clean:
	rm -rf results logs benchmarks .snakemake
