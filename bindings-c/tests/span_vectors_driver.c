/* Runs the span-model vectors (core/testdata/span_model_vectors.json) through the C API of a
 * capturing tracer. span_vectors.py loads the file unchanged, writes one case at a time in the
 * line format below, and compares what this program prints with the expectations.
 *
 *   in:  "case N" / "opt NAMEHEX VALUEHEX" (kt_tracer_config_set) / "op send|process|batch_process|poll"
 *        "amb_span 0|1" / "amb_bg KEYHEX VALUEHEX" / "m_topic HEX" / "m_partition N" / "m_offset N"
 *        "m_key HEX|-" / "m_value N|-" (payload length, - tombstone) / "m_ts N" (0: none)
 *        "h NAMEHEX VALUEHEX" (VALUEHEX "-" null, "." empty) / "p_topic HEX" / "p_count N"
 *        "result acked P O" | "result send_failed HEX" | "result returned" | "result raised HEX"
 *        | "result received" | "result poll_failed HEX" / "fwd TOPICHEX" / "run"
 *   out: "case N" / "ambient TRACE SPAN" / "poll TRACE SPAN" / "traced 0|1" / "hb KEYHEX VALUEHEX"
 *        / "send TRACE SPAN" (the span that wrote headers_out) / "out NAMEHEX VALUEHEX"
 *        / "json {...}" (kt_tracer_captured_json) / "end"
 * Every call's result is checked; an unexpected one prints "fail WHAT CODE" and exits 1. */
#include "kafka_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 64
#define LINE_MAX_LEN (1 << 16)

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* A decoded byte string; `null` for "-". */
typedef struct {
    uint8_t *data;
    size_t len;
    int null;
} blob;

static blob unhex(const char *tok) {
    blob b = {NULL, 0, 0};
    if (!tok || strcmp(tok, "-") == 0) {
        b.null = 1;
        return b;
    }
    size_t n = strcmp(tok, ".") == 0 ? 0 : strlen(tok) / 2;
    b.data = (uint8_t *)malloc(n + 1);
    for (size_t i = 0; i < n; i++) b.data[i] = (uint8_t)(hexval(tok[2 * i]) * 16 + hexval(tok[2 * i + 1]));
    b.data[n] = 0;
    b.len = n;
    return b;
}

static void put_hex(const void *data, size_t len) {
    const uint8_t *p = (const uint8_t *)data;
    if (len == 0) {
        fputs(".", stdout);
        return;
    }
    for (size_t i = 0; i < len; i++) printf("%02x", p[i]);
}

static void check(kt_result got, kt_result want, const char *what) {
    if (got != want) {
        printf("fail %s %u (%s)\n", what, (unsigned)got, kt_result_message(got));
        exit(1);
    }
}

static void print_ids(const char *label, const kt_context *ctx) {
    kt_traceparent tp;
    check(kt_context_traceparent(ctx, &tp), KT_RESULT_OK, "traceparent");
    printf("%s ", label);
    put_hex(tp.trace_id, 16);
    fputs(" ", stdout);
    put_hex(tp.span_id, 8);
    fputs("\n", stdout);
}

static void print_baggage(const kt_context *ctx) {
    size_t n = kt_context_baggage_len(ctx);
    for (size_t i = 0; i < n; i++) {
        kt_str key, value;
        size_t props = 0;
        check(kt_context_baggage_member(ctx, i, &key, &value, &props), KT_RESULT_OK, "baggage_member");
        fputs("hb ", stdout);
        put_hex(key.data, key.len);
        fputs(" ", stdout);
        put_hex(value.data, value.len);
        fputs("\n", stdout);
    }
}

/* Writes what `span` propagates over `headers` (the buffer variant) and prints the list; a span
 * that writes nothing leaves the list as it was. */
static void headers_out(const kt_span *span, const kt_header *headers, size_t count) {
    kt_context *ctx = kt_context_new();
    kt_result rc = kt_span_context(span, ctx);
    if (rc == KT_RESULT_NOT_TRACED) {
        for (size_t i = 0; i < count; i++) {
            fputs("out ", stdout);
            put_hex(headers[i].name, headers[i].name_len);
            fputs(" ", stdout);
            if (headers[i].value) put_hex(headers[i].value, headers[i].value_len); else fputs("-", stdout);
            fputs("\n", stdout);
        }
        kt_context_free(ctx);
        return;
    }
    check(rc, KT_RESULT_OK, "span_context(send)");
    print_ids("send", ctx);
    kt_header out[MAX_ITEMS + 3];
    static uint8_t buf[1 << 14];
    size_t out_count = 0, used = 0;
    check(kt_context_inject_headers(ctx, headers, count, out, MAX_ITEMS + 3, &out_count, buf, sizeof buf, &used), KT_RESULT_OK,
          "inject_headers");
    for (size_t i = 0; i < out_count; i++) {
        fputs("out ", stdout);
        put_hex(out[i].name, out[i].name_len);
        fputs(" ", stdout);
        if (out[i].value) put_hex(out[i].value, out[i].value_len); else fputs("-", stdout);
        fputs("\n", stdout);
    }
    kt_context_free(ctx);
}

typedef struct {
    blob opt_names[16], opt_values[16];
    size_t n_opts;
    char op[32];
    int amb_span;
    blob bg_keys[16], bg_values[16];
    size_t n_bg;
    blob topic, key, fwd;
    int32_t partition;
    int64_t offset, ts;
    long value_len; /* -1: tombstone */
    blob h_names[MAX_ITEMS], h_values[MAX_ITEMS];
    size_t n_headers;
    blob p_topics[MAX_ITEMS];
    size_t n_ptopics;
    size_t p_count;
    char result[32];
    blob r_error;
    int32_t r_partition;
    int64_t r_offset;
} tcase;

static void free_blob(blob *b) {
    free(b->data);
    b->data = NULL;
}

static void reset(tcase *c) {
    for (size_t i = 0; i < c->n_opts; i++) free_blob(&c->opt_names[i]), free_blob(&c->opt_values[i]);
    for (size_t i = 0; i < c->n_bg; i++) free_blob(&c->bg_keys[i]), free_blob(&c->bg_values[i]);
    for (size_t i = 0; i < c->n_headers; i++) free_blob(&c->h_names[i]), free_blob(&c->h_values[i]);
    for (size_t i = 0; i < c->n_ptopics; i++) free_blob(&c->p_topics[i]);
    free_blob(&c->topic);
    free_blob(&c->key);
    free_blob(&c->fwd);
    free_blob(&c->r_error);
    memset(c, 0, sizeof *c);
    c->partition = -1;
    c->offset = -1;
    c->key.null = 1;
    c->fwd.null = 1;
}

static void run(tcase *c, int index) {
    static const char *const message_unused = "payload";
    (void)message_unused;
    kt_tracer_config *cfg = kt_tracer_config_new();
    check(kt_tracer_config_set_capture(cfg, true), KT_RESULT_OK, "set_capture");
    for (size_t i = 0; i < c->n_opts; i++)
        check(kt_tracer_config_set(cfg, (const char *)c->opt_names[i].data, c->opt_names[i].len, (const char *)c->opt_values[i].data,
                                   c->opt_values[i].len),
              KT_RESULT_OK, "config_set");
    kt_tracer *tracer = NULL;
    check(kt_tracer_new(cfg, &tracer), KT_RESULT_OK, "tracer_new");
    kt_tracer_config_free(cfg);

    /* The ambient context: a sampled root span of the caller's, and its baggage. */
    kt_context *ambient = NULL;
    if (c->amb_span || c->n_bg) {
        ambient = kt_context_new();
        if (c->amb_span) {
            uint8_t trace_id[16], span_id[8];
            for (int i = 0; i < 16; i++) trace_id[i] = (uint8_t)(0xa0 + i);
            for (int i = 0; i < 8; i++) span_id[i] = (uint8_t)(0xb0 + i);
            trace_id[15] = (uint8_t)index;
            check(kt_context_set_root(ambient, trace_id, span_id, 0x01), KT_RESULT_OK, "set_root");
            print_ids("ambient", ambient);
        }
        for (size_t i = 0; i < c->n_bg; i++)
            check(kt_context_baggage_set(ambient, (const char *)c->bg_keys[i].data, c->bg_keys[i].len, (const char *)c->bg_values[i].data,
                                         c->bg_values[i].len),
                  KT_RESULT_OK, "baggage_set");
    }

    kt_header headers[MAX_ITEMS];
    for (size_t i = 0; i < c->n_headers; i++) {
        headers[i].name = (const char *)c->h_names[i].data;
        headers[i].name_len = c->h_names[i].len;
        headers[i].value = c->h_values[i].null ? NULL : c->h_values[i].data;
        headers[i].value_len = c->h_values[i].len;
    }
    static uint8_t payload[1 << 16];
    kt_message m;
    memset(&m, 0, sizeof m);
    m.topic = (const char *)c->topic.data;
    m.topic_len = c->topic.len;
    m.partition = c->partition;
    m.offset = c->offset;
    m.key = c->key.null ? NULL : (c->key.data ? c->key.data : (const uint8_t *)"");
    m.key_len = c->key.len;
    m.payload = c->value_len < 0 ? NULL : payload;
    m.payload_len = c->value_len < 0 ? 0 : (size_t)c->value_len;
    m.timestamp_ms = c->ts;
    m.headers = headers;
    m.header_count = c->n_headers;

    kt_span *span = NULL, *poll_source = NULL;
    if (strcmp(c->op, "send") == 0) {
        check(kt_tracer_start_send(tracer, &m, NULL, ambient, &span), KT_RESULT_OK, "start_send");
        printf("traced %d\n", kt_span_is_traced(span) ? 1 : 0);
        headers_out(span, headers, c->n_headers);
        if (strcmp(c->result, "acked") == 0)
            check(kt_span_end_send(span, c->r_partition, c->r_offset), KT_RESULT_OK, "end_send");
        else
            check(kt_span_end_error(span, (const char *)c->r_error.data, c->r_error.len), KT_RESULT_OK, "end_error(send)");
    } else if (strcmp(c->op, "poll") == 0) {
        kt_str topics[MAX_ITEMS];
        for (size_t i = 0; i < c->n_ptopics; i++) {
            topics[i].data = (const char *)c->p_topics[i].data;
            topics[i].len = c->p_topics[i].len;
        }
        check(kt_tracer_start_poll(tracer, NULL, ambient, &span), KT_RESULT_OK, "start_poll");
        if (strcmp(c->result, "received") == 0)
            check(kt_span_end_poll(span, topics, c->n_ptopics, c->p_count), KT_RESULT_OK, "end_poll");
        else
            check(kt_span_end_poll_error(span, topics, c->n_ptopics, (const char *)c->r_error.data, c->r_error.len), KT_RESULT_OK,
                  "end_poll_error");
        printf("traced %d\n", kt_span_is_traced(span) ? 1 : 0);
    } else {
        if (strcmp(c->op, "batch_process") == 0) {
            /* the batch's poll span: a sampled root ("poll", no topic, so no filter applies) */
            check(kt_tracer_start_poll(tracer, NULL, NULL, &poll_source), KT_RESULT_OK, "start_poll(source)");
            check(kt_span_end_poll(poll_source, NULL, 0, 1), KT_RESULT_OK, "end_poll(source)");
            kt_context *pc = kt_context_new();
            check(kt_span_context(poll_source, pc), KT_RESULT_OK, "span_context(poll)");
            print_ids("poll", pc);
            kt_context_free(pc);
            check(kt_tracer_captured_clear(tracer), KT_RESULT_OK, "captured_clear");
            check(kt_tracer_start_batch_process(tracer, &m, poll_source, ambient, &span), KT_RESULT_OK, "start_batch_process");
        } else {
            check(kt_tracer_start_process(tracer, &m, NULL, ambient, &span), KT_RESULT_OK, "start_process");
        }
        printf("traced %d\n", kt_span_is_traced(span) ? 1 : 0);
        /* inside the handler: its context, and a forward sent from it */
        kt_context *handler = kt_context_new();
        kt_result rc = kt_span_context(span, handler);
        if (rc != KT_RESULT_MISSING) check(rc, KT_RESULT_OK, "span_context(process)");
        print_baggage(handler);
        kt_context_free(handler);
        if (!c->fwd.null) {
            kt_message f = m;
            f.topic = (const char *)c->fwd.data;
            f.topic_len = c->fwd.len;
            f.partition = -1;
            f.offset = -1;
            kt_span *fwd = NULL;
            check(kt_tracer_start_send(tracer, &f, span, NULL, &fwd), KT_RESULT_OK, "start_send(forward)");
            headers_out(fwd, headers, c->n_headers);
            check(kt_span_end_send(fwd, 0, 0), KT_RESULT_OK, "end_send(forward)");
            kt_span_free(fwd);
        }
        if (strcmp(c->result, "returned") == 0)
            check(kt_span_end(span), KT_RESULT_OK, "end");
        else
            check(kt_span_end_error(span, (const char *)c->r_error.data, c->r_error.len), KT_RESULT_OK, "end_error(process)");
    }
    check(kt_span_end(span), KT_RESULT_ALREADY_ENDED, "end twice");

    size_t len = 0;
    check(kt_tracer_captured_json(tracer, NULL, 0, &len), KT_RESULT_BUFFER_TOO_SMALL, "captured_json(size)");
    char *json = (char *)malloc(len + 1);
    size_t len2 = 0;
    check(kt_tracer_captured_json(tracer, json, len + 1, &len2), KT_RESULT_OK, "captured_json");
    if (len2 != len || strlen(json) != len) check(KT_RESULT_OTHER, KT_RESULT_OK, "captured_json length");
    printf("json %s\n", json);
    free(json);

    kt_span_free(span);
    kt_span_free(poll_source);
    kt_context_free(ambient);
    kt_tracer_free(tracer);
}

int main(void) {
    char *line = (char *)malloc(LINE_MAX_LEN);
    tcase *c = (tcase *)calloc(1, sizeof *c);
    int index = 0;
    if (!line || !c) return 2;
    reset(c);
    while (fgets(line, LINE_MAX_LEN, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *cmd = strtok(line, " ");
        char *a = strtok(NULL, " ");
        char *b = strtok(NULL, " ");
        if (!cmd) continue;
        if (strcmp(cmd, "case") == 0) {
            reset(c);
            index = atoi(a);
            printf("case %d\n", index);
        } else if (strcmp(cmd, "opt") == 0 && c->n_opts < 16) {
            c->opt_names[c->n_opts] = unhex(a);
            c->opt_values[c->n_opts++] = unhex(b);
        } else if (strcmp(cmd, "op") == 0) {
            snprintf(c->op, sizeof c->op, "%s", a);
        } else if (strcmp(cmd, "amb_span") == 0) {
            c->amb_span = atoi(a);
        } else if (strcmp(cmd, "amb_bg") == 0 && c->n_bg < 16) {
            c->bg_keys[c->n_bg] = unhex(a);
            c->bg_values[c->n_bg++] = unhex(b);
        } else if (strcmp(cmd, "m_topic") == 0) {
            c->topic = unhex(a);
        } else if (strcmp(cmd, "m_partition") == 0) {
            c->partition = (int32_t)atol(a);
        } else if (strcmp(cmd, "m_offset") == 0) {
            c->offset = atoll(a);
        } else if (strcmp(cmd, "m_key") == 0) {
            c->key = unhex(a);
        } else if (strcmp(cmd, "m_value") == 0) {
            c->value_len = strcmp(a, "-") == 0 ? -1 : atol(a);
        } else if (strcmp(cmd, "m_ts") == 0) {
            c->ts = atoll(a);
        } else if (strcmp(cmd, "h") == 0 && c->n_headers < MAX_ITEMS) {
            c->h_names[c->n_headers] = unhex(a);
            c->h_values[c->n_headers++] = unhex(b);
        } else if (strcmp(cmd, "p_topic") == 0 && c->n_ptopics < MAX_ITEMS) {
            c->p_topics[c->n_ptopics++] = unhex(a);
        } else if (strcmp(cmd, "p_count") == 0) {
            c->p_count = (size_t)atol(a);
        } else if (strcmp(cmd, "result") == 0) {
            snprintf(c->result, sizeof c->result, "%s", a);
            if (strcmp(a, "acked") == 0) {
                c->r_partition = (int32_t)atol(b);
                c->r_offset = atoll(strtok(NULL, " "));
            } else if (b) {
                c->r_error = unhex(b);
            }
        } else if (strcmp(cmd, "fwd") == 0) {
            c->fwd = unhex(a);
        } else if (strcmp(cmd, "run") == 0) {
            run(c, index);
            printf("end\n");
            fflush(stdout);
        }
    }
    reset(c);
    free(c);
    free(line);
    return 0;
}
