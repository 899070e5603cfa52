/* test_st.c - the safetensors reader / writer and checkpoints (ig.h Appendix B).
   Round trip of every dtype, F16/BF16 decoding (F16 exhaustively), escaped
   names, a battery of malformed headers, truncation at every offset, header
   corruption, random mutations, writer argument errors and the atomic save.
   Scratch files are build/test_st_<pid>_*.safetensors (or under $TMPDIR when
   build/ is not there) and are removed by every test, pass or fail. */
#define _XOPEN_SOURCE 700 /* POSIX 2008 with XSI: mkdir, symlink, mkfifo, mknod, fork, setrlimit */
#include "../ig.h"
#include "test.h"
#include "files.h"
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "scratch.h"
#if defined(__unix__) || defined(__APPLE__)
#define ST_FORK 1                 /* the save tests below that fork, kill and limit file sizes */
#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/sysmacros.h>   /* makedev */
#endif
#include <sys/wait.h>
#else
#define ST_FORK 0
#endif

/* ------------------------------------------------------------ helpers --- */

/* A scratch path build/test_st_<pid>_<name> into out, removed by cleanup (scratch.h). */
static void spath(char *out, size_t cap, const char *name)
{
    const char *p = scratch_path("test_st", name);
    size_t n = strlen(p) < cap ? strlen(p) : cap - 1;   /* cut to cap, as snprintf would */
    memcpy(out, p, n);
    out[n] = 0;
}

/* A file: 8-byte little-endian header length, the header, then the data. */
static int make_file(const char *path, const char *hdr, size_t hlen, const void *data, size_t dlen)
{
    size_t n = 8 + hlen + dlen, i;
    unsigned char *buf = (unsigned char *)malloc(n + 1);
    int rc;
    if (!buf) return -1;
    for (i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, hdr, hlen);
    if (dlen) memcpy(buf + 8 + hlen, data, dlen);
    rc = write_bytes(path, buf, n);
    free(buf);
    return rc;
}

/* ig_st_open must fail, the message must name the file and contain 'want',
   and the struct must be left cleared.  Prints why and returns 1 if not. */
static int expect_open_fail_at(int line, const char *label, const char *path, const char *want)
{
    ig_st_file st;
    if (ig_st_open(&st, path) == 0) {
        fprintf(stderr, "    %s:%d: [%s] opened, should have failed\n", __FILE__, line, label);
        ig_st_close(&st);
        return 1;
    }
    if (!strstr(ig_last_error(), path) || (want && !strstr(ig_last_error(), want))) {
        fprintf(stderr, "    %s:%d: [%s] message lacks the path or '%s': %s\n", __FILE__, line, label,
                want ? want : "", ig_last_error());
        return 1;
    }
    if (st.f != NULL || st.tensors != NULL || st.ntensors != 0 || st.nmeta != 0) {
        fprintf(stderr, "    %s:%d: [%s] struct not cleared after a failed open\n", __FILE__, line, label);
        return 1;
    }
    return 0;
}
#define EXPECT_OPEN_FAIL(label, path, want) expect_open_fail_at(__LINE__, label, path, want)

/* A header (with dlen zero bytes of data) that ig_st_open must reject. */
static int bad_header_at(int line, const char *label, const char *hdr, size_t dlen, const char *want)
{
    char path[512];
    unsigned char data[256];
    memset(data, 0, sizeof data);
    spath(path, sizeof path, "bad.safetensors");
    if (make_file(path, hdr, strlen(hdr), data, dlen) != 0) {
        fprintf(stderr, "    %s:%d: [%s] could not write %s\n", __FILE__, line, label, path);
        return 1;
    }
    return expect_open_fail_at(line, label, path, want);
}
#define BAD(label, hdr, dlen, want) (bad |= bad_header_at(__LINE__, label, hdr, dlen, want))

/* One tensor entry of a header. */
#define T(name, dt, shape, off) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Open a file that may or may not be valid.  Returns 1 if the behaviour is
   right: a failure names the file; an opened file has every tensor readable,
   findable by name, and every metadata key findable.  *opened says which. */
static int open_and_read_all(const char *path, int *opened)
{
    ig_st_file st;
    int i, ok = 1;
    *opened = 0;
    if (ig_st_open(&st, path) != 0) return strstr(ig_last_error(), path) != NULL;
    *opened = 1;
    for (i = 0; i < st.ntensors; i++) {
        const ig_st_tensor *t = &st.tensors[i];
        size_t n = ig_st_numel(t);
        void *buf = malloc(n * 8 + 1); /* n <= data size, the file is small */
        if (!buf) { ok = 0; break; }
        if (t->dtype == IG_F32 || t->dtype == IG_F16 || t->dtype == IG_BF16)
            ok &= ig_st_read_f32(&st, t, (float *)buf, n) == 0;
        else if (t->dtype == IG_I64 || t->dtype == IG_I32 || t->dtype == IG_U8)
            ok &= ig_st_read_i64(&st, t, (int64_t *)buf, n) == 0;
        else
            ok &= ig_st_read_raw(&st, t, buf, t->end - t->begin) == 0;
        free(buf);
        ok &= ig_st_find(&st, t->name) == t;
    }
    for (i = 0; i < st.nmeta; i++) ok &= ig_st_meta(&st, st.meta_keys[i]) == st.meta_vals[i];
    ig_st_close(&st);
    return ok;
}

/* A small valid file (two tensors and metadata) read back into memory. */
static unsigned char *valid_file(const char *path, size_t *n)
{
    static const float a[5] = {1, 2, 3, 4, 5};
    static const int64_t b[3] = {1, 2, 3};
    int64_t sa[1] = {5}, sb[1] = {3};
    ig_st_writer w;
    int rc;
    ig_st_writer_init(&w);
    rc = ig_st_add(&w, "a.weight", IG_F32, 1, sa, a) | ig_st_add(&w, "b", IG_I64, 1, sb, b) |
         ig_st_add_meta(&w, "format", "pt") | ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    if (rc) { fprintf(stderr, "    %s:%d: writing %s: %s\n", __FILE__, __LINE__, path, ig_last_error()); return NULL; }
    return read_bytes(path, n);
}

/* ------------------------------------------------------------- tests --- */

/* Every dtype, a scalar, an empty tensor, escaped metadata; the file layout;
   values bit-exact; dtype and count checks on read; sticky writer failure. */
static int roundtrip(void)
{
    char path[512];
    float a[6] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-30f, 6.0f};
    float scal = 42.0f;
    int64_t b[4] = {0, -1, INT64_MAX, INT64_MIN};
    uint16_t h[3] = {0x3c00, 0xc000, 0x7c00};
    int32_t i32[3] = {-7, 0, 2147483647};
    int64_t sa[2] = {2, 3}, sb[1] = {4}, sz[2] = {0, 5}, sh[1] = {3};
    float back[6], bscal = 0, hb[3];
    int64_t bb[4], ib[3];
    ig_st_writer w;
    ig_st_file st;
    const ig_st_tensor *t;
    size_t n = 0;
    unsigned char *raw;
    uint64_t hl = 0;
    int i, ok, rc;

    a[3] = -0.0f;
    a[4] = u2f(0x00000001u); /* an f32 subnormal survives bit-exactly */
    spath(path, sizeof path, "rt.safetensors");
    remove(path);
    ig_st_writer_init(&w);
    rc = ig_st_add(&w, "blocks.0.attn.qkv.weight", IG_F32, 2, sa, a) | ig_st_add(&w, "step", IG_I64, 1, sb, b) |
         ig_st_add(&w, "scalar", IG_F32, 0, NULL, &scal) | ig_st_add(&w, "empty", IG_F32, 2, sz, NULL) |
         ig_st_add(&w, "half", IG_F16, 1, sh, h) | ig_st_add(&w, "ints", IG_I32, 1, sh, i32) |
         ig_st_add_meta(&w, "format", "pt") |
         ig_st_add_meta(&w, "note \"q\"\n\\", "caf\xc3\xa9 \x01 \xf0\x9f\x98\x80");
    if (rc) ig_st_writer_free(&w);
    CHECK(rc == 0, "adding tensors and metadata: %s", ig_last_error());
    rc = ig_st_add(&w, "step", IG_I64, 1, sb, b);
    if (rc == 0) ig_st_writer_free(&w);
    CHECK(rc == -1, "a duplicate name is rejected");
    rc = ig_st_writer_save(&w, path);
    if (rc == 0 || !strstr(ig_last_error(), path)) ig_st_writer_free(&w);
    CHECK(rc == -1, "save refused after a failed add (sticky failure)");
    CHECK(strstr(ig_last_error(), path) != NULL, "the sticky message names the path: %s", ig_last_error());
    w.failed = 0; /* test-only reset: the duplicate was not added */
    rc = ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    CHECK(rc == 0, "save: %s", ig_last_error());

    raw = read_bytes(path, &n);
    CHECK(raw != NULL && n >= 8, "reading back %s", path);
    for (i = 7; i >= 0; i--) hl = (hl << 8) | raw[i];
    ok = 8 + hl <= n && (8 + hl) % 8 == 0 && raw[8] == '{' && (raw[8 + hl - 1] == ' ' || raw[8 + hl - 1] == '}');
    free(raw);
    CHECK(ok, "header starts with '{', is space-padded, the data section is 8-aligned (header %lu bytes)",
          (unsigned long)hl);
    CHECK(n == 8 + hl + 24 + 32 + 4 + 0 + 6 + 12, "file size %lu: data must be contiguous", (unsigned long)n);

    CHECK(ig_st_open(&st, path) == 0, "open: %s", ig_last_error());
    ok = st.ntensors == 6 && strcmp(st.tensors[0].name, "blocks.0.attn.qkv.weight") == 0 &&
         strcmp(st.tensors[5].name, "ints") == 0 && st.nmeta == 2 &&
         ig_st_meta(&st, "format") && strcmp(ig_st_meta(&st, "format"), "pt") == 0 &&
         ig_st_meta(&st, "note \"q\"\n\\") &&
         strcmp(ig_st_meta(&st, "note \"q\"\n\\"), "caf\xc3\xa9 \x01 \xf0\x9f\x98\x80") == 0 &&
         ig_st_meta(&st, "nope") == NULL && ig_st_find(&st, "nope") == NULL;
    if (!ok) ig_st_close(&st);
    CHECK(ok, "tensor count (%d), insertion order, metadata (%d) and lookups", st.ntensors, st.nmeta);

#define RT_CHECK(cond, ...) do { if (!(cond)) ig_st_close(&st); CHECK(cond, __VA_ARGS__); } while (0)
    t = ig_st_find(&st, "blocks.0.attn.qkv.weight");
    RT_CHECK(t && t->dtype == IG_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3, "F32 tensor's entry");
    RT_CHECK(ig_st_read_f32(&st, t, back, 6) == 0, "read F32: %s", ig_last_error());
    for (ok = 1, i = 0; i < 6; i++) ok &= f2u(back[i]) == f2u(a[i]);
    RT_CHECK(ok, "F32 values bit-exact (-0, subnormal)");
    RT_CHECK(ig_st_read_f32(&st, t, back, 5) == -1 && strstr(ig_last_error(), path), "a wrong count is rejected");
    RT_CHECK(ig_st_read_i64(&st, t, bb, 6) == -1 && strstr(ig_last_error(), "F32"), "read_i64 of F32 rejected: %s",
             ig_last_error());
    t = ig_st_find(&st, "step");
    RT_CHECK(t && t->dtype == IG_I64 && t->ndim == 1 && t->shape[0] == 4, "I64 tensor's entry");
    RT_CHECK(ig_st_read_i64(&st, t, bb, 4) == 0 && memcmp(bb, b, sizeof b) == 0, "I64 values exact");
    RT_CHECK(ig_st_read_f32(&st, t, back, 4) == -1 && strstr(ig_last_error(), path), "read_f32 of I64 rejected");
    t = ig_st_find(&st, "scalar");
    RT_CHECK(t && t->ndim == 0 && ig_st_numel(t) == 1, "scalar entry");
    RT_CHECK(ig_st_read_f32(&st, t, &bscal, 1) == 0 && bscal == 42.0f, "scalar value %g", bscal);
    t = ig_st_find(&st, "empty");
    RT_CHECK(t && t->ndim == 2 && ig_st_numel(t) == 0 && t->begin == t->end, "empty tensor entry");
    RT_CHECK(ig_st_read_f32(&st, t, back, 0) == 0, "read an empty tensor: %s", ig_last_error());
    t = ig_st_find(&st, "half");
    RT_CHECK(t && t->dtype == IG_F16, "F16 entry");
    RT_CHECK(ig_st_read_f32(&st, t, hb, 3) == 0, "read F16: %s", ig_last_error());
    RT_CHECK(hb[0] == 1.0f && hb[1] == -2.0f && f2u(hb[2]) == 0x7f800000u, "F16 values %g %g %g", hb[0], hb[1], hb[2]);
    t = ig_st_find(&st, "ints");
    RT_CHECK(t && t->dtype == IG_I32, "I32 entry");
    RT_CHECK(ig_st_read_i64(&st, t, ib, 3) == 0 && ib[0] == -7 && ib[1] == 0 && ib[2] == 2147483647, "I32 values");
#undef RT_CHECK
    ig_st_close(&st);
    ig_st_close(&st); /* a double close is harmless */
    return 0;
}

/* Overwriting works; saving onto a directory is refused, names the path and
   leaves it alone; a missing directory fails. */
static int atomic_save(void)
{
    char path[512], dir[512], bogus[512];
    float one = 1.0f, two = 2.0f;
    ig_st_writer w;
    ig_st_file st;
    struct stat sb;
    int rc;

    spath(path, sizeof path, "atomic.safetensors");
    ig_st_writer_init(&w);
    rc = ig_st_add(&w, "x", IG_F32, 0, NULL, &one) | ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    CHECK(rc == 0, "first save: %s", ig_last_error());
    ig_st_writer_init(&w);
    rc = ig_st_add(&w, "y", IG_F32, 0, NULL, &two) | ig_st_writer_save(&w, path);
    if (rc) ig_st_writer_free(&w);
    CHECK(rc == 0, "overwriting an existing file: %s", ig_last_error());
    rc = ig_st_open(&st, path);
    if (rc == 0) { rc = ig_st_find(&st, "y") && !ig_st_find(&st, "x") ? 0 : -1; ig_st_close(&st); }
    if (rc) ig_st_writer_free(&w);
    CHECK(rc == 0, "the second save replaced the first");

    spath(dir, sizeof dir, "adir");
    rmdir(dir);
    if (mkdir(dir, 0700) != 0) { ig_st_writer_free(&w); CHECK(0, "setup: mkdir %s", dir); }
    rc = ig_st_writer_save(&w, dir);
    if (rc != -1 || !strstr(ig_last_error(), "directory") || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rmdir(dir);
        ig_st_writer_free(&w);
        CHECK(0, "a save onto a directory must be refused and leave it: rc %d, %s", rc, ig_last_error());
    }
    rmdir(dir);

    spath(bogus, sizeof bogus, "no/such/dir/x.safetensors");
    rc = ig_st_writer_save(&w, bogus);
    ig_st_writer_free(&w);
    CHECK(rc == -1 && strstr(ig_last_error(), bogus), "save into a missing directory fails: %s", ig_last_error());
    return 0;
}

/* ig_st_add / ig_st_add_meta reject bad arguments. */
static int writer_errors(void)
{
    int64_t neg[1] = {-1}, s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, big[2] = {INT64_MAX, 4};
    float x = 0;
    ig_st_writer w;
    int r[10], k, bad = 0;
    ig_st_writer_init(&w);
    r[0] = ig_st_add(&w, "n", IG_F32, 1, neg, &x);
    r[1] = ig_st_add(&w, "o", IG_DTYPE_OTHER, 0, NULL, &x);
    r[2] = ig_st_add(&w, "d", IG_F32, 9, s9, &x);
    r[3] = ig_st_add(&w, "m", IG_F32, -1, NULL, &x);
    r[4] = ig_st_add(&w, "\xff", IG_F32, 0, NULL, &x);
    r[5] = ig_st_add(&w, "__metadata__", IG_F32, 0, NULL, &x);
    r[6] = ig_st_add(&w, "nul", IG_F32, 0, NULL, NULL);
    r[7] = ig_st_add(&w, "big", IG_F32, 2, big, &x);
    r[8] = ig_st_add_meta(&w, "k", "v") == 0 ? ig_st_add_meta(&w, "k", "w") : 0;
    r[9] = ig_st_add_meta(&w, "bad", "\xc0\x80");
    for (k = 0; k < 10; k++)
        if (r[k] != -1) { fprintf(stderr, "    %s: case %d was accepted\n", __FILE__, k); bad = 1; }
    CHECK(w.failed, "rejected adds make the writer sticky-failed");
    ig_st_writer_free(&w);
    CHECK(!bad, "negative dim, OTHER dtype, 9 dims, ndim -1, bad UTF-8 name, __metadata__, NULL data, "
                "size overflow, duplicate meta key, bad UTF-8 value: all rejected");
    return 0;
}

/* F16 and BF16 through a file: chosen values with their exact float bits, then
   every F16 bit pattern (65536 values in one tensor); odd spacing in the header. */
static int half_decoding(void)
{
    static const uint16_t f16[] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x8001, 0x03ff,
                                   0x0400, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0x3555, 0x0200};
    static const uint32_t f16x[] = {0x00000000u, 0x80000000u, 0x3f800000u, 0xc0000000u, 0x477fe000u,
                                    0x33800000u, 0xb3800000u, 0x387fc000u, 0x38800000u, 0x7f800000u,
                                    0xff800000u, 0x7fc00000u, 0x7f802000u, 0x3eaaa000u, 0x38000000u};
    static const uint16_t bf[] = {0x0000, 0x8000, 0x3f80, 0xc049, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x7f7f};
    static const uint32_t bfx[] = {0x00000000u, 0x80000000u, 0x3f800000u, 0xc0490000u, 0x7f800000u,
                                   0xff800000u, 0x7fc00000u, 0x00010000u, 0x7f7f0000u};
    static uint16_t all[65536];
    static float out[65536];
    size_t nf = sizeof f16 / sizeof f16[0], nb = sizeof bf / sizeof bf[0], i;
    unsigned char data[64];
    char hdr[512], path[512];
    int64_t shape[1] = {65536};
    ig_st_writer w;
    ig_st_file st;
    const ig_st_tensor *t;
    int ok, rc;

    for (i = 0; i < nf; i++) { data[2 * i] = (unsigned char)(f16[i] & 255); data[2 * i + 1] = (unsigned char)(f16[i] >> 8); }
    for (i = 0; i < nb; i++) { data[2 * (nf + i)] = (unsigned char)(bf[i] & 255); data[2 * (nf + i) + 1] = (unsigned char)(bf[i] >> 8); }
    snprintf(hdr, sizeof hdr,
             "{\"h\":{\"dtype\":\"F16\",\"shape\":[%lu],\"data_offsets\":[0,%lu]},"
             " \"b\" : { \"shape\" : [ %lu ] , \"data_offsets\":[%lu,%lu],\"dtype\":\"BF16\"}}   ",
             (unsigned long)nf, (unsigned long)(2 * nf), (unsigned long)nb,
             (unsigned long)(2 * nf), (unsigned long)(2 * nf + 2 * nb));
    spath(path, sizeof path, "half.safetensors");
    CHECK(make_file(path, hdr, strlen(hdr), data, 2 * (nf + nb)) == 0, "write %s", path);
    CHECK(ig_st_open(&st, path) == 0, "open: %s", ig_last_error());
    t = ig_st_find(&st, "h");
    ok = t && ig_st_read_f32(&st, t, out, nf) == 0;
    for (i = 0; ok && i < nf; i++) ok = f2u(out[i]) == f16x[i];
    if (ok) {
        t = ig_st_find(&st, "b");
        ok = 2 * (t && ig_st_read_f32(&st, t, out, nb) == 0);
        for (i = 0; ok && i < nb; i++) ok = 2 * (f2u(out[i]) == bfx[i]);
    }
    ig_st_close(&st);
    CHECK(ok == 2, "%s values read from a file (element %lu)", ok == 0 ? "F16" : "BF16", (unsigned long)i);

    /* exhaustive: every finite F16 is (1024 + m) 2^(e-25) or m 2^-24, sign kept;
       exponent 31 is inf (m = 0) or NaN */
    for (i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    ig_st_writer_init(&w);
    rc = ig_st_add(&w, "all", IG_F16, 1, shape, all) | ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    CHECK(rc == 0, "write every F16: %s", ig_last_error());
    CHECK(ig_st_open(&st, path) == 0, "open: %s", ig_last_error());
    rc = ig_st_read_f32(&st, ig_st_find(&st, "all"), out, 65536);
    ig_st_close(&st);
    CHECK(rc == 0, "read every F16: %s", ig_last_error());
    for (i = 0; i < 65536; i++) {
        int e = (int)(i >> 10) & 31, m = (int)i & 1023, neg = (i & 0x8000) != 0;
        float v = out[i];
        double want = e ? ldexp(1024.0 + m, e - 25) : ldexp((double)m, -24);
        if (e == 31) ok = m ? v != v && (f2u(v) & 0x7fffffu) == (uint32_t)m << 13 : (v == (neg ? -HUGE_VAL : HUGE_VAL));
        else ok = (double)v == (neg ? -want : want) && (int)(f2u(v) >> 31) == neg;
        CHECK(ok, "F16 %04lx decodes to %.9g (bits %08lx)", (unsigned long)i, v, (unsigned long)f2u(v));
    }
    return 0;
}

/* JSON escapes in names and metadata (\" \\ \/ \n \t \u00e9, a surrogate
   pair), raw UTF-8 names, and U8 (read as int64 or raw, never as float). */
static int escapes(void)
{
    const char *hdr =
        "{\"__metadata__\":{\"k\\u00e9y\":\"v\\\\al\\\"ue\"},"
        "\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\\n\\/\\t\\u20AC\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
        "\"caf\xc3\xa9\":{\"dtype\":\"I64\",\"shape\":[1,1],\"data_offsets\":[2,10]}}";
    unsigned char data[10] = {7, 9, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    unsigned char u8[2] = {0, 0};
    int64_t u8i[2] = {0, 0};
    int64_t v = 0;
    float fx[2];
    char path[512];
    ig_st_file st;
    const ig_st_tensor *t;
    int ok;
    spath(path, sizeof path, "esc.safetensors");
    CHECK(make_file(path, hdr, strlen(hdr), data, sizeof data) == 0, "write %s", path);
    CHECK(ig_st_open(&st, path) == 0, "open: %s", ig_last_error());
    t = ig_st_find(&st, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80\n/\t\xe2\x82\xac");
    ok = t != NULL;
    ok = ok && t->dtype == IG_U8 && strcmp(t->dtype_name, "U8") == 0 && t->dtype_size == 1 ? 1 : ok ? -1 : 0;
    ok = ok == 1 ? (ig_st_read_i64(&st, t, u8i, 2) == 0 && u8i[0] == 7 && u8i[1] == 9 ? 1 : -2) : ok;
    ok = ok == 1 ? (ig_st_read_raw(&st, t, u8, 2) == 0 && u8[0] == 7 && u8[1] == 9 ? 1 : -2) : ok;
    ok = ok == 1 ? (ig_st_read_f32(&st, t, fx, 2) == -1 && strstr(ig_last_error(), "U8") ? 1 : -3) : ok;
    if (ok == 1) {
        t = ig_st_find(&st, "caf\xc3\xa9");
        ok = t && ig_st_read_i64(&st, t, &v, 1) == 0 && v == -2 ? 1 : -4;
    }
    if (ok == 1)
        ok = ig_st_meta(&st, "k\xc3\xa9y") && strcmp(ig_st_meta(&st, "k\xc3\xa9y"), "v\\al\"ue") == 0 ? 1 : -5;
    ig_st_close(&st);
    CHECK(ok != 0, "the escaped name was not decoded");
    CHECK(ok != -1, "U8 must be IG_U8 with size 1");
    CHECK(ok != -2, "U8 read as int64 and raw");
    CHECK(ok != -3, "U8 is not convertible to float, and the message says U8");
    CHECK(ok != -4, "raw UTF-8 name with an I64 value of -2 (read %ld)", (long)v);
    CHECK(ok != -5, "escaped metadata key and value");
    return 0;
}

/* The file level and JSON syntax: short files, a missing file, the header
   length, and invalid JSON of every kind. */
static int malformed_json(void)
{
    char path[512], missing[512], longp[700];
    unsigned char buf[16];
    ig_st_file st;
    int i, bad = 0;
    spath(path, sizeof path, "bad.safetensors");

    for (i = 0; i < 8; i++) {
        memset(buf, 0, sizeof buf);
        CHECK(write_bytes(path, buf, (size_t)i) == 0, "write %s", path);
        bad |= EXPECT_OPEN_FAIL("short file", path, "shorter than 8");
    }
    spath(missing, sizeof missing, "does_not_exist.safetensors");
    remove(missing);
    bad |= EXPECT_OPEN_FAIL("missing file", missing, "cannot open");
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    if (ig_st_open(&st, longp) != -1 || !strstr(ig_last_error(), "too long")) {
        fprintf(stderr, "    %s:%d: a 699-byte path: %s\n", __FILE__, __LINE__, ig_last_error());
        bad = 1;
    }

    memset(buf, 0, sizeof buf);
    buf[0] = 100; memcpy(buf + 8, "{}", 2);
    write_bytes(path, buf, 10);
    bad |= EXPECT_OPEN_FAIL("header length > file", path, "beyond the file");
    memset(buf, 0xff, 8);
    write_bytes(path, buf, 16);
    bad |= EXPECT_OPEN_FAIL("header length 2^64-1", path, "beyond the file");
    memset(buf, 0, 8); buf[3] = 0x07; /* 112 MiB */
    write_bytes(path, buf, 16);
    bad |= EXPECT_OPEN_FAIL("header length 112 MiB", path, "beyond the file");

    BAD("empty header", "", 0, "expected an object");
    BAD("spaces only", "        ", 0, "expected an object");
    BAD("array", "[]", 0, "expected an object");
    BAD("open brace", "{", 0, "invalid JSON");
    BAD("missing value", "{\"a\":}", 0, "expected an object");
    BAD("trailing comma", "{" T("a", "F32", "[]", "[0,4]") ",}", 4, "invalid JSON");
    BAD("unterminated", "{\"abc", 0, "unterminated string");
    BAD("bad escape", "{\"a\\x\":1}", 0, "invalid escape");
    BAD("bad \\u", "{\"a\\u12G4\":1}", 0, "invalid escape");
    BAD("short \\u", "{\"a\\u12\":1}", 0, "invalid escape");
    BAD("lone high surrogate", "{\"a\\ud800\":1}", 0, "surrogate");
    BAD("lone low surrogate", "{\"a\\udc00x\":1}", 0, "surrogate");
    BAD("high + bad low", "{\"a\\ud800\\u0041\":1}", 0, "surrogate");
    BAD("\\u0000", "{\"a\\u0000\":1}", 0, "u0000");
    BAD("control char", "{\"a\tb\":1}", 0, "control character");
    BAD("bad utf8 0xff", "{\"a\xff\":1}", 0, "UTF-8");
    BAD("overlong utf8", "{\"a\xc0\x80\":1}", 0, "UTF-8");
    BAD("surrogate utf8", "{\"a\xed\xa0\x80\":1}", 0, "UTF-8");
    BAD("truncated utf8", "{\"a\xe2\x82\":1}", 0, "UTF-8");
    BAD("leading zero", "{" T("a", "F32", "[01]", "[0,4]") "}", 4, "not an integer in [0, 2^63)");
    BAD("dot no digit", "{" T("a", "F32", "[1.]", "[0,4]") "}", 4, "expected ',' or ']'");
    BAD("bare minus", "{" T("a", "F32", "[-]", "[0,4]") "}", 4, "not an integer in [0, 2^63)");
    BAD("exp no digit", "{" T("a", "F32", "[1e+]", "[0,4]") "}", 4, "expected ',' or ']'");
    BAD("unknown field", "{\"a\":{\"x\":1,\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "unknown field \"x\"");
    BAD("metadata literal", "{\"__metadata__\":tru}", 0, "expected an object");
    BAD("garbage char", "{@}", 0, "expected a string");
    BAD("trailing garbage", "{} x", 0, "data after the JSON object");
    BAD("two objects", "{}{}", 0, "data after the JSON object");
    BAD("missing colon", "{\"a\" {}}", 0, "expected ':'");
    BAD("missing comma", "{" T("a", "F32", "[]", "[0,4]") T("b", "F32", "[]", "[4,8]") "}", 8, "expected ','");
    BAD("number key", "{1:2}", 0, "expected a string");
    /* NULs inside the header: as padding, and inside a string */
    make_file(path, "{}\0\0\0\0\0\0", 8, buf, 0);
    bad |= EXPECT_OPEN_FAIL("NUL padding", path, "data after the JSON object");
    make_file(path, "{\"a\0\":1}", 8, buf, 0);
    bad |= EXPECT_OPEN_FAIL("NUL in a string", path, "control character");
    CHECK(!bad, "the malformed files above were not all rejected properly");
    return 0;
}

/* The schema: entries, dtypes, shapes, offsets, sizes, overlaps, metadata;
   then edge cases that must be accepted. */
static int malformed_schema(void)
{
    static const struct { const char *label, *hdr; size_t dlen; } okc[] = {
        {"empty object", "{}", 0},
        {"padded", "  {}     \n\t\r ", 0},
        {"meta null", "{\"__metadata__\":null}", 0},
        {"zero dim", "{" T("w", "F32", "[0,3]", "[0,0]") "}", 0},
        {"zero-size inside other", "{" T("a", "F32", "[2]", "[0,8]") "," T("z", "F32", "[0]", "[4,4]") "}", 8},
        {"gap and trailing data", "{" T("a", "F32", "[1]", "[4,8]") "}", 12},
        {"other dtypes", "{" T("a", "F64", "[1]", "[0,8]") "," T("b", "BOOL", "[3]", "[8,11]") "," T("c", "F8_E4M3", "[1]", "[11,12]") "}", 12},
        {"8 dims", "{" T("w", "F32", "[1,1,1,1,1,1,1,2]", "[0,8]") "}", 8},
    };
    char path[512];
    unsigned char d[16];
    ig_st_file st;
    size_t k;
    int bad = 0;

    BAD("dup tensor", "{" T("a", "F32", "[]", "[0,4]") "," T("a", "F32", "[]", "[4,8]") "}", 8, "duplicate tensor name 'a'");
    BAD("dup tensor via escape", "{" T("ab", "F32", "[]", "[0,4]") "," T("a\\u0062", "F32", "[]", "[4,8]") "}", 8, "duplicate tensor name");
    BAD("dup dtype", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "duplicate \"dtype\"");
    BAD("dup shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"shape\":[],\"data_offsets\":[0,4]}}", 4, "duplicate \"shape\"");
    BAD("dup offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"data_offsets\":[0,4]}}", 4, "duplicate \"data_offsets\"");
    BAD("missing dtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'w': missing \"dtype\"");
    BAD("missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing \"shape\"");
    BAD("missing offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\"");
    BAD("empty entry", "{\"w\":{}}", 4, "missing");
    BAD("entry not object", "{\"w\":[1]}", 4, "expected an object");
    BAD("entry is string", "{\"w\":\"x\"}", 4, "expected an object");
    BAD("dtype number", "{" T("w", "F32", "[1]", "[0,4]") ",\"v\":{\"dtype\":3,\"shape\":[],\"data_offsets\":[4,8]}}", 8, "\"dtype\" is not a string");
    BAD("unknown dtype", "{" T("w", "F33", "[1]", "[0,4]") "}", 4, "unknown dtype \"F33\"");
    BAD("lowercase dtype", "{" T("w", "f32", "[1]", "[0,4]") "}", 4, "unknown dtype");
    BAD("negative shape", "{" T("w", "F32", "[-1]", "[0,4]") "}", 4, "not an integer in [0, 2^63)");
    BAD("fraction shape", "{" T("w", "F32", "[2.5]", "[0,10]") "}", 10, "expected ',' or ']'");
    BAD("exp shape", "{" T("w", "F32", "[1e0]", "[0,4]") "}", 4, "expected ',' or ']'");
    BAD("float shape 1.0", "{" T("w", "F32", "[1.0]", "[0,4]") "}", 4, "expected ',' or ']'");
    BAD("string in shape", "{" T("w", "F32", "[\"1\"]", "[0,4]") "}", 4, "not an integer");
    BAD("shape not array", "{" T("w", "F32", "1", "[0,4]") "}", 4, "expected an array");
    BAD("shape null", "{" T("w", "F32", "null", "[0,4]") "}", 4, "expected an array");
    BAD("nested shape", "{" T("w", "F32", "[[1]]", "[0,4]") "}", 4, "not an integer");
    BAD("huge int", "{" T("w", "F32", "[99999999999999999999]", "[0,4]") "}", 4, "2^63 or more");
    BAD("int > INT64_MAX", "{" T("w", "F32", "[9223372036854775808]", "[0,4]") "}", 4, "2^63 or more");
    BAD("9 dims", "{" T("w", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4, "more than 8 values");
    BAD("negative offset", "{" T("w", "F32", "[1]", "[-4,0]") "}", 4, "not an integer");
    BAD("fraction offset", "{" T("w", "F32", "[1]", "[0,4.5]") "}", 4, "expected ',' or ']'");
    BAD("3 offsets", "{" T("w", "F32", "[1]", "[0,4,8]") "}", 8, "more than 2 values");
    BAD("1 offset", "{" T("w", "F32", "[1]", "[0]") "}", 4, "must hold 2 values");
    BAD("0 offsets", "{" T("w", "F32", "[1]", "[]") "}", 4, "must hold 2 values");
    BAD("offsets obj", "{" T("w", "F32", "[1]", "{}") "}", 4, "expected an array");
    BAD("size mismatch", "{" T("w", "F32", "[2]", "[0,4]") "}", 8, "need 8 bytes");
    BAD("span larger than shape", "{" T("w", "F32", "[1]", "[0,8]") "}", 8, "need 4 bytes");
    BAD("size mismatch dtype", "{" T("w", "F16", "[4]", "[0,4]") "}", 8, "need 8 bytes");
    BAD("scalar mismatch", "{" T("w", "I64", "[]", "[0,4]") "}", 8, "need 8 bytes");
    BAD("numel overflow", "{" T("w", "F32", "[4294967296,4294967296,16]", "[0,4]") "}", 4, "overflows");
    BAD("bytes overflow", "{" T("w", "I64", "[4611686018427387904]", "[0,8]") "}", 8, "overflows");
    BAD("wrap to match", "{" T("w", "F32", "[4611686018427387905]", "[0,4]") "}", 4, "overflows");
    BAD("end > data", "{" T("blocks.0.attn.qkv.weight", "F32", "[4]", "[0,16]") "}", 8,
        "tensor 'blocks.0.attn.qkv.weight': data_offsets [0, 16] are reversed or outside the data section (8 bytes)");
    BAD("begin > end", "{" T("w", "F32", "[1]", "[8,4]") "}", 8, "reversed");
    BAD("offset huge", "{" T("w", "F32", "[1]", "[9223372036854775800,9223372036854775804]") "}", 8, "outside the data section");
    BAD("overlap", "{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[4,12]") "}", 12, "overlap");
    BAD("same range", "{" T("a", "F32", "[1]", "[0,4]") "," T("b", "I32", "[1]", "[0,4]") "}", 4, "overlap");
    BAD("meta number", "{\"__metadata__\":{\"a\":\"x\",\"b\":1}}", 0, "value of 'b' is not a string");
    BAD("meta null value", "{\"__metadata__\":{\"a\":null}}", 0, "not a string");
    BAD("meta object value", "{\"__metadata__\":{\"a\":{}}}", 0, "not a string");
    BAD("meta array", "{\"__metadata__\":[\"a\"]}", 0, "expected an object");
    BAD("meta string", "{\"__metadata__\":\"a\"}", 0, "expected an object");
    BAD("dup meta", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate \"__metadata__\"");
    BAD("dup meta key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate \"__metadata__\" key 'k'");

    memset(d, 0, sizeof d);
    spath(path, sizeof path, "ok.safetensors");
    for (k = 0; k < sizeof okc / sizeof okc[0]; k++) {
        make_file(path, okc[k].hdr, strlen(okc[k].hdr), d, okc[k].dlen);
        if (ig_st_open(&st, path) == 0) ig_st_close(&st);
        else { fprintf(stderr, "    %s: [%s] should open: %s\n", __FILE__, okc[k].label, ig_last_error()); bad = 1; }
    }
    CHECK(!bad, "the schema cases above were not all handled properly");
    return 0;
}

/* Cut a valid file at every length: every cut must be rejected, naming the file. */
static int truncation(void)
{
    char path[512], cpath[512];
    unsigned char *raw;
    size_t n = 0, L;
    int opened, ok;
    spath(path, sizeof path, "valid.safetensors");
    spath(cpath, sizeof cpath, "cut.safetensors");
    raw = valid_file(path, &n);
    CHECK(raw != NULL, "could not write and read back %s", path);
    ok = open_and_read_all(path, &opened) && opened;
    if (!ok) free(raw);
    CHECK(ok, "the uncut file opens and reads: %s", ig_last_error());
    for (L = 0; L < n; L++) {
        write_bytes(cpath, raw, L);
        ok = open_and_read_all(cpath, &opened);
        if (!ok || opened) free(raw);
        CHECK(!opened, "the file cut to %lu of %lu bytes opened", (unsigned long)L, (unsigned long)n);
        CHECK(ok, "cut to %lu bytes: the message does not name the file: %s", (unsigned long)L, ig_last_error());
    }
    free(raw);
    return 0;
}

/* Every header byte (and the length) replaced by each of a set of JSON-
   significant values: no crash; a failure names the file; an opened file
   reads completely. */
static int header_corruption(void)
{
    static const unsigned char vals[] = {0, ' ', '"', '\\', '{', '}', '[', ']', ',', ':', '-', '0', '9',
                                         'e', '.', 0x80, 0xff, 'u'};
    char path[512], cpath[512];
    unsigned char *raw;
    size_t n = 0, pos, hl = 0;
    int opened, v;
    spath(path, sizeof path, "valid.safetensors");
    spath(cpath, sizeof cpath, "corrupt.safetensors");
    raw = valid_file(path, &n);
    CHECK(raw != NULL, "could not write and read back %s", path);
    for (pos = 8; pos-- > 0;) hl = (hl << 8) | raw[pos];
    for (pos = 0; pos < 8 + hl && pos < n; pos++)
        for (v = 0; v < (int)sizeof vals; v++) {
            unsigned char save = raw[pos];
            int ok;
            if (save == vals[v]) continue;
            raw[pos] = vals[v];
            write_bytes(cpath, raw, n);
            ok = open_and_read_all(cpath, &opened);
            raw[pos] = save;
            if (!ok) free(raw);
            CHECK(ok, "byte %lu set to 0x%02x: %s: %s", (unsigned long)pos, vals[v],
                  opened ? "opened but a tensor or key could not be read back" : "the message does not name the file",
                  ig_last_error());
        }
    free(raw);
    return 0;
}

/* 3000 copies of a valid file with 1-4 random bytes changed (fixed seed). */
static int random_mutations(void)
{
    char path[512], cpath[512];
    unsigned char *raw, *m;
    size_t n = 0;
    uint32_t rng = 12345u;
    int it, opened = 0, ok = 1;
    spath(path, sizeof path, "valid.safetensors");
    spath(cpath, sizeof cpath, "mutant.safetensors");
    raw = valid_file(path, &n);
    CHECK(raw != NULL, "could not write and read back %s", path);
    m = (unsigned char *)malloc(n);
    if (!m) free(raw);
    CHECK(m != NULL, "out of memory");
#define ST_RND() (rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5, rng)
    for (it = 0; it < 3000 && ok; it++) {
        int k, nm = 1 + (int)(ST_RND() % 4);
        memcpy(m, raw, n);
        for (k = 0; k < nm; k++) { size_t at = ST_RND() % n; m[at] = (unsigned char)ST_RND(); }
        write_bytes(cpath, m, n);
        ok = open_and_read_all(cpath, &opened);
    }
#undef ST_RND
    free(m);
    free(raw);
    CHECK(ok, "mutant %d: %s: %s", it - 1,
          opened ? "opened but a tensor or key could not be read back" : "the message does not name the file",
          ig_last_error());
    return 0;
}

/* ------------------------------------------------- checkpoints, hardened --- */

/* A tiny model: C 1, 2x2, patch 1, D 8 (or d), depth L, 2 heads, 2 classes, head after block 1. */
static ig_config tiny_config(int d, int L) {
    ig_config g = { 1, 2, 2, 1, 8, 2, 2, 2, 1, 1.0f, IG_ARCH_SIT };
    g.hidden_size = d; g.depth = L;
    return g;
}

/* A file for ig_config_from_file with only the tensors it reads: x_embedder (D,C,p,p),
   pos_embed (1,T,D), the label table (K+1,D) and `depth` empty blocks.i.attn.qkv.weight;
   a shape with a 0 needs no data.  meta: NULL-terminated key, value pairs. */
static int crafted(const char *path, const int64_t *xw, const int64_t *pe, const int64_t *yt, int depth, const char **meta) {
    static float zeros[1 << 16];
    int64_t empty[1] = {0};
    char name[64];
    ig_st_writer w;
    int i, rc = 0;
    ig_st_writer_init(&w);
    rc |= ig_st_add(&w, "x_embedder.proj.weight", IG_F32, 4, xw, zeros);
    rc |= ig_st_add(&w, "pos_embed", IG_F32, 3, pe, zeros);
    rc |= ig_st_add(&w, "y_embedder.embedding_table.weight", IG_F32, 2, yt, zeros);
    for (i = 0; i < depth; i++) {
        snprintf(name, sizeof name, "blocks.%d.attn.qkv.weight", i);
        rc |= ig_st_add(&w, name, IG_F32, 1, empty, NULL);
    }
    for (i = 0; meta && meta[i]; i += 2) rc |= ig_st_add_meta(&w, meta[i], meta[i + 1]);
    rc = rc ? -1 : ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    return rc;
}

/* ig_config_from_file must fail naming the file and containing want; cfg left zeroed. */
static int cfg_fails_at(int line, const char *label, const char *path, int heads, int aux, const char *want) {
    ig_config g, zero;
    int rc = ig_config_from_file(&g, path, heads, aux);
    memset(&zero, 0, sizeof zero);
    if (rc == 0 || !strstr(ig_last_error(), path) || !strstr(ig_last_error(), want) || memcmp(&g, &zero, sizeof g)) {
        fprintf(stderr, "    %s:%d: [%s] rc %d, want an error with '%s': %s\n", __FILE__, line, label, rc, want, ig_last_error());
        return 1;
    }
    return 0;
}
#define CFG_FAILS(label, heads, aux, want) (bad |= cfg_fails_at(__LINE__, label, path, heads, aux, want))

/* Crafted shapes and metadata: a [D, C, 0, 0] patch (a division by zero before), token
   counts of 2^31 - 1, sizes beyond int, malformed and negative metadata integers; each a
   clean error from ig_config_from_file and from ig_load. */
static int crafted_configs(void) {
    static const char *neg_h[] = { "image_height", "-4", "image_width", "2", NULL };
    static const char *big_h[] = { "image_height", "2147483648", "image_width", "2", NULL };
    static const char *junk_h[] = { "image_height", "2x", "image_width", "2", NULL };
    static const char *zero_heads[] = { "num_heads", "0", "aux_depth", "1", NULL };
    static const char *bad_rows[] = { "image_height", "4", "image_width", "4", "num_heads", "2", "aux_depth", "1", NULL };
    static const char *ok_meta[] = { "image_height", "2", "image_width", "2", "num_heads", "2", "aux_depth", "1", NULL };
    int64_t xw[4] = {8, 1, 1, 1}, xw0[4] = {8, 1, 0, 0}, pe[3] = {1, 4, 8}, yt[2] = {3, 8};
    int64_t pe_big[3] = {1, 2147483647, 0}, pe_huge[3] = {1, INT64_MAX, 0}, xw_big[4] = {8, 4294967296LL, 0, 1};
    char path[512];
    ig_config g;
    ig_model m;
    int bad = 0;
    spath(path, sizeof path, "crafted.safetensors");
    g = tiny_config(8, 2);
    CHECK(ig_model_init(&m, &g, 0, 1) == 0, "%s", ig_last_error());
    CHECK(crafted(path, xw, pe, yt, 2, ok_meta) == 0, "%s", ig_last_error());
    CHECK(ig_config_from_file(&g, path, 0, 0) == 0 && g.hidden_size == 8 && g.depth == 2 && g.num_classes == 2 &&
          g.image_height == 2 && g.num_heads == 2 && g.aux_depth == 1, "the well-formed crafted file: %s", ig_last_error());
    if (crafted(path, xw0, pe, yt, 2, ok_meta) == 0) {
        CFG_FAILS("patch [D, C, 0, 0]", 0, 0, "x_embedder.proj.weight");
        if (ig_load(&m, path, 0) == 0 || !strstr(ig_last_error(), path)) { fprintf(stderr, "    ig_load of [D,C,0,0]: %s\n", ig_last_error()); bad = 1; }
    } else bad = 1;
    if (crafted(path, xw, pe_big, yt, 2, NULL) == 0) CFG_FAILS("2^31 - 1 tokens", 2, 1, "pos_embed"); else bad = 1;
    if (crafted(path, xw, pe_huge, yt, 2, NULL) == 0) CFG_FAILS("2^63 - 1 tokens", 2, 1, "pos_embed"); else bad = 1;
    if (crafted(path, xw_big, pe, yt, 2, NULL) == 0) CFG_FAILS("2^32 channels", 2, 1, "x_embedder.proj.weight"); else bad = 1;
    if (crafted(path, xw, pe, yt, 2, neg_h) == 0) CFG_FAILS("image_height -4", 0, 0, "image_height"); else bad = 1;
    if (crafted(path, xw, pe, yt, 2, big_h) == 0) CFG_FAILS("image_height 2^31", 0, 0, "image_height"); else bad = 1;
    if (crafted(path, xw, pe, yt, 2, junk_h) == 0) CFG_FAILS("image_height 2x", 0, 0, "image_height"); else bad = 1;
    if (crafted(path, xw, pe, yt, 2, zero_heads) == 0) CFG_FAILS("num_heads 0", 0, 0, "num_heads"); else bad = 1;
    if (crafted(path, xw, pe, yt, 2, bad_rows) == 0) CFG_FAILS("4x4 image, 4 tokens", 0, 0, "tokens"); else bad = 1;
    ig_model_free(&m);
    CHECK(!bad, "the crafted files above were not all rejected cleanly");
    return 0;
}

/* t_scale: inf, 1e39 (inf as a float), nan, 0, -1 and junk in the metadata are refused;
   so is a non-finite t_scale in ig_config_check. */
static int t_scale_checks(void) {
    static const char *vals[] = { "inf", "1e39", "nan", "0", "-1", "2.5x", "1e7" };
    const char *meta[] = { "num_heads", "2", "aux_depth", "1", "t_scale", NULL, NULL };
    int64_t xw[4] = {8, 1, 1, 1}, pe[3] = {1, 4, 8}, yt[2] = {3, 8};
    char path[512];
    ig_config g = tiny_config(8, 2);
    size_t i;
    int bad = 0;
    spath(path, sizeof path, "tscale.safetensors");
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        meta[5] = vals[i];
        if (crafted(path, xw, pe, yt, 2, meta)) { bad = 1; continue; }
        CFG_FAILS(vals[i], 0, 0, "t_scale");
    }
    meta[5] = "1000";
    CHECK(crafted(path, xw, pe, yt, 2, meta) == 0 && ig_config_from_file(&g, path, 0, 0) == 0 && g.t_scale == 1000.0f,
          "t_scale 1000 reads back: %s", ig_last_error());
    g.t_scale = (float)HUGE_VAL;
    bad |= ig_config_check(&g) == 0;
    g.t_scale = 0.0f / 0.0f;
    bad |= ig_config_check(&g) == 0;
    CHECK(!bad, "a non-finite or absurd t_scale was accepted");
    return 0;
}

/* Without metadata the head depth is the release's 8 when the depth allows it (never a
   guess from the width), else an error saying how to pass it; heads from the width's
   preset, else an error saying how to pass them. */
static int no_metadata_defaults(void) {
    int64_t xw[4] = {384, 1, 1, 1}, pe[3] = {1, 1, 384}, yt[2] = {3, 384}, xw8[4] = {8, 1, 1, 1}, pe8[3] = {1, 1, 8}, yt8[2] = {3, 8};
    char path[512];
    ig_config g;
    int bad = 0;
    spath(path, sizeof path, "nometa.safetensors");
    CHECK(crafted(path, xw, pe, yt, 12, NULL) == 0, "%s", ig_last_error());   /* an S-sized model, 12 blocks */
    CHECK(ig_config_from_file(&g, path, 0, 0) == 0, "%s", ig_last_error());
    CHECK(g.aux_depth == 8 && g.num_heads == 6 && g.depth == 12, "aux_depth %d (want the release's 8), heads %d (want 6)", g.aux_depth, g.num_heads);
    CHECK(ig_config_from_file(&g, path, 3, 4) == 0 && g.aux_depth == 4 && g.num_heads == 3, "the arguments override: %s", ig_last_error());
    CHECK(crafted(path, xw, pe, yt, 8, NULL) == 0, "%s", ig_last_error());     /* 8 blocks: a head after block 8 is impossible */
    CFG_FAILS("depth 8, no aux_depth", 0, 0, "--aux-depth");
    CHECK(ig_config_from_file(&g, path, 0, 2) == 0 && g.aux_depth == 2, "aux_depth given: %s", ig_last_error());
    CHECK(crafted(path, xw8, pe8, yt8, 12, NULL) == 0, "%s", ig_last_error()); /* width 8: no preset */
    CFG_FAILS("width 8, no heads", 0, 0, "--heads");
    CHECK(ig_config_from_file(&g, path, 2, 0) == 0 && g.num_heads == 2 && g.aux_depth == 8, "heads given: %s", ig_last_error());
    CHECK(!bad, "missing head count or depth not refused properly");
    return 0;
}

/* A save of a model holding a non-finite weight, EMA value or moment is refused, names
   the tensor, and leaves the old file as it was. */
static int nonfinite_not_saved(void) {
    char path[512];
    ig_config g = tiny_config(8, 2);
    ig_model m;
    unsigned char *before, *after;
    size_t n1 = 0, n2 = 0;
    float *where[3];
    const char *want[3] = { "'x_embedder.proj.weight'", "'ema.", "'adam.v." };
    int k, rc, same;
    spath(path, sizeof path, "nonfinite.safetensors");
    CHECK(ig_model_init(&m, &g, 1, 5) == 0, "%s", ig_last_error());
    if (ig_save(&m, path, 1) || !(before = read_bytes(path, &n1))) { ig_model_free(&m); CHECK(0, "first save: %s", ig_last_error()); }
    where[0] = m.x_proj_w->data;                            /* x_embedder.proj.weight, element 0 */
    where[1] = m.ema + (m.t_fc1_w->data - m.weights);
    where[2] = m.adam_v + (m.params[m.nparams - 1].offset);
    for (k = 0; k < 3; k++) {
        float old = *where[k];
        *where[k] = k == 1 ? (float)HUGE_VAL : 0.0f / 0.0f;
        rc = ig_save(&m, path, 1);
        *where[k] = old;
        if (rc == 0 || !strstr(ig_last_error(), want[k]) || !strstr(ig_last_error(), "non-finite")) {
            free(before); ig_model_free(&m);
            CHECK(0, "case %d: rc %d, message: %s", k, rc, ig_last_error());
        }
    }
    after = read_bytes(path, &n2);
    same = after && n1 == n2 && !memcmp(before, after, n1);
    free(before); free(after); ig_model_free(&m);
    CHECK(same, "a refused save changed the old file");
    return 0;
}

/* Fine-tuning from released weights: a file without training state, loaded into a training
   model, sets the EMA to the loaded weights too (not to the model's random initialization). */
static int weights_only_sets_ema(void) {
    char path[512];
    ig_config g = tiny_config(8, 2);
    ig_model a, b;
    int rc, same_w, same_ema;
    spath(path, sizeof path, "weights_only.safetensors");
    CHECK(ig_model_init(&a, &g, 0, 1) == 0, "%s", ig_last_error());
    if (ig_model_init(&b, &g, 1, 2)) { ig_model_free(&a); CHECK(0, "%s", ig_last_error()); }
    rc = ig_save(&a, path, 0) || ig_load(&b, path, 1);
    same_w = !memcmp(b.weights, a.weights, a.nweights * sizeof(float));
    same_ema = !memcmp(b.ema, a.weights, a.nweights * sizeof(float));
    ig_model_free(&a); ig_model_free(&b);
    CHECK(!rc, "save and load: %s", ig_last_error());
    CHECK(same_w, "the weights were not loaded");
    CHECK(same_ema, "the EMA was left at the model's initialization instead of the loaded weights");
    return 0;
}

/* ig_load compares the file's aux_depth and num_heads (when its metadata has them) with the
   model's: the shapes cannot tell a head after block 1 from one after block 2, nor 2 heads
   from 4.  A mismatch is refused, naming the file and both values, and the model is kept. */
static int metadata_mismatch_refused(void) {
    static const struct { int aux, heads; const char *want[2]; } c[2] = {
        { 2, 2, { "aux_depth 1", "model's is 2" } }, { 1, 4, { "num_heads 2", "model's is 4" } } };
    char path[512];
    ig_config g = tiny_config(8, 3), h;
    ig_model a, b;
    float *before;
    int k, rc, same, bad = 0;
    spath(path, sizeof path, "mismatch.safetensors");
    CHECK(ig_model_init(&a, &g, 0, 1) == 0, "%s", ig_last_error());
    rc = ig_save(&a, path, 0);
    ig_model_free(&a);
    CHECK(rc == 0, "save: %s", ig_last_error());
    for (k = 0; k < 2; k++) {
        h = g; h.aux_depth = c[k].aux; h.num_heads = c[k].heads;
        CHECK(ig_model_init(&b, &h, 1, 2) == 0, "%s", ig_last_error());
        before = (float *)malloc(b.nweights * sizeof(float));
        if (before) memcpy(before, b.weights, b.nweights * sizeof(float));
        rc = ig_load(&b, path, 1);
        same = before && !memcmp(before, b.weights, b.nweights * sizeof(float));
        if (rc != -1 || !strstr(ig_last_error(), path) || !strstr(ig_last_error(), c[k].want[0]) ||
            !strstr(ig_last_error(), c[k].want[1]) || !same) {
            fprintf(stderr, "    case %d: rc %d, weights kept %d: %s\n", k, rc, same, ig_last_error());
            bad = 1;
        }
        free(before);
        ig_model_free(&b);
    }
    CHECK(!bad, "a checkpoint whose aux_depth or num_heads differs from the model's must be refused");
    return 0;
}

#if ST_FORK
/* Stray temporary files of path ("<path>.<hex>.tmp") in its directory; removes them. */
static int count_tmp(const char *path) {
    char dir[512], base[512];
    const char *slash = strrchr(path, '/');
    struct dirent *e;
    DIR *d;
    int n = 0;
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    snprintf(base, sizeof base, "%s.", slash ? slash + 1 : path);
    if (!(d = opendir(dir))) return -1;
    while ((e = readdir(d)) != NULL) {
        size_t L = strlen(e->d_name);
        if (!strncmp(e->d_name, base, strlen(base)) && L > 4 && !strcmp(e->d_name + L - 4, ".tmp")) {
            char full[1100];
            snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
            remove(full);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Which of models a, b the file at path holds: 0 or 1, -1 if it does not load or is neither. */
static int which_model(const char *path, ig_model *r, const ig_model *a, const ig_model *b) {
    if (ig_load(r, path, 1)) return -1;
    if (!memcmp(r->weights, a->weights, a->nweights * sizeof(float))) return 0;
    if (!memcmp(r->weights, b->weights, b->nweights * sizeof(float))) return 1;
    return -1;
}

static void sleep_ms(long ms) { struct timespec ts; ts.tv_sec = ms / 1000; ts.tv_nsec = (ms % 1000) * 1000000L; nanosleep(&ts, NULL); }

/* Saving through a symbolic link, onto a device node or a fifo is refused and leaves them
   (and the link's target) as they were.  The device is /dev/null itself only when we are
   not root (then /dev is not writable, so even a broken check cannot replace it); as
   root it is a scratch node with /dev/null's numbers (c 1 3): run broken, this test once
   replaced the real /dev/null. */
static int refuses_special_files(void) {
    char target[512], link[512], fifo[512], devnode[512];
    const char *dev = "/dev/null";
    ig_config g = tiny_config(8, 2);
    ig_model m;
    struct stat sb;
    unsigned char *before, *after;
    size_t n1 = 0, n2 = 0;
    int rc1, rc2, rc3, same, islink, isdev, isfifo;
    spath(target, sizeof target, "target.safetensors");
    spath(link, sizeof link, "link.safetensors");
    spath(fifo, sizeof fifo, "fifo.safetensors");
    CHECK(write_bytes(target, "precious", 8) == 0, "write %s", target);
    remove(link); remove(fifo);
    CHECK(symlink(target, link) == 0, "symlink %s", link);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo);
    if (geteuid() == 0) {
        spath(devnode, sizeof devnode, "devnull");
        remove(devnode);
        CHECK(mknod(devnode, S_IFCHR | 0666, makedev(1, 3)) == 0, "mknod %s", devnode);
        dev = devnode;
    }
    CHECK(ig_model_init(&m, &g, 0, 1) == 0, "%s", ig_last_error());
    before = read_bytes(target, &n1);
    rc1 = ig_save(&m, link, 0);
    rc1 = rc1 == -1 && strstr(ig_last_error(), "symbolic link") && strstr(ig_last_error(), link);
    rc2 = ig_save(&m, dev, 0);
    rc2 = rc2 == -1 && strstr(ig_last_error(), "device");
    { ig_st_writer w; ig_st_writer_init(&w); rc3 = ig_st_writer_save(&w, fifo) == -1 && strstr(ig_last_error(), "fifo"); ig_st_writer_free(&w); }
    after = read_bytes(target, &n2);
    same = before && after && n1 == n2 && !memcmp(before, after, n1);
    islink = lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode);
    isdev = lstat(dev, &sb) == 0 && S_ISCHR(sb.st_mode);
    isfifo = lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode);
    free(before); free(after); ig_model_free(&m);
    CHECK(rc1, "a save through a symbolic link must be refused, naming it");
    CHECK(rc2, "a save onto %s must be refused as a device", dev);
    CHECK(rc3, "a save onto a fifo must be refused as a fifo");
    CHECK(same && islink && isdev && isfifo, "target %d, link %d, device %d, fifo %d untouched", same, islink, isdev, isfifo);
    CHECK(count_tmp(link) == 0 && count_tmp(fifo) == 0 && count_tmp(dev) == 0, "no temporary file left");
    return 0;
}

/* A save that fails half-way (a child whose file size limit is 4 KiB) reports it, leaves
   the old file and no temporary file. */
static int failed_save_leaves_nothing(void) {
    char path[512];
    ig_config g = tiny_config(32, 2);
    ig_model m;
    unsigned char *before, *after;
    size_t n1 = 0, n2 = 0;
    int status = 0, same;
    pid_t pid;
    spath(path, sizeof path, "fsize.safetensors");
    CHECK(ig_model_init(&m, &g, 1, 1) == 0, "%s", ig_last_error());
    if (ig_save(&m, path, 0) || !(before = read_bytes(path, &n1))) { ig_model_free(&m); CHECK(0, "first save: %s", ig_last_error()); }
    fflush(NULL);
    if ((pid = fork()) == 0) {
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = 4096;
        signal(SIGXFSZ, SIG_IGN);                /* the write then fails with EFBIG */
        m.weights[0] = 1.0f;
        _exit(setrlimit(RLIMIT_FSIZE, &rl) == 0 && ig_save(&m, path, 1) == -1 && strstr(ig_last_error(), "not saved") ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    after = read_bytes(path, &n2);
    same = after && n1 == n2 && !memcmp(before, after, n1);
    free(before); free(after); ig_model_free(&m);
    CHECK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the save past the size limit must fail (status %d)", status);
    CHECK(same, "the failed save changed the old file");
    CHECK(count_tmp(path) == 0, "the failed save left its temporary file");
    return 0;
}

/* Two processes save different models to one path 40 times each while a third loads it
   in a loop: every file it sees loads and is exactly one writer's model; every save
   reports success; no temporary file is left. */
static int concurrent_saves(void) {
    char path[512];
    ig_config g = tiny_config(32, 3);
    ig_model a, b, r;
    pid_t w[2];
    int k, st[2] = {0, 0}, seen[2] = {0, 0}, reads = 0, badread = 0, running;
    spath(path, sizeof path, "concurrent.safetensors");
    CHECK(ig_model_init(&a, &g, 0, 1) == 0 && ig_model_init(&b, &g, 0, 2) == 0 && ig_model_init(&r, &g, 0, 3) == 0, "%s", ig_last_error());
    for (k = 0; (size_t)k < a.nweights; k++) { a.weights[k] = 0.001f * (float)k; b.weights[k] = -0.002f * (float)k; }
    if (ig_save(&a, path, 0)) { ig_model_free(&a); ig_model_free(&b); ig_model_free(&r); CHECK(0, "%s", ig_last_error()); }
    fflush(NULL);
    for (k = 0; k < 2; k++)
        if ((w[k] = fork()) == 0) {
            int i, fails = 0;
            for (i = 0; i < 40; i++) fails += ig_save(k ? &b : &a, path, 0) != 0;
            _exit(fails ? 1 : 0);
        }
    for (running = 2; running > 0 || reads < 10;) {        /* the parent reads */
        int x = which_model(path, &r, &a, &b);
        if (x < 0) { badread++; fprintf(stderr, "    read %d: %s\n", reads, ig_last_error()); }
        else seen[x]++;
        reads++;
        for (running = 0, k = 0; k < 2; k++)
            if (w[k] > 0 && waitpid(w[k], &st[k], WNOHANG) == 0) running++;
            else w[k] = -1;
        if (badread > 3) break;
    }
    for (k = 0; k < 2; k++) if (w[k] > 0) waitpid(w[k], &st[k], 0);
    ig_model_free(&a); ig_model_free(&b); ig_model_free(&r);
    printf("     %d reads while saving: %d saw model A, %d model B\n", reads, seen[0], seen[1]);
    CHECK(!badread, "%d of %d reads saw a file that did not load or mixed the models", badread, reads);
    CHECK(WIFEXITED(st[0]) && !WEXITSTATUS(st[0]) && WIFEXITED(st[1]) && !WEXITSTATUS(st[1]), "a concurrent save reported failure");
    CHECK(count_tmp(path) == 0, "temporary files left behind");
    return 0;
}

/* A child saving a larger model again and again is killed with SIGKILL at different
   moments: the path always loads as the old or the new model, and at most the killed
   save's own temporary file is left (nothing can remove it after SIGKILL). */
static int kill_during_save(void) {
    char path[512];
    ig_config g = tiny_config(256, 2);
    ig_model a, b, r;
    static const long delays[6] = { 2, 15, 40, 80, 150, 300 };   /* ms; a save of this model takes some tens */
    int round, x, ntmp, bad = 0, status, maxtmp = 0, counts[2] = {0, 0};
    spath(path, sizeof path, "killed.safetensors");
    CHECK(ig_model_init(&a, &g, 0, 1) == 0 && ig_model_init(&b, &g, 0, 2) == 0 && ig_model_init(&r, &g, 0, 3) == 0, "%s", ig_last_error());
    for (x = 0; (size_t)x < a.nweights; x++) { a.weights[x] = 1e-4f * (float)(x % 1000); b.weights[x] = -a.weights[x] - 1.0f; }
    for (round = 0; round < 6 && !bad; round++) {
        pid_t pid;
        if (ig_save(&a, path, 0)) { bad = 1; break; }
        fflush(NULL);
        if ((pid = fork()) == 0) { for (;;) ig_save(&b, path, 0); }
        sleep_ms(delays[round]);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        x = which_model(path, &r, &a, &b);
        ntmp = count_tmp(path);
        if (x < 0 || ntmp > 1) { bad = 1; fprintf(stderr, "    round %d: model %d, %d temporary files: %s\n", round, x, ntmp, ig_last_error()); }
        else counts[x]++;
        if (ntmp > maxtmp) maxtmp = ntmp;
    }
    ig_model_free(&a); ig_model_free(&b); ig_model_free(&r);
    printf("     6 kills: old file %d times, new file %d times; at most %d stray temporary file\n", counts[0], counts[1], maxtmp);
    CHECK(!bad, "a killed save left a torn file or more than its own temporary file");
    return 0;
}
#else
static int refuses_special_files(void) { return 0; }
static int failed_save_leaves_nothing(void) { return 0; }
static int concurrent_saves(void) { return 0; }
static int kill_during_save(void) { return 0; }
#endif

/* Each test removes its scratch files, pass or fail. */
static int t_roundtrip(void) { return cleanup(roundtrip()); }
static int t_atomic_save(void) { return cleanup(atomic_save()); }
static int t_writer_errors(void) { return cleanup(writer_errors()); }
static int t_half_decoding(void) { return cleanup(half_decoding()); }
static int t_escapes(void) { return cleanup(escapes()); }
static int t_malformed_json(void) { return cleanup(malformed_json()); }
static int t_malformed_schema(void) { return cleanup(malformed_schema()); }
static int t_truncation(void) { return cleanup(truncation()); }
static int t_header_corruption(void) { return cleanup(header_corruption()); }
static int t_random_mutations(void) { return cleanup(random_mutations()); }
static int t_crafted_configs(void) { return cleanup(crafted_configs()); }
static int t_t_scale(void) { return cleanup(t_scale_checks()); }
static int t_no_metadata(void) { return cleanup(no_metadata_defaults()); }
static int t_nonfinite(void) { return cleanup(nonfinite_not_saved()); }
static int t_weights_only_ema(void) { return cleanup(weights_only_sets_ema()); }
static int t_meta_mismatch(void) { return cleanup(metadata_mismatch_refused()); }
static int t_special_files(void) { return cleanup(refuses_special_files()); }
static int t_failed_save(void) { return cleanup(failed_save_leaves_nothing()); }
static int t_concurrent(void) { return cleanup(concurrent_saves()); }
static int t_killed(void) { return cleanup(kill_during_save()); }

const test_case st_tests[] = {
    { "st_roundtrip_all_dtypes", t_roundtrip },
    { "st_atomic_save_keeps_old_file", t_atomic_save },
    { "st_writer_rejects_bad_args", t_writer_errors },
    { "st_f16_bf16_decoding", t_half_decoding },
    { "st_escaped_names_and_meta", t_escapes },
    { "st_malformed_files_and_json", t_malformed_json },
    { "st_malformed_schema", t_malformed_schema },
    { "st_truncated_at_every_offset", t_truncation },
    { "st_header_byte_corruption", t_header_corruption },
    { "st_random_mutations", t_random_mutations },
    { "ckpt_crafted_shapes_clean_errors", t_crafted_configs },
    { "ckpt_t_scale_nonfinite_rejected", t_t_scale },
    { "ckpt_no_metadata_release_depth", t_no_metadata },
    { "ckpt_nonfinite_not_saved", t_nonfinite },
    { "ckpt_weights_only_sets_ema", t_weights_only_ema },
    { "ckpt_metadata_mismatch_refused", t_meta_mismatch },
    { "ckpt_save_refuses_links_devices", t_special_files },
    { "ckpt_failed_save_leaves_nothing", t_failed_save },
    { "ckpt_concurrent_saves_one_model", t_concurrent },
    { "ckpt_kill_during_save", t_killed },
};
const int st_ntests = sizeof st_tests / sizeof st_tests[0];
