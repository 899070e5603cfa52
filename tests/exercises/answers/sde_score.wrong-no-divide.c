/* wrong: score = -eps_hat, the division by sigma forgotten on both paths */
//@@
            float score = path == IG_PATH_COSINE
                          ? -((al * v[i] + half_pi * si * x[i]) / half_pi)
                          : -((1.0f - t) * v[i] + x[i]);
