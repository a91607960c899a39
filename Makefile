# `make demo` and `make test` create what they need on first use:
#   .venv        the package and its tests on torch's CPU build (no torchvision)
#   .venv-video  the `[video]` extra (torchvision, PyAV) for extraction, `detect` and the video report's browser test
#   browser      Debian's Chromium for the browser tests of both reports (the diagnosis report's runs in test-core)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VIDEO_BIN := .venv-video/bin

.PHONY: setup setup-video browser demo test test-core test-video bench clean

$(BIN)/seqattnet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned to the release this project is tested with; the package itself accepts a range.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

$(VIDEO_BIN)/seqattnet: pyproject.toml
	$(PYTHON) -m venv .venv-video
	$(VIDEO_BIN)/pip install --quiet --upgrade pip
	# torchvision works only beside the torch release it was built for: this pair
	$(VIDEO_BIN)/pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
	$(VIDEO_BIN)/pip install --quiet -e ".[test,video]"
	touch $@

setup: $(BIN)/seqattnet

setup-video: $(VIDEO_BIN)/seqattnet

# Debian's Chromium and ChromeDriver for the reports' browser tests (which are skipped, saying why, without them)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; }; } || \
	  echo "chromium not installed: the reports' browser tests will be skipped"

demo: setup
	$(BIN)/seqattnet demo --out runs/demo

test: test-core test-video

test-core: setup browser
	$(BIN)/python -m pytest

test-video: setup-video browser
	$(VIDEO_BIN)/python -m pytest tests/video tests/report/test_html.py tests/test_pipeline.py

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .venv-video runs .pytest_cache
