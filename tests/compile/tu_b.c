/* The header without the implementation: declarations only. */
#include "../../ig.h"

int tu_b_value(void) {
    ig_mt19937 r;
    ig_mt_seed(&r, 2);
    return ig_mt_normal(&r) < 0.0 ? 3 : 0;   /* the first normal of seed 2 is -0.4168 */
}
