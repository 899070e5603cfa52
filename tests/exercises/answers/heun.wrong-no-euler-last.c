/* wrong: ignores euler_last, so ig_sample_heun evaluates the field at t = 0 */
//@@
    float *buf = ig__buffers(n, 3), *v = buf, *v2 = buf + n, *xe = buf + 2 * n;
    size_t s, i;
    (void)euler_last;
    if (!buf) return -1;
    for (s = 0; s < nsteps; s++) {
        float t = grid[s], tn = grid[s + 1], dt = tn - t;
        if (f(user, x, n, t, v)) goto fail;
        for (i = 0; i < n; i++) xe[i] = x[i] + dt * v[i];
        if (f(user, xe, n, tn, v2)) goto fail;
        for (i = 0; i < n; i++) x[i] += 0.5f * dt * (v[i] + v2[i]);
    }
    IG_FREE(buf);
    return 0;
fail:
    IG_FREE(buf);
    return -1;
