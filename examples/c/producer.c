/* producer: sends COUNT messages to TOPIC, each with its own `send TOPIC` span (a new trace)
 * injected into the message headers; the delivery report ends the span with partition + offset.
 *
 *   OTEL_SERVICE_NAME=c-producer OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
 *     ./producer 127.0.0.1:9092 orders 3
 * Prints one line per message: "send TOPIC KEY TRACE_ID SPAN_ID". */
#include "common.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC [COUNT]\n", argv[0]);
        return 2;
    }
    const char *bootstrap = argv[1], *topic = argv[2];
    int count = argc > 3 ? atoi(argv[3]) : 3, failed = 0;
    kt_tracer *tracer = kt_example_tracer(bootstrap, "c-producer", NULL);
    rd_kafka_t *rk = kt_example_producer(bootstrap, "c-producer");

    for (int i = 0; i < count; i++) {
        char key[32], value[64];
        snprintf(key, sizeof key, "order-%d", i);
        snprintf(value, sizeof value, "{\"order\": %d}", i);
        if (kt_example_send(rk, tracer, NULL, topic, key, value, stdout)) failed++;
    }
    if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "flush timed out\n");
        failed++;
    }
    rd_kafka_destroy(rk);

    kt_span_stats stats;
    kt_tracer_shutdown(tracer, 10000, &stats);
    kt_tracer_free(tracer);
    fprintf(stderr, "producer: spans ended=%llu exported=%llu export_failed=%llu dropped=%llu\n",
            (unsigned long long)stats.ended, (unsigned long long)stats.exported,
            (unsigned long long)stats.export_failed, (unsigned long long)stats.dropped);
    return failed ? 1 : 0;
}
