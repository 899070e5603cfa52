/* test.h - the tiny test harness shared by every tests/test_*.c file.
   A test is a function returning 0 on success; CHECK prints where and why it
   failed and returns 1.  Each file exports a table of its tests, and
   tests/test_ig.c runs all the tables in order. */
#ifndef IG_TEST_H
#define IG_TEST_H
#include <stdio.h>
#include <math.h>

typedef struct { const char *name; int (*fn)(void); } test_case;

#define CHECK(cond, ...) do { if (!(cond)) { \
    fprintf(stderr, "    %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); return 1; } } while (0)

/* relative closeness with a floor on the denominator */
static inline int near(double a, double b, double rtol, double atol) {
    return fabs(a - b) <= atol + rtol * fabs(b);
}
#endif
