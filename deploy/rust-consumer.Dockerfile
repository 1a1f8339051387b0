# syntax=docker/dockerfile:1
# The Rust consumer (core/examples/rust_consumer.rs) on rdkafka with librdkafka built in (bundled).
# Build context: the repository root.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY core core
COPY bindings-c bindings-c
COPY bindings-node bindings-node
COPY bindings-python bindings-python
COPY include include
RUN cargo build --release --locked -p kafka-trace --features rdkafka,otlp --example rust_consumer \
 && cp target/release/examples/rust_consumer /usr/local/bin/rust_consumer

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/rust_consumer /usr/local/bin/rust_consumer
USER nobody
# Arguments fall back to KAFKA_BOOTSTRAP_SERVERS, GROUP_ID and IN_TOPIC.
ENTRYPOINT ["/usr/local/bin/rust_consumer"]
