/* right, written over a flat index with the channel-major sums of the backward */
//@@
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    (void)b; (void)t; (void)d;
    {
        size_t i;
        for (i = 0; i < B * T * D; i++) y->data[i] = h->data[i] * gate->data[i / (T * D) * D + i % D] + x->data[i];
    }
//@@
    ig_tensor *y = nd->out, *x = nd->in[0], *gate = nd->in[1], *h = nd->in[2];
    size_t B = x->shape[0], T = x->shape[1], D = x->shape[2], b, t, d;
    float *dx = ig__grad(nd->ctx, x), *dgate = ig__grad(nd->ctx, gate), *dh = ig__grad(nd->ctx, h);
    for (b = 0; b < B; b++)
        for (d = 0; d < D; d++) {
            float s = 0.0f;
            for (t = 0; t < T; t++) {
                size_t o = (b * T + t) * D + d;
                if (dx) dx[o] += y->grad[o];
                if (dh) dh[o] += gate->data[b * D + d] * y->grad[o];
                s += h->data[o] * y->grad[o];
            }
            if (dgate) dgate[b * D + d] += s;
        }
