/* right, written as a mix of the two heads: w v_final + (1 - w) v_aux */
//@@
            vf[i] = w * vf[i] + (1.0f - w) * va[i];
