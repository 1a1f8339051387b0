#define _POSIX_C_SOURCE 199309L
/* C benchmark of the hot path, same inputs as core/benches/codec.rs and bindings-c/benches/baseline.rs:
 * a 2-header array (traceparent + 3-member tracestate).
 *   extract          kt_context_extract into a reused context
 *   inject           kt_context_inject through a callback that copies name and value (like a reused Vec)
 *   extract+inject   extract, kt_context_set_span_id (the child), inject through the callback
 * Prints ns/op: the best of 31 rounds of 200,000 iterations (min filters out the other
 * processes sharing the machine). Build: see bindings-c/BENCHMARKS.md. */
#include "kafka_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 31
static long iters = 200000;

static const char TP[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
static const char TS[] = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123";

typedef struct {
    char name[3][16];
    uint8_t value[3][512];
    size_t len[3];
    int n;
} sink;

static int copy_header(void *userdata, const char *name, size_t name_len, const uint8_t *value, size_t value_len) {
    sink *s = (sink *)userdata;
    int i = s->n++ % 3;
    memcpy(s->name[i], name, name_len + 1);
    if (value && value_len <= sizeof s->value[i]) memcpy(s->value[i], value, value_len);
    s->len[i] = value ? value_len : 0;
    return 0;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile size_t keep;

int main(int argc, char **argv) {
    int only = -1; /* argv[2]: run only operation 0, 1 or 2 (for instruction counts) */
    if (argc > 1) iters = atol(argv[1]);
    if (argc > 2) only = atoi(argv[2]);
    kt_header headers[2] = {
        {"traceparent", 11, (const uint8_t *)TP, sizeof TP - 1},
        {"tracestate", 10, (const uint8_t *)TS, sizeof TS - 1},
    };
    const uint8_t span_id[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    kt_context *ctx = kt_context_new();
    sink s;
    memset(&s, 0, sizeof s);
    if (kt_context_extract(ctx, headers, 2) != KT_RESULT_OK || kt_context_tracestate_len(ctx) != 3 ||
        kt_context_inject(ctx, copy_header, &s) != KT_RESULT_OK || s.len[0] != 55 || s.len[1] != sizeof TS - 1) {
        fprintf(stderr, "bench: sanity check failed\n");
        return 1;
    }
    const char *names[3] = {"extract", "inject", "extract+inject"};
    for (int which = 0; which < 3; which++) {
        if (only >= 0 && which != only) continue;
        double best = 1e18;
        for (int round = 0; round < ROUNDS; round++) {
            double t0 = now_ns();
            for (long i = 0; i < iters; i++) {
                switch (which) {
                case 0:
                    keep += kt_context_extract(ctx, headers, 2);
                    break;
                case 1:
                    keep += kt_context_inject(ctx, copy_header, &s);
                    break;
                default:
                    keep += kt_context_extract(ctx, headers, 2);
                    keep += kt_context_set_span_id(ctx, span_id);
                    keep += kt_context_inject(ctx, copy_header, &s);
                }
            }
            double ns = (now_ns() - t0) / (double)iters;
            if (ns < best) best = ns;
        }
        printf("c/%-16s %8.1f ns/op\n", names[which], best);
    }
    kt_context_free(ctx);
    return keep == 12345 ? 2 : 0;
}
