/* test_shards.c - examples/imagenet.c's sharded sampling and merge, called as
   imagenet_main() (IG_IMPLEMENTATION and imagenet.c's code come from
   test_imagenet.c; this file only declares imagenet_main).

   A small SiT (4 latent channels, 4x4, perturbed weights so every output is
   non-trivial) samples 10 images in batches of 3 with the SDE: once as one
   shard, once as 3 shards (run in the order 2, 0, 1), once as 4 shards; each
   set merges through the small random VAE decoder of tests/fixtures into an
   .npz whose bytes must be the same.  The balanced labels give n / classes of
   each class.  Bad input: --shard 3/2, a balanced n that does not divide, a
   missing shard, overlapping shards of two splits, shards with another seed,
   an existing shard with other settings; each exits 2 and writes nothing. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "../ig.h"
#include "../examples/npy.h"
#include "test.h"
#include "capture.h"
#include "small.h"
#include "files.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int imagenet_main(int argc, char **argv);

#define SHT_VAE "tests/fixtures/vae_ldm.safetensors"   /* 4 latent channels -> 3, factor 2 */

static char sht_ckpt[128];

/* imagenet ARGS... (NULL-terminated); stderr into msg. */
static int sht_run(char *msg, size_t cap, ...) {
    char *argv[40];
    int argc = 0;
    va_list ap;
    va_start(ap, cap);
    argv[argc++] = (char *)"imagenet";
    while (argc < 39 && (argv[argc] = va_arg(ap, char *)) != NULL) argc++;
    va_end(ap);
    argv[argc] = NULL;
    return capture_output(2, imagenet_main, argc, argv, msg, cap);
}

static int sht_sample(const char *dir, const char *shard, const char *seed, const char *labels, char *msg, size_t cap) {
    return sht_run(msg, cap, "sample", "--ckpt", sht_ckpt, "--dir", dir, "--n", "10", "--batch", "3", "--steps", "4",
                   "--seed", seed, "--labels", labels, "--shard", shard, (char *)NULL);
}

static int sht_exists(const char *path) { struct stat sb; return stat(path, &sb) == 0; }

/* A small SiT with 4 channels at 4x4 and every weight perturbed, saved. */
static int sht_make_ckpt(const char *root) {
    ig_config cfg = small_config();
    ig_model m;
    ig_rng r;
    size_t j;
    int i;
    cfg.in_channels = 4; cfg.num_classes = 5;
    snprintf(sht_ckpt, sizeof sht_ckpt, "%s/tiny.safetensors", root);
    CHECK(ig_model_init(&m, &cfg, 0, 11) == 0, "%s", ig_last_error());
    ig_rng_seed(&r, 12);
    for (i = 0; i < m.nparams; i++)
        for (j = 0; m.params[i].trainable && j < m.params[i].t->n; j++) m.params[i].t->data[j] += 0.05f * ig_rng_normal(&r);
    CHECK(ig_save(&m, sht_ckpt, 0) == 0, "%s", ig_last_error());
    ig_model_free(&m);
    return 0;
}

static int test_shards_compose(void) {
    char root[] = "/tmp/test_shards_XXXXXX", d1[96], d3[96], d4[96], o1[96], o3[96], o4[96], msg[4096], path[160];
    static const char *const three[] = { "2/3", "0/3", "1/3" }, *const four[] = { "3/4", "1/4", "0/4", "2/4" };
    unsigned char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int i, count[5] = { 0 };
    npy_array arr;
    CHECK(mkdtemp(root) != NULL, "mkdtemp failed");
    if (sht_make_ckpt(root)) return 1;
    snprintf(d1, sizeof d1, "%s/one", root); snprintf(d3, sizeof d3, "%s/three", root); snprintf(d4, sizeof d4, "%s/four", root);
    snprintf(o1, sizeof o1, "%s/one.npz", root); snprintf(o3, sizeof o3, "%s/three.npz", root);
    snprintf(o4, sizeof o4, "%s/four.npz", root);
    CHECK(sht_sample(d1, "0/1", "7", "balanced", msg, sizeof msg) == 0, "one shard: %s", msg);
    for (i = 0; i < 3; i++) CHECK(sht_sample(d3, three[i], "7", "balanced", msg, sizeof msg) == 0, "shard %s: %s", three[i], msg);
    for (i = 0; i < 4; i++) CHECK(sht_sample(d4, four[i], "7", "balanced", msg, sizeof msg) == 0, "shard %s: %s", four[i], msg);
    /* a second run of a finished shard is skipped */
    CHECK(sht_sample(d3, "1/3", "7", "balanced", msg, sizeof msg) == 0 && strstr(msg, "already done"), "rerun: %s", msg);
    CHECK(sht_run(msg, sizeof msg, "merge", "--dir", d1, "--out", o1, "--vae", SHT_VAE, (char *)NULL) == 0, "merge: %s", msg);
    CHECK(sht_run(msg, sizeof msg, "merge", "--dir", d3, "--out", o3, "--vae", SHT_VAE, (char *)NULL) == 0, "merge: %s", msg);
    CHECK(sht_run(msg, sizeof msg, "merge", "--dir", d4, "--out", o4, "--vae", SHT_VAE, "--batch", "2", (char *)NULL) == 0,
          "merge: %s", msg);
    CHECK((a = read_bytes(o1, &na)) != NULL && (b = read_bytes(o3, &nb)) != NULL, "cannot read the .npz files");
    CHECK(na == nb && memcmp(a, b, na) == 0, "1 shard and 3 shards give different .npz files (%zu, %zu bytes)", na, nb);
    free(b);
    CHECK((b = read_bytes(o4, &nb)) != NULL && na == nb && memcmp(a, b, na) == 0, "4 shards give another .npz");
    free(b);
    /* the .npz's one record: arr_0.npy, stored, 64-byte aligned, uint8 (10, 8, 8, 3), not constant */
    {
        size_t nl, ex, size, off, k;
        CHECK(na > 30 && a[0] == 'P' && a[1] == 'K' && a[8] == 0 && a[9] == 0, "not a stored zip record");
        size = (size_t)a[18] | (size_t)a[19] << 8 | (size_t)a[20] << 16 | (size_t)a[21] << 24;
        nl = (size_t)a[26] | (size_t)a[27] << 8; ex = (size_t)a[28] | (size_t)a[29] << 8;
        off = 30 + nl + ex;
        CHECK(nl == 9 && !memcmp(a + 30, "arr_0.npy", 9), "the record is not arr_0.npy");
        CHECK(off % 64 == 0 && off + size <= na, "the array is not 64-byte aligned or runs past the file (%zu)", off);
        snprintf(path, sizeof path, "%s/arr.npy", root);
        CHECK(write_bytes(path, a + off, size) == 0 && npy_read(path, &arr) == 0, "arr_0.npy: %s", npy_error());
        CHECK(arr.dtype == NPY_U8 && arr.ndim == 4 && arr.shape[0] == 10 && arr.shape[1] == 8 && arr.shape[2] == 8 &&
              arr.shape[3] == 3, "arr_0 is not uint8 (10, 8, 8, 3)");
        for (k = 1; k < arr.n && ((unsigned char *)arr.data)[k] == ((unsigned char *)arr.data)[0]; k++) {}
        CHECK(k < arr.n, "arr_0 is constant");
        npy_free(&arr);
    }
    free(a);
    /* balanced labels: 2 of each of the 5 classes, in the order j % 5 */
    snprintf(path, sizeof path, "%s/shard-00000000-00000010.safetensors", d1);
    {
        ig_st_file st;
        int64_t lab[10];
        CHECK(ig_st_open(&st, path) == 0, "%s", ig_last_error());
        CHECK(ig_st_read_i64(&st, ig_st_find(&st, "labels"), lab, 10) == 0, "%s", ig_last_error());
        ig_st_close(&st);
        for (i = 0; i < 10; i++) { CHECK(lab[i] == i % 5, "label %d is %lld", i, (long long)lab[i]); count[lab[i]]++; }
        for (i = 0; i < 5; i++) CHECK(count[i] == 2, "class %d has %d images", i, count[i]);
    }
    snprintf(msg, sizeof msg, "rm -rf '%s'", root);
    CHECK(system(msg) == 0, "cleanup");
    return 0;
}

/* Rewrites a shard with one metadata value replaced (key must be there). */
static int sht_rewrite_meta(const char *path, const char *key, const char *val) {
    ig_st_file st;
    ig_st_writer w;
    const ig_st_tensor *zt, *lt;
    float *z = NULL;
    int64_t *lab = NULL, zs[4], ls[1];
    int i, rc = -1;
    if (ig_st_open(&st, path)) return -1;
    zt = ig_st_find(&st, "latents"); lt = ig_st_find(&st, "labels");
    if (!zt || !lt || zt->ndim != 4) { ig_st_close(&st); return -1; }
    z = (float *)malloc(ig_st_numel(zt) * sizeof(float));
    lab = (int64_t *)malloc(ig_st_numel(lt) * sizeof(int64_t));
    for (i = 0; i < 4; i++) zs[i] = zt->shape[i];
    ls[0] = lt->shape[0];
    ig_st_writer_init(&w);
    if (z && lab && !ig_st_read_f32(&st, zt, z, ig_st_numel(zt)) && !ig_st_read_i64(&st, lt, lab, ig_st_numel(lt))) {
        int bad = ig_st_add(&w, "latents", IG_F32, 4, zs, z) | ig_st_add(&w, "labels", IG_I64, 1, ls, lab);
        for (i = 0; i < st.nmeta; i++)
            bad |= ig_st_add_meta(&w, st.meta_keys[i], strcmp(st.meta_keys[i], key) ? st.meta_vals[i] : val);
        ig_st_close(&st);
        rc = bad ? -1 : ig_st_writer_save(&w, path);
    } else ig_st_close(&st);
    ig_st_writer_free(&w);
    free(z); free(lab);
    return rc;
}

static int test_shards_bad_input(void) {
    char root[] = "/tmp/test_shards_XXXXXX", d[96], e[96], out[96], msg[4096];
    CHECK(mkdtemp(root) != NULL, "mkdtemp failed");
    if (sht_make_ckpt(root)) return 1;
    snprintf(d, sizeof d, "%s/d", root); snprintf(e, sizeof e, "%s/e", root);
    snprintf(out, sizeof out, "%s/out.npz", root);
    CHECK(sht_sample(d, "3/2", "7", "balanced", msg, sizeof msg) == 2 && strstr(msg, "--shard 3/2"), "3/2: %s", msg);
    CHECK(sht_sample(d, "1of2", "7", "balanced", msg, sizeof msg) == 2 && strstr(msg, "--shard"), "1of2: %s", msg);
    CHECK(sht_run(msg, sizeof msg, "sample", "--ckpt", sht_ckpt, "--dir", d, "--n", "12", "--labels", "balanced",
                  (char *)NULL) == 2 && strstr(msg, "not a multiple of the 5 classes"), "balanced 12: %s", msg);
    CHECK(!sht_exists(d), "a refused run created %s", d);
    /* a missing shard: 0/3 and 2/3 only */
    CHECK(sht_sample(d, "0/3", "7", "random", msg, sizeof msg) == 0 && sht_sample(d, "2/3", "7", "random", msg, sizeof msg) == 0,
          "sampling: %s", msg);
    CHECK(sht_run(msg, sizeof msg, "merge", "--dir", d, "--out", out, "--vae", SHT_VAE, (char *)NULL) == 2 &&
          strstr(msg, "images 3..5 are missing"), "missing shard: %s", msg);
    CHECK(!sht_exists(out), "a refused merge wrote %s", out);
    /* another split's shard overlaps */
    CHECK(sht_sample(d, "0/2", "7", "random", msg, sizeof msg) == 0, "sampling: %s", msg);   /* images 0..5 */
    CHECK(sht_run(msg, sizeof msg, "merge", "--dir", d, "--out", out, "--vae", SHT_VAE, (char *)NULL) == 2 &&
          strstr(msg, "overlaps"), "overlap: %s", msg);
    CHECK(!sht_exists(out), "a refused merge wrote %s", out);
    /* another seed */
    CHECK(sht_sample(e, "0/2", "7", "random", msg, sizeof msg) == 0 && sht_sample(e, "1/2", "8", "random", msg, sizeof msg) == 0,
          "sampling: %s", msg);
    CHECK(sht_run(msg, sizeof msg, "merge", "--dir", e, "--out", out, "--vae", SHT_VAE, (char *)NULL) == 2 &&
          strstr(msg, "seed=7") && strstr(msg, "seed=8"), "settings: %s", msg);
    CHECK(!sht_exists(out), "a refused merge wrote %s", out);
    /* an existing shard with other settings is not overwritten */
    CHECK(sht_sample(e, "1/2", "9", "random", msg, sizeof msg) == 2 && strstr(msg, "other settings"), "rerun: %s", msg);
    /* merging latents without a decoder */
    CHECK(sht_sample(e, "0/2", "7", "random", msg, sizeof msg) == 0, "%s", msg);
    CHECK(sht_run(msg, sizeof msg, "merge", "--dir", root, "--out", out, (char *)NULL) == 2 && strstr(msg, "no shard"),
          "empty dir: %s", msg);
    /* a damaged count in a shard's metadata */
    {
        static const char *const bad[] = { "0x", "", "-1", "99999999999999999999999", "3;" };
        char f[96], shard[160];
        size_t b;
        snprintf(f, sizeof f, "%s/f", root);
        CHECK(sht_sample(f, "0/1", "7", "random", msg, sizeof msg) == 0, "%s", msg);
        snprintf(shard, sizeof shard, "%s/shard-00000000-00000010.safetensors", f);
        for (b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            CHECK(sht_rewrite_meta(shard, "start", bad[b]) == 0, "%s", ig_last_error());
            CHECK(sht_run(msg, sizeof msg, "merge", "--dir", f, "--out", out, "--vae", SHT_VAE, (char *)NULL) == 2 &&
                  strstr(msg, "not counts"), "start '%s': %s", bad[b], msg);
            CHECK(!sht_exists(out), "a refused merge wrote %s", out);
        }
        CHECK(sht_rewrite_meta(shard, "start", "0") == 0, "%s", ig_last_error());
        CHECK(sht_run(msg, sizeof msg, "merge", "--dir", f, "--out", out, "--vae", SHT_VAE, (char *)NULL) == 0,
              "the repaired shard: %s", msg);
    }
    snprintf(msg, sizeof msg, "rm -rf '%s'", root);
    CHECK(system(msg) == 0, "cleanup");
    return 0;
}

const test_case shards_tests[] = {
    { "shards_compose", test_shards_compose },
    { "shards_bad_input", test_shards_bad_input },
};
const int shards_ntests = sizeof shards_tests / sizeof shards_tests[0];
