/* wrong: the target points from noise to data, x0 - eps (and its cosine analogue) */
//@@
            if (tc->path == IG_PATH_COSINE) {
                float al = cosf(0.5f * (float)IG__PI * tb), si = sinf(0.5f * (float)IG__PI * tb);
                xt[b * per + i] = al * x0i + si * e;
                target[b * per + i] = -0.5f * (float)IG__PI * (al * e - si * x0i);
            } else {
                xt[b * per + i] = (1.0f - tb) * x0i + tb * e;
                target[b * per + i] = x0i - e;
            }
