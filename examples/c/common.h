/* Helpers shared by the two examples. The librdkafka <-> kafka_trace glue (kt_rdkafka_set_header,
 * kt_rdkafka_message_of, kt_rdkafka_delivered, ...) comes from the installed companion header
 * kafka_trace_rdkafka.h; what is left here is example plumbing. */
#ifndef KT_EXAMPLE_COMMON_H
#define KT_EXAMPLE_COMMON_H

#include <kafka_trace.h>
#include <kafka_trace_rdkafka.h>
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

/* Prints "<trace-id> <span-id>" of a span as hex. */
static inline void kt_print_ids(FILE *f, const kt_span *span) {
    kt_context *ctx = kt_context_new();
    kt_traceparent tp;
    if (ctx && kt_span_context(span, ctx) == KT_RESULT_OK && kt_context_traceparent(ctx, &tp) == KT_RESULT_OK) {
        for (int i = 0; i < 16; i++) fprintf(f, "%02x", tp.trace_id[i]);
        fputc(' ', f);
        for (int i = 0; i < 8; i++) fprintf(f, "%02x", tp.span_id[i]);
    } else {
        fputs("- -", f);
    }
    kt_context_free(ctx);
}

/* A tracer from the OTEL_* environment plus the Kafka client settings. */
static inline kt_tracer *kt_example_tracer(const char *bootstrap, const char *client_id, const char *group) {
    kt_tracer_config *cfg = kt_tracer_config_new();
    kt_tracer *tracer = NULL;
    kt_tracer_config_set_bootstrap_servers(cfg, bootstrap, strlen(bootstrap));
    kt_tracer_config_set_client_id(cfg, client_id, strlen(client_id));
    if (group) kt_tracer_config_set_consumer_group(cfg, group, strlen(group));
    kt_result rc = kt_tracer_new(cfg, &tracer);
    kt_tracer_config_free(cfg);
    if (rc != KT_RESULT_OK) {
        fprintf(stderr, "kt_tracer_new: %s\n", kt_result_message(rc));
        exit(1);
    }
    return tracer;
}

/* Delivery report: ends the send span carried as the message opaque. */
static inline void kt_example_delivered(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    kt_span *span = (kt_span *)msg->_private;
    (void)rk;
    (void)opaque;
    if (!span) return;
    if (msg->err) fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(msg->err));
    /* at the broker's ack as librdkafka measured it, with partition + offset, or error.type */
    kt_rdkafka_delivered(span, msg);
    kt_span_free(span);
}

/* A producer whose delivery reports end the send spans. */
static inline rd_kafka_t *kt_example_producer(const char *bootstrap, const char *client_id) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) ||
        rd_kafka_conf_set(conf, "client.id", client_id, err, sizeof err) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err)) {
        fprintf(stderr, "config: %s\n", err);
        exit(1);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kt_example_delivered);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        exit(1);
    }
    return rk;
}

/* Produces value to topic with a send span (child of parent, may be NULL) injected into its
 * headers; the delivery report ends the span. Returns 0 on success. */
static inline int kt_example_send(rd_kafka_t *rk, kt_tracer *tracer, const kt_span *parent, const char *topic, const char *key,
                           const char *value, FILE *log) {
    kt_message m = kt_rdkafka_message(topic, -1, -1, key, strlen(key), value, strlen(value), 0, NULL, 0);
    kt_span *span = NULL;
    kt_result rc = kt_tracer_start_send(tracer, &m, parent, NULL, &span);
    if (rc != KT_RESULT_OK) {
        fprintf(stderr, "kt_tracer_start_send: %s\n", kt_result_message(rc));
        return -1;
    }
    rd_kafka_headers_t *headers = rd_kafka_headers_new(4);
    rd_kafka_header_add(headers, "content-type", -1, "text/plain", -1);
    rc = kt_span_inject(span, kt_rdkafka_set_header, headers);
    if (rc != KT_RESULT_OK) fprintf(stderr, "kt_span_inject: %s\n", kt_result_message(rc));
    fprintf(log, "send %s %s ", topic, key);
    kt_print_ids(log, span);
    fputc('\n', log);
    rd_kafka_resp_err_t err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                                RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(span), RD_KAFKA_V_END);
    if (err) {
        /* not enqueued: the headers and the span are still ours */
        rd_kafka_headers_destroy(headers);
        const char *name = rd_kafka_err2name(err);
        kt_span_end_error(span, name, strlen(name));
        kt_span_free(span);
        fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_poll(rk, 0);
    return 0;
}

#endif
