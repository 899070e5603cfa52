/* wrong: dx = dy W overwrites dx (beta 0) instead of adding to it */
//@@
    ig_tensor *y = nd->out, *x = nd->in[0], *w = nd->in[1], *b = nd->in[2];
    size_t N = w->shape[0], K = w->shape[1], M = x->n / K, m, n;
    float *dx = ig__grad(nd->ctx, x), *dw = ig__grad(nd->ctx, w),
        *db = b ? ig__grad(nd->ctx, b) : NULL;
    if (dx) ig__gemm(0, 0, M, K, N, y->grad, N, w->data, K, 0.0f, dx, K);
    if (dw) ig__gemm(1, 0, N, K, M, y->grad, N, x->data, K, 1.0f, dw, K);
    if (db)
        for (m = 0; m < M; m++)
            for (n = 0; n < N; n++) db[n] += y->grad[m * N + n];
