/* What hostile headers cost in the C ABI (a measurement, not a test; run by
 * tests/hostile/timing.sh): kt_context_extract, kt_context_inject_headers and a whole process span
 * (kt_tracer_start_process + kt_span_end, capture-mode tracer) with a 1 MB tracestate, 10,000
 * headers and 1,000 traceparent copies. Median and max of 50 runs, in ms. */
#define _POSIX_C_SOURCE 200809L
#include <kafka_trace.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 50
static const char TP[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static void report(const char *name, double *runs) {
    qsort(runs, RUNS, sizeof *runs, cmp);
    printf("c %s: median %.3f ms, max %.3f ms\n", name, runs[RUNS / 2], runs[RUNS - 1]);
}
static kt_header h(const char *name, const void *value, size_t len) {
    kt_header x = {name, strlen(name), value, len};
    return x;
}

int main(void) {
    size_t cap = 1100000, len = 0;
    char *state = malloc(cap);
    len += (size_t)snprintf(state, cap, "a=");
    memset(state + len, 'x', 255), len += 255;
    for (int i = 0; i < 4000; i++) {
        len += (size_t)snprintf(state + len, cap - len, ",k%d=", i);
        memset(state + len, 'y', 250), len += 250;
    }
    kt_header mb[2] = {h("traceparent", TP, 55), h("tracestate", state, len)};
    kt_header *many = calloc(10001, sizeof *many);
    char (*names)[8] = calloc(10000, 8);
    for (int i = 0; i < 10000; i++) {
        snprintf(names[i], 8, "h%d", i);
        many[i] = h(names[i], "v", 1);
    }
    many[10000] = h("traceparent", TP, 55);
    kt_header *copies = calloc(1000, sizeof *copies);
    for (int i = 0; i < 1000; i++) copies[i] = h("traceparent", TP, 55);

    kt_context *ctx = kt_context_new();
    double runs[RUNS];
    struct { const char *name; kt_header *hs; size_t n; } cases[] = {
        {"extract, 1 MB tracestate", mb, 2}, {"extract, 10,000 headers", many, 10001}, {"extract, 1,000 traceparent copies", copies, 1000}};
    for (size_t c = 0; c < 3; c++) {
        for (int r = 0; r < RUNS; r++) {
            double t = now_ms();
            if (kt_context_extract(ctx, cases[c].hs, cases[c].n) != KT_RESULT_OK) return 1;
            runs[r] = now_ms() - t;
        }
        report(cases[c].name, runs);
    }
    /* inject into the 10,000-header list (out: the rewritten list, buffer for our values) */
    kt_header *out = calloc(10004, sizeof *out);
    uint8_t buf[4096];
    for (int r = 0; r < RUNS; r++) {
        size_t count = 0, used = 0;
        double t = now_ms();
        if (kt_context_inject_headers(ctx, many, 10001, out, 10004, &count, buf, sizeof buf, &used) != KT_RESULT_OK) return 1;
        runs[r] = now_ms() - t;
    }
    report("inject into 10,000 headers", runs);

    kt_tracer_config *cfg = kt_tracer_config_new();
    kt_tracer_config_set_capture(cfg, true);
    kt_tracer_config_set_metrics(cfg, false);
    kt_tracer *tracer = NULL;
    if (kt_tracer_new(cfg, &tracer) != KT_RESULT_OK) return 1;
    kt_tracer_config_free(cfg);
    struct { const char *name; kt_header *hs; size_t n; } spans[] = {{"process span, 1 MB tracestate", mb, 2}, {"process span, 10,000 headers", many, 10001}};
    for (size_t c = 0; c < 2; c++) {
        for (int r = 0; r < RUNS; r++) {
            kt_message m = {0};
            m.topic = "t", m.topic_len = 1, m.partition = 0, m.offset = 1, m.headers = spans[c].hs, m.header_count = spans[c].n;
            kt_span *s = NULL;
            double t = now_ms();
            if (kt_tracer_start_process(tracer, &m, NULL, NULL, &s) != KT_RESULT_OK) return 1;
            kt_span_end(s);
            kt_span_free(s);
            runs[r] = now_ms() - t;
        }
        report(spans[c].name, runs);
        kt_tracer_captured_clear(tracer);
    }
    kt_tracer_free(tracer);
    kt_context_free(ctx);
    free(out), free(copies), free(names), free(many), free(state);
    return 0;
}
