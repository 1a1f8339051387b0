/* The plugin's on_send parents its send span under the thread's current context set through the
 * C API (kt_context_set_current), and a thread without one starts a new trace. This program links
 * libkafka_trace.so (the C API) and loads the same file as a librdkafka plugin, so both share the
 * thread-local current context. Built with pkg-config (kafka-trace-rdkafka) only.
 *
 *   plugin_current BOOTSTRAP TOPIC PLUGIN_PATH
 * Produces 2 messages: the first with a current context (trace 4bf9..., span 00f0...), the second
 * after clearing it; the delivery reports read each message's traceparent back. Exit 0 = pass. */
#include <kafka_trace.h>
#include <kafka_trace_rdkafka.h>

#include <stdio.h>
#include <string.h>

static char seen[2][KT_TRACEPARENT_LEN + 1];
static int delivered;

static void dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    (void)opaque;
    int i = (int)(intptr_t)msg->_private; /* the application's opaque, untouched by the plugin */
    const void *value;
    size_t size;
    rd_kafka_headers_t *h = NULL;
    if (!msg->err && i >= 0 && i < 2 && !rd_kafka_message_headers(msg, &h) &&
        !rd_kafka_header_get_last(h, "traceparent", &value, &size) && size == KT_TRACEPARENT_LEN) {
        memcpy(seen[i], value, size);
        seen[i][size] = 0;
    }
    delivered++;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) ||
        rd_kafka_conf_set(conf, "plugin.library.paths", argv[3], err, sizeof err) ||
        rd_kafka_conf_set(conf, "kafka_trace.service_name", "c-plugin-current", err, sizeof err)) {
        fprintf(stderr, "config: %s\n", err);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) return 1;

    const char *parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    kt_header h = {"traceparent", 11, (const uint8_t *)parent, strlen(parent)};
    kt_context *ctx = kt_context_new();
    if (kt_context_extract(ctx, &h, 1) != KT_RESULT_OK || kt_context_set_current(ctx) != KT_RESULT_OK) return 1;
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_VALUE("with", 4), RD_KAFKA_V_OPAQUE((void *)0), RD_KAFKA_V_END);
    kt_context_set_current(NULL);
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_VALUE("without", 7), RD_KAFKA_V_OPAQUE((void *)1), RD_KAFKA_V_END);
    rd_kafka_flush(rk, 30000);
    rd_kafka_destroy(rk);
    kt_context_free(ctx);

    int ok = delivered == 2 && strncmp(seen[0], "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36) == 0 &&
             strncmp(seen[0] + 36, "00f067aa0ba902b7", 16) != 0 && seen[1][0] && strncmp(seen[1], "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36) != 0;
    printf("plugin_current: delivered %d; with current context: %s; without: %s -> %s\n", delivered, seen[0], seen[1], ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
