/* wrong: forgets the xhat mean(dy xhat) term (the variance's dependence on x) */
//@@
    ig_tensor *y = nd->out, *x = nd->in[0];
    size_t D = x->shape[x->ndim - 1], rows = x->n / D, r, d;
    const float *rstd = nd->saved;
    float *dxall = ig__grad(nd->ctx, x);
    if (!dxall) return;
    for (r = 0; r < rows; r++) {
        const float *dy = y->grad + r * D;
        float *dx = dxall + r * D;
        double mdy = 0;
        for (d = 0; d < D; d++) mdy += dy[d];
        mdy /= (double)D;
        for (d = 0; d < D; d++) dx[d] += rstd[r] * (float)(dy[d] - mdy);
    }
