/* test_ig.c - the one test runner.  Usage: build/test_ig [FILTER...]
   Runs every table below in order, prints one line per test with its time,
   and ends with the line "N passed, N failed".  Exit status: 0 only if
   nothing failed.  With filters, a test runs if its name contains one of the
   plain filters (or there are none) and none of the "-" ones: "grad" runs
   the gradient tests, "-toy_" everything but the toy's.  "--stop" stops at
   the first failure (tests/mutants.py uses it: one failure is enough). */
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
extern const test_case ldit_tests[];  extern const int ldit_ntests;
extern const test_case method_tests[]; extern const int method_ntests;
extern const test_case tools_tests[]; extern const int tools_ntests;
extern const test_case vae_tests[];   extern const int vae_ntests;
extern const test_case pt_tests[];    extern const int pt_ntests;
extern const test_case harden_tests[]; extern const int harden_ntests;
extern const test_case imagenet_tests[]; extern const int imagenet_ntests;
extern const test_case st2pt_tests[]; extern const int st2pt_ntests;
extern const test_case shards_tests[]; extern const int shards_ntests;

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
        { method_tests, &method_ntests },
        { toy_tests, &toy_ntests },
        { toyex_tests, &toyex_ntests },
        { st_tests, &st_ntests },
        { fmnist_tests, &fmnist_ntests },
        { ldit_tests, &ldit_ntests },
        { tools_tests, &tools_ntests },
        { vae_tests, &vae_ntests },
        { pt_tests, &pt_ntests },
        { harden_tests, &harden_ntests },
        { imagenet_tests, &imagenet_ntests },
        { st2pt_tests, &st2pt_ntests },
        { shards_tests, &shards_ntests },
    };
    int passed = 0, failed = 0, plain = 0, stop = 0, a;
    size_t ti;
    int i;
    for (a = 1; a < argc; a++)
        if (!strcmp(argv[a], "--stop")) stop = 1;
    for (ti = 0; ti < sizeof tables / sizeof tables[0] && !(stop && failed); ti++)
        for (i = 0; i < *tables[ti].count && !(stop && failed); i++) {
            const test_case *tc = &tables[ti].tests[i];
            double t0, dt;
            int bad;
            int run = 1, hit = 0;
            for (a = 1; a < argc; a++) {
                if (!strcmp(argv[a], "--stop")) continue;
                if (argv[a][0] == '-') { if (strstr(tc->name, argv[a] + 1)) run = 0; }
                else { plain = 1; if (strstr(tc->name, argv[a])) hit = 1; }
            }
            if (!run || (plain && !hit)) continue;
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
