/* wrong: the decay applied after the Adam update (w - update) decay, not w decay - update */
//@@
    ig__adamw_coef c;
    double s = (double)step;
    c.b1 = tc->beta1; c.b2 = tc->beta2; c.eps = tc->eps; c.d = tc->ema_decay;
    c.step_size = tc->lr / (float)(1.0 - pow(tc->beta1, s));
    c.bc2_sqrt = (float)sqrt(1.0 - pow(tc->beta2, s));
    c.decay = 1.0f - tc->lr * tc->weight_decay;
    return c;
//@@
    float w = *pw, mo = *pm, v = *pv, e = *pe;
    mo = c->b1 * mo + (1.0f - c->b1) * g;
    v = c->b2 * v + (1.0f - c->b2) * g * g;
    w -= c->step_size * mo / (sqrtf(v) / c->bc2_sqrt + c->eps);
    w *= c->decay;
    *pw = w; *pm = mo; *pv = v; *pe = c->d * e + (1.0f - c->d) * w;
