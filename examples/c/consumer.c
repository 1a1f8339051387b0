/* consumer: reads COUNT messages from IN_TOPIC in consumer group GROUP; each gets a
 * `process IN_TOPIC` span that continues the producer's trace (read from the headers). With
 * OUT_TOPIC, the handler forwards the message there with a `send OUT_TOPIC` span whose parent is
 * the process span, so the trace goes on.
 *
 *   OTEL_SERVICE_NAME=c-forwarder ./consumer 127.0.0.1:9092 g1 orders 3 orders-audit
 * Prints one line per message: "process TOPIC PARTITION OFFSET TRACE_ID SPAN_ID" (then the
 * forwarded "send ..." line). Exits 1 if COUNT messages did not arrive within 60 s. */
#include "common.h"

#include <time.h>

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s BOOTSTRAP GROUP IN_TOPIC COUNT [OUT_TOPIC]\n", argv[0]);
        return 2;
    }
    const char *bootstrap = argv[1], *group = argv[2], *in_topic = argv[3], *out_topic = argc > 5 ? argv[5] : NULL;
    int count = atoi(argv[4]), seen = 0, failed = 0;
    char err[512];
    kt_tracer *tracer = kt_example_tracer(bootstrap, out_topic ? "c-forwarder" : "c-consumer", group);
    rd_kafka_t *producer = out_topic ? kt_example_producer(bootstrap, "c-forwarder") : NULL;

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) ||
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err) ||
        rd_kafka_conf_set(conf, "client.id", out_topic ? "c-forwarder" : "c-consumer", err, sizeof err)) {
        fprintf(stderr, "config: %s\n", err);
        return 1;
    }
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!consumer) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, in_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        fprintf(stderr, "subscribe: %s\n", rd_kafka_err2str(e));
        return 1;
    }

    time_t deadline = time(NULL) + 60;
    while (seen < count && time(NULL) < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 500);
        if (!msg) continue;
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            continue;
        }
        kt_header headers[MAX_HEADERS];
        kt_message m = kt_rdkafka_message_of(msg, headers, MAX_HEADERS);
        kt_span *process = NULL;
        kt_result rc = kt_tracer_start_process(tracer, &m, NULL, NULL, &process);
        if (rc != KT_RESULT_OK) fprintf(stderr, "kt_tracer_start_process: %s\n", kt_result_message(rc));

        /* the handler */
        printf("process %s %d %lld ", rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset);
        kt_print_ids(stdout, process);
        putchar('\n');
        if (out_topic) {
            char key[256], value[1024];
            snprintf(key, sizeof key, "%.*s", (int)msg->key_len, msg->key ? (const char *)msg->key : "");
            snprintf(value, sizeof value, "%.*s", (int)msg->len, msg->payload ? (const char *)msg->payload : "");
            if (kt_example_send(producer, tracer, process, out_topic, key, value, stdout)) {
                kt_span_end_error(process, "forward_failed", strlen("forward_failed"));
                failed++;
            }
        }
        kt_span_end(process); /* KT_RESULT_ALREADY_ENDED after an error: fine */
        kt_span_free(process);
        rd_kafka_message_destroy(msg);
        seen++;
    }
    fflush(stdout);
    if (producer) {
        if (rd_kafka_flush(producer, 30000)) failed++;
        rd_kafka_destroy(producer);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);

    kt_span_stats stats;
    kt_tracer_shutdown(tracer, 10000, &stats);
    kt_tracer_free(tracer);
    fprintf(stderr, "consumer %s: %d/%d messages; spans ended=%llu exported=%llu export_failed=%llu dropped=%llu\n",
            group, seen, count, (unsigned long long)stats.ended, (unsigned long long)stats.exported,
            (unsigned long long)stats.export_failed, (unsigned long long)stats.dropped);
    return (seen == count && !failed) ? 0 : 1;
}
