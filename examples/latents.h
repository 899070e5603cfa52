/* latents.h - the two released ImageNet latent data sets, streamed with a
   seeded shuffle (not part of ig.h).  Include ig.h (for ig_rng and the
   safetensors reader), then this file; it includes npy.h and pt.h.

   REPA folder (SiT + IG; the REPA preprocessing of ImageNet with the SD VAE):
       <root>/vae-sd/dataset.json   {"labels": [["00000/img-mean-std-00000000.npy", 0], ...]}
       <root>/vae-sd/00000/img-mean-std-00000000.npy   float32 (8,32,32): the
           VAE posterior mean (4,32,32), then its std (4,32,32)
     a training sample is z = (mean + std * n) * 0.18215 with fresh n ~ N(0, I)
     (C*H*W ig_rng_normal draws per sample, after reading it).
   LightningDiT shards (VA-VAE f16d32 latents):
       <dir>/latents_rank00_shard000.safetensors, ..._shard001, ..., rank01, ...
           latents (N,32,16,16), latents_flip (N,32,16,16) (F32/F16/BF16),
           labels (N) (I64 or I32)
       latents_stats.pt (or its pt2st conversion): mean, std of (1,32,1,1)
     a training sample is z = (x - mean) / std, x from latents_flip when one
     ig_rng_uniform draw is below 1/2, else from latents.

       lat_dataset d;
       lat_open_repa(&d, "/data/imagenet", 1000, seed);                or
       lat_open_shards(&d, "/data/latents", "latents_stats.pt", 1000, seed);
       lat_next(&d, B, z, y);        z (B, d.C, d.H, d.W) ready to train on, y (B)
       lat_close(&d);
       lat_read_stats("latents_stats.pt", 32, mean, std);   the statistics alone

   Order: epoch e visits every sample once in a Fisher-Yates permutation drawn
   from an ig_rng seeded with seed ^ (0x9E3779B97F4A7C15 * (e + 1)); the same
   seed gives the same order on every machine.  lat_next runs across epochs.
   The noise / flip generator d.rng is seeded with seed ^ 0xD1B54A32D192ED03.
   To resume: save d.epoch, d.pos and d.rng; lat_seek(&d, epoch, pos), then
   restore d.rng.

   Memory: samples are read one at a time from disk; what stays in memory is
   4 bytes of label and 4 of permutation per sample, plus for REPA the file
   names and their offsets ("00000/img-mean-std-00000000.npy" + NUL + 8 bytes:
   40 bytes per sample, 61 MB for ImageNet's 1.28 M; while dataset.json is
   parsed, also its text) and for the shards one open FILE per shard.
   Nothing else grows with the data set.

   Errors (a missing or malformed dataset.json, a listed file that is missing,
   an .npy of the wrong dtype or shape, a label out of range, a NaN in the
   data, a shard without one of its tensors) return -1 with lat_error()
   naming the file and the problem. */
#ifndef LATENTS_H
#define LATENTS_H

#include <math.h>
#include "npy.h"
#include "pt.h"

#if defined(__GNUC__)
#define LATDEF static __attribute__((unused))
#else
#define LATDEF static
#endif

#define LAT_SD_SCALE 0.18215f              /* the SD VAE's latent scale factor  */
#define LAT_MAX_JSON (1u << 30)            /* a larger dataset.json is refused  */
#define LAT_MAX_SAMPLES 0x7fffffffu

typedef enum { LAT_REPA, LAT_SHARDS } lat_format;

typedef struct lat_shard {
    char path[600];
    ig_st_file st;
    const ig_st_tensor *lat, *flip;
    size_t n, first;          /* samples, global index of the first one */
} lat_shard;

typedef struct lat_dataset {
    lat_format format;
    int C, H, W;              /* shape of one z                                     */
    int num_classes;
    size_t n;                 /* samples                                            */
    int *labels;              /* n labels, 0..num_classes-1                          */
    char dir[512];            /* REPA: the folder of dataset.json; shards: the folder */
    char *names;              /* REPA: the n relative file names, NUL-separated      */
    uint64_t *name_at;        /* REPA: offset of each name in names                  */
    lat_shard *shards;
    int nshards;
    float *mean, *std;        /* shards: C channel statistics                         */
    float *buf;               /* one raw sample                                       */
    uint64_t seed, epoch;
    size_t pos;               /* next position in the epoch's permutation             */
    uint32_t *perm;
    ig_rng rng;               /* noise (REPA) and flips (shards)                      */
} lat_dataset;

static char lat__err[1200];
LATDEF const char *lat_error(void) { return lat__err; }

#if defined(__GNUC__)
static int lat__fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
static int lat__fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lat__err, sizeof lat__err, fmt, ap);
    va_end(ap);
    return -1;
}

LATDEF void lat_close(lat_dataset *d) {
    int i;
    for (i = 0; i < d->nshards; i++) ig_st_close(&d->shards[i].st);
    free(d->shards); free(d->labels); free(d->names); free(d->name_at);
    free(d->mean); free(d->std); free(d->buf); free(d->perm);
    memset(d, 0, sizeof *d);
}

/* The permutation of epoch e (see the top comment). */
static void lat__shuffle(lat_dataset *d) {
    ig_rng r;
    size_t i;
    ig_rng_seed(&r, d->seed ^ (0x9E3779B97F4A7C15ull * (d->epoch + 1)));
    for (i = 0; i < d->n; i++) d->perm[i] = (uint32_t)i;
    for (i = d->n; i > 1; i--) {
        size_t j = (size_t)(ig_rng_u64(&r) % i), k = i - 1;
        uint32_t t = d->perm[k]; d->perm[k] = d->perm[j]; d->perm[j] = t;
    }
}

/* Moves to position pos of epoch e (for resuming). */
LATDEF int lat_seek(lat_dataset *d, uint64_t epoch, size_t pos) {
    if (pos > d->n) return lat__fail("lat_seek: position %lu beyond %lu samples", (unsigned long)pos, (unsigned long)d->n);
    d->epoch = epoch;
    d->pos = pos;
    lat__shuffle(d);
    return 0;
}

static int lat__start(lat_dataset *d, uint64_t seed) {
    d->seed = seed;
    d->perm = (uint32_t *)malloc(d->n * sizeof(uint32_t) + 1);
    d->buf = (float *)malloc((size_t)d->C * (size_t)d->H * (size_t)d->W * 2 * sizeof(float) + 16);
    if (!d->perm || !d->buf) return lat__fail("out of memory for %lu samples", (unsigned long)d->n);
    ig_rng_seed(&d->rng, seed ^ 0xD1B54A32D192ED03ull);
    return lat_seek(d, 0, 0);
}

/* ------------------------------------------------- dataset.json (strict) --- */
/* Exactly {"labels": [[<string>, <integer>], ...]} with any JSON whitespace;
   strings with every JSON escape; nothing else.  Parsed without recursion. */
typedef struct { const char *p, *end, *start, *path; } lat__json;

static int lat__jfail(lat__json *j, const char *what) {
    return lat__fail("%s: malformed dataset.json at byte %lu: %s", j->path, (unsigned long)(j->p - j->start), what);
}

static void lat__ws(lat__json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int lat__expect(lat__json *j, char c) {
    char msg[32];
    lat__ws(j);
    if (j->p < j->end && *j->p == c) { j->p++; return 0; }
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return lat__jfail(j, msg);
}

static int lat__hex4(const char *p, unsigned *v) {
    int k;
    *v = 0;
    for (k = 0; k < 4; k++) {
        char c = p[k];
        *v <<= 4;
        if (c >= '0' && c <= '9') *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') *v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    return 0;
}

/* A JSON string, decoded to UTF-8 into out (cap bytes, NUL-terminated). */
static int lat__string(lat__json *j, char *out, size_t cap, size_t *len) {
    size_t n = 0;
    lat__ws(j);
    if (j->p >= j->end || *j->p != '"') return lat__jfail(j, "expected a string");
    j->p++;
    for (;;) {
        unsigned c;
        if (j->p >= j->end) return lat__jfail(j, "unterminated string");
        c = (unsigned char)*j->p++;
        if (c == '"') break;
        if (c < 0x20) return lat__jfail(j, "control character in a string");
        if (c == '\\') {
            if (j->p >= j->end) return lat__jfail(j, "unterminated escape");
            c = (unsigned char)*j->p++;
            switch (c) {
            case '"': case '\\': case '/': break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                unsigned lo;
                if (j->end - j->p < 4 || lat__hex4(j->p, &c)) return lat__jfail(j, "bad \\u escape");
                j->p += 4;
                if (c >= 0xdc00 && c < 0xe000) return lat__jfail(j, "lone low surrogate");
                if (c >= 0xd800 && c < 0xdc00) {
                    if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || lat__hex4(j->p + 2, &lo) ||
                        lo < 0xdc00 || lo >= 0xe000) return lat__jfail(j, "lone high surrogate");
                    j->p += 6;
                    c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (c == 0) return lat__jfail(j, "\\u0000 in a string");
                if (n + 4 >= cap) return lat__jfail(j, "string too long");
                if (c < 0x80) out[n++] = (char)c;
                else if (c < 0x800) { out[n++] = (char)(0xc0 | c >> 6); out[n++] = (char)(0x80 | (c & 63)); }
                else if (c < 0x10000) { out[n++] = (char)(0xe0 | c >> 12); out[n++] = (char)(0x80 | (c >> 6 & 63)); out[n++] = (char)(0x80 | (c & 63)); }
                else { out[n++] = (char)(0xf0 | c >> 18); out[n++] = (char)(0x80 | (c >> 12 & 63)); out[n++] = (char)(0x80 | (c >> 6 & 63)); out[n++] = (char)(0x80 | (c & 63)); }
                continue;
            }
            default: return lat__jfail(j, "unknown escape");
            }
        }
        if (n + 1 >= cap) return lat__jfail(j, "string too long");
        out[n++] = (char)c;
    }
    out[n] = 0;
    *len = n;
    return 0;
}

/* A non-negative JSON integer (no fraction, no exponent). */
static int lat__int(lat__json *j, long long *v) {
    long long x = 0;
    const char *s;
    lat__ws(j);
    s = j->p;
    if (j->p < j->end && *j->p == '-') return lat__jfail(j, "negative label");
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (x > 100000000LL) return lat__jfail(j, "label too large");
        x = x * 10 + (*j->p++ - '0');
    }
    if (j->p == s) return lat__jfail(j, "expected an integer label");
    if (j->p - s > 1 && *s == '0') return lat__jfail(j, "leading zero in a number");
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) return lat__jfail(j, "label is not an integer");
    *v = x;
    return 0;
}

/* A relative path inside the data folder: no leading '/', no ".." part. */
static int lat__safe_path(const char *s) {
    const char *p = s;
    if (!*s || *s == '/' || *s == '\\') return 0;
    while (*p) {
        const char *e = p;
        while (*e && *e != '/' && *e != '\\') e++;
        if (e - p == 2 && p[0] == '.' && p[1] == '.') return 0;
        p = *e ? e + 1 : e;
    }
    return 1;
}

/* Parses dataset.json text (n bytes) into d->names / name_at / labels / n. */
LATDEF int lat_parse_dataset_json(lat_dataset *d, const char *path, const char *text, size_t n, int num_classes) {
    lat__json j;
    char key[64], name[4096];
    size_t len, names_cap = 0, names_len = 0, cap = 0;
    int seen = 0;
    j.p = j.start = text; j.end = text + n; j.path = path;
    d->n = 0;
    if (lat__expect(&j, '{')) return -1;
    lat__ws(&j);
    if (j.p < j.end && *j.p == '}') return lat__jfail(&j, "no \"labels\"");
    for (;;) {
        if (lat__string(&j, key, sizeof key, &len)) return -1;
        if (strcmp(key, "labels")) return lat__fail("%s: unknown key \"%s\" in dataset.json (only \"labels\")", path, key);
        if (seen++) return lat__fail("%s: \"labels\" appears twice", path);
        if (lat__expect(&j, ':') || lat__expect(&j, '[')) return -1;
        lat__ws(&j);
        if (j.p < j.end && *j.p == ']') j.p++;
        else for (;;) {
            long long label = 0;
            if (lat__expect(&j, '[') || lat__string(&j, name, sizeof name, &len) || lat__expect(&j, ',') ||
                lat__int(&j, &label) || lat__expect(&j, ']')) return -1;
            if (!lat__safe_path(name)) return lat__fail("%s: entry %lu: '%s' is not a relative path inside the folder", path, (unsigned long)d->n, name);
            if (label >= num_classes) return lat__fail("%s: entry %lu ('%s'): label %lld out of range [0, %d)", path, (unsigned long)d->n, name, label, num_classes);
            if (d->n == LAT_MAX_SAMPLES) return lat__fail("%s: more than %u samples", path, LAT_MAX_SAMPLES);
            if (d->n == cap) {
                size_t c2 = cap ? 2 * cap : 1024;
                int *l2 = (int *)realloc(d->labels, c2 * sizeof(int));
                uint64_t *a2;
                if (!l2) return lat__fail("%s: out of memory", path);
                d->labels = l2;
                a2 = (uint64_t *)realloc(d->name_at, c2 * sizeof(uint64_t));
                if (!a2) return lat__fail("%s: out of memory", path);
                d->name_at = a2;
                cap = c2;
            }
            if (names_len + len + 1 > names_cap) {
                size_t c2 = 2 * names_cap + len + 4096;
                char *n2 = (char *)realloc(d->names, c2);
                if (!n2) return lat__fail("%s: out of memory", path);
                d->names = n2; names_cap = c2;
            }
            memcpy(d->names + names_len, name, len + 1);
            d->name_at[d->n] = names_len;
            d->labels[d->n] = (int)label;
            names_len += len + 1;
            d->n++;
            lat__ws(&j);
            if (j.p < j.end && *j.p == ',') { j.p++; continue; }
            if (lat__expect(&j, ']')) return -1;
            break;
        }
        lat__ws(&j);
        if (j.p < j.end && *j.p == ',') { j.p++; continue; }
        if (lat__expect(&j, '}')) return -1;
        break;
    }
    lat__ws(&j);
    if (j.p != j.end) return lat__jfail(&j, "text after the object");
    if (d->n == 0) return lat__fail("%s: \"labels\" is empty", path);
    return 0;
}

/* ------------------------------------------------------------ REPA --- */
static FILE *lat__fopen(const char *path) { return fopen(path, "rb"); }

/* Reads sample i's .npy into d->buf (2C*H*W floats); sets C, H, W when 0. */
static int lat__repa_read(lat_dataset *d, size_t i) {
    char path[sizeof d->dir + 4200];
    npy_array a;
    size_t k;
    snprintf(path, sizeof path, "%s/%s", d->dir, d->names + d->name_at[i]);
    if (npy_read(path, &a)) {
        return lat__fail("%s/dataset.json entry %lu: %s", d->dir, (unsigned long)i, npy_error());
    }
    if (a.dtype != NPY_F32 || a.ndim != 3 || a.shape[0] == 0 || a.shape[0] % 2 || a.shape[1] == 0 || a.shape[2] == 0 ||
        (d->C && (a.shape[0] != 2 * (size_t)d->C || a.shape[1] != (size_t)d->H || a.shape[2] != (size_t)d->W))) {
        char want[64];
        if (d->C) snprintf(want, sizeof want, "(%d, %d, %d)", 2 * d->C, d->H, d->W);
        else snprintf(want, sizeof want, "(2C, H, W)");
        lat__fail("%s: expected float32 %s (mean then std), found %s with %d dims (%lu, ...)", path, want,
                  a.dtype == NPY_F32 ? "float32" : "another dtype", a.ndim, (unsigned long)(a.ndim ? a.shape[0] : 0));
        npy_free(&a);
        return -1;
    }
    if (!d->C) {
        if (a.shape[0] > 4096 || a.shape[1] > 4096 || a.shape[2] > 4096) { npy_free(&a); return lat__fail("%s: shape too large", path); }
        d->C = (int)a.shape[0] / 2; d->H = (int)a.shape[1]; d->W = (int)a.shape[2];
        npy_free(&a);
        return 0;
    }
    for (k = 0; k < a.n; k++)
        if (!isfinite(((float *)a.data)[k]) || (k >= a.n / 2 && ((float *)a.data)[k] < 0)) {
            npy_free(&a);
            return lat__fail("%s: element %lu is %s", path, (unsigned long)k, k >= a.n / 2 ? "not a finite std >= 0" : "not finite");
        }
    memcpy(d->buf, a.data, a.n * sizeof(float));
    npy_free(&a);
    return 0;
}

/* Opens a REPA folder: <root>/vae-sd/dataset.json, or <root>/dataset.json.
   The first listed file fixes C, H, W. */
LATDEF int lat_open_repa(lat_dataset *d, const char *root, int num_classes, uint64_t seed) {
    char path[sizeof d->dir + 32];
    FILE *f;
    char *text;
    long sz;
    memset(d, 0, sizeof *d);
    d->format = LAT_REPA;
    d->num_classes = num_classes;
    if (strlen(root) + 8 >= sizeof d->dir) return lat__fail("%s: path too long", root);
    snprintf(d->dir, sizeof d->dir, "%s/vae-sd", root);
    snprintf(path, sizeof path, "%s/dataset.json", d->dir);
    if (!(f = lat__fopen(path))) {
        snprintf(d->dir, sizeof d->dir, "%s", root);
        snprintf(path, sizeof path, "%s/dataset.json", d->dir);
        if (!(f = lat__fopen(path)))
            return lat__fail("%s/vae-sd/dataset.json: cannot open (nor %s): %s", root, path, strerror(errno));
    }
    if (fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) { fclose(f); return lat__fail("%s: cannot determine the size", path); }
    if ((unsigned long)sz > LAT_MAX_JSON) { fclose(f); return lat__fail("%s: %ld bytes is too large", path, sz); }
    text = (char *)malloc((size_t)sz + 1);
    if (!text) { fclose(f); return lat__fail("%s: out of memory", path); }
    if (fread(text, 1, (size_t)sz, f) != (size_t)sz) { free(text); fclose(f); return lat__fail("%s: read error", path); }
    fclose(f);
    if (lat_parse_dataset_json(d, path, text, (size_t)sz, num_classes)) { free(text); lat_close(d); return -1; }
    free(text);
    if (lat__repa_read(d, 0) || lat__start(d, seed)) { lat_close(d); return -1; }
    return 0;
}

/* ------------------------------------------------------------ shards --- */
static int lat__seek(FILE *f, uint64_t off) {
#if defined(_WIN32)
    return _fseeki64(f, (__int64)off, SEEK_SET) == 0 ? 0 : -1;
#else
    if (off > (uint64_t)LONG_MAX) return -1;
    return fseek(f, (long)off, SEEK_SET) == 0 ? 0 : -1;
#endif
}

/* Channel statistics from latents_stats.pt or a safetensors file with 'mean'
   and 'std' of C elements each (shape (1,C,1,1) or (C)), into mean (C) and
   std (C); each finite, std > 0.  Public: the sampler un-normalizes with it. */
LATDEF int lat_read_stats(const char *path, int C, float *mean, float *std) {
    size_t len = strlen(path), c;
    const char *names[2] = { "mean", "std" };
    float *dst[2];
    int k;
    dst[0] = mean; dst[1] = std;
    if (len > 12 && !strcmp(path + len - 12, ".safetensors")) {
        ig_st_file st;
        if (ig_st_open(&st, path)) return lat__fail("%s", ig_last_error());
        for (k = 0; k < 2; k++) {
            const ig_st_tensor *t = ig_st_find(&st, names[k]);
            if (!t || ig_st_numel(t) != (size_t)C) { ig_st_close(&st); return lat__fail("%s: needs '%s' with %d elements", path, names[k], C); }
            if (ig_st_read_f32(&st, t, dst[k], (size_t)C)) { ig_st_close(&st); return lat__fail("%s", ig_last_error()); }
        }
        ig_st_close(&st);
    } else {
        pt_file pt;
        if (pt_open(&pt, path)) return lat__fail("%s", pt_error());
        for (k = 0; k < 2; k++) {
            const pt_value *v = pt_dict_get(pt.root, names[k]);
            if (!v || v->kind != PT_TENSOR || v->tensor->numel != (uint64_t)C) { pt_close(&pt); return lat__fail("%s: needs a tensor '%s' with %d elements", path, names[k], C); }
            if (pt_read_f32(&pt, v->tensor, dst[k], (size_t)C)) { pt_close(&pt); return lat__fail("%s", pt_error()); }
        }
        pt_close(&pt);
    }
    for (c = 0; c < (size_t)C; c++)
        if (!isfinite(mean[c]) || !isfinite(std[c]) || !(std[c] > 0))
            return lat__fail("%s: channel %lu: mean %g, std %g (std must be finite and > 0)", path, (unsigned long)c, mean[c], std[c]);
    return 0;
}

static int lat__stats(lat_dataset *d, const char *path) {
    d->mean = (float *)malloc((size_t)d->C * sizeof(float));
    d->std = (float *)malloc((size_t)d->C * sizeof(float));
    if (!d->mean || !d->std) return lat__fail("out of memory");
    return lat_read_stats(path, d->C, d->mean, d->std);
}

/* Opens the shards latents_rank{RR}_shard{SSS}.safetensors of dir: for each
   rank from 00, shards from 000 until one is missing; ranks until a rank has
   no shard 000.  Every shard is checked and its labels read now. */
LATDEF int lat_open_shards(lat_dataset *d, const char *dir, const char *stats, int num_classes, uint64_t seed) {
    int rank, shard, cap = 0;
    size_t k;
    memset(d, 0, sizeof *d);
    d->format = LAT_SHARDS;
    d->num_classes = num_classes;
    if (strlen(dir) + 48 >= sizeof d->dir) return lat__fail("%s: path too long", dir);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    for (rank = 0; rank < 100; rank++) {
        for (shard = 0; shard < 1000; shard++) {
            lat_shard *s;
            const ig_st_tensor *lab;
            int64_t *l64;
            char path[sizeof d->dir + 64];
            FILE *probe;
            snprintf(path, sizeof path, "%s/latents_rank%02d_shard%03d.safetensors", dir, rank, shard);
            if (!(probe = lat__fopen(path))) break;
            fclose(probe);
            if (d->nshards == cap) {
                int c2 = cap ? 2 * cap : 16;
                lat_shard *s2 = (lat_shard *)realloc(d->shards, (size_t)c2 * sizeof *s2);
                if (!s2) { lat_close(d); return lat__fail("out of memory"); }
                d->shards = s2; cap = c2;
            }
            s = &d->shards[d->nshards];
            memset(s, 0, sizeof *s);
            snprintf(s->path, sizeof s->path, "%s", path);
            if (ig_st_open(&s->st, path)) { lat__fail("%s", ig_last_error()); lat_close(d); return -1; }
            d->nshards++;
            s->lat = ig_st_find(&s->st, "latents");
            s->flip = ig_st_find(&s->st, "latents_flip");
            lab = ig_st_find(&s->st, "labels");
            if (!s->lat || !s->flip || !lab) { lat__fail("%s: needs the tensors latents, latents_flip and labels", path); lat_close(d); return -1; }
            if (s->lat->ndim != 4 || s->flip->ndim != 4 || memcmp(s->lat->shape, s->flip->shape, sizeof s->lat->shape) ||
                s->lat->dtype != s->flip->dtype || (s->lat->dtype != IG_F32 && s->lat->dtype != IG_F16 && s->lat->dtype != IG_BF16) ||
                s->lat->shape[1] < 1 || s->lat->shape[2] < 1 || s->lat->shape[3] < 1 ||
                s->lat->shape[1] > 4096 || s->lat->shape[2] > 4096 || s->lat->shape[3] > 4096 ||
                ig_st_numel(lab) != (size_t)s->lat->shape[0] || lab->ndim != 1) {
                lat__fail("%s: latents and latents_flip must both be (N,C,H,W) F32/F16/BF16 and labels (N)", path);
                lat_close(d); return -1;
            }
            if (d->nshards == 1) { d->C = (int)s->lat->shape[1]; d->H = (int)s->lat->shape[2]; d->W = (int)s->lat->shape[3]; }
            else if (s->lat->shape[1] != d->C || s->lat->shape[2] != d->H || s->lat->shape[3] != d->W) {
                lat__fail("%s: latents are (%d,%d,%d) per sample, the first shard's are (%d,%d,%d)", path,
                          (int)s->lat->shape[1], (int)s->lat->shape[2], (int)s->lat->shape[3], d->C, d->H, d->W);
                lat_close(d); return -1;
            }
            s->n = (size_t)s->lat->shape[0];
            s->first = d->n;
            if (s->n > LAT_MAX_SAMPLES - d->n) { lat__fail("%s: more than %u samples in all", path, LAT_MAX_SAMPLES); lat_close(d); return -1; }
            {
                int *l2 = (int *)realloc(d->labels, (d->n + s->n) * sizeof(int) + 1);
                l64 = (int64_t *)malloc(s->n * sizeof(int64_t) + 1);
                if (!l2 || !l64) { free(l64); if (l2) d->labels = l2; lat__fail("out of memory"); lat_close(d); return -1; }
                d->labels = l2;
            }
            if (ig_st_read_i64(&s->st, lab, l64, s->n)) { free(l64); lat__fail("%s: labels: %s", path, ig_last_error()); lat_close(d); return -1; }
            for (k = 0; k < s->n; k++) {
                if (l64[k] < 0 || l64[k] >= num_classes) {
                    lat__fail("%s: label %lld of sample %lu is out of range [0, %d)", path, (long long)l64[k], (unsigned long)k, num_classes);
                    free(l64); lat_close(d); return -1;
                }
                d->labels[d->n + k] = (int)l64[k];
            }
            free(l64);
            d->n += s->n;
        }
        if (shard == 0) break;
    }
    if (d->nshards == 0) return lat__fail("%s: no latents_rank00_shard000.safetensors", dir);
    if (d->n == 0) { lat_close(d); return lat__fail("%s: the shards hold no samples", dir); }
    if (lat__stats(d, stats) || lat__start(d, seed)) { lat_close(d); return -1; }
    return 0;
}

/* Reads sample i (global index) of a shard set, flipped or not, into d->buf. */
static int lat__shard_read(lat_dataset *d, size_t i, int flip) {
    int lo = 0, hi = d->nshards - 1;
    lat_shard *s;
    const ig_st_tensor *t;
    size_t per = (size_t)d->C * (size_t)d->H * (size_t)d->W, es, k;
    while (lo < hi) {                        /* the shard holding i */
        int mid = (lo + hi + 1) / 2;
        if (d->shards[mid].first <= i) lo = mid; else hi = mid - 1;
    }
    s = &d->shards[lo];
    t = flip ? s->flip : s->lat;
    es = (size_t)t->dtype_size;
    if (lat__seek(s->st.f, (uint64_t)s->st.data_start + t->begin + (uint64_t)(i - s->first) * per * es) ||
        fread(d->buf, es, per, s->st.f) != per)
        return lat__fail("%s: cannot read sample %lu of %s", s->path, (unsigned long)(i - s->first), flip ? "latents_flip" : "latents");
    if (es == 2) {                           /* widen in place, from the back */
        const uint16_t *h = (const uint16_t *)d->buf;
        for (k = per; k-- > 0;) {
            if (t->dtype == IG_F16) d->buf[k] = pt__f16(h[k]);
            else { uint32_t b = (uint32_t)h[k] << 16; memcpy(&d->buf[k], &b, 4); }   /* BF16: the top half of an F32 */
        }
    }
    for (k = 0; k < per; k++)
        if (!isfinite(d->buf[k]))
            return lat__fail("%s: sample %lu of %s has a non-finite value", s->path, (unsigned long)(i - s->first), flip ? "latents_flip" : "latents");
    return 0;
}

/* The next B training samples: z (B, C, H, W), labels y (B).  Crosses into
   the next epoch (a new permutation) when one ends. */
LATDEF int lat_next(lat_dataset *d, size_t B, float *z, int *y) {
    size_t b, per = (size_t)d->C * (size_t)d->H * (size_t)d->W, k;
    for (b = 0; b < B; b++) {
        size_t i;
        float *zb = z + b * per;
        if (d->pos == d->n) { d->epoch++; d->pos = 0; lat__shuffle(d); }
        i = d->perm[d->pos];
        if (d->format == LAT_REPA) {
            if (lat__repa_read(d, i)) return -1;
            for (k = 0; k < per; k++)         /* z = (mean + std n) * 0.18215 */
                zb[k] = (d->buf[k] + d->buf[per + k] * ig_rng_normal(&d->rng)) * LAT_SD_SCALE;
        } else {
            size_t c, hw = (size_t)d->H * (size_t)d->W;
            int flip = ig_rng_uniform(&d->rng) < 0.5f;
            if (lat__shard_read(d, i, flip)) return -1;
            for (c = 0; c < (size_t)d->C; c++)    /* z = (x - mean) / std, per channel */
                for (k = 0; k < hw; k++) zb[c * hw + k] = (d->buf[c * hw + k] - d->mean[c]) / d->std[c];
        }
        y[b] = d->labels[i];
        d->pos++;
    }
    return 0;
}

#endif /* LATENTS_H */
