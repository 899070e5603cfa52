/* wrong: extrapolates from the conditional half, v_c + s (v_u - v_c) */
//@@
        lab[b] = b < B ? G->labels[b] : m->cfg.num_classes;
//@@
        for (i = 0; i < n; i++) vout[i] = vf[i] + gd->cfg_scale * (vf[n + i] - vf[i]);
