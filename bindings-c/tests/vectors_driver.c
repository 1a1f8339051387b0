/* Runs shared test vectors through the C API. Reads cases from stdin in a line format written by
 * vectors.py (which loads core/testdata/trace_context_vectors.json unchanged and compares), and
 * prints what the C API returns:
 *   in:  "case NAME" / "h NAMEHEX VALUEHEX" (VALUEHEX: "-" null, "." empty) /
 *        "inject SPANHEX ROOTHEX [KEYHEX VALUEHEX]" / "run"
 *   out: "case NAME" / "parent ok VV TRACE SPAN FF" or "parent err CODE" / "tsstatus CODE" /
 *        "ts KEYHEX VALHEX" / "bg KEYHEX VALHEX N PROPHEX..." / "inject ok|err CODE" /
 *        "out NAMEHEX VALUEHEX" (buffer variant) / "cb NAMEHEX VALUEHEX" (callback variant) / "end"
 */
#include "kafka_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 128
#define LINE_MAX_LEN (1 << 20)

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a hex token into a fresh malloc'd buffer ("." = empty, "-" = NULL). */
static uint8_t *unhex(const char *tok, size_t *len, int *is_null) {
    *is_null = strcmp(tok, "-") == 0;
    *len = 0;
    if (*is_null) return NULL;
    if (strcmp(tok, ".") == 0) return (uint8_t *)malloc(1);
    size_t n = strlen(tok) / 2;
    uint8_t *out = (uint8_t *)malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(hexval(tok[2 * i]) * 16 + hexval(tok[2 * i + 1]));
    *len = n;
    return out;
}

static void put_hex(const void *data, size_t len) {
    const uint8_t *p = (const uint8_t *)data;
    if (len == 0) {
        fputs(".", stdout);
        return;
    }
    for (size_t i = 0; i < len; i++) printf("%02x", p[i]);
}

static int print_cb(void *userdata, const char *name, size_t name_len, const uint8_t *value, size_t value_len) {
    (void)userdata;
    fputs("cb ", stdout);
    put_hex(name, name_len);
    fputs(" ", stdout);
    if (value) put_hex(value, value_len); else fputs("-", stdout);
    fputs("\n", stdout);
    return 0;
}

int main(void) {
    char *line = (char *)malloc(LINE_MAX_LEN);
    kt_header headers[MAX_HEADERS];
    uint8_t *owned[2 * MAX_HEADERS];
    size_t n_headers = 0, n_owned = 0;
    uint8_t span[8], root[16];
    char ts_key[600], ts_value[600];
    size_t ts_key_len = 0, ts_value_len = 0;
    int do_inject = 0, has_ts_set = 0;
    kt_context *ctx = kt_context_new();
    if (!line || !ctx) return 2;

    while (fgets(line, LINE_MAX_LEN, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "case ", 5) == 0) {
            printf("%s\n", line);
            n_headers = 0;
            do_inject = has_ts_set = 0;
        } else if (strncmp(line, "h ", 2) == 0) {
            char *name_tok = strtok(line + 2, " ");
            char *value_tok = strtok(NULL, " ");
            if (!name_tok || !value_tok || n_headers == MAX_HEADERS) return 2;
            size_t name_len, value_len;
            int null_name, null_value;
            uint8_t *name = unhex(name_tok, &name_len, &null_name);
            uint8_t *value = unhex(value_tok, &value_len, &null_value);
            owned[n_owned++] = name;
            if (value) owned[n_owned++] = value;
            headers[n_headers].name = (const char *)name;
            headers[n_headers].name_len = name_len;
            headers[n_headers].value = value;
            headers[n_headers].value_len = value_len;
            n_headers++;
        } else if (strncmp(line, "inject ", 7) == 0) {
            char *span_tok = strtok(line + 7, " "), *root_tok = strtok(NULL, " ");
            char *key_tok = strtok(NULL, " "), *val_tok = strtok(NULL, " ");
            size_t len;
            int is_null;
            uint8_t *s = unhex(span_tok, &len, &is_null), *r = unhex(root_tok, &len, &is_null);
            memcpy(span, s, 8);
            memcpy(root, r, 16);
            free(s);
            free(r);
            do_inject = 1;
            if (key_tok && val_tok) {
                uint8_t *k = unhex(key_tok, &ts_key_len, &is_null), *v = unhex(val_tok, &ts_value_len, &is_null);
                memcpy(ts_key, k, ts_key_len);
                memcpy(ts_value, v, ts_value_len);
                free(k);
                free(v);
                has_ts_set = 1;
            }
        } else if (strcmp(line, "run") == 0) {
            kt_result rc = kt_context_extract(ctx, headers, n_headers);
            kt_traceparent tp;
            if (rc == KT_RESULT_OK && kt_context_traceparent(ctx, &tp) == KT_RESULT_OK) {
                printf("parent ok %02x ", tp.version);
                put_hex(tp.trace_id, 16);
                fputs(" ", stdout);
                put_hex(tp.span_id, 8);
                printf(" %02x\n", tp.flags);
            } else {
                printf("parent err %u\n", (unsigned)rc);
            }
            printf("tsstatus %u\n", (unsigned)kt_context_tracestate_status(ctx));
            kt_str k, v;
            for (size_t i = 0; kt_context_tracestate_member(ctx, i, &k, &v) == KT_RESULT_OK; i++) {
                fputs("ts ", stdout);
                put_hex(k.data, k.len);
                fputs(" ", stdout);
                put_hex(v.data, v.len);
                fputs("\n", stdout);
            }
            size_t props;
            for (size_t i = 0; kt_context_baggage_member(ctx, i, &k, &v, &props) == KT_RESULT_OK; i++) {
                fputs("bg ", stdout);
                put_hex(k.data, k.len);
                fputs(" ", stdout);
                put_hex(v.data, v.len);
                printf(" %zu", props);
                kt_str p;
                for (size_t j = 0; kt_context_baggage_property(ctx, i, j, &p) == KT_RESULT_OK; j++) {
                    fputs(" ", stdout);
                    put_hex(p.data, p.len);
                }
                fputs("\n", stdout);
            }
            if (do_inject) {
                kt_result r = rc == KT_RESULT_OK ? kt_context_set_span_id(ctx, span) : kt_context_set_root(ctx, root, span, 0x01);
                if (r == KT_RESULT_OK && has_ts_set) r = kt_context_tracestate_set(ctx, ts_key, ts_key_len, ts_value, ts_value_len);
                size_t count = 0, used = 0;
                if (r == KT_RESULT_OK) {
                    r = kt_context_inject_headers(ctx, headers, n_headers, NULL, 0, &count, NULL, 0, &used);
                    if (r == KT_RESULT_BUFFER_TOO_SMALL) {
                        kt_header *out = (kt_header *)malloc(sizeof(kt_header) * (count ? count : 1));
                        uint8_t *buf = (uint8_t *)malloc(used ? used : 1);
                        r = kt_context_inject_headers(ctx, headers, n_headers, out, count, &count, buf, used, &used);
                        if (r == KT_RESULT_OK) {
                            printf("inject ok\n");
                            for (size_t i = 0; i < count; i++) {
                                fputs("out ", stdout);
                                put_hex(out[i].name, out[i].name_len);
                                fputs(" ", stdout);
                                if (out[i].value) put_hex(out[i].value, out[i].value_len); else fputs("-", stdout);
                                fputs("\n", stdout);
                            }
                        }
                        free(out);
                        free(buf);
                    }
                }
                if (r == KT_RESULT_OK) r = kt_context_inject(ctx, print_cb, NULL);
                if (r != KT_RESULT_OK) printf("inject err %u\n", (unsigned)r);
            }
            printf("end\n");
            for (size_t i = 0; i < n_owned; i++) free(owned[i]);
            n_owned = 0;
        }
    }
    kt_context_free(ctx);
    free(line);
    return 0;
}
