"""Hermite tables of asymptotically affine activations at large variances.

An activation with affine tails, ``phi(x) ~ alpha_+- x + beta_+-`` as
``x -> +-inf`` up to exponentially small remainders (``x tanh(softplus(x))``,
user activations such as softplus or ``x tanh(x)``), is split as
``phi = r + g`` with

.. math::

    r(x) = \\beta_- + \\alpha_- x + (\\alpha_+ - \\alpha_-) x \\Phi(x)
           + (\\beta_+ - \\beta_-) \\Phi(x)

(``Phi`` the standard normal distribution function): ``r`` has the same tails,
so ``g = phi - r`` is smooth and localised in ``|x| <= L`` (``L <= 64``).
At a variance ``q = s^2`` the Hermite coefficients ``f_k = E[f(s z) h_k(z)]``
(normalised probabilists' Hermite polynomials, ``z ~ N(0, 1)``) are then

* those of ``r`` in closed form (:func:`_r_coefficients`; ``E[Phi(s z)
  He_(2j+1)(z)] = s (2j-1)!! (-rho)^j / sqrt(2 pi (1 + q))`` with ``rho = q /
  (1 + q)``, and ``z He_n = He_(n+1) + n He_(n-1)`` for ``z Phi(s z)``, both
  by ratio recurrences without cancellation), plus
* those of ``g`` by the trapezoid rule in ``x`` itself, on the nodes
  ``|x| <= L`` of step ``h`` fixed by ``g``'s own scale (not by ``1 / s``):
  ``g_k = (h / s) sum_m g(x_m) psi_k(x_m / s) psi_0(x_m / s)`` with the
  Hermite functions ``psi_k`` of :mod:`sknnk._numerics.series` by their
  stable three-term recurrence, evaluated point by point (no stored basis).

The integrand oscillates at the frequency ``sqrt(k / q)`` in ``x`` and ``g``
is analytic in a strip of width ``a`` (about 2.4 for ``x tanh(softplus(x))``),
so the error is about ``exp(-2 pi a / h + a sqrt(k / q))``: negligible at
``h = 1/8`` for the ``k <= 128 q`` terms ever used (``h = 1/16`` where the
spectrum of ``g`` asks for it: tanh-like strips of width ``pi / 2``). The
cost of a point is ``(L / h) N`` multiply-adds for ``N`` terms, ``N`` about
linear in ``q``, and nothing is stored but the tables themselves.

The tables of ``phi'``, ``phi''`` and ``phi'''`` follow by Stein's identity
(``(f')_k = sqrt((k + 1) / q) f_(k+1)``), and every energy ``E[phi^(t)^2]``
(the truncation remainders ``r_N = E - sum f_k^2``, the Cauchy-Schwarz tail,
the diagonal) comes from the same split: ``E[r^(t)^2] = sum_k (r^(t))_k^2``
summed to convergence in closed form (geometric, ratio ``rho``) plus the
localised ``E[g^(t) (2 r^(t) + g^(t))]`` by the same trapezoid rule, with
``g^(t)`` from spectral (FFT) differentiation of the samples of ``g`` -- so
that the remainders are consistent with the tables to rounding.

:func:`split_of` decides whether an activation qualifies: finite affine tails
fitted at ``|x| = 256, 512`` and met at 64 and 128, ``g`` below ``1e-15``
relative beyond ``L``, a spectrum of ``g`` below ``1e-13`` of its peak
beyond 3/4 of the grid's Nyquist frequency (smooth on the grid's scale:
kinks fail; ``h = 1/8``, else ``1/16``), and the spectral ``g'`` within
``1e-7`` of the given ``phi' - r'``. Activations that do
not qualify keep the grid method of :mod:`sknnk._numerics.series`.
"""

import math
import threading
from typing import NamedTuple

import numpy as np
from scipy import special

from ._jit import njit

_STEPS = (0.125, 0.0625)  # node steps in x, tried in this order
_L_MAX = 64.0  # largest half-width of the support of g
_L_CHOICES = (24.0, 32.0, 40.0, 48.0, 56.0, 64.0)
_TAIL_REL = 1e-15  # |g| beyond L against |phi| + max |g| + max_{|x|<=8} |phi|
_SPECTRUM_REL = 1e-13  # spectrum of g beyond _CUT of Nyquist's, against its peak
_CUT = 0.75  # spectrum checked (and cut) beyond this fraction of Nyquist's
_DERIV_REL = 1e-7  # spectral g' against the given phi' - r'
_SQRT_2PI = math.sqrt(2.0 * math.pi)


class Split(NamedTuple):
    """An activation's affine split ``phi = r + g`` (see the module)."""

    a0: float  # beta_-
    a1: float  # alpha_-
    da: float  # alpha_+ - alpha_-
    db: float  # beta_+ - beta_-
    x: np.ndarray  # nodes x_m = m h, m = 0 .. M (the half grid)
    even: np.ndarray  # (4, M + 1): g^(t)(x) + g^(t)(-x) (node 0 once)
    odd: np.ndarray  # (4, M + 1): g^(t)(x) - g^(t)(-x)


_splits = {}
_lock = threading.Lock()


def _r_pointwise(split, x):
    """``r, r', r'', r'''`` at ``x`` (rows)."""
    a0, a1, da, db = split.a0, split.a1, split.da, split.db
    Phi = special.ndtr(x)
    phi = np.exp(-0.5 * np.minimum(x * x, 1400.0)) / _SQRT_2PI
    return np.array(
        [
            a0 + a1 * x + da * x * Phi + db * Phi,
            a1 + da * (Phi + x * phi) + db * phi,
            da * (2.0 - x * x) * phi - db * x * phi,
            da * (x**3 - 4.0 * x) * phi + db * (x * x - 1.0) * phi,
        ]
    )


#: attribute of ``phi`` that makes an activation a candidate (set by the
#: registry for the families of ``registry._AFFINE_SPLIT``)
ELIGIBLE = "_sknnk_affine_split"


def split_of_eligible(funcs):
    """:func:`split_of` for candidates (:data:`ELIGIBLE`), else None."""
    if not getattr(funcs[0], ELIGIBLE, False):
        return None
    return split_of(funcs)


def split_of(funcs):
    """The :class:`Split` of ``funcs = (phi, phi', ...)``, or None if the
    activation does not qualify (see the module). Kept per ``funcs``."""
    with _lock:
        if funcs in _splits:
            return _splits[funcs]
    try:
        with np.errstate(all="ignore"):
            out = _detect(funcs)
    except (ValueError, TypeError, ArithmeticError):
        out = None
    with _lock:
        if len(_splits) >= 64:
            _splits.pop(next(iter(_splits)))
        _splits[funcs] = out
    return out


def _detect(funcs):
    phi, dphi = funcs[0], funcs[1]
    far = np.array([-512.0, -256.0, -128.0, -64.0, 64.0, 128.0, 256.0, 512.0])
    v = np.asarray(phi(far), dtype=float)
    if v.shape != far.shape or not np.all(np.isfinite(v)):
        return None
    tails = []
    # (fitted at |x| = 256, 512; checked at 64, 128), minus side first
    for fit_i, check_i in (((1, 0), (3, 2)), ((6, 7), (4, 5))):
        (x1, x2), (v1, v2) = far[list(fit_i)], v[list(fit_i)]
        alpha = (v2 - v1) / (x2 - x1)
        beta = v1 - alpha * x1
        for i in check_i:
            if abs(v[i] - (alpha * far[i] + beta)) > 1e-13 * (1.0 + abs(v[i])):
                return None
        tails.append((alpha, beta))
    (am, bm), (ap, bp) = tails
    # exact small numbers: alpha, beta to rounding (their errors ~1e-16 |x|
    # would reappear as a linear g); round to 1e-12 relative of their scale
    am, bm, ap, bp = (_snap(t) for t in (am, bm, ap, bp))
    split = Split(bm, am, ap - am, bp - bm, None, None, None)
    for h in _STEPS:  # (a finer step for a narrower strip of analyticity)
        out = _sampled(split, phi, dphi, h)
        if out is not None:
            return out
    return None


def _sampled(split, phi, dphi, h):
    """``split`` with its samples of ``g`` on the step ``h``, or None if the
    spectrum of ``g`` does not decay on that grid (or ``g`` not within the
    largest support, or the derivative disagrees)."""
    m = int(round(_L_MAX / h))
    x = h * np.arange(-m, m + 1)
    x = 0.5 * (x - x[::-1])
    rx = _r_pointwise(split, x)
    pv = np.asarray(phi(x), dtype=float)
    if pv.shape != x.shape or not np.all(np.isfinite(pv)):
        return None
    g = pv - rx[0]
    scale = np.max(np.abs(g)) + np.max(np.abs(pv[np.abs(x) <= 8.0]))
    # the smallest half-width beyond which g is negligible (against phi: a
    # slope fitted to rounding leaves a g of ~1e-16 |x| there)
    L = None
    small = np.abs(g) <= _TAIL_REL * (np.abs(pv) + scale)
    for cand in _L_CHOICES:
        if np.all(small[np.abs(x) > cand]):
            L = cand
            break
    if L is None:
        return None
    inside = np.abs(x) <= L
    x, g, rx = x[inside], g[inside], rx[:, inside]
    n = x.size
    spec = np.fft.rfft(g)
    omega = 2.0 * math.pi * np.fft.rfftfreq(n, h)
    high = omega > _CUT * math.pi / h
    if np.max(np.abs(spec[high])) > _SPECTRUM_REL * np.max(np.abs(spec)):
        return None
    spec[high] = 0.0  # (rounding noise, amplified by the derivatives)
    ders = [g]
    for t in (1, 2, 3):
        ders.append(np.fft.irfft(spec * (1j * omega) ** t, n))
    dv = np.asarray(dphi(x), dtype=float)
    if dv.shape != x.shape or not np.all(np.isfinite(dv)):
        return None
    given = dv - rx[1]
    if np.max(np.abs(ders[1] - given)) > _DERIV_REL * (1.0 + np.max(np.abs(dv))):
        return None
    ders = np.array(ders)
    mid = n // 2
    half = ders[:, mid:]
    mirror = ders[:, mid::-1]
    even = half + mirror
    odd = half - mirror
    even[:, 0] = ders[:, mid]
    odd[:, 0] = 0.0
    return split._replace(x=x[mid:].copy(), even=even, odd=odd)


def _snap(t):
    """``t`` rounded to a multiple of ``2^-30`` when within ``1e-11`` of one
    (the slopes and offsets of common activations: 0, 1, 1/2, ...)."""
    r = round(t * 2.0**30) / 2.0**30
    return r if abs(r - t) <= 1e-11 * (1.0 + abs(t)) else t


# --------------------------------------------------------------------------
# closed forms of r


@njit(cache=True, nogil=True)
def _r_coefficients(q, a0, a1, da, db, n):
    """The first ``n`` normalised Hermite coefficients of ``r(sqrt(q) z)``."""
    out = np.zeros(n)
    s = math.sqrt(q)
    kappa = 1.0 / math.sqrt(2.0 * math.pi * (1.0 + q))
    rho = q / (1.0 + q)
    out[0] = a0 + da * q * kappa + 0.5 * db
    if n > 1:
        out[1] = a1 * s + 0.5 * da * s + db * s * kappa  # (x Phi = x / 2 + even)
    # odd k = 2j + 1: db P_j; even k = 2j: da Q_j
    P = s * kappa
    Q = q * kappa * (2.0 + q) / ((1.0 + q) * math.sqrt(2.0))
    j = 1
    while True:
        k_even = 2 * j
        if k_even >= n or (abs(P) < 1e-290 and abs(Q) < 1e-290):
            break  # (the rest are zeros; subnormal numbers would be slow)
        out[k_even] += da * Q
        P *= (2 * j - 1) * (-rho) / math.sqrt((2.0 * j) * (2.0 * j + 1))
        if k_even + 1 < n:
            out[k_even + 1] += db * P
        Q *= (2 * j - 1) * (-rho) * (2 * j + 2 + q) / (
            (2 * j + q) * math.sqrt((2.0 * j + 1) * (2.0 * j + 2))
        )
        j += 1
    return out


@njit(cache=True, nogil=True)
def _r_energies(q, a0, a1, da, db):
    """``E[r^(t)(sqrt(q) z)^2]`` for ``t = 0 .. 3``: the sums of the squares
    of the closed-form coefficients (Stein: ``(r^(t))_k^2 = k (k-1) ...
    (k-t+1) / q^t r_k^2``), to convergence."""
    e = np.zeros(4)
    block = 256
    n = block
    while True:
        c = _r_coefficients(q, a0, a1, da, db, n)
        e[:] = 0.0
        for k in range(n):
            w = c[k] * c[k]
            for t in range(4):
                e[t] += w
                w *= max(k - t, 0) / q
        # the last terms of every sum, against the sum (geometric decay of
        # ratio rho per two terms past the peak k ~ 3 q)
        last = 0.0
        for k in range(n - 8, n):
            w = c[k] * c[k] * (k / q) ** 3
            last = max(last, w)
        if n > 6.0 * q + 64.0 and last * (4.0 * (1.0 + q)) <= 1e-19 * max(e[3], 1e-300):
            return e
        if n > 4000.0 * (q + 1.0) or n >= 1 << 24:  # (callers keep q <= 1e5)
            return e
        n *= 2


# --------------------------------------------------------------------------
# the tables


@njit(cache=True, nogil=True)
def _point_table(x, even, odd, q, rc, energy, tols, n_tables, n_max, check):
    """Coefficients ``f_k = r_k + g_k`` of one point, ``k < n_end``.

    Stops at the first multiple of ``check`` where the remainders of the
    ``n_tables`` tables (Stein-derived from ``f``) are within ``tols`` of
    their energies, or at ``n_max``. Returns ``(f, n_end, converged)``.
    """
    s = math.sqrt(q)
    m = x.size
    z = np.empty(m)
    w = np.empty(m)
    c0 = 1.0 / (2.0 * math.pi) ** 0.25
    for i in range(m):
        z[i] = x[i] / s
        w[i] = c0 * math.exp(-0.25 * z[i] * z[i])
    # the trapezoid weights (h / s) psi_0 times g's parts
    we = np.empty(m)
    wo = np.empty(m)
    h = x[1] - x[0]
    for i in range(m):
        we[i] = even[i] * w[i] * h / s
        wo[i] = odd[i] * w[i] * h / s
    prev = np.zeros(m)
    cur = w.copy()
    f = np.zeros(n_max)
    sums = np.zeros(4)
    n_end = n_max
    done = False
    for k in range(n_max):
        # the coefficient k and psi_(k+1) in one pass
        par = we if k % 2 == 0 else wo
        a = 1.0 / math.sqrt(k + 1.0)
        b = math.sqrt(float(k))
        acc = 0.0
        for i in range(m):
            c = cur[i]
            acc += par[i] * c
            nxt = (z[i] * c - b * prev[i]) * a
            prev[i] = c
            cur[i] = nxt
        fk = acc + rc[k]
        f[k] = fk
        v = fk * fk
        for t in range(4):
            sums[t] += v
            v *= max(k - t, 0) / q
        if (k + 1) % check == 0 or k + 1 == n_max:
            done = True
            for t in range(n_tables):
                if energy[t] - sums[t] > tols[t] * energy[t]:
                    done = False
            if done:
                n_end = k + 1
                break
    return f[:n_end], n_end, done


def _quad_energies(split, q):
    """``E[phi^(t)^2]`` (t = 0..3), ``E[phi'' phi]``, ``E[phi''' phi']`` at
    ``q``: the closed-form ``E[r^(t)^2]`` plus the localised parts by the
    trapezoid rule in ``x``."""
    x = split.x
    s = math.sqrt(q)
    dens = np.exp(-0.5 * x * x / q) / (_SQRT_2PI * s) * (x[1] - x[0])
    dens[0] *= 0.5  # the node 0 appears once in the folded sums
    rx = _r_pointwise(split, x)
    rxm = _r_pointwise(split, -x)
    gx = 0.5 * (split.even + split.odd)
    gm = 0.5 * (split.even - split.odd)
    gx[:, 0] = gm[:, 0] = split.even[:, 0]
    er = _r_energies(q, split.a0, split.a1, split.da, split.db)
    e = np.empty(4)
    for t in range(4):
        e[t] = er[t] + dens @ (
            gx[t] * (2 * rx[t] + gx[t]) + gm[t] * (2 * rxm[t] + gm[t])
        )
    px = rx + gx
    pm = rxm + gm
    e20 = dens @ (px[2] * px[0] + pm[2] * pm[0])
    e31 = dens @ (px[3] * px[1] + pm[3] * pm[1])
    return e, e20, e31


@njit(cache=True, nogil=True)
def _stein_tables(f, q, out, energy, rem):
    """``out[t, j] = sqrt((j + 1) ... (j + t) / q^t) f_(j+t)`` (Stein's
    identity, zeros beyond ``f``) and the remainders ``rem[t] = energy[t] -
    sum_j out[t, j]^2`` (clipped at 0)."""
    n_tables, n_terms = out.shape
    for t in range(n_tables):
        total = 0.0
        for j in range(n_terms):
            k = j + t
            v = 0.0
            if k < f.size:
                fac = 1.0
                for i in range(t):
                    fac *= (k - i) / q
                v = math.sqrt(fac) * f[k]
            out[t, j] = v
            total += v * v
        rem[t] = max(energy[t] - total, 0.0)


class SplitFit(NamedTuple):
    coef: np.ndarray  # (n_tables, n_points, n_terms)
    rem: np.ndarray  # (n_tables, n_points)
    n_terms: int
    ok: bool
    bound_values: float
    bound_grad: float
    diag: tuple  # V, W, dV/dq, dW/dq


def split_fit(split, q, n_tables, min_terms, n_max, tols):
    """Tables of the points ``q`` (all > 0) by the split (see the module)."""
    q = np.asarray(q, dtype=float)
    n_points = q.size
    fs, ends, energies, ok = [], [], [], True
    diag = np.empty((4, n_points))
    extra = n_tables - 1
    for p in range(n_points):
        e, e20, e31 = _quad_energies(split, q[p])
        energies.append(e)
        diag[:, p] = e[0], e[1], e20 + e[1], e31 + e[2]
        # (terms: about 80 q measured; the cap only bounds the work)
        n_point = int(min(n_max, 128.0 * q[p] + 4096.0))
        rc = _r_coefficients(q[p], split.a0, split.a1, split.da, split.db, n_point)
        f, n_end, done = _point_table(
            split.x, split.even[0], split.odd[0], q[p], rc, e, tols, n_tables,
            n_point, 32,
        )  # fmt: skip
        fs.append(f)
        ends.append(n_end)
        ok = ok and done
    width = max(max(ends, default=0), min_terms + extra)
    n_terms = width - extra
    coef = np.empty((n_tables, n_points, n_terms))
    rem = np.empty((n_tables, n_points))
    energy = np.ascontiguousarray(np.array(energies).T[:n_tables])
    for p, f in enumerate(fs):
        _stein_tables(f, q[p], coef[:, p], energy[:, p], rem[:, p])
    rel = np.max(rem / np.maximum(energy, 1e-300), axis=1, initial=0.0)
    return SplitFit(
        coef, rem, n_terms, bool(ok), 2.0 * float(max(rel[:2])), float(max(rel)),
        tuple(diag),
    )  # fmt: skip

