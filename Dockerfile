# Plenary service image.
#
#   docker build -t plenary .
#   docker run -v "$PWD/config/examples:/config:ro" -v plenary-data:/data -p 8080:8080 plenary
#
# Two stages on the same base image (the virtualenv's python is a link to the base image's interpreter):
# the builder installs Plenary into /opt/venv; the final stage copies that virtualenv and adds only what the
# service needs of Debian. docker-compose.yml runs two replicas of it against PostgreSQL.

FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/venv
WORKDIR /src
# The whole build context (.dockerignore keeps .venv, .git, tests, caches and local data out): pyproject.toml,
# README.md (its readme) and every package its [tool.setuptools.packages.find] includes.
COPY . .
# The README's install step (scripts/dev.py setup(): pip install -e .[dev]) without "editable" and the dev
# extra: the project itself, from its pyproject.toml, with the dependencies it declares and nothing else.
RUN /opt/venv/bin/python -m pip install --no-cache-dir --quiet .


FROM python:3.11-slim

LABEL org.opencontainers.image.title="Plenary" \
      org.opencontainers.image.description="Runs the sessions of an intergovernmental commission" \
      org.opencontainers.image.licenses="Apache-2.0"

# What the service itself needs of the system (scripts/dev.py SERVICE_PACKAGES): Pango for WeasyPrint, which
# prints a summary's PDF annex, and DejaVu, whose fonts have the Cyrillic and Armenian letters.
# The versions are deliberately not pinned (DL3008): Debian's stable archive only ever carries the current
# build of each package, so a pinned version stops resolving as soon as a security update supersedes it and
# the build breaks; unpinned, every rebuild takes the Debian security updates for Pango, its font stack and
# the fonts, which is what a service rendering documents from outside input wants. The base image tag fixes
# the Debian release, so the package names and ABI stay put.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 plenary \
    && useradd --system --uid 10001 --gid plenary --home-dir /home/plenary --create-home \
        --shell /usr/sbin/nologin plenary \
    && install -d -o plenary -g plenary -m 0750 /data \
    && install -d -m 0755 /config

COPY --from=builder /opt/venv /opt/venv

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PLENARY_DATA_DIR=/data \
    PLENARY_HTTP_HOST=0.0.0.0 \
    PLENARY_HTTP_PORT=8080

# By number (the plenary user made above), so that a runtime checking for a non-root user can tell.
USER 10001:10001
WORKDIR /data

# The configuration (the secretariat's YAML, mounted read-only) and the data directory (PLENARY_DATA_DIR:
# the summaries' archive, the Maildir fallback, the SQLite database when no PostgreSQL is configured).
VOLUME ["/config", "/data"]
EXPOSE 8080

# /healthz (web/app.py): the process is up. The slim image has no curl; python's urllib is there, and
# urlopen raises (exit status 1) on a refused connection, a timeout or any status other than 2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PLENARY_HTTP_PORT', '8080'), timeout=4)"]

ENTRYPOINT ["plenary"]
# SIGHUP (docker kill -s HUP) reloads the YAML; SIGTERM stops the service cleanly.
CMD ["run", "/config"]
