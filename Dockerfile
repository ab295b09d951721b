# syntax=docker/dockerfile:1
# Multi-stage build for the favicon pipeline.
#   docker build --target api    -t favicon-api .
#   docker build --target worker -t favicon-worker .
# Both runtime images also contain the `migration` binary (sea-orm-migration CLI).

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- builder -------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# Install the toolchain pinned by rust-toolchain.toml once, in its own cached layer
# (rustup >= 1.28 installs it with `toolchain install`, older ones with `show`).
# llvm-tools brings the llvm-profdata that matches rustc's LLVM, for the worker's PGO.
COPY rust-toolchain.toml ./
RUN (rustup toolchain install || rustup show) && rustup component add llvm-tools \
 && rustc --version && cargo --version
COPY . .
# scripts/build-release builds what scripts/bench measures: the worker optimised with a
# profile recorded by resolving the test web farm on loopback (no network needed), about
# 30 minutes from nothing on 2 cores; --build-arg PGO=0 builds it plain, in about 12.
# BuildKit cache mounts keep the registry and target dir between builds; the binaries are
# copied out of the cached target dir in the same step.
ARG PGO=1
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    PGO="$PGO" scripts/build-release \
 && mkdir -p /out \
 && cp target/dist/api target/dist/worker target/dist/migration /out/

# ---- runtime base --------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin app
COPY --from=builder /out/ /usr/local/bin/
USER 10001:10001
ENV LOG_FORMAT=json

# ---- worker --------------------------------------------------------------------------------
FROM runtime AS worker
ENTRYPOINT ["/usr/local/bin/worker"]

# ---- api (default target) ------------------------------------------------------------------
FROM runtime AS api
ENV API_HOST=0.0.0.0 \
    API_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://localhost:8080/health >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/api"]
