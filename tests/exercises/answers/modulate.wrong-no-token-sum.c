/* wrong: dshift and dscale from the first token only, not summed over the T tokens */
//@@
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++)
            for (d = 0; d < D; d++)
                y->data[(b * T + t) * D + d] = x->data[(b * T + t) * D + d] * (1.0f + scale->data[b * D + d]) + shift->data[b * D + d];
//@@
    ig_tensor *y = nd->out, *x = nd->in[0], *shift = nd->in[1], *scale = nd->in[2];
    size_t B = x->shape[0], T = x->shape[1], D = x->shape[2], b, t, d;
    float *dx = ig__grad(nd->ctx, x), *dshift = ig__grad(nd->ctx, shift), *dscale = ig__grad(nd->ctx, scale);
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++)
            for (d = 0; d < D; d++) {
                size_t i = (b * T + t) * D + d;
                if (dx) dx[i] += y->grad[i] * (1.0f + scale->data[b * D + d]);
                if (t > 0) continue;
                if (dshift) dshift[b * D + d] += y->grad[i];
                if (dscale) dscale[b * D + d] += y->grad[i] * x->data[i];
            }
