/* scratch.h - scratch paths of a test file (test_st.c, test_pt.c): every
   path handed out is remembered and removed by cleanup(), in reverse order
   (files before the folders they are in).  Each file that includes this has
   its own list.  Needs getpid and access (_POSIX_C_SOURCE 200809L or
   _XOPEN_SOURCE 700, and <unistd.h>). */
#ifndef IG_TEST_SCRATCH_H
#define IG_TEST_SCRATCH_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_MAX 64
static char scratch_list[SCRATCH_MAX][600];
static int scratch_n;

/* DIR/<prefix>_<pid>_<name>, DIR = build when writable, else $TMPDIR, else
   /tmp; remembered (a path asked for twice is one entry).  The pointer stays
   valid until cleanup. */
static inline const char *scratch_path(const char *prefix, const char *name) {
    const char *td = getenv("TMPDIR");
    const char *dir = access("build", W_OK) == 0 ? "build" : (td && *td ? td : "/tmp");
    static char out[600];
    int i;
    snprintf(out, sizeof out, "%s/%s_%ld_%s", dir, prefix, (long)getpid(), name);
    for (i = 0; i < scratch_n; i++) if (!strcmp(scratch_list[i], out)) return scratch_list[i];
    if (scratch_n == SCRATCH_MAX) return out;
    snprintf(scratch_list[scratch_n], sizeof scratch_list[0], "%s", out);
    return scratch_list[scratch_n++];
}

/* Removes every scratch path (last first) and passes rc on: a test's
   return value, so that `return cleanup(test());` cleans up pass or fail. */
static inline int cleanup(int rc) {
    while (scratch_n > 0) remove(scratch_list[--scratch_n]);
    return rc;
}
#endif
