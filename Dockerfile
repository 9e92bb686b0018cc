# Multi-stage build: the toolchain stays in the build stage; the runtime image holds the
# binary, the dataflows and the seed tweets.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
RUN cargo build --release --locked --bin tidemark

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /opt/tidemark tidemark
COPY --from=build /src/target/release/tidemark /usr/local/bin/tidemark
WORKDIR /opt/tidemark
COPY dataflows dataflows
COPY data/evilnet data/evilnet
COPY config/compose config/compose
USER tidemark
ENTRYPOINT ["tidemark"]
CMD ["--help"]
