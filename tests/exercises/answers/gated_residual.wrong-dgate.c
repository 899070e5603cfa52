/* wrong: dgate = sum_T dy (the h factor forgotten) */
//@@
    B = x->shape[0]; T = x->shape[1]; D = x->shape[2];
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++)
            for (d = 0; d < D; d++) {
                size_t o = (b * T + t) * D + d;
                y->data[o] = x->data[o] + gate->data[b * D + d] * h->data[o];
            }
//@@
    ig_tensor *y = nd->out, *x = nd->in[0], *gate = nd->in[1], *h = nd->in[2];
    size_t B = x->shape[0], T = x->shape[1], D = x->shape[2], b, t, d;
    float *dx = ig__grad(nd->ctx, x), *dgate = ig__grad(nd->ctx, gate), *dh = ig__grad(nd->ctx, h);
    for (b = 0; b < B; b++)
        for (t = 0; t < T; t++)
            for (d = 0; d < D; d++) {
                size_t o = (b * T + t) * D + d;
                if (dx) dx[o] += y->grad[o];
                if (dh) dh[o] += y->grad[o] * gate->data[b * D + d];
                if (dgate) dgate[b * D + d] += y->grad[o];
            }
