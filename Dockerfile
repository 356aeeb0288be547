# carepath under gunicorn, as a non-root user. Build: docker build -t carepath .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CAREPATH_VAR_DIR=/var/lib/carepath

WORKDIR /srv/carepath

RUN groupadd --system --gid 10001 carepath \
    && useradd --system --uid 10001 --gid carepath --home-dir /srv/carepath --shell /usr/sbin/nologin carepath \
    && mkdir -p /var/lib/carepath \
    && chown carepath:carepath /var/lib/carepath

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY app/__init__.py app/__init__.py
RUN pip install --no-cache-dir -e ".[redis]"

COPY app ./app
COPY templates ./templates
COPY static ./static
COPY packs ./packs
# Bytecode compiled once at build time (PYTHONDONTWRITEBYTECODE stops the running container from writing it), so a
# `carepath` command in the container does not compile the modules from source on every start.
RUN python -m compileall -q app

USER 10001:10001
EXPOSE 8000
VOLUME ["/var/lib/carepath"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]

CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--access-logfile", "-", "--access-logformat", "%(h)s %(m)s %(U)s %(s)s %(L)s", "--preload", "app.wsgi:app"]
