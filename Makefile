# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PIP     = $(VENV)/bin/pip

.PHONY: run test lint dist deb appimage bench mutants clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Stamp files so a second `make run` starts at once.
$(VENV)/.run-deps: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e ".[gui,service]"
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e ".[gui,service,train,test]"
	touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	$(VENV)/bin/captioner gui samples

test: $(VENV)/.test-deps
	$(VENV)/bin/python -m pytest -q

lint: $(VENV)/.test-deps
	$(VENV)/bin/ruff check desktop converter tests benchmarks
	$(VENV)/bin/mypy desktop

dist: $(VENV)/.run-deps
	$(PIP) install -q -e ".[build]"
	$(VENV)/bin/pyinstaller --noconfirm --clean build.spec

# Linux installers from the folder `make dist` builds (docs/dist.md): dist/captioner_*.deb,
# and dist/Captioner.AppDir (plus the AppImage where an appimagetool is on the PATH).
deb: dist
	$(VENV)/bin/python packaging/linux/installers.py deb --app dist/captioner --out dist

appimage: dist
	$(VENV)/bin/python packaging/linux/installers.py appimage --app dist/captioner --out dist

# Mutation testing of the modules that guard users' data (docs/testing.md); CPU-heavy, not in
# CI. MODULES="decoding xmp" narrows it.
mutants: $(VENV)/.test-deps
	$(PIP) install -q -e ".[mutants]"
	nice -n 15 $(VENV)/bin/python -m tests.support.mutants $(MODULES)

bench: $(VENV)/.run-deps
	$(VENV)/bin/captioner bench

clean:
	rm -rf build dist .pytest_cache .mutants
