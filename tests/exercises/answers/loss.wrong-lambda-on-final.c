/* wrong: lambda weighs the final head instead of the aux head */
//@@
    if (v_aux) {
        loss_aux = ig_mse(ctx, v_aux, tg);
        loss = ig_add(ctx, ig_scale(ctx, loss_final, tc->aux_weight), loss_aux);
    }
