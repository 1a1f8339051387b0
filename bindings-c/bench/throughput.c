#define _POSIX_C_SOURCE 200809L
/* librdkafka producer + consumer throughput on the real broker ($KAFKA_BOOTSTRAP, default
 * 127.0.0.1:9092), plain librdkafka (mode `none`) against the kafka-trace C ABI (mode
 * `kafka-trace`), in one process, modes alternating round by round, each run on a fresh topic.
 *
 *   throughput [MESSAGES=20000] [ROUNDS=5]          (bindings-c/bench/throughput.sh builds and runs it)
 *
 * A run produces MESSAGES messages (100-byte payload, linger.ms=5, acks=1, rd_kafka_poll(rk, 0)
 * after each produce, flush at the end), then consumes them back one by one with
 * rd_kafka_consumer_poll() (partition 0 assigned from the beginning). kafka-trace adds, as
 * examples/c does: per produce kt_tracer_start_send() + kt_span_inject() into the message's
 * headers, the send span ended from the delivery report (kt_rdkafka_delivered()); per consumed
 * message kt_rdkafka_message_of() + kt_tracer_start_process() (reads the headers: the producer's
 * context is the parent) around the handler, then kt_span_end(). Spans and metrics go to the
 * tracer's in-memory capture (kt_tracer_config_set_capture(); cleared between runs, outside the
 * measured window): no exporter, no network.
 *
 * KT_BENCH_ONLY=none or kafka-trace runs that mode alone. KT_BENCH_METRICS=0 turns the tracer's messaging metrics off (default on, as for users), to
 * separate their cost from the spans'.
 *
 * Sampling: KT_BENCH_SAMPLING (default 1.0 = every span recorded; 0.01 =
 * ParentBased(TraceIdRatio(0.01))), given to the tracer's OpenTelemetry SDK through
 * OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (the C API has no sampler setter; the SDK reads
 * these variables in capture mode and in OTLP mode alike).
 *
 * Measured window: from the first produce to the last message consumed (the clients are
 * created before, and warmed up with one plain message produced and consumed first). msg/s = MESSAGES / wall time; CPU µs/msg = process CPU time (user + sys, every thread:
 * librdkafka's and the SDK's included) / MESSAGES. The median round of each mode is reported, as
 * human text on stderr and as BENCH_ROW lines on stdout (group c-librdkafka). */
#include <kafka_trace.h>
#include <kafka_trace_rdkafka.h>
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 64
#define PAYLOAD_LEN 100

static const char *bootstrap;
static long delivered, delivery_failed;

static void die(const char *what, const char *why) {
    fprintf(stderr, "throughput: %s: %s\n", what, why);
    exit(1);
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void conf_set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) die(name, err);
}

/* Delivery report of both modes: a traced message carries its send span as the opaque. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    kt_span *span = (kt_span *)msg->_private;
    (void)rk;
    (void)opaque;
    if (msg->err) delivery_failed++;
    else delivered++;
    if (span) {
        kt_rdkafka_delivered(span, msg);
        kt_span_free(span);
    }
}

static rd_kafka_t *new_producer(void) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", bootstrap);
    conf_set(conf, "linger.ms", "5");
    conf_set(conf, "acks", "1");
    conf_set(conf, "queue.buffering.max.messages", "1000000");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) die("producer", err);
    return rk;
}

/* Creates `topic` (1 partition, replication 1) and waits for the broker's answer. */
static void create_topic(rd_kafka_t *rk, const char *topic) {
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, 1, 1, err, sizeof err);
    if (!nt) die("NewTopic", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) die("create topic", "no answer in 30 s");
    if (rd_kafka_event_error(ev)) die("create topic", rd_kafka_event_error_string(ev));
    size_t n = 0;
    const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (n != 1 || rd_kafka_topic_result_error(res[0])) die("create topic", n ? rd_kafka_topic_result_error_string(res[0]) : "no result");
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

static rd_kafka_t *new_consumer(const char *topic) {
    char err[512], group[300];
    snprintf(group, sizeof group, "%s-g", topic);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", bootstrap);
    conf_set(conf, "group.id", group);
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "enable.partition.eof", "false");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) die("consumer", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tpl, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tpl);
    rd_kafka_topic_partition_list_destroy(tpl);
    if (e) die("assign", rd_kafka_err2str(e));
    return rk;
}

typedef struct {
    double msgs_per_s;
    double cpu_us_per_msg;
} result;

/* One run of `n` messages on a fresh topic, traced when `tracer` is not NULL. */
static result run(long n, kt_tracer *tracer, int round) {
    char topic[200];
    snprintf(topic, sizeof topic, "kt-c-throughput-%s-%d-%ld", tracer ? "traced" : "plain", round, (long)getpid());
    rd_kafka_t *producer = new_producer();
    create_topic(producer, topic);
    rd_kafka_t *consumer = new_consumer(topic);
    static char payload[PAYLOAD_LEN];
    memset(payload, 'x', sizeof payload);
    /* warm-up outside the window: one plain message produced, delivered and consumed, so both
     * clients know the new topic's leader and are connected */
    if (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, sizeof payload),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) ||
        rd_kafka_flush(producer, 30000))
        die("warm-up", "produce failed");
    for (double until = clock_s(CLOCK_MONOTONIC) + 30;;) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 100);
        if (msg) {
            if (msg->err) die("warm-up", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            break;
        }
        if (clock_s(CLOCK_MONOTONIC) > until) die("warm-up", "nothing consumed in 30 s");
    }
    delivered = delivery_failed = 0;
    kt_span_stats before;
    if (tracer) kt_tracer_stats(tracer, &before);

    double wall0 = clock_s(CLOCK_MONOTONIC), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < n; i++) {
        kt_span *span = NULL;
        rd_kafka_headers_t *headers = NULL;
        if (tracer) {
            kt_message m = kt_rdkafka_message(topic, -1, -1, NULL, 0, payload, sizeof payload, 0, NULL, 0);
            if (kt_tracer_start_send(tracer, &m, NULL, NULL, &span) != KT_RESULT_OK) die("kt_tracer_start_send", "failed");
            headers = rd_kafka_headers_new(3);
            if (kt_span_inject(span, kt_rdkafka_set_header, headers) != KT_RESULT_OK) die("kt_span_inject", "failed");
        }
        for (;;) {
            rd_kafka_resp_err_t err =
                headers ? rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, sizeof payload),
                                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                                            RD_KAFKA_V_OPAQUE(span), RD_KAFKA_V_END)
                        : rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(payload, sizeof payload),
                                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (!err) break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce", rd_kafka_err2str(err));
            rd_kafka_poll(producer, 10); /* queue full: serve delivery reports, retry */
        }
        rd_kafka_poll(producer, 0);
    }
    if (rd_kafka_flush(producer, 60000)) die("flush", "timed out");
    if (delivered != n || delivery_failed) die("produce", "not every message was delivered");
    double produced_at = clock_s(CLOCK_MONOTONIC);

    long received = 0, traced_headers = 0;
    size_t bytes = 0;
    double deadline = clock_s(CLOCK_MONOTONIC) + 120;
    while (received < n) {
        if (clock_s(CLOCK_MONOTONIC) > deadline) die("consume", "timed out");
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 100);
        if (!msg) continue;
        if (msg->err) die("consume", rd_kafka_message_errstr(msg));
        kt_span *process = NULL;
        if (tracer) {
            kt_header hs[64];
            kt_message m = kt_rdkafka_message_of(msg, hs, 64);
            if (received == 0) traced_headers = (long)m.header_count;
            if (kt_tracer_start_process(tracer, &m, NULL, NULL, &process) != KT_RESULT_OK) die("kt_tracer_start_process", "failed");
        }
        bytes += msg->len; /* the handler */
        if (tracer) {
            kt_span_end(process);
            kt_span_free(process);
        }
        rd_kafka_message_destroy(msg);
        received++;
    }
    double wall = clock_s(CLOCK_MONOTONIC) - wall0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;

    if (bytes != (size_t)n * PAYLOAD_LEN) die("consume", "wrong payload sizes");
    fprintf(stderr, "  %s: produce %.3f s, consume %.3f s\n", topic, produced_at - wall0, wall0 + wall - produced_at);
    if (tracer) {
        kt_span_stats after;
        kt_tracer_stats(tracer, &after);
        /* the first message carried traceparent (+ tracestate/baggage when there are any) */
        if (traced_headers < 1) die("consume", "a traced message arrived without trace headers");
        fprintf(stderr, "  spans recorded: %" PRIu64 " of %ld\n", after.ended - before.ended, 2 * n);
        kt_tracer_captured_clear(tracer);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_destroy(producer);
    result r = {(double)n / wall, cpu * 1e6 / (double)n};
    return r;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *xs, int n) {
    qsort(xs, (size_t)n, sizeof *xs, cmp_double);
    return xs[n / 2];
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (n < 1 || rounds < 1 || rounds > MAX_ROUNDS) die("usage", "throughput [MESSAGES >= 1] [ROUNDS 1..64]");
    bootstrap = getenv("KAFKA_BOOTSTRAP") ? getenv("KAFKA_BOOTSTRAP") : "127.0.0.1:9092";
    const char *s = getenv("KT_BENCH_SAMPLING");
    double ratio = s && *s ? atof(s) : 1.0;
    if (!(ratio > 0.0 && ratio <= 1.0)) die("KT_BENCH_SAMPLING", "must be in (0, 1]");
    char sampling[32], arg[32];
    if (ratio >= 1.0) {
        snprintf(sampling, sizeof sampling, "full");
        setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on", 1);
    } else {
        snprintf(sampling, sizeof sampling, "%g%%", ratio * 100.0);
        snprintf(arg, sizeof arg, "%g", ratio);
        setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
        setenv("OTEL_TRACES_SAMPLER_ARG", arg, 1);
    }

    kt_tracer_config *cfg = kt_tracer_config_new();
    kt_tracer *tracer = NULL;
    kt_tracer_config_set_capture(cfg, true);
    kt_tracer_config_set_service_name(cfg, "c-throughput", strlen("c-throughput"));
    kt_tracer_config_set_bootstrap_servers(cfg, bootstrap, strlen(bootstrap));
    kt_tracer_config_set_client_id(cfg, "c-throughput", strlen("c-throughput"));
    kt_tracer_config_set_consumer_group(cfg, "c-throughput", strlen("c-throughput"));
    const char *metrics = getenv("KT_BENCH_METRICS"); /* 0: spans only, to see what the metrics cost */
    kt_tracer_config_set_metrics(cfg, !(metrics && strcmp(metrics, "0") == 0));
    kt_result rc = kt_tracer_new(cfg, &tracer);
    kt_tracer_config_free(cfg);
    if (rc != KT_RESULT_OK) die("kt_tracer_new", kt_result_message(rc));

    const char *modes[2] = {"none", "kafka-trace"};
    const char *only = getenv("KT_BENCH_ONLY"); /* one mode alone (bindings-c/bench/insns.sh) */
    int run_mode[2] = {!only || strcmp(only, modes[0]) == 0, !only || strcmp(only, modes[1]) == 0};
    if (!run_mode[0] && !run_mode[1]) die("KT_BENCH_ONLY", "none or kafka-trace");
    double rate[2][MAX_ROUNDS], cpu[2][MAX_ROUNDS];
    fprintf(stderr, "librdkafka %s, kafka-trace %s, %ld messages of %d B, %d rounds, sampling %s\n", rd_kafka_version_str(),
            kt_version(), n, PAYLOAD_LEN, rounds, sampling);
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int m = (r % 2) ? 1 - k : k; /* alternate which mode goes first */
            if (!run_mode[m]) continue;
            result res = run(n, m ? tracer : NULL, r);
            rate[m][r] = res.msgs_per_s;
            cpu[m][r] = res.cpu_us_per_msg;
            fprintf(stderr, "round %d %-11s %9.0f msg/s %7.2f CPU us/msg\n", r + 1, modes[m], res.msgs_per_s, res.cpu_us_per_msg);
        }
    }
    double med_rate[2], med_cpu[2];
    for (int m = 0; m < 2; m++) {
        if (!run_mode[m]) continue;
        med_rate[m] = median(rate[m], rounds);
        med_cpu[m] = median(cpu[m], rounds);
        printf("BENCH_ROW {\"group\": \"c-librdkafka\", \"row\": \"produce + consume, %d B payload\", \"mode\": \"%s\", "
               "\"sampling\": \"%s\", \"value\": %.1f, \"unit\": \"msg/s\", \"cpu_us_per_msg\": %.3f}\n",
               PAYLOAD_LEN, modes[m], sampling, med_rate[m], med_cpu[m]);
    }
    if (run_mode[0] && run_mode[1])
        fprintf(stderr, "median: none %.0f msg/s (%.2f CPU us/msg), kafka-trace %.0f msg/s (%.2f CPU us/msg): %.1f%% of none\n",
                med_rate[0], med_cpu[0], med_rate[1], med_cpu[1], 100.0 * med_rate[1] / med_rate[0]);
    kt_tracer_free(tracer);
    return 0;
}
