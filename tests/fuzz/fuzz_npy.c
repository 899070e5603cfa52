/* fuzz_npy.c - libFuzzer target for the .npy reader (examples/npy.h).
   Build and run: make fuzz-npy (FUZZ_SECONDS=60).  The input is the file.
   Properties, any violation aborts: a failed read names the file; a read
   array has n = prod(shape) and the file's data size; writing it back with
   npy_write and reading that gives the same dtype, shape and bytes. */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include "../../examples/npy.h"
#include <unistd.h>
#include "scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    scratch_init("fuzz_npy", ".npy", ".rt");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const size_t item[4] = { 4, 8, 4, 1 };
    npy_array a, b;
    size_t n = 1;
    int d;
    scratch_write(data, size);
    if (npy_read(path, &a) != 0) {
        if (!strstr(npy_error(), path)) abort();
        return 0;
    }
    for (d = 0; d < a.ndim; d++) n *= a.shape[d];
    if (n != a.n || a.n * item[a.dtype] > size) abort();
    if (npy_write(path2, a.dtype, a.ndim, a.shape, a.data) != 0) abort();
    if (npy_read(path2, &b) != 0) abort();
    if (b.dtype != a.dtype || b.ndim != a.ndim || memcmp(b.shape, a.shape, sizeof a.shape) ||
        (a.n && memcmp(a.data, b.data, a.n * item[a.dtype]))) abort();
    npy_free(&a);
    npy_free(&b);
    return 0;
}
