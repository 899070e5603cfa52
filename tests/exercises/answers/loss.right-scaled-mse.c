/* right, written as the mse of sqrt(lambda)-scaled tensors (sqrt(l) a - sqrt(l) b)^2 = l (a - b)^2 */
//@@
    if (v_aux) {
        float r = sqrtf(tc->aux_weight);
        loss_aux = ig_mse(ctx, v_aux, tg);
        loss = ig_add(ctx, loss_final, ig_mse(ctx, ig_scale(ctx, v_aux, r), ig_scale(ctx, tg, r)));
    }
