/* fuzz_ckpt.c - libFuzzer target for checkpoints: ig_config_from_file, then
   ig_model_init + ig_load + ig_save + ig_load on what it accepted (ig.h Appendix B).
   Build and run with `make fuzz`; seeds in tests/fuzz/corpus_ckpt/ (made by
   tests/fuzz/make_seeds.c).

   Input byte 0 holds the options, the rest is the file:
     bit 0      ig_load strict
     bit 1      the model trains (so ig_load reads EMA and moments, ig_save writes them)
     bits 2-3   heads argument of ig_config_from_file (0 = from the file)
     bits 4-5   aux_depth argument (0 = from the file)
   Properties, any violation aborts:
     - every failure names the file in ig_last_error();
     - an accepted configuration passes ig_config_check;
     - a model that loaded saves, and the saved file loads into a fresh model with
       the same configuration, giving bit-identical weights (and state). */
#define _POSIX_C_SOURCE 200809L /* getpid */
#define IG_IMPLEMENTATION
#include "../../ig.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "scratch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc; (void)argv;
    scratch_init("fuzz_ckpt", ".safetensors", ".rt");
    return 0;
}

static void must_name(const char *p) { if (!strstr(ig_last_error(), p)) abort(); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ig_config cfg;
    ig_model m, m2;
    int strict, training, heads, aux;
    if (size < 1) return 0;
    strict = data[0] & 1; training = (data[0] >> 1) & 1;
    heads = (data[0] >> 2) & 3; aux = (data[0] >> 4) & 3;
    scratch_write(data + 1, size - 1);
    if (ig_config_from_file(&cfg, path, heads, aux) != 0) { must_name(path); return 0; }
    if (ig_config_check(&cfg) != 0) abort();
    if (ig_model_bytes(&cfg, training) > ((size_t)64 << 20)) return 0;   /* a valid but large model: skip */
    if (ig_model_init(&m, &cfg, training, 1) != 0) abort();
    if (ig_load(&m, path, strict) != 0) { must_name(path); ig_model_free(&m); return 0; }
    if (ig_save(&m, path2, training) != 0) abort();      /* what loaded is finite: it must save */
    if (ig_model_init(&m2, &cfg, training, 2) != 0) abort();
    if (ig_load(&m2, path2, 1) != 0) abort();
    if (memcmp(m.weights, m2.weights, m.nweights * sizeof(float)) != 0) abort();
    if (training && (memcmp(m.ema, m2.ema, m.nweights * sizeof(float)) || memcmp(m.adam_m, m2.adam_m, m.nweights * sizeof(float)) ||
                     memcmp(m.adam_v, m2.adam_v, m.nweights * sizeof(float)) || m.step != m2.step ||
                     m.rng.state != m2.rng.state || m.rng.has_spare != m2.rng.has_spare)) abort();
    ig_model_free(&m2);
    ig_model_free(&m);
    remove(path2);
    return 0;
}
