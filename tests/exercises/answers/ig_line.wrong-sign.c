/* wrong: the difference the other way round, v_aux - v_final */
//@@
            vf[i] = va[i] + w * (va[i] - vf[i]);
