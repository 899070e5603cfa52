/* Two translation units, one implementation: this file defines
   IG_IMPLEMENTATION, tu_b.c only includes the header.  Linking them checks
   that the header declares everything once and defines it once. */
#define IG_IMPLEMENTATION
#include "../../ig.h"
#include <stdio.h>

int tu_b_value(void);

int main(void) {
    ig_rng r;
    ig_rng_seed(&r, 1);
    printf("two translation units link: %s\n", (tu_b_value() == 3 && ig_rng_uniform(&r) > 0.0f) ? "ok" : "FAILED");
    return tu_b_value() == 3 ? 0 : 1;
}
