/* fuzz_idx.c - libFuzzer target for the IDX reader (examples/idx.h).
   Build and run with `make fuzz FUZZ_TARGETS=idx` (clang -fsanitize=fuzzer,address,undefined).

   Input byte 0 picks the number of dimensions asked for (1 + byte0 % 4); the
   rest is the whole file.  Properties, any violation aborts:
     - a failed read names the file in idx_error() and leaves the array empty;
     - a successful read has the asked dimensions, each non-zero, their product
       is n, and the file is exactly 4 + 4 ndim + n bytes;
     - writing it back with idx_write gives the same bytes. */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include "../../examples/idx.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include "scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    scratch_init("fuzz_idx", "", ".out");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    idx_array a;
    FILE *f;
    int ndim, k;
    size_t n = 1;
    if (size < 1) return 0;
    ndim = 1 + data[0] % 4;
    scratch_write(data + 1, size - 1);
    if (idx_read(path, ndim, &a)) {
        if (!strstr(idx_error(), path) || a.data || a.n) abort();
        return 0;
    }
    if (a.ndim != ndim) abort();
    for (k = 0; k < ndim; k++) { if (!a.dims[k]) abort(); n *= a.dims[k]; }
    if (n != a.n || size - 1 != 4 + 4 * (size_t)ndim + n) abort();
    if (idx_write(path2, ndim, a.dims, a.data)) abort();
    f = fopen(path2, "rb");
    if (!f) abort();
    for (n = 1; n < size; n++) if (fgetc(f) != data[n]) abort();
    if (fgetc(f) != EOF) abort();
    fclose(f);
    idx_free(&a);
    return 0;
}
