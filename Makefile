# iofold: `make dev` runs the whole product locally; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PYTEST_ARGS ?=
STAGE ?= dev

.PHONY: install browser dev test test-fast bench lint package deploy rehearse clean screenshots

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3
	$(BIN)/pip install --quiet -r requirements-dev.txt
	# the client and CLI: puts `iofold` in $(BIN); its dependencies are pinned above, nothing is fetched
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

# Debian's Chromium drives the dashboard's browser tests (Playwright never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }

dev: install
	$(BIN)/python -m infra.local.dev

test: install browser
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test-fast: install
	$(BIN)/pytest -n 2 -m "not slow" $(PYTEST_ARGS)

# Rewrite dashboard/screenshots/*.png (linked from the README's tour) from a browser test.
screenshots: install browser
	IOFOLD_SCREENSHOTS=1 $(BIN)/pytest -n 0 -q tests/browser/test_screenshots.py

bench: install
	$(BIN)/python -m bench.run_all

# infra/build/$(STAGE)/: sam.json (packaged + merged), deployment.zip, layer-deployment.zip; cfn-lint + statelint
package: install
	$(BIN)/python -m infra.template --stage $(STAGE) --package

# needs AWS credentials: package, stack create/update, sandbox probe, first workspace + key, dashboard (docs/deploy.md)
deploy: package
	$(BIN)/python -m infra.deploy --stage $(STAGE) --skip-package

# the same deploy path into moto's CloudFormation on loopback, then the loop through the API; no AWS account
rehearse: package
	$(BIN)/python -m infra.rehearse --stage $(STAGE) --skip-package

lint: install
	$(BIN)/python -m infra.template --stage dev --package

clean:
	rm -rf $(VENV) .iofold .pytest_cache
