# Each target bootstraps .venv itself, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The page tests drive a real Chromium: Debian's, installed here (root, apt-get).
CHROMIUM := /usr/bin/chromium

.PHONY: run test bench clean fuzz soak

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m node.demo

$(CHROMIUM):
	apt-get install -y -q chromium chromium-driver || (apt-get update -q && apt-get install -y -q chromium chromium-driver)

test: $(STAMP) $(CHROMIUM)
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python -m bench.run

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz --inputs 1000000

soak: $(STAMP)
	$(BIN)/python -m tests.cluster.soak --kills 1000 --flood-s 60

clean:
	rm -rf $(VENV) build *.egg-info
