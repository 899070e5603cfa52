/* wrong: t weights the data, 1 - t the noise (t = 1 would be data, not noise) */
//@@
            if (tc->path == IG_PATH_COSINE) {
                float al = cosf(0.5f * (float)IG__PI * tb), si = sinf(0.5f * (float)IG__PI * tb);
                xt[b * per + i] = si * x0i + al * e;
                target[b * per + i] = 0.5f * (float)IG__PI * (al * x0i - si * e);
            } else {
                xt[b * per + i] = tb * x0i + (1.0f - tb) * e;
                target[b * per + i] = x0i - e;
            }
