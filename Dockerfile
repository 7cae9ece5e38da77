# One image for every Tongban process: `tongban serve <service>`, `tongban migrate`,
# `tongban kafka-acls --apply`, `tongban carrier-simulator`, the federation gateway
# (`python -m services.federation`), the SMS gateway simulator (`python -m tooling.sms_gateway`).
# Builds with the classic builder (`DOCKER_BUILDKIT=0 docker build .`) as with BuildKit: no
# `# syntax=` line, whose frontend BuildKit would fetch from a registry.

# The Python base of both stages: the official image; `make compose-test` passes a local one
# made from Debian's packages where no registry can be reached (tooling/compose_test/).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- builder: wheels of the pinned dependencies, then the project, into a virtualenv ---------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A C compiler for what PyPI has no Linux wheel of (gmalglib, the SM2/SM3/SM4 library, ships
# Windows wheels and a source distribution only); Python's headers where the base lacks them
# (Debian's python3 keeps them in python3-dev, the official image in /usr/local/include).
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
      $(python3 -c "import sysconfig, os; print('' if os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')) else 'python3-dev')") \
 && rm -rf /var/lib/apt/lists/*
# Extra certificate authorities for a build behind an intercepting proxy: CI copies the host's
# bundle to deploy/build-ca/host-ca.crt for the build (never committed); empty otherwise.
COPY deploy/build-ca/ /tmp/build-ca/
RUN cat /etc/ssl/certs/ca-certificates.crt /tmp/build-ca/*.crt > /tmp/pip-ca.pem 2>/dev/null; \
    python3 -m venv /opt/venv
ENV PIP_CERT=/tmp/pip-ca.pem
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
FROM ${PYTHON_IMAGE} AS runtime
# fonts-noto-cjk: delivery prints certificates in Chinese (services/delivery/pdf.py).
# Certificates use Noto Serif CJK regular only (shared/fonts.py): the package's other faces,
# some 200 MB, are removed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-cjk \
 && find /usr/share/fonts/opentype/noto -type f ! -name NotoSerifCJK-Regular.ttc -delete \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 tongban \
 && useradd --system --uid 10001 --gid tongban --home-dir /app --shell /usr/sbin/nologin tongban \
 && mkdir -p /var/lib/tongban/keys /var/lib/tongban/trust \
      /var/lib/tongban/federation-tls /var/lib/tongban/partners \
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
EXPOSE 8001 8002 8003 8004 8005 8006 8007 8008 8010 8011
ENTRYPOINT ["tongban"]
CMD ["--help"]
