/* capture.h - run a function with stderr or stdout redirected to a temporary file, for
   tests that check a tool's error message (POSIX: dup, dup2, fileno).  The
   including file defines _POSIX_C_SOURCE before any system header. */
#ifndef IG_TEST_CAPTURE_H
#define IG_TEST_CAPTURE_H
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* rc = main_fn(argc, argv) with everything it writes to file descriptor fd
   (2: stderr, 1: stdout) in msg (at most cap - 1 bytes, NUL-terminated).
   Returns -1000 if the redirection fails. */
static inline int capture_output(int fd, int (*main_fn)(int, char **), int argc, char **argv, char *msg, size_t cap) {
    FILE *tmp = tmpfile();
    int saved, rc;
    size_t got;
    msg[0] = '\0';
    if (!tmp) return -1000;
    fflush(stdout);
    fflush(stderr);
    saved = dup(fd);
    if (saved < 0 || dup2(fileno(tmp), fd) < 0) { fclose(tmp); return -1000; }
    rc = main_fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved, fd);
    close(saved);
    rewind(tmp);
    got = fread(msg, 1, cap - 1, tmp);
    msg[got] = '\0';
    fclose(tmp);
    return rc;
}

static inline int capture_stderr(int (*main_fn)(int, char **), int argc, char **argv, char *msg, size_t cap) {
    return capture_output(2, main_fn, argc, argv, msg, cap);
}
#endif
