"""The one layer map of the recursion: its parameter record, state and step.

**Parameterization.** :func:`scales` is the one place that turns
``(sigma_w, sigma_b, parameterization, width)`` into the scalars of the
recursion (:class:`LayerParams`) and into the scales of the samplers' tangent
features (:class:`Scales`). With ``g = x . x' / d``:

.. math::

    \\Sigma^0 = \\sigma_w^2 g + \\sigma_b^2, \\qquad
    \\Theta^0 = \\alpha_0 g + \\beta_0,

    \\Sigma^{l+1} = \\sigma_w^2 F + \\sigma_b^2, \\qquad
    \\Theta^{l+1} = \\alpha F + \\beta + \\sigma_w^2 G\\, \\Theta^l,

with ``F = E[phi(u) phi(v)]``, ``G = E[phi'(u) phi'(v)]`` at the covariance
``[[Sigma^l(x, x), Sigma^l], [Sigma^l, Sigma^l(x', x')]]`` and
``(alpha0, beta0, alpha, beta) = (sigma_w^2, sigma_b^2, sigma_w^2,
sigma_b^2)`` in the NTK parameterization, ``(d, 1, width, 1)`` in the standard
one (Sohl-Dickstein et al., 2020).

**State.** The recursion state of one pair ``(x, x')`` is the tuple
``(Sigma, Theta, dSigma_b, dSigma_w, dTheta_b, dTheta_w)`` of the layer, the
derivatives being with respect to ``log sigma_b`` and ``log sigma_w``; the
diagonal variances ``q = Sigma(x, x)`` and their derivatives ``dq[(b, w)]``
are per-point arrays of the drivers (the 1-D recursion of
:func:`sknnk._numerics.engine.prepare` runs the same state with
``x = x'``).

**Step.** One layer is :func:`seed` (layer 0 from ``g``), then per hidden
layer the activation's dual ``(F, G)`` with its total derivatives
``(dF_b, dF_w, dG_b, dG_w)`` (from the partials by :func:`chain`, or directly
by a vectorised closed form) and :func:`dense`. Correlations are formed once,
by :func:`correlation`, from per-point inverse square roots of the variances.

Where the next architectures plug in: a first layer with per-feature scales
changes only ``g`` (the gemm of scaled inputs); its gradient runs *seed
directions* ``d / d g``, ``d / d g_aa``, ``d / d g_bb`` through the layers
(:func:`propagate`, :func:`diag_seed_step`); a residual block adds the state
of the previous layer in :func:`dense`; layer normalisation rescales the
per-point variances (and so the inverse square roots given to
:func:`correlation`) between layers.

Every function here is inlined into its caller (``inline="always"``), so that
it is compiled with the caller's floating type and fast-math flags: float32
drivers stay single precision (constants are formed as ``x + x``, never from
float64 literals) and results do not depend on which driver ran.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._jit import njit


class LayerParams(NamedTuple):
    """Scalars of the recursion (one record, in the dtype of the computation).

    Attributes
    ----------
    sw2, sb2 : float
        ``sigma_w^2`` and ``sigma_b^2``.
    alpha0, beta0 : float
        ``Theta^0 = alpha0 g + beta0``.
    alpha, beta : float
        ``Theta^{l+1} = alpha F + beta + sw2 G Theta^l``.
    dalpha_w, dbeta_b : float
        ``d alpha / d log sigma_w`` (``= d alpha0 / d log sigma_w``) and
        ``d beta / d log sigma_b``: ``2 sw2`` and ``2 sb2`` in the NTK
        parameterization, 0 in the standard one.
    dval : float
        ``d``: the tile drivers receive ``x . x'`` and divide by it.
    """

    sw2: float
    sb2: float
    alpha0: float
    beta0: float
    alpha: float
    beta: float
    dalpha_w: float
    dbeta_b: float
    dval: float


class Scales(NamedTuple):
    """Both views of one parameterization (see :func:`scales`).

    ``params`` is the recursion's :class:`LayerParams` (float64); ``c0, b0``
    scale the first layer's tangent features ``[c0 x, b0]`` and ``aw, ab``
    those of the hidden layers ``[aw phi / sqrt(m), ab]`` of the samplers
    (``aw^2 = alpha``, ``ab^2 = beta``, ``c0^2 d = alpha0``, ``b0^2 = beta0``).
    """

    sigma_w: float
    sigma_b: float
    c0: float
    b0: float
    aw: float
    ab: float
    params: LayerParams


def scales(ntk, parameterization, sigma_w, sigma_b, width, n_features) -> Scales:
    """The scalars of a network's recursion and random features.

    Parameters
    ----------
    ntk : bool
        Whether the quantity is the NTK (the standard parameterization changes
        only the NTK; the NNGP is the same in both).
    parameterization : {"ntk", "standard"}
    sigma_w, sigma_b : float
        Weight and bias standard deviations.
    width : int or None
        Hidden width (standard parameterization only).
    n_features : int
        ``d``, the number of input features.

    Returns
    -------
    Scales
    """
    sw, sb = float(sigma_w), float(sigma_b)
    sw2, sb2, d = sw**2, sb**2, float(n_features)
    if ntk and parameterization == "standard":
        m = float(width)
        p = LayerParams(sw2, sb2, d, 1.0, m, 1.0, 0.0, 0.0, d)
        return Scales(sw, sb, 1.0, 1.0, math.sqrt(m), 1.0, p)
    p = LayerParams(sw2, sb2, sw2, sb2, sw2, sb2, 2.0 * sw2, 2.0 * sb2, d)
    return Scales(sw, sb, sw / math.sqrt(n_features), sb, sw, sb, p)


def as_dtype(params, dtype) -> LayerParams:
    """The record with every field in ``dtype`` (float32 drivers)."""
    t = np.dtype(dtype).type
    return LayerParams(*(t(v) for v in params))


def row_exponents(X, dtype=np.float64, sq=None):
    """Per-row powers of two that keep the seed's products in range.

    ``e[i]`` is the binary exponent of ``max_k |X[i, k]|`` for rows whose
    largest entry is outside ``2^-m .. 2^m`` (``m = 480`` in float64, 50 in
    float32, so that ``d |x|^2`` of the other rows stays far inside the
    range of ``dtype``) and 0 for every other row. The seed then forms
    ``g = x . x' / d`` as ``ldexp((2^-e x) . (2^-e' x') / d, e + e')``:
    scaling by powers of two is exact, so ``g`` has the same bits as the
    direct product wherever that does not overflow or underflow, and is
    finite wherever ``g`` itself is representable. ``None`` when every
    exponent is 0 (nothing to rescale). ``sq``: the squared row norms
    ``einsum("ij,ij->i", X, X)`` if the caller already has them.
    """
    m = 480 if np.dtype(dtype) == np.float64 else 50
    # fast exit: every |x|^2 within 2^+-(2m - 20) (so every entry within
    # 2^+-m) or an exact zero row
    if sq is None:
        sq = np.einsum("ij,ij->i", X, X)
    lim = 2.0 ** (2 * m - 20)
    ok = (sq > 1.0 / lim) & (sq < lim)
    if ok.all() or not X[~ok].any():
        return None
    _, e = np.frexp(np.max(np.abs(X), axis=1, initial=0.0))
    e = np.where(np.abs(e) > m, e, 0).astype(np.int64)
    return e if e.any() else None


def scaled_dots(out, A, B, ea, eb, d):
    """``out <- x . y / d`` of the rows of ``A`` and ``B`` (scaled by
    ``2^-ea``, ``2^-eb`` per row, :func:`row_exponents`), restored to their
    true scale in the dtype of ``out`` (see :func:`row_exponents`)."""
    np.matmul(A, B.T, out=out)
    with np.errstate(over="ignore", under="ignore"):
        out[...] = np.ldexp(out / out.dtype.type(d), ea[:, None] + eb[None, :])


@njit(cache=True, nogil=True, inline="always")
def seed(g, p):
    """Layer 0 of the state from ``g = x . x' / d`` (any floating type).

    Returns ``(Sigma^0, Theta^0, dSigma_b, dSigma_w, dTheta_b, dTheta_w)``.
    """
    ds_b = p.sb2 + p.sb2
    ds_w = (p.sw2 + p.sw2) * g
    return (
        p.sw2 * g + p.sb2,
        p.alpha0 * g + p.beta0,
        ds_b,
        ds_w,
        p.dbeta_b,
        p.dalpha_w * g,
    )


@njit(cache=True, nogil=True, inline="always")
def dense(f, g, df_b, df_w, dg_b, dg_w, t, dt_b, dt_w, p):
    """One dense layer after the nonlinearity: the state of layer ``l + 1``.

    ``f, g`` are ``F`` and ``G`` at layer ``l`` with their total derivatives
    ``df_*``, ``dg_*`` in ``(log sigma_b, log sigma_w)``; ``t, dt_b, dt_w``
    are ``Theta^l`` and its derivatives. Returns the new state tuple (see the
    module doc). NNGP-only callers may ignore the ``Theta`` entries.
    """
    sw2 = p.sw2
    sgt = sw2 * g
    dt_b_new = p.alpha * df_b + p.dbeta_b + sw2 * dg_b * t + sgt * dt_b
    dt_w_new = (
        p.dalpha_w * f
        + p.alpha * df_w
        + (sw2 + sw2) * g * t
        + sw2 * dg_w * t
        + sgt * dt_w
    )
    ds_b = sw2 * df_b + (p.sb2 + p.sb2)
    ds_w = (sw2 + sw2) * f + sw2 * df_w
    return (
        sw2 * f + p.sb2,
        p.alpha * f + p.beta + sgt * t,
        ds_b,
        ds_w,
        dt_b_new,
        dt_w_new,
    )


@njit(cache=True, nogil=True, inline="always")
def dense_value(f, g, t, p):
    """:func:`dense` without derivatives: ``(Sigma^{l+1}, Theta^{l+1})``."""
    return p.sw2 * f + p.sb2, p.alpha * f + p.beta + p.sw2 * g * t


@njit(cache=True, nogil=True, inline="always")
def propagate(g, df, dg, t, dt, p):
    r"""A *seed direction* through one dense layer: ``(dSigma^{l+1}, dTheta^{l+1})``.

    The derivative of the state along a direction of the layer-0 inputs
    ``(g, g_aa, g_bb)`` rather than of a hyperparameter: :func:`dense`
    without its explicit ``sigma`` terms,

    .. math::

        d\Sigma^{l+1} = \sigma_w^2\, dF, \qquad
        d\Theta^{l+1} = \alpha\, dF
            + \sigma_w^2 (dG\, \Theta^l + G\, d\Theta^l),

    with ``g = G`` at layer ``l``, ``df, dg`` the total derivatives of ``F``
    and ``G`` along the direction (e.g. by :func:`chain`), ``t = Theta^l``
    and ``dt`` its derivative. The length-scale gradient runs three such
    directions (:func:`sknnk._numerics.recursion.entry_seeds`,
    :func:`sknnk._numerics.gram.tile_seeds_fast`).
    """
    return p.sw2 * df, p.alpha * df + p.sw2 * (dg * t + g * dt)


@njit(cache=True, nogil=True)
def diag_seed_step(layer, v, w, dv, dw, p, dq, t, dt):
    """The 1-D recursion's seed direction ``d / d g_aa`` of every point, in place.

    ``layer = -1`` seeds ``dq[0] = sigma_w^2`` (``d Sigma^0(x, x) / d g``)
    and ``dt = alpha0``; ``layer >= 0`` maps them through the layer by
    :func:`propagate` on the diagonal (``F(q, q, q)`` has total derivative
    ``dV/dq``, ``G(q, q, q)`` ``dW/dq``) into ``dq[layer + 1]`` and ``dt``,
    with ``v, w, dv, dw`` as in :func:`diag_step` and ``t = Theta^layer``
    (call it before :func:`diag_step` updates ``t``).
    """
    for i in range(dq.shape[1]):
        if layer < 0:
            dq[0, i] = p.sw2
            dt[i] = p.alpha0
        else:
            dqi = dq[layer, i]
            dq[layer + 1, i], dt[i] = propagate(
                w[i], dv[i] * dqi, dw[i] * dqi, t[i], dt[i], p
            )


@njit(cache=True, nogil=True, inline="always")
def chain(pa, pb, pc, dqa, dqb, ds):
    """Total derivative ``pa dq_a + pb dq_b + pc dSigma`` of a dual from its
    partials in ``(a, b, c)`` (one hyperparameter)."""
    return pa * dqa + pb * dqb + pc * ds


@njit(cache=True, nogil=True, inline="always")
def correlation(c, rx, ry, snap):
    """``rho = c / sqrt(a b)`` from the inverse square roots ``rx = a^-1/2``,
    ``ry = b^-1/2`` (0 for a zero variance: ``rho = 0``), clipped to [-1, 1].

    Values within ``1 - snap`` of +-1 (rounding of duplicate or parallel
    inputs, whose dot products were summed in different orders) become
    exactly +-1, so that duplicates get identical kernel values; ``snap = 1``
    only clips. Every constant is formed in the type of ``c``.
    """
    one = snap / snap
    rho = c * (rx * ry)
    if rho >= snap:
        rho = one
    if rho <= -snap:
        rho = -one
    return rho


@njit(cache=True, nogil=True)
def diag_step(layer, x, v, w, dv, dw, p, q, dq, t, dt):
    """One step of the 1-D recursion of every point, in place (one compiled
    function for both steps).

    ``layer = -1`` seeds layer 0 from ``x = |x|^2 / d`` (:func:`seed`):
    ``q[0]``, ``dq[:, 0]`` and ``t``, ``dt`` (``Theta^0`` and its derivatives);
    ``v, w, dv, dw`` are not read. ``layer >= 0`` maps the state through the
    layer by :func:`dense`, with ``v, w, dv, dw`` the ``V(q), W(q), dV/dq,
    dW/dq`` at ``q[layer]`` (the total derivative of ``F(q, q, q)`` is
    ``dV dq``), into ``q[layer + 1]``, ``dq[:, layer + 1]``, ``t`` and ``dt``;
    ``x`` is not read.
    """
    for i in range(q.shape[1]):
        if layer < 0:
            state = seed(x[i], p)
        else:
            qb = dq[0, layer, i]
            qw = dq[1, layer, i]
            state = dense(
                v[i],
                w[i],
                dv[i] * qb,
                dv[i] * qw,
                dw[i] * qb,
                dw[i] * qw,
                t[i],
                dt[0, i],
                dt[1, i],
                p,
            )
        s, th, ds_b, ds_w, dt_b, dt_w = state
        q[layer + 1, i] = s
        dq[0, layer + 1, i] = ds_b
        dq[1, layer + 1, i] = ds_w
        t[i] = th
        dt[0, i] = dt_b
        dt[1, i] = dt_w
