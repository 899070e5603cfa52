/* wrong: the linear path's formula on the cosine path too */
//@@
            float score = -((1.0f - t) * v[i] + x[i]) / t;
            (void)al; (void)si;
