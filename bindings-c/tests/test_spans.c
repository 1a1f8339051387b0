/* The span half of the C API without a receiver: config setters, tracer lifecycle, send and
 * process spans, parent chains through headers, inject, end/free misuse, shutdown counters.
 * The OTLP endpoint is a closed port, so exports fail fast and are counted, never waited on.
 * (The spans' content at a real receiver is checked by examples/c/e2e_test.py.) */
#define _POSIX_C_SOURCE 200809L
#include "kafka_trace.h"
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) lit, sizeof(lit) - 1

typedef struct {
    kt_header headers[4];
    char names[4][16];
    uint8_t values[4][600];
    int count;
} carrier;

static int carrier_set(void *userdata, const char *name, size_t name_len, const uint8_t *value, size_t value_len) {
    carrier *c = (carrier *)userdata;
    for (int i = 0; i < c->count; i++)
        if (strcmp(c->names[i], name) == 0) {
            memmove(&c->names[i], &c->names[i + 1], sizeof c->names[0] * (size_t)(c->count - i - 1));
            memmove(&c->values[i], &c->values[i + 1], sizeof c->values[0] * (size_t)(c->count - i - 1));
            c->count--;
            i--;
        }
    if (value) {
        memcpy(c->names[c->count], name, name_len + 1);
        memcpy(c->values[c->count], value, value_len);
        c->headers[c->count].name_len = name_len;
        c->headers[c->count].value_len = value_len;
        c->count++;
    }
    for (int i = 0; i < c->count; i++) {
        c->headers[i].name = c->names[i];
        c->headers[i].value = c->values[i];
        c->headers[i].name_len = strlen(c->names[i]);
    }
    return 0;
}

static kt_message message(const char *topic, const char *key, const kt_header *headers, size_t count) {
    kt_message m;
    memset(&m, 0, sizeof m);
    m.topic = topic;
    m.topic_len = strlen(topic);
    m.partition = -1;
    m.offset = -1;
    m.key = (const uint8_t *)key;
    m.key_len = key ? strlen(key) : 0;
    m.payload = "payload";
    m.payload_len = 7;
    m.headers = headers;
    m.header_count = count;
    return m;
}

static void ids(const kt_span *span, kt_traceparent *tp) {
    kt_context *ctx = kt_context_new();
    CHECK_RC(kt_span_context(span, ctx), KT_RESULT_OK);
    CHECK_RC(kt_context_traceparent(ctx, tp), KT_RESULT_OK);
    kt_context_free(ctx);
}

/* Many threads share one tracer; each thread owns its spans. */
#define THREADS 4
#define SPANS_PER_THREAD 100
static void *send_many(void *arg) {
    kt_tracer *tracer = (kt_tracer *)arg;
    kt_message m = message("orders", "k", NULL, 0);
    for (int i = 0; i < SPANS_PER_THREAD; i++) {
        kt_span *span = NULL;
        carrier c;
        memset(&c, 0, sizeof c);
        if (kt_tracer_start_send(tracer, &m, NULL, NULL, &span) != KT_RESULT_OK) return (void *)1;
        if (kt_span_inject(span, carrier_set, &c) != KT_RESULT_OK || c.count != 1) return (void *)1;
        kt_span *process = NULL;
        kt_message consumed = message("orders", "k", c.headers, (size_t)c.count);
        if (kt_tracer_start_process(tracer, &consumed, NULL, NULL, &process) != KT_RESULT_OK) return (void *)1;
        kt_span_end_send(span, 0, i);
        kt_span_free(span);
        kt_span_free(process);
    }
    return NULL;
}

int main(void) {
    /* config */
    kt_tracer_config *cfg = kt_tracer_config_new();
    CHECK(cfg != NULL);
    CHECK_RC(kt_tracer_config_set_service_name(cfg, S("test-spans")), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set_service_name(cfg, S("\xff")), KT_RESULT_INVALID_UTF8);
    CHECK_RC(kt_tracer_config_set_service_name(cfg, NULL, 3), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_tracer_config_set_service_name(NULL, S("x")), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_tracer_config_set_endpoint(cfg, S("http://127.0.0.1:9")), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set_bootstrap_servers(cfg, S("PLAINTEXT://127.0.0.1:9092,other:9093")), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set_client_id(cfg, S("c-test")), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set_consumer_group(cfg, S("g1")), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set_strategy(cfg, S("sideways")), KT_RESULT_INVALID_ARGUMENT);
    CHECK_RC(kt_tracer_config_set_strategy(cfg, S("parent")), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set_record_message_key(cfg, true), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set_metrics(cfg, false), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set_export_limits(cfg, 300, 64), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set_record_message_key(NULL, true), KT_RESULT_NULL_ARGUMENT);

    kt_tracer *tracer = NULL;
    CHECK_RC(kt_tracer_new(cfg, NULL), KT_RESULT_NULL_ARGUMENT);
    /* a config is not a tracer: the handle tags tell them apart */
    CHECK_RC(kt_tracer_flush((const kt_tracer *)(const void *)cfg), KT_RESULT_INVALID_HANDLE);
    CHECK_RC(kt_tracer_new(cfg, &tracer), KT_RESULT_OK);
    kt_tracer_config_free(cfg);
    kt_tracer_config_free(NULL);
    CHECK(tracer != NULL);

    /* send span: arguments */
    kt_span *send = NULL;
    kt_message m = message("orders", "k-1", NULL, 0);
    CHECK_RC(kt_tracer_start_send(tracer, NULL, NULL, NULL, &send), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_tracer_start_send(tracer, &m, NULL, NULL, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_tracer_start_send(NULL, &m, NULL, NULL, &send), KT_RESULT_NULL_ARGUMENT);
    kt_message bad = message("\xc3\x28", NULL, NULL, 0);
    CHECK_RC(kt_tracer_start_send(tracer, &bad, NULL, NULL, &send), KT_RESULT_INVALID_UTF8);
    bad = m;
    bad.topic = NULL;
    CHECK_RC(kt_tracer_start_send(tracer, &bad, NULL, NULL, &send), KT_RESULT_NULL_ARGUMENT);
    CHECK(send == NULL);
    CHECK_RC(kt_tracer_start_send(tracer, &m, NULL, NULL, &send), KT_RESULT_OK);
    CHECK(send != NULL);

    /* inject into a carrier, then consume it */
    carrier c;
    memset(&c, 0, sizeof c);
    CHECK_RC(kt_span_inject(send, carrier_set, &c), KT_RESULT_OK);
    CHECK(c.count == 1 && strcmp(c.names[0], "traceparent") == 0);
    CHECK_RC(kt_span_inject(send, NULL, &c), KT_RESULT_NULL_ARGUMENT);
    kt_traceparent send_ids, proc_ids, fwd_ids, parsed;
    ids(send, &send_ids);
    CHECK_RC(kt_traceparent_parse(c.values[0], c.headers[0].value_len, &parsed), KT_RESULT_OK);
    CHECK(memcmp(&parsed, &send_ids, sizeof parsed) == 0);
    CHECK(send_ids.flags & 1);
    CHECK_RC(kt_span_end_send(send, 2, 42), KT_RESULT_OK);
    CHECK_RC(kt_span_end_send(send, 2, 42), KT_RESULT_ALREADY_ENDED);
    CHECK_RC(kt_span_end(send), KT_RESULT_ALREADY_ENDED);
    CHECK_RC(kt_span_end_error(send, S("X")), KT_RESULT_ALREADY_ENDED);
    CHECK_RC(kt_span_inject(send, carrier_set, &c), KT_RESULT_OK); /* still readable after end */

    kt_message consumed = message("orders", "k-1", c.headers, (size_t)c.count);
    consumed.partition = 2;
    consumed.offset = 42;
    consumed.timestamp_ms = 1;
    kt_span *process = NULL;
    CHECK_RC(kt_tracer_start_process(tracer, &consumed, NULL, NULL, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_tracer_start_process(tracer, &consumed, NULL, NULL, &process), KT_RESULT_OK);
    ids(process, &proc_ids);
    CHECK(memcmp(proc_ids.trace_id, send_ids.trace_id, 16) == 0);
    CHECK(memcmp(proc_ids.span_id, send_ids.span_id, 8) != 0);

    /* forward: the process span is the parent of the next send */
    kt_span *fwd = NULL;
    kt_context *ctx = kt_context_new();
    CHECK_RC(kt_tracer_start_send(tracer, &m, process, ctx, &fwd), KT_RESULT_INVALID_ARGUMENT);
    CHECK_RC(kt_tracer_start_send(tracer, &m, (const kt_span *)(const void *)ctx, NULL, &fwd), KT_RESULT_INVALID_HANDLE);
    CHECK_RC(kt_tracer_start_send(tracer, &m, process, NULL, &fwd), KT_RESULT_OK);
    ids(fwd, &fwd_ids);
    CHECK(memcmp(fwd_ids.trace_id, send_ids.trace_id, 16) == 0);
    /* buffer variant through a context copy */
    CHECK_RC(kt_span_context(fwd, ctx), KT_RESULT_OK);
    kt_header out[3];
    uint8_t buf[256];
    size_t count = 0, used = 0;
    CHECK_RC(kt_context_inject_headers(ctx, NULL, 0, out, 3, &count, buf, sizeof buf, &used), KT_RESULT_OK);
    CHECK(count == 1 && out[0].value_len == KT_TRACEPARENT_LEN);
    CHECK_RC(kt_span_context(NULL, ctx), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_span_context(fwd, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_span_end_error(fwd, S("\xff")), KT_RESULT_INVALID_UTF8);
    CHECK_RC(kt_span_end_error(fwd, S("MSG_TIMED_OUT")), KT_RESULT_OK);
    CHECK_RC(kt_span_end(process), KT_RESULT_OK);

    /* a send whose parent is a context from elsewhere (e.g. an HTTP request) continues that trace */
    const char *incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    kt_header h = {"traceparent", 11, (const uint8_t *)incoming, 55};
    CHECK_RC(kt_context_extract(ctx, &h, 1), KT_RESULT_OK);
    kt_span *http_child = NULL;
    CHECK_RC(kt_tracer_start_send(tracer, &m, NULL, ctx, &http_child), KT_RESULT_OK);
    kt_traceparent child_ids;
    ids(http_child, &child_ids);
    CHECK(child_ids.trace_id[0] == 0x0a && child_ids.trace_id[15] == 0x9c);
    kt_context_free(ctx);
    kt_span_free(http_child); /* not ended: free ends it */

    /* garbage headers on a consumed message: a new root, never a failure */
    kt_header junk[2] = {{"traceparent", 11, (const uint8_t *)"\xff\xfe junk", 7}, {"baggage", 7, NULL, 0}};
    kt_message jm = message("orders", "\x80\x81", junk, 2);
    kt_span *root = NULL;
    CHECK_RC(kt_tracer_start_process(tracer, &jm, NULL, NULL, &root), KT_RESULT_OK);
    kt_traceparent root_ids;
    ids(root, &root_ids);
    CHECK(memcmp(root_ids.trace_id, send_ids.trace_id, 16) != 0);
    CHECK_RC(kt_span_end(root), KT_RESULT_OK);

    kt_span_free(send);
    kt_span_free(process);
    kt_span_free(fwd);
    kt_span_free(root);
    kt_span_free(NULL);

    kt_span_stats stats;
    memset(&stats, 0, sizeof stats);
    CHECK_RC(kt_tracer_stats(tracer, &stats), KT_RESULT_OK);
    CHECK(stats.ended == 5);

    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&threads[i], NULL, send_many, tracer) == 0);
    for (int i = 0; i < THREADS; i++) {
        void *rc = NULL;
        CHECK(pthread_join(threads[i], &rc) == 0 && rc == NULL);
    }
    const uint64_t total = 5 + 2 * THREADS * SPANS_PER_THREAD;
    CHECK_RC(kt_tracer_stats(tracer, NULL), KT_RESULT_NULL_ARGUMENT);
    /* nothing listens on port 9: EXPORT_FAILED, or OK when the background export already
     * failed and emptied the queue (timing); the counters below are what is certain */
    kt_result flushed = kt_tracer_flush(tracer);
    CHECK(flushed == KT_RESULT_EXPORT_FAILED || flushed == KT_RESULT_OK);
    CHECK_RC(kt_tracer_shutdown(tracer, 1000, &stats), KT_RESULT_OK);
    /* the queue holds 64: the rest were dropped, never waited for; every span is accounted for */
    CHECK(stats.ended == total && stats.exported == 0 && stats.export_failed + stats.dropped == total);
    CHECK(stats.dropped > 0);
    CHECK_RC(kt_tracer_shutdown(tracer, 1000, NULL), KT_RESULT_SHUT_DOWN);
    CHECK_RC(kt_tracer_start_send(tracer, &m, NULL, NULL, &send), KT_RESULT_SHUT_DOWN);
    CHECK_RC(kt_tracer_flush(tracer), KT_RESULT_SHUT_DOWN);
    kt_tracer_free(tracer);
    kt_tracer_free(NULL);

    /* a tracer from the environment alone, freed without an explicit shutdown */
    kt_tracer *from_env = NULL;
    CHECK_RC(kt_tracer_new(NULL, &from_env), KT_RESULT_OK);
    kt_tracer_free(from_env);
    return test_report("test_spans");
}
