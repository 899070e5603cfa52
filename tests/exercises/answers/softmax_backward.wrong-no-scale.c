/* wrong: forgets the 1/sqrt(hd) of S = q k^T / sqrt(hd) in dS */
//@@
    for (j = 0; j < T; j++) dot[j] = 0.0f;
    for (r = 0; r < T; r++)
        for (j = 0; j < T; j++) dot[j] += dPT[r * ld + j] * PT[r * ld + j];
    (void)scale;
    for (r = 0; r < T; r++) {
        float *dp = dPT + r * ld;
        const float *p = PT + r * ld;
        for (j = 0; j < T; j++) dp[j] = p[j] * (dp[j] - dot[j]);
    }
