/* wrong: a convex mix (1 - lambda) final + lambda aux instead of final + lambda aux */
//@@
    if (v_aux) {
        loss_aux = ig_mse(ctx, v_aux, tg);
        loss = ig_add(ctx, ig_scale(ctx, loss_final, 1.0f - tc->aux_weight),
                      ig_scale(ctx, loss_aux, tc->aux_weight));
    }
