# emodemo: every chore is a target. `make app` and `make test` set everything up on first use.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA  ?= ../shared/datasets
# Notebooks run on .venv's own kernel, whatever kernels the user registered elsewhere.
export JUPYTER_DATA_DIR := $(CURDIR)/$(VENV)/share/jupyter

REPRODUCE_ARGS ?=
REPRODUCE := $(patsubst configs/reproduce/%.toml,reproduce-%,$(wildcard configs/reproduce/*.toml))

.PHONY: lint format app test space-check test-slow notebooks bench generalisation timeline ablation-speech_probe clean setup $(REPRODUCE)

$(STAMP): requirements.txt requirements-dev.txt requirements-ray.txt scripts/setup.sh
	@bash scripts/setup.sh
	@touch $(STAMP)

setup: $(STAMP)

## Serve the app on http://127.0.0.1:7860
app: $(STAMP)
	$(PY) app.py

## The default test suite: style (ruff), the layers' import contracts (pyproject.toml), library tests, then every notebook in quick mode
test: $(STAMP) lint
	$(VENV)/bin/lint-imports
	@command -v chromium >/dev/null && command -v espeak-ng >/dev/null || WITH_TEST_TOOLS=1 bash scripts/setup.sh \
	  || echo "make test: chromium / espeak-ng could not be installed; the tests that need them will skip"
	EMODEMO_QUICK=1 $(PY) -m pytest -q tests notebooks --nbval-lax -p no:cacheprovider

## Style: ruff's lint rules and its formatting (pyproject.toml); `make format` applies both
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## A Hugging Face Space's install: requirements.txt alone in a fresh venv, then the app answers one clip
space-check:
	bash scripts/space_check.sh

## Slow tests (real training, full transcription runs)
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow tests

## Re-execute every notebook in full and commit-ready form (outputs written in place)
notebooks: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 notebooks/*.ipynb

## Benchmarks: print and save figures under bench/results/
bench: $(STAMP)
	$(PY) bench/asr.py --root $(DATA)/ravdess_speech
	$(PY) bench/nmt_attention.py --root $(DATA)/ravdess_speech
	$(PY) bench/coattention.py --root $(DATA)/ravdess_speech
	$(PY) bench/ssl_mha.py --root $(DATA)/ravdess_speech
	$(PY) bench/handcrafted_ensemble.py --root $(DATA)/ravdess_speech
	$(PY) bench/mesm.py --root $(DATA)/ravdess_speech
	$(PY) bench/compare.py --root $(DATA)/ravdess_speech --fer-root $(DATA)/fer2013   # also runs bench/app.py and bench/hub_baseline.py
	$(PY) bench/gpu.py prepare --root $(DATA)/ravdess_speech   # then on a GPU machine: python bench/gpu.py run

## Emotion over time (issue 21): segments against clips on joined RAVDESS takes, an hour's throughput,
## Ray 1 vs 2 workers, the live microphone in Chromium; then the tables of docs/results.md (~40 min on 2 cores)
timeline: $(STAMP)
	$(PY) bench/timeline.py --root $(DATA)/ravdess_speech --minutes 60 --ray-files 6
	$(PY) bench/live.py --root $(DATA)/ravdess_speech
	$(PY) bench/timeline.py --render-only

## Every served model beyond RAVDESS: TESS (choose half; --report for the report half), the robustness
## set, per gender, the collapse; saved in bench/results/generalisation.json, rendered into docs/results.md
## and the README's headline table.
## One thread: the machine is shared (features and transcripts are cached: later runs take minutes).
## Fold models too large to commit are passed where `reproduce` wrote them, when they are there.
COATTENTION_FOLDS := runs/coattention/fusion_mixed_top2/folds
FOLDS_OUTSIDE := $(if $(wildcard $(COATTENTION_FOLDS)),--fold-models coattention=$(COATTENTION_FOLDS))
generalisation: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) bench/generalisation.py --tess $(DATA)/tess --ravdess $(DATA)/ravdess_speech --halves choose,report $(FOLDS_OUTSIDE)

## Every measured run of one model, as configs/reproduce/MODEL.toml records them (a run whose results
## exist is skipped): make reproduce-mesm, make reproduce-coattention REPRODUCE_ARGS="--served",
## make reproduce-ssl_mha REPRODUCE_ARGS="--variant self_real" (--list shows the runs; --quick a smoke run)
$(REPRODUCE): reproduce-%: $(STAMP)
	$(if $(findstring --quick,$(REPRODUCE_ARGS)),,OMP_NUM_THREADS=1 )$(PY) -m emodemo -v reproduce $* --data $(DATA) $(REPRODUCE_ARGS)

## What input normalisation, augmentation and calibration buy the speech probe on unseen voices (issue 20)
ablation-speech_probe: reproduce-speech_probe
ablation-speech_probe: REPRODUCE_ARGS = --variant ablation

clean:
	rm -rf $(VENV) .pytest_cache
