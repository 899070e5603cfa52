/* test_tools.c - the command-line tools, called as functions.

   tools/ig-forward.c is compiled here with IG_FORWARD_NO_MAIN, so forward_main()
   runs inside the runner (IG_IMPLEMENTATION comes from test_ig.c).  The tests
   write crafted input files to /tmp and check that every bad value is an error
   that names the tensor and the element, and that no output is written. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, dup2 */
#define IG_FORWARD_NO_MAIN
#include "../tools/ig-forward.c"
#include "test.h"
#include "capture.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOOLS_CKPT "tests/fixtures/point.safetensors"   /* weights and inputs, N = 5, 2 classes */

/* Five points of tests/fixtures/point.safetensors' shape (5,2,1,1), t and y. */
typedef struct { float x[10], t[5]; int64_t y[5]; } tools_inputs;

static void tools_inputs_default(tools_inputs *in) {
    int i;
    for (i = 0; i < 10; i++) in->x[i] = 0.1f * (float)i - 0.4f;
    for (i = 0; i < 5; i++) { in->t[i] = 0.2f * (float)i; in->y[i] = i % 3; }   /* 2 = the null label */
}

static int tools_write_inputs(const char *path, const tools_inputs *in) {
    ig_st_writer w;
    int64_t sx[4] = { 5, 2, 1, 1 }, s5[1] = { 5 };
    int rc;
    ig_st_writer_init(&w);
    ig_st_add(&w, "input.x", IG_F32, 4, sx, in->x);
    ig_st_add(&w, "input.t", IG_F32, 1, s5, in->t);
    ig_st_add(&w, "input.y", IG_I64, 1, s5, in->y);
    rc = ig_st_writer_save(&w, path);
    ig_st_writer_free(&w);
    return rc;
}

/* ig-forward --ckpt point --inputs IN --out OUT [extra...]; fd 2 (or 1 if
   capture_stdout) into msg.  Returns the exit status. */
static int tools_forward(const char *inputs, const char *out, const char *const *extra, int capture_stdout,
                         char *msg, size_t cap) {
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)"ig-forward";
    argv[argc++] = (char *)"--ckpt";   argv[argc++] = (char *)TOOLS_CKPT;
    argv[argc++] = (char *)"--inputs"; argv[argc++] = (char *)inputs;
    argv[argc++] = (char *)"--out";    argv[argc++] = (char *)out;
    while (extra && *extra && argc < 15) argv[argc++] = (char *)*extra++;
    argv[argc] = NULL;
    return capture_output(capture_stdout ? 1 : 2, forward_main, argc, argv, msg, cap);
}

/* Writes the inputs, runs ig-forward, expects exit status 1 with want in the
   message and no output file. */
static int tools_expect_input_error(const tools_inputs *in, const char *want) {
    char dir[] = "/tmp/test_tools_XXXXXX", ipath[64], opath[64], msg[1024];
    struct stat sb;
    int rc;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(ipath, sizeof ipath, "%s/in.safetensors", dir);
    snprintf(opath, sizeof opath, "%s/out.safetensors", dir);
    CHECK(tools_write_inputs(ipath, in) == 0, "%s", ig_last_error());
    rc = tools_forward(ipath, opath, NULL, 0, msg, sizeof msg);
    remove(ipath);
    CHECK(stat(opath, &sb) != 0, "ig-forward wrote %s although the inputs are bad", opath);
    rmdir(dir);
    CHECK(rc == 1, "exit status %d (want 1); stderr: %s", rc, msg);
    CHECK(strstr(msg, want) != NULL, "the message does not say '%s': %s", want, msg);
    return 0;
}

/* The tool still does its job: the fixture's own inputs give its outputs. */
static int test_ig_forward_matches_fixture(void) {
    char dir[] = "/tmp/test_tools_XXXXXX", opath[64], msg[1024];
    ig_st_file got, want;
    const ig_st_tensor *g, *e;
    float a[10], b[10];
    int rc, i;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp failed");
    snprintf(opath, sizeof opath, "%s/out.safetensors", dir);
    rc = tools_forward(TOOLS_CKPT, opath, NULL, 1, msg, sizeof msg);
    CHECK(rc == 0, "exit status %d: %s", rc, ig_last_error());
    CHECK(strstr(msg, "5 samples through 3 blocks") != NULL, "stdout: %s", msg);
    CHECK(ig_st_open(&got, opath) == 0, "%s", ig_last_error());
    if (ig_st_open(&want, TOOLS_CKPT)) { ig_st_close(&got); CHECK(0, "%s", ig_last_error()); }
    g = ig_st_find(&got, "output.v_aux");
    e = ig_st_find(&want, "output.v_aux");
    rc = !g || !e || ig_st_read_f32(&got, g, a, 10) || ig_st_read_f32(&want, e, b, 10);
    ig_st_close(&got);
    ig_st_close(&want);
    remove(opath);
    rmdir(dir);
    CHECK(!rc, "cannot read output.v_aux: %s", ig_last_error());
    for (i = 0; i < 10; i++) CHECK(near(a[i], b[i], 1e-4, 1e-6), "v_aux[%d] = %g, fixture %g", i, a[i], b[i]);
    return 0;
}

/* Issue 12 item 5: a NaN in input.x passed silently. */
static int test_ig_forward_nan_in_x(void) {
    tools_inputs in;
    tools_inputs_default(&in);
    in.x[7] = NAN;
    if (tools_expect_input_error(&in, "'input.x' element 7 is nan")) return 1;
    in.x[7] = -INFINITY;
    return tools_expect_input_error(&in, "'input.x' element 7 is -inf");
}

/* ... and in input.t (which the library rejected, without naming the tensor). */
static int test_ig_forward_nonfinite_t(void) {
    tools_inputs in;
    tools_inputs_default(&in);
    in.t[1] = INFINITY;
    if (tools_expect_input_error(&in, "'input.t' element 1 is inf")) return 1;
    in.t[1] = NAN;
    if (tools_expect_input_error(&in, "'input.t' element 1 is nan")) return 1;
    in.t[1] = 1.5f;
    return tools_expect_input_error(&in, "'input.t' element 1 is 1.5");
}

/* Issue 12 item 5: an int64 label of 2^32 was truncated to label 0. */
static int test_ig_forward_label_beyond_int(void) {
    tools_inputs in;
    tools_inputs_default(&in);
    in.y[2] = (int64_t)1 << 32;
    if (tools_expect_input_error(&in, "'input.y' element 2 is 4294967296, outside 0..2")) return 1;
    in.y[2] = -((int64_t)1 << 32) + 1;   /* wraps to 1 as an int */
    if (tools_expect_input_error(&in, "'input.y' element 2 is -4294967295")) return 1;
    in.y[2] = 3;                          /* num_classes + 1 */
    if (tools_expect_input_error(&in, "'input.y' element 2 is 3, outside 0..2")) return 1;
    in.y[2] = -1;
    return tools_expect_input_error(&in, "'input.y' element 2 is -1, outside 0..2");
}

/* Flags: numbers through cli.h, unknown options and missing values are errors. */
static int test_ig_forward_flags(void) {
    static const struct { const char *want; const char *extra[4]; } cases[] = {
        { "--heads: 'abc' is not an integer", { "--heads", "abc" } },
        { "--heads: 0 is out of range", { "--heads", "0" } },
        { "--aux-depth: -1 is out of range", { "--aux-depth", "-1" } },
        { "--aux-depth: 99999999999 is out of range", { "--aux-depth", "99999999999" } },
        { "--heads needs a value", { "--heads" } },
        { "unknown option '--head'", { "--head", "2" } },
        { "need 1 <= aux_depth < depth", { "--aux-depth", "3" } },   /* the file's depth is 3 */
    };
    char msg[1024];
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = tools_forward(TOOLS_CKPT, "/tmp/test_tools_never_written.safetensors", cases[i].extra, 0, msg, sizeof msg);
        CHECK(rc != 0, "case %zu: exit status 0", i);
        CHECK(strstr(msg, cases[i].want) != NULL, "case %zu: the message does not say '%s': %s", i, cases[i].want, msg);
    }
    return 0;
}

extern const test_case tools_tests[];
extern const int tools_ntests;
const test_case tools_tests[] = {
    { "ig_forward_matches_fixture", test_ig_forward_matches_fixture },
    { "ig_forward_nan_in_x", test_ig_forward_nan_in_x },
    { "ig_forward_nonfinite_t", test_ig_forward_nonfinite_t },
    { "ig_forward_label_beyond_int", test_ig_forward_label_beyond_int },
    { "ig_forward_flags", test_ig_forward_flags },
};
const int tools_ntests = sizeof tools_tests / sizeof tools_tests[0];
