/* wrong: subtracts the plain sum of dP instead of the P-weighted sum */
//@@
    for (j = 0; j < T; j++) dot[j] = 0.0f;
    for (r = 0; r < T; r++)
        for (j = 0; j < T; j++) dot[j] += dPT[r * ld + j];
    for (r = 0; r < T; r++) {
        float *dp = dPT + r * ld;
        const float *p = PT + r * ld;
        for (j = 0; j < T; j++) dp[j] = p[j] * (dp[j] - dot[j]) * scale;
    }
