/* pt.h - read PyTorch .pt files (torch.save since PyTorch 1.6) without Python.
   libc only; not part of ig.h.  Used by tools/pt2st.c and the examples.

   A .pt file is a zip archive of stored (uncompressed) records:
       <prefix>/data.pkl         the pickled object (protocol 2)
       <prefix>/data/<key>       one record per storage: raw little-endian bytes
       <prefix>/version, <prefix>/byteorder (newer torch), ...
   The pickle rebuilds each tensor as
       torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
                                       requires_grad, backward_hooks[, metadata])
   where `storage` comes from a persistent id
       ('storage', torch.FloatStorage, key, location, numel).
   State dicts are collections.OrderedDict (REDUCE with no arguments, then
   SETITEM(S), then a BUILD of `_metadata`, which is ignored).

   What this reader does:
   - zip: sizes and offsets from the central directory (the local headers may
     hold zeros), ZIP64 records, the prefix taken from the first entry; a
     compressed or encrypted record is refused; the data.pkl CRC is checked.
   - pickle: the opcodes of protocol 2 that torch.save emits, plus the few
     protocol 3/4 ones that are trivial (FRAME, MEMOIZE, STACK_GLOBAL, BINBYTES).
     An unknown opcode is an error naming the byte and its offset.  Values
     nobody asked for (optimizer state, argparse.Namespace, numbers, strings,
     lists, unknown classes) are kept as plain or opaque values, so a whole
     training checkpoint reads.  No recursion in the parser; every length,
     offset, memo index, stack and mark depth is checked.
   - tensors: dtype from the storage class (F32, F16, BF16, F64, I64, I32, I16,
     I8, U8, BOOL; anything else is kept but refused when read), offset, shape
     and stride; the tensor must fit inside its storage and the storage inside
     its record.  A non-contiguous tensor (a transposed view, a slice) is
     gathered through its strides when read.  Two tensors may share a storage.

   API (every function returns 0 / a pointer, or -1 / NULL with pt_error()
   naming the file and the problem):
       pt_file pt;
       pt_open(&pt, "ckpt.pt");                    parse the zip and the pickle
       const pt_value *sd = pt_select(&pt, NULL, &key);   'ema', 'model', ... (below)
       pt_collect(&pt, sd, &list, &n);             tensors of a dict, dotted names
       pt_read_raw(&pt, t, buf, nbytes);           contiguous bytes in the tensor's dtype
       pt_read_f32(&pt, t, floats, n);             F32/F16/BF16/F64 as float
       pt_close(&pt);
       pt_convert("in.pt", key_or_NULL, "out.safetensors", log)   the whole of pt2st
   Only little-endian hosts and files.  Files above 2 GiB need a 64-bit long
   (or Windows' _fseeki64). */
#ifndef PT_H
#define PT_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>   /* fsync, when _POSIX_C_SOURCE makes it visible */
#endif

#if defined(__GNUC__)
#define PTDEF static __attribute__((unused))
#else
#define PTDEF static
#endif

#define PT_MAX_DIMS    8
#define PT_MAX_PICKLE  (256u << 20)   /* data.pkl larger than this is refused      */
#define PT_MAX_STACK   (1u << 20)     /* pickle value stack entries                */
#define PT_MAX_MARKS   4096u          /* nested MARKs                              */
#define PT_MAX_ENTRIES (1u << 20)     /* zip entries                               */
#define PT_MAX_DEPTH   64             /* nesting walked by pt_collect / pt_list    */
#define PT_MAX_VISITS  (1u << 20)     /* values walked by pt_collect / pt_list: a
                                         pickle can share one dict many times     */
#define PT_MAX_LINES   (1u << 16)     /* lines printed by pt_list                  */
#define PT_MAX_NAME    (1u << 16)     /* bytes of one dotted tensor name           */
#define PT_MAX_NAMES   (1u << 27)     /* bytes of all the names pt_collect makes   */

typedef enum { PT_F32, PT_F16, PT_BF16, PT_F64, PT_I64, PT_I32, PT_I16, PT_I8, PT_U8, PT_BOOL,
               PT_DTYPE_OTHER } pt_dtype;

typedef enum {
    PT_NONE, PT_BOOLV, PT_INT, PT_FLOAT, PT_STR, PT_BYTES, PT_TUPLE, PT_LIST, PT_DICT,
    PT_TENSOR, PT_STORAGE, PT_GLOBAL, PT_OBJECT
} pt_kind;

/* One storage: a zip record of numel elements of dtype. */
typedef struct pt_storage {
    const char *key;          /* the record is <prefix>/data/<key>           */
    const char *type_name;    /* e.g. "torch.FloatStorage"                   */
    pt_dtype dtype;
    size_t esize;             /* bytes per element (0 for PT_DTYPE_OTHER)    */
    uint64_t numel;
    uint64_t offset, bytes;   /* the record's data in the file               */
} pt_storage;

/* A tensor: element (i0..i{n-1}) is storage[offset + sum_d i_d stride[d]]. */
typedef struct pt_tensor {
    pt_storage *storage;
    uint64_t offset;
    int ndim;
    uint64_t shape[PT_MAX_DIMS];
    uint64_t stride[PT_MAX_DIMS];
    uint64_t numel;
} pt_tensor;

/* A pickled value.  Tuples and lists hold n items; a dict holds n pairs as
   items[2j] (key), items[2j+1] (value), in insertion order; an object (an
   instance of a class this reader does not model) keeps its class name in s,
   its constructor arguments in items[0] and its BUILD state in items[1]. */
typedef struct pt_value {
    pt_kind kind;
    int64_t i;                 /* PT_INT, PT_BOOLV                                */
    double f;                  /* PT_FLOAT                                        */
    const char *s;             /* PT_STR / PT_BYTES (NUL added), PT_GLOBAL, PT_OBJECT */
    size_t len;                /* bytes of s                                      */
    struct pt_value **items;
    size_t n, cap;
    pt_tensor *tensor;         /* PT_TENSOR                                       */
    pt_storage *storage;       /* PT_STORAGE                                      */
} pt_value;

typedef struct pt_entry { char *name; uint64_t offset, size; uint32_t crc; } pt_entry;

/* A named tensor of a flattened dict. */
typedef struct pt_named { const char *name; const pt_tensor *tensor; } pt_named;

typedef struct pt_file {
    char path[512];
    FILE *f;
    uint64_t file_size;
    char prefix[256];          /* the archive's folder name: "archive", "step-1000", ... */
    pt_entry *entries;
    size_t nentries;
    pt_value *root;
    pt_storage **storages;
    size_t nstorages, storages_cap;
    void *blocks;              /* every allocation of the parse, freed by pt_close */
    size_t block_used, block_cap;
    pt_named *named;           /* pt_collect's result, owned here */
} pt_file;

static const char *const pt_dtype_name[PT_DTYPE_OTHER + 1] =
    { "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "?" };
static const size_t pt_dtype_size[PT_DTYPE_OTHER + 1] = { 4, 2, 2, 8, 8, 4, 2, 1, 1, 1, 0 };

static char pt__err[1024];
PTDEF const char *pt_error(void) { return pt__err; }

#if defined(__GNUC__)
static int pt__fail(const pt_file *pt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static int pt__fail(const pt_file *pt, const char *fmt, ...) {
    va_list ap;
    int n = snprintf(pt__err, sizeof pt__err, "%s: ", pt ? pt->path : "?");
    if (n < 0 || (size_t)n >= sizeof pt__err) return -1;
    va_start(ap, fmt);
    vsnprintf(pt__err + n, sizeof pt__err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------ memory --- */
/* All parse allocations come from a chain of blocks: the first word of each
   block points to the previous one.  pt_close frees the chain. */
#define PT__BLOCK (64u << 10)

static void *pt__alloc(pt_file *pt, size_t bytes) {
    size_t need = (bytes + 15u) & ~(size_t)15u;
    unsigned char *p;
    if (bytes > ((size_t)1 << 40)) return NULL;
    if (!pt->blocks || pt->block_used + need > pt->block_cap) {
        size_t cap = need + 16 > PT__BLOCK ? need + 16 : PT__BLOCK;
        unsigned char *b = (unsigned char *)malloc(cap);
        if (!b) return NULL;
        memcpy(b, &pt->blocks, sizeof(void *));
        pt->blocks = b;
        pt->block_used = 16;
        pt->block_cap = cap;
    }
    p = (unsigned char *)pt->blocks + pt->block_used;
    pt->block_used += need;
    memset(p, 0, need);
    return p;
}

static char *pt__strdup(pt_file *pt, const char *s, size_t n) {
    char *d = (char *)pt__alloc(pt, n + 1);
    if (d) { memcpy(d, s, n); d[n] = 0; }
    return d;
}

/* ------------------------------------------------------------ file I/O --- */
static int pt__seek(FILE *f, uint64_t off) {
#if defined(_WIN32)
    if (off > (uint64_t)INT64_MAX) return -1;
    return _fseeki64(f, (__int64)off, SEEK_SET) == 0 ? 0 : -1;
#else
    if (off > (uint64_t)LONG_MAX) return -1;
    return fseek(f, (long)off, SEEK_SET) == 0 ? 0 : -1;
#endif
}

static int pt__read_at(pt_file *pt, uint64_t off, void *dst, size_t n) {
    if (off > pt->file_size || n > pt->file_size - off)
        return pt__fail(pt, "truncated file: %lu bytes at offset %lu run past its end (%lu bytes)",
                        (unsigned long)n, (unsigned long)off, (unsigned long)pt->file_size);
    if (pt__seek(pt->f, off) || (n && fread(dst, 1, n, pt->f) != n))
        return pt__fail(pt, "read error at offset %lu", (unsigned long)off);
    return 0;
}

static uint32_t pt__u16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t pt__u32(const unsigned char *p) { return pt__u16(p) | pt__u16(p + 2) << 16; }
static uint64_t pt__u64(const unsigned char *p) { return (uint64_t)pt__u32(p) | (uint64_t)pt__u32(p + 4) << 32; }

static uint32_t pt__crc32(const unsigned char *p, size_t n) {
    static uint32_t table[256];
    static int ready;
    uint32_t c = 0xffffffffu;
    size_t i;
    if (!ready) {
        uint32_t k, b, v;
        for (k = 0; k < 256; k++) {
            for (v = k, b = 0; b < 8; b++) v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
            table[k] = v;
        }
        ready = 1;
    }
    for (i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ------------------------------------------------------------ zip --- */
/* End of central directory (EOCD, 22 bytes + comment) at the very end; before
   it, when present, the ZIP64 locator (20 bytes) pointing at the ZIP64 EOCD,
   whose 64-bit count, size and offset win over the 16/32-bit ones. */
static int pt__zip(pt_file *pt) {
    unsigned char tail[22 + 65535], *cd = NULL, buf[56];
    size_t tlen = pt->file_size < sizeof tail ? (size_t)pt->file_size : sizeof tail, i, pos;
    uint64_t count, cd_size, cd_off, eocd;
    long at = -1;
    if (pt->file_size >= 2 && pt__read_at(pt, 0, buf, 2) == 0 && buf[0] == 0x80 && buf[1] == 0x02)
        return pt__fail(pt, "not a zip archive: this is the legacy torch.save format (PyTorch < 1.6); "
                            "load and re-save it with a recent torch");
    if (pt->file_size < 22) return pt__fail(pt, "not a zip archive (%lu bytes; torch.save writes zip files)",
                                            (unsigned long)pt->file_size);
    if (pt__read_at(pt, pt->file_size - tlen, tail, tlen)) return -1;
    for (i = tlen - 22 + 1; i-- > 0;)
        if (pt__u32(tail + i) == 0x06054b50u && i + 22 + pt__u16(tail + i + 20) == tlen) { at = (long)i; break; }
    if (at < 0) return pt__fail(pt, "not a zip archive, or truncated: no end-of-central-directory record");
    eocd = pt->file_size - tlen + (uint64_t)at;
    count = pt__u16(tail + at + 10);
    cd_size = pt__u32(tail + at + 12);
    cd_off = pt__u32(tail + at + 16);
    if (pt__u16(tail + at + 4) != 0 || pt__u16(tail + at + 6) != 0)
        return pt__fail(pt, "multi-disk zip archives are not supported");
    if (eocd >= 20) {
        if (pt__read_at(pt, eocd - 20, buf, 20)) return -1;
        if (pt__u32(buf) == 0x07064b50u) {
            uint64_t z = pt__u64(buf + 8);
            if (pt__read_at(pt, z, buf, 56)) return -1;
            if (pt__u32(buf) != 0x06064b50u) return pt__fail(pt, "corrupt zip: ZIP64 end record not found at %lu", (unsigned long)z);
            count = pt__u64(buf + 32);
            cd_size = pt__u64(buf + 40);
            cd_off = pt__u64(buf + 48);
        }
    }
    if (count == 0) return pt__fail(pt, "empty zip archive");
    if (count > PT_MAX_ENTRIES || cd_off > pt->file_size || cd_size > pt->file_size - cd_off || cd_size / 46 < count)
        return pt__fail(pt, "corrupt zip: central directory (%lu entries, %lu bytes at %lu) does not fit the file",
                        (unsigned long)count, (unsigned long)cd_size, (unsigned long)cd_off);
    cd = (unsigned char *)malloc((size_t)cd_size);
    pt->entries = (pt_entry *)calloc((size_t)count, sizeof(pt_entry));
    if (!cd || !pt->entries) { free(cd); return pt__fail(pt, "out of memory for the central directory"); }
    if (pt__read_at(pt, cd_off, cd, (size_t)cd_size)) { free(cd); return -1; }
    for (pos = 0; pt->nentries < count; pt->nentries++) {
        pt_entry *e = &pt->entries[pt->nentries];
        const unsigned char *h = cd + pos, *x;
        uint32_t flags, method, nl, xl, cl;
        uint64_t usize, csize, loff;
        unsigned char lh[30];
        char *lname;
        if (cd_size - pos < 46 || pt__u32(h) != 0x02014b50u) { free(cd); return pt__fail(pt, "corrupt zip: bad central directory entry %lu", (unsigned long)pt->nentries); }
        flags = pt__u16(h + 8); method = pt__u16(h + 10);
        csize = pt__u32(h + 20); usize = pt__u32(h + 24);
        nl = pt__u16(h + 28); xl = pt__u16(h + 30); cl = pt__u16(h + 32);
        loff = pt__u32(h + 42);
        if (cd_size - pos - 46 < (uint64_t)nl + xl + cl) { free(cd); return pt__fail(pt, "corrupt zip: central directory entry %lu overruns", (unsigned long)pt->nentries); }
        e->name = pt__strdup(pt, (const char *)h + 46, nl);
        if (!e->name) { free(cd); return pt__fail(pt, "out of memory"); }
        if (strlen(e->name) != nl) { free(cd); return pt__fail(pt, "corrupt zip: entry name with a NUL byte"); }
        /* ZIP64 extra field 0x0001: the 64-bit values of the fields that hold 0xffffffff, in this order */
        for (x = h + 46 + nl; x + 4 <= h + 46 + nl + xl;) {
            uint32_t id = pt__u16(x), sz = pt__u16(x + 2);
            const unsigned char *v = x + 4, *vend = x + 4 + sz;
            if (vend > h + 46 + nl + xl) { free(cd); return pt__fail(pt, "corrupt zip: extra field of '%s' overruns", e->name); }
            if (id == 1) {
                if (usize == 0xffffffffu) { if (v + 8 > vend) goto bad64; usize = pt__u64(v); v += 8; }
                if (csize == 0xffffffffu) { if (v + 8 > vend) goto bad64; csize = pt__u64(v); v += 8; }
                if (loff == 0xffffffffu) { if (v + 8 > vend) goto bad64; loff = pt__u64(v); v += 8; }
            }
            x = vend;
        }
        if (flags & 1) { free(cd); return pt__fail(pt, "entry '%s' is encrypted", e->name); }
        if (method != 0) { free(cd); return pt__fail(pt, "entry '%s' is compressed (method %u); only stored entries are read "
                                                       "(torch.save writes them stored: re-save the file with torch.save)", e->name, (unsigned)method); }
        if (csize != usize) { free(cd); return pt__fail(pt, "corrupt zip: stored entry '%s' has sizes %lu and %lu", e->name, (unsigned long)csize, (unsigned long)usize); }
        /* the local header: its own name and extra lengths decide where the data starts */
        if (pt__read_at(pt, loff, lh, 30)) { free(cd); return -1; }
        if (pt__u32(lh) != 0x04034b50u || pt__u16(lh + 26) != nl) { free(cd); return pt__fail(pt, "corrupt zip: no local header for '%s' at %lu", e->name, (unsigned long)loff); }
        lname = (char *)malloc(nl + 1u);
        if (!lname) { free(cd); return pt__fail(pt, "out of memory"); }
        if (pt__read_at(pt, loff + 30, lname, nl)) { free(lname); free(cd); return -1; }
        if (memcmp(lname, e->name, nl)) { free(lname); free(cd); return pt__fail(pt, "corrupt zip: local header of '%s' names another entry", e->name); }
        free(lname);
        e->offset = loff + 30 + nl + pt__u16(lh + 28);
        e->size = usize;
        e->crc = pt__u32(h + 16);
        if (e->offset > pt->file_size || e->size > pt->file_size - e->offset) { free(cd); return pt__fail(pt, "truncated file: entry '%s' (%lu bytes at %lu) runs past the end", e->name, (unsigned long)e->size, (unsigned long)e->offset); }
        pos += 46 + (size_t)nl + xl + cl;
    }
    free(cd);
    /* the prefix: the first entry's folder */
    {
        const char *slash = strchr(pt->entries[0].name, '/');
        size_t n = slash ? (size_t)(slash - pt->entries[0].name) : 0;
        if (!slash || n == 0 || n >= sizeof pt->prefix) return pt__fail(pt, "not a torch.save archive: first entry '%s' is not in a folder", pt->entries[0].name);
        memcpy(pt->prefix, pt->entries[0].name, n);
        pt->prefix[n] = 0;
    }
    return 0;
bad64:
    free(cd);
    return pt__fail(pt, "corrupt zip: short ZIP64 extra field in entry %lu", (unsigned long)pt->nentries);
}

/* The entry <prefix>/<name>, or NULL. */
static const pt_entry *pt__entry(const pt_file *pt, const char *name) {
    size_t i, pl = strlen(pt->prefix);
    for (i = 0; i < pt->nentries; i++) {
        const char *e = pt->entries[i].name;
        if (!strncmp(e, pt->prefix, pl) && e[pl] == '/' && !strcmp(e + pl + 1, name)) return &pt->entries[i];
    }
    return NULL;
}

/* ------------------------------------------------------------ pickle --- */
typedef struct {
    pt_file *pt;
    const unsigned char *p, *end, *start;
    pt_value **stack; size_t sp, scap;
    size_t *marks; size_t nmarks;
    pt_value **memo; size_t memo_cap, memo_count;
} pt__unpickler;

/* A new value; NULL (with the message set) when memory runs out. */
static pt_value *pt__new(pt_file *pt, pt_kind kind) {
    pt_value *v = (pt_value *)pt__alloc(pt, sizeof(pt_value));
    if (v) v->kind = kind;
    else pt__fail(pt, "out of memory while unpickling");
    return v;
}

/* Pushes v; a NULL v is the failure of whoever made it (message already set). */
static int pt__push(pt__unpickler *u, pt_value *v) {
    if (!v) return -1;
    if (u->sp == u->scap) {
        size_t cap = u->scap ? 2 * u->scap : 256;
        pt_value **s;
        if (u->scap >= PT_MAX_STACK) return pt__fail(u->pt, "pickle stack deeper than %u entries", PT_MAX_STACK);
        s = (pt_value **)realloc(u->stack, cap * sizeof *s);
        if (!s) return pt__fail(u->pt, "out of memory while unpickling");
        u->stack = s; u->scap = cap;
    }
    u->stack[u->sp++] = v;
    return 0;
}

/* Appends one item to a list / tuple / dict / object's item array. */
static int pt__append(pt_file *pt, pt_value *c, pt_value *v) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        pt_value **it = (pt_value **)pt__alloc(pt, cap * sizeof *it);
        if (!it) return pt__fail(pt, "out of memory while unpickling");
        if (c->n) memcpy(it, c->items, c->n * sizeof *it);
        c->items = it; c->cap = cap;
    }
    c->items[c->n++] = v;
    return 0;
}

static const char *pt__kind_name(const pt_value *v) {
    static const char *const names[] = { "None", "bool", "int", "float", "str", "bytes", "tuple", "list",
                                         "dict", "tensor", "storage", "global", "object" };
    return v->kind == PT_OBJECT ? v->s : names[v->kind];
}

static pt_dtype pt__storage_dtype(const char *type_name) {
    static const char *const names[] = { "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage",
        "torch.DoubleStorage", "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage",
        "torch.CharStorage", "torch.ByteStorage", "torch.BoolStorage" };
    int i;
    for (i = 0; i < PT_DTYPE_OTHER; i++) if (!strcmp(type_name, names[i])) return (pt_dtype)i;
    if (!strcmp(type_name, "torch.UntypedStorage")) return PT_U8;
    return PT_DTYPE_OTHER;
}

/* BINPERSID: ('storage', <storage class>, key, location, numel) -> the storage
   (the same key always gives the same storage). */
static pt_value *pt__persistent(pt__unpickler *u, pt_value *pid) {
    pt_file *pt = u->pt;
    pt_storage *s = NULL;
    const pt_entry *e;
    pt_value *v;
    char name[300];
    size_t i;
    if (pid->kind != PT_TUPLE || pid->n != 5 || pid->items[0]->kind != PT_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->kind != PT_GLOBAL || pid->items[2]->kind != PT_STR || pid->items[4]->kind != PT_INT ||
        pid->items[4]->i < 0) {
        pt__fail(pt, "unsupported persistent id (expected ('storage', type, key, location, numel))");
        return NULL;
    }
    for (i = 0; i < pt->nstorages; i++)
        if (!strcmp(pt->storages[i]->key, pid->items[2]->s)) { s = pt->storages[i]; break; }
    if (s) {
        if (strcmp(s->type_name, pid->items[1]->s) || s->numel != (uint64_t)pid->items[4]->i) {
            pt__fail(pt, "storage '%s' is declared twice with different types or sizes", s->key);
            return NULL;
        }
    } else {
        if (pid->items[2]->len > 200) { pt__fail(pt, "storage key too long"); return NULL; }
        snprintf(name, sizeof name, "data/%s", pid->items[2]->s);
        if (!(e = pt__entry(pt, name))) { pt__fail(pt, "storage '%s' has no record %s/%s in the archive", pid->items[2]->s, pt->prefix, name); return NULL; }
        s = (pt_storage *)pt__alloc(pt, sizeof *s);
        if (!s) { pt__fail(pt, "out of memory"); return NULL; }
        s->key = pid->items[2]->s;
        s->type_name = pid->items[1]->s;
        s->dtype = pt__storage_dtype(s->type_name);
        s->esize = pt_dtype_size[s->dtype];
        s->numel = (uint64_t)pid->items[4]->i;
        s->offset = e->offset;
        s->bytes = e->size;
        if (s->esize && (s->numel > UINT64_MAX / s->esize || s->numel * s->esize > s->bytes)) {
            pt__fail(pt, "storage '%s' (%s) declares %lu elements, its record holds only %lu bytes", s->key, s->type_name,
                     (unsigned long)s->numel, (unsigned long)s->bytes);
            return NULL;
        }
        if (pt->nstorages == pt->storages_cap) {
            size_t cap = pt->storages_cap ? 2 * pt->storages_cap : 64;
            pt_storage **ss = (pt_storage **)realloc(pt->storages, cap * sizeof *ss);
            if (!ss) { pt__fail(pt, "out of memory"); return NULL; }
            pt->storages = ss; pt->storages_cap = cap;
        }
        pt->storages[pt->nstorages++] = s;
    }
    v = pt__new(pt, PT_STORAGE);
    if (v) v->storage = s;
    return v;
}

/* _rebuild_tensor[_v2](storage, offset, size, stride, ...) -> a tensor that
   must lie inside its storage. */
static pt_value *pt__rebuild_tensor(pt__unpickler *u, pt_value *args) {
    pt_file *pt = u->pt;
    pt_value *v, *sz, *st;
    pt_tensor *t;
    uint64_t last = 0;
    int d;
    if (args->kind != PT_TUPLE || args->n < 4 || args->items[0]->kind != PT_STORAGE || args->items[1]->kind != PT_INT ||
        args->items[1]->i < 0 || args->items[2]->kind != PT_TUPLE || args->items[3]->kind != PT_TUPLE ||
        args->items[2]->n != args->items[3]->n) {
        pt__fail(pt, "malformed _rebuild_tensor arguments (expected storage, offset, size, stride)");
        return NULL;
    }
    sz = args->items[2]; st = args->items[3];
    if (sz->n > PT_MAX_DIMS) { pt__fail(pt, "tensor with %lu dimensions (at most %d)", (unsigned long)sz->n, PT_MAX_DIMS); return NULL; }
    v = pt__new(pt, PT_TENSOR);
    t = (pt_tensor *)pt__alloc(pt, sizeof *t);
    if (!v || !t) { pt__fail(pt, "out of memory"); return NULL; }
    v->tensor = t;
    t->storage = args->items[0]->storage;
    t->offset = (uint64_t)args->items[1]->i;
    t->ndim = (int)sz->n;
    t->numel = 1;
    for (d = 0; d < t->ndim; d++) {
        if (sz->items[d]->kind != PT_INT || st->items[d]->kind != PT_INT || sz->items[d]->i < 0 || st->items[d]->i < 0 ||
            sz->items[d]->i > ((int64_t)1 << 48) || st->items[d]->i > ((int64_t)1 << 48)) {
            pt__fail(pt, "tensor size or stride out of range");
            return NULL;
        }
        t->shape[d] = (uint64_t)sz->items[d]->i;
        t->stride[d] = (uint64_t)st->items[d]->i;
        if (t->shape[d] && t->numel > ((uint64_t)1 << 48) / t->shape[d]) { pt__fail(pt, "tensor too large"); return NULL; }
        t->numel *= t->shape[d];
        if (t->shape[d] && t->stride[d]) {                  /* last += (size-1) stride, without overflow */
            if (t->shape[d] - 1 > (((uint64_t)1 << 62) - last) / t->stride[d]) { pt__fail(pt, "tensor strides out of range"); return NULL; }
            last += (t->shape[d] - 1) * t->stride[d];
        }
    }
    /* the last element reached is offset + sum (size-1) stride: it must be inside the storage */
    if (t->numel && (t->offset > ((uint64_t)1 << 62) || t->offset + last >= t->storage->numel)) {
        pt__fail(pt, "tensor (offset %lu, %d dims, %lu elements) reaches element %lu of storage '%s', which has only %lu elements",
                 (unsigned long)t->offset, t->ndim, (unsigned long)t->numel, (unsigned long)(t->offset + last),
                 t->storage->key, (unsigned long)t->storage->numel);
        return NULL;
    }
    return v;
}

/* REDUCE: callable(*args).  Tensors, parameters and OrderedDicts are built;
   any other call becomes an opaque object that remembers its arguments. */
static pt_value *pt__reduce(pt__unpickler *u, pt_value *fn, pt_value *args) {
    pt_file *pt = u->pt;
    pt_value *v;
    if (fn->kind == PT_GLOBAL) {
        if (!strcmp(fn->s, "torch._utils._rebuild_tensor_v2") || !strcmp(fn->s, "torch._utils._rebuild_tensor"))
            return pt__rebuild_tensor(u, args);
        if (!strcmp(fn->s, "torch._utils._rebuild_parameter") || !strcmp(fn->s, "torch._utils._rebuild_parameter_with_state")) {
            if (args->kind != PT_TUPLE || args->n < 1 || args->items[0]->kind != PT_TENSOR) {
                pt__fail(pt, "malformed _rebuild_parameter arguments");
                return NULL;
            }
            return args->items[0];
        }
        if (!strcmp(fn->s, "collections.OrderedDict") && args->kind == PT_TUPLE && args->n == 0)
            return pt__new(pt, PT_DICT);
    }
    v = pt__new(pt, PT_OBJECT);
    if (!v) return NULL;
    v->s = fn->kind == PT_GLOBAL ? fn->s : "object";
    v->len = strlen(v->s);
    if (pt__append(pt, v, args)) return NULL;
    return v;
}

static int pt__need(pt__unpickler *u, size_t n) {
    if ((size_t)(u->end - u->p) < n)
        return pt__fail(u->pt, "truncated pickle at offset %lu", (unsigned long)(u->p - u->start));
    return 0;
}

static int pt__memo_put(pt__unpickler *u, uint64_t key) {
    if (u->sp == 0) return pt__fail(u->pt, "pickle: memo put on an empty stack");
    if (key >= (uint64_t)(u->end - u->start) + 1) return pt__fail(u->pt, "pickle: memo index %lu out of range", (unsigned long)key);
    if (key >= u->memo_cap) {
        size_t cap = u->memo_cap ? u->memo_cap : 256, i;
        pt_value **m;
        while (cap <= key) cap *= 2;
        m = (pt_value **)realloc(u->memo, cap * sizeof *m);
        if (!m) return pt__fail(u->pt, "out of memory");
        for (i = u->memo_cap; i < cap; i++) m[i] = NULL;
        u->memo = m; u->memo_cap = cap;
    }
    if (!u->memo[key]) u->memo_count++;
    u->memo[key] = u->stack[u->sp - 1];
    return 0;
}

static int pt__memo_get(pt__unpickler *u, uint64_t key) {
    if (key >= u->memo_cap || !u->memo[key]) return pt__fail(u->pt, "pickle: memo index %lu was never stored", (unsigned long)key);
    return pt__push(u, u->memo[key]);
}

/* The start of the items since the last MARK (which is popped). */
static int pt__pop_mark(pt__unpickler *u, size_t *from) {
    if (!u->nmarks) return pt__fail(u->pt, "pickle: no MARK at offset %lu", (unsigned long)(u->p - 1 - u->start));
    *from = u->marks[--u->nmarks];
    return 0;
}

static pt_value *pt__string(pt__unpickler *u, pt_kind kind, size_t n) {
    pt_value *v;
    if (pt__need(u, n)) return NULL;
    v = pt__new(u->pt, kind);
    if (!v || !(v->s = pt__strdup(u->pt, (const char *)u->p, n))) { pt__fail(u->pt, "out of memory"); return NULL; }
    v->len = n;
    u->p += n;
    return v;
}

/* Runs the pickle machine over data.pkl.  Iterative: nesting lives on the
   value stack and the mark stack, both bounded. */
static int pt__unpickle(pt_file *pt, const unsigned char *data, size_t n) {
    pt__unpickler u;
    int rc = -1;
    memset(&u, 0, sizeof u);
    u.pt = pt; u.p = u.start = data; u.end = data + n;
    u.marks = (size_t *)malloc(PT_MAX_MARKS * sizeof(size_t));
    if (!u.marks) return pt__fail(pt, "out of memory");
#define PT__POP(var) do { if (u.sp == 0 || (u.nmarks && u.sp <= u.marks[u.nmarks - 1])) { \
        pt__fail(pt, "pickle stack underflow at offset %lu", (unsigned long)(u.p - 1 - u.start)); goto out; } \
        var = u.stack[--u.sp]; } while (0)
#define PT__PUSH(val) do { if (pt__push(&u, (val))) goto out; } while (0)
    for (;;) {
        unsigned op;
        size_t from = 0, i;
        pt_value *a, *b, *c, *v;
        if (u.p >= u.end) { pt__fail(pt, "pickle ends without STOP"); goto out; }
        op = *u.p++;
        switch (op) {
        case 0x80: /* PROTO */
            if (pt__need(&u, 1)) goto out;
            if (*u.p > 5) { pt__fail(pt, "pickle protocol %u is not supported", (unsigned)*u.p); goto out; }
            u.p++;
            break;
        case 0x95: /* FRAME (protocol 4): an 8-byte length, nothing to do */
            if (pt__need(&u, 8)) goto out;
            u.p += 8;
            break;
        case '.': /* STOP */
            if (u.sp != 1 || u.nmarks) { pt__fail(pt, "pickle STOP with %lu values on the stack", (unsigned long)u.sp); goto out; }
            pt->root = u.stack[0];
            rc = 0;
            goto out;
        case '(': /* MARK */
            if (u.nmarks == PT_MAX_MARKS) { pt__fail(pt, "pickle nests MARKs deeper than %u", PT_MAX_MARKS); goto out; }
            u.marks[u.nmarks++] = u.sp;
            break;
        case '0': PT__POP(a); (void)a; break;                           /* POP */
        case '1': if (pt__pop_mark(&u, &from)) goto out; u.sp = from; break; /* POP_MARK */
        case '2': PT__POP(a); PT__PUSH(a); PT__PUSH(a); break;          /* DUP */
        case 'N': PT__PUSH(pt__new(pt, PT_NONE)); break;
        case 0x88: case 0x89:                                           /* NEWTRUE / NEWFALSE */
            v = pt__new(pt, PT_BOOLV);
            if (v) v->i = op == 0x88;
            PT__PUSH(v);
            break;
        case 'K': case 'M': case 'J': {                                 /* BININT1 / BININT2 / BININT */
            size_t w = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            if (pt__need(&u, w)) goto out;
            v = pt__new(pt, PT_INT);
            if (v) v->i = w == 1 ? u.p[0] : w == 2 ? (int64_t)pt__u16(u.p) : (int64_t)(int32_t)pt__u32(u.p);
            u.p += w;
            PT__PUSH(v);
            break;
        }
        case 0x8a: case 0x8b: {                                         /* LONG1 / LONG4: little-endian two's complement */
            uint64_t len, k, x = 0;
            if (pt__need(&u, op == 0x8a ? 1 : 4)) goto out;
            len = op == 0x8a ? *u.p : pt__u32(u.p);
            u.p += op == 0x8a ? 1 : 4;
            if (len > (uint64_t)(u.end - u.p)) { pt__fail(pt, "truncated pickle at offset %lu", (unsigned long)(u.p - u.start)); goto out; }
            if (len > 8) {                                              /* kept, but not as a number */
                v = pt__new(pt, PT_OBJECT);
                if (v) { v->s = "int (more than 64 bits)"; v->len = strlen(v->s); }
            } else {
                for (k = 0; k < len; k++) x |= (uint64_t)u.p[k] << (8 * k);
                if (len && len < 8 && (u.p[len - 1] & 0x80)) x |= ~(uint64_t)0 << (8 * len);
                v = pt__new(pt, PT_INT);
                if (v) memcpy(&v->i, &x, 8);
            }
            u.p += len;
            PT__PUSH(v);
            break;
        }
        case 'G': {                                                     /* BINFLOAT: big-endian double */
            uint64_t x = 0;
            int k;
            if (pt__need(&u, 8)) goto out;
            for (k = 0; k < 8; k++) x = x << 8 | u.p[k];
            u.p += 8;
            v = pt__new(pt, PT_FLOAT);
            if (v) memcpy(&v->f, &x, 8);
            PT__PUSH(v);
            break;
        }
        case 'X': case 0x8c: case 0x8d: case 'B': case 'C': {           /* strings and bytes */
            size_t w = (op == 0x8c || op == 'C') ? 1 : op == 0x8d ? 8 : 4;
            uint64_t len;
            if (pt__need(&u, w)) goto out;
            len = w == 1 ? *u.p : w == 4 ? pt__u32(u.p) : pt__u64(u.p);
            u.p += w;
            if (len > (uint64_t)(u.end - u.p)) { pt__fail(pt, "truncated pickle: a %lu-byte string at offset %lu", (unsigned long)len, (unsigned long)(u.p - u.start)); goto out; }
            v = pt__string(&u, (op == 'B' || op == 'C') ? PT_BYTES : PT_STR, (size_t)len);
            if (!v) goto out;
            PT__PUSH(v);
            break;
        }
        case 'c': {                                                     /* GLOBAL "module\nname\n" */
            const unsigned char *nl1, *nl2;
            char buf[512];
            nl1 = (const unsigned char *)memchr(u.p, '\n', (size_t)(u.end - u.p));
            nl2 = nl1 ? (const unsigned char *)memchr(nl1 + 1, '\n', (size_t)(u.end - nl1 - 1)) : NULL;
            if (!nl2 || nl2 - u.p >= (long)sizeof buf) { pt__fail(pt, "malformed GLOBAL at offset %lu", (unsigned long)(u.p - 1 - u.start)); goto out; }
            memcpy(buf, u.p, (size_t)(nl2 - u.p));
            buf[nl1 - u.p] = '.';
            buf[nl2 - u.p] = 0;
            v = pt__new(pt, PT_GLOBAL);
            if (!v || !(v->s = pt__strdup(pt, buf, strlen(buf)))) { pt__fail(pt, "out of memory"); goto out; }
            v->len = strlen(buf);
            u.p = nl2 + 1;
            PT__PUSH(v);
            break;
        }
        case 0x93: {                                                    /* STACK_GLOBAL: module, name from the stack */
            char *s;
            PT__POP(b); PT__POP(a);
            if (a->kind != PT_STR || b->kind != PT_STR) { pt__fail(pt, "STACK_GLOBAL needs two strings"); goto out; }
            v = pt__new(pt, PT_GLOBAL);
            s = (char *)pt__alloc(pt, a->len + b->len + 2);
            if (!v || !s) { pt__fail(pt, "out of memory"); goto out; }
            memcpy(s, a->s, a->len); s[a->len] = '.'; memcpy(s + a->len + 1, b->s, b->len);
            v->s = s; v->len = a->len + 1 + b->len;
            PT__PUSH(v);
            break;
        }
        case 'q': case 'r':                                             /* BINPUT / LONG_BINPUT */
            if (pt__need(&u, op == 'q' ? 1 : 4)) goto out;
            if (pt__memo_put(&u, op == 'q' ? *u.p : pt__u32(u.p))) goto out;
            u.p += op == 'q' ? 1 : 4;
            break;
        case 0x94:                                                      /* MEMOIZE: index = entries so far */
            if (pt__memo_put(&u, u.memo_count)) goto out;
            break;
        case 'h': case 'j':                                             /* BINGET / LONG_BINGET */
            if (pt__need(&u, op == 'h' ? 1 : 4)) goto out;
            i = op == 'h' ? *u.p : pt__u32(u.p);
            u.p += op == 'h' ? 1 : 4;
            if (pt__memo_get(&u, i)) goto out;
            break;
        case '}': PT__PUSH(pt__new(pt, PT_DICT)); break;                /* EMPTY_DICT */
        case ']': case 0x8f: PT__PUSH(pt__new(pt, PT_LIST)); break;     /* EMPTY_LIST, EMPTY_SET (kept as a list) */
        case ')': PT__PUSH(pt__new(pt, PT_TUPLE)); break;               /* EMPTY_TUPLE */
        case 't': case 0x91:                                            /* TUPLE, FROZENSET (as a tuple) */
            if (pt__pop_mark(&u, &from)) goto out;
            v = pt__new(pt, PT_TUPLE);
            if (!v) { pt__fail(pt, "out of memory"); goto out; }
            for (i = from; i < u.sp; i++) if (pt__append(pt, v, u.stack[i])) goto out;
            u.sp = from;
            PT__PUSH(v);
            break;
        case 0x85: case 0x86: case 0x87: {                              /* TUPLE1..3 */
            size_t k = op - 0x84u;
            if (u.sp < k || (u.nmarks && u.sp - k < u.marks[u.nmarks - 1])) { pt__fail(pt, "pickle stack underflow at offset %lu", (unsigned long)(u.p - 1 - u.start)); goto out; }
            v = pt__new(pt, PT_TUPLE);
            if (!v) { pt__fail(pt, "out of memory"); goto out; }
            for (i = u.sp - k; i < u.sp; i++) if (pt__append(pt, v, u.stack[i])) goto out;
            u.sp -= k;
            PT__PUSH(v);
            break;
        }
        case 'a':                                                       /* APPEND */
            PT__POP(b); PT__POP(a);
            if (a->kind == PT_LIST && pt__append(pt, a, b)) goto out;
            if (a->kind != PT_LIST && a->kind != PT_OBJECT) { pt__fail(pt, "APPEND to a %s", pt__kind_name(a)); goto out; }
            PT__PUSH(a);
            break;
        case 'e': case 0x90:                                            /* APPENDS, ADDITEMS */
            if (pt__pop_mark(&u, &from)) goto out;
            if (from == 0) { pt__fail(pt, "APPENDS without a list"); goto out; }
            a = u.stack[from - 1];
            if (a->kind != PT_LIST && a->kind != PT_OBJECT) { pt__fail(pt, "APPENDS to a %s", pt__kind_name(a)); goto out; }
            if (a->kind == PT_LIST) for (i = from; i < u.sp; i++) if (pt__append(pt, a, u.stack[i])) goto out;
            u.sp = from;
            break;
        case 's':                                                       /* SETITEM */
            PT__POP(c); PT__POP(b); PT__POP(a);
            if (a->kind == PT_DICT && (pt__append(pt, a, b) || pt__append(pt, a, c))) goto out;
            if (a->kind != PT_DICT && a->kind != PT_OBJECT) { pt__fail(pt, "SETITEM on a %s", pt__kind_name(a)); goto out; }
            PT__PUSH(a);
            break;
        case 'u':                                                       /* SETITEMS */
            if (pt__pop_mark(&u, &from)) goto out;
            if (from == 0 || (u.sp - from) % 2) { pt__fail(pt, "malformed SETITEMS at offset %lu", (unsigned long)(u.p - 1 - u.start)); goto out; }
            a = u.stack[from - 1];
            if (a->kind != PT_DICT && a->kind != PT_OBJECT) { pt__fail(pt, "SETITEMS on a %s", pt__kind_name(a)); goto out; }
            if (a->kind == PT_DICT) for (i = from; i < u.sp; i++) if (pt__append(pt, a, u.stack[i])) goto out;
            u.sp = from;
            break;
        case 'Q':                                                       /* BINPERSID */
            PT__POP(a);
            PT__PUSH(pt__persistent(&u, a));
            break;
        case 'R':                                                       /* REDUCE */
            PT__POP(b); PT__POP(a);
            PT__PUSH(pt__reduce(&u, a, b));
            break;
        case 0x81:                                                      /* NEWOBJ: cls.__new__(cls, *args) */
            PT__POP(b); PT__POP(a);
            v = pt__new(pt, PT_OBJECT);
            if (!v) { pt__fail(pt, "out of memory"); goto out; }
            v->s = a->kind == PT_GLOBAL ? a->s : "object";
            v->len = strlen(v->s);
            if (pt__append(pt, v, b)) goto out;
            PT__PUSH(v);
            break;
        case 'b':                                                       /* BUILD: keep an object's state, ignore the rest */
            PT__POP(b); PT__POP(a);
            if (a->kind == PT_OBJECT && a->n == 1 && pt__append(pt, a, b)) goto out;
            PT__PUSH(a);
            break;
        default:
            pt__fail(pt, "unsupported pickle opcode 0x%02x at offset %lu of %s/data.pkl (not one torch.save writes for "
                         "tensors and dicts)", op, (unsigned long)(u.p - 1 - u.start), pt->prefix);
            goto out;
        }
    }
out:
#undef PT__POP
#undef PT__PUSH
    free(u.stack); free(u.marks); free(u.memo);
    return rc;
}

/* ------------------------------------------------------------ open / close --- */
PTDEF void pt_close(pt_file *pt) {
    if (pt->f) fclose(pt->f);
    while (pt->blocks) {
        void *prev;
        memcpy(&prev, pt->blocks, sizeof prev);
        free(pt->blocks);
        pt->blocks = prev;
    }
    free(pt->entries);
    free(pt->storages);
    free(pt->named);
    memset(pt, 0, sizeof *pt);
}

/* Opens and parses a .pt file.  *pt is always initialized; on failure it is
   closed (pt_close is harmless). */
PTDEF int pt_open(pt_file *pt, const char *path) {
    const pt_entry *e;
    unsigned char *pkl;
    const uint16_t one = 1;
    long sz;
    memset(pt, 0, sizeof *pt);
    snprintf(pt->path, sizeof pt->path, "%s", path);
    if (*(const unsigned char *)&one != 1) return pt__fail(pt, "big-endian hosts are not supported");
    pt->f = fopen(path, "rb");
    if (!pt->f) return pt__fail(pt, "cannot open: %s", strerror(errno));
#if defined(_WIN32)
    if (_fseeki64(pt->f, 0, SEEK_END) || _ftelli64(pt->f) < 0) {
        snprintf(pt__err, sizeof pt__err, "%s: cannot determine the file size", path);
        pt_close(pt);
        return -1;
    }
    pt->file_size = (uint64_t)_ftelli64(pt->f);
    (void)sz;
#else
    if (fseek(pt->f, 0, SEEK_END) || (sz = ftell(pt->f)) < 0) {
        snprintf(pt__err, sizeof pt__err, "%s: cannot determine the file size", path);
        pt_close(pt);
        return -1;
    }
    pt->file_size = (uint64_t)sz;
#endif
    if (pt__zip(pt)) goto fail;
    if ((e = pt__entry(pt, "byteorder")) != NULL) {
        char bo[8] = { 0 };
        if (e->size > 7 || pt__read_at(pt, e->offset, bo, (size_t)e->size)) goto fail;
        if (strcmp(bo, "little")) { pt__fail(pt, "byte order '%s' is not supported (only little)", bo); goto fail; }
    }
    if (!(e = pt__entry(pt, "data.pkl"))) { pt__fail(pt, "no %s/data.pkl in the archive (not a torch.save file?)", pt->prefix); goto fail; }
    if (e->size > PT_MAX_PICKLE) { pt__fail(pt, "data.pkl is %lu bytes (at most %u)", (unsigned long)e->size, PT_MAX_PICKLE); goto fail; }
    pkl = (unsigned char *)malloc((size_t)e->size + 1);
    if (!pkl) { pt__fail(pt, "out of memory for data.pkl"); goto fail; }
    if (pt__read_at(pt, e->offset, pkl, (size_t)e->size)) { free(pkl); goto fail; }
    if (pt__crc32(pkl, (size_t)e->size) != e->crc) { free(pkl); pt__fail(pt, "data.pkl is corrupt (CRC mismatch)"); goto fail; }
    if (pt__unpickle(pt, pkl, (size_t)e->size)) { free(pkl); goto fail; }
    free(pkl);
    return 0;
fail:
    {   /* keep the message, then release everything */
        char msg[sizeof pt__err];
        memcpy(msg, pt__err, sizeof msg);
        pt_close(pt);
        memcpy(pt__err, msg, sizeof msg);
    }
    return -1;
}

/* ------------------------------------------------------------ access --- */
/* The value of a dict's string key, or NULL. */
PTDEF const pt_value *pt_dict_get(const pt_value *d, const char *key) {
    size_t j;
    if (!d || d->kind != PT_DICT) return NULL;
    for (j = 0; j < d->n; j += 2)
        if (d->items[j]->kind == PT_STR && !strcmp(d->items[j]->s, key)) return d->items[j + 1];
    return NULL;
}

/* Which dict to convert.  With key: that entry of the top-level dict (a dotted
   path "a.b" descends into nested dicts if no top-level key has the full
   name).  Without: 'ema' if it is a dict, else 'model', else 'state_dict',
   else the top-level dict itself.  *chosen gets the key used ("" for the
   top level). */
PTDEF const pt_value *pt_select(pt_file *pt, const char *key, const char **chosen) {
    static const char *const order[] = { "ema", "model", "state_dict" };
    const pt_value *v;
    size_t i;
    if (!pt->root || pt->root->kind != PT_DICT) {
        pt__fail(pt, "the pickled object is a %s, not a dict", pt->root ? pt__kind_name(pt->root) : "nothing");
        return NULL;
    }
    if (key) {
        v = pt_dict_get(pt->root, key);
        if (!v && strchr(key, '.')) {         /* a.b.c: walk nested dicts */
            char part[256];
            const char *p = key;
            v = pt->root;
            while (v && *p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);
                if (n >= sizeof part) { v = NULL; break; }
                memcpy(part, p, n); part[n] = 0;
                v = pt_dict_get(v, part);
                p += n + (dot != NULL);
            }
        }
        if (!v) {
            char list[512];
            size_t len = 0;
            list[0] = 0;
            for (i = 0; i < pt->root->n && len < sizeof list - 64; i += 2)
                if (pt->root->items[i]->kind == PT_STR)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s'", len ? ", " : "", pt->root->items[i]->s);
            pt__fail(pt, "no key '%s' (the top-level keys are %s)", key, len ? list : "none");
            return NULL;
        }
        if (v->kind != PT_DICT) { pt__fail(pt, "'%s' is not a dict of tensors (its type: %s)", key, pt__kind_name(v)); return NULL; }
        if (chosen) *chosen = key;
        return v;
    }
    for (i = 0; i < 3; i++)
        if ((v = pt_dict_get(pt->root, order[i])) != NULL && v->kind == PT_DICT) {
            if (chosen) *chosen = order[i];
            return v;
        }
    if (chosen) *chosen = "";
    return pt->root;
}

/* The walk of pt_collect: the dotted name of the current dict lives in one
   growing buffer; only tensors get their own copy of it. */
typedef struct { char *path; size_t cap; size_t n, cap_named, skipped, visits, bytes; } pt__walk;

static int pt__collect(pt_file *pt, const pt_value *d, size_t plen, int depth, pt__walk *w) {
    size_t j;
    if (depth > PT_MAX_DEPTH) return pt__fail(pt, "dicts nested deeper than %d levels", PT_MAX_DEPTH);
    for (j = 0; j < d->n; j += 2) {
        const pt_value *k = d->items[j], *v = d->items[j + 1];
        char kbuf[32];
        const char *ks;
        size_t kl, len;
        if (++w->visits > PT_MAX_VISITS) return pt__fail(pt, "more than %u dict entries to walk (shared sub-dicts?)", PT_MAX_VISITS);
        if (v->kind != PT_TENSOR && v->kind != PT_DICT) { w->skipped++; continue; }
        if (k->kind == PT_STR) ks = k->s;
        else if (k->kind == PT_INT) { snprintf(kbuf, sizeof kbuf, "%lld", (long long)k->i); ks = kbuf; }
        else { w->skipped++; continue; }
        kl = strlen(ks);
        len = plen + (plen != 0) + kl;
        if (len > PT_MAX_NAME) return pt__fail(pt, "a tensor name longer than %u bytes", PT_MAX_NAME);
        if (len + 1 > w->cap) {
            size_t c2 = 2 * (len + 1) + 64;
            char *p2 = (char *)realloc(w->path, c2);
            if (!p2) return pt__fail(pt, "out of memory");
            w->path = p2; w->cap = c2;
        }
        if (plen) w->path[plen] = '.';
        memcpy(w->path + plen + (plen != 0), ks, kl + 1);
        if (v->kind == PT_DICT) {
            if (pt__collect(pt, v, len, depth + 1, w)) return -1;
            continue;
        }
        if (w->n == w->cap_named) {
            size_t c2 = w->cap_named ? 2 * w->cap_named : 256;
            pt_named *nn = (pt_named *)realloc(pt->named, c2 * sizeof *nn);
            if (!nn) return pt__fail(pt, "out of memory");
            pt->named = nn; w->cap_named = c2;
        }
        if ((w->bytes += len + 1) > PT_MAX_NAMES) return pt__fail(pt, "the tensor names add up to more than %u bytes", PT_MAX_NAMES);
        if (!(pt->named[w->n].name = pt__strdup(pt, w->path, len))) return pt__fail(pt, "out of memory");
        pt->named[w->n].tensor = v->tensor;
        w->n++;
    }
    return 0;
}

/* Every tensor of dict d, in order, under its key; a nested dict's tensors
   get "outer.inner" names (dots only where there is nesting), integer keys
   are written in decimal.  Other values (numbers, strings, objects) are
   skipped and counted in *skipped (may be NULL).  The list is owned by pt. */
PTDEF int pt_collect(pt_file *pt, const pt_value *d, const pt_named **list, size_t *n, size_t *skipped) {
    pt__walk w;
    int rc;
    memset(&w, 0, sizeof w);
    *n = 0;
    free(pt->named);
    pt->named = NULL;
    if (!d || d->kind != PT_DICT) return pt__fail(pt, "pt_collect: not a dict");
    rc = pt__collect(pt, d, 0, 0, &w);
    free(w.path);
    if (rc) return -1;
    *n = w.n;
    if (skipped) *skipped = w.skipped;
    *list = pt->named;
    return 0;
}

static int pt__contiguous(const pt_tensor *t) {
    uint64_t expect = 1;
    int d;
    for (d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) return 0;
        expect *= t->shape[d];
    }
    return 1;
}

/* The tensor's elements in row-major order, in its own dtype (little-endian
   bytes); nbytes must be numel * element size.  A strided tensor is read as
   the span of its storage it touches and gathered. */
PTDEF int pt_read_raw(pt_file *pt, const pt_tensor *t, void *dst, size_t nbytes) {
    const pt_storage *s = t->storage;
    size_t es = s->esize;
    uint64_t span = 1, idx[PT_MAX_DIMS], i;
    unsigned char *buf, *out = (unsigned char *)dst;
    int d;
    if (s->dtype == PT_DTYPE_OTHER) return pt__fail(pt, "storage '%s' has type %s, which this reader does not convert", s->key, s->type_name);
    if ((uint64_t)nbytes != t->numel * es) return pt__fail(pt, "pt_read_raw: %lu bytes asked for a tensor of %lu", (unsigned long)nbytes, (unsigned long)(t->numel * es));
    if (t->numel == 0) return 0;
    if (pt__contiguous(t)) return pt__read_at(pt, s->offset + t->offset * es, dst, nbytes);
    for (d = 0; d < t->ndim; d++) span += (t->shape[d] - 1) * t->stride[d];
    if (span * es > (uint64_t)SIZE_MAX / 2) return pt__fail(pt, "strided tensor spans too much of its storage");
    buf = (unsigned char *)malloc((size_t)(span * es));
    if (!buf) return pt__fail(pt, "out of memory for a strided tensor (%lu bytes)", (unsigned long)(span * es));
    if (pt__read_at(pt, s->offset + t->offset * es, buf, (size_t)(span * es))) { free(buf); return -1; }
    memset(idx, 0, sizeof idx);
    for (i = 0; i < t->numel; i++) {        /* odometer over the multi-index */
        uint64_t off = 0;
        for (d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        memcpy(out + i * es, buf + off * es, es);
        for (d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    free(buf);
    return 0;
}

static float pt__f16(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
    float f;
    if (e == 0) {                           /* zero or subnormal: m * 2^-24 */
        f = (float)m * (1.0f / 16777216.0f);
        return sign ? -f : f;
    }
    bits = sign | (e == 31 ? 0x7f800000u | m << 13 : (e + 112) << 23 | m << 13);
    memcpy(&f, &bits, 4);
    return f;
}

/* A float tensor (F32, F16, BF16, F64) as n = numel floats, row-major. */
PTDEF int pt_read_f32(pt_file *pt, const pt_tensor *t, float *dst, size_t n) {
    pt_dtype dt = t->storage->dtype;
    size_t i;
    if ((uint64_t)n != t->numel) return pt__fail(pt, "pt_read_f32: %lu floats asked for a tensor of %lu", (unsigned long)n, (unsigned long)t->numel);
    if (dt == PT_F32) return pt_read_raw(pt, t, dst, n * 4);
    if (dt == PT_F16 || dt == PT_BF16) {
        uint16_t *tmp = (uint16_t *)malloc(n * 2 + 2);
        if (!tmp) return pt__fail(pt, "out of memory");
        if (pt_read_raw(pt, t, tmp, n * 2)) { free(tmp); return -1; }
        for (i = 0; i < n; i++) {
            if (dt == PT_F16) dst[i] = pt__f16(tmp[i]);
            else { uint32_t b = (uint32_t)tmp[i] << 16; memcpy(&dst[i], &b, 4); }
        }
        free(tmp);
        return 0;
    }
    if (dt == PT_F64) {
        double *tmp = (double *)malloc(n * 8 + 8);
        if (!tmp) return pt__fail(pt, "out of memory");
        if (pt_read_raw(pt, t, tmp, n * 8)) { free(tmp); return -1; }
        for (i = 0; i < n; i++) dst[i] = (float)tmp[i];
        free(tmp);
        return 0;
    }
    return pt__fail(pt, "storage '%s' (%s) is not a float type", t->storage->key, t->storage->type_name);
}

/* ------------------------------------------------------------ listing --- */
static void pt__print_scalar(FILE *out, const pt_value *v) {
    switch (v->kind) {
    case PT_NONE: fprintf(out, "None"); break;
    case PT_BOOLV: fprintf(out, v->i ? "True" : "False"); break;
    case PT_INT: fprintf(out, "%lld", (long long)v->i); break;
    case PT_FLOAT: fprintf(out, "%.9g", v->f); break;
    case PT_STR: fprintf(out, "'%.60s%s'", v->s, v->len > 60 ? "..." : ""); break;
    case PT_TENSOR: {
        int d;
        fprintf(out, "tensor %s (", pt_dtype_name[v->tensor->storage->dtype]);
        for (d = 0; d < v->tensor->ndim; d++) fprintf(out, "%s%lu", d ? ", " : "", (unsigned long)v->tensor->shape[d]);
        fprintf(out, ")%s", pt__contiguous(v->tensor) ? "" : " strided");
        break;
    }
    case PT_OBJECT: fprintf(out, "%s", v->s); break;
    default: fprintf(out, "%s of %lu", pt__kind_name(v), (unsigned long)(v->kind == PT_DICT ? v->n / 2 : v->n));
    }
}

static void pt__list(FILE *out, const pt_value *v, int depth, size_t *lines) {
    size_t j;
    const pt_value *d = v;
    if (v->kind == PT_OBJECT && v->n == 2 && v->items[1]->kind == PT_DICT) d = v->items[1];   /* a Namespace's fields */
    if (*lines >= PT_MAX_LINES) return;
    if (depth > PT_MAX_DEPTH || ++*lines == PT_MAX_LINES) { fprintf(out, "%*s... (listing cut)\n", 2 * depth, ""); return; }
    if (d->kind == PT_DICT) {
        for (j = 0; j < d->n; j += 2) {
            fprintf(out, "%*s", 2 * depth, "");
            pt__print_scalar(out, d->items[j]);
            fprintf(out, ": ");
            pt__print_scalar(out, d->items[j + 1]);
            fprintf(out, "\n");
            pt__list(out, d->items[j + 1], depth + 1, lines);
        }
    } else if (d->kind == PT_LIST || d->kind == PT_TUPLE) {
        for (j = 0; j < d->n && j < 16; j++) {
            fprintf(out, "%*s[%lu] ", 2 * depth, "", (unsigned long)j);
            pt__print_scalar(out, d->items[j]);
            fprintf(out, "\n");
            pt__list(out, d->items[j], depth + 1, lines);
        }
        if (d->n > 16) fprintf(out, "%*s... (%lu more)\n", 2 * depth, "", (unsigned long)(d->n - 16));
    }
}

/* Prints the whole object tree: dict keys with their values, tensors with
   dtype and shape, lists up to 16 items, an object's BUILD fields. */
PTDEF void pt_list(const pt_file *pt, FILE *out) {
    size_t lines = 0;
    if (!pt->root) return;
    pt__print_scalar(out, pt->root);
    fprintf(out, "\n");
    pt__list(out, pt->root, 1, &lines);
}

/* ------------------------------------------------------------ conversion --- */
static int pt__utf8_ok(const unsigned char *s) {
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s >> 5) == 6 ? 1 : (*s >> 4) == 14 ? 2 : (*s >> 3) == 30 ? 3 : -1;
        if (n < 0) return 0;
        for (s++; n > 0; n--, s++) if ((*s & 0xc0) != 0x80) return 0;
    }
    return 1;
}

/* A growing string for the safetensors header. */
typedef struct { char *p; size_t n, cap; int oom; } pt__sb;

static void pt__sb_put(pt__sb *b, const char *fmt, ...) {
    va_list ap;
    int k;
    if (b->oom) return;
    for (;;) {
        va_start(ap, fmt);
        k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if (b->p && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        {
            size_t cap = (b->cap ? 2 * b->cap : 4096) + (size_t)k;
            char *q = (char *)realloc(b->p, cap);
            if (!q) { b->oom = 1; return; }
            b->p = q; b->cap = cap;
        }
    }
}

/* A JSON string with the escapes the header needs. */
static void pt__sb_json(pt__sb *b, const char *s) {
    pt__sb_put(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') pt__sb_put(b, "\\%c", ch);
        else if (ch < 0x20) pt__sb_put(b, "\\u%04x", ch);
        else pt__sb_put(b, "%c", ch);
    }
    pt__sb_put(b, "\"");
}

/* The safetensors header for the tensors in list, in order, contiguous:
   {"__metadata__":{"format":"pt","source":..,"key":..}, name: {dtype, shape,
   data_offsets}, ...}, space-padded to a multiple of 8 bytes. */
static int pt__header(pt__sb *b, const pt_named *list, size_t n, const char *source, const char *key) {
    uint64_t off = 0;
    size_t i;
    int d;
    pt__sb_put(b, "{\"__metadata__\":{\"format\":\"pt\",\"source\":");
    pt__sb_json(b, source);
    pt__sb_put(b, ",\"key\":");
    pt__sb_json(b, key);
    pt__sb_put(b, "}");
    for (i = 0; i < n; i++) {
        const pt_tensor *t = list[i].tensor;
        uint64_t nb = t->numel * t->storage->esize;
        pt__sb_put(b, ",");
        pt__sb_json(b, list[i].name);
        pt__sb_put(b, ":{\"dtype\":\"%s\",\"shape\":[", pt_dtype_name[t->storage->dtype]);
        for (d = 0; d < t->ndim; d++) pt__sb_put(b, "%s%llu", d ? "," : "", (unsigned long long)t->shape[d]);
        pt__sb_put(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    pt__sb_put(b, "}");
    while (!b->oom && b->n % 8) pt__sb_put(b, " ");
    return b->oom ? -1 : 0;
}

/* The whole of pt2st: the selected dict's tensors (pt_select, pt_collect)
   written to a safetensors file under their names and in their own dtype, one
   tensor in memory at a time.  The file appears atomically (out.tmp, then
   rename).  Messages about what was chosen go to log (may be NULL). */
PTDEF int pt_convert(const char *in, const char *key, const char *out, FILE *log) {
    pt_file pt;
    const pt_value *d;
    const pt_named *list = NULL;
    const char *chosen = "", *base;
    size_t n, skipped = 0, i, j, maxb = 0;
    uint64_t total = 0;
    pt__sb hdr = { NULL, 0, 0, 0 };
    char tmp[1100] = { 0 };
    unsigned char len8[8];
    void *buf = NULL;
    FILE *f = NULL;
    int rc = -1;
    if (pt_open(&pt, in)) return -1;
    if (!(d = pt_select(&pt, key, &chosen)) || pt_collect(&pt, d, &list, &n, &skipped)) goto done;
    if (n == 0) { pt__fail(&pt, "'%s' holds no tensors", *chosen ? chosen : "the top-level dict"); goto done; }
    for (i = 0; i < n; i++) {
        const pt_tensor *t = list[i].tensor;
        if (t->storage->dtype == PT_DTYPE_OTHER) { pt__fail(&pt, "tensor '%s' has storage type %s, which is not converted", list[i].name, t->storage->type_name); goto done; }
        if (!pt__utf8_ok((const unsigned char *)list[i].name) || !strcmp(list[i].name, "__metadata__")) { pt__fail(&pt, "tensor name '%s' is not valid in safetensors", list[i].name); goto done; }
        for (j = 0; j < i; j++) if (!strcmp(list[i].name, list[j].name)) { pt__fail(&pt, "two tensors are named '%s'", list[i].name); goto done; }
        if (t->numel * t->storage->esize > maxb) maxb = (size_t)(t->numel * t->storage->esize);
        total += t->numel * t->storage->esize;
        if (total > ((uint64_t)1 << 56) || maxb > SIZE_MAX / 2) { pt__fail(&pt, "the tensors are too large to convert"); goto done; }
    }
    if (log) {
        fprintf(log, "%s: %s: %lu tensors", in, *chosen ? chosen : "the top-level dict", (unsigned long)n);
        if (skipped) fprintf(log, " (%lu non-tensor values skipped)", (unsigned long)skipped);
        fprintf(log, "\n");
    }
    base = strrchr(in, '/');
    base = base ? base + 1 : in;
    if (pt__header(&hdr, list, n, base, chosen)) { pt__fail(&pt, "out of memory for the header"); goto done; }
    if (strlen(out) + 5 > sizeof tmp) { pt__fail(&pt, "output path too long"); goto done; }
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    buf = malloc(maxb + 1);
    f = fopen(tmp, "wb");
    if (!buf || !f) { snprintf(pt__err, sizeof pt__err, "%.400s: cannot write: %s", tmp, buf ? strerror(errno) : "out of memory"); goto done; }
    for (i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hdr.n >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(hdr.p, 1, hdr.n, f);
    for (i = 0; i < n; i++) {
        size_t nb = (size_t)(list[i].tensor->numel * list[i].tensor->storage->esize);
        if (pt_read_raw(&pt, list[i].tensor, buf, nb)) {
            size_t l = strlen(pt__err);
            snprintf(pt__err + l, sizeof pt__err - l, " (tensor '%.200s')", list[i].name);
            goto done;
        }
        if (nb && fwrite(buf, 1, nb, f) != nb) break;
    }
#if defined(_POSIX_VERSION) && _POSIX_VERSION >= 200112L
    /* on disk before the rename: a crash then leaves the old file or the whole new one */
    if (i == n && (fflush(f) || fsync(fileno(f)))) { snprintf(pt__err, sizeof pt__err, "%.400s: cannot flush to disk: %s", tmp, strerror(errno)); goto done; }
#endif
    if (ferror(f) | fclose(f)) { f = NULL; snprintf(pt__err, sizeof pt__err, "%.400s: write error", tmp); goto done; }
    f = NULL;
    if (i != n) { snprintf(pt__err, sizeof pt__err, "%.400s: write error", tmp); goto done; }
    if (rename(tmp, out)) { snprintf(pt__err, sizeof pt__err, "%.400s: cannot rename to %.400s: %s", tmp, out, strerror(errno)); goto done; }
    rc = 0;
done:
    if (f) fclose(f);
    if (rc && tmp[0]) remove(tmp);
    free(buf);
    free(hdr.p);
    {
        char msg[sizeof pt__err];
        memcpy(msg, pt__err, sizeof msg);
        pt_close(&pt);
        memcpy(pt__err, msg, sizeof msg);
    }
    return rc;
}

#endif /* PT_H */
