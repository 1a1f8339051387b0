/*
 * kafka_trace_rdkafka.h: librdkafka glue for kafka_trace.h, as static inline functions (so
 * libkafka_trace itself never links librdkafka; your program does). Written by hand, installed
 * next to kafka_trace.h by `make -C bindings-c install`. Build with
 *
 *     cc app.c $(pkg-config --cflags --libs kafka-trace-rdkafka)    # = kafka-trace + rdkafka
 *
 * What it gives you:
 * - kt_rdkafka_set_header: a kt_header_setter over an rd_kafka_headers_t (replace or remove by
 *   name), for kt_span_inject() / kt_context_inject() into the headers you produce with;
 * - kt_rdkafka_headers / kt_rdkafka_message_of: a consumed rd_kafka_message_t as the kt_header
 *   array and kt_message that kt_tracer_start_process() reads (pointers into the message: valid
 *   until rd_kafka_message_destroy());
 * - kt_rdkafka_message: a kt_message for a message you are about to produce;
 * - kt_rdkafka_delivered: ends a send span from a delivery report (partition, offset, librdkafka's
 *   produce-to-ack latency, or error.type from rd_kafka_err2name());
 * - kt_rdkafka_topics: the topic of each message a batch receive returned, for kt_span_end_poll();
 * - kt_rdkafka_message_context: the trace context a consumed message carries (e.g. to make it
 *   current with kt_context_set_current() before producing through the kafka_trace plugin).
 *
 * Thread-safety: as the librdkafka and kafka_trace functions each helper calls.
 */
#ifndef KAFKA_TRACE_RDKAFKA_H
#define KAFKA_TRACE_RDKAFKA_H

#include <kafka_trace.h>
#include <librdkafka/rdkafka.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* kt_header_setter over librdkafka headers (`userdata` is an rd_kafka_headers_t *): every header
 * named `name` is removed, then, when `value` is not NULL, one is added. Returns 0 on success. */
static inline int kt_rdkafka_set_header(void *userdata, const char *name, size_t name_len, const uint8_t *value,
                                        size_t value_len) {
    rd_kafka_headers_t *headers = (rd_kafka_headers_t *)userdata;
    /* name is NUL-terminated (kt_header_setter's contract); RD_KAFKA_RESP_ERR__NOENT is fine */
    rd_kafka_header_remove(headers, name);
    if (value && rd_kafka_header_add(headers, name, (ssize_t)name_len, value, (ssize_t)value_len)) return -1;
    return 0;
}

/* Fills `out` (room for `cap` entries) with the headers of `msg`, in order, pointing into the
 * message; returns how many were written (0 when the message has none). A message with more than
 * `cap` headers is cut at `cap` (64 is plenty for real traffic). */
static inline size_t kt_rdkafka_headers(const rd_kafka_message_t *msg, kt_header *out, size_t cap) {
    rd_kafka_headers_t *headers = NULL;
    const char *name;
    const void *value;
    size_t size, n = 0;
    if (rd_kafka_message_headers(msg, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
    while (n < cap && rd_kafka_header_get_all(headers, n, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        out[n].name = name;
        out[n].name_len = strlen(name);
        out[n].value = (const uint8_t *)value;
        out[n].value_len = size;
        n++;
    }
    return n;
}

/* A kt_message for a message about to be produced (or any message you describe yourself):
 * `partition` and `offset` -1 when unknown, `timestamp_ms` 0 when unknown. */
static inline kt_message kt_rdkafka_message(const char *topic, int32_t partition, int64_t offset, const void *key,
                                            size_t key_len, const void *payload, size_t payload_len,
                                            int64_t timestamp_ms, const kt_header *headers, size_t header_count) {
    kt_message m;
    memset(&m, 0, sizeof m);
    m.topic = topic;
    m.topic_len = topic ? strlen(topic) : 0;
    m.partition = partition;
    m.offset = offset;
    m.key = (const uint8_t *)key;
    m.key_len = key ? key_len : 0;
    m.payload = payload;
    m.payload_len = payload_len;
    m.timestamp_ms = timestamp_ms;
    m.headers = headers;
    m.header_count = header_count;
    return m;
}

/* A consumed message as kafka_trace reads it: topic, partition, offset, key, payload, timestamp
 * and its headers, written into `headers` (room for `cap`). Everything points into `msg`. */
static inline kt_message kt_rdkafka_message_of(const rd_kafka_message_t *msg, kt_header *headers, size_t cap) {
    rd_kafka_timestamp_type_t ts_type;
    int64_t ts = rd_kafka_message_timestamp(msg, &ts_type);
    size_t n = kt_rdkafka_headers(msg, headers, cap);
    return kt_rdkafka_message(msg->rkt ? rd_kafka_topic_name(msg->rkt) : "", msg->partition, msg->offset, msg->key,
                              msg->key_len, msg->payload, msg->len, ts > 0 ? ts : 0, headers, n);
}

/* Ends the send span `span` from the delivery report of its message: on success at the broker's
 * acknowledgement as librdkafka measured it (rd_kafka_message_latency(): the span ends at its start
 * plus that latency, not when the report was served) with the partition and offset; on failure
 * with error.type = rd_kafka_err2name(msg->err). Does not free the span. NULL span: KT_RESULT_OK,
 * nothing done (a message produced without a span). */
static inline kt_result kt_rdkafka_delivered(kt_span *span, const rd_kafka_message_t *msg) {
    if (!span) return KT_RESULT_OK;
    if (msg->err) {
        const char *name = rd_kafka_err2name(msg->err);
        return kt_span_end_error(span, name, strlen(name));
    }
    return kt_span_end_send_latency(span, msg->partition, msg->offset, rd_kafka_message_latency(msg));
}

/* The topic of each of the `n` messages a batch receive returned, into `out` (room for `n`), for
 * kt_span_end_poll(poll, out, n, n). Messages that carry an error (e.g. partition EOF) get an
 * empty topic. */
static inline void kt_rdkafka_topics(rd_kafka_message_t *const *msgs, size_t n, kt_str *out) {
    for (size_t i = 0; i < n; i++) {
        const char *t = (!msgs[i]->err && msgs[i]->rkt) ? rd_kafka_topic_name(msgs[i]->rkt) : "";
        out[i].data = t;
        out[i].len = strlen(t);
    }
}

/* The trace context a consumed message carries (its producer's send span, tracestate, baggage),
 * read from its headers into `context` exactly like kt_context_extract(): KT_RESULT_OK, or why
 * there is no parent (KT_RESULT_MISSING, an invalid traceparent, ...; `context` then holds the
 * baggage alone). With the kafka_trace plugin loaded, make it current before producing
 * (kt_context_set_current()) and the plugin's send spans continue that trace. Messages with more
 * than 64 headers are read up to the 64th. */
static inline kt_result kt_rdkafka_message_context(const rd_kafka_message_t *msg, kt_context *context) {
    kt_header headers[64];
    size_t n = kt_rdkafka_headers(msg, headers, 64);
    return kt_context_extract(context, headers, n);
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KAFKA_TRACE_RDKAFKA_H */
