# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501
CHROMIUM ?= /usr/bin/chromium

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false

.PHONY: run test venv chromium bench bench-deps clean

run: $(STAMP)
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.address localhost

test: $(STAMP) chromium
	$(PY) -m pytest

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# The browser test drives Debian's Chromium (no browser downloads at run time).
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "Installing Debian's chromium for the browser test (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# Benchmarks compare against peers (BertViz) that the app itself does not need.
bench-deps: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt

bench: bench-deps
	$(PY) bench/transformer_payload.py
	$(PY) bench/photos_click.py

clean:
	rm -rf $(VENV) .pytest_cache
