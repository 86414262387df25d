# Billow's image: one image for `billow serve` (the default), `billow worker` and `billow migrate`.
#   docker build -t billow .
#   docker run --rm -p 3000:3000 billow                      # embedded SQLite in the volume
#   docker run --rm billow migrate                           # any `billow` command
# Production with PostgreSQL: compose.yaml (README, "Production with Docker Compose").

# --- build: the wheel of Billow and of every dependency -----------------------------------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the wheels installed, nothing to build with ----------------------------------------------
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    BILLOW_DATA_DIR=/var/lib/billow
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels billow \
    && groupadd --system --gid 10001 billow \
    && useradd --system --uid 10001 --gid billow --home-dir /var/lib/billow --shell /usr/sbin/nologin billow \
    && mkdir -p /var/lib/billow/documents \
    && chown -R billow:billow /var/lib/billow
USER billow
WORKDIR /var/lib/billow
# The embedded database, the generated secret key and the documents (BILLOW_DATA_DIR).
VOLUME ["/var/lib/billow"]
EXPOSE 3000
# Liveness: the process answers (no database query). compose.yaml checks readiness for the API and the
# metrics port for the worker.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/health/live', timeout=4)"]
ENTRYPOINT ["billow"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
