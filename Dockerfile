# The mops image: one image, four commands (ENTRYPOINT is the `mops` CLI):
#   docker run IMAGE            -> mops worker   (default)
#   docker run IMAGE gateway    -> mops gateway  (HTTP, 8000)
#   docker run IMAGE sandbox    -> mops sandbox  (platform stand-ins, 8100)
#   docker run IMAGE codec-server -> mops codec-server (the Web UI's and CLI's codec, 8888)
# Worker metrics (Prometheus) on 9464. See deploy/README.md.
# The worker runs the configuration of workers/tuning.py (MOPS_WORKER_* settings; it logs
# it at start; `docker run IMAGE worker --print-config` prints it). Under
# PYTHONDONTWRITEBYTECODE it reads the wheel's .pyc, compiled when pip installed it.
#
# For reproducible builds pin the base image by digest (python:3.11-slim@sha256:...).
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

WORKDIR /src
# Dependencies first, from pyproject.toml's [project] dependencies only (no test extras),
# so this layer is rebuilt only when they change.
COPY pyproject.toml README.md LICENSE ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (the packages pyproject.toml lists).
COPY mops ./mops
COPY domain ./domain
COPY integrations ./integrations
COPY activities ./activities
COPY workflows ./workflows
COPY workers ./workers
COPY starter ./starter
COPY sandbox ./sandbox
COPY gateway ./gateway
RUN pip install --no-deps . \
    && mops --help >/dev/null

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

# Data the code reads at run time lives outside site-packages: point the settings at it.
# Ad images are read from MOPS_CAMPAIGN_ASSETS by the path a campaign file names them by,
# and uploaded only if they are the file the CLI validated: campaigns/ is copied in at
# build; mount your own campaigns directory there (compose, k8s) to run newer files.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MOPS_JOURNEYS_DIR=/app/journeys \
    MOPS_POLICIES_DIR=/app/policies \
    MOPS_CAMPAIGNS_DIR=/app/campaigns \
    MOPS_CAMPAIGN_ASSETS=/app/campaigns \
    MOPS_DATA_DIR=/var/lib/mops

RUN groupadd --system --gid 10001 mops \
    && useradd --system --uid 10001 --gid mops --home-dir /app --no-create-home --shell /usr/sbin/nologin mops \
    && mkdir -p /app /var/lib/mops/keys \
    && chown -R mops:mops /var/lib/mops

COPY --from=build /opt/venv /opt/venv
COPY journeys /app/journeys
COPY policies /app/policies
COPY campaigns /app/campaigns

WORKDIR /app
USER 10001:10001

EXPOSE 8000 8100 8888 9464
# The worker drains on SIGTERM (graceful shutdown of running activities).
STOPSIGNAL SIGTERM
ENTRYPOINT ["mops"]
CMD ["worker"]
