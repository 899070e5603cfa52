/* fuzz_pt.c - libFuzzer target for the .pt reader (examples/pt.h) and the
   conversion of pt2st.  Build and run: make fuzz-pt (FUZZ_SECONDS=60).

   Input byte 0 selects the mode:
     odd   the rest is data.pkl; the harness wraps it in a stored zip with the
           storage records a/data/0 .. a/data/3 (64 bytes each), so the fuzzer
           works on the pickle machine with real storages behind it (as a
           ZIP64 archive when bit 1 of byte 0 is set);
     even  the rest is the whole file.
   Properties, any violation aborts:
     - a failed open names the file in pt_error();
     - an opened file lists without crashing; every tensor of the selected
       dict reads (pt_read_raw, and pt_read_f32 for float dtypes) when it is
       at most 1 MiB;
     - when the tensors total at most 4 MiB, pt_convert succeeds and ig.h's
       safetensors reader opens the result with the same number of tensors,
       or pt_convert fails with a message naming the file. */
#define _POSIX_C_SOURCE 200809L /* getpid */
#define IG_IMPLEMENTATION
#include "../../ig.h"
#include "../../examples/pt.h"
#include "../pt_zip.h"
#include <unistd.h>
#include "scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);
/* a stride-0 tensor may claim terabytes: malloc must be allowed to say no */
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    devnull = fopen("/dev/null", "w");
    if (!devnull) abort();
    scratch_init("fuzz_pt", ".pt", ".st");   /* path2: the converted safetensors */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pt_file pt;
    const pt_value *d;
    const pt_named *list;
    size_t n, i, total = 0;
    if (size < 1) return 0;
    if (data[0] & 1) {
        static unsigned char store[64];
        ptz_rec r[5];
        unsigned char *zip;
        size_t zn;
        for (i = 0; i < 64; i++) store[i] = (unsigned char)(i * 37 + 1);
        r[0].name = "a/data.pkl"; r[0].data = data + 1; r[0].n = size - 1; r[0].method = 0;
        r[1].name = "a/data/0"; r[2].name = "a/data/1"; r[3].name = "a/data/2"; r[4].name = "a/data/3";
        for (i = 1; i < 5; i++) { r[i].data = store; r[i].n = 64; r[i].method = 0; }
        zip = ptz_build(r, 5, &zn, data[0] >> 1 & 1);
        if (!zip) abort();
        scratch_write(zip, zn);
        free(zip);
    } else {
        scratch_write(data + 1, size - 1);
    }
    if (pt_open(&pt, path) != 0) {
        if (!strstr(pt_error(), path)) abort();
        return 0;
    }
    pt_list(&pt, devnull);
    d = pt_select(&pt, NULL, NULL);
    if (d && pt_collect(&pt, d, &list, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            const pt_tensor *t = list[i].tensor;
            size_t es = t->storage->esize;
            void *buf;
            if (!es || t->numel > (1u << 20) / es) { total = (size_t)1 << 40; continue; }
            total += (size_t)t->numel * es;     /* at most 1 MiB a tensor: no wrap */
            buf = malloc((size_t)t->numel * (es < 4 ? 4 : es) + 1);
            if (!buf) abort();
            if (pt_read_raw(&pt, t, buf, (size_t)t->numel * es) != 0) abort();
            if (t->storage->dtype <= PT_F64 && pt_read_f32(&pt, t, (float *)buf, (size_t)t->numel) != 0) abort();
            free(buf);
        }
    }
    pt_close(&pt);
    if (d && total <= (4u << 20)) {
        if (pt_convert(path, NULL, path2, NULL) == 0) {
            ig_st_file st;
            if (ig_st_open(&st, path2) != 0) abort();
            if ((size_t)st.ntensors != n) abort();
            ig_st_close(&st);
            remove(path2);
        } else if (!strstr(pt_error(), path)) {
            abort();
        }
    }
    return 0;
}
