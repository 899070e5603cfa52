/* right, written with malloc and a pointer walk */
//@@
    float *v = (float *)malloc(n * sizeof(float));
    const float *t = grid;
    size_t i;
    if (!v) return ig__fail("euler: out of memory");
    while (t < grid + nsteps) {
        if (f(user, x, n, t[0], v) != 0) { free(v); return -1; }
        for (i = 0; i < n; i++) x[i] = x[i] + v[i] * (t[1] - t[0]);
        t++;
    }
    free(v);
    return 0;
