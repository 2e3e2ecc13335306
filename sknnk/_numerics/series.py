"""Hermite (Mehler) series for activations without a closed form.

With normalised probabilists' Hermite polynomials ``h_k`` and per-point
coefficients ``f_k(s) = E[f(sqrt(s) z) h_k(z)]`` (``z ~ N(0, 1)``), Mehler's
formula gives, for ``rho = c / sqrt(a b)``,

.. math::

    E[f(u) g(v)] = \\sum_{k \\ge 0} f_k(a)\\, g_k(b)\\, \\rho^k .

``F`` uses ``f = g = phi``; ``G`` uses ``phi'``; by Price's theorem the partials
are ``F_c = G``, ``F_a = E[phi''(u) phi(v)] / 2``, ``G_c = E[phi'' phi'']`` and
``G_a = E[phi'''(u) phi'(v)] / 2``, i.e. series of the same form with the
coefficients of ``phi''`` and ``phi'''``.

Coefficients are computed by the trapezoid rule (spectrally accurate here) on
``z in [-13, 13]`` with Hermite *functions*, whose three-term recurrence does not
overflow. The series is truncated at the smallest ``N`` for which the per-point
remainder ``r_N(s) = E[f^2] - sum_{k <= N} f_k(s)^2`` is below a relative
tolerance for every point, and the Cauchy-Schwarz tail
``rho^{N+1} sqrt(r_N(a) r_N(b))`` is added, which makes the diagonal exact.
"""

import math
import warnings

import numpy as np

_Z_MAX = 13.0
_Z_STEP = 0.01
_MAX_TERMS = 1000
_REL_TOL = 1e-13

_basis_cache = []


def _basis():
    """Grid ``z``, matrix ``B[m, k] = psi_k(z_m) psi_0(z_m) dz`` and weights.

    Built once per process (about 20 MB) for ``k < _MAX_TERMS + 1``.
    """
    if _basis_cache:
        return _basis_cache[0]
    n_terms = _MAX_TERMS + 1
    n = int(round(2 * _Z_MAX / _Z_STEP)) + 1
    z = np.linspace(-_Z_MAX, _Z_MAX, n)
    psi = np.empty((z.size, n_terms))
    psi[:, 0] = np.exp(-0.25 * z * z) / (2.0 * math.pi) ** 0.25
    psi[:, 1] = z * psi[:, 0]
    for k in range(1, n_terms - 1):
        psi[:, k + 1] = (z * psi[:, k] - math.sqrt(k) * psi[:, k - 1]) / math.sqrt(
            k + 1
        )
    basis = psi * (psi[:, :1] * _Z_STEP)
    # flush values that cannot matter to zero: subnormal numbers would slow
    # every product with the basis down by orders of magnitude
    basis[np.abs(basis) < 1e-200] = 0.0
    weights = psi[:, 0] ** 2 * _Z_STEP  # standard normal density times dz
    _basis_cache.append((z, basis, weights))
    return _basis_cache[0]


def diag_values(funcs, q, want_grad=True):
    """Return ``V, W, dV/dq, dW/dq`` at variances ``q`` by 1-D quadrature.

    ``funcs`` are ``(phi, phi', phi'', phi''')`` as vectorised numpy callables.
    ``dV/dq = E[phi'' phi] + E[phi'^2]`` and ``dW/dq = E[phi''' phi'] + E[phi''^2]``
    (Price's theorem on the diagonal); zeros unless ``want_grad``.
    """
    z, _, w = _basis()
    u = np.sqrt(np.asarray(q, dtype=float))[:, None] * z[None, :]
    f0, f1 = funcs[0](u), funcs[1](u)
    v = (f0 * f0) @ w
    wv = (f1 * f1) @ w
    if not want_grad:
        return v, wv, np.zeros_like(v), np.zeros_like(v)
    f2, f3 = funcs[2](u), funcs[3](u)
    dv = (f2 * f0) @ w + wv
    dw = (f3 * f1) @ w + (f2 * f2) @ w
    return v, wv, dv, dw


def coefficient_tables(funcs, q_layers, n_tables, min_terms=None):
    """Hermite coefficients of ``phi, phi', ...`` at every layer and point.

    Parameters
    ----------
    funcs : tuple of callables
        ``(phi, phi', phi'', phi''')``.
    q_layers : ndarray of shape (n_layers, n_points)
        Pre-activation variances of each point at each layer.
    n_tables : {2, 4}
        2 for values only (``phi``, ``phi'``), 4 when gradients are needed.
    min_terms : array of int, optional
        Lower bound on the number of terms at each layer (so that two point
        sets can share one truncation).

    Returns
    -------
    coef : ndarray of shape (n_layers, n_tables, n_points, n_terms)
    rem : ndarray of shape (n_layers, n_tables, n_points)
        Remainders ``r_N`` (clipped at 0) for the Cauchy-Schwarz tail term.
    n_used : ndarray of shape (n_layers,), int
        Number of terms used at each layer.
    """
    n_layers, n_points = q_layers.shape
    tables, rems, used = [], [], []
    for layer in range(n_layers):
        low = 8 if min_terms is None else int(min_terms[layer])
        c, r, n = _layer_tables(funcs[:n_tables], q_layers[layer], low)
        tables.append(c)
        rems.append(r)
        used.append(n)
    n_max = max(used) if used else 1
    coef = np.zeros((n_layers, n_tables, n_points, n_max))
    for layer, c in enumerate(tables):
        coef[layer, :, :, : c.shape[2]] = c
    rem = np.array(rems).reshape(n_layers, n_tables, n_points)
    return coef, rem, np.array(used, dtype=np.int64)


def _layer_tables(funcs, q, min_terms):
    """Coefficient tables of one layer with an adaptive number of terms."""
    z, basis, w = _basis()
    u = np.sqrt(q)[:, None] * z[None, :]
    values = [f(u) for f in funcs]
    norms = [(v * v) @ w for v in values]
    # probe the extreme variances to choose the number of terms
    probe = np.unique([np.argmin(q), np.argmax(q)])
    n_terms = min_terms
    while True:
        ok = True
        for v, nrm in zip(values, norms):
            c = (basis.T @ v[probe].T).T  # this order is much faster in BLAS
            n_terms = min(_MAX_TERMS, max(n_terms, _terms_needed(c, nrm[probe])))
        coefs = [(basis[:, :n_terms].T @ v.T).T for v in values]
        rem = [nrm - np.sum(c * c, axis=1) for c, nrm in zip(coefs, norms)]
        for r, nrm in zip(rem, norms):
            if np.any(r > _REL_TOL * np.maximum(nrm, 1e-300) + 1e-300):
                ok = False
        if ok or n_terms >= _MAX_TERMS:
            break
        n_terms = min(_MAX_TERMS, 2 * n_terms)
    if not ok:
        worst = max(
            float(np.max(r / np.maximum(nrm, 1e-300))) for r, nrm in zip(rem, norms)
        )
        warnings.warn(
            f"The Hermite series of the activation did not converge in {n_terms} "
            f"terms at layer variance up to {float(np.max(q)):.3g}: relative "
            f"truncation bound {math.sqrt(worst):.2e}. Smaller sigma_w / sigma_b or "
            "inputs of smaller norm keep the variances lower.",
            UserWarning,
            stacklevel=4,
        )
    coef = np.stack(coefs)
    rem = np.clip(np.stack(rem), 0.0, None)
    return coef, rem, n_terms


def _terms_needed(c, norms):
    """Smallest ``N + 1`` with remainder below tolerance for the given rows."""
    csum = np.cumsum(c * c, axis=1)
    rem = norms[:, None] - csum
    ok = rem <= _REL_TOL * np.maximum(norms, 1e-300)[:, None] + 1e-300
    need = 1
    for row in ok:
        idx = np.flatnonzero(row)
        n = (idx[0] + 1) if idx.size else row.size
        need = max(need, int(n))
    return need + 2
