# One image for every Python service: migrate, workers, beat, flower.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY worker ./worker
RUN pip install '.[flower]' \
 && useradd --system --uid 10001 --home-dir /app wirefeed
COPY config ./config

USER wirefeed
ENTRYPOINT ["wirefeed"]
CMD ["status"]
