/* The whole header, implementation included, for the warning checks
   (C99, C++, with and without IG_STATIC). */
#define IG_IMPLEMENTATION
#include "../../ig.h"
int main(void) { return ig_last_error()[0] != 0; }
