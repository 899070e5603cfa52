/* wrong: dx = ... overwrites the gradient that x already got from its other use */
//@@
    ig_tensor *y = nd->out, *x = nd->in[0];
    size_t D = x->shape[x->ndim - 1], rows = x->n / D, r, d;
    const float *rstd = nd->saved;
    float *dxall = ig__grad(nd->ctx, x);
    if (!dxall) return;
    for (r = 0; r < rows; r++) {
        const float *dy = y->grad + r * D, *xh = y->data + r * D;
        float *dx = dxall + r * D;
        double mdy = 0, mdyx = 0;
        for (d = 0; d < D; d++) { mdy += dy[d]; mdyx += dy[d] * xh[d]; }
        mdy /= (double)D; mdyx /= (double)D;
        for (d = 0; d < D; d++) dx[d] = rstd[r] * (float)(dy[d] - mdy - xh[d] * mdyx);
    }
