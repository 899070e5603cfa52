/* mt19937.h - the legacy Mersenne Twister with Marsaglia-polar normals.

   Bit compatible with the old generator of a common array library, whose
   stream (seed 2) builds the 2D toy distribution of the Autoguidance and IG
   papers (examples/toy2d_truth.h).  The toy is the only user, so it lives here
   rather than in ig.h, whose own generator is ig_rng (splitmix64).
   Header-only, every function static inline. */
#ifndef MT19937_H
#define MT19937_H
#include <math.h>
#include <stdint.h>

typedef struct mt19937 { uint32_t mt[624]; int mti; int has_gauss; double gauss; } mt19937;

/* the standard init_genrand seeding */
static inline void mt_seed(mt19937 *r, uint32_t seed) {
    int i;
    r->mt[0] = seed;
    for (i = 1; i < 624; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->mti = 624;
    r->has_gauss = 0;
    r->gauss = 0.0;
}

static inline uint32_t mt_u32(mt19937 *r) {
    uint32_t y;
    if (r->mti >= 624) { /* regenerate the whole block of 624 words */
        int k;
        for (k = 0; k < 624; k++) {
            y = (r->mt[k] & 0x80000000u) | (r->mt[(k + 1) % 624] & 0x7fffffffu);
            r->mt[k] = r->mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        r->mti = 0;
    }
    y = r->mt[r->mti++];
    y ^= y >> 11;                /* tempering */
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* [0, 1) with 53 bits: 27 high bits of one word, 26 of the next. */
static inline double mt_uniform(mt19937 *r) {
    uint32_t a = mt_u32(r) >> 5, b = mt_u32(r) >> 6;
    return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

/* Marsaglia polar method: a point in the unit disc gives two normals;
   return f*x2 now and f*x1 on the next call. */
static inline double mt_normal(mt19937 *r) {
    double x1, x2, r2, f;
    if (r->has_gauss) { r->has_gauss = 0; return r->gauss; }
    do {
        x1 = 2.0 * mt_uniform(r) - 1.0;
        x2 = 2.0 * mt_uniform(r) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    f = sqrt(-2.0 * log(r2) / r2);
    r->gauss = f * x1;
    r->has_gauss = 1;
    return f * x2;
}
#endif
