/* right, written one query (a column here) at a time, the dot product then the update */
//@@
    (void)dot;
    for (j = 0; j < T; j++) {
        float s = 0.0f;
        for (r = 0; r < T; r++) s += PT[r * ld + j] * dPT[r * ld + j];
        for (r = 0; r < T; r++) dPT[r * ld + j] = scale * PT[r * ld + j] * dPT[r * ld + j] - scale * PT[r * ld + j] * s;
    }
