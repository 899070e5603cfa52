/* right, written once for both paths through alpha, sigma and their derivatives */
//@@
            {
                const float hp = 0.5f * (float)IG__PI;
                float al = 1.0f - tb, si = tb, dal = -1.0f, dsi = 1.0f;
                if (tc->path == IG_PATH_COSINE) {
                    al = cosf(hp * tb); si = sinf(hp * tb); dal = -hp * si; dsi = hp * al;
                }
                xt[b * per + i] = al * x0i + si * e;
                target[b * per + i] = dal * x0i + dsi * e;
            }
