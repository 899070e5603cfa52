/* vae.h - the latent-diffusion VAE decoder (SD-VAE, VA-VAE) in C, forward only.
   Not part of ig.h: it uses ig.h's matrix multiply (ig_matmul) and safetensors
   reader, so include ig.h before it (IG_IMPLEMENTATION in one file of the
   program).  Header-only; every function is static.

     vae_decoder *d = vae_load("vae.safetensors");   NULL: vae_error() says why
     vae_decode(d, z, n, c, h, w, x);                z (n,c,h,w) -> x (n,3,H,W); 0 or -1
     vae_free(d);
   also: vae_workspace_bytes(d, h, w), vae_macs(d, h, w, performed),
   d->winograd (1: 3x3 convs by Winograd, the default; 0: im2col).

   z is the latent as the decoder takes it, i.e. already divided by the
   scale factor (SD-VAE: z = latent / 0.18215).  x is the raw decoder output,
   nominally in [-1, 1] but not clamped; an image is clamp((x + 1) / 2).
   H = h * d->factor, W = w * d->factor; d->z_channels, d->out_channels.

   The network (the decoder of Rombach et al., "High-Resolution Image
   Synthesis with Latent Diffusion Models", 2022), in the order it runs:
     post_quant_conv        1x1 conv, z -> z channels
     conv_in                3x3 conv, z -> C0
     mid                    resnet, single-head attention, resnet (C0)
     up levels 0..n-1       lowest resolution first; each: R resnets, each
                            followed by an attention block where the weights
                            have one (VA-VAE's lowest level), then, where
                            present, nearest x2 upsampling and a 3x3 conv
     norm_out, SiLU, conv_out   GroupNorm, SiLU, 3x3 conv C -> 3
   resnet(x) = shortcut(x) + conv2(SiLU(GN2(conv1(SiLU(GN1(x))))))
               (shortcut: a 1x1 conv when the channels change, else identity)
   attention(x) = x + Wo O + bo,  O = V softmax(Q^T K / sqrt(C))^T  (softmax over
               each row), Q = Wq GN(x) + bq, K and V likewise: one head over the
               T = h*w positions; x, Q, K, V, O are (C, T).
   Every GroupNorm has 32 groups and eps 1e-6 (channels must divide by 32).

   The configuration (levels, channels per level, resnets per level, where
   attention sits, kernel sizes, z channels) is read off the weight names and
   shapes; nothing is specific to SD-VAE.  Three key-naming schemes are read:
     diffusers today   decoder.mid_block.resnets.{0,1}, .attentions.0.{group_norm,
                       to_q, to_k, to_v, to_out.0}, decoder.up_blocks.{k} in the
                       order they run, .resnets.{j} (conv_shortcut),
                       .attentions.{j}, .upsamplers.0.conv, decoder.conv_norm_out
     diffusers before its rename: the attention is {group_norm, query, key,
                       value, proj_attn}, the rest as above
     latent-diffusion  decoder.mid.block_1 / attn_1.{norm,q,k,v,proj_out} /
                       block_2, decoder.up.{i} counted from the HIGHEST
                       resolution (up.{n-1} runs first), .block.{j}
                       (nin_shortcut), .attn.{j}, .upsample.conv, decoder.norm_out
   plus decoder.conv_in, decoder.conv_out and post_quant_conv in all three.
   Attention projections may be 2-D (C, C) or 1x1 convs (C, C, 1, 1).
   Weights may be F32, F16 or BF16 (kept as float32 in memory).
   Keys under encoder., quant_conv., loss., foundation_model., linear_proj.
   and model_ema. (the encoder and training state of the same checkpoints)
   are skipped; any other key, a missing key or a wrong shape is an error
   that names the file and the key.

   Compute: 3x3 convolutions by Winograd's F(2x2, 3x3) (2.25x fewer
   multiply-adds: input tiles transformed, 16 ig_matmul calls, output tiles
   transformed back; see vae__wino_filters), other convolutions (and 3x3 ones
   with d->winograd = 0) as im2col followed by one ig_matmul; 1x1 convs are a
   plain ig_matmul.  Both work over bands of output rows, at most
   d->col_floats floats (VAE_COL_FLOATS).  Nearest upsampling is folded into
   the reads of the conv after it (the 4x larger input is never stored).
   Attention is three ig_matmul projections, then per band of queries
   S = Q^T K and O = V S^T, also through ig_matmul.
   Memory: the batch is decoded one image at a time, so the workspace does
   not depend on n: three activation buffers of the largest C*H*W in the
   network, the conv band (with Winograd: the 16 transformed filters too), and
   the attention's Q, K, V and score band (vae_workspace_bytes).  A 256x256
   SD-VAE decode: 198 MB of weights and a 246 MB workspace; the README gives
   build/vae-decode's measured peak. */
#ifndef VAE_H
#define VAE_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define VAEDEF static __attribute__((unused))
#else
#define VAEDEF static
#endif

#ifdef _OPENMP
#define VAE__OMP(x) _Pragma(#x)
#else
#define VAE__OMP(x)
#endif

#define VAE_MAX_LEVELS 8
#define VAE_MAX_RES 8
#define VAE_GROUPS 32
#define VAE_EPS 1e-6
#ifndef VAE_COL_FLOATS
#define VAE_COL_FLOATS ((size_t)4 << 20)   /* conv band (im2col or Winograd): 16 MB */
#endif
#ifndef VAE_SCORE_FLOATS
#define VAE_SCORE_FLOATS ((size_t)1 << 20) /* attention score band: 4 MB */
#endif

/* a convolution: w (cout, cin, k, k) row-major, b (cout); pad k/2, stride 1 */
typedef struct { int cout, cin, k; const float *w, *b; } vae_conv;
/* GroupNorm(32, c) with its affine weight and bias (c) */
typedef struct { int c; const float *w, *b; } vae_norm;
typedef struct {
    vae_norm norm1, norm2;
    vae_conv conv1, conv2;
    vae_conv shortcut;      /* 1x1; w == NULL: identity */
} vae_resnet;
/* single-head attention over positions; q, k, v, out are (c, c) 1x1 convs */
typedef struct { int c; vae_norm norm; vae_conv q, k, v, out; } vae_attn;
typedef struct {
    int nres;
    vae_resnet res[VAE_MAX_RES];
    int has_attn[VAE_MAX_RES];   /* attention block after resnet j */
    vae_attn attn[VAE_MAX_RES];
    int has_up;                  /* nearest x2, then the conv `up` */
    vae_conv up;
} vae_level;

typedef struct vae_decoder {
    int z_channels, out_channels;
    int factor;                  /* H / h: 2^(levels that upsample) */
    int nlevels;                 /* in the order they run, lowest resolution first */
    vae_conv post_quant, conv_in, conv_out;
    vae_resnet mid_res[2];
    vae_attn mid_attn;
    vae_level level[VAE_MAX_LEVELS];
    vae_norm norm_out;
    float *params;               /* every weight, one allocation */
    size_t nparams;
    float *work;                 /* workspace for one image, work_bytes long */
    size_t work_bytes;
    size_t col_floats;           /* im2col band limit (VAE_COL_FLOATS) */
    size_t score_floats;         /* attention score band limit (VAE_SCORE_FLOATS) */
    int winograd;                /* 3x3 convs by Winograd F(2x2,3x3) (default 1), else im2col */
    char path[512];
    char zkey[96];               /* the key that fixes z_channels, for messages */
} vae_decoder;

static char vae__err[1024];
/* The message of the last failure (names the file and the problem). */
VAEDEF const char *vae_error(void) { return vae__err; }

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int vae__fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vae__err, sizeof vae__err, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------------- */
/* loading: names -> structure, shapes -> channels                           */
/* ------------------------------------------------------------------------- */

enum { VAE__DIFFUSERS, VAE__LDM };

static const char *const vae__skipped[] = {
    "encoder.", "quant_conv.", "loss.", "foundation_model.", "linear_proj.", "model_ema.", NULL
};

typedef struct {
    ig_st_file st;
    vae_decoder *d;
    int scheme;
    int old_attn;            /* diffusers before the rename */
    unsigned char *used;     /* per tensor of st: read by the structure */
    int pass;                /* 0: check shapes and count; 1: read */
    size_t off;              /* floats taken so far */
} vae__loader;

static int vae__starts(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* does any key start with this prefix? */
static int vae__has(const vae__loader *ld, const char *prefix) {
    int i;
    for (i = 0; i < ld->st.ntensors; i++)
        if (vae__starts(ld->st.tensors[i].name, prefix)) return 1;
    return 0;
}

/* "[a, b, c]"; a negative entry (any size) prints as "*" */
static void vae__shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t len = 0;
    int i;
    len += (size_t)snprintf(buf, cap, "[");
    for (i = 0; i < ndim && len < cap; i++) {
        if (shape[i] < 0) len += (size_t)snprintf(buf + len, cap - len, "%s*", i ? ", " : "");
        else len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* Take tensor `key` whose shape must match want[0..ndim) (-1: any); on the
   read pass store its floats and point *dst at them.  Returns the tensor or
   NULL (error set). */
static const ig_st_tensor *vae__take(vae__loader *ld, const char *key, int ndim, const int *want, const float **dst) {
    const ig_st_tensor *t = ig_st_find(&ld->st, key);
    int i, ok;
    size_t n, e;
    if (!t) { vae__fail("%s: missing key '%s'", ld->d->path, key); return NULL; }
    ok = t->ndim == ndim;
    for (i = 0; ok && i < ndim; i++)
        if ((want[i] >= 0 && t->shape[i] != want[i]) || t->shape[i] < 1 || t->shape[i] > 1 << 16) ok = 0;
    if (!ok) {
        char got[128], exp[128];
        int64_t w64[4];
        vae__shape_str(got, sizeof got, t->ndim, t->shape);
        for (i = 0; i < ndim; i++) w64[i] = want[i];
        vae__shape_str(exp, sizeof exp, ndim, w64);
        vae__fail("%s: tensor '%s' has shape %s, expected %s%s", ld->d->path, key, got, exp,
                  t->ndim == ndim ? " (each size 1..65536)" : "");
        return NULL;
    }
    if (strcmp(t->dtype_name, "F32") && strcmp(t->dtype_name, "F16") && strcmp(t->dtype_name, "BF16")) {
        vae__fail("%s: tensor '%s' has dtype %s; the decoder reads F32, F16 or BF16", ld->d->path, key, t->dtype_name);
        return NULL;
    }
    n = ig_st_numel(t);
    ld->used[t - ld->st.tensors] = 1;
    if (ld->pass == 1) {
        float *p = ld->d->params + ld->off;
        if (ig_st_read_f32(&ld->st, t, p, n)) { vae__fail("%s", ig_last_error()); return NULL; }
        for (e = 0; e < n; e++)
            if (!isfinite(p[e])) {
                vae__fail("%s: tensor '%s' holds a non-finite value at element %zu", ld->d->path, key, e);
                return NULL;
            }
        *dst = p;
    }
    ld->off += n;
    return t;
}

/* prefix + "weight" (cout, cin, k, k) and prefix + "bias" (cout); cout or
   k = -1: read off the weight.  k must be odd (same padding k/2). */
static int vae__conv_load(vae__loader *ld, const char *prefix, int cin, int cout, int k, vae_conv *cv) {
    char key[256];
    int want[4];
    const ig_st_tensor *t;
    want[0] = cout; want[1] = cin; want[2] = k; want[3] = k;
    snprintf(key, sizeof key, "%sweight", prefix);
    if (!(t = vae__take(ld, key, 4, want, &cv->w))) return -1;
    if (t->shape[2] != t->shape[3] || t->shape[2] % 2 != 1) {
        char got[128];
        vae__shape_str(got, sizeof got, t->ndim, t->shape);
        return vae__fail("%s: tensor '%s' has shape %s: expected (out, in, k, k) with k odd",
                         ld->d->path, key, got);
    }
    cv->cout = (int)t->shape[0]; cv->cin = cin; cv->k = (int)t->shape[2];
    want[0] = cv->cout;
    snprintf(key, sizeof key, "%sbias", prefix);
    if (!vae__take(ld, key, 1, want, &cv->b)) return -1;
    return 0;
}

static int vae__norm_load(vae__loader *ld, const char *prefix, int c, vae_norm *nm) {
    char key[256];
    int want[1];
    want[0] = c;
    if (c % VAE_GROUPS != 0)
        return vae__fail("%s: '%sweight': %d channels, but GroupNorm(%d) needs a multiple of %d",
                         ld->d->path, prefix, c, VAE_GROUPS, VAE_GROUPS);
    nm->c = c;
    snprintf(key, sizeof key, "%sweight", prefix);
    if (!vae__take(ld, key, 1, want, &nm->w)) return -1;
    snprintf(key, sizeof key, "%sbias", prefix);
    if (!vae__take(ld, key, 1, want, &nm->b)) return -1;
    return 0;
}

/* an attention projection: (c, c) or (c, c, 1, 1), and bias (c) */
static int vae__proj_load(vae__loader *ld, const char *prefix, const char *name, int c, vae_conv *cv) {
    char key[256];
    int want[4];
    const ig_st_tensor *t;
    want[0] = c; want[1] = c; want[2] = 1; want[3] = 1;
    snprintf(key, sizeof key, "%s%s.weight", prefix, name);
    t = ig_st_find(&ld->st, key);
    if (!vae__take(ld, key, t && t->ndim == 2 ? 2 : 4, want, &cv->w)) return -1;
    cv->cout = c; cv->cin = c; cv->k = 1;
    snprintf(key, sizeof key, "%s%s.bias", prefix, name);
    if (!vae__take(ld, key, 1, want, &cv->b)) return -1;
    return 0;
}

static int vae__attn_load(vae__loader *ld, const char *prefix, int c, vae_attn *at) {
    static const char *const names[3][5] = {
        { "group_norm.", "to_q", "to_k", "to_v", "to_out.0" },    /* diffusers */
        { "group_norm.", "query", "key", "value", "proj_attn" },  /* diffusers, old */
        { "norm.", "q", "k", "v", "proj_out" },                   /* latent-diffusion */
    };
    const char *const *nm = names[ld->scheme == VAE__LDM ? 2 : ld->old_attn ? 1 : 0];
    char key[256];
    at->c = c;
    snprintf(key, sizeof key, "%s%s", prefix, nm[0]);
    if (vae__norm_load(ld, key, c, &at->norm)) return -1;
    if (vae__proj_load(ld, prefix, nm[1], c, &at->q) || vae__proj_load(ld, prefix, nm[2], c, &at->k) ||
        vae__proj_load(ld, prefix, nm[3], c, &at->v) || vae__proj_load(ld, prefix, nm[4], c, &at->out))
        return -1;
    return 0;
}

/* a resnet from cin channels; the output channels are read off conv1 */
static int vae__resnet_load(vae__loader *ld, const char *prefix, int cin, vae_resnet *r) {
    char key[256];
    const char *sc = ld->scheme == VAE__LDM ? "nin_shortcut." : "conv_shortcut.";
    int cout;
    snprintf(key, sizeof key, "%snorm1.", prefix);
    if (vae__norm_load(ld, key, cin, &r->norm1)) return -1;
    snprintf(key, sizeof key, "%sconv1.", prefix);
    if (vae__conv_load(ld, key, cin, -1, -1, &r->conv1)) return -1;
    cout = r->conv1.cout;
    snprintf(key, sizeof key, "%snorm2.", prefix);
    if (vae__norm_load(ld, key, cout, &r->norm2)) return -1;
    snprintf(key, sizeof key, "%sconv2.", prefix);
    if (vae__conv_load(ld, key, cout, cout, -1, &r->conv2)) return -1;
    snprintf(key, sizeof key, "%s%s", prefix, sc);
    memset(&r->shortcut, 0, sizeof r->shortcut);
    if (vae__has(ld, key) || cin != cout) {  /* absent with cin != cout: "missing key" */
        if (vae__conv_load(ld, key, cin, cout, 1, &r->shortcut)) return -1;
    }
    return 0;
}

/* the key prefix of execution level k (resnet j, attention j or upsampler) */
static void vae__level_prefix(const vae__loader *ld, int k, char *buf, size_t cap) {
    if (ld->scheme == VAE__LDM) snprintf(buf, cap, "decoder.up.%d.", ld->d->nlevels - 1 - k);
    else snprintf(buf, cap, "decoder.up_blocks.%d.", k);
}

/* Walk the whole decoder in execution order, taking every tensor. */
static int vae__walk(vae__loader *ld) {
    vae_decoder *d = ld->d;
    int ldm = ld->scheme == VAE__LDM, k, j, c;
    char pre[192], key[256];
    ld->off = 0;
    memset(ld->used, 0, (size_t)ld->st.ntensors);
    if (vae__conv_load(ld, "post_quant_conv.", -1, -1, 1, &d->post_quant)) return -1;
    {   /* post_quant's input channels: read off its weight */
        const ig_st_tensor *t = ig_st_find(&ld->st, "post_quant_conv.weight");
        d->post_quant.cin = (int)t->shape[1];
        d->z_channels = d->post_quant.cin;
        snprintf(d->zkey, sizeof d->zkey, "post_quant_conv.weight");
    }
    if (vae__conv_load(ld, "decoder.conv_in.", d->post_quant.cout, -1, -1, &d->conv_in)) return -1;
    c = d->conv_in.cout;
    if (vae__resnet_load(ld, ldm ? "decoder.mid.block_1." : "decoder.mid_block.resnets.0.", c, &d->mid_res[0])) return -1;
    c = d->mid_res[0].conv1.cout;
    if (vae__attn_load(ld, ldm ? "decoder.mid.attn_1." : "decoder.mid_block.attentions.0.", c, &d->mid_attn)) return -1;
    if (vae__resnet_load(ld, ldm ? "decoder.mid.block_2." : "decoder.mid_block.resnets.1.", c, &d->mid_res[1])) return -1;
    c = d->mid_res[1].conv1.cout;
    d->factor = 1;
    for (k = 0; k < d->nlevels; k++) {
        vae_level *lv = &d->level[k];
        vae__level_prefix(ld, k, pre, sizeof pre);
        for (j = 0; j < lv->nres; j++) {
            snprintf(key, sizeof key, ldm ? "%sblock.%d." : "%sresnets.%d.", pre, j);
            if (vae__resnet_load(ld, key, c, &lv->res[j])) return -1;
            c = lv->res[j].conv1.cout;
            if (lv->has_attn[j]) {
                snprintf(key, sizeof key, ldm ? "%sattn.%d." : "%sattentions.%d.", pre, j);
                if (vae__attn_load(ld, key, c, &lv->attn[j])) return -1;
            }
        }
        if (lv->has_up) {
            snprintf(key, sizeof key, ldm ? "%supsample.conv." : "%supsamplers.0.conv.", pre);
            if (vae__conv_load(ld, key, c, c, -1, &lv->up)) return -1;
            if (d->factor > 1 << 12) return vae__fail("%s: too many upsampling levels", d->path);
            d->factor *= 2;
        }
    }
    if (vae__norm_load(ld, ldm ? "decoder.norm_out." : "decoder.conv_norm_out.", c, &d->norm_out)) return -1;
    if (vae__conv_load(ld, "decoder.conv_out.", c, -1, -1, &d->conv_out)) return -1;
    d->out_channels = d->conv_out.cout;
    return 0;
}

/* Count levels, resnets per level, attention blocks and upsamplers from the
   names (the shapes come in vae__walk). */
static int vae__structure(vae__loader *ld) {
    vae_decoder *d = ld->d;
    int ldm = ld->scheme == VAE__LDM, k, j, n = 0, nres = 0;
    char pre[192], key[256];
    while (n <= VAE_MAX_LEVELS) {
        snprintf(key, sizeof key, ldm ? "decoder.up.%d." : "decoder.up_blocks.%d.", n);
        if (!vae__has(ld, key)) break;
        n++;
    }
    if (n == 0)
        return vae__fail("%s: no up levels: missing key '%s'", d->path,
                         ldm ? "decoder.up.0.block.0.norm1.weight" : "decoder.up_blocks.0.resnets.0.norm1.weight");
    if (n > VAE_MAX_LEVELS) return vae__fail("%s: more than %d up levels", d->path, VAE_MAX_LEVELS);
    d->nlevels = n;
    /* every level has the same number of resnets (as in every released
       decoder): a level with fewer is missing keys, named by vae__walk */
    for (k = 0; k < n; k++) {
        vae__level_prefix(ld, k, pre, sizeof pre);
        for (j = 0; j <= VAE_MAX_RES; j++) {
            snprintf(key, sizeof key, ldm ? "%sblock.%d." : "%sresnets.%d.", pre, j);
            if (!vae__has(ld, key)) break;
        }
        if (j > VAE_MAX_RES) return vae__fail("%s: more than %d resnets in '%s'", d->path, VAE_MAX_RES, pre);
        if (j > nres) nres = j;
    }
    if (nres == 0) return vae__fail("%s: no resnets in the up levels", d->path);
    for (k = 0; k < n; k++) {
        vae_level *lv = &d->level[k];
        vae__level_prefix(ld, k, pre, sizeof pre);
        lv->nres = nres;
        for (j = 0; j < nres; j++) {
            snprintf(key, sizeof key, ldm ? "%sattn.%d." : "%sattentions.%d.", pre, j);
            lv->has_attn[j] = vae__has(ld, key);
        }
        snprintf(key, sizeof key, ldm ? "%supsample." : "%supsamplers.", pre);
        lv->has_up = vae__has(ld, key);
    }
    return 0;
}

/* Load a decoder from a safetensors file (see the top comment).  NULL on
   failure, with vae_error() naming the file and the key. */
VAEDEF vae_decoder *vae_load(const char *path) {
    vae__loader ld;
    vae_decoder *d;
    int i;
    memset(&ld, 0, sizeof ld);
    if (!path) { vae__fail("vae_load: NULL path"); return NULL; }
    d = (vae_decoder *)calloc(1, sizeof *d);
    if (!d) { vae__fail("%s: out of memory", path); return NULL; }
    snprintf(d->path, sizeof d->path, "%s", path);
    d->col_floats = VAE_COL_FLOATS;
    d->score_floats = VAE_SCORE_FLOATS;
    d->winograd = 1;
    ld.d = d;
    if (ig_st_open(&ld.st, path)) { vae__fail("%s", ig_last_error()); free(d); return NULL; }
    ld.used = (unsigned char *)calloc((size_t)ld.st.ntensors + 1, 1);
    if (!ld.used) { vae__fail("%s: out of memory", path); goto fail; }
    /* every key is a decoder key or under a skipped prefix */
    for (i = 0; i < ld.st.ntensors; i++) {
        const char *name = ld.st.tensors[i].name;
        int s, skip = 0;
        if (vae__starts(name, "decoder.") || vae__starts(name, "post_quant_conv.")) continue;
        for (s = 0; vae__skipped[s]; s++) skip |= vae__starts(name, vae__skipped[s]);
        if (!skip) {
            vae__fail("%s: unknown key '%s' (the decoder reads decoder.* and post_quant_conv.*, and skips "
                      "encoder.*, quant_conv.*, loss.*, foundation_model.*, linear_proj.*, model_ema.*)", path, name);
            goto fail;
        }
    }
    {   /* the naming scheme */
        int ldm = vae__has(&ld, "decoder.mid."), dif = vae__has(&ld, "decoder.mid_block.");
        if (ldm == dif) {
            vae__fail("%s: %s", path, ldm ? "mixes the diffusers (decoder.mid_block.*) and latent-diffusion "
                                            "(decoder.mid.*) key names"
                                          : "no decoder middle block: missing key 'decoder.mid_block.resnets.0.norm1.weight' "
                                            "(or 'decoder.mid.block_1.norm1.weight')");
            goto fail;
        }
        ld.scheme = ldm ? VAE__LDM : VAE__DIFFUSERS;
        ld.old_attn = !ldm && vae__has(&ld, "decoder.mid_block.attentions.0.query.");
    }
    if (vae__structure(&ld)) goto fail;
    ld.pass = 0;
    if (vae__walk(&ld)) goto fail;
    for (i = 0; i < ld.st.ntensors; i++) {
        const char *name = ld.st.tensors[i].name;
        if (!ld.used[i] && (vae__starts(name, "decoder.") || vae__starts(name, "post_quant_conv."))) {
            vae__fail("%s: unknown decoder key '%s' (%s names; not part of the decoder read off the other keys)",
                      path, name, ld.scheme == VAE__LDM ? "latent-diffusion" : ld.old_attn ? "old diffusers" : "diffusers");
            goto fail;
        }
    }
    d->nparams = ld.off;
    d->params = (float *)malloc(d->nparams * sizeof(float) + 1);
    if (!d->params) { vae__fail("%s: out of memory for %zu weights", path, d->nparams); goto fail; }
    ld.pass = 1;
    if (vae__walk(&ld)) goto fail;
    free(ld.used);
    ig_st_close(&ld.st);
    return d;
fail:
    free(ld.used);
    ig_st_close(&ld.st);
    free(d->params);
    free(d);
    return NULL;
}

VAEDEF void vae_free(vae_decoder *d) {
    if (!d) return;
    free(d->params);
    free(d->work);
    free(d);
}

/* ------------------------------------------------------------------------- */
/* the forward pass, one image at a time                                     */
/* ------------------------------------------------------------------------- */

/* exp written out so that loops calling it vectorize (libm's expf is one call
   per element): exp(x) = 2^k exp(r), k = round(x / ln 2), |r| <= ln(2)/2,
   exp(r) by its Taylor series to r^7 (relative error below 1e-7). */
static float vae__exp(float x) {
    float k, r, p, scale;
    int32_t bits;
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    k = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    r = (x - k * 0.693359375f) + k * 2.12194440e-4f;
    p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    bits = ((int32_t)k + 127) << 23;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* y (C, HW) = GroupNorm(x) (then SiLU if silu); y may be x.
   Group g holds channels [g C/32, (g+1) C/32); mean and (biased) variance
   over the group's channels and positions, in double:
     y = w_c (x - mu_g) / sqrt(var_g + 1e-6) + b_c,   SiLU(u) = u / (1 + e^-u) */
static void vae__groupnorm(const vae_norm *nm, const float *x, float *y, size_t HW, int silu) {
    long g;
    size_t cpg = (size_t)nm->c / VAE_GROUPS;
    VAE__OMP(omp parallel for schedule(static) if (cpg * HW * VAE_GROUPS > 65536))
    for (g = 0; g < VAE_GROUPS; g++) {
        const float *xg = x + (size_t)g * cpg * HW;
        size_t n = cpg * HW, i, c;
        double s[8] = { 0, 0, 0, 0, 0, 0, 0, 0 }, mean, var, tot = 0;
        int j;
        /* eight independent partial sums: vectorizes without reassociation */
        for (i = 0; i + 8 <= n; i += 8)
            for (j = 0; j < 8; j++) s[j] += (double)xg[i + j];
        for (; i < n; i++) tot += (double)xg[i];
        for (j = 0; j < 8; j++) tot += s[j];
        mean = tot / (double)n;
        for (j = 0; j < 8; j++) s[j] = 0;
        tot = 0;
        for (i = 0; i + 8 <= n; i += 8)
            for (j = 0; j < 8; j++) { double u = (double)xg[i + j] - mean; s[j] += u * u; }
        for (; i < n; i++) { double u = (double)xg[i] - mean; tot += u * u; }
        for (j = 0; j < 8; j++) tot += s[j];
        var = tot / (double)n;
        for (c = (size_t)g * cpg; c < (size_t)(g + 1) * cpg; c++) {
            double inv = 1.0 / sqrt(var + VAE_EPS);
            float a = (float)(nm->w[c] * inv), b = (float)(nm->b[c] - mean * nm->w[c] * inv);
            const float *xc = x + c * HW;
            float *yc = y + c * HW;
            if (silu)
                for (i = 0; i < HW; i++) { float u = xc[i] * a + b; yc[i] = u / (1.0f + vae__exp(-u)); }
            else
                for (i = 0; i < HW; i++) yc[i] = xc[i] * a + b;
        }
    }
}

/* im2col of output rows [y0, y1) for a k x k conv (pad k/2) over x (cin, H, W),
   or over x upsampled x2 by nearest neighbour (up: the input pixel of (iy, ix)
   is x[iy / 2][ix / 2]).  col is (cin k k, (y1 - y0) Wo), row (c, ky, kx). */
static void vae__im2col(const float *x, int cin, int H, int W, int up, int k, int y0, int y1, float *col) {
    int Ho = up ? 2 * H : H, Wo = up ? 2 * W : W, pad = k / 2;
    size_t P = (size_t)(y1 - y0) * (size_t)Wo;
    long r, R = (long)cin * k * k;
    VAE__OMP(omp parallel for schedule(static) if ((size_t)R * P > 32768))
    for (r = 0; r < R; r++) {
        int c = (int)(r / (k * k)), ky = (int)(r / k % k), kx = (int)(r % k), yy, xx;
        int xa = pad - kx > 0 ? pad - kx : 0, xb = Wo + pad - kx < Wo ? Wo + pad - kx : Wo;
        const float *xc = x + (size_t)c * H * W;
        float *dst = col + (size_t)r * P;
        for (yy = y0; yy < y1; yy++) {
            int iy = yy + ky - pad;
            float *o = dst + (size_t)(yy - y0) * Wo;
            const float *src;
            if (iy < 0 || iy >= Ho || xb <= xa) { memset(o, 0, (size_t)Wo * sizeof(float)); continue; }
            src = xc + (size_t)(up ? iy >> 1 : iy) * W;
            for (xx = 0; xx < xa; xx++) o[xx] = 0.0f;
            if (!up) memcpy(o + xa, src + xa + kx - pad, (size_t)(xb - xa) * sizeof(float));
            else for (xx = xa; xx < xb; xx++) o[xx] = src[(xx + kx - pad) >> 1];
            for (xx = xb; xx < Wo; xx++) o[xx] = 0.0f;
        }
    }
}

/* --- 3x3 convolutions by Winograd's minimal filtering F(2x2, 3x3) ---------
   (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016.)
   Each 2x2 block of outputs comes from a 4x4 input tile d and the 3x3 filter g:
       Y = A^T [ (G g G^T) . (B^T d B) ] A          (. : elementwise, 16 products)
   with 16 multiplies per output pair of rows and columns instead of 36, so 2.25x
   fewer multiply-adds than the direct convolution.  Over channels the 16
   elementwise products become 16 independent matrix multiplies
       M_xi (cout, tiles) = U_xi (cout, cin) V_xi (cin, tiles),   xi = 0..15,
   U = G g G^T (the filters, transformed per call), V = B^T d B (the input tiles).
       B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
       G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
       A^T = [1 1 1 0; 0 1 -1 -1]
   The transforms only add and halve, so the rounding stays close to the direct
   convolution's (the tests hold both to 1e-4 of PyTorch). */

/* U (16, cout, cin) = G g G^T for every filter g = w[o][c] (3x3).  Blocks of 64
   filters go through a local buffer, so that U is written in runs of 64. */
static void vae__wino_filters(const vae_conv *cv, float *U) {
    size_t CC = (size_t)cv->cout * cv->cin;
    long blk, nblk = (long)((CC + 63) / 64);
    VAE__OMP(omp parallel for schedule(static) if (CC > 4096))
    for (blk = 0; blk < nblk; blk++) {
        size_t o0 = (size_t)blk * 64, n = CC - o0 < 64 ? CC - o0 : 64, e;
        float u[16][64];
        int i, j;
        for (e = 0; e < n; e++) {
            const float *g = cv->w + (o0 + e) * 9;
            float t[4][3];
            for (j = 0; j < 3; j++) {                 /* t = G g (4x3) */
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (i = 0; i < 4; i++) {                 /* u = t G^T (4x4) */
                u[4 * i + 0][e] = t[i][0];
                u[4 * i + 1][e] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[4 * i + 2][e] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[4 * i + 3][e] = t[i][2];
            }
        }
        for (i = 0; i < 16; i++) memcpy(U + (size_t)i * CC + o0, u[i], n * sizeof(float));
    }
}

/* V (16, cin, nt) = B^T d B for the tiles of tile rows [ty0, ty1) (output rows
   2 ty0 .. 2 ty1 - 1), ntx tiles per row, nt = (ty1 - ty0) ntx.  Tile (ty, tx)
   reads input rows 2 ty - 1 .. 2 ty + 2 and columns 2 tx - 1 .. 2 tx + 2 of x
   (cin, H, W), or of x upsampled x2 by nearest neighbour; zero outside.
   Each of the 4 rows is first copied into a zero-padded row p (p[1 + ix] =
   input column ix) in pad (cin, 4, 2 ntx + 2), so the loop over tiles has no
   branches and vectorizes; B^T d B is then applied as d B (along the row)
   followed by B^T (across the 4 rows). */
static void vae__wino_input(const float *x, int cin, int H, int W, int up, int ty0, int ty1, int ntx, float *V,
                            float *pad) {
    int Ho = up ? 2 * H : H, Wo = up ? 2 * W : W;
    size_t nt = (size_t)(ty1 - ty0) * ntx, pw = 2 * (size_t)ntx + 2, cs = (size_t)cin * nt;
    long c;
    VAE__OMP(omp parallel for schedule(static) if ((size_t)cin * nt > 2048))
    for (c = 0; c < cin; c++) {
        const float *xc = x + (size_t)c * H * W;
        float *p = pad + (size_t)c * 4 * pw;
        int ty, tx, tx0, r, ix;
        for (ty = ty0; ty < ty1; ty++) {
            const float *p0 = p, *p1 = p + pw, *p2 = p + 2 * pw, *p3 = p + 3 * pw;
            float *v = V + (size_t)c * nt + (size_t)(ty - ty0) * ntx;
            for (r = 0; r < 4; r++) {
                int iy = 2 * ty - 1 + r;
                float *pr = p + (size_t)r * pw;
                memset(pr, 0, pw * sizeof(float));
                if (iy < 0 || iy >= Ho) continue;
                if (up) {
                    const float *src = xc + (size_t)(iy >> 1) * W;
                    for (ix = 0; ix < Wo; ix++) pr[1 + ix] = src[ix >> 1];
                } else memcpy(pr + 1, xc + (size_t)iy * W, (size_t)W * sizeof(float));
            }
            for (tx0 = 0; tx0 < ntx; tx0 += 64) {
                /* 64 tiles at a time into a local buffer: the loop has no stores
                   that could alias its loads, so it vectorizes */
                int n = ntx - tx0 < 64 ? ntx - tx0 : 64, k;
                float o[16][64];
                for (tx = 0; tx < n; tx++) {
                    size_t q = 2 * (size_t)(tx0 + tx);
                    /* h_r = d_r B: h0 = d0 - d2, h1 = d1 + d2, h2 = d2 - d1, h3 = d1 - d3 */
                    float a0 = p0[q] - p0[q + 2], a1 = p0[q + 1] + p0[q + 2], a2 = p0[q + 2] - p0[q + 1], a3 = p0[q + 1] - p0[q + 3];
                    float b0 = p1[q] - p1[q + 2], b1 = p1[q + 1] + p1[q + 2], b2 = p1[q + 2] - p1[q + 1], b3 = p1[q + 1] - p1[q + 3];
                    float c0 = p2[q] - p2[q + 2], c1 = p2[q + 1] + p2[q + 2], c2 = p2[q + 2] - p2[q + 1], c3 = p2[q + 1] - p2[q + 3];
                    float e0 = p3[q] - p3[q + 2], e1 = p3[q + 1] + p3[q + 2], e2 = p3[q + 2] - p3[q + 1], e3 = p3[q + 1] - p3[q + 3];
                    /* then B^T across the rows: r0 - r2, r1 + r2, r2 - r1, r1 - r3 */
                    o[0][tx] = a0 - c0;  o[1][tx] = a1 - c1;  o[2][tx] = a2 - c2;  o[3][tx] = a3 - c3;
                    o[4][tx] = b0 + c0;  o[5][tx] = b1 + c1;  o[6][tx] = b2 + c2;  o[7][tx] = b3 + c3;
                    o[8][tx] = c0 - b0;  o[9][tx] = c1 - b1;  o[10][tx] = c2 - b2; o[11][tx] = c3 - b3;
                    o[12][tx] = b0 - e0; o[13][tx] = b1 - e1; o[14][tx] = b2 - e2; o[15][tx] = b3 - e3;
                }
                for (k = 0; k < 16; k++) memcpy(v + (size_t)k * cs + tx0, o[k], (size_t)n * sizeof(float));
            }
        }
    }
}

/* y (cout, Ho, Wo) += A^T m A for every tile, m[xi] = M (16, cout, nt)[xi][o][t];
   64 tiles at a time through a local pair of rows (vectorizes); outputs past
   the edge of an odd-sized image are dropped. */
static void vae__wino_output(const float *M, int cout, int ty0, int ty1, int ntx, int Ho, int Wo, float *y) {
    size_t nt = (size_t)(ty1 - ty0) * ntx, stride = (size_t)cout * nt;
    long o;
    VAE__OMP(omp parallel for schedule(static) if ((size_t)cout * nt > 2048))
    for (o = 0; o < cout; o++) {
        const float *Mo = M + (size_t)o * nt;
        float *yo = y + (size_t)o * Ho * Wo;
        int ty, tx, tx0, i;
        for (ty = ty0; ty < ty1; ty++)
            for (tx0 = 0; tx0 < ntx; tx0 += 64) {
                int n = ntx - tx0 < 64 ? ntx - tx0 : 64, x0 = 2 * tx0, w;
                const float *m = Mo + (size_t)(ty - ty0) * ntx + tx0;
                float out[2][128];
                for (tx = 0; tx < n; tx++) {
                    float mm[16], a[2][4];
                    int j;
                    for (i = 0; i < 16; i++) mm[i] = m[(size_t)i * stride + tx];
                    for (j = 0; j < 4; j++) {             /* a = A^T m (2x4) */
                        a[0][j] = mm[j] + mm[4 + j] + mm[8 + j];
                        a[1][j] = mm[4 + j] - mm[8 + j] - mm[12 + j];
                    }
                    for (i = 0; i < 2; i++) {             /* Y = a A (2x2) */
                        out[i][2 * tx] = a[i][0] + a[i][1] + a[i][2];
                        out[i][2 * tx + 1] = a[i][1] - a[i][2] - a[i][3];
                    }
                }
                w = Wo - x0 < 2 * n ? Wo - x0 : 2 * n;
                for (i = 0; i < 2 && 2 * ty + i < Ho; i++) {
                    float *yr = yo + (size_t)(2 * ty + i) * Wo + x0;
                    int xx;
                    for (xx = 0; xx < w; xx++) yr[xx] += out[i][xx];
                }
            }
    }
}

/* tile rows per Winograd band: V and M of a band, 16 (cin + cout) nt floats,
   within the limit */
static int vae__wino_band(size_t limit, const vae_conv *cv, int nty, int ntx) {
    size_t per_row = 16 * ((size_t)cv->cin + cv->cout) * (size_t)ntx;
    size_t rows = limit / (per_row ? per_row : 1);
    if (rows < 1) rows = 1;
    if (rows > (size_t)nty) rows = (size_t)nty;
    return (int)rows;
}

/* the workspace a Winograd conv takes: U, the padded rows, then a band's V and M */
static size_t vae__wino_floats(size_t limit, const vae_conv *cv, int Ho, int Wo) {
    int nty = (Ho + 1) / 2, ntx = (Wo + 1) / 2;
    return 16 * (size_t)cv->cout * cv->cin + (size_t)cv->cin * 4 * (2 * (size_t)ntx + 2) +
           16 * ((size_t)cv->cin + cv->cout) * (size_t)vae__wino_band(limit, cv, nty, ntx) * ntx;
}

/* output rows per im2col band for a conv with cin inputs and Wo columns */
static int vae__band_rows(size_t limit, const vae_conv *cv, int Ho, int Wo) {
    size_t per_row = (size_t)cv->cin * cv->k * cv->k * (size_t)Wo;
    size_t rows = limit / (per_row ? per_row : 1);
    if (rows < 1) rows = 1;
    if (rows > (size_t)Ho) rows = (size_t)Ho;
    return (int)rows;
}

/* y (cout, Ho Wo) = conv(x) + b, or y += conv(x) + b with accumulate.
   x is (cin, H, W); the output grid is (H, W), or (2H, 2W) with up. */
static void vae__conv_fwd(const vae_decoder *d, const vae_conv *cv, const float *x, int H, int W, int up,
                          int accumulate, float *y, float *col) {
    int Ho = up ? 2 * H : H, Wo = up ? 2 * W : W, y0, rows;
    size_t HWo = (size_t)Ho * Wo, Kd = (size_t)cv->cin * cv->k * cv->k;
    long o;
    VAE__OMP(omp parallel for schedule(static) if ((size_t)cv->cout * HWo > 65536))
    for (o = 0; o < cv->cout; o++) {
        float *yo = y + (size_t)o * HWo, b = cv->b[o];
        size_t p;
        if (accumulate) for (p = 0; p < HWo; p++) yo[p] += b;
        else for (p = 0; p < HWo; p++) yo[p] = b;
    }
    if (cv->k == 1 && !up) {   /* 1x1: the input is already the column matrix */
        ig_matmul(0, 0, (size_t)cv->cout, HWo, (size_t)cv->cin, cv->w, (size_t)cv->cin, x, HWo, 1.0f, y, HWo);
        return;
    }
    if (cv->k == 3 && d->winograd) {
        int nty = (Ho + 1) / 2, ntx = (Wo + 1) / 2, t0;
        size_t CC = (size_t)cv->cout * cv->cin, ci = (size_t)cv->cin, co = (size_t)cv->cout;
        float *U = col, *pad = col + 16 * CC, *V = pad + ci * 4 * (2 * (size_t)ntx + 2), *M;
        int band = vae__wino_band(d->col_floats, cv, nty, ntx);
        vae__wino_filters(cv, U);
        for (t0 = 0; t0 < nty; t0 += band) {
            int t1 = t0 + band < nty ? t0 + band : nty, xi;
            size_t nt = (size_t)(t1 - t0) * ntx;
            M = V + 16 * ci * nt;
            vae__wino_input(x, cv->cin, H, W, up, t0, t1, ntx, V, pad);
            for (xi = 0; xi < 16; xi++)
                ig_matmul(0, 0, co, nt, ci, U + xi * CC, ci, V + xi * ci * nt, nt, 0.0f, M + xi * co * nt, nt);
            vae__wino_output(M, cv->cout, t0, t1, ntx, Ho, Wo, y);
        }
        return;
    }
    rows = vae__band_rows(d->col_floats, cv, Ho, Wo);
    for (y0 = 0; y0 < Ho; y0 += rows) {
        int y1 = y0 + rows < Ho ? y0 + rows : Ho;
        size_t P = (size_t)(y1 - y0) * Wo;
        vae__im2col(x, cv->cin, H, W, up, cv->k, y0, y1, col);
        ig_matmul(0, 0, (size_t)cv->cout, P, Kd, cv->w, Kd, col, P, 1.0f, y + (size_t)y0 * Wo, HWo);
    }
}

/* queries per band of the score matrix S (band, T) */
static size_t vae__band_queries(size_t limit, size_t T) {
    size_t b = limit / T;
    return b < 1 ? 1 : b > T ? T : b;
}

/* out (C, T) = x + attention(x), x (C, T).  tmp (C, T) is scratch; q, k, v
   (C, T) and S (band, T) are the attention's workspace. */
static void vae__attention(const vae_decoder *d, const vae_attn *at, const float *x, float *out, float *tmp,
                           size_t T, float *q, float *k, float *v, float *S) {
    size_t C = (size_t)at->c, bq = vae__band_queries(d->score_floats, T), t0;
    float scale = (float)(1.0 / sqrt((double)C));
    vae__groupnorm(&at->norm, x, tmp, T, 0);
    vae__conv_fwd(d, &at->q, tmp, 1, (int)T, 0, 0, q, NULL);   /* 1x1: (C, 1 x T) */
    vae__conv_fwd(d, &at->k, tmp, 1, (int)T, 0, 0, k, NULL);
    vae__conv_fwd(d, &at->v, tmp, 1, (int)T, 0, 0, v, NULL);
    for (t0 = 0; t0 < T; t0 += bq) {
        size_t nq = t0 + bq < T ? bq : T - t0;
        long i;
        /* S (nq, T) = Q[:, t0:t0+nq]^T K */
        ig_matmul(1, 0, nq, T, C, q + t0, T, k, T, 0.0f, S, T);
        /* softmax over each row of scale * S */
        VAE__OMP(omp parallel for schedule(static) if (nq * T > 32768))
        for (i = 0; i < (long)nq; i++) {
            float *s = S + (size_t)i * T, mx = s[0], sum = 0.0f, inv;
            size_t j;
            for (j = 1; j < T; j++) mx = s[j] > mx ? s[j] : mx;
            for (j = 0; j < T; j++) s[j] = vae__exp((s[j] - mx) * scale);
            for (j = 0; j < T; j++) sum += s[j];
            inv = 1.0f / sum;
            for (j = 0; j < T; j++) s[j] *= inv;
        }
        /* O[:, t0:t0+nq] (C, nq) = V (C, T) S^T (T, nq), into tmp */
        ig_matmul(0, 1, C, nq, T, v, T, S, T, 0.0f, tmp + t0, T);
    }
    memcpy(out, x, C * T * sizeof(float));
    vae__conv_fwd(d, &at->out, tmp, 1, (int)T, 0, 1, out, NULL);
}

/* *px = resnet(*px): x (cin, HW) -> (cout, HW); swaps *px and *pt. h is scratch. */
static void vae__resnet_fwd(const vae_decoder *d, const vae_resnet *r, float **px, float **pt, float *h, int H,
                            int W, float *col) {
    float *x = *px, *t = *pt;
    size_t HW = (size_t)H * W;
    vae__groupnorm(&r->norm1, x, t, HW, 1);
    vae__conv_fwd(d, &r->conv1, t, H, W, 0, 0, h, col);
    vae__groupnorm(&r->norm2, h, h, HW, 1);
    if (r->shortcut.w) vae__conv_fwd(d, &r->shortcut, x, H, W, 0, 0, t, col);
    else memcpy(t, x, (size_t)r->conv1.cin * HW * sizeof(float));
    vae__conv_fwd(d, &r->conv2, h, H, W, 0, 1, t, col);
    *px = t; *pt = x;
}

typedef struct { const vae_decoder *d; size_t act, col, attn, score; } vae__sizes;

static void vae__size_conv(vae__sizes *s, const vae_conv *cv, int H, int W, int up) {
    int Ho = up ? 2 * H : H, Wo = up ? 2 * W : W;
    size_t act = (size_t)cv->cout * Ho * Wo;
    if (act > s->act) s->act = act;
    if (cv->k == 3 && s->d->winograd) {
        size_t col = vae__wino_floats(s->d->col_floats, cv, Ho, Wo);
        if (col > s->col) s->col = col;
    } else if (cv->k > 1 || up) {
        size_t col = (size_t)cv->cin * cv->k * cv->k * (size_t)vae__band_rows(s->d->col_floats, cv, Ho, Wo) * Wo;
        if (col > s->col) s->col = col;
    }
}

static void vae__size_attn(vae__sizes *s, const vae_attn *at, size_t T) {
    size_t a = (size_t)at->c * T, sc = vae__band_queries(s->d->score_floats, T) * T;
    if (a > s->attn) s->attn = a;
    if (sc > s->score) s->score = sc;
}

static void vae__size_resnet(vae__sizes *s, const vae_resnet *r, int H, int W) {
    size_t a = (size_t)r->conv1.cin * H * W;
    if (a > s->act) s->act = a;
    vae__size_conv(s, &r->conv1, H, W, 0);
    vae__size_conv(s, &r->conv2, H, W, 0);
}

static vae__sizes vae__workspace(const vae_decoder *d, int h, int w) {
    vae__sizes s = { NULL, 0, 0, 0, 0 };
    int H = h, W = w, k, j;
    s.d = d;
    s.act = (size_t)d->z_channels * H * W;
    vae__size_conv(&s, &d->post_quant, H, W, 0);
    vae__size_conv(&s, &d->conv_in, H, W, 0);
    vae__size_resnet(&s, &d->mid_res[0], H, W);
    vae__size_attn(&s, &d->mid_attn, (size_t)H * W);
    vae__size_resnet(&s, &d->mid_res[1], H, W);
    for (k = 0; k < d->nlevels; k++) {
        const vae_level *lv = &d->level[k];
        for (j = 0; j < lv->nres; j++) {
            vae__size_resnet(&s, &lv->res[j], H, W);
            if (lv->has_attn[j]) vae__size_attn(&s, &lv->attn[j], (size_t)H * W);
        }
        if (lv->has_up) { vae__size_conv(&s, &lv->up, H, W, 1); H *= 2; W *= 2; }
    }
    vae__size_conv(&s, &d->conv_out, H, W, 0);
    return s;
}

/* Bytes of workspace vae_decode allocates for latents of h x w (on top of
   the 4 * d->nparams bytes of weights), independent of the batch size. */
VAEDEF size_t vae_workspace_bytes(const vae_decoder *d, int h, int w) {
    vae__sizes s = vae__workspace(d, h, w);
    return (3 * s.act + s.col + 3 * s.attn + s.score) * sizeof(float);
}

/* multiply-adds of one conv on an H x W output grid: direct, or (performed)
   what the chosen algorithm multiplies: Winograd 16 per 2x2 tile */
static double vae__conv_macs(const vae_decoder *d, const vae_conv *cv, int H, int W, int performed) {
    double cc = (double)cv->cout * cv->cin;
    if (performed && cv->k == 3 && d->winograd) return cc * 16.0 * ((H + 1) / 2) * ((W + 1) / 2);
    return cc * cv->k * cv->k * H * W;
}

static double vae__res_macs(const vae_decoder *d, const vae_resnet *r, int H, int W, int performed) {
    return vae__conv_macs(d, &r->conv1, H, W, performed) + vae__conv_macs(d, &r->conv2, H, W, performed) +
           (r->shortcut.w ? vae__conv_macs(d, &r->shortcut, H, W, performed) : 0);
}

/* Q, K, V, out projections (4 C^2 T) and S = Q^T K, O = V S^T (2 C T^2) */
static double vae__attn_macs(const vae_attn *a, int H, int W) {
    double T = (double)H * W;
    return 4.0 * a->c * a->c * T + 2.0 * a->c * T * T;
}

/* Multiply-adds of one decode of an h x w latent (convolutions and attention
   matmuls; the norms and activations are not counted).  performed = 0: the
   convolutions counted as direct ones (the usual count, 311 G for a 256x256
   SD-VAE image); 1: what this decoder multiplies (Winograd does 3x3 convs
   with 16/36 of the direct count). */
VAEDEF double vae_macs(const vae_decoder *d, int h, int w, int performed) {
    double m = 0;
    int H = h, W = w, k, j;
    m += vae__conv_macs(d, &d->post_quant, H, W, performed) + vae__conv_macs(d, &d->conv_in, H, W, performed);
    m += vae__res_macs(d, &d->mid_res[0], H, W, performed) + vae__attn_macs(&d->mid_attn, H, W) +
         vae__res_macs(d, &d->mid_res[1], H, W, performed);
    for (k = 0; k < d->nlevels; k++) {
        const vae_level *lv = &d->level[k];
        for (j = 0; j < lv->nres; j++) {
            m += vae__res_macs(d, &lv->res[j], H, W, performed);
            if (lv->has_attn[j]) m += vae__attn_macs(&lv->attn[j], H, W);
        }
        if (lv->has_up) { H *= 2; W *= 2; m += vae__conv_macs(d, &lv->up, H, W, performed); }
    }
    return m + vae__conv_macs(d, &d->conv_out, H, W, performed);
}

/* Decode n latents z (n, c, h, w) into x (n, out_channels, h f, w f),
   f = d->factor, one image at a time.  c must be d->z_channels.  0, or -1
   with vae_error() (wrong channel count, non-finite latent, out of memory). */
VAEDEF int vae_decode(vae_decoder *d, const float *z, size_t n, int c, int h, int w, float *x) {
    size_t zn, xn, i;
    if (!d || !z || !x) return vae__fail("vae_decode: NULL argument");
    if (c != d->z_channels)
        return vae__fail("latents have %d channels, but the decoder %s takes %d (%s is [%d, %d, 1, 1])",
                         c, d->path, d->z_channels, d->zkey, d->post_quant.cout, d->post_quant.cin);
    if (h < 1 || w < 1 || (double)h * w * d->factor * d->factor > (double)(1 << 26))
        return vae__fail("latents of %d x %d: size out of range for %s", h, w, d->path);
    {   /* grow the workspace if this latent size needs more */
        size_t bytes = vae_workspace_bytes(d, h, w);
        if (!d->work || bytes > d->work_bytes) {
            free(d->work);
            d->work_bytes = 0;
            if (!(d->work = (float *)malloc(bytes + 64)))
                return vae__fail("%s: out of memory for a %zu-byte workspace", d->path, bytes);
            d->work_bytes = bytes;
        }
    }
    zn = (size_t)c * h * w;
    xn = (size_t)d->out_channels * h * d->factor * w * d->factor;
    for (i = 0; i < n; i++) {
        const float *zi = z + i * zn;
        vae__sizes s = vae__workspace(d, h, w);
        float *A = d->work, *B = A + s.act, *Hb = B + s.act, *col = Hb + s.act;
        float *q = col + s.col, *kk = q + s.attn, *v = kk + s.attn, *S = v + s.attn;
        float *cur = A, *tmp = B, *sw;
        int H = h, W = w, k, j;
        size_t e;
        for (e = 0; e < zn; e++)
            if (!isfinite(zi[e]))
                return vae__fail("latent %zu has a non-finite value at element %zu (decoder %s)", i, e, d->path);
        vae__conv_fwd(d, &d->post_quant, zi, H, W, 0, 0, cur, col);
        vae__conv_fwd(d, &d->conv_in, cur, H, W, 0, 0, tmp, col);
        sw = cur; cur = tmp; tmp = sw;
        vae__resnet_fwd(d, &d->mid_res[0], &cur, &tmp, Hb, H, W, col);
        vae__attention(d, &d->mid_attn, cur, Hb, tmp, (size_t)H * W, q, kk, v, S);
        sw = cur; cur = Hb; Hb = sw;
        vae__resnet_fwd(d, &d->mid_res[1], &cur, &tmp, Hb, H, W, col);
        for (k = 0; k < d->nlevels; k++) {
            const vae_level *lv = &d->level[k];
            for (j = 0; j < lv->nres; j++) {
                vae__resnet_fwd(d, &lv->res[j], &cur, &tmp, Hb, H, W, col);
                if (lv->has_attn[j]) {
                    vae__attention(d, &lv->attn[j], cur, Hb, tmp, (size_t)H * W, q, kk, v, S);
                    sw = cur; cur = Hb; Hb = sw;
                }
            }
            if (lv->has_up) {
                vae__conv_fwd(d, &lv->up, cur, H, W, 1, 0, Hb, col);
                sw = cur; cur = Hb; Hb = sw;
                H *= 2; W *= 2;
            }
        }
        vae__groupnorm(&d->norm_out, cur, tmp, (size_t)H * W, 1);
        vae__conv_fwd(d, &d->conv_out, tmp, H, W, 0, 0, x + i * xn, col);
    }
    return 0;
}

#endif /* VAE_H */
