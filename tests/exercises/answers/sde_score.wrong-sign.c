/* wrong: score = +eps_hat / sigma (points away from the data) */
//@@
            float score = path == IG_PATH_COSINE
                          ? ((al * v[i] + half_pi * si * x[i]) / half_pi) / si
                          : ((1.0f - t) * v[i] + x[i]) / t;
