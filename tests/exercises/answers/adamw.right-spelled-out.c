/* right, written with the bias-corrected moments m_hat, v_hat spelled out, exp/log powers */
//@@
    ig__adamw_coef c;
    double bc1 = 1.0 - exp((double)step * log((double)tc->beta1));
    double bc2 = 1.0 - exp((double)step * log((double)tc->beta2));
    memset(&c, 0, sizeof c);
    c.b1 = tc->beta1; c.b2 = tc->beta2; c.eps = tc->eps; c.d = tc->ema_decay;
    c.step_size = (float)((double)tc->lr / bc1);
    c.bc2_sqrt = (float)sqrt(bc2);
    c.decay = (float)(1.0 - (double)tc->lr * (double)tc->weight_decay);
    return c;
//@@
    float m_new = c->b1 * *pm + (1.0f - c->b1) * g;
    float v_new = c->b2 * *pv + (1.0f - c->b2) * g * g;
    float lr_over_bc1 = c->step_size;
    float v_hat_sqrt = sqrtf(v_new) / c->bc2_sqrt;
    float w_new = *pw * c->decay - lr_over_bc1 * m_new / (v_hat_sqrt + c->eps);
    *pm = m_new;
    *pv = v_new;
    *pw = w_new;
    *pe = *pe + (1.0f - c->d) * (w_new - *pe);
