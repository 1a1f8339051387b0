# syntax=docker/dockerfile:1
# The C consumer of examples/c on librdkafka, linked against libkafka_trace through pkg-config,
# exactly as the C quick start does. Build context: the repository root.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY core core
COPY bindings-c bindings-c
COPY bindings-node bindings-node
COPY bindings-python bindings-python
COPY include include
RUN make -C bindings-c install PREFIX=/opt/kafka-trace
COPY examples/c examples/c
RUN mkdir -p /opt/kafka-trace/bin \
 && PKG_CONFIG_PATH=/opt/kafka-trace/lib/pkgconfig make -C examples/c BUILD=/opt/kafka-trace/bin

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka1 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/kafka-trace /opt/kafka-trace
USER nobody
# consumer BOOTSTRAP GROUP IN_TOPIC COUNT [OUT_TOPIC]
ENTRYPOINT ["/opt/kafka-trace/bin/consumer"]
