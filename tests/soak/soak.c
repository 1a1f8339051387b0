/* The C soak of scripts/soak.sh: MESSAGES traced messages produce -> consume -> forward ->
 * consume through the C ABI (kafka_trace.h + the librdkafka glue kafka_trace_rdkafka.h), spans
 * exported over OTLP/HTTP (the OTEL_* environment; the soak's receiver is alternately up and
 * down). One thread drives a producer, a forwarding consumer and a last consumer. Prints one JSON
 * line: messages lost and duplicated at the last consumer, kt_tracer_stats() span counters,
 * resident memory after warm-up (a tenth of the messages) and at the end.
 *
 *   soak MESSAGES BOOTSTRAP IN_TOPIC OUT_TOPIC */
#define _POSIX_C_SOURCE 200809L
#include <kafka_trace.h>
#include <kafka_trace_rdkafka.h>
#include <librdkafka/rdkafka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_HEADERS 16

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *err) {
    fprintf(stderr, "soak: %s: %s\n", what, err);
    exit(1);
}

/* The delivery report ends the send span carried as the message opaque. */
static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    (void)opaque;
    kt_span *span = (kt_span *)msg->_private;
    if (msg->err) fprintf(stderr, "soak: delivery failed: %s\n", rd_kafka_err2str(msg->err));
    if (span) {
        kt_rdkafka_delivered(span, msg);
        kt_span_free(span);
    }
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *bootstrap, const char *group) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err)) die("config", err);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "100000", err, sizeof err);
        rd_kafka_conf_set_dr_msg_cb(conf, delivered);
    } else {
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "100", err, sizeof err);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) die("rd_kafka_new", err);
    return rk;
}

static void subscribe(rd_kafka_t *rk, const char *topic) {
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    if (e) die("subscribe", rd_kafka_err2str(e));
}

/* Sends value with a send span (child of parent, may be NULL); retries while the queue is full. */
static void send_traced(rd_kafka_t *rk, kt_tracer *tracer, const kt_span *parent, const char *topic, const void *value, size_t len) {
    kt_message m = kt_rdkafka_message(topic, -1, -1, NULL, 0, value, len, 0, NULL, 0);
    kt_span *span = NULL;
    kt_result rc = kt_tracer_start_send(tracer, &m, parent, NULL, &span);
    if (rc != KT_RESULT_OK) die("kt_tracer_start_send", kt_result_message(rc));
    rd_kafka_headers_t *headers = rd_kafka_headers_new(4);
    kt_span_inject(span, kt_rdkafka_set_header, headers);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE((void *)value, len),
                                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                                                    RD_KAFKA_V_OPAQUE(span), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 5);
            continue;
        }
        if (err) die("produce", rd_kafka_err2str(err));
        return;
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MESSAGES BOOTSTRAP IN_TOPIC OUT_TOPIC\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]);
    const char *bootstrap = argv[2], *in_topic = argv[3], *out_topic = argv[4];
    double started = now_s();
    kt_tracer_config *cfg = kt_tracer_config_new();
    kt_tracer_config_set_service_name(cfg, "soak-c", 6);
    kt_tracer_config_set_bootstrap_servers(cfg, bootstrap, strlen(bootstrap));
    kt_tracer *tracer = NULL;
    kt_result rc = kt_tracer_new(cfg, &tracer);
    kt_tracer_config_free(cfg);
    if (rc != KT_RESULT_OK) die("kt_tracer_new", kt_result_message(rc));

    rd_kafka_t *producer = client(RD_KAFKA_PRODUCER, bootstrap, NULL);
    char group[512];
    snprintf(group, sizeof group, "%s-forwarder", in_topic);
    rd_kafka_t *forwarder = client(RD_KAFKA_CONSUMER, bootstrap, group);
    subscribe(forwarder, in_topic);
    snprintf(group, sizeof group, "%s-sink", out_topic);
    rd_kafka_t *sink = client(RD_KAFKA_CONSUMER, bootstrap, group);
    subscribe(sink, out_topic);

    unsigned char *seen = calloc((size_t)n, 1);
    long produced = 0, unique = 0, dups = 0, rss_warm = 0, last = -1;
    double at = now_s(), settle = 0;
    long warm = n / 10 > 0 ? n / 10 : 1;
    for (;;) {
        for (int k = 0; k < 1000 && produced < n; k++, produced++) {
            char value[32];
            int len = snprintf(value, sizeof value, "%ld", produced);
            send_traced(producer, tracer, NULL, in_topic, value, (size_t)len);
        }
        rd_kafka_poll(producer, 0);
        /* the forwarder: each message sent on inside its process span */
        for (int k = 0; k < 1000; k++) {
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(forwarder, k == 0 ? 10 : 0);
            if (!msg) break;
            if (!msg->err) {
                kt_header headers[MAX_HEADERS];
                kt_message m = kt_rdkafka_message_of(msg, headers, MAX_HEADERS);
                kt_span *process = NULL;
                if (kt_tracer_start_process(tracer, &m, NULL, NULL, &process) != KT_RESULT_OK) die("start_process", "failed");
                send_traced(producer, tracer, process, out_topic, msg->payload, msg->len);
                kt_span_end(process);
                kt_span_free(process);
            }
            rd_kafka_message_destroy(msg);
        }
        /* the last consumer */
        for (int k = 0; k < 1000; k++) {
            rd_kafka_message_t *msg = rd_kafka_consumer_poll(sink, k == 0 ? 10 : 0);
            if (!msg) break;
            if (!msg->err) {
                kt_header headers[MAX_HEADERS];
                kt_message m = kt_rdkafka_message_of(msg, headers, MAX_HEADERS);
                kt_span *process = NULL;
                if (kt_tracer_start_process(tracer, &m, NULL, NULL, &process) != KT_RESULT_OK) die("start_process", "failed");
                char value[32] = {0};
                memcpy(value, msg->payload, msg->len < 31 ? msg->len : 31);
                long i = atol(value);
                if (i >= 0 && i < n) {
                    if (seen[i]++) dups++;
                    else if (++unique == warm) rss_warm = rss_kb();
                }
                kt_span_end(process);
                kt_span_free(process);
            }
            rd_kafka_message_destroy(msg);
        }
        double t = now_s();
        if (unique != last) {
            last = unique;
            at = t;
        }
        if (unique >= n) {
            if (settle == 0) settle = t + 2; /* late duplicates */
            if (t > settle) break;
        } else if (t - at > 120) {
            break; /* no progress for 2 minutes: report what is missing */
        }
    }
    rd_kafka_flush(producer, 30000);
    rd_kafka_consumer_close(forwarder);
    rd_kafka_consumer_close(sink);
    rd_kafka_destroy(forwarder);
    rd_kafka_destroy(sink);
    rd_kafka_destroy(producer);
    long rss_end = rss_kb();
    kt_span_stats stats = {0};
    kt_tracer_shutdown(tracer, 5000, &stats);
    kt_tracer_free(tracer);
    free(seen);
    printf("{\"binding\": \"c\", \"messages\": %ld, \"received\": %ld, \"lost\": %ld, \"duplicated\": %ld, \"spans_ended\": %llu, "
           "\"spans_exported\": %llu, \"spans_export_failed\": %llu, \"spans_dropped\": %llu, \"rss_warm_kb\": %ld, "
           "\"rss_end_kb\": %ld, \"seconds\": %.1f}\n",
           n, unique, n - unique, dups, (unsigned long long)stats.ended, (unsigned long long)stats.exported,
           (unsigned long long)stats.export_failed, (unsigned long long)stats.dropped, rss_warm, rss_end, now_s() - started);
    return 0;
}
