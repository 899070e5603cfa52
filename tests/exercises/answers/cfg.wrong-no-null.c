/* wrong: the second half keeps the sample's own label (no null label), so v_u = v_c */
//@@
        lab[b] = G->labels[b % B];
//@@
        for (i = 0; i < n; i++) vout[i] = vf[n + i] + gd->cfg_scale * (vf[i] - vf[n + i]);
