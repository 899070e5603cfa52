/* exercise - coursework exercises cut from ig.h (issue 20; docs/tour.md, "Instructors").
     exercise list                         the exercises: name, difficulty, what the student writes
     exercise names                        their names, one a line (for scripts)
     exercise blank NAME IG_H OUT [FILE]   OUT = IG_H with NAME's piece replaced by its stub, or
                                           by the sections of FILE (a wrong answer or a second
                                           solution, tests/exercises/answers/)
   A piece is found by content, never by line number or marker: a cut names a function
   (its definition: the anchor text followed by '{' before any ';') and then either its
   whole body (first == NULL) or the lines from the first one containing `first` through
   the first one from there containing `last` (or `first` again), extended until the
   braces they open are closed.  If ig.h changes so that a piece is not found exactly
   once, the tool says which and fails; `make exercises-check` runs in CI.
   To add an exercise: one entry in EXERCISES below, its task sheet
   tests/exercises/tasks/NAME.md, its check in tests/exercises/grade.c and two wrong
   answers in tests/exercises/answers/ (see docs/tour.md, "Instructors"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { const char *anchor, *first, *last, *stub; } cut;
typedef struct {
    const char *name, *level, *what;
    cut cuts[4];
} exercise;

#define NI(ex, what) "ig__fail(\"exercise " ex ": not implemented yet (" what "; see TASK.md)\")"

static const exercise EXERCISES[] = {
    { "ig_line", "1 first evening", "the IG line: v = v_aux + w (v_final - v_aux)",
      { { "IGDEF int ig_guided_velocity(", "vf[i] = va[i] + w * (vf[i] - va[i]);", NULL,
          "            { (void)va; (void)w; return " NI("ig_line", "the IG line") "; }\n" } } },
    { "cfg", "1 first evening", "CFG: the null label of the second half, v = v_u + s (v_c - v_u)",
      { { "IGDEF int ig_guided_velocity(", "lab[b] = b < B ? G->labels[b] : m->cfg.num_classes;",
          NULL,
          "        if (b >= B) return " NI("cfg", "the label of the second half") ";\n"
          "        lab[b] = G->labels[b];\n" },
        { "IGDEF int ig_guided_velocity(",
          "for (i = 0; i < n; i++) vout[i] = vf[n + i] + gd->cfg_scale * (vf[i] - vf[n + i]);",
          NULL, "        for (i = 0; i < n; i++) vout[i] = vf[i];   /* exercise cfg: combine */\n" } } },
    { "euler", "1 first evening", "ig_sample_euler: x <- x + (t' - t) v(x, t) on the grid",
      { { "IGDEF int ig_sample_euler(", NULL, NULL,
          "    (void)f; (void)user; (void)x; (void)n; (void)grid; (void)nsteps;\n"
          "    return " NI("euler", "ig_sample_euler") ";\n" } } },
    { "heun", "2 an afternoon", "ig__heun: Euler guess, then the average slope; Euler on the last step",
      { { "static int ig__heun(", NULL, NULL,
          "    (void)f; (void)user; (void)x; (void)n; (void)grid; (void)nsteps; (void)euler_last;\n"
          "    return " NI("heun", "ig__heun") ";\n" } } },
    { "flow_batch", "1 first evening", "ig_flow_batch: x_t and the target v* on the linear and cosine paths",
      { { "IGDEF int ig_flow_batch(", "if (tc->path == IG_PATH_COSINE) {", NULL,
          "            (void)e; (void)x0i; (void)xt; (void)target;\n"
          "            return " NI("flow_batch", "x_t and the target") ";\n" } } },
    { "loss", "1 first evening", "the two-head loss: mse(v_final, v*) + lambda mse(v_aux, v*)",
      { { "static int ig__train_step_core(", "if (v_aux) {", NULL,
          "    if (v_aux) return " NI("loss", "the aux head's loss term") ";\n" } } },
    { "linear_backward", "2 an afternoon", "Linear's backward: dx = dy W, dW += dy^T x, db += column sums",
      { { "static void ig__linear_backward(ig_node *nd)", NULL, NULL,
          "    " NI("linear_backward", "ig__linear_backward") ";\n"
          "    nd->ctx->failed = 1;\n" } } },
    { "layernorm_backward", "3 a hard evening", "LayerNorm's backward: dx = rstd (dy - mean(dy) - xhat mean(dy xhat))",
      { { "static void ig__layernorm_backward(ig_node *nd)", NULL, NULL,
          "    " NI("layernorm_backward", "ig__layernorm_backward") ";\n"
          "    nd->ctx->failed = 1;\n" } } },
    { "softmax_backward", "3 a hard evening", "attention's softmax backward: dS = P (dP - rowsum(dP P)), scaled",
      { { "static void ig__attention_head_backward(", "for (j = 0; j < T; j++) dot[j] = 0.0f;",
          "for (r = 0; r < T; r++) {",
          "    (void)dot; (void)scale; (void)r; (void)j;\n"
          "    " NI("softmax_backward", "dS from dP and P") ";\n" } } },
    { "modulate", "2 an afternoon", "adaLN modulate, forward and backward: y = x (1 + scale) + shift",
      { { "IGDEF ig_tensor *ig_modulate(", "B = x->shape[0]; T = x->shape[1]; D = x->shape[2];",
          "yv[d] = xv[d] * (1.0f + sc[d]) + sh[d];",
          "    (void)B; (void)T; (void)D; (void)b; (void)t; (void)d;\n"
          "    " NI("modulate", "ig_modulate's forward") ";\n"
          "    ctx->failed = 1;\n"
          "    return NULL;\n" },
        { "static void ig__modulate_backward(ig_node *nd)", NULL, NULL,
          "    " NI("modulate", "ig__modulate_backward") ";\n"
          "    nd->ctx->failed = 1;\n" } } },
    { "gated_residual", "2 an afternoon", "adaLN's gated residual, forward and backward: y = x + gate h",
      { { "IGDEF ig_tensor *ig_gated_add(", "B = x->shape[0]; T = x->shape[1]; D = x->shape[2];",
          "y->data[o + d] = x->data[o + d] + gt[d] * h->data[o + d];",
          "    (void)B; (void)T; (void)D; (void)b; (void)t; (void)d;\n"
          "    " NI("gated_residual", "ig_gated_add's forward") ";\n"
          "    ctx->failed = 1;\n"
          "    return NULL;\n" },
        { "static void ig__gated_add_backward(ig_node *nd)", NULL, NULL,
          "    " NI("gated_residual", "ig__gated_add_backward") ";\n"
          "    nd->ctx->failed = 1;\n" } } },
    { "adamw", "2 an afternoon", "AdamW with bias corrections and decoupled decay, then the EMA",
      { { "static ig__adamw_coef ig__adamw_coefs(", NULL, NULL,
          "    ig__adamw_coef c;\n"
          "    memset(&c, 0, sizeof c);\n"
          "    (void)tc; (void)step;\n"
          "    " NI("adamw", "ig__adamw_coefs") ";\n"
          "    return c;\n" },
        { "static inline void ig__adamw_elem(", NULL, NULL,
          "    (void)c; (void)g; (void)pw; (void)pm; (void)pv; (void)pe;   /* exercise adamw */\n" } } },
    { "sde_score", "2 an afternoon", "the SDE's score from the velocity, linear and cosine paths",
      { { "IGDEF int ig_sample_sde(", "float score = path == IG_PATH_COSINE",
          ": -((1.0f - t) * v[i] + x[i]) / t;",
          "            float score = 0.0f;\n"
          "            (void)al; (void)si;\n"
          "            IG_FREE(v);\n"
          "            return " NI("sde_score", "the score from the velocity") ";\n" } } },
    { "time_embed", "1 first evening", "the sinusoidal time embedding of t * t_scale (B,256)",
      { { "static ig_tensor *ig__time_features(", NULL, NULL,
          "    (void)t; (void)B; (void)t_scale;\n"
          "    " NI("time_embed", "ig__time_features") ";\n"
          "    ctx->failed = 1;\n"
          "    return NULL;\n" } } },
};
#define NEX (sizeof EXERCISES / sizeof EXERCISES[0])

/* ---- the file as lines, with each line's brace balance outside strings and comments */
static char **lines;
static int *delta;
static int nlines;

static void die(const char *msg, const char *a, const char *b) {
    fprintf(stderr, "exercise: %s%s%s%s%s\n", msg, a ? " '" : "", a ? a : "", a ? "'" : "",
            b ? b : "");
    exit(2);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *s;
    long n;
    if (!f) die("cannot open", path, NULL);
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) die("cannot read", path, NULL);
    s = (char *)malloc((size_t)n + 1);
    if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) die("cannot read", path, NULL);
    s[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return s;
}

static void split(char *s) {
    int cap = 1024, in_block = 0, i;
    char *p = s;
    lines = (char **)malloc(cap * sizeof(char *));
    while (*p) {
        char *nl = strchr(p, '\n');
        if (nlines == cap) lines = (char **)realloc(lines, (cap *= 2) * sizeof(char *));
        lines[nlines++] = p;
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    delta = (int *)calloc((size_t)nlines + 1, sizeof(int));
    for (i = 0; i < nlines; i++) {
        const char *c = lines[i];
        for (; *c; c++) {
            if (in_block) { if (c[0] == '*' && c[1] == '/') { in_block = 0; c++; } continue; }
            if (c[0] == '/' && c[1] == '*') { in_block = 1; c++; continue; }
            if (c[0] == '/' && c[1] == '/') break;
            if (*c == '"' || *c == '\'') {
                char q = *c;
                for (c++; *c && *c != q; c++) if (*c == '\\' && c[1]) c++;
                if (!*c) break;
                continue;
            }
            if (*c == '{') delta[i]++;
            if (*c == '}') delta[i]--;
        }
    }
}

/* The line of the definition named by anchor: anchor's text followed by '{' before ';'. */
static int find_def(const char *anchor) {
    int i, found = -1, count = 0;
    for (i = 0; i < nlines; i++) {
        const char *at = strstr(lines[i], anchor);
        int j;
        if (!at) continue;
        for (j = i; j < nlines && j < i + 8; j++) {
            const char *c = j == i ? at : lines[j];
            const char *semi = strchr(c, ';'), *brace = strchr(c, '{');
            if (brace && (!semi || brace < semi)) { found = i; count++; break; }
            if (semi) break;
        }
    }
    if (count != 1) die(count ? "more than one definition matches" : "no definition matches", anchor,
                        " (has ig.h changed? update tools/exercise.c)");
    return found;
}

/* Lines [*lo, *hi] that a cut replaces. */
static void locate(const cut *c, int *lo, int *hi) {
    int a = find_def(c->anchor), i, k, depth = 0, opened;
    if (!c->first) {   /* the body: between the line that opens it and the one that closes it */
        for (i = a; i < nlines && !strchr(lines[i], '{'); i++) {}
        if (i == nlines) die("no body for", c->anchor, NULL);
        *lo = i + 1;
        for (depth = delta[i], i++; i < nlines; i++) {
            depth += delta[i];
            if (depth == 0) break;
        }
        if (i == nlines || strspn(lines[i], " }") != strlen(lines[i])) die("no closing brace for", c->anchor, NULL);
        *hi = i - 1;
        return;
    }
    for (i = a, opened = 0; i < nlines && !strstr(lines[i], c->first); i++) {
        depth += delta[i];
        opened |= depth > 0;
        if (opened && depth == 0) break;   /* past the function */
    }
    if (i == nlines || !strstr(lines[i], c->first)) die("line not found:", c->first, NULL);
    *lo = i;
    if (c->last) {
        for (; i < nlines && !strstr(lines[i], c->last); i++) {}
        if (i == nlines) die("line not found:", c->last, NULL);
    }
    for (depth = 0, k = *lo; k <= i; k++) depth += delta[k];
    for (; depth > 0 && i + 1 < nlines; ) depth += delta[++i];
    if (depth != 0) die("unbalanced braces after", c->first, NULL);
    *hi = i;
}

static const exercise *find_ex(const char *name) {
    size_t k;
    for (k = 0; k < NEX; k++)
        if (!strcmp(EXERCISES[k].name, name)) return &EXERCISES[k];
    fprintf(stderr, "exercise: no exercise '%s'; `make exercises` lists them\n", name);
    exit(2);
}

int main(int argc, char **argv) {
    size_t k;
    if (argc >= 2 && !strcmp(argv[1], "list")) {
        printf("%-20s %-18s %s\n", "NAME", "DIFFICULTY", "WHAT YOU WRITE");
        for (k = 0; k < NEX; k++)
            printf("%-20s %-18s %s\n", EXERCISES[k].name, EXERCISES[k].level, EXERCISES[k].what);
        printf("\nmake exercise E=NAME   writes build/exercises/NAME/ig.h and TASK.md\n"
               "make check E=NAME      grades it (STUDENT=path/to/ig.h grades another copy)\n");
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "names")) {
        for (k = 0; k < NEX; k++) printf("%s\n", EXERCISES[k].name);
        return 0;
    }
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "blank")) {
        const exercise *ex = find_ex(argv[2]);
        char *sec[4] = { 0 }, *src = slurp(argv[3], NULL);
        int lo[4], hi[4], nc = 0, c, i;
        FILE *out;
        split(src);
        while (nc < 4 && ex->cuts[nc].anchor) nc++;
        if (argc == 6) {   /* sections: each starts after a line beginning "//@@" */
            char *s = slurp(argv[5], NULL), *p = s;
            int n = 0;
            while ((p = strstr(p, "//@@"))) {
                char *nl = strchr(p, '\n');
                if (n == 4 || !nl) die("too many sections or a bad marker in", argv[5], NULL);
                *p = 0;
                sec[n++] = nl + 1;
                p = nl + 1;
            }
            if (n != nc) {
                fprintf(stderr, "exercise: %s has %d section(s), exercise %s has %d cut(s)\n",
                        argv[5], n, ex->name, nc);
                return 2;
            }
        }
        for (c = 0; c < nc; c++) {
            locate(&ex->cuts[c], &lo[c], &hi[c]);
            for (i = 0; i < c; i++)
                if (lo[c] <= hi[i] && lo[i] <= hi[c]) die("two cuts overlap in", ex->name, NULL);
        }
        if (!(out = fopen(argv[4], "wb"))) die("cannot write", argv[4], NULL);
        for (i = 0; i < nlines; i++) {
            for (c = 0; c < nc && lo[c] != i; c++) {}
            if (c < nc) {
                if (sec[c]) fputs(sec[c], out);
                else
                    fprintf(out, "%.*s/* exercise %s: your code replaces this stub (TASK.md) */\n%s",
                            (int)strspn(lines[i], " "), lines[i], ex->name, ex->cuts[c].stub);
                i = hi[c];
                continue;
            }
            fputs(lines[i], out);
            fputc('\n', out);
        }
        if (fclose(out)) die("cannot write", argv[4], NULL);
        return 0;
    }
    fprintf(stderr, "usage: exercise list | names | blank NAME IG_H OUT [ANSWER_FILE]\n");
    return 2;
}
