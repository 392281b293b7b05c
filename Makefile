# Every target creates or reuses .venv, so `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# Compiled with mypyc into the venv (hack/compile.py; the list is in pyproject.toml): an edit to one of these
# rebuilds it, or the stale extension module would shadow the edited source.
COMPILED := $(shell $(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["projected-token-webhook"]["compiled"])')
PORT ?= 8443

.PHONY: venv run test test-lowest lint format bench bench-render bench-serve bench-attack bench-apiserver e2e-assets relying-parties go-tools e2e test-diff clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py hack/compile.py $(COMPILED)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet 'setuptools>=77' 'mypy>=1.18'
	$(BIN)/python -m pip install --quiet --no-build-isolation -e '.[dev]'
	$(BIN)/python hack/compile.py
	rm -f $(VENV)/.installed-* && touch $@

run: venv
	$(BIN)/webhook serve --self-signed --serviceaccounts examples/serviceaccounts.yaml --port $(PORT)

# mypy: strict for the core (pyproject.toml [tool.mypy]); the import contract is tests/test_import_contract.py.
lint: venv
	$(BIN)/ruff check webhook tests hack setup.py
	$(BIN)/ruff format --check webhook tests hack setup.py
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_import_contract.py

format: venv
	$(BIN)/ruff format webhook tests hack setup.py
	$(BIN)/ruff check --fix webhook tests hack setup.py

# Coverage of the package as the tests import it (the console-script subprocesses are not counted).
test: venv lint
	$(BIN)/python -m pytest --cov=webhook --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

# The lowest versions pyproject.toml allows: the core tests and one served review (hack/lowest_bounds.py).
test-lowest: venv
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/python hack/lowest_bounds.py

e2e-assets:
	bash hack/e2e-assets.sh

# OAuth2-Proxy for tests/e2e/test_relying_parties.py, built from Go modules (cached; Vault cannot be, see the script).
relying-parties:
	bash hack/relying-parties.sh

# helm, standalone kustomize and promtool for the chart, KRM-function and alert-rule tests (cached, per version).
go-tools:
	bash hack/go-tools.sh

e2e: venv e2e-assets relying-parties
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

# The differential test alone, with its summary (DIFF_RANDOM=1 DIFF_EXAMPLES=N for random seeds).
test-diff: venv e2e-assets
	$(BIN)/python -m pytest tests/e2e/test_differential.py -m e2e -s $(PYTEST_ARGS)

bench: bench-render bench-serve

# Pod templates/s through mutate_pod and `webhook render` (10,000 workloads), pinned to one core.
bench-render: venv
	$(shell command -v taskset >/dev/null && echo taskset -c 0) $(BIN)/python hack/bench_render.py $(BENCH_ARGS)

# Server throughput/latency beside its ceiling (hey from Debian) and the cache's RSS; see docs/benchmarks.md.
bench-serve: venv
	command -v hey >/dev/null || (apt-get update -qq && apt-get install -y -qq hey)
	$(BIN)/python hack/bench_serve.py $(BENCH_ARGS)

# A legitimate client at 200 reviews/s beside each attack (header flood, slow, idle, aborted uploads), on 127.0.0.1.
bench-attack: venv
	command -v hey >/dev/null || (apt-get update -qq && apt-get install -y -qq hey)
	$(BIN)/python hack/bench_attack.py $(BENCH_ARGS)

# Pod-create latency through the e2e kube-apiserver: no webhook, and ours (URL form, failurePolicy Fail), interleaved.
bench-apiserver: venv e2e-assets
	$(BIN)/python hack/bench_apiserver.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info

# --- Shipping: dependency lock, audit, image, kind (owner: manifests) --------------------------------
# kind-* and image need a Docker engine plus kind and kubectl on PATH; see README "Installing into a cluster".
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' webhook/__init__.py)
IMAGE ?= projected-token-webhook:$(VERSION)
KIND_CLUSTER ?= projected-token-webhook
OVERLAY ?= cert-manager
CERT_MANAGER_VERSION ?= v1.16.2
LOCK_ARGS ?=
DECODE_JWT_CLAIMS := python3 -c 'import base64, json, sys; p = sys.stdin.read().strip().split(".")[1]; \
	print(json.dumps(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))), indent=2))'
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --no-header --annotation-style line --quiet

.PHONY: lock audit image kind-up kind-deploy kind-demo kind-down

# The image's dependencies: the core and the [server] extra. Refresh with `make lock LOCK_ARGS=--upgrade`;
# without it, pins move only as pyproject.toml requires.
lock: venv
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra server $(LOCK_FLAGS) $(LOCK_ARGS) -o requirements.lock
	printf 'setuptools>=77\nmypy>=1.18\n' | $(BIN)/uv pip compile - $(LOCK_FLAGS) $(LOCK_ARGS) -o requirements-build.lock

audit: venv
	$(BIN)/python -m pip install --quiet pip-audit
	$(BIN)/pip-audit --strict --disable-pip --require-hashes -r requirements.lock -r requirements-build.lock

image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# The KRM function image (kustomize `container:` functions run `webhook render -`); README "Render in CI".
KRM_IMAGE ?= projected-token-webhook-krm:$(VERSION)
.PHONY: image-krm
image-krm:
	docker build --target krm-function -t $(KRM_IMAGE) .

kind-up:
	kind create cluster --name $(KIND_CLUSTER) --config hack/kind-config.yaml --wait 120s

# cert-manager's own webhook may need a few seconds more than its rollout before it admits Issuers.
kind-deploy: image $(if $(filter static,$(OVERLAY)),venv)
	kind load docker-image $(IMAGE) --name $(KIND_CLUSTER)
ifeq ($(OVERLAY),static)
	$(BIN)/webhook certs generate --service projected-token-webhook --namespace projected-token-webhook \
		--out manifests/overlays/static/certs
else
	kubectl apply -f https://github.com/cert-manager/cert-manager/releases/download/$(CERT_MANAGER_VERSION)/cert-manager.yaml
	kubectl -n cert-manager wait --for=condition=Available deployment --all --timeout=180s
endif
	for i in 1 2 3 4 5 6; do kubectl apply -k manifests/overlays/$(OVERLAY) && break; sleep 10; done
	kubectl -n projected-token-webhook rollout status deployment/projected-token-webhook --timeout=180s

kind-demo:
	kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -
	kubectl -n demo create serviceaccount demo --dry-run=client -o yaml | kubectl apply -f -
	kubectl -n demo annotate --overwrite serviceaccount demo projected-token.io/audience=demo-audience
	kubectl -n demo delete pod demo --ignore-not-found --wait
	kubectl -n demo run demo --image=busybox:1.36 --restart=Never \
		--overrides='{"spec":{"serviceAccountName":"demo"}}' --command -- sleep 3600
	kubectl -n demo wait --for=condition=Ready pod/demo --timeout=120s
	kubectl -n demo get pod demo -o jsonpath='{range .spec.volumes[?(@.projected)]}{.name}: {.projected.sources}{"\n"}{end}'
	kubectl -n demo exec demo -- printenv TOKEN_FILE
	kubectl -n demo exec demo -- sh -c 'cat "$$TOKEN_FILE"' | $(DECODE_JWT_CLAIMS)

kind-down:
	kind delete cluster --name $(KIND_CLUSTER)
