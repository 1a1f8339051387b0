/* Calls every function of include/kafka_trace.h: good inputs, NULL arguments, too-small buffers,
 * garbage and non-UTF-8 bytes, and the handle misuse the API can detect. Exit status 0 = pass.
 * Run by scripts/test-c.sh normally, under valgrind and under ASan/UBSan. */
#include "kafka_trace.h"
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char TP[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static kt_header hdr(const char *name, const char *value) {
    kt_header h;
    h.name = name;
    h.name_len = strlen(name);
    h.value = (const uint8_t *)value;
    h.value_len = value ? strlen(value) : 0;
    return h;
}

static void test_version(void) {
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", KT_VERSION_MAJOR, KT_VERSION_MINOR, KT_VERSION_PATCH);
    CHECK_STR(kt_version(), expect);
    CHECK_STR(kt_version(), KT_VERSION_STRING);
}

static void test_result_message(void) {
    CHECK_STR(kt_result_message(KT_RESULT_OK), "success");
    CHECK_STR(kt_result_message(KT_RESULT_TRACEPARENT_LENGTH), "traceparent has the wrong length");
    CHECK_STR(kt_result_message(KT_RESULT_BUFFER_TOO_SMALL), "output buffer too small");
    CHECK(strlen(kt_result_message(KT_RESULT_NULL_ARGUMENT)) > 0);
    CHECK(strlen(kt_result_message(KT_RESULT_PANIC)) > 0);
    CHECK_STR(kt_result_message(987654u), "unknown kt_result");
    CHECK_STR(kt_result_message(0xffffffffu), "unknown kt_result");
    /* every value in use has its own message */
    for (uint32_t r = 1; r <= 16; r++) CHECK(strcmp(kt_result_message(r), "unknown kt_result") != 0);
    for (uint32_t r = 100; r <= 106; r++) CHECK(strcmp(kt_result_message(r), "unknown kt_result") != 0);
}

static void test_traceparent(void) {
    kt_traceparent tp, untouched;
    memset(&untouched, 0xAB, sizeof untouched);
    tp = untouched;
    CHECK_RC(kt_traceparent_parse((const uint8_t *)TP, strlen(TP), &tp), KT_RESULT_OK);
    CHECK(tp.version == 0 && tp.flags == 1);
    CHECK(tp.trace_id[0] == 0x4b && tp.trace_id[15] == 0x36 && tp.span_id[0] == 0x00 && tp.span_id[7] == 0xb7);

    /* OWS is trimmed; uppercase, wrong lengths, garbage and non-UTF-8 are refused, out untouched */
    const char *ows = " \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t ";
    kt_traceparent t2;
    CHECK_RC(kt_traceparent_parse((const uint8_t *)ows, strlen(ows), &t2), KT_RESULT_OK);
    CHECK(memcmp(&t2, &tp, sizeof tp) == 0);
    struct { const char *in; size_t len; kt_result want; } bad[] = {
        {"", 0, KT_RESULT_TRACEPARENT_LENGTH},
        {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55, KT_RESULT_TRACEPARENT_VERSION},
        {"00-4BF92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55, KT_RESULT_TRACEPARENT_TRACE_ID},
        {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", 55, KT_RESULT_TRACEPARENT_ZERO_TRACE_ID},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", 55, KT_RESULT_TRACEPARENT_ZERO_SPAN_ID},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", 55, KT_RESULT_TRACEPARENT_FLAGS},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 54, KT_RESULT_TRACEPARENT_LENGTH},
        {"00\xff" "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 55, KT_RESULT_TRACEPARENT_DELIMITER},
        {"\xc3\x28\xff\xfe garbage \x80\x81", 13, KT_RESULT_TRACEPARENT_VERSION},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kt_traceparent out = untouched;
        CHECK_RC(kt_traceparent_parse((const uint8_t *)bad[i].in, bad[i].len, &out), bad[i].want);
        CHECK(memcmp(&out, &untouched, sizeof out) == 0);
    }
    /* embedded NUL: length, not strlen, decides */
    const char nul[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0";
    CHECK_RC(kt_traceparent_parse((const uint8_t *)nul, 55, &t2), KT_RESULT_TRACEPARENT_FLAGS);
    /* NULL arguments */
    CHECK_RC(kt_traceparent_parse(NULL, 55, &t2), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_traceparent_parse(NULL, 0, &t2), KT_RESULT_TRACEPARENT_LENGTH);
    CHECK_RC(kt_traceparent_parse((const uint8_t *)TP, 55, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_traceparent_parse((const uint8_t *)TP, (size_t)-1, &t2), KT_RESULT_INVALID_ARGUMENT);

    /* format: exact size, too small (needed size reported, buffer untouched), size query, NULLs */
    char buf[KT_TRACEPARENT_LEN + 8];
    size_t n = 0;
    memset(buf, 'x', sizeof buf);
    CHECK_RC(kt_traceparent_format(&tp, buf, KT_TRACEPARENT_LEN, &n), KT_RESULT_OK);
    CHECK(n == 55 && memcmp(buf, TP, 55) == 0 && buf[55] == 'x');
    memset(buf, 'x', sizeof buf);
    n = 0;
    CHECK_RC(kt_traceparent_format(&tp, buf, 54, &n), KT_RESULT_BUFFER_TOO_SMALL);
    CHECK(n == 55 && buf[0] == 'x');
    n = 0;
    CHECK_RC(kt_traceparent_format(&tp, NULL, 0, &n), KT_RESULT_BUFFER_TOO_SMALL);
    CHECK(n == 55);
    CHECK_RC(kt_traceparent_format(&tp, NULL, 55, &n), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_traceparent_format(NULL, buf, 55, &n), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_traceparent_format(&tp, buf, 55, NULL), KT_RESULT_NULL_ARGUMENT);
    /* a later version is read by its first 55 bytes and written back as 00 */
    const char *v1 = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-more";
    CHECK_RC(kt_traceparent_parse((const uint8_t *)v1, strlen(v1), &t2), KT_RESULT_OK);
    CHECK(t2.version == 0xcc && t2.flags == 0x03);
    CHECK_RC(kt_traceparent_format(&t2, buf, sizeof buf, &n), KT_RESULT_OK);
    CHECK(memcmp(buf, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", 55) == 0);
}

/* A tiny header list the setter callback edits like librdkafka does (remove by name, append). */
typedef struct {
    char names[8][32];
    char values[8][600];
    size_t lens[8];
    int count;
    int calls;
    int fail_on;
} list;

static int list_set(void *userdata, const char *name, size_t name_len, const uint8_t *value, size_t value_len) {
    list *l = (list *)userdata;
    l->calls++;
    if (l->calls == l->fail_on) return -1;
    CHECK(name[name_len] == '\0' && strlen(name) == name_len);
    for (int i = 0; i < l->count;) {
        if (strcmp(l->names[i], name) == 0) {
            memmove(&l->names[i], &l->names[i + 1], sizeof l->names[0] * (size_t)(l->count - i - 1));
            memmove(&l->values[i], &l->values[i + 1], sizeof l->values[0] * (size_t)(l->count - i - 1));
            memmove(&l->lens[i], &l->lens[i + 1], sizeof l->lens[0] * (size_t)(l->count - i - 1));
            l->count--;
        } else {
            i++;
        }
    }
    if (value) {
        CHECK(l->count < 8 && value_len < 600);
        memcpy(l->names[l->count], name, name_len + 1);
        memcpy(l->values[l->count], value, value_len);
        l->lens[l->count] = value_len;
        l->count++;
    }
    return 0;
}

static const char *list_get(const list *l, const char *name, size_t *len) {
    for (int i = 0; i < l->count; i++)
        if (strcmp(l->names[i], name) == 0) {
            *len = l->lens[i];
            return l->values[i];
        }
    return NULL;
}

static int streq(kt_str s, const char *want) { return s.len == strlen(want) && memcmp(s.data, want, s.len) == 0; }

static void test_context(void) {
    kt_context *ctx = kt_context_new();
    CHECK(ctx != NULL);
    kt_traceparent tp;
    CHECK_RC(kt_context_traceparent(ctx, &tp), KT_RESULT_MISSING);
    CHECK_RC(kt_context_tracestate_status(ctx), KT_RESULT_OK);
    CHECK(kt_context_tracestate_len(ctx) == 0 && kt_context_baggage_len(ctx) == 0);

    /* a realistic message: other headers, mixed case names, a Kafka null value, non-UTF-8 bytes */
    kt_header hs[7];
    hs[0] = hdr("content-type", "application/json");
    hs[1] = hdr("TraceParent", TP);
    hs[2] = hdr("tracestate", "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE");
    hs[3] = hdr("null-valued", NULL);
    hs[4] = hdr("Baggage", "userId=alice%20b;p1;p2=v,bad key=1");
    hs[5].name = "\xff\xfe";
    hs[5].name_len = 2;
    hs[5].value = (const uint8_t *)"\x80\x81\x00\xff";
    hs[5].value_len = 4;
    hs[6] = hdr("baggage", "tenant=t1");
    CHECK_RC(kt_context_extract(ctx, hs, 7), KT_RESULT_OK);
    CHECK_RC(kt_context_traceparent(ctx, &tp), KT_RESULT_OK);
    CHECK(tp.trace_id[0] == 0x4b && tp.span_id[7] == 0xb7 && tp.flags == 1);
    CHECK(kt_context_tracestate_len(ctx) == 2);
    kt_str k, v;
    CHECK_RC(kt_context_tracestate_member(ctx, 0, &k, &v), KT_RESULT_OK);
    CHECK(streq(k, "rojo") && streq(v, "00f067aa0ba902b7"));
    CHECK_RC(kt_context_tracestate_member(ctx, 1, &k, &v), KT_RESULT_OK);
    CHECK(streq(k, "congo") && streq(v, "t61rcWkgMzE"));
    CHECK_RC(kt_context_tracestate_member(ctx, 2, &k, &v), KT_RESULT_NOT_FOUND);
    CHECK_RC(kt_context_tracestate_member(ctx, 0, NULL, &v), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_tracestate_get(ctx, "congo", 5, &v), KT_RESULT_OK);
    CHECK(streq(v, "t61rcWkgMzE"));
    CHECK_RC(kt_context_tracestate_get(ctx, "nope", 4, &v), KT_RESULT_NOT_FOUND);
    CHECK_RC(kt_context_tracestate_get(ctx, "\xff", 1, &v), KT_RESULT_NOT_FOUND);
    CHECK_RC(kt_context_tracestate_get(ctx, NULL, 3, &v), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_tracestate_get(ctx, "rojo", 4, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_tracestate_header(ctx, &v), KT_RESULT_OK);
    CHECK(streq(v, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    CHECK_RC(kt_context_tracestate_header(ctx, NULL), KT_RESULT_NULL_ARGUMENT);

    CHECK(kt_context_baggage_len(ctx) == 2);
    CHECK(kt_context_baggage_dropped(ctx) == 1);
    size_t props = 99;
    CHECK_RC(kt_context_baggage_member(ctx, 0, &k, &v, &props), KT_RESULT_OK);
    CHECK(streq(k, "userId") && streq(v, "alice b") && props == 2);
    CHECK_RC(kt_context_baggage_member(ctx, 1, &k, &v, NULL), KT_RESULT_OK);
    CHECK(streq(k, "tenant") && streq(v, "t1"));
    CHECK_RC(kt_context_baggage_member(ctx, 2, &k, &v, &props), KT_RESULT_NOT_FOUND);
    CHECK_RC(kt_context_baggage_member(ctx, 0, &k, NULL, &props), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_baggage_property(ctx, 0, 0, &v), KT_RESULT_OK);
    CHECK(streq(v, "p1"));
    CHECK_RC(kt_context_baggage_property(ctx, 0, 1, &v), KT_RESULT_OK);
    CHECK(streq(v, "p2=v"));
    CHECK_RC(kt_context_baggage_property(ctx, 0, 2, &v), KT_RESULT_NOT_FOUND);
    CHECK_RC(kt_context_baggage_property(ctx, 5, 0, &v), KT_RESULT_NOT_FOUND);
    CHECK_RC(kt_context_baggage_property(ctx, 0, 0, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_baggage_get(ctx, "tenant", 6, &v), KT_RESULT_OK);
    CHECK(streq(v, "t1"));
    CHECK_RC(kt_context_baggage_get(ctx, "x", 1, &v), KT_RESULT_NOT_FOUND);
    CHECK_RC(kt_context_baggage_get(ctx, "\xc3", 1, &v), KT_RESULT_NOT_FOUND);
    CHECK_RC(kt_context_baggage_get(ctx, "x", 1, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_baggage_get(NULL, "x", 1, &v), KT_RESULT_NULL_ARGUMENT);

    /* setters: validation by the core; non-UTF-8 refused; context unchanged on error */
    CHECK_RC(kt_context_tracestate_set(ctx, "kt", 2, "1", 1), KT_RESULT_OK);
    CHECK_RC(kt_context_tracestate_set(ctx, "Bad", 3, "1", 1), KT_RESULT_TRACESTATE_KEY);
    CHECK_RC(kt_context_tracestate_set(ctx, "ok", 2, "a=b", 3), KT_RESULT_TRACESTATE_VALUE);
    CHECK_RC(kt_context_tracestate_set(ctx, "ok", 2, "\xff", 1), KT_RESULT_INVALID_UTF8);
    CHECK_RC(kt_context_tracestate_set(ctx, NULL, 2, "1", 1), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_tracestate_header(ctx, &v), KT_RESULT_OK);
    CHECK(streq(v, "kt=1,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    CHECK_RC(kt_context_baggage_set(ctx, "user id", 7, "x", 1), KT_RESULT_BAGGAGE_MEMBER);
    CHECK_RC(kt_context_baggage_set(ctx, "k", 1, "\xfe", 1), KT_RESULT_INVALID_UTF8);
    CHECK_RC(kt_context_baggage_set(ctx, "k", 1, "v w,", 4), KT_RESULT_OK);
    CHECK(kt_context_baggage_len(ctx) == 3);

    /* child span id, then inject through the callback */
    const uint8_t span[8] = {1, 2, 3, 4, 5, 6, 7, 8}, zero[16] = {0};
    CHECK_RC(kt_context_set_span_id(ctx, zero), KT_RESULT_TRACEPARENT_ZERO_SPAN_ID);
    CHECK_RC(kt_context_set_span_id(ctx, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_set_span_id(ctx, span), KT_RESULT_OK);
    list l;
    memset(&l, 0, sizeof l);
    strcpy(l.names[0], "tracestate");
    memcpy(l.values[0], "stale=1", 7);
    l.lens[0] = 7;
    l.count = 1;
    CHECK_RC(kt_context_inject(ctx, list_set, &l), KT_RESULT_OK);
    CHECK(l.calls == 3 && l.count == 3);
    size_t len = 0;
    const char *got = list_get(&l, "traceparent", &len);
    CHECK(got && len == 55 && memcmp(got, "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01", 55) == 0);
    got = list_get(&l, "tracestate", &len);
    CHECK(got && len == strlen("kt=1,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
    got = list_get(&l, "baggage", &len);
    CHECK(got && len == strlen("userId=alice%20b;p1;p2=v,tenant=t1,k=v%20w%2C") &&
          memcmp(got, "userId=alice%20b;p1;p2=v,tenant=t1,k=v%20w%2C", len) == 0);
    /* a failing callback stops the injection */
    memset(&l, 0, sizeof l);
    l.fail_on = 2;
    CHECK_RC(kt_context_inject(ctx, list_set, &l), KT_RESULT_CALLBACK_FAILED);
    CHECK(l.calls == 2 && l.count == 1);
    CHECK_RC(kt_context_inject(ctx, NULL, &l), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_inject(NULL, list_set, &l), KT_RESULT_NULL_ARGUMENT);

    /* buffer variant: size query, too small, then exact; unchanged headers point into the input */
    kt_header in[3];
    in[0] = hdr("a", "1");
    in[1] = hdr("TRACEPARENT", "garbage");
    in[2] = hdr("traceparent", "more garbage");
    size_t count = 0, used = 0;
    CHECK_RC(kt_context_inject_headers(ctx, in, 3, NULL, 0, &count, NULL, 0, &used), KT_RESULT_BUFFER_TOO_SMALL);
    CHECK(count == 4);
    kt_header out[4];
    uint8_t *buf = (uint8_t *)malloc(used);
    size_t used2 = 12345, count2 = 12345;
    CHECK_RC(kt_context_inject_headers(ctx, in, 3, out, 4, &count2, buf, used - 1, &used2), KT_RESULT_BUFFER_TOO_SMALL);
    CHECK(count2 == 4 && used2 == used);
    CHECK_RC(kt_context_inject_headers(ctx, in, 3, out, 3, &count2, buf, used, &used2), KT_RESULT_BUFFER_TOO_SMALL);
    CHECK_RC(kt_context_inject_headers(ctx, in, 3, out, 4, &count2, buf, used, &used2), KT_RESULT_OK);
    CHECK(count2 == 4 && used2 == used);
    CHECK(out[0].name == in[0].name && out[0].value == in[0].value);
    CHECK(out[1].name_len == 11 && memcmp(out[1].name, "traceparent", 12) == 0 && out[1].value_len == 55);
    CHECK(out[2].name_len == 10 && memcmp(out[2].name, "tracestate", 11) == 0);
    CHECK(out[3].name_len == 7 && memcmp(out[3].name, "baggage", 8) == 0);
    free(buf);
    CHECK_RC(kt_context_inject_headers(ctx, in, 3, out, 4, NULL, NULL, 0, &used), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_inject_headers(ctx, NULL, 3, out, 4, &count, NULL, 0, &used), KT_RESULT_NULL_ARGUMENT);

    /* set_traceparent / set_root / clear */
    kt_traceparent root;
    memset(&root, 0, sizeof root);
    CHECK_RC(kt_context_set_traceparent(ctx, &root), KT_RESULT_TRACEPARENT_ZERO_TRACE_ID);
    root.trace_id[3] = 9;
    CHECK_RC(kt_context_set_traceparent(ctx, &root), KT_RESULT_TRACEPARENT_ZERO_SPAN_ID);
    root.span_id[0] = 1;
    CHECK_RC(kt_context_set_traceparent(ctx, &root), KT_RESULT_OK);
    CHECK_RC(kt_context_set_traceparent(ctx, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_traceparent(ctx, &tp), KT_RESULT_OK);
    CHECK(memcmp(&tp, &root, sizeof tp) == 0);
    CHECK_RC(kt_context_traceparent(ctx, NULL), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_set_root(ctx, zero, span, 1), KT_RESULT_TRACEPARENT_ZERO_TRACE_ID);
    CHECK_RC(kt_context_set_root(ctx, root.trace_id, zero, 1), KT_RESULT_TRACEPARENT_ZERO_SPAN_ID);
    CHECK_RC(kt_context_set_root(ctx, NULL, span, 1), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_set_root(ctx, root.trace_id, span, 3), KT_RESULT_OK);
    CHECK(kt_context_tracestate_len(ctx) == 0 && kt_context_baggage_len(ctx) == 3);
    CHECK_RC(kt_context_tracestate_set(ctx, "a", 1, "b", 1), KT_RESULT_OK);
    CHECK_RC(kt_context_tracestate_clear(ctx), KT_RESULT_OK);
    CHECK(kt_context_tracestate_len(ctx) == 0);
    CHECK_RC(kt_context_tracestate_clear(NULL), KT_RESULT_NULL_ARGUMENT);

    /* several traceparent headers on a Kafka message: the last one wins (the core's carrier rule) */
    kt_header dup[3];
    dup[0] = hdr("traceparent", TP);
    dup[1] = hdr("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01");
    dup[2] = hdr("baggage", "a=1");
    CHECK_RC(kt_context_extract(ctx, dup, 3), KT_RESULT_OK);
    CHECK_RC(kt_context_traceparent(ctx, &tp), KT_RESULT_OK);
    CHECK(tp.span_id[7] == 0xb8);
    /* invalid parents: the reason comes back, baggage is kept, inject refuses */
    kt_header bad[2];
    bad[0] = hdr("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    bad[1] = hdr("baggage", "a=1");
    CHECK_RC(kt_context_extract(ctx, bad, 2), KT_RESULT_TRACEPARENT_VERSION);
    CHECK_RC(kt_context_traceparent(ctx, &tp), KT_RESULT_TRACEPARENT_VERSION);
    CHECK(kt_context_baggage_len(ctx) == 1);
    CHECK_RC(kt_context_inject(ctx, list_set, &l), KT_RESULT_TRACEPARENT_VERSION);
    CHECK_RC(kt_context_set_span_id(ctx, span), KT_RESULT_TRACEPARENT_VERSION);
    kt_header ts_bad[2];
    ts_bad[0] = hdr("traceparent", TP);
    ts_bad[1] = hdr("tracestate", "Bad=1");
    CHECK_RC(kt_context_extract(ctx, ts_bad, 2), KT_RESULT_OK);
    CHECK_RC(kt_context_tracestate_status(ctx), KT_RESULT_TRACESTATE_KEY);
    CHECK_RC(kt_context_extract(ctx, NULL, 0), KT_RESULT_MISSING);
    kt_header null_tp = hdr("traceparent", NULL);
    CHECK_RC(kt_context_extract(ctx, &null_tp, 1), KT_RESULT_TRACEPARENT_LENGTH);
    /* a NULL header name with a length is refused before anything is read; context unchanged */
    CHECK_RC(kt_context_extract(ctx, dup, 1), KT_RESULT_OK);
    kt_header bad_name[2];
    bad_name[0] = hdr("x", "y");
    bad_name[1].name = NULL;
    bad_name[1].name_len = 3;
    bad_name[1].value = NULL;
    bad_name[1].value_len = 0;
    CHECK_RC(kt_context_extract(ctx, bad_name, 2), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_traceparent(ctx, &tp), KT_RESULT_OK);
    CHECK_RC(kt_context_extract(ctx, NULL, 2), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_extract(NULL, dup, 1), KT_RESULT_NULL_ARGUMENT);
    CHECK_RC(kt_context_extract(ctx, dup, (size_t)-1), KT_RESULT_INVALID_ARGUMENT);

    /* garbage everywhere never crashes */
    for (unsigned seed = 1; seed < 300; seed++) {
        uint8_t junk[80];
        unsigned x = seed;
        for (size_t i = 0; i < sizeof junk; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = (uint8_t)(x >> 16);
        }
        kt_header g[3];
        g[0].name = "traceparent";
        g[0].name_len = 11;
        g[0].value = junk;
        g[0].value_len = seed % 80;
        g[1].name = (const char *)junk + 3;
        g[1].name_len = seed % 20;
        g[1].value = junk + 5;
        g[1].value_len = 70;
        g[2].name = "tracestate";
        g[2].name_len = 10;
        g[2].value = junk + (seed % 7);
        g[2].value_len = 60;
        kt_result r = kt_context_extract(ctx, g, 3);
        CHECK(r != KT_RESULT_PANIC && r != KT_RESULT_NULL_ARGUMENT);
        kt_traceparent p;
        CHECK_RC(kt_traceparent_parse(junk, seed % 80, &p) == KT_RESULT_PANIC, 0);
    }

    /* NULL and zero-length handles for the size_t getters */
    CHECK(kt_context_tracestate_len(NULL) == 0 && kt_context_baggage_len(NULL) == 0 && kt_context_baggage_dropped(NULL) == 0);
    CHECK_RC(kt_context_tracestate_status(NULL), KT_RESULT_NULL_ARGUMENT);

    kt_context_free(ctx);
    kt_context_free(NULL);
}

/* Misuse the API detects: a pointer that is not a context (wrong tag) is refused, never freed. */
static void test_handle_misuse(void) {
    uint64_t not_a_handle[8] = {0x1234, 0, 0, 0, 0, 0, 0, 0};
    kt_context *fake = (kt_context *)(void *)not_a_handle;
    kt_traceparent tp;
    CHECK_RC(kt_context_traceparent(fake, &tp), KT_RESULT_INVALID_HANDLE);
    CHECK_RC(kt_context_extract(fake, NULL, 0), KT_RESULT_INVALID_HANDLE);
    CHECK(kt_context_baggage_len(fake) == 0);
    kt_context_free(fake); /* ignored: not ours */
    CHECK(not_a_handle[0] == 0x1234);
}

int main(void) {
    test_version();
    test_result_message();
    test_traceparent();
    test_context();
    test_handle_misuse();
    return test_report("test_api");
}
