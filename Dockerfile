# portcullis container image: a multi-stage build with the dependencies
# compiled in their own cached layer (cargo-chef), and a small Debian
# runtime with a non-root user. Configuration comes only from the
# environment (README.md "Running in Docker", docs/OPERATIONS.md).
#
#   docker build -t portcullis .
#   docker run -p 8080:8080 -v portcullis-data:/data \
#     -e PORTCULLIS_ISSUER=http://localhost:8080 portcullis
#
# The release build command below is the one `scripts/test` runs (its
# `release` step checks that the two stay identical).

ARG RUST_VERSION=1.95

# ---- tools: the Rust toolchain (with gcc, pkg-config and libssl-dev) and cargo-chef
FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

# ---- recipe: the dependency graph only, so that source edits keep the next layer cached
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- build: dependencies first (cached while Cargo.toml/Cargo.lock do not change), then portcullis
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin portcullis --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin portcullis

# ---- runtime
FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to AWS KMS, PostgreSQL and ClickHouse; libssl3: the
# binary links OpenSSL (josekit). Versions come from the bookworm release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 portcullis \
    && useradd --system --uid 10001 --gid portcullis --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin portcullis \
    && mkdir -p /data \
    && chown portcullis:portcullis /data
COPY --from=builder /src/target/release/portcullis /usr/local/bin/portcullis
# /metrics is served by the management listener only; in a container it must
# listen beyond loopback for a scraper to reach it: publish 9000 to the
# monitoring network only, never to the public.
ENV PORTCULLIS_DATA_DIR=/data \
    PORTCULLIS_LISTEN=0.0.0.0:8080 \
    PORTCULLIS_MANAGEMENT_LISTEN=0.0.0.0:9000
VOLUME /data
WORKDIR /data
EXPOSE 8080 9000
USER 10001:10001
# No curl in the image: the binary probes its own /healthz
# (`portcullis healthcheck`, exit 0 when it answers 200).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/portcullis", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
