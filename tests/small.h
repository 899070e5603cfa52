/* small.h - the small SiT that test_model.c, test_method.c and test_harden.c
   train: C 2, 4x4 image, patch 2 (T = 4 tokens), D 32, L 3, 2 heads,
   3 classes, head after block 1, raw t.  Include after ig.h. */
#ifndef IG_TEST_SMALL_H
#define IG_TEST_SMALL_H
#include <string.h>

static inline ig_config small_config(void) {
    ig_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.in_channels = 2; cfg.image_height = 4; cfg.image_width = 4; cfg.patch_size = 2;
    cfg.hidden_size = 32; cfg.depth = 3; cfg.num_heads = 2; cfg.num_classes = 3; cfg.aux_depth = 1; cfg.t_scale = 1.0f;
    return cfg;
}
#endif
