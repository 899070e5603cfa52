/* right, written over a flat index (i / (T D) is the sample, i % D the channel), the
   backward's sums over tokens through one accumulator per (b, d) */
//@@
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    (void)b; (void)t; (void)d;
    {
        size_t i;
        for (i = 0; i < B * T * D; i++) {
            size_t v = i / (T * D) * D + i % D;
            y->data[i] = x->data[i] + x->data[i] * scale->data[v] + shift->data[v];
        }
    }
//@@
    ig_tensor *y = nd->out, *x = nd->in[0], *shift = nd->in[1], *scale = nd->in[2];
    size_t B = x->shape[0], T = x->shape[1], D = x->shape[2], b, t, d;
    float *dx = ig__grad(nd->ctx, x), *dshift = ig__grad(nd->ctx, shift), *dscale = ig__grad(nd->ctx, scale);
    for (b = 0; b < B; b++)
        for (d = 0; d < D; d++) {
            float s_shift = 0.0f, s_scale = 0.0f;
            for (t = 0; t < T; t++) {
                size_t i = (b * T + t) * D + d;
                if (dx) dx[i] += y->grad[i] + y->grad[i] * scale->data[b * D + d];
                s_shift += y->grad[i];
                s_scale += y->grad[i] * x->data[i];
            }
            if (dshift) dshift[b * D + d] += s_shift;
            if (dscale) dscale[b * D + d] += s_scale;
        }
