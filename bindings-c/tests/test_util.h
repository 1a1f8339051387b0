/* Minimal assertion helpers for the C tests: count failures, print where, keep going. */
#ifndef KT_TEST_UTIL_H
#define KT_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

static int kt_test_failures = 0;
static int kt_test_checks = 0;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        kt_test_checks++;                                                                \
        if (!(cond)) {                                                                   \
            kt_test_failures++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                                \
    } while (0)

#define CHECK_RC(expr, want)                                                             \
    do {                                                                                 \
        unsigned long kt_got_ = (unsigned long)(expr);                                   \
        unsigned long kt_want_ = (unsigned long)(want);                                  \
        kt_test_checks++;                                                                \
        if (kt_got_ != kt_want_) {                                                       \
            kt_test_failures++;                                                          \
            fprintf(stderr, "%s:%d: %s returned %lu (%s), want %lu\n", __FILE__, __LINE__, \
                    #expr, kt_got_, kt_result_message((uint32_t)kt_got_), kt_want_);     \
        }                                                                                \
    } while (0)

#define CHECK_STR(got, want)                                                             \
    do {                                                                                 \
        const char *kt_g_ = (got);                                                       \
        const char *kt_w_ = (want);                                                      \
        kt_test_checks++;                                                                \
        if (kt_g_ == NULL || strcmp(kt_g_, kt_w_) != 0) {                                \
            kt_test_failures++;                                                          \
            fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__, __LINE__,     \
                    #got, kt_g_ ? kt_g_ : "(null)", kt_w_);                              \
        }                                                                                \
    } while (0)

static int test_report(const char *name) {
    if (kt_test_failures) {
        fprintf(stderr, "%s: FAIL: %d of %d checks failed\n", name, kt_test_failures, kt_test_checks);
        return 1;
    }
    printf("%s: PASS: %d checks\n", name, kt_test_checks);
    return 0;
}

#endif
