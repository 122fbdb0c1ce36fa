# Codeerhulp in a container: `docker build -t codeerhulp .` then
#   docker run --rm -v "$PWD/data:/data" -v "$PWD/models:/app/models" codeerhulp suggest /data/interview.txt
#   docker run --rm -p 8000:8000 -v "$PWD/data:/data" -v "$PWD/models:/app/models" codeerhulp serve --host 0.0.0.0
# An empty models volume gets the shipped model at the first start (see service/container.py).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CODEERHULP_DATA_DIR=/data CODEERHULP_MODELS_DIR=/app/models \
    CODEERHULP_SHIPPED_MODELS_DIR=/app/shipped-models

WORKDIR /app
# Dependencies first, in their own cached layer: only pyproject.toml invalidates it.
COPY pyproject.toml README.md LICENSE ./
RUN mkdir -p service training \
 && touch service/__init__.py training/__init__.py \
 && pip install . \
 && pip uninstall -y codeerhulp

# Then the code and the shipped data (codebook, corpus, default model). The model goes outside the
# models volume: a volume mounted over /app/models would hide it, so the entrypoint copies the
# shipped versions into that volume when it holds no version yet.
COPY service/ service/
COPY training/ training/
COPY codebook/ codebook/
COPY models/ shipped-models/
COPY examples/ examples/
RUN pip install --no-deps -e . \
 && useradd --create-home --uid 10001 codeerhulp \
 && mkdir -p /data /app/models && chown -R codeerhulp /data /app/models

USER codeerhulp
VOLUME ["/data", "/app/models"]
EXPOSE 8000
# Meaningful for `serve` only: ready when the database answers and the active model is served.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"
# `codeerhulp` with its arguments, after filling an empty models volume with the shipped model.
ENTRYPOINT ["python", "-m", "service.container"]
CMD ["--help"]
