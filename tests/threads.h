/* threads.h - the OpenMP thread count in the tests that compare 1 and 2
   threads bit for bit; without OpenMP there is one thread and setting it does
   nothing.  Include after ig.h. */
#ifndef IG_TEST_THREADS_H
#define IG_TEST_THREADS_H
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static inline void thr_set(int threads) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
}

static inline int thr_get(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* One seeded run (training, then sampling) with `threads` threads: its losses,
   weights (*nw of them) and samples.  0, or -1 on failure (ig_last_error). */
typedef int (*thr_run_fn)(int threads, float *losses, float *weights, float *samples, size_t *nw);

/* run with 1 thread into the arrays ending in 1, then with 2 into those ending
   in 2; the thread count is restored.  0, or -1 when either run failed. */
static inline int thr_run_1_and_2(thr_run_fn run, float *l1, float *w1, float *s1, size_t *n1,
                                  float *l2, float *w2, float *s2, size_t *n2) {
    int saved = thr_get(), rc = run(1, l1, w1, s1, n1);
    if (rc == 0) rc = run(2, l2, w2, s2, n2);
    thr_set(saved);
    return rc;
}
#endif
