/* right, written as predictor and corrector in place: x_e overwrites a copy, one slope buffer */
//@@
    float *buf = (float *)malloc(3 * n * sizeof(float)), *k1 = buf, *k2 = buf + n, *xp = buf + 2 * n;
    size_t s, i;
    int rc = 0;
    if (!buf) return ig__fail("heun: out of memory");
    for (s = 0; s < nsteps && rc == 0; s++) {
        float h = grid[s + 1] - grid[s];
        rc = f(user, x, n, grid[s], k1);
        if (rc) break;
        for (i = 0; i < n; i++) xp[i] = x[i] + h * k1[i];
        if (euler_last && grid[s + 1] == 0.0f) { memcpy(x, xp, n * sizeof(float)); continue; }
        rc = f(user, xp, n, grid[s + 1], k2);
        for (i = 0; i < n && rc == 0; i++) x[i] = x[i] + h * (0.5f * k1[i] + 0.5f * k2[i]);
    }
    free(buf);
    return rc ? -1 : 0;
