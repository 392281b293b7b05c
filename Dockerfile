# syntax=docker/dockerfile:1
# The webhook server image: `make image` (docker build -t projected-token-webhook:<version> .).
# Both stages share one Python base, so the virtualenv built in the first runs unchanged in the second.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
WORKDIR /src
# mypyc compiles the hot core to C: the compiler lives in this stage only (later stages copy the venv alone).
# Not pinned to a Debian version: point releases drop old ones from the archive; the base tag fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
# Dependencies exactly as locked (hashes checked, nothing resolved at build time), in their own layer.
COPY requirements.lock requirements-build.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-deps --require-hashes -r requirements.lock \
    && python -m venv /opt/build \
    && /opt/build/bin/pip install --no-deps --require-hashes -r requirements-build.lock
# webhook/data/manifests links to manifests/base: both must be in the build context.
# setup.py is the build hook that compiles the core (WEBHOOK_COMPILE=1): without it the wheel is pure.
COPY pyproject.toml setup.py README.md LICENSE ./
COPY manifests/base ./manifests/base
COPY webhook ./webhook
# The lock holds the [server] extra; importing webhook.serve proves it is all there. VERSION (make image
# passes it, read from webhook/__init__.py) must be the package's: the label cannot drift from it.
ARG VERSION
RUN WEBHOOK_COMPILE=1 /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
    && /opt/venv/bin/pip install --no-deps --no-index /tmp/wheels/*.whl \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/python -c 'import webhook.serve' \
    && /opt/venv/bin/python -c 'import webhook.mutate as m; assert m.__file__.endswith(".so"), m.__file__' \
    && test "$(/opt/venv/bin/webhook --version)" = "webhook, version ${VERSION:?pass --build-arg VERSION (make image)}" \
    && /opt/venv/bin/webhook manifests > /dev/null

# The KRM function image, for kustomize's `container:` functions (docker build --target krm-function):
# the same virtualenv, entered as `webhook render -`, which reads the ResourceList kustomize writes to stdin
# and writes it back with the webhook's mutation applied. The server image below stays the default target.
FROM ${PYTHON_IMAGE} AS krm-function
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
USER 65532:65532
ENTRYPOINT ["webhook", "render", "-"]

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION
LABEL org.opencontainers.image.title="projected-token-webhook" \
      org.opencontainers.image.description="Mutating admission webhook that injects audience-bound projected service-account tokens" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# Bytecode was compiled at install time; the root filesystem is read-only in the cluster.
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
# A fixed non-root UID/GID (the manifests' runAsUser); no RUN here: nothing needs a shell at runtime.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["webhook", "serve"]
