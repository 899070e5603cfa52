/* test_ig.c - the one test runner.  Usage: build/test_ig [name-filter]
   Runs every table below in order (or only tests whose name contains the
   filter), prints one line per test with its time, and ends with the line
   "N passed, N failed".  Exit status: 0 only if nothing failed. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#define IG_IMPLEMENTATION
#include "../ig.h"
#include "test.h"
#include <string.h>
#include <time.h>

extern const test_case ops_tests[];   extern const int ops_ntests;
extern const test_case model_tests[]; extern const int model_ntests;
extern const test_case toy_tests[];   extern const int toy_ntests;
extern const test_case toyex_tests[]; extern const int toyex_ntests;
extern const test_case st_tests[];    extern const int st_ntests;
extern const test_case fmnist_tests[]; extern const int fmnist_ntests;

typedef struct { const test_case *tests; const int *count; } test_table;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    static const test_table tables[] = {
        { ops_tests, &ops_ntests },
        { model_tests, &model_ntests },
        { toy_tests, &toy_ntests },
        { toyex_tests, &toyex_ntests },
        { st_tests, &st_ntests },
        { fmnist_tests, &fmnist_ntests },
    };
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    size_t ti;
    int i;
    for (ti = 0; ti < sizeof tables / sizeof tables[0]; ti++)
        for (i = 0; i < *tables[ti].count; i++) {
            const test_case *tc = &tables[ti].tests[i];
            double t0, dt;
            int bad;
            if (filter && !strstr(tc->name, filter)) continue;
            t0 = now_s();
            bad = tc->fn();
            dt = now_s() - t0;
            printf("%-4s %-44s %8.3f s\n", bad ? "FAIL" : "ok", tc->name, dt);
            fflush(stdout);
            if (bad) failed++; else passed++;
        }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
