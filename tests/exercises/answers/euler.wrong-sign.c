/* wrong: dt = t - t' (positive), so the step runs away from the data */
//@@
    float *v = ig__buffers(n, 1);
    size_t s, i;
    if (!v) return -1;
    for (s = 0; s < nsteps; s++) {
        float dt = grid[s] - grid[s + 1];
        if (f(user, x, n, grid[s], v)) { IG_FREE(v); return -1; }
        for (i = 0; i < n; i++) x[i] += dt * v[i];
    }
    IG_FREE(v);
    return 0;
