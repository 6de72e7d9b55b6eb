# One image for every Python service: migrate, workers, beat, flower.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The dependencies, at the versions CI tests with (constraints.txt), in a layer of their own that is rebuilt
# only when pyproject.toml or constraints.txt change, not on every code change: pip resolves the project's
# own dependency list from a placeholder package, which is then uninstalled.
COPY pyproject.toml constraints.txt ./
RUN mkdir worker && touch worker/__init__.py README.md \
 && pip install -c constraints.txt '.[flower]' \
 && pip uninstall -y wirefeed \
 && rm -rf worker README.md build ./*.egg-info \
 && useradd --system --uid 10001 --home-dir /app wirefeed
COPY README.md ./
COPY worker ./worker
RUN pip install --no-deps . && rm -rf build ./*.egg-info && pip check
COPY config ./config

USER wirefeed
ENTRYPOINT ["wirefeed"]
CMD ["status"]
