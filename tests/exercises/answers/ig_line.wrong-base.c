/* wrong: extrapolates from the final head instead of the aux head */
//@@
            vf[i] = vf[i] + w * (vf[i] - va[i]);
