# syntax=docker/dockerfile:1.7
#
# pdfrag container images, one Dockerfile with two targets:
#
#   cpu  the query service (`pdfrag serve`), the cpu-pool Prefect worker, the
#        bootstrap and first-index jobs. python slim base, CPU build of torch.
#   gpu  the gpu-pool Prefect worker that embeds: CUDA runtime base, CUDA build
#        of torch.
#
#   docker build --target cpu -t ghcr.io/OWNER/pdfrag:0.1.0 .
#   docker build --target gpu -t ghcr.io/OWNER/pdfrag-gpu:0.1.0 .
#
# Both run as the unprivileged user pdfrag (uid 10001) from /app, which holds
# prefect.yaml (deployments pull from /app) and the container helpers of
# infra/docker. pdfrag is installed non-editable; dependencies sit in their
# own layer, built from pyproject.toml alone, so a source change rebuilds
# only the last layers. Nothing secret is baked in: credentials come from the
# environment (Compose .env, Kubernetes Secret) at run time.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04
ARG TORCH_VERSION=2.13.0

# --- sources and the dependency list --------------------------------------
FROM ${PYTHON_IMAGE} AS src
WORKDIR /src
COPY pyproject.toml README.md ./
# The runtime dependencies of pyproject.toml, one per line, for a layer that
# changes only when they do. prefect-kubernetes: the worker of Kubernetes
# work pools (the Helm chart's default pool type).
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > requirements.txt \
 && echo "prefect-kubernetes==0.8.0" >> requirements.txt
COPY src ./src
COPY flows ./flows
COPY tasks ./tasks

# --- CPU: build the virtual environment -----------------------------------
FROM ${PYTHON_IMAGE} AS cpu-build
ARG TORCH_VERSION
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from the CPU index: a bare torch requirement pulls CUDA (GBs).
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_CPU_INDEX}"
COPY --from=src /src/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
COPY --from=src /src /tmp/pdfrag
RUN pip install --no-deps /tmp/pdfrag

# --- CPU image --------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS cpu
LABEL org.opencontainers.image.title="pdfrag" \
      org.opencontainers.image.description="pdfrag query service and CPU Prefect worker" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"
RUN groupadd --system --gid 10001 pdfrag \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin pdfrag \
 && mkdir -p /app/.pdfrag /app/.prefect /app/.cache \
 && chown -R 10001:10001 /app
COPY --from=cpu-build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=10001:10001 prefect.yaml ./
COPY --chown=10001:10001 infra/docker/bootstrap.py infra/docker/probe.py ./
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PDFRAG_HOME=/app/.pdfrag \
    PREFECT_HOME=/app/.prefect \
    HF_HOME=/app/.cache/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1 \
    PDFRAG_SERVICE__HOST=0.0.0.0 \
    PDFRAG_SERVICE__PORT=8000
USER 10001:10001
EXPOSE 8000
# The service's /health; workers set HEALTHCHECK_URL to their own health
# server (prefect worker start --with-healthcheck, port 8080).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 CMD ["python", "/app/probe.py"]
CMD ["pdfrag", "serve"]

# --- GPU image --------------------------------------------------------------
FROM ${CUDA_IMAGE} AS gpu
ARG TORCH_VERSION
ARG TORCH_CUDA_INDEX=https://download.pytorch.org/whl/cu128
LABEL org.opencontainers.image.title="pdfrag-gpu" \
      org.opencontainers.image.description="pdfrag embedding worker (gpu-pool), CUDA build of torch" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_CUDA_INDEX}"
COPY --from=src /src/requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt
COPY --from=src /src /tmp/pdfrag
RUN pip install --no-deps /tmp/pdfrag && rm -rf /tmp/pdfrag /tmp/requirements.txt
RUN groupadd --system --gid 10001 pdfrag \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin pdfrag \
 && mkdir -p /app/.pdfrag /app/.prefect /app/.cache \
 && chown -R 10001:10001 /app
WORKDIR /app
COPY --chown=10001:10001 prefect.yaml ./
COPY --chown=10001:10001 infra/docker/bootstrap.py infra/docker/probe.py ./
ENV PYTHONUNBUFFERED=1 \
    PDFRAG_HOME=/app/.pdfrag \
    PREFECT_HOME=/app/.prefect \
    HF_HOME=/app/.cache/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1 \
    PDFRAG_EMBED__DEVICE=auto \
    HEALTHCHECK_URL=http://127.0.0.1:8080/health
USER 10001:10001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "/app/probe.py"]
CMD ["prefect", "worker", "start", "--pool", "gpu-pool", "--with-healthcheck"]
