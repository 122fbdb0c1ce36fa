# Codeerhulp in a container: `docker build -t codeerhulp .` then
#   docker run --rm -v "$PWD/data:/data" -v "$PWD/models:/app/models" codeerhulp suggest /data/interview.txt
#   docker run --rm -p 8000:8000 -v "$PWD/data:/data" -v "$PWD/models:/app/models" codeerhulp serve --host 0.0.0.0
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CODEERHULP_DATA_DIR=/data CODEERHULP_MODELS_DIR=/app/models

WORKDIR /app
# Dependencies first, in their own cached layer: only pyproject.toml invalidates it.
COPY pyproject.toml README.md LICENSE ./
RUN mkdir -p service training \
 && touch service/__init__.py training/__init__.py \
 && pip install . \
 && pip uninstall -y codeerhulp

# Then the code and the shipped data (codebook, corpus, default model).
COPY service/ service/
COPY training/ training/
COPY codebook/ codebook/
COPY models/ models/
COPY examples/ examples/
RUN pip install --no-deps -e . \
 && useradd --create-home --uid 10001 codeerhulp \
 && mkdir -p /data && chown -R codeerhulp /data /app/models

USER codeerhulp
VOLUME ["/data", "/app/models"]
EXPOSE 8000
# Meaningful for `serve` only: ready when the database answers and the active model is served.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"
ENTRYPOINT ["codeerhulp"]
CMD ["--help"]
