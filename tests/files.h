/* files.h - whole files as bytes, for the tests that write, corrupt and
   compare files (test_st.c, test_pt.c, test_imagenet.c, test_toy_example.c). */
#ifndef IG_TEST_FILES_H
#define IG_TEST_FILES_H
#include <stdio.h>
#include <stdlib.h>

/* Writes n bytes to path: 0, or -1.  Removes the file first: on ext4,
   truncating and rewriting an existing file forces a flush at close
   (auto_da_alloc), which made test_st.c's loops 20x slower. */
static inline int write_bytes(const char *path, const void *p, size_t n) {
    FILE *f;
    remove(path);
    f = fopen(path, "wb");
    if (!f) return -1;
    if (n && fwrite(p, 1, n, f) != n) { fclose(f); return -1; }
    return fclose(f) == 0 ? 0 : -1;
}

/* The whole file, malloc'ed, with a 0 byte after its *n bytes (so a text
   file is a string); NULL if it cannot be read. */
static inline unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *p;
    long sz;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    p = (unsigned char *)malloc((size_t)sz + 1);
    if (!p || fread(p, 1, (size_t)sz, f) != (size_t)sz) { free(p); fclose(f); return NULL; }
    fclose(f);
    p[sz] = 0;
    *n = (size_t)sz;
    return p;
}
#endif
