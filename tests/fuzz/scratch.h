/* scratch.h - the two scratch files of a libFuzzer target: path, the input
   written out for the reader, and path2 = path + a suffix, what the target
   writes back.  They go in $TMPDIR, else /dev/shm when writable, else /tmp,
   named after the target and the process, and are removed at exit.
   Include after <stdio.h>, <stdlib.h> and <unistd.h>, with _POSIX_C_SOURCE
   200809L defined (getpid, access). */
#ifndef IG_FUZZ_SCRATCH_H
#define IG_FUZZ_SCRATCH_H

static char path[512], path2[520];

static inline void remove_files(void) { remove(path); remove(path2); }

/* path = DIR/<name>_<pid><ext>, path2 = path<suffix>; call once, from
   LLVMFuzzerInitialize. */
static inline void scratch_init(const char *name, const char *ext, const char *suffix) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/%s_%ld%s", dir, name, (long)getpid(), ext);
    snprintf(path2, sizeof path2, "%s%s", path, suffix);
    atexit(remove_files);
}

/* Writes n bytes to path (removed first: a fresh file each run); aborts if it cannot. */
static inline void scratch_write(const unsigned char *p, size_t n) {
    FILE *f;
    remove(path);
    f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) abort();
}
#endif
