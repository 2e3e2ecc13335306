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
(:func:`propagate`, :func:`diag_seed_step`). Residual blocks and layer
normalisation (the section at the end of this module) keep :func:`dense` as
the branch of a block: layer normalisation rescales the state before it
(:func:`layer_norm_scales`, :func:`normalised`), a residual block adds the
branch to the stream after it (:func:`residual_add`, :func:`add_branch`), and
:func:`branch_scale_column` gives the third derivative, in
``log branch_scale``; the seed directions run through the same functions
(:func:`diag_step_residual` with a fourth derivative row,
:func:`sknnk._numerics.recursion.entry_residual_seeds`).

Every compiled function here is inlined into its caller
(``inline="always"``), so that it is compiled with the caller's floating type
and fast-math flags: float32 drivers stay single precision (constants are
formed as ``x + x``, never from float64 literals) and results do not depend
on which driver ran. The 1-D recursion (:func:`diag_step`) runs the same
source in numpy, on whole arrays.
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
    """The record with every field in ``dtype`` (float32 drivers); the record
    itself for float64 (its Python floats are float64 to numba too)."""
    t = np.dtype(dtype).type
    if t is np.float64 and set(map(type, params)) == _FLOATS:
        return params
    return LayerParams(*(t(v) for v in params))


_FLOATS = {float}


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
def seed_value(g, p):
    """:func:`seed` without derivatives: ``(Sigma^0, Theta^0)`` (the same
    operations; the numpy 1-D recursion runs its ``py_func``)."""
    return p.sw2 * g + p.sb2, p.alpha0 * g + p.beta0


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


def diag_step(layer, x, v, w, dv, dw, p, q, dq, t, dt, want_grad=True, quiet=True):
    """One step of the 1-D recursion of every point, in place, in numpy.

    ``layer = -1`` seeds layer 0 from ``x = |x|^2 / d`` (:func:`seed`):
    ``q[0]``, ``dq[:, 0]`` and ``t``, ``dt`` (``Theta^0`` and its derivatives);
    ``v, w, dv, dw`` are not read. ``layer >= 0`` maps the state through the
    layer by :func:`dense`, with ``v, w, dv, dw`` the ``V(q), W(q), dV/dq,
    dW/dq`` at ``q[layer]`` (the total derivative of ``F(q, q, q)`` is
    ``dV dq``), into ``q[layer + 1]``, ``dq[:, layer + 1]``, ``t`` and ``dt``;
    ``x`` is not read. Without ``want_grad`` the step is :func:`seed_value`
    or :func:`dense_value` (the same operations for ``q`` and ``t``, so the
    same bits) and ``dq``, ``dt`` are left as they are (``dv``, ``dw`` not
    read).

    The layer map's Python source (``seed.py_func``, ``dense.py_func``) runs
    on whole arrays, so a call compiles nothing for the diagonal. numpy does
    each operation as one correctly rounded IEEE operation in the order of
    the source, as numba does without fast-math flags: the bits are those of
    the same source compiled per point. Overflow gives inf (no warning),
    which the engine's range checks report; ``quiet=False`` leaves numpy's
    error state to the caller (a recursion of many steps in one
    ``np.errstate(over="ignore", invalid="ignore")``).
    """
    if quiet:
        with np.errstate(over="ignore", invalid="ignore"):
            _step(layer, x, v, w, dv, dw, p, q, dq, t, dt, want_grad)
    else:
        _step(layer, x, v, w, dv, dw, p, q, dq, t, dt, want_grad)


def _step(layer, x, v, w, dv, dw, p, q, dq, t, dt, want_grad):
    """The body of :func:`diag_step` (in the caller's numpy error state)."""
    if not want_grad:
        if layer < 0:
            q[0], t[...] = seed_value.py_func(x, p)
        else:
            q[layer + 1], t[...] = dense_value.py_func(v, w, t, p)
        return
    if layer < 0:
        state = seed.py_func(x, p)
    else:
        qb, qw = dq[0, layer], dq[1, layer]
        state = dense.py_func(
            v, w, dv * qb, dv * qw, dw * qb, dw * qw, t, dt[0], dt[1], p
        )
    s, th, ds_b, ds_w, dt_b, dt_w = state
    q[layer + 1] = s
    dq[0, layer + 1] = ds_b
    dq[1, layer + 1] = ds_w
    t[...] = th
    dt[0] = dt_b
    dt[1] = dt_w


# --------------------------------------------------------------------------
# Residual blocks and layer normalisation (issue 16)
#
# The hidden step of the network is ``z^l = branch(u)`` (plain) or
# ``z^l = z^{l-1} + alpha branch(u)`` (residual, every hidden step but the
# last, which is the plain readout), with ``u = LN(z^{l-1})`` under layer
# normalisation and ``u = z^{l-1}`` otherwise. At infinite width (see
# :class:`sknnk._numerics.engine.Network`):
#
#   LN:        Sigma~ = Sigma r r',  Theta~ = Theta r r',  r = q^-1/2,
#   branch:    (B, T) = dense(F, G, Theta~) at the variances va = q (no LN) or
#              1 (LN) and the covariance Sigma~,
#   residual:  Sigma^l = Sigma^{l-1} + a2 B,  Theta^l = Theta^{l-1} + a2 T,
#
# with ``a2 = alpha^2``. The state then carries a third derivative, in
# ``log alpha``; :func:`dense` gives the ``(log sigma_b, log sigma_w)``
# columns of the branch and :func:`branch_scale_column` its ``log alpha``
# column. A zero-variance point (``x = 0`` with ``sigma_b = 0``: ``z = 0`` in
# every unit) has ``LN(z) = 0``, the ``eps -> 0`` limit of
# ``(z - mean) / sqrt(var + eps)``: its normalised variance, covariances and
# tangent kernel are 0 (``r = 0``).


def layer_norm_scales(q, dq, normalise):
    """Per-point quantities of one layer's input to the nonlinearity (numpy).

    Parameters
    ----------
    q : ndarray of shape (n,)
        Variances ``Sigma^{l-1}(x, x)`` of the stream (before normalisation).
    dq : ndarray of shape (3, n)
        Their derivatives in ``(log sigma_b, log sigma_w, log alpha)``.
    normalise : bool
        Layer normalisation on.

    Returns
    -------
    va : ndarray of shape (n,)
        Variance of the nonlinearity's input: ``q``, or with LN 1 (0 at a
        zero-variance point).
    dva : ndarray of shape (3, n)
        Its derivatives (``dq``, or 0 with LN).
    r : ndarray of shape (n,)
        The factor of every covariance: 1, or with LN ``q^-1/2`` (0 at
        ``q = 0``).
    h : ndarray of shape (3, n)
        ``d log r^-1 = dq / (2 q)`` with LN (0 at ``q = 0``), 0 without: a
        normalised covariance ``c r r'`` has the derivative
        ``(dc - c (h + h')) r r'``.
    """
    if not normalise:
        return q.copy(), dq.copy(), np.ones_like(q), np.zeros_like(dq)
    pos = q > 0.0
    safe = np.where(pos, q, 1.0)
    r = np.where(pos, 1.0 / np.sqrt(safe), 0.0)
    h = np.where(pos, 0.5 * dq / safe, 0.0)
    return pos.astype(np.float64), np.zeros_like(dq), r, h


@njit(cache=True, nogil=True, inline="always")
def normalised(c, dc_b, dc_w, dc_a, rr, hb, hw, ha):
    """``c r r'`` and its derivatives ``(dc_k - c h_k) r r'`` (``rr = r r'``,
    ``h_k = h_k(x) + h_k(x')``, :func:`layer_norm_scales`)."""
    return (
        c * rr,
        (dc_b - c * hb) * rr,
        (dc_w - c * hw) * rr,
        (dc_a - c * ha) * rr,
    )


@njit(cache=True, nogil=True, inline="always")
def branch_scale_column(f, g, df_a, dg_a, t, dt_a, p):
    """The ``log alpha`` derivatives ``(dB_a, dT_a)`` of the branch
    ``B = sw2 F + sb2``, ``T = alpha F + beta + sw2 G Theta~`` (``alpha``,
    ``beta`` of :class:`LayerParams`, which do not depend on the branch
    scale): ``sw2 dF_a`` and ``alpha dF_a + sw2 (dG_a Theta~ + G dTheta~_a)``."""
    return p.sw2 * df_a, p.alpha * df_a + p.sw2 * (dg_a * t + g * dt_a)


@njit(cache=True, nogil=True, inline="always")
def add_branch(s, br, a2):
    """``s + a2 B``: the residual stream after a block, or its derivative
    along a direction that leaves ``a2`` fixed (``s``, ``B`` their
    derivatives: every direction but ``log alpha``)."""
    return s + a2 * br


@njit(cache=True, nogil=True, inline="always")
def residual_add(s, ds_b, ds_w, ds_a, br, dbr_b, dbr_w, dbr_a, a2):
    """``s + a2 B`` of the residual stream and its derivatives (the
    ``log alpha`` one gains ``2 a2 B``; the others are :func:`add_branch`)."""
    ab = a2 * br
    return (
        s + ab,
        add_branch(ds_b, dbr_b, a2),
        add_branch(ds_w, dbr_w, a2),
        add_branch(ds_a, dbr_a, a2) + (ab + ab),
    )


@njit(cache=True, nogil=True)
def diag_step_residual(layer, v, w, dv, dw, va, dva, r, h, p, q, dq, t, dt, add, a2):
    """One layer of the 1-D recursion of a residual and/or normalised network,
    in place (the seed is :func:`diag_step` at ``layer = -1`` on the first two
    derivative rows; the third, ``log alpha``, starts at 0).

    ``v, w, dv, dw`` are ``V, W, dV/dq, dW/dq`` at ``va`` and ``va, dva, r, h``
    the :func:`layer_norm_scales` of ``q[layer]``; ``q`` (depth + 1, n),
    ``dq`` (3, depth + 1, n), ``t`` (n,) and ``dt`` (3, n) as in
    :func:`diag_step` with the third derivative row. ``add``: this layer is a
    residual block (False for plain layers and for the readout).

    A fourth row of ``dq``, ``dt`` (and of ``dva``, ``h``) is the seed
    direction ``d / d g_xx`` of the length-scale gradient (seeded
    ``sigma_w^2``, ``alpha0`` by :func:`diag_seed_step` at ``layer = -1``):
    on the diagonal ``F(va, va, va)`` moves by ``dV dva`` and the branch
    by :func:`propagate`; the block adds it by :func:`add_branch`.
    """
    seeded = dq.shape[0] > 3
    zero = p.sw2 - p.sw2
    for i in range(q.shape[1]):
        rr = r[i] * r[i]
        hb = h[0, i] + h[0, i]
        hw = h[1, i] + h[1, i]
        ha = h[2, i] + h[2, i]
        tn, tn_b, tn_w, tn_a = normalised(
            t[i], dt[0, i], dt[1, i], dt[2, i], rr, hb, hw, ha
        )
        if seeded:  # before t and dt move to the next layer
            hg = h[3, i] + h[3, i]
            _, tn_g, _, _ = normalised(t[i], dt[3, i], zero, zero, rr, hg, zero, zero)
            bs_g, bt_g = propagate(
                w[i], dv[i] * dva[3, i], dw[i] * dva[3, i], tn, tn_g, p
            )
            if add:
                bs_g = add_branch(dq[3, layer, i], bs_g, a2)
                bt_g = add_branch(dt[3, i], bt_g, a2)
            dq[3, layer + 1, i] = bs_g
            dt[3, i] = bt_g
        df_b, df_w, df_a = dv[i] * dva[0, i], dv[i] * dva[1, i], dv[i] * dva[2, i]
        dg_b, dg_w, dg_a = dw[i] * dva[0, i], dw[i] * dva[1, i], dw[i] * dva[2, i]
        bs, bt, bs_b, bs_w, bt_b, bt_w = dense(
            v[i], w[i], df_b, df_w, dg_b, dg_w, tn, tn_b, tn_w, p
        )
        bs_a, bt_a = branch_scale_column(v[i], w[i], df_a, dg_a, tn, tn_a, p)
        s, s_b, s_w, s_a = bs, bs_b, bs_w, bs_a
        th, th_b, th_w, th_a = bt, bt_b, bt_w, bt_a
        if add:
            s, s_b, s_w, s_a = residual_add(
                q[layer, i], dq[0, layer, i], dq[1, layer, i], dq[2, layer, i],
                bs, bs_b, bs_w, bs_a, a2,
            )  # fmt: skip
            th, th_b, th_w, th_a = residual_add(
                t[i], dt[0, i], dt[1, i], dt[2, i], bt, bt_b, bt_w, bt_a, a2
            )
        q[layer + 1, i] = s
        dq[0, layer + 1, i] = s_b
        dq[1, layer + 1, i] = s_w
        dq[2, layer + 1, i] = s_a
        t[i] = th
        dt[0, i] = th_b
        dt[1, i] = th_w
        dt[2, i] = th_a
