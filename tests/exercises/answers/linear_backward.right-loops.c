/* right, written as plain loops in another order (no ig__gemm) */
//@@
    ig_tensor *y = nd->out, *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    size_t N = w->shape[0], K = w->shape[1], M = x->n / K, m, n, k;
    float *dx = ig__grad(nd->ctx, x), *dw = ig__grad(nd->ctx, w),
        *db = b ? ig__grad(nd->ctx, b) : NULL;
    for (n = 0; n < N; n++)
        for (m = 0; m < M; m++) {
            float g = y->grad[m * N + n];
            if (db) db[n] += g;
            for (k = 0; k < K; k++) {
                if (dx) dx[m * K + k] += g * w->data[n * K + k];
                if (dw) dw[n * K + k] += g * x->data[m * K + k];
            }
        }
