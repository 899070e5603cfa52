/* right, written through the general formula with alpha, sigma and their derivatives */
//@@
            float a = 1.0f - t, sg = t, da = -1.0f, ds = 1.0f, eps_hat, score;
            if (path == IG_PATH_COSINE) { a = al; sg = si; da = -half_pi * si; ds = half_pi * al; }
            eps_hat = (a * v[i] - da * x[i]) / (a * ds - da * sg);
            score = -eps_hat / sg;
