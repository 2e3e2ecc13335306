"""Compiled drivers that fill row blocks of a Gram matrix (and its gradient)."""

from numba import njit

from .recursion import entry


@njit(cache=True, nogil=True)
def fill_rows(
    i0,
    i1,
    out,
    grad,
    ib,
    iw,
    kind,
    symmetric,
    diag_k,
    diag_grad,
    qx,
    qy,
    dqx,
    dqy,
    code,
    coefx,
    coefy,
    remx,
    remy,
    nterms,
    sw2,
    sb2,
    alpha0,
    beta0,
    alpha,
    beta,
    ntk_param,
    depth,
    want_grad,
):
    """Overwrite rows ``i0:i1`` of ``out`` (holding ``x . y / d``) with the kernel.

    ``kind`` is 0 for the NNGP and 1 for the NTK.  With ``symmetric`` only the
    upper triangle is read; the diagonal comes from ``diag_k`` (the 1-D
    recursion) and the lower triangle is mirrored.  ``grad[i, j, ib]`` and
    ``grad[i, j, iw]`` receive the derivatives with respect to ``log sigma_b``
    and ``log sigma_w`` (a negative index skips that column).
    """
    m = out.shape[1]
    for i in range(i0, i1):
        j0 = 0
        if symmetric:
            j0 = i + 1
            out[i, i] = diag_k[i]
            if want_grad:
                if ib >= 0:
                    grad[i, i, ib] = diag_grad[0, i]
                if iw >= 0:
                    grad[i, i, iw] = diag_grad[1, i]
        for j in range(j0, m):
            s, t, ds_b, ds_w, dt_b, dt_w = entry(
                out[i, j],
                i,
                j,
                qx,
                qy,
                dqx,
                dqy,
                code,
                coefx,
                coefy,
                remx,
                remy,
                nterms,
                sw2,
                sb2,
                alpha0,
                beta0,
                alpha,
                beta,
                ntk_param,
                depth,
                want_grad,
            )
            if kind == 1:
                v, d_b, d_w = t, dt_b, dt_w
            else:
                v, d_b, d_w = s, ds_b, ds_w
            out[i, j] = v
            if symmetric:
                out[j, i] = v
            if want_grad:
                if ib >= 0:
                    grad[i, j, ib] = d_b
                    if symmetric:
                        grad[j, i, ib] = d_b
                if iw >= 0:
                    grad[i, j, iw] = d_w
                    if symmetric:
                        grad[j, i, iw] = d_w
