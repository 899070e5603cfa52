/* wrong: frequencies over i / 127 (numpy linspace style) instead of i / 128 */
//@@
    size_t shape[2], b, i;
    ig_tensor *e;
    shape[0] = B; shape[1] = 256;
    if (ctx->failed || !(e = ig_tensor_new(ctx->scratch, 2, shape, 0))) { ctx->failed = 1; return NULL; }
    if (ig__counting(ctx)) return e;
    for (b = 0; b < B; b++)
        for (i = 0; i < 128; i++) {
            float a = t[b] * t_scale * expf(-logf(10000.0f) * (float)i / 127.0f);
            e->data[b * 256 + i] = cosf(a);
            e->data[b * 256 + 128 + i] = sinf(a);
        }
    return e;
