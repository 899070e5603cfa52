/* The header without the implementation: declarations only. */
#include "../../ig.h"

int tu_b_value(void) {
    ig_rng r;
    ig_rng_seed(&r, 2);
    return ig_rng_uniform(&r) > 0.0f ? 3 : 0;   /* uniforms lie in (0, 1) */
}
