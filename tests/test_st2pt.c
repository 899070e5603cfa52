/* test_st2pt.c - tools/st2pt.c, called as st2pt_main(): an ig.h checkpoint to a
   PyTorch .pt file and back through examples/pt.h (the reader pt2st uses).

   The model is tests/small.h's small SiT with a training state whose EMA and
   raw weights differ; the .pt must give back the raw weights as 'model' and the
   EMA as 'ema', bit for bit, with the release's names and shapes, 'args' and
   'steps'; with and without forced ZIP64 records.  A weights-only file fills
   both sets.  Bad input (a missing file, a file that is not a checkpoint, an
   unwritable destination) exits 1 with the file's name and leaves an existing
   output untouched.  (That PyTorch itself loads the file, weights_only=True,
   strictly into the reference model and with the same forward, is
   tools/check_st2pt.sh: it needs python3-torch, which the tests do not.)
   IG_IMPLEMENTATION is defined by another test file. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, dup2 */
#define IG_ST2PT_NO_MAIN
#include "../tools/st2pt.c"
#include "../examples/pt.h"
#include "test.h"
#include "capture.h"
#include "small.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* st2pt IN OUT [flag]; stderr into msg. */
static int s2p_run(const char *in, const char *out, const char *flag, char *msg, size_t cap) {
    char *argv[5];
    int argc = 0;
    argv[argc++] = (char *)"st2pt"; argv[argc++] = (char *)in; argv[argc++] = (char *)out;
    if (flag) argv[argc++] = (char *)flag;
    argv[argc] = NULL;
    return capture_output(2, st2pt_main, argc, argv, msg, cap);
}

/* Every tensor of pt's key (model or ema) equals m's array base, bit for bit,
   under m's parameter names and shapes, in m's order. */
static int s2p_same(pt_file *pt, const char *key, const ig_model *m, const float *base) {
    const char *chosen;
    const pt_value *sd = pt_select(pt, key, &chosen);
    const pt_named *list;
    size_t n = 0, skipped = 0, i;
    int k;
    float *buf;
    CHECK(sd != NULL, "no '%s': %s", key, pt_error());
    CHECK(pt_collect(pt, sd, &list, &n, &skipped) == 0, "%s", pt_error());
    CHECK(n == (size_t)m->nparams && skipped == 0, "'%s' has %zu tensors (%zu skipped), want %d", key, n, skipped,
          m->nparams);
    for (i = 0; i < n; i++) {
        const ig_param *p = &m->params[i];
        const pt_tensor *t = list[i].tensor;
        CHECK(!strcmp(list[i].name, p->name), "'%s' tensor %zu is %s, want %s", key, i, list[i].name, p->name);
        CHECK(t->storage->dtype == PT_F32 && t->ndim == p->t->ndim && t->numel == p->t->n, "%s.%s: dtype or shape", key, p->name);
        for (k = 0; k < t->ndim; k++) CHECK(t->shape[k] == p->t->shape[k], "%s.%s: dim %d", key, p->name, k);
        buf = (float *)malloc(p->t->n * sizeof(float));
        CHECK(buf != NULL, "out of memory");
        if (pt_read_f32(pt, t, buf, p->t->n)) { free(buf); CHECK(0, "%s", pt_error()); }
        k = memcmp(buf, base + p->offset, p->t->n * sizeof(float));
        free(buf);
        CHECK(k == 0, "%s.%s: the values differ from the checkpoint's", key, p->name);
    }
    return 0;
}

static int test_st2pt_round_trip(void) {
    char dir[] = "/tmp/test_st2pt_XXXXXX", ck[96], out[96], ew[96], msg[2048];
    ig_config cfg = small_config();
    ig_model m;
    pt_file pt;
    const pt_value *args;
    size_t i;
    int z;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
    snprintf(ew, sizeof ew, "%s/ema.safetensors", dir);
    snprintf(out, sizeof out, "%s/ck.pt", dir);
    CHECK(ig_model_init(&m, &cfg, 1, 5) == 0, "%s", ig_last_error());
    for (z = 0; z < m.nparams; z++)       /* an EMA apart from the weights (pos_embed is fixed: no EMA) */
        for (i = 0; m.params[z].trainable && i < m.params[z].t->n; i++) {
            size_t j = m.params[z].offset + i;
            m.ema[j] = 0.5f * m.weights[j] + 0.001f * (float)(j % 7);
        }
    m.step = 123;
    CHECK(ig_save(&m, ck, 1) == 0 && ig_save_ema(&m, ew) == 0, "%s", ig_last_error());
    for (z = 0; z < 2; z++) {
        CHECK(s2p_run(ck, out, z ? "--zip64" : NULL, msg, sizeof msg) == 0, "st2pt failed: %s", msg);
        CHECK(pt_open(&pt, out) == 0, "%s", pt_error());
        if (s2p_same(&pt, "model", &m, m.weights) || s2p_same(&pt, "ema", &m, m.ema)) { pt_close(&pt); return 1; }
        args = pt_dict_get(pt.root, "args");
        CHECK(args && args->kind == PT_DICT, "no 'args' dict");
        CHECK(pt_dict_get(args, "encoder_depth") && pt_dict_get(args, "encoder_depth")->i == cfg.aux_depth, "encoder_depth");
        CHECK(pt_dict_get(args, "num_classes") && pt_dict_get(args, "num_classes")->i == cfg.num_classes, "num_classes");
        CHECK(pt_dict_get(args, "num_heads") && pt_dict_get(args, "num_heads")->i == cfg.num_heads, "num_heads");
        CHECK(pt_dict_get(args, "t_scale") && !strcmp(pt_dict_get(args, "t_scale")->s, "1"), "t_scale");
        CHECK(pt_dict_get(args, "model") && !strcmp(pt_dict_get(args, "model")->s, "custom"), "model name");
        CHECK(pt_dict_get(pt.root, "steps") && pt_dict_get(pt.root, "steps")->i == 123, "steps");
        pt_close(&pt);
    }
    /* a weights-only file: its one set of weights in both */
    CHECK(s2p_run(ew, out, NULL, msg, sizeof msg) == 0, "st2pt failed: %s", msg);
    CHECK(pt_open(&pt, out) == 0, "%s", pt_error());
    if (s2p_same(&pt, "model", &m, m.ema) || s2p_same(&pt, "ema", &m, m.ema)) { pt_close(&pt); return 1; }
    pt_close(&pt);
    ig_model_free(&m);
    remove(ck); remove(ew); remove(out); rmdir(dir);
    return 0;
}

/* Bad input: exit 1, a message naming the file, and an existing output untouched. */
static int test_st2pt_bad_input(void) {
    char dir[] = "/tmp/test_st2pt_XXXXXX", out[96], junk[96], bad_out[128], msg[2048], back[16];
    FILE *f;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(out, sizeof out, "%s/keep.pt", dir);
    snprintf(junk, sizeof junk, "%s/junk.safetensors", dir);
    snprintf(bad_out, sizeof bad_out, "%s/no/such/dir/x.pt", dir);
    f = fopen(out, "wb"); CHECK(f && fputs("precious", f) >= 0 && fclose(f) == 0, "cannot write %s", out);
    f = fopen(junk, "wb"); CHECK(f && fputs("not a safetensors file at all", f) >= 0 && fclose(f) == 0, "write");
    CHECK(s2p_run("/nonexistent/in.safetensors", out, NULL, msg, sizeof msg) == 1, "missing input: %s", msg);
    CHECK(strstr(msg, "/nonexistent/in.safetensors") != NULL, "the message does not name the file: %s", msg);
    CHECK(s2p_run(junk, out, NULL, msg, sizeof msg) == 1, "junk input accepted");
    CHECK(strstr(msg, junk) != NULL, "the message does not name the file: %s", msg);
    CHECK(s2p_run("tests/fixtures/point.safetensors", out, NULL, msg, sizeof msg) == 1, "fixture with inputs accepted");
    CHECK(strstr(msg, "input.x") != NULL, "the message does not name the stray tensor: %s", msg);
    CHECK(s2p_run("tests/fixtures/point.safetensors", out, "--bogus", msg, sizeof msg) == 2, "unknown flag accepted");
    f = fopen(out, "rb"); CHECK(f && fgets(back, sizeof back, f), "cannot read %s", out); fclose(f);
    CHECK(!strcmp(back, "precious"), "a failed run changed the existing output");
    {   /* an unwritable destination: a weights file that loads, a directory that does not exist */
        ig_config cfg = small_config();
        ig_model m;
        char ck[96];
        snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);
        CHECK(ig_model_init(&m, &cfg, 0, 1) == 0 && ig_save(&m, ck, 0) == 0, "%s", ig_last_error());
        ig_model_free(&m);
        CHECK(s2p_run(ck, bad_out, NULL, msg, sizeof msg) == 1, "unwritable destination accepted");
        CHECK(strstr(msg, "no/such/dir") != NULL, "the message does not name the destination: %s", msg);
        remove(ck);
    }
    remove(out); remove(junk); rmdir(dir);
    return 0;
}

const test_case st2pt_tests[] = {
    { "st2pt_round_trip", test_st2pt_round_trip },
    { "st2pt_bad_input", test_st2pt_bad_input },
};
const int st2pt_ntests = sizeof st2pt_tests / sizeof st2pt_tests[0];
