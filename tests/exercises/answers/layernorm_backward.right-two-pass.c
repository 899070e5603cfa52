/* right, written in two passes from x itself: recompute mu and rstd, then the chain rule
   through mu and var term by term, float sums */
//@@
    ig_tensor *y = nd->out, *x = nd->in[0];
    size_t D = x->shape[x->ndim - 1], rows = x->n / D, r, d;
    float *dxall = ig__grad(nd->ctx, x);
    if (!dxall) return;
    for (r = 0; r < rows; r++) {
        const float *xr = x->data + r * D, *dy = y->grad + r * D;
        float mu = 0, var = 0, rs, dvar = 0, dmu = 0;
        for (d = 0; d < D; d++) mu += xr[d];
        mu /= (float)D;
        for (d = 0; d < D; d++) var += (xr[d] - mu) * (xr[d] - mu);
        var /= (float)D;
        rs = 1.0f / sqrtf(var + 1e-6f);
        /* y = (x - mu) rs:  dvar = sum dy (x - mu) (-1/2) rs^3,  dmu = -rs sum dy */
        for (d = 0; d < D; d++) { dvar += dy[d] * (xr[d] - mu) * -0.5f * rs * rs * rs; dmu -= rs * dy[d]; }
        for (d = 0; d < D; d++)
            dxall[r * D + d] += dy[d] * rs + dvar * 2.0f * (xr[d] - mu) / (float)D + dmu / (float)D;
    }
