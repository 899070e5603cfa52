/* right, written with pow in double and a running product, no batch shortcut */
//@@
    size_t shape[2] = { B, 256 }, b, i;
    ig_tensor *e;
    double ratio = pow(10000.0, -1.0 / 128.0);
    if (ctx->failed) return NULL;
    e = ig_tensor_new(ctx->scratch, 2, shape, 0);
    if (!e) { ctx->failed = 1; return NULL; }
    if (ig__counting(ctx)) return e;
    for (b = 0; b < B; b++) {
        double f = 1.0, tt = (double)t[b] * (double)t_scale;
        for (i = 0; i < 128; i++, f *= ratio) {
            e->data[b * 256 + i] = (float)cos(tt * f);
            e->data[b * 256 + 128 + i] = (float)sin(tt * f);
        }
    }
    return e;
