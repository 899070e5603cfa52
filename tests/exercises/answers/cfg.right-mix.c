/* right, written as s v_c + (1 - s) v_u and the label with an if */
//@@
        if (b < B) lab[b] = G->labels[b];
        else lab[b] = m->cfg.num_classes;
//@@
        for (i = 0; i < n; i++) vout[i] = gd->cfg_scale * vf[i] + (1.0f - gd->cfg_scale) * vf[n + i];
