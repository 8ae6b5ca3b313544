# SeqLab: `make test` installs everything into .venv and runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-browser run bench-accuracy bench-speed bench-learning-curve bench-contention bench-data-page bench-editor clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

test: install
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(PY) -m pytest

# Only the real-Chromium journeys against `streamlit run` (needs /usr/bin/chromium).
test-browser: install
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(PY) -m pytest -m browser tests/browser

# 127.0.0.1 only: single-user mode has no accounts, so anyone who reaches the port could do anything.
# Team mode (README, "Teams"): SEQLAB_AUTH=on make run ADDRESS=0.0.0.0
ADDRESS ?= 127.0.0.1
run: install
	$(PY) -m streamlit run app.py --server.address $(ADDRESS) --server.port 8501 --server.headless true --browser.gatherUsageStats false

bench-accuracy: install
	$(PY) bench/accuracy.py

bench-speed: install
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) bench/speed.py

bench-learning-curve: install
	$(PY) -m pip install --quiet -r bench/requirements.txt
	OMP_WAIT_POLICY=PASSIVE $(PY) bench/learning_curve.py

bench-contention: install
	$(PY) bench/contention.py

bench-editor: install
	$(PY) bench/editor.py

# The Data page, the import and the other pages' queries at 100,000 and 500,000 documents (about 4 minutes).
bench-data-page: install
	HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false $(PY) bench/data_page.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis test-artifacts
