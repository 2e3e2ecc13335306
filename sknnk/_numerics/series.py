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

from .._parallel import map_blocks
from ._jit import njit

_Z_MAX = 13.0
_Z_STEP = 0.01  # grid step for kinked activations and very large variances
_Z_STEP_SMOOTH = 0.025  # analytic activations at variances <= _Q_SMOOTH
_Q_SMOOTH = 100.0
_MAX_TERMS = 1000
_REL_TOL = 1e-13
_THREADED_SIZE = 1 << 18  # grid samples from which sampling uses threads

_basis_cache = {}


def _step_for(q, kink):
    """Grid step: the trapezoid rule's error for an integrand analytic in the
    strip |Im z| < a decays like exp(-2 pi a / h); tanh-like activations at
    variance q have their nearest singularity at a ~ pi / (2 sqrt(q)), so
    h = 0.025 keeps it below 1e-30 up to q = 100. Kinks need the fine grid
    (Gregory weights are O(h^6))."""
    if kink or np.max(q, initial=0.0) > _Q_SMOOTH:
        return _Z_STEP
    return _Z_STEP_SMOOTH


def _basis(step=_Z_STEP):
    """Grid ``z``, matrix ``B[m, k] = psi_k(z_m) psi_0(z_m) dz`` and weights.

    Built once per process (about 20 MB) for ``k < _MAX_TERMS + 1``.
    """
    if step in _basis_cache:
        return _basis_cache[step]
    n_terms = _MAX_TERMS + 1
    n = int(round(2 * _Z_MAX / step)) + 1
    z = np.linspace(-_Z_MAX, _Z_MAX, n)
    # exactly antisymmetric (z[n - 1 - i] == -z[i]), so that the basis has the
    # exact parity of the Hermite functions (see _project)
    z = 0.5 * (z - z[::-1])
    psi = np.empty((z.size, n_terms))
    psi[:, 0] = np.exp(-0.25 * z * z) / (2.0 * math.pi) ** 0.25
    psi[:, 1] = z * psi[:, 0]
    for k in range(1, n_terms - 1):
        psi[:, k + 1] = (z * psi[:, k] - math.sqrt(k) * psi[:, k - 1]) / math.sqrt(
            k + 1
        )
    basis = psi * (psi[:, :1] * step)
    # flush values that cannot matter to zero: subnormal numbers would slow
    # every product with the basis down by orders of magnitude
    basis[np.abs(basis) < 1e-200] = 0.0
    weights = psi[:, 0] ** 2 * step  # standard normal density times dz
    _basis_cache[step] = (z, basis, weights)
    return _basis_cache[step]


def _gregory(step=_Z_STEP):
    """Weight multipliers for integrands with a kink at the node ``z = 0``.

    The trapezoid rule is spectrally accurate for smooth integrands but only
    O(h^2) across a kink. Splitting the integral at 0 and using Gregory's
    sixth-order end weights on both halves restores O(h^6) (about 1e-13 here)
    for functions that are smooth on each side, such as ELU and SELU.
    """
    if step in _gregory_cache:
        return _gregory_cache[step]
    z, _, _ = _basis(step)
    g = np.ones(z.size)
    mid = z.size // 2
    ends = [95 / 288, 317 / 240, 23 / 30, 793 / 720, 157 / 160]
    g[mid] = 2 * ends[0]
    for i, e in enumerate(ends[1:], start=1):
        g[mid - i] = g[mid + i] = e
    _gregory_cache[step] = g
    return g


_gregory_cache = {}


class NonFiniteActivation(ValueError):
    """An activation (or a derivative the series needs) returned NaN or
    infinity on the quadrature grid; the engine adds the activation's name."""


def check_finite_samples(v, u, zmax):
    """Raise :class:`NonFiniteActivation` if ``v = f(u)`` has a non-finite
    value, naming the range of ``u`` where it occurs and the layer variance
    ``q`` of its point (the grid is ``u = sqrt(q) z``, ``|z| <= zmax``)."""
    bad = ~np.isfinite(v)
    if not bad.any():
        return
    where = u[bad]
    row = int(np.flatnonzero(np.any(bad, axis=1))[0])
    q = (float(np.max(np.abs(u[row]))) / zmax) ** 2
    raise NonFiniteActivation(
        f"returned {'NaN' if np.isnan(v[bad]).any() else 'infinity'} at inputs "
        f"u in [{float(where.min()):.3g}, {float(where.max()):.3g}]: the Hermite "
        f"series integrates it against N(0, q) on |u| <= {zmax:g} sqrt(q), here "
        f"for a layer variance q = {q:.3g}; make the activation finite for every "
        "real input, or keep the layer variances smaller (standardize X, smaller "
        "sigma_w / sigma_b)"
    )


class _Sampled:
    """An activation (or derivative) sampled on the grid ``u = sqrt(q) z``.

    With ``kink`` the function may jump or kink at 0, the grid's middle node:
    the one-sided limits at 0 are kept so that the Gregory-weighted halves of
    every integral see the value of their own side (a product takes the mean
    of the products of the limits, a linear use the mean of the limits).
    """

    def __init__(self, f, u, kink, step, n_threads=1):
        self.v = _evaluate(f, u, n_threads)
        check_finite_samples(self.v, u, float(np.max(_basis(step)[0])))
        self._norm = None
        self.step = step
        self.kink = kink
        if kink:
            tiny = np.array([-1e-300, 1e-300])
            self.lr = np.asarray(f(tiny), dtype=float)
            self.mid = u.shape[1] // 2

    def linear(self):
        if not self.kink:
            return self.v
        v = self.v.copy()
        v[:, self.mid] = self.lr.mean()
        return v

    def norm(self):
        """``E[f^2]`` of every point (Gregory-weighted with ``kink``), cached:
        the diagonal and the coefficient tables of a layer both need it."""
        if self._norm is None:
            _, _, w = _basis(self.step)
            if self.kink:
                w = w * _gregory(self.step)
            self._norm = self.times(self) @ w
        return self._norm

    def times(self, other):
        p = self.v * other.v
        if self.kink:
            p[:, self.mid] = np.mean(self.lr * other.lr)
        return p


def _evaluate(f, u, n_threads):
    """``f(u)``, on ``n_threads`` threads over row blocks when ``u`` is large
    (numpy's element-wise functions release the GIL; every element gets the
    same value whatever the split)."""
    n_rows = u.shape[0]
    if n_threads <= 1 or u.size < _THREADED_SIZE:
        return f(u)
    bounds = np.linspace(0, n_rows, min(n_threads, n_rows) + 1).astype(int)
    out = np.empty(u.shape)

    def fill(i):
        out[bounds[i] : bounds[i + 1]] = f(u[bounds[i] : bounds[i + 1]])

    map_blocks(fill, range(len(bounds) - 1), n_threads)
    return out


def sample(funcs, q, kink=False, n_threads=1):
    """Sample the given functions of ``funcs`` on ``u = sqrt(q) z`` (the grid).

    Returns a list with a :class:`_Sampled` (or None for a missing function)
    per entry of ``funcs``, to be shared by :func:`diag_values` and
    :func:`layer_tables` so each function is evaluated once per layer.
    ``n_threads`` threads evaluate the functions of many points.
    """
    q = np.asarray(q, dtype=float)
    step = _step_for(q, kink)
    z, _, _ = _basis(step)
    u = np.sqrt(q)[:, None] * z[None, :]
    return [None if f is None else _Sampled(f, u, kink, step, n_threads) for f in funcs]


def diag_values(funcs, q, want_grad=True, kink=False, samples=None):
    """Return ``V, W, dV/dq, dW/dq`` at variances ``q`` by 1-D quadrature.

    ``funcs`` are ``(phi, phi', phi'', phi''')`` as vectorised numpy callables.
    By Price's theorem ``dV/dq = E[phi'' phi] + E[phi'^2]`` and
    ``dW/dq = E[phi''' phi'] + E[phi''^2]``. Where ``phi''`` or ``phi'''`` is not
    given, the derivative of the Gaussian density in its variance is used
    instead: ``dE[f(sqrt(q) z)]/dq = E[f(sqrt(q) z) (z^2 - 1)] / (2 q)``.
    The derivatives are zeros unless ``want_grad``. With ``kink`` the
    functions may have kinks or jumps at 0 (see :func:`_gregory`).
    """
    q = np.asarray(q, dtype=float)
    if samples is None:
        samples = sample(funcs if want_grad else funcs[:2], q, kink)
    f0, f1 = samples[0], samples[1]
    z, _, w = _basis(f0.step)
    if kink:
        w = w * _gregory(f0.step)
    v = f0.norm()
    wv = f1.norm()
    zero = np.zeros_like(v)
    if not want_grad:
        return v, wv, zero, zero
    inv2q = np.where(q > 0, 0.5 / np.maximum(q, 1e-300), 0.0)
    wz = w * (z * z - 1.0)
    if funcs[2] is None:
        dv = (f0.times(f0) @ wz) * inv2q
        dw = (f1.times(f1) @ wz) * inv2q
        return v, wv, dv, dw
    f2 = samples[2]
    dv = f2.times(f0) @ w + wv
    if funcs[3] is None:
        dw = (f1.times(f1) @ wz) * inv2q
    else:
        dw = samples[3].times(f1) @ w + f2.norm()
    return v, wv, dv, dw


def coefficient_tables(funcs, q_layers, n_tables, min_terms=None, kink=False):
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
    kink : bool, default=False
        Whether the activation or its derivative has a kink at 0 (Gregory
        weights, see :func:`_gregory`).

    Returns
    -------
    coef : ndarray of shape (n_layers, n_tables, n_points, n_terms)
    rem : ndarray of shape (n_layers, n_tables, n_points)
        Remainders ``r_N`` (clipped at 0) for the Cauchy-Schwarz tail term.
    n_used : ndarray of shape (n_layers,), int
        Number of terms used at each layer.
    """
    layers = []
    for layer in range(q_layers.shape[0]):
        low = 8 if min_terms is None else int(min_terms[layer])
        layers.append(layer_tables(funcs[:n_tables], q_layers[layer], low, kink))
    return assemble(layers)


def assemble(layers):
    """Stack per-layer ``(coef, rem, n_terms)`` into padded arrays."""
    tables, rems, used = zip(*layers)
    n_layers = len(tables)
    n_tables, n_points = tables[0].shape[:2]
    n_max = max(used)
    coef = np.zeros((n_layers, n_tables, n_points, n_max))
    for layer, c in enumerate(tables):
        coef[layer, :, :, : c.shape[2]] = c
    rem = np.array(rems).reshape(n_layers, n_tables, n_points)
    return coef, rem, np.array(used, dtype=np.int64)


def layer_tables(funcs, q, min_terms=8, kink=False, samples=None):
    """Coefficient tables of one layer with an adaptive number of terms.

    Tables of derivatives whose function is ``None`` are derived from the
    previous table by Stein's identity ``c_k(s) = sqrt((k + 1) / s) b_(k+1)(s)``
    (exact also when the derivative has jumps or Dirac masses).
    """
    n_tables = len(funcs)
    direct = 0
    while direct < n_tables and funcs[direct] is not None:
        direct += 1
    extra = n_tables - direct  # columns the Stein recursion consumes
    if samples is None:
        samples = sample(funcs[:direct], q, kink)
    sampled = samples[:direct]
    step = sampled[0].step
    _, basis, _ = _basis(step)
    if kink:
        values = [f.linear() * _gregory(step) for f in sampled]
    else:
        values = [f.v for f in sampled]
    norms = [f.norm() for f in sampled]
    checked = min(direct, 2)  # F and G need the remainders (tail term)
    cap = _MAX_TERMS + 1 - extra
    # probe the extreme variances to choose the number of terms
    probe = np.unique([np.argmin(q), np.argmax(q)])
    n_terms = min(min_terms, cap)
    while True:
        for t in range(checked):
            c = (basis.T @ values[t][probe].T).T  # this order is faster in BLAS
            n_terms = min(cap, max(n_terms, _terms_needed(c, norms[t][probe])))
        cols = n_terms + extra
        coefs = [_project(basis, v, cols) for v in values]
        rem = [
            norms[t] - np.sum(coefs[t][:, :n_terms] ** 2, axis=1)
            for t in range(checked)
        ]
        ok = all(
            np.all(r <= _REL_TOL * np.maximum(nrm, 1e-300) + 1e-300)
            for r, nrm in zip(rem, norms)
        )
        if ok or n_terms >= cap:
            break
        n_terms = min(cap, 2 * n_terms)
    if not ok:
        worst = max(
            float(np.max(r / np.maximum(nrm, 1e-300))) for r, nrm in zip(rem, norms)
        )
        warnings.warn(
            f"The Hermite series of the activation did not converge in {n_terms} "
            f"terms at layer variance up to {float(np.max(q)):.3g}: the truncation "
            f"error of an entry is bounded by {2 * worst:.2e} relative to "
            "sqrt(k(x, x) k(y, y)) of that layer. Smaller sigma_w / sigma_b or "
            "inputs of smaller norm keep the variances lower.",
            UserWarning,
            stacklevel=7,  # the user's call of a kernel or its diag
        )
    for _ in range(extra):
        prev = coefs[-1]
        k = np.arange(prev.shape[1] - 1)
        inv = np.where(q > 1e-14, 1.0 / np.maximum(q, 1e-300), 0.0)
        coefs.append(np.sqrt((k + 1)[None, :] * inv[:, None]) * prev[:, 1:])
    coef = np.stack([c[:, :n_terms] for c in coefs])
    rem_all = np.zeros((n_tables, q.size))
    rem_all[:checked] = np.clip(np.stack(rem), 0.0, None)
    return coef, rem_all, n_terms


def _project(basis, v, cols):
    """``(basis[:, :cols].T @ v.T).T``: coefficients of the sampled rows ``v``.

    The grid is symmetric and ``basis[:, k]`` has the parity of ``k`` (exactly,
    see :func:`_basis`), so even coefficients only see the even part
    ``v(z) + v(-z)`` and odd ones the odd part ``v(z) - v(-z)`` on ``z >= 0``:
    half the products, and none at all for a part that is exactly zero (an
    exactly odd or even function).
    """
    mid = basis.shape[0] // 2
    even_basis, odd_basis = _half_bases(basis)
    even, odd, has_even, has_odd = _fold(v, mid)
    out = np.zeros((v.shape[0], cols))
    if has_even:
        out[:, 0::2] = even @ even_basis[:, : (cols + 1) // 2]
    if has_odd:
        out[:, 1::2] = odd @ odd_basis[:, : cols // 2]
    return out


_half_cache = {}


def _half_bases(basis):
    """Contiguous even and odd columns of the basis on ``z >= 0``."""
    key = id(basis)
    if key not in _half_cache:
        mid = basis.shape[0] // 2
        _half_cache[key] = (
            basis,  # keeps the id valid
            np.ascontiguousarray(basis[mid:, 0::2]),
            np.ascontiguousarray(basis[mid:, 1::2]),
        )
    return _half_cache[key][1:]


@njit(cache=True, nogil=True)
def _fold(v, mid):
    """Even and odd parts ``v(z) +- v(-z)`` of the rows on ``z >= 0`` (the node
    ``z = 0`` once) and whether each has a nonzero entry."""
    n_points = v.shape[0]
    half = v.shape[1] - mid
    even = np.empty((n_points, half))
    odd = np.empty((n_points, half))
    has_even = False
    has_odd = False
    for p in range(n_points):
        even[p, 0] = v[p, mid]
        odd[p, 0] = 0.0
        has_even = has_even or v[p, mid] != 0.0
        for i in range(1, half):
            a = v[p, mid + i]
            b = v[p, mid - i]
            even[p, i] = a + b
            odd[p, i] = a - b
            has_even = has_even or a != -b
            has_odd = has_odd or a != b
    return even, odd, has_even, has_odd


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
