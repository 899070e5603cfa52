/* pt2st - convert a PyTorch .pt checkpoint (torch.save zip) to safetensors.

   build/pt2st IN.pt OUT.safetensors [--key NAME]    convert
   build/pt2st IN.pt --list                           print the object tree

   Without --key it converts 'ema' if the file has it (a SiT + IG training
   checkpoint: {'model', 'ema', 'opt', 'args', 'epoch', 'steps'}), else
   'model', else 'state_dict', else the top-level dict (a bare state dict, or
   a small dict such as latents_stats.pt's {'mean', 'std'}).  --key NAME takes
   that top-level entry instead (a dotted path "a.b" descends into nested
   dicts).  Tensors keep their names and dtypes (F32, F16, BF16, ...); a
   nested dict's tensors are named "outer.inner"; non-tensor values are
   skipped and counted.  Strided tensors are written contiguous.  The output
   is written atomically and then re-opened with ig.h's safetensors reader as
   a check.  See examples/pt.h for what is read and what is refused. */
#define _POSIX_C_SOURCE 200809L /* before any #include: ig.h's saves fsync and check the destination */
#define IG_IMPLEMENTATION
#include "../ig.h"
#include "../examples/cli.h"
#include "../examples/pt.h"

static int usage(void) {
    fprintf(stderr, "usage: pt2st IN.pt OUT.safetensors [--key NAME]\n"
                    "       pt2st IN.pt --list\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *key = NULL;
    int list = 0, i;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--key")) {
            if (!(key = cli_value("pt2st", argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--list")) list = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(); return 0; }
        else if (argv[i][0] == '-' && argv[i][1]) { fprintf(stderr, "pt2st: unknown option '%s'\n", argv[i]); return usage(); }
        else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else return usage();
    }
    if (!in || (!out && !list) || (list && (out || key))) return usage();
    if (list) {
        pt_file pt;
        if (pt_open(&pt, in)) { fprintf(stderr, "pt2st: %s\n", pt_error()); return 1; }
        pt_list(&pt, stdout);
        pt_close(&pt);
        return 0;
    }
    if (pt_convert(in, key, out, stdout)) { fprintf(stderr, "pt2st: %s\n", pt_error()); return 1; }
    {   /* read the result back with the library's own reader */
        ig_st_file st;
        if (ig_st_open(&st, out)) { fprintf(stderr, "pt2st: the output does not read back: %s\n", ig_last_error()); return 1; }
        printf("wrote %s: %d tensors, %lu data bytes\n", out, st.ntensors, (unsigned long)st.data_size);
        ig_st_close(&st);
    }
    return 0;
}
