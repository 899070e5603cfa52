/* test_pt.c - the .pt reader (examples/pt.h), pt2st's conversion, and the
   latent data set readers (examples/latents.h).
   Fixtures: tests/fixtures/pt_*.pt and pt_ref.safetensors, made by
   tools/make_pt_fixtures.py (PyTorch).  Scratch files and folders are
   build/test_pt_<pid>_* (or under $TMPDIR) and are removed by every test. */
#define _POSIX_C_SOURCE 200809L /* mkdir, getpid, access */
#include "../ig.h"
#include "../examples/pt.h"
#include "../examples/latents.h"
#include "pt_zip.h"
#include "test.h"
#include "files.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "scratch.h"

#define FIX "tests/fixtures/"

/* ------------------------------------------------------------ scratch --- */
/* A scratch path build/test_pt_<pid>_<name>, removed by cleanup (scratch.h). */
static const char *spath(const char *name) { return scratch_path("test_pt", name); }

/* ------------------------------------------------------------ .pt parity --- */

/* Loads a converted checkpoint into the tiny model of the fixtures and runs
   pt_ref.safetensors' inputs; writes both heads' outputs (B*C*H*W each). */
static int forward_converted(const char *ckpt, float *v, float *va, size_t *count) {
    ig_config cfg;
    ig_model m;
    ig_arena scratch_arena;
    ig_ctx ctx;
    ig_st_file in;
    const ig_st_tensor *tx, *ty;
    float *x = NULL, *t = NULL;
    int64_t y64[8];
    int y[8], rc = -1;
    size_t N, per, shape[4], k;
    ig_tensor *xt, *vo, *vao;
    memset(&m, 0, sizeof m);
    memset(&scratch_arena, 0, sizeof scratch_arena);
    if (ig_config_from_file(&cfg, ckpt, 2, 2)) { fprintf(stderr, "    %s\n", ig_last_error()); return -1; }
    if (ig_st_open(&in, FIX "pt_ref.safetensors")) { fprintf(stderr, "    %s\n", ig_last_error()); return -1; }
    tx = ig_st_find(&in, "input.x");
    ty = ig_st_find(&in, "input.y");
    if (!tx || !ty || tx->ndim != 4 || tx->shape[0] > 8) goto done;
    N = (size_t)tx->shape[0];
    per = ig_st_numel(tx) / N;
    x = (float *)malloc(N * per * sizeof(float));
    t = (float *)malloc(N * sizeof(float));
    if (!x || !t || ig_st_read_f32(&in, tx, x, N * per) || ig_st_read_f32(&in, ig_st_find(&in, "input.t"), t, N) ||
        ig_st_read_i64(&in, ty, y64, N)) goto done;
    for (k = 0; k < N; k++) y[k] = (int)y64[k];
    if (ig_model_init(&m, &cfg, 0, 0) || ig_load(&m, ckpt, 1) ||
        ig_arena_init(&scratch_arena, "scratch", ig_model_scratch_bytes(&cfg, N, 0) + 4 * N * per * sizeof(float)) ||
        ig_ctx_init(&ctx, &scratch_arena, ig_model_tape_nodes(&cfg) + 8) || ig_ctx_reset(&ctx, 0)) {
        fprintf(stderr, "    %s\n", ig_last_error());
        goto done;
    }
    shape[0] = N; shape[1] = (size_t)cfg.in_channels; shape[2] = (size_t)cfg.image_height; shape[3] = (size_t)cfg.image_width;
    xt = ig_tensor_new(&scratch_arena, 4, shape, 0);
    if (!xt) goto done;
    memcpy(xt->data, x, N * per * sizeof(float));
    if (ig_forward(&m, &ctx, xt, t, y, &vo, &vao)) { fprintf(stderr, "    %s\n", ig_last_error()); goto done; }
    memcpy(v, vo->data, N * per * sizeof(float));
    memcpy(va, vao->data, N * per * sizeof(float));
    *count = N * per;
    rc = 0;
done:
    free(x); free(t);
    ig_st_close(&in);
    ig_arena_free(&scratch_arena);
    ig_model_free(&m);
    return rc;
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > num) num = fabs((double)a[i] - b[i]);
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0 ? num / den : num;
}

static int read_ref(const char *name, float *dst, size_t n) {
    ig_st_file st;
    const ig_st_tensor *t;
    int rc;
    if (ig_st_open(&st, FIX "pt_ref.safetensors")) return -1;
    t = ig_st_find(&st, name);
    rc = t && ig_st_numel(t) == n ? ig_st_read_f32(&st, t, dst, n) : -1;
    ig_st_close(&st);
    return rc;
}

/* The training checkpoint converts (ema chosen), loads into ig.h and gives
   PyTorch's outputs; --key model gives the other weights. */
static int test_pt_ckpt_parity(void) {
    static float v[1024], va[1024], rv[1024], rva[1024];
    size_t n = 0;
    const char *out = spath("ckpt.safetensors");
    double e1, e2;
    CHECK(pt_convert(FIX "pt_ckpt.pt", NULL, out, NULL) == 0, "%s", pt_error());
    CHECK(forward_converted(out, v, va, &n) == 0 && n == 3 * 4 * 8 * 8, "forward failed");
    CHECK(read_ref("output.v", rv, n) == 0 && read_ref("output.v_aux", rva, n) == 0, "reference missing");
    e1 = rel_err(v, rv, n); e2 = rel_err(va, rva, n);
    CHECK(e1 < 1e-4 && e2 < 1e-4, "v rel err %.3g, v_aux %.3g", e1, e2);
    CHECK(pt_convert(FIX "pt_ckpt.pt", "model", out, NULL) == 0, "%s", pt_error());
    CHECK(forward_converted(out, v, va, &n) == 0, "forward failed");
    CHECK(rel_err(v, rv, n) > 1e-2, "the 'model' weights gave the 'ema' outputs: the key is ignored");
    return cleanup(0);
}

/* A bare F16 state dict converts to F16 tensors that give the F16 model's outputs. */
static int test_pt_f16_parity(void) {
    static float v[1024], va[1024], rv[1024], rva[1024];
    size_t n = 0;
    const char *out = spath("f16.safetensors");
    ig_st_file st;
    const ig_st_tensor *t;
    CHECK(pt_convert(FIX "pt_f16.pt", NULL, out, NULL) == 0, "%s", pt_error());
    CHECK(ig_st_open(&st, out) == 0, "%s", ig_last_error());
    t = ig_st_find(&st, "blocks.0.attn.qkv.weight");
    CHECK(t && t->dtype == IG_F16 && st.ntensors == 46, "dtype or count wrong (%d tensors)", st.ntensors);
    ig_st_close(&st);
    CHECK(forward_converted(out, v, va, &n) == 0, "forward failed");
    CHECK(read_ref("output16.v", rv, n) == 0 && read_ref("output16.v_aux", rva, n) == 0, "reference missing");
    CHECK(rel_err(v, rv, n) < 1e-4 && rel_err(va, rva, n) < 1e-4, "v %.3g v_aux %.3g", rel_err(v, rv, n), rel_err(va, rva, n));
    return cleanup(0);
}

/* Every tensor of a converted fixture equals PyTorch's contiguous copy. */
static int check_fixture(const char *file, int expect_count, int *bf16_seen) {
    char in[256], name[300];
    const char *out = spath("views.safetensors");
    ig_st_file st, ref;
    int i;
    snprintf(in, sizeof in, FIX "%s.pt", file);
    CHECK(pt_convert(in, NULL, out, NULL) == 0, "%s", pt_error());
    CHECK(ig_st_open(&st, out) == 0 && ig_st_open(&ref, FIX "pt_ref.safetensors") == 0, "%s", ig_last_error());
    CHECK(st.ntensors == expect_count, "%s: %d tensors, expected %d", file, st.ntensors, expect_count);
    for (i = 0; i < st.ntensors; i++) {
        const ig_st_tensor *t = &st.tensors[i], *r;
        size_t n = ig_st_numel(t), k;
        float *a, *b;
        snprintf(name, sizeof name, "expect.%s.%s", file, t->name);
        r = ig_st_find(&ref, name);
        CHECK(r && ig_st_numel(r) == n && r->ndim == t->ndim && !memcmp(r->shape, t->shape, sizeof r->shape),
              "%s: '%s' missing or of another shape", file, t->name);
        if (t->dtype == IG_BF16) (*bf16_seen)++;
        a = (float *)malloc(n * 4 + 4); b = (float *)malloc(n * 4 + 4);
        CHECK(a && b && ig_st_read_f32(&st, t, a, n) == 0 && ig_st_read_f32(&ref, r, b, n) == 0, "read failed");
        for (k = 0; k < n; k++) if (a[k] != b[k]) break;
        free(a); free(b);
        CHECK(k == n, "%s: '%s' differs at element %lu", file, t->name, (unsigned long)k);
    }
    ig_st_close(&st);
    ig_st_close(&ref);
    return 0;
}

/* Transposed views, strided slices with an offset, BF16, nested dicts, a
   storage shared by two tensors, latents_stats.pt. */
static int test_pt_views(void) {
    int bf16 = 0;
    pt_file pt;
    const pt_value *d;
    const pt_named *list;
    size_t n = 0, skipped = 0;
    if (check_fixture("pt_strided", 5, &bf16) || check_fixture("pt_shared", 2, &bf16) ||
        check_fixture("pt_stats", 2, &bf16)) return cleanup(1);
    CHECK(bf16 == 1, "the BF16 tensor was not kept as BF16");
    CHECK(pt_open(&pt, FIX "pt_strided.pt") == 0, "%s", pt_error());
    d = pt_select(&pt, NULL, NULL);
    CHECK(d && pt_collect(&pt, d, &list, &n, &skipped) == 0 && n == 5 && skipped == 2, "n %lu skipped %lu", (unsigned long)n, (unsigned long)skipped);
    CHECK(!strcmp(list[3].name, "nested.x") && !strcmp(list[4].name, "nested.deeper.z") && !strcmp(list[0].name, "w_t"),
          "names: %s %s", list[3].name, list[4].name);
    CHECK(list[0].tensor->stride[0] == 1 && list[0].tensor->stride[1] == 6, "w_t strides not kept");
    pt_close(&pt);
    CHECK(pt_open(&pt, FIX "pt_shared.pt") == 0, "%s", pt_error());
    d = pt_select(&pt, NULL, NULL);
    CHECK(d && pt_collect(&pt, d, &list, &n, NULL) == 0 && n == 2, "collect");
    CHECK(list[0].tensor->storage == list[1].tensor->storage && pt.nstorages == 1 &&
          list[0].tensor->offset == 2 && list[1].tensor->offset == 10, "not one shared storage");
    pt_close(&pt);
    return cleanup(0);
}

/* What the training checkpoint holds, and the choice of the dict. */
static int test_pt_select(void) {
    pt_file pt;
    const char *chosen = NULL;
    const pt_value *d, *args, *st;
    CHECK(pt_open(&pt, FIX "pt_ckpt.pt") == 0, "%s", pt_error());
    CHECK(!strcmp(pt.prefix, "pt_ckpt"), "prefix '%s'", pt.prefix);
    d = pt_select(&pt, NULL, &chosen);
    CHECK(d && !strcmp(chosen, "ema") && d == pt_dict_get(pt.root, "ema"), "did not choose ema");
    CHECK(pt_select(&pt, "opt", &chosen) == pt_dict_get(pt.root, "opt"), "opt");
    st = pt_dict_get(pt_dict_get(pt.root, "opt"), "state");
    CHECK(st && st->kind == PT_DICT && st->n == 2 * 46 - 2, "optimizer state has %lu entries", (unsigned long)(st ? st->n / 2 : 0));
    args = pt_dict_get(pt.root, "args");
    CHECK(args && args->kind == PT_OBJECT && !strcmp(args->s, "argparse.Namespace") && args->n == 2 &&
          pt_dict_get(args->items[1], "model") && !strcmp(pt_dict_get(args->items[1], "model")->s, "SiT-XS/2"), "Namespace not kept");
    CHECK(pt_dict_get(pt.root, "steps")->kind == PT_INT && pt_dict_get(pt.root, "steps")->i == 2, "steps");
    CHECK(pt_select(&pt, "nosuch", NULL) == NULL && strstr(pt_error(), "pt_ckpt.pt") && strstr(pt_error(), "no key 'nosuch'") &&
          strstr(pt_error(), "'ema'"), "missing key: %s", pt_error());
    CHECK(pt_select(&pt, "epoch", NULL) == NULL && strstr(pt_error(), "not a dict"), "%s", pt_error());
    pt_close(&pt);
    CHECK(pt_convert(FIX "pt_ckpt.pt", "nosuch", spath("x.safetensors"), NULL) == -1 && strstr(pt_error(), "no key 'nosuch'"), "%s", pt_error());
    CHECK(access(spath("x.safetensors"), F_OK) != 0, "a failed conversion left a file");
    return cleanup(0);
}

/* Cut at every offset (the small file) or at many (the checkpoint): a clear
   error naming the file, never a crash, never a partial output. */
static int test_pt_truncated(void) {
    const char *files[2] = { FIX "pt_shared.pt", FIX "pt_ckpt.pt" };
    const char *path = spath("cut.pt"), *out = spath("cut.safetensors");
    int fi;
    for (fi = 0; fi < 2; fi++) {
        size_t n, cut, step;
        unsigned char *b = read_bytes(files[fi], &n);
        CHECK(b, "cannot read %s", files[fi]);
        step = fi == 0 ? 1 : n / 97;
        for (cut = 0; cut < n; cut += step) {
            pt_file pt;
            if (write_bytes(path, b, cut)) { free(b); CHECK(0, "write"); }
            if (pt_open(&pt, path) == 0) { pt_close(&pt); free(b); CHECK(0, "a file cut at %lu of %lu opened", (unsigned long)cut, (unsigned long)n); }
            if (!strstr(pt_error(), path)) { free(b); CHECK(0, "error does not name the file: %s", pt_error()); }
            if (pt_convert(path, NULL, out, NULL) == 0 || access(out, F_OK) == 0) { free(b); CHECK(0, "converted a cut file"); }
        }
        free(b);
    }
    return cleanup(0);
}

/* A state dict {'w': tensor} with a hand-built pickle in a hand-built zip. */
static int make_pt64(const char *path, const ptb *pkl, const unsigned char *store, size_t store_n, int pkl_method, int zip64) {
    ptz_rec r[3];
    size_t n;
    unsigned char *zip;
    int rc;
    r[0].name = "arch/data.pkl"; r[0].data = pkl->b; r[0].n = pkl->n; r[0].method = pkl_method;
    r[1].name = "arch/data/0"; r[1].data = store; r[1].n = store_n; r[1].method = 0;
    r[2].name = "arch/version"; r[2].data = (const unsigned char *)"3\n"; r[2].n = 2; r[2].method = 0;
    zip = ptz_build(r, 3, &n, zip64);
    if (!zip) return -1;
    rc = write_bytes(path, zip, n);
    free(zip);
    return rc;
}

static int make_pt(const char *path, const ptb *pkl, const unsigned char *store, size_t store_n, int pkl_method) {
    return make_pt64(path, pkl, store, store_n, pkl_method, 0);
}

static void dict_of_one(ptb *p, const char *stype, long numel, long offset, int ndim, const long *shape, const long *stride) {
    p->n = 0;
    ptb_op(p, 0x80); ptb_op(p, 2); ptb_op(p, '}'); ptb_op(p, '(');
    ptb_str(p, "w");
    ptb_tensor(p, stype, "0", numel, offset, ndim, shape, stride);
    ptb_op(p, 'u'); ptb_op(p, '.');
}

/* Malformed pickles and archives, each refused with its own message. */
static int test_pt_bad_input(void) {
    static unsigned char store[64];
    const char *path = spath("bad.pt"), *out = spath("bad.safetensors");
    long shape[2] = { 2, 3 }, stride[2] = { 3, 1 }, big[1] = { 20 }, one[1] = { 1 };
    ptb p;
    pt_file pt;
    float w[6];
    int i;
    for (i = 0; i < 64; i++) store[i] = (unsigned char)i;
    /* the well-formed base case reads */
    dict_of_one(&p, "FloatStorage", 6, 0, 2, shape, stride);
    CHECK(make_pt(path, &p, store, 24, 0) == 0 && pt_convert(path, NULL, out, NULL) == 0, "base case: %s", pt_error());
    CHECK(pt_open(&pt, path) == 0 && pt_read_f32(&pt, pt_dict_get(pt.root, "w")->tensor, w, 6) == 0 && !memcmp(w, store, 24), "base values");
    pt_close(&pt);
    /* the same as ZIP64: sizes and offsets only in the extra fields and the ZIP64 end record */
    CHECK(make_pt64(path, &p, store, 24, 0, 1) == 0, "write");
    memset(w, 0, sizeof w);
    CHECK(pt_open(&pt, path) == 0, "zip64: %s", pt_error());
    CHECK(pt.nentries == 3 && pt_read_f32(&pt, pt_dict_get(pt.root, "w")->tensor, w, 6) == 0 && !memcmp(w, store, 24), "zip64 values");
    pt_close(&pt);
#define BAD(what, needle) do { \
        CHECK(pt_open(&pt, path) == -1, "%s: opened", what); \
        CHECK(strstr(pt_error(), path) && strstr(pt_error(), needle), "%s: message '%s' lacks '%s'", what, pt_error(), needle); \
    } while (0)
    /* an unknown opcode */
    dict_of_one(&p, "FloatStorage", 6, 0, 2, shape, stride);
    p.b[p.n - 1] = 0xff; ptb_op(&p, '.');
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    BAD("unknown opcode", "unsupported pickle opcode 0xff");
    /* a tensor longer than its storage */
    dict_of_one(&p, "FloatStorage", 6, 0, 1, big, one);
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    BAD("tensor past its storage", "which has only 6 elements");
    /* an offset that pushes it out */
    dict_of_one(&p, "FloatStorage", 6, 1, 2, shape, stride);
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    BAD("offset past the storage", "reaches element 6");
    /* a storage longer than its record */
    dict_of_one(&p, "FloatStorage", 6, 0, 2, shape, stride);
    CHECK(make_pt(path, &p, store, 20, 0) == 0, "write");
    BAD("short record", "holds only 20 bytes");
    /* a compressed data.pkl */
    CHECK(make_pt(path, &p, store, 24, 8) == 0, "write");
    BAD("compressed", "compressed (method 8)");
    /* no STOP */
    p.n--;
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    BAD("no STOP", "without STOP");
    /* stack underflow: SETITEMS with one item, then an odd REDUCE */
    p.n = 0; ptb_op(&p, 0x80); ptb_op(&p, 2); ptb_op(&p, 'R'); ptb_op(&p, '.');
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    BAD("underflow", "underflow");
    /* a memo index never stored */
    p.n = 0; ptb_op(&p, 0x80); ptb_op(&p, 2); ptb_op(&p, 'h'); ptb_op(&p, 7); ptb_op(&p, '.');
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    BAD("memo", "memo index 7");
    /* MARKs nested too deep */
    p.n = 0; ptb_op(&p, 0x80); ptb_op(&p, 2); for (i = 0; i < 5000; i++) ptb_op(&p, '('); ptb_op(&p, '.');
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    BAD("marks", "MARKs deeper");
    /* an unknown storage type reads, but does not convert */
    dict_of_one(&p, "ComplexFloatStorage", 6, 0, 2, shape, stride);
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    CHECK(pt_open(&pt, path) == 0, "%s", pt_error());
    pt_close(&pt);
    CHECK(pt_convert(path, NULL, out, NULL) == -1 && strstr(pt_error(), "ComplexFloatStorage"), "%s", pt_error());
    /* one dict shared 2^40 ways: walking it must stop, not explode */
    p.n = 0; ptb_op(&p, 0x80); ptb_op(&p, 2); ptb_op(&p, '}'); ptb_op(&p, 'q'); ptb_op(&p, 0);
    for (i = 1; i <= 40; i++) {
        ptb_op(&p, '0'); ptb_op(&p, '}'); ptb_op(&p, '(');
        ptb_str(&p, "a"); ptb_op(&p, 'h'); ptb_op(&p, i - 1); ptb_str(&p, "b"); ptb_op(&p, 'h'); ptb_op(&p, i - 1);
        ptb_op(&p, 'u'); ptb_op(&p, 'q'); ptb_op(&p, i);
    }
    ptb_op(&p, '.');
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    CHECK(pt_open(&pt, path) == 0, "%s", pt_error());
    {
        const pt_named *list;
        size_t n;
        FILE *sink = fopen("/dev/null", "w");
        CHECK(pt_collect(&pt, pt.root, &list, &n, NULL) == -1 && strstr(pt_error(), "more than"), "shared dicts: %s", pt_error());
        if (sink) { pt_list(&pt, sink); fclose(sink); }
    }
    pt_close(&pt);
    /* a corrupted pickle byte: CRC */
    dict_of_one(&p, "FloatStorage", 6, 0, 2, shape, stride);
    CHECK(make_pt(path, &p, store, 24, 0) == 0, "write");
    {
        size_t n;
        unsigned char *b = read_bytes(path, &n);
        CHECK(b, "read");
        b[30 + strlen("arch/data.pkl") + 5] ^= 1;
        CHECK(write_bytes(path, b, n) == 0, "write");
        free(b);
    }
    BAD("crc", "CRC");
    /* not a zip at all, and the legacy format */
    CHECK(write_bytes(path, "hello world, not a zip file", 27) == 0, "write");
    BAD("not zip", "not a zip archive");
    CHECK(write_bytes(path, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14) == 0, "write");
    BAD("legacy", "legacy torch.save format");
    CHECK(pt_open(&pt, spath("does_not_exist.pt")) == -1 && strstr(pt_error(), "cannot open"), "%s", pt_error());
#undef BAD
    return cleanup(0);
}

/* Random byte flips of a real file: open fails cleanly or reads, never crashes. */
static int test_pt_mutations(void) {
    size_t n, i;
    unsigned char *orig = read_bytes(FIX "pt_strided.pt", &n), *b;
    const char *path = spath("mut.pt"), *out = spath("mut.safetensors");
    ig_rng r;
    int opened = 0;
    CHECK(orig, "read");
    b = (unsigned char *)malloc(n);
    CHECK(b, "oom");
    ig_rng_seed(&r, 5);
    for (i = 0; i < 400; i++) {
        int k, flips = 1 + (int)(ig_rng_u64(&r) % 4);
        memcpy(b, orig, n);
        for (k = 0; k < flips; k++) b[ig_rng_u64(&r) % n] = (unsigned char)ig_rng_u64(&r);
        if (write_bytes(path, b, n)) break;
        if (pt_convert(path, NULL, out, NULL) == 0) opened++;
        else if (!strstr(pt_error(), path)) { free(b); free(orig); CHECK(0, "error without the file name: %s", pt_error()); }
    }
    free(b); free(orig);
    CHECK(i == 400, "write failed");
    (void)opened;
    return cleanup(0);
}

/* ------------------------------------------------------------ REPA folder --- */

/* Writes a REPA folder of n samples of shape (2C, H, W) under root; sample i
   has mean = 100 i + k (k the element index) and std = stdv.  labels[i] =
   i % 3.  with_json writes dataset.json. */
static int make_repa(const char *root, int n, int C, int H, int W, float stdv) {
    FILE *f;
    int i;
    size_t shape[3], k, per = (size_t)C * H * W;
    float *buf = (float *)malloc(2 * per * sizeof(float));
    if (!buf) return -1;
    mkdir(root, 0755); mkdir(spath("repa/vae-sd"), 0755);
    mkdir(spath("repa/vae-sd/00000"), 0755);
    shape[0] = (size_t)(2 * C); shape[1] = (size_t)H; shape[2] = (size_t)W;
    for (i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "repa/vae-sd/00000/img-mean-std-%08d.npy", i);
        for (k = 0; k < per; k++) { buf[k] = (float)(100 * i) + (float)k; buf[per + k] = stdv * (float)(1 + k % 3); }
        if (npy_write(spath(name), NPY_F32, 3, shape, buf)) { free(buf); return -1; }
    }
    free(buf);
    f = fopen(spath("repa/vae-sd/dataset.json"), "w");
    if (!f) return -1;
    fprintf(f, "{\"labels\": [");
    for (i = 0; i < n; i++) fprintf(f, "%s\n  [\"00000/img-mean-std-%08d.npy\", %d]", i ? "," : "", i, i % 3);
    fprintf(f, "]}\n");
    return fclose(f);
}

/* The SD-VAE latent scale, written out here rather than taken from latents.h,
   so that a change there fails these tests: the release's SiT train.py samples
   z = (mean + std * n) * 0.18215 from the REPA posterior
   (/work/shared/docs/imagenet.md, "Training step"; the scaling_factor of the
   SD-VAE ft-EMA config is 0.18215). */
#define SD_SCALE 0.18215f

/* The permutation a data set visits in one epoch, recovered from the values. */
static int repa_epoch(lat_dataset *d, int n, int per, int *order) {
    float z[2 * 4 * 4 * 4];
    int y, i;
    for (i = 0; i < n; i++) {
        if (lat_next(d, 1, z, &y)) return -1;
        order[i] = (int)lrintf(z[0] / SD_SCALE / 100.0f);
        if (y != order[i] % 3) return -1;
        (void)per;
    }
    return 0;
}

static int test_latents_repa(void) {
    const int n = 7, C = 2, H = 3, W = 4, per = C * H * W;
    const char *root = spath("repa");
    lat_dataset d, e;
    int o1[7], o2[7], o3[7], seen[7], i, k, diff = 0;
    float z[2 * 24];
    int y[2];
    ig_rng r;
    CHECK(make_repa(root, n, C, H, W, 0.0f) == 0, "cannot write the data set");
    CHECK(lat_open_repa(&d, root, 3, 42) == 0, "%s", lat_error());
    CHECK(d.n == 7 && d.C == C && d.H == H && d.W == W, "n %lu C %d H %d W %d", (unsigned long)d.n, d.C, d.H, d.W);
    /* std = 0: z is mean * 0.18215 exactly, every sample once per epoch */
    for (i = 0; i < 2; i++) {
        CHECK(repa_epoch(&d, n, per, i ? o2 : o1) == 0, "%s", lat_error());
        memset(seen, 0, sizeof seen);
        for (k = 0; k < n; k++) { CHECK(o1[k] >= 0 && o1[k] < n, "bad sample"); seen[(i ? o2 : o1)[k]]++; }
        for (k = 0; k < n; k++) CHECK(seen[k] == 1, "epoch %d visits sample %d %d times", i, k, seen[k]);
    }
    for (k = 0; k < n; k++) diff += o1[k] != o2[k];
    CHECK(diff > 0, "two epochs in the same order");
    lat_close(&d);
    CHECK(lat_open_repa(&e, root, 3, 42) == 0 && repa_epoch(&e, n, per, o3) == 0, "%s", lat_error());
    CHECK(!memcmp(o1, o3, sizeof o1), "the same seed gave another order");
    lat_close(&e);
    CHECK(lat_open_repa(&e, root, 3, 43) == 0 && repa_epoch(&e, n, per, o3) == 0, "%s", lat_error());
    CHECK(memcmp(o1, o3, sizeof o1) != 0, "another seed gave the same order");
    lat_close(&e);
    /* every value exact, and lat_seek resumes */
    CHECK(lat_open_repa(&d, root, 3, 42) == 0 && lat_seek(&d, 1, 3) == 0 && lat_next(&d, 2, z, y) == 0, "%s", lat_error());
    for (k = 0; k < per; k++) CHECK(z[k] == (float)(100 * o2[3] + k) * SD_SCALE && z[per + k] == (float)(100 * o2[4] + k) * SD_SCALE, "value %d", k);
    lat_close(&d);
    /* std > 0: z = (mean + std n) * 0.18215 with the documented draws */
    cleanup(0);
    CHECK(make_repa(root, n, C, H, W, 0.5f) == 0, "cannot write the data set");
    CHECK(lat_open_repa(&d, root, 3, 9) == 0 && lat_next(&d, 2, z, y) == 0, "%s", lat_error());
    ig_rng_seed(&r, 9 ^ 0xD1B54A32D192ED03ull);
    for (i = 0; i < 2; i++) {
        for (k = 0; k < per; k++) {
            int id = d.perm[i];
            float want = ((float)(100 * id + k) + 0.5f * (float)(1 + k % 3) * ig_rng_normal(&r)) * SD_SCALE;
            CHECK(z[i * per + k] == want, "sample %d element %d: %g, expected %g", i, k, z[i * per + k], want);
        }
    }
    lat_close(&d);
    return cleanup(0);
}

static int write_text(const char *path, const char *text) { return write_bytes(path, text, strlen(text)); }

static int test_latents_repa_errors(void) {
    const char *root = spath("repa"), *json;
    lat_dataset d;
    float z[64];
    int y, i;
    size_t shape[3] = { 4, 4, 3 };
    static const char *const bad_json[][2] = {
        { "", "expected '{'" },
        { "{}", "no \"labels\"" },
        { "{\"labels\": []}", "empty" },
        { "{\"labels\": [[\"a.npy\", 0]], \"extra\": 1}", "unknown key \"extra\"" },
        { "{\"labels\": [[\"a.npy\", 1.5]]}", "not an integer" },
        { "{\"labels\": [[\"a.npy\", -1]]}", "negative" },
        { "{\"labels\": [[\"a.npy\", 3]]}", "out of range" },
        { "{\"labels\": [[\"../a.npy\", 0]]}", "relative path" },
        { "{\"labels\": [[\"/etc/a.npy\", 0]]}", "relative path" },
        { "{\"labels\": [[\"a.npy\" 0]]}", "expected ','" },
        { "{\"labels\": [[\"a\\q.npy\", 0]]}", "unknown escape" },
        { "{\"labels\": [[\"a\\ud800.npy\", 0]]}", "surrogate" },
        { "{\"labels\": [[\"a.npy\", 0]]} x", "text after" },
        { "{\"labels\": [[\"a.npy\", 0]", "expected" },
    };
    CHECK(make_repa(root, 3, 2, 3, 4, 0.5f) == 0, "write");
    json = spath("repa/vae-sd/dataset.json");
    for (i = 0; i < (int)(sizeof bad_json / sizeof bad_json[0]); i++) {
        CHECK(write_text(json, bad_json[i][0]) == 0, "write");
        CHECK(lat_open_repa(&d, root, 3, 1) == -1, "case %d opened", i);
        CHECK(strstr(lat_error(), "dataset.json") && strstr(lat_error(), bad_json[i][1]), "case %d: '%s' lacks '%s'", i, lat_error(), bad_json[i][1]);
    }
    /* a listed file that is missing: named when it is reached */
    CHECK(write_text(json, "{\"labels\": [[\"00000/img-mean-std-00000000.npy\", 0], [\"00000/missing.npy\", 1]]}") == 0, "write");
    CHECK(lat_open_repa(&d, root, 3, 1) == 0, "%s", lat_error());
    for (i = 0; i < 2 && lat_next(&d, 1, z, &y) == 0; i++) {}
    CHECK(i < 2 && strstr(lat_error(), "missing.npy") && strstr(lat_error(), "cannot open"), "missing file: %s", lat_error());
    lat_close(&d);
    /* a file of the wrong shape, then of the wrong dtype */
    CHECK(write_text(json, "{\"labels\": [[\"00000/img-mean-std-00000000.npy\", 0], [\"00000/odd.npy\", 1]]}") == 0, "write");
    CHECK(npy_write(spath("repa/vae-sd/00000/odd.npy"), NPY_F32, 3, shape, z) == 0, "write");
    CHECK(lat_open_repa(&d, root, 3, 1) == 0, "%s", lat_error());
    for (i = 0; i < 2 && lat_next(&d, 1, z, &y) == 0; i++) {}
    CHECK(i < 2 && strstr(lat_error(), "odd.npy") && strstr(lat_error(), "expected float32 (4, 3, 4)"), "wrong shape: %s", lat_error());
    lat_close(&d);
    shape[1] = 3; shape[2] = 4;
    {
        int32_t ints[48] = { 0 };
        CHECK(npy_write(spath("repa/vae-sd/00000/odd.npy"), NPY_I32, 3, shape, ints) == 0, "write");
    }
    CHECK(lat_open_repa(&d, root, 3, 1) == 0, "%s", lat_error());
    for (i = 0; i < 2 && lat_next(&d, 1, z, &y) == 0; i++) {}
    CHECK(i < 2 && strstr(lat_error(), "odd.npy") && strstr(lat_error(), "another dtype"), "wrong dtype: %s", lat_error());
    lat_close(&d);
    /* no dataset.json at all */
    CHECK(lat_open_repa(&d, spath("nowhere"), 3, 1) == -1 && strstr(lat_error(), "dataset.json"), "%s", lat_error());
    return cleanup(0);
}

/* ------------------------------------------------------------ shards --- */

/* Shard s of a set: ns samples of (32, 2, 2); latents of sample g (global
   index) are 1000 (g + 1) + k, latents_flip the negative; labels g % 5. */
static int make_shard(const char *name, int first, int ns, ig_dtype labels_dtype, const char *skip) {
    static float lat[8 * 128], flip[8 * 128];
    int64_t l64[8], shape[4] = { 0, 32, 2, 2 }, lshape[1];
    int32_t l32[8];
    ig_st_writer w;
    int i, k, rc;
    for (i = 0; i < ns; i++) {
        for (k = 0; k < 128; k++) { lat[i * 128 + k] = (float)(1000 * (first + i + 1) + k); flip[i * 128 + k] = -lat[i * 128 + k]; }
        l64[i] = (first + i) % 5; l32[i] = (int32_t)l64[i];
    }
    shape[0] = ns; lshape[0] = ns;
    ig_st_writer_init(&w);
    if (!skip || strcmp(skip, "latents")) ig_st_add(&w, "latents", IG_F32, 4, shape, lat);
    if (!skip || strcmp(skip, "latents_flip")) ig_st_add(&w, "latents_flip", IG_F32, 4, shape, flip);
    ig_st_add(&w, "labels", labels_dtype, 1, lshape, labels_dtype == IG_I64 ? (const void *)l64 : (const void *)l32);
    ig_st_add_meta(&w, "note", "test shard");
    rc = ig_st_writer_save(&w, spath(name));
    ig_st_writer_free(&w);
    return rc;
}

static int test_latents_shards(void) {
    lat_dataset d;
    static float z[5 * 128], mean[32], sd[32];
    int y[5], seen[5], orders[2][5], flips = 0, i, k, e;
    pt_file pt;
    ig_rng r;
    mkdir(spath("shards"), 0755);
    CHECK(make_shard("shards/latents_rank00_shard000.safetensors", 0, 3, IG_I64, NULL) == 0 &&
          make_shard("shards/latents_rank00_shard001.safetensors", 3, 1, IG_I32, NULL) == 0 &&
          make_shard("shards/latents_rank01_shard000.safetensors", 4, 1, IG_I64, NULL) == 0, "write");
    CHECK(pt_open(&pt, FIX "pt_stats.pt") == 0 && pt_read_f32(&pt, pt_dict_get(pt.root, "mean")->tensor, mean, 32) == 0 &&
          pt_read_f32(&pt, pt_dict_get(pt.root, "std")->tensor, sd, 32) == 0, "%s", pt_error());
    pt_close(&pt);
    for (e = 0; e < 2; e++) {
        CHECK(lat_open_shards(&d, spath("shards"), FIX "pt_stats.pt", 5, 7) == 0, "%s", lat_error());
        CHECK(d.n == 5 && d.nshards == 3 && d.C == 32 && d.H == 2 && d.W == 2, "n %lu shards %d", (unsigned long)d.n, d.nshards);
        CHECK(lat_next(&d, 5, z, y) == 0, "%s", lat_error());
        memset(seen, 0, sizeof seen);
        /* the flips replayed: one uniform draw per sample from the documented
           stream (seed ^ 0xD1B54A32D192ED03), latents_flip when it is below 1/2
           (the release: either copy with probability 1/2) */
        ig_rng_seed(&r, 7 ^ 0xD1B54A32D192ED03ull);
        for (i = 0; i < 5; i++) {
            /* undo the normalization to find which sample and which copy it is */
            float x0 = z[i * 128] * sd[0] + mean[0];
            int g = (int)lrintf(fabsf(x0) / 1000.0f) - 1, flip = x0 < 0;
            CHECK(g >= 0 && g < 5 && y[i] == g % 5, "sample %d: g %d label %d", i, g, y[i]);
            CHECK(flip == (ig_rng_uniform(&r) < 0.5f), "sample %d: %s, the draw says otherwise", i, flip ? "flipped" : "not flipped");
            seen[g]++;
            flips += flip;
            orders[e][i] = g * 2 + flip;
            for (k = 0; k < 128; k++) {
                float x = (float)(1000 * (g + 1) + k) * (flip ? -1.0f : 1.0f);
                CHECK(z[i * 128 + k] == (x - mean[k / 4]) / sd[k / 4], "sample %d element %d", i, k);
            }
        }
        for (i = 0; i < 5; i++) CHECK(seen[i] == 1, "sample %d seen %d times", i, seen[i]);
        lat_close(&d);
    }
    CHECK(!memcmp(orders[0], orders[1], sizeof orders[0]), "same seed, another order or other flips");
    CHECK(flips > 0 && flips < 10, "flips %d of 10", flips);
    /* a pt2st-converted stats file works the same */
    CHECK(pt_convert(FIX "pt_stats.pt", NULL, spath("stats.safetensors"), NULL) == 0, "%s", pt_error());
    CHECK(lat_open_shards(&d, spath("shards"), spath("stats.safetensors"), 5, 7) == 0 && lat_next(&d, 5, z + 0, y) == 0, "%s", lat_error());
    for (i = 0; i < 5; i++) {
        float x0 = z[i * 128] * sd[0] + mean[0];
        CHECK((lrintf(fabsf(x0) / 1000.0f) - 1) * 2 + (x0 < 0) == orders[0][i], "safetensors stats gave other samples");
    }
    lat_close(&d);
    /* errors: a label out of range, a missing tensor, no shards, bad stats */
    CHECK(lat_open_shards(&d, spath("shards"), FIX "pt_stats.pt", 4, 7) == -1 && strstr(lat_error(), "rank01_shard000") &&
          strstr(lat_error(), "label 4 of sample 0") , "label: %s", lat_error());
    CHECK(make_shard("shards/latents_rank00_shard001.safetensors", 3, 1, IG_I64, "latents_flip") == 0, "write");
    CHECK(lat_open_shards(&d, spath("shards"), FIX "pt_stats.pt", 5, 7) == -1 && strstr(lat_error(), "shard001") &&
          strstr(lat_error(), "latents_flip"), "missing tensor: %s", lat_error());
    CHECK(lat_open_shards(&d, spath("nowhere"), FIX "pt_stats.pt", 5, 7) == -1 && strstr(lat_error(), "no latents_rank00_shard000"), "%s", lat_error());
    CHECK(make_shard("shards/latents_rank00_shard001.safetensors", 3, 1, IG_I64, NULL) == 0, "write");
    CHECK(lat_open_shards(&d, spath("shards"), FIX "pt_shared.pt", 5, 7) == -1 && strstr(lat_error(), "pt_shared.pt") &&
          strstr(lat_error(), "'mean'"), "bad stats: %s", lat_error());
    return cleanup(0);
}

/* Half-precision shards: latents and latents_flip stored as F16, then as BF16,
   two samples of (2, 1, 2), read back through lat_next with mean 0 and std 1
   (so z is the stored value).  The expected floats are the IEEE 754 values of
   the bit patterns, written out (binary16: 0x3C00 = 1, 0x3555 = 0.333251953125,
   0x0001 = 2^-24, 0x03FF = 1023 * 2^-24, 0x0400 = 2^-14, 0x7BFF = 65504;
   bfloat16 = the top half of a binary32: 0x4049 = 3.140625, 0xC2F7 = -123.5,
   0x0001 = 2^-133), not converted by the reader's own code. */
static int test_latents_shards_half(void) {
    static const uint16_t f16[2][2][4] = {          /* [sample][latents, latents_flip][element] */
        { { 0x3C00, 0xC000, 0x3555, 0x0001 }, { 0x4400, 0xB800, 0x0400, 0x8001 } },
        { { 0x7BFF, 0x03FF, 0x3800, 0xFBFF }, { 0x4248, 0x0000, 0x3E00, 0xC500 } } };
    static const float f16_val[2][2][4] = {
        { { 1.0f, -2.0f, 0.333251953125f, 0x1p-24f }, { 4.0f, -0.5f, 0x1p-14f, -0x1p-24f } },
        { { 65504.0f, 1023 * 0x1p-24f, 0.5f, -65504.0f }, { 3.140625f, 0.0f, 1.5f, -5.0f } } };
    static const uint16_t bf16[2][2][4] = {
        { { 0x3F80, 0x4049, 0xC2F7, 0x0001 }, { 0x3F00, 0xBF80, 0x4120, 0x0080 } },
        { { 0x7F7F, 0x4780, 0x3E80, 0xC000 }, { 0x3DCC, 0x8000, 0x4B00, 0x4300 } } };
    static const float bf16_val[2][2][4] = {
        { { 1.0f, 3.140625f, -123.5f, 0x1p-133f }, { 0.5f, -1.0f, 10.0f, 0x1p-126f } },
        { { 0x1.FEp127f, 65536.0f, 0.25f, -2.0f }, { 0.099609375f, -0.0f, 8388608.0f, 128.0f } } };
    const float zero[2] = { 0, 0 }, one[2] = { 1, 1 };
    int64_t shape[4] = { 2, 2, 1, 2 }, lshape[1] = { 2 }, sshape[1] = { 2 }, labels[2] = { 0, 1 };
    uint16_t lat[8], flip[8];
    float z[8];
    int y[2], pass, i, k;
    mkdir(spath("half"), 0755);
    for (pass = 0; pass < 2; pass++) {
        const uint16_t (*bits)[2][4] = pass ? bf16 : f16;
        const float (*val)[2][4] = pass ? bf16_val : f16_val;
        ig_st_writer w;
        lat_dataset d;
        ig_rng r;
        int rc;
        for (i = 0; i < 2; i++) for (k = 0; k < 4; k++) { lat[i * 4 + k] = bits[i][0][k]; flip[i * 4 + k] = bits[i][1][k]; }
        ig_st_writer_init(&w);
        rc = ig_st_add(&w, "latents", pass ? IG_BF16 : IG_F16, 4, shape, lat) ||
             ig_st_add(&w, "latents_flip", pass ? IG_BF16 : IG_F16, 4, shape, flip) ||
             ig_st_add(&w, "labels", IG_I64, 1, lshape, labels) ||
             ig_st_writer_save(&w, spath("half/latents_rank00_shard000.safetensors"));
        ig_st_writer_free(&w);
        ig_st_writer_init(&w);
        rc = rc || ig_st_add(&w, "mean", IG_F32, 1, sshape, zero) || ig_st_add(&w, "std", IG_F32, 1, sshape, one) ||
             ig_st_writer_save(&w, spath("half_stats.safetensors"));
        ig_st_writer_free(&w);
        CHECK(rc == 0, "write: %s", ig_last_error());
        CHECK(lat_open_shards(&d, spath("half"), spath("half_stats.safetensors"), 2, 11) == 0, "%s", lat_error());
        ig_rng_seed(&r, 11 ^ 0xD1B54A32D192ED03ull);       /* the flips, as in latents_shards */
        for (k = 0; k < 6; k++) {                          /* three epochs: both copies show up */
            int id, fl;
            if (lat_next(&d, 1, z, y)) { lat_close(&d); CHECK(0, "%s", lat_error()); }
            id = (int)d.perm[d.pos - 1];
            fl = ig_rng_uniform(&r) < 0.5f;
            for (i = 0; i < 4; i++)
                if (memcmp(&z[i], &val[id][fl][i], 4)) {
                    lat_close(&d);
                    CHECK(0, "%s sample %d (%s) element %d: %a, expected %a", pass ? "BF16" : "F16", id,
                          fl ? "latents_flip" : "latents", i, (double)z[i], (double)val[id][fl][i]);
                }
            if (y[0] != id) { lat_close(&d); CHECK(0, "label %d for sample %d", y[0], id); }
        }
        lat_close(&d);
    }
    return cleanup(0);
}

/* pt_read_f32 on hand-made .pt files of each float storage type, against the
   IEEE 754 values of their bits written out: F16 (0x3C00 = 1, 0x0001 = 2^-24,
   0x03FF = 1023 * 2^-24, 0x7BFF = 65504, 0xFC00 = -inf), BF16 (0x4049 =
   3.140625, 0xC2F7 = -123.5), F64 (exact in float); and a strided F16 view with
   a storage offset, element (i, j) = storage[offset + i * stride0 + j * stride1]
   as PyTorch's _rebuild_tensor_v2 defines it. */
static int test_pt_read_f32_dtypes(void) {
    static const uint16_t h[8] = { 0x3C00, 0xC000, 0x3555, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0xFC00 };
    static const float hv[8] = { 1.0f, -2.0f, 0.333251953125f, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, 65504.0f, -INFINITY };
    static const uint16_t b[4] = { 0x3F80, 0x4049, 0xC2F7, 0x0001 };
    static const float bv[4] = { 1.0f, 3.140625f, -123.5f, 0x1p-133f };
    static const double dbl[3] = { 0.1, -1e30, 3.0 };
    static const float dv[3] = { 0.1f, -1e30f, 3.0f };
    /* storage 0..6 (F16), the tensor offset 1, shape (3, 2), stride (1, 3):
       (i, j) = storage[1 + i + 3 j] */
    static const int strided_at[6] = { 1, 4, 2, 5, 3, 6 };
    const char *path = spath("dtype.pt");
    long n8[1] = { 8 }, n4[1] = { 4 }, n3[1] = { 3 }, one[1] = { 1 }, shape[2] = { 3, 2 }, stride[2] = { 1, 3 };
    float out[8];
    ptb p;
    pt_file pt;
    int i;
#define READ_AS(stype, bytes, nbytes, count, ndim, shp, strd, off) do { \
        dict_of_one(&p, stype, (count), (off), (ndim), (shp), (strd)); \
        CHECK(make_pt(path, &p, (const unsigned char *)(bytes), (nbytes), 0) == 0, "write"); \
        CHECK(pt_open(&pt, path) == 0, "%s", pt_error()); \
    } while (0)
    READ_AS("HalfStorage", h, sizeof h, 8, 1, n8, one, 0);
    i = pt_read_f32(&pt, pt_dict_get(pt.root, "w")->tensor, out, 8);
    pt_close(&pt);
    CHECK(i == 0, "%s", pt_error());
    for (i = 0; i < 8; i++) CHECK(memcmp(&out[i], &hv[i], 4) == 0, "F16 0x%04x: %a, expected %a", h[i], (double)out[i], (double)hv[i]);
    READ_AS("BFloat16Storage", b, sizeof b, 4, 1, n4, one, 0);
    i = pt_read_f32(&pt, pt_dict_get(pt.root, "w")->tensor, out, 4);
    pt_close(&pt);
    CHECK(i == 0, "%s", pt_error());
    for (i = 0; i < 4; i++) CHECK(memcmp(&out[i], &bv[i], 4) == 0, "BF16 0x%04x: %a, expected %a", b[i], (double)out[i], (double)bv[i]);
    READ_AS("DoubleStorage", dbl, sizeof dbl, 3, 1, n3, one, 0);
    i = pt_read_f32(&pt, pt_dict_get(pt.root, "w")->tensor, out, 3);
    pt_close(&pt);
    CHECK(i == 0, "%s", pt_error());
    for (i = 0; i < 3; i++) CHECK(out[i] == dv[i], "F64 %g: %g", dbl[i], (double)out[i]);
    READ_AS("HalfStorage", h, 14, 7, 2, shape, stride, 1);
    i = pt_read_f32(&pt, pt_dict_get(pt.root, "w")->tensor, out, 6);
    pt_close(&pt);
    CHECK(i == 0, "%s", pt_error());
    for (i = 0; i < 6; i++)
        CHECK(memcmp(&out[i], &hv[strided_at[i]], 4) == 0, "strided F16 element %d: %a, expected storage[%d] = %a", i,
              (double)out[i], strided_at[i], (double)hv[strided_at[i]]);
#undef READ_AS
    return cleanup(0);
}

/* Every test runs through a wrapper that removes its scratch files, pass or fail. */
static int run_pt_ckpt_parity(void) { return cleanup(test_pt_ckpt_parity()); }
static int run_pt_f16_parity(void) { return cleanup(test_pt_f16_parity()); }
static int run_pt_views(void) { return cleanup(test_pt_views()); }
static int run_pt_select(void) { return cleanup(test_pt_select()); }

/* npy.h's reader on a file it wrote, then on truncated and corrupted copies:
   each a clear error naming the file, never a crash. */
static int test_npy_reader_bad_input(void) {
    const char *good = "/tmp/ig_test_npy_good.npy", *bad = "/tmp/ig_test_npy_bad.npy";
    float x[6] = { 1, 2, 3, 4, 5, 6 };
    size_t shape[2] = { 2, 3 };
    unsigned char buf[256];
    size_t len, cut;
    npy_array a;
    FILE *f;
    static const struct { size_t at; unsigned char byte; const char *why; } flips[] = {
        { 0, 'X', "magic" }, { 6, 9, "version" }, { 8, 0xff, "header length" },
        { 12, 'x', "header key" }, { 21, '8', "dtype" }, { 61, '9', "shape vs file size" },
    };
    int i;
    CHECK(npy_write(good, NPY_F32, 2, shape, x) == 0, "npy_write failed");
    CHECK(npy_read(good, &a) == 0 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 &&
          ((float *)a.data)[5] == 6.0f, "round trip: %s", npy_error());
    npy_free(&a);
    f = fopen(good, "rb");
    CHECK(f != NULL, "reopen");
    len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (cut = 0; cut < len; cut += 7) {          /* every truncation is an error */
        f = fopen(bad, "wb"); fwrite(buf, 1, cut, f); fclose(f);
        CHECK(npy_read(bad, &a) != 0 && strstr(npy_error(), bad), "truncated at %zu bytes: '%s'", cut, npy_error());
    }
    for (i = 0; i < (int)(sizeof flips / sizeof flips[0]); i++) {
        unsigned char c[256];
        memcpy(c, buf, len);
        c[flips[i].at] = flips[i].byte;
        f = fopen(bad, "wb"); fwrite(c, 1, len, f); fclose(f);
        CHECK(npy_read(bad, &a) != 0 && strstr(npy_error(), bad), "corrupted %s: '%s'", flips[i].why, npy_error());
    }
    remove(good); remove(bad);
    return 0;
}

static int run_pt_truncated(void) { return cleanup(test_pt_truncated()); }
static int run_pt_bad_input(void) { return cleanup(test_pt_bad_input()); }
static int run_pt_mutations(void) { return cleanup(test_pt_mutations()); }
static int run_latents_repa(void) { return cleanup(test_latents_repa()); }
static int run_latents_repa_errors(void) { return cleanup(test_latents_repa_errors()); }
static int run_latents_shards(void) { return cleanup(test_latents_shards()); }
static int run_latents_shards_half(void) { return cleanup(test_latents_shards_half()); }
static int run_pt_read_f32_dtypes(void) { return cleanup(test_pt_read_f32_dtypes()); }

const test_case pt_tests[] = {
    { "pt_ckpt_parity", run_pt_ckpt_parity },
    { "pt_f16_parity", run_pt_f16_parity },
    { "pt_views_shared_stats", run_pt_views },
    { "pt_select_keys", run_pt_select },
    { "pt_truncated", run_pt_truncated },
    { "pt_bad_input", run_pt_bad_input },
    { "pt_mutations", run_pt_mutations },
    { "latents_repa", run_latents_repa },
    { "latents_repa_errors", run_latents_repa_errors },
    { "latents_shards", run_latents_shards },
    { "latents_shards_half", run_latents_shards_half },
    { "pt_read_f32_dtypes", run_pt_read_f32_dtypes },
    { "npy_reader_bad_input", test_npy_reader_bad_input },
};
const int pt_ntests = (int)(sizeof pt_tests / sizeof pt_tests[0]);
