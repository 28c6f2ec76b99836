# addin-api: the service under gunicorn with the shipped config (`addin-api serve`).
#   docker build -t addin-api .
#   docker run --rm -p 8000:8000 --env-file addin-api.env addin-api
# Build stage: a wheel of the package (and nothing else from the repository: see .dockerignore).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY addin_api ./addin_api
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Runtime stage: the wheel and its runtime dependencies only, as an unprivileged user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ADDIN_API_BIND=0.0.0.0:8000 \
    ADDIN_API_WORKERS=2 \
    ADDIN_API_WORKER_CONNECTIONS=1000 \
    ADDIN_API_LOG_LEVEL=INFO \
    PROMETHEUS_MULTIPROC_DIR=/tmp/addin-api-metrics
RUN groupadd --system --gid 10001 addin \
    && useradd --system --uid 10001 --gid addin --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin addin
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000
# The devstack ships inside the package but only runs when asked (`docker run … addin-api devstack`).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["addin-api", "healthcheck"]
STOPSIGNAL SIGTERM
CMD ["addin-api", "serve"]
