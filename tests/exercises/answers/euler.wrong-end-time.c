/* wrong: the slope taken at the step's end time t' instead of its start t */
//@@
    float *v = ig__buffers(n, 1);
    size_t s, i;
    if (!v) return -1;
    for (s = 0; s < nsteps; s++) {
        float dt = grid[s + 1] - grid[s];
        if (f(user, x, n, grid[s + 1], v)) { IG_FREE(v); return -1; }
        for (i = 0; i < n; i++) x[i] += dt * v[i];
    }
    IG_FREE(v);
    return 0;
