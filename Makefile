# alkit — the two commands of the README, plus a few helpers.
#   make reproduce   set up .venv (first use), then run every notebook on the embedded default
#   make test        set up .venv (first use), then run all tests, two processes (smoke preset for notebooks and solutions)
#   make test-browser  JupyterLab + Debian's Chromium: an explorer in a real browser (tests/browser)
#   make lab         JupyterLab on the notebooks (jupyterlab comes from requirements.txt)
#   make student-copies DIR=handout   the notebooks with the solution cells blanked
#   make book        the course as a static site in outputs/book/ (Sphinx + myst-nb; requirements-course.txt)
#   make explore     the explorers as a web app (Voila) on http://127.0.0.1:$(PORT)/
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PRESET ?= default

.PHONY: setup reproduce test test-browser lab student-copies benchmarks clean-outputs

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

reproduce: $(STAMP)
	$(PY) -m alkit reproduce --preset $(PRESET)

# the suite (with its 15 slowest tests listed) in TEST_WORKERS processes (pytest-xdist; each test keeps its own outputs folder): 2 fills the
# 2-core CI machine (clean clone of 8c0fbe2: 11.8 min of pytest; 16.3 min in one process at 52dbe49); TEST_WORKERS=0: one process
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) tests --ignore=tests/browser --durations=15

# the course tools (book, web app, browser tests): a second stamp, so make reproduce's set-up does not grow
COURSE_STAMP := $(VENV)/.course-installed
PORT ?= 8866
.PHONY: book explore

$(COURSE_STAMP): $(STAMP) requirements-course.txt
	$(PY) -m pip install --quiet -r requirements-course.txt
	touch $(COURSE_STAMP)

book: $(COURSE_STAMP)
	$(PY) -m alkit.book

explore: $(COURSE_STAMP)
	$(PY) -m alkit.webapp --port $(PORT)

test-browser: $(COURSE_STAMP)
	$(PY) -m pytest -q tests/browser

lab: $(STAMP)
	$(PY) -m jupyterlab notebooks

DIR ?= student-copies
student-copies: $(STAMP)
	$(PY) -m alkit student-copies $(DIR)

benchmarks: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-outputs:
	rm -rf outputs/runs outputs/figures outputs/notebooks
