# syntax=docker/dockerfile:1
# The Python service of examples/python (confluent_forwarder.py, confluent-kafka), with the `kafka-trace` wheel built from
# bindings-python by maturin, installed like `pip install kafka-trace`. Build context: repository root.
FROM rust:1-bookworm AS wheel
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir "maturin>=1.16,<2"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY core core
COPY bindings-c bindings-c
COPY bindings-node bindings-node
COPY bindings-python bindings-python
COPY include include
RUN /venv/bin/maturin build --release --locked -m bindings-python/Cargo.toml -o /wheels

FROM python:3.12-slim-bookworm
WORKDIR /app
COPY --from=wheel /wheels /wheels
COPY examples/python/requirements.txt ./
RUN pip install --no-cache-dir /wheels/*.whl -r requirements.txt
COPY examples/python/ ./
USER nobody
ENV PYTHONUNBUFFERED=1
CMD ["python", "confluent_forwarder.py"]
