# Quick start: `make run` then `make test`. Both create .venv if it is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# CPU build of torch (the machine's wheel); a GPU user sets TORCH_SPEC, e.g.
#   make install TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"
TORCH_SPEC ?= torch==2.13.0
DATA    ?=
ARGS    ?=

.PHONY: install install-dev run test bench results check-results clean

$(BIN)/voxprint: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.dev: $(BIN)/voxprint
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/voxprint
install-dev: $(VENV)/.dev

run: install
	$(BIN)/voxprint run $(if $(DATA),--data $(DATA)) $(ARGS)

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m benchmarks.grid

# Every docs/results file that is older than a change to the code it declares (exit 1 if any).
check-results: install
	$(BIN)/python -m voxprint.report.results check

# Regenerate docs/results from real runs (finished models are reused), then the README's index. Hours on 2 cores.
results: install-dev
	$(BIN)/voxprint run --out runs/fsdd --seeds 3 --models cnn lstm crnn encoder --no-progress
	$(BIN)/python -m benchmarks.anchors runs/fsdd --verification
	$(BIN)/voxprint report runs/fsdd --results fsdd
	$(BIN)/voxprint run --config fsdd-unseen-noise --out runs/fsdd-noise --models crnn cnn --features mel \
		--compare-augment --seeds 3 --set eval.verification=false --no-progress
	$(BIN)/voxprint report runs/fsdd-noise --results fsdd-noise
	$(BIN)/voxprint run --config speeches5 --out runs/speeches5 --seeds 3 --models cnn lstm crnn \
		--set eval.verification=false --no-progress
	$(BIN)/voxprint report runs/speeches5 --results speeches5
	$(BIN)/voxprint run --config speeches5 --out runs/speeches5-encoder --models encoder \
		--set eval.verification=false --no-progress
	$(BIN)/voxprint report runs/speeches5-encoder --results speeches5-encoder
	$(BIN)/voxprint run --out runs/fsdd-default --no-progress
	$(BIN)/python -m benchmarks.padded runs/fsdd-default runs/speeches5 --train runs/padded --results
	$(BIN)/python -m benchmarks.vad --results
	$(BIN)/python -m benchmarks.fewshot --out runs/fewshot --models stats tdnn crnn --features mfcc mel --steps 2400 --ramp 600 \
		--min-steps 1200 --set train.monitor=val_acc "grid.augment=[true,false]" grid.seeds=3 --results
	$(BIN)/python -m benchmarks.encoder_windows --work runs/fewshot --results
	$(BIN)/python -m benchmarks.encoder --original --mfcc --ocean --json docs/results/encoder/encoder.json --results
	$(BIN)/python -m benchmarks.encoder_routes --results
	$(BIN)/python -m benchmarks.encoder_sources --results
	$(BIN)/python -m benchmarks.serve_load --results
	$(BIN)/python -m benchmarks.predict_memory --results
	$(BIN)/python -m benchmarks.grid --baseline eb9d998 --results
	$(BIN)/python -m benchmarks.openset --out docs/results/openset
	$(BIN)/pip install -q -e '.[diarize]'
	$(BIN)/python -m benchmarks.diarize --tune 80 --test 30 --long-minutes 60
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.cold_start --baseline aa1ab99 --results
	$(BIN)/python -m benchmarks.profiles --results
	$(BIN)/python -m voxprint.report.results index README.md

clean:
	rm -rf $(VENV) runs .pytest_cache
