/* Metric cardinality through the C ABI (capture mode): 1,000 messages over 3 partitions of one
 * topic, each sent (acknowledged with its own offset and key) and processed (its own offset, key
 * and timestamp), received in batches of 100 under poll spans, give exactly one attribute set per
 * partition on every per-message instrument (3), plus one for the receive on the operation
 * duration (4), and no metric ever carries an offset, a key or a message id. */
#include "kafka_trace.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) lit, sizeof(lit) - 1
#define MESSAGES 1000

static size_t count_of(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

int main(void) {
    kt_tracer_config *cfg = kt_tracer_config_new();
    CHECK_RC(kt_tracer_config_set_capture(cfg, true), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set(cfg, S("bootstrap_servers"), S("127.0.0.1:9092")), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set(cfg, S("consumer_group"), S("cardinality")), KT_RESULT_OK);
    CHECK_RC(kt_tracer_config_set(cfg, S("client_id"), S("c-card")), KT_RESULT_OK);
    kt_tracer *tracer = NULL;
    CHECK_RC(kt_tracer_new(cfg, &tracer), KT_RESULT_OK);
    kt_tracer_config_free(cfg);

    char key[32];
    kt_str topic = {"orders", 6};
    for (int batch = 0; batch < MESSAGES / 100; batch++) {
        kt_span *poll = NULL;
        CHECK_RC(kt_tracer_start_poll(tracer, NULL, NULL, &poll), KT_RESULT_OK);
        CHECK_RC(kt_span_end_poll(poll, &topic, 1, 100), KT_RESULT_OK);
        for (int j = 0; j < 100; j++) {
            int i = batch * 100 + j;
            kt_message m;
            memset(&m, 0, sizeof m);
            m.topic = "orders";
            m.topic_len = 6;
            m.partition = -1;
            m.offset = -1;
            snprintf(key, sizeof key, "key-%d", i);
            m.key = (const uint8_t *)key;
            m.key_len = strlen(key);
            m.payload = "v";
            m.payload_len = 1;
            kt_span *send = NULL;
            CHECK_RC(kt_tracer_start_send(tracer, &m, NULL, NULL, &send), KT_RESULT_OK);
            CHECK_RC(kt_span_end_send_latency(send, i % 3, i / 3, 1500 + i), KT_RESULT_OK);
            m.partition = i % 3;
            m.offset = i / 3;
            m.timestamp_ms = 1;
            kt_span *process = NULL;
            CHECK_RC(kt_tracer_start_batch_process(tracer, &m, poll, NULL, &process), KT_RESULT_OK);
            CHECK_RC(kt_span_end(process), KT_RESULT_OK);
            kt_span_free(send);
            kt_span_free(process);
        }
        kt_span_free(poll);
    }

    size_t len = 0;
    CHECK_RC(kt_tracer_captured_json(tracer, NULL, 0, &len), KT_RESULT_BUFFER_TOO_SMALL);
    char *json = (char *)malloc(len + 1);
    CHECK_RC(kt_tracer_captured_json(tracer, json, len + 1, &len), KT_RESULT_OK);
    /* keys are sorted: {"metrics":[...],"spans":[...]} */
    char *spans = strstr(json, "],\"spans\":[");
    CHECK(strncmp(json, "{\"metrics\":[", 12) == 0 && spans != NULL);
    if (spans) *spans = '\0';
    CHECK(count_of(json, "\"name\":\"messaging.client.sent.messages\"") == 3);
    CHECK(count_of(json, "\"name\":\"messaging.client.consumed.messages\"") == 3);
    CHECK(count_of(json, "\"name\":\"messaging.process.duration\"") == 3);
    CHECK(count_of(json, "\"name\":\"kafka_trace.e2e.latency\"") == 3);
    CHECK(count_of(json, "\"name\":\"messaging.client.operation.duration\"") == 4);
    CHECK(count_of(json, "\"name\":") == 16);
    CHECK(count_of(json, "\"count\":1000") == 0);
    CHECK(count_of(json, "messaging.kafka.offset") == 0);
    CHECK(count_of(json, "messaging.kafka.message.key") == 0);
    CHECK(count_of(json, "messaging.message.id") == 0);
    CHECK(count_of(json, "messaging.client.id") == 0);
    /* every message is counted: 1000 sends and 1000 processed over the 3 series each */
    CHECK(count_of(json, "\"sum\":334.0") == 2 && count_of(json, "\"sum\":333.0") == 4);
    free(json);

    kt_span_stats stats;
    CHECK_RC(kt_tracer_shutdown(tracer, 1000, &stats), KT_RESULT_OK);
    CHECK(stats.ended == 2 * MESSAGES + MESSAGES / 100);
    kt_tracer_free(tracer);
    return test_report("test_cardinality");
}
