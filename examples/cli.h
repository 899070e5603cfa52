/* cli.h - strict command-line flags for the examples and tools (not part of ig.h).

   Every numeric flag goes through strtoll / strtod with an end pointer and a
   range check, so "--lr abc", "--steps 1e9x" or "--samples -1" are errors that
   name the flag and the value instead of silently becoming 0.  Enum-like flags
   list their choices.  Each function prints one line to stderr on failure,
   prefixed with the program name, and returns -1; 0 on success.

       long long n; double lr; int k;
       if (cli_int(argv[0], "--steps", v, 1, 1000000, &n)) return 2;
       if (cli_num(argv[0], "--lr", v, 0.0, 1.0, &lr)) return 2;
       static const char *const paths[] = { "linear", "cosine", NULL };
       if (cli_choice(argv[0], "--path", v, paths, &k)) return 2;

   Include it in any number of files: the functions are static. */
#ifndef IG_CLI_H
#define IG_CLI_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define CLI__UNUSED __attribute__((unused))
#else
#define CLI__UNUSED
#endif

/* The value after a flag: argv[*i + 1], advancing *i; NULL (with a message)
   when the flag is the last argument. */
CLI__UNUSED static const char *cli_value(const char *prog, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", prog, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* An integer in [lo, hi], written in decimal (no trailing characters). */
CLI__UNUSED static int cli_int(const char *prog, const char *flag, const char *s,
                               long long lo, long long hi, long long *out) {
    char *end = NULL;
    long long v;
    if (!s || !*s) { fprintf(stderr, "%s: %s needs an integer value\n", prog, flag); return -1; }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') {
        fprintf(stderr, "%s: %s: '%s' is not an integer\n", prog, flag, s);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        fprintf(stderr, "%s: %s: %s is out of range [%lld, %lld]\n", prog, flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* A finite real number in [lo, hi]. */
CLI__UNUSED static int cli_num(const char *prog, const char *flag, const char *s,
                               double lo, double hi, double *out) {
    char *end = NULL;
    double v;
    if (!s || !*s) { fprintf(stderr, "%s: %s needs a number\n", prog, flag); return -1; }
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0') {
        fprintf(stderr, "%s: %s: '%s' is not a number\n", prog, flag, s);
        return -1;
    }
    if (errno == ERANGE || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "%s: %s: %s is out of range [%g, %g]\n", prog, flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* One of a NULL-terminated list of words; *out gets its index. */
CLI__UNUSED static int cli_choice(const char *prog, const char *flag, const char *s,
                                  const char *const *choices, int *out) {
    int i;
    for (i = 0; s && choices[i]; i++)
        if (!strcmp(s, choices[i])) { *out = i; return 0; }
    fprintf(stderr, "%s: %s: '%s' is not one of:", prog, flag, s ? s : "");
    for (i = 0; choices[i]; i++) fprintf(stderr, " %s", choices[i]);
    fprintf(stderr, "\n");
    return -1;
}

#endif /* IG_CLI_H */
