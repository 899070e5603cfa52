/* st2pt - an ig.h checkpoint (safetensors) back to a PyTorch .pt file, the way
   the official multi-GPU code saves and reads them.  libc only.

   build/st2pt IN.safetensors OUT.pt [--heads N] [--aux-depth K] [--zip64]

   OUT is what torch.save({'model': ..., 'ema': ..., 'args': ..., 'steps': ...})
   writes: a zip archive of stored (uncompressed) records
       archive/data.pkl      the pickled dict (protocol 2)
       archive/data/<i>      one float32 little-endian storage per tensor
       archive/byteorder     "little"
       archive/version       "3"
   so torch.load(OUT, map_location='cpu') reads it, and so does
   torch.load(..., weights_only=True): the pickle uses only the globals the
   weights-only unpickler allows (collections.OrderedDict,
   torch._utils._rebuild_tensor_v2, torch.FloatStorage) and plain dicts,
   strings, ints and floats.  The release's SiT and LightningDiT classes then
   take load_state_dict(ckpt['ema'], strict=True): the names are theirs.

   What goes in:
     'model'  the weights (F32; an F16/BF16 file is widened)
     'ema'    the EMA weights of a training checkpoint (ig_save with the training
              state); a weights-only file (ig_save_ema, fmnist's export) has one set
              of weights, which then fills both 'model' and 'ema'
     'args'   a plain dict (the release pickles an argparse.Namespace, which the
              weights-only unpickler refuses): model ("SiT-XL/2" or
              "LightningDiT-XL/1" when the sizes are a paper preset, else
              "custom"), encoder_depth (the block the aux head follows: the
              release's name for ig.h's aux_depth), num_classes, resolution
              (pixels: 8 x the latent side for 4 latent channels, 16 x for 32,
              else the input side), and ig.h's own fields: input_size,
              in_channels, patch_size, hidden_size, depth, num_heads, t_scale,
              arch ("sit" or "lightningdit"); t_scale as a string ("1000"), since
              PyTorch 1.13's weights-only unpickler reads no floats
     'steps'  the optimizer steps taken (0 for a weights-only file)
   The AdamW moments are not written: the release's optimizer state is keyed by
   parameter order and the whole torch.optim state format, which a resumed
   PyTorch run rebuilds from the weights.

   The zip is examples/zipw.h's: records 64-byte aligned, as torch.save aligns
   them; ZIP64 records when an offset passes 4 GiB (an XL model's two weight
   sets do) or always with --zip64 (for testing); written to OUT.<pid>.tmp,
   flushed and fsynced, then renamed over OUT; on any failure OUT is untouched.
   Read it back with build/pt2st OUT.pt X.safetensors --key ema (or model).

   Compile with IG_ST2PT_NO_MAIN to call st2pt_main() from another program (the
   tests do); IG_IMPLEMENTATION must then come from another file. */
#ifndef IG_ST2PT_NO_MAIN
#define _POSIX_C_SOURCE 200809L /* before any #include: fsync, getpid */
#define IG_IMPLEMENTATION
#endif
#include "../ig.h"
#include "../examples/cli.h"
#include "../examples/zipw.h"
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

/* This file's errors: sp_fail() keeps the message, sp_error() gives it. */
static char sp__err[1024];
static int sp_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sp__err, sizeof sp__err, fmt, ap);
    va_end(ap);
    return -1;
}

static int usage(void) {
    fprintf(stderr, "usage: st2pt IN.safetensors OUT.pt [--heads N] [--aux-depth K] [--zip64]\n");
    return 2;
}

/* ------------------------------------------------------------------------- */
/* a growable byte buffer (the pickle) and little-endian writers             */
/* ------------------------------------------------------------------------- */

typedef struct { unsigned char *p; size_t n, cap; int oom; } sp_buf;

static void sp_put(sp_buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        unsigned char *q;
        while (cap < b->n + n) cap *= 2;
        if (!(q = (unsigned char *)realloc(b->p, cap))) { b->oom = 1; return; }
        b->p = q; b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void sp_byte(sp_buf *b, unsigned v) { unsigned char c = (unsigned char)v; sp_put(b, &c, 1); }
static void sp_le(sp_buf *b, uint64_t v, int nbytes) {
    int i;
    for (i = 0; i < nbytes; i++) sp_byte(b, (unsigned)(v >> (8 * i)) & 0xffu);
}

/* ------------------------------------------------------------------------- */
/* pickle protocol 2: the few opcodes torch.save's output needs              */
/* ------------------------------------------------------------------------- */

enum { PK_MARK = '(', PK_STOP = '.', PK_BININT = 'J', PK_BINUNICODE = 'X', PK_GLOBAL = 'c',
       PK_EMPTY_DICT = '}', PK_EMPTY_TUPLE = ')', PK_TUPLE = 't', PK_REDUCE = 'R', PK_SETITEMS = 'u',
       PK_BINPERSID = 'Q', PK_PROTO = 0x80, PK_NEWFALSE = 0x89, PK_LONG1 = 0x8a };

static void pk_str(sp_buf *b, const char *s) {
    sp_byte(b, PK_BINUNICODE);
    sp_le(b, (uint64_t)strlen(s), 4);
    sp_put(b, s, strlen(s));
}
static void pk_int(sp_buf *b, int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) { sp_byte(b, PK_BININT); sp_le(b, (uint64_t)v, 4); }
    else { sp_byte(b, PK_LONG1); sp_byte(b, 8); sp_le(b, (uint64_t)v, 8); }  /* two's complement */
}
static void pk_global(sp_buf *b, const char *module, const char *name) {
    sp_byte(b, PK_GLOBAL);
    sp_put(b, module, strlen(module)); sp_byte(b, '\n');
    sp_put(b, name, strlen(name)); sp_byte(b, '\n');
}
static void pk_ordered_dict(sp_buf *b) {       /* collections.OrderedDict() */
    pk_global(b, "collections", "OrderedDict");
    sp_byte(b, PK_EMPTY_TUPLE);
    sp_byte(b, PK_REDUCE);
}
static void pk_int_tuple(sp_buf *b, int n, const int64_t *v) {
    int i;
    if (n == 0) { sp_byte(b, PK_EMPTY_TUPLE); return; }
    sp_byte(b, PK_MARK);
    for (i = 0; i < n; i++) pk_int(b, v[i]);
    sp_byte(b, PK_TUPLE);
}

/* torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())
   with storage the persistent id ('storage', torch.FloatStorage, key, 'cpu', numel). */
static void pk_tensor(sp_buf *b, const char *key, int ndim, const int64_t *shape) {
    int64_t stride[IG_ST_MAX_DIMS], numel = 1;
    int i;
    for (i = ndim - 1; i >= 0; i--) { stride[i] = numel; numel *= shape[i]; }
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    sp_byte(b, PK_MARK);
    sp_byte(b, PK_MARK);
    pk_str(b, "storage");
    pk_global(b, "torch", "FloatStorage");
    pk_str(b, key);
    pk_str(b, "cpu");
    pk_int(b, numel);
    sp_byte(b, PK_TUPLE);
    sp_byte(b, PK_BINPERSID);
    pk_int(b, 0);                                /* storage offset */
    pk_int_tuple(b, ndim, shape);
    pk_int_tuple(b, ndim, stride);
    sp_byte(b, PK_NEWFALSE);                     /* requires_grad */
    pk_ordered_dict(b);                          /* backward hooks */
    sp_byte(b, PK_TUPLE);
    sp_byte(b, PK_REDUCE);
}

/* ------------------------------------------------------------------------- */
/* the checkpoint                                                            */
/* ------------------------------------------------------------------------- */

/* The paper's preset name for these sizes, or "custom". */
static void sp_model_name(const ig_config *c, char *out, size_t cap) {
    static const struct { const char *name; int D, L, heads; } sizes[] = {
        { "S", 384, 12, 6 }, { "B", 768, 12, 12 }, { "L", 1024, 24, 16 }, { "XL", 1152, 28, 16 } };
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (c->hidden_size == sizes[i].D && c->depth == sizes[i].L && c->num_heads == sizes[i].heads) {
            snprintf(out, cap, "%s-%s/%d", c->arch == IG_ARCH_LIGHTNING ? "LightningDiT" : "SiT", sizes[i].name,
                     c->patch_size);
            return;
        }
    snprintf(out, cap, "custom");
}

/* The pickled dict: 'model' and 'ema' state dicts (storage keys 0..2P-1 in
   that order), 'args', 'steps'. */
static void sp_pickle(sp_buf *b, const ig_model *m) {
    const ig_config *c = &m->cfg;
    char name[64], key[32];
    int set, i, side = c->image_height;
    int64_t shape[IG_ST_MAX_DIMS];
    sp_byte(b, PK_PROTO); sp_byte(b, 2);
    sp_byte(b, PK_EMPTY_DICT);
    sp_byte(b, PK_MARK);
    for (set = 0; set < 2; set++) {
        pk_str(b, set ? "ema" : "model");
        pk_ordered_dict(b);
        sp_byte(b, PK_MARK);
        for (i = 0; i < m->nparams; i++) {
            const ig_tensor *t = m->params[i].t;
            int k;
            for (k = 0; k < t->ndim; k++) shape[k] = (int64_t)t->shape[k];
            snprintf(key, sizeof key, "%d", set * m->nparams + i);
            pk_str(b, m->params[i].name);
            pk_tensor(b, key, t->ndim, shape);
        }
        sp_byte(b, PK_SETITEMS);
    }
    pk_str(b, "args");
    sp_byte(b, PK_EMPTY_DICT);
    sp_byte(b, PK_MARK);
    sp_model_name(c, name, sizeof name);
    pk_str(b, "model"); pk_str(b, name);
    pk_str(b, "encoder_depth"); pk_int(b, c->aux_depth);
    pk_str(b, "num_classes"); pk_int(b, c->num_classes);
    pk_str(b, "resolution"); pk_int(b, c->in_channels == 4 ? 8 * side : c->in_channels == 32 ? 16 * side : side);
    pk_str(b, "input_size"); pk_int(b, side);
    pk_str(b, "in_channels"); pk_int(b, c->in_channels);
    pk_str(b, "patch_size"); pk_int(b, c->patch_size);
    pk_str(b, "hidden_size"); pk_int(b, c->hidden_size);
    pk_str(b, "depth"); pk_int(b, c->depth);
    pk_str(b, "num_heads"); pk_int(b, c->num_heads);
    snprintf(name, sizeof name, "%.9g", (double)c->t_scale);   /* a string: PyTorch 1.13's weights-only */
    pk_str(b, "t_scale"); pk_str(b, name);                       /* unpickler has no BINFLOAT */
    pk_str(b, "arch"); pk_str(b, c->arch == IG_ARCH_LIGHTNING ? "lightningdit" : "sit");
    sp_byte(b, PK_SETITEMS);
    pk_str(b, "steps"); pk_int(b, m->step);
    sp_byte(b, PK_SETITEMS);
    sp_byte(b, PK_STOP);
}

/* Writes m as OUT (atomically: examples/zipw.h writes a temporary file, fsyncs
   it and renames it over OUT). */
static int sp_save(const ig_model *m, const char *out, int zip64_always) {
    char rec[64];
    sp_buf pk = { 0, 0, 0, 0 };
    zipw z;
    int set, i;
    sp_pickle(&pk, m);
    if (pk.oom) { free(pk.p); return sp_fail("%s: out of memory", out); }
    if (zipw_open(&z, out)) { free(pk.p); return sp_fail("%s", zipw_error()); }
    z.zip64_always = zip64_always;
    if (zipw_add(&z, "archive/data.pkl", pk.p, pk.n, NULL, 0) || zipw_add(&z, "archive/byteorder", "little", 6, NULL, 0))
        goto fail;
    for (set = 0; set < 2; set++)
        for (i = 0; i < m->nparams; i++) {
            const ig_param *p = &m->params[i];
            const float *base = set ? m->ema : m->weights;
            snprintf(rec, sizeof rec, "archive/data/%d", set * m->nparams + i);
            if (zipw_add(&z, rec, NULL, 0, base + p->offset, p->t->n * sizeof(float))) goto fail;
        }
    if (zipw_add(&z, "archive/version", "3\n", 2, NULL, 0)) goto fail;
    free(pk.p);
    return zipw_close(&z) ? sp_fail("%s", zipw_error()) : 0;
fail:
    free(pk.p);
    sp_fail("%s", zipw_error());
    zipw_abort(&z);
    return -1;
}

int st2pt_main(int argc, char **argv);
int st2pt_main(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    long long heads = 0, aux = 0;
    int zip64 = 0, i, has_ema;
    ig_config cfg;
    ig_model m;
    ig_st_file st;
    for (i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(); return 0; }
        else if (!strcmp(argv[i], "--zip64")) zip64 = 1;
        else if (!strcmp(argv[i], "--heads") || !strcmp(argv[i], "--aux-depth")) {
            const char *flag = argv[i];
            if (!(v = cli_value("st2pt", argc, argv, &i))) return 2;
            if (cli_int("st2pt", flag, v, 1, 1024, !strcmp(flag, "--heads") ? &heads : &aux)) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) { fprintf(stderr, "st2pt: unknown option '%s'\n", argv[i]); return usage(); }
        else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else return usage();
    }
    if (!in || !out) return usage();
    /* does the file hold a training state (an EMA of its own)? */
    if (ig_st_open(&st, in)) { fprintf(stderr, "st2pt: %s\n", ig_last_error()); return 1; }
    has_ema = 0;
    for (i = 0; i < st.ntensors; i++) if (!strncmp(st.tensors[i].name, "ema.", 4)) has_ema = 1;
    ig_st_close(&st);
    if (ig_config_from_file(&cfg, in, (int)heads, (int)aux) || ig_model_init(&m, &cfg, 1, 0)) {
        fprintf(stderr, "st2pt: %s\n", ig_last_error());
        return 1;
    }
    if (ig_load(&m, in, 1)) {
        fprintf(stderr, "st2pt: %s\n", ig_last_error());
        ig_model_free(&m);
        return 1;
    }
    if (sp_save(&m, out, zip64)) { fprintf(stderr, "st2pt: %s\n", sp__err); ig_model_free(&m); return 1; }
    printf("wrote %s: %d tensors x 2 ('model', 'ema'%s), step %lld, F32\n", out, m.nparams,
           has_ema ? "" : ": the file's one set of weights in both", (long long)m.step);
    ig_model_free(&m);
    return 0;
}

#ifndef IG_ST2PT_NO_MAIN
int main(int argc, char **argv) { return st2pt_main(argc, argv); }
#endif
