# syntax=docker/dockerfile:1
# One image for every Tongban process: `tongban serve <service>`, `tongban migrate`,
# `tongban kafka-acls --apply`, `tongban carrier-simulator`.

# --- builder: wheels of the pinned dependencies, then the project, into a virtualenv ---------
FROM python:3.11.13-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# The dependencies alone first (from pyproject.toml's pins), so a change of the code keeps this
# layer cached.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip wheel --wheel-dir /tmp/wheels -r /tmp/requirements.txt \
 && pip install --no-index --find-links /tmp/wheels -r /tmp/requirements.txt
COPY shared ./shared
COPY services ./services
COPY tooling ./tooling
# Editable: the services' Alembic revisions (services/*/migrations/versions, not packages) stay
# where shared.db.migrations looks for them, next to the code in /app.
RUN pip install --no-deps -e . \
 && python -m compileall -q /app/shared /app/services /app/tooling

# --- runtime: the virtualenv and the code, a Chinese font for certificates, no root ----------
FROM python:3.11.13-slim-bookworm AS runtime
# fonts-noto-cjk: delivery prints certificates in Chinese (services/delivery/pdf.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 tongban \
 && useradd --system --uid 10001 --gid tongban --home-dir /app --shell /usr/sbin/nologin tongban \
 && mkdir -p /var/lib/tongban/keys /var/lib/tongban/trust \
 && chown -R tongban:tongban /var/lib/tongban
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
# Read-only root file systems (Kubernetes): no bytecode written at run time, caches in /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XDG_CACHE_HOME=/tmp/cache \
    KEY_RING_DIR=/var/lib/tongban/keys
USER 10001:10001
EXPOSE 8001 8002 8003 8004 8005 8008
ENTRYPOINT ["tongban"]
CMD ["--help"]
