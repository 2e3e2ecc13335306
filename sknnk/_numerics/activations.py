"""Dual activations: ``F = E[phi(u) phi(v)]`` and ``G = E[phi'(u) phi'(v)]``.

For a centred Gaussian pair ``(u, v)`` with covariance ``[[a, c], [c, b]]`` every
activation provides

* ``F(a, b, c)`` and ``G(a, b, c)`` (the NNGP map and the NTK factor),
* their partial derivatives with respect to ``a``, ``b`` and ``c`` (for the
  forward-mode hyperparameter gradients),
* the diagonal values ``V(q) = F(q, q, q)``, ``W(q) = G(q, q, q)`` and their
  derivatives ``dV/dq``, ``dW/dq`` (for the one-dimensional recursion).

Closed-form activations are evaluated per entry by numba functions selected by
an integer ``code`` with a small parameter array ``prm`` (e.g. the slopes of a
leaky ReLU). Activations without a closed form use the Hermite (Mehler) series
of :mod:`sknnk._numerics.series`; they carry the code ``SERIES``.

Notation below: ``s = sqrt(a b)``, ``rho = c / s``, ``theta = arccos(rho)`` and
``k_n(rho) = J_n(theta) / (2 pi)`` with the arc-cosine functions ``J_n`` of Cho
and Saul (2009), so that ``E[relu(u)^n relu(v)^n] = s^n k_n(rho)`` and
``d k_n / d rho = n^2 k_{n-1}``.
"""

import math

import numpy as np

from ._jit import njit
from .bvn import elu_orthant, mills, mills_minus_half
from .layer import correlation
from .mixture import AMP_S, AMPLITUDES, INV_S, INV_S2, XERF_TABLES

# Integer codes used by the compiled recursion.
SERIES = 0
IDENTITY = 1
RELU = 2
ERF = 3
ABRELU = 4  # prm = (alpha, beta): alpha * min(x, 0) + beta * max(x, 0)
STEP = 5
SIGN = 6
ARCCOS = 7  # prm = (order,) with order >= 2 (0 is STEP, 1 is RELU)
SIN = 8
COS = 9
ELU = 10  # prm = (alpha, lam): lam * (max(x, 0) + alpha * (exp(min(x, 0)) - 1))
ERF_MIX = 11  # prm = (gamma, alpha, beta): alpha + beta tanh(gamma x), by a mixture
SOFTPLUS_MIX = 13  # log(1 + e^x), from the sigmoid mixture by Price's theorem
XERF_MIX = 14  # prm = (kind,): x (1 + sum_k a_k erf(x / sigma_k)) / 2 (gelu, ...)

N_PRM = 3  # length of the parameter array

_TWO_PI = 2.0 * math.pi
_RHO_SNAP = 4e-15


@njit(cache=True, nogil=True, inline="always")
def _angle(rho):
    """Return ``(theta, sin(theta))`` for a correlation ``rho`` of :func:`_rho`.

    ``sin(theta)`` is formed as ``sqrt((1 - rho)(1 + rho))`` and ``theta`` with
    ``atan2`` so that neither loses accuracy near ``rho = +-1``.
    """
    s = math.sqrt((1.0 - rho) * (1.0 + rho))
    return math.atan2(s, rho), s


@njit(cache=True, nogil=True, inline="always")
def _arccos_k(n, rho, theta, sin_t):
    r"""``(k_n, k_(n-1), k_(n-2))`` of the arc-cosine kernels, ``n >= 2``.

    ``k_n(rho) = J_n(theta) / (2 pi)`` (Cho and Saul, 2009) from ``k_0 = (pi -
    theta) / (2 pi)`` and ``k_1 = (sin(theta) + (pi - theta) rho) / (2 pi)`` by
    the recurrence

    .. math::

        k_m = (2m - 1)\, \rho\, k_{m-1} + (m - 1)^2 \sin^2\theta\, k_{m-2},

    which follows from ``E[relu(u)^m relu(v)^m]`` by Gaussian integration by
    parts and gives Cho and Saul's ``J_2``, ``J_3`` and ``k_m(1) = (2m - 1)!!
    / 2``. Every term is non-negative for ``rho >= 0``, where it is used;
    ``rho < 0`` is :func:`_arccos_k_obtuse`.
    """
    s2 = sin_t * sin_t
    k_prev2 = 0.0
    k_prev = (math.pi - theta) / _TWO_PI
    k = (sin_t + (math.pi - theta) * rho) / _TWO_PI
    for m in range(2, n + 1):
        k_next = (2 * m - 1) * rho * k + (m - 1) * (m - 1) * s2 * k_prev
        k_prev2, k_prev, k = k_prev, k, k_next
    return k, k_prev, k_prev2


#: Gauss-Legendre rule of :func:`_arccos_k_obtuse` (exact for polynomials of
#: degree 127: the integrand is ``(1 - t^2)^n`` times a smooth factor).
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(64)


@njit(cache=True, nogil=True)
def _arccos_k_obtuse(n, rho, sin_t):
    r"""``(k_n, k_(n-1), k_(n-2))`` for ``rho < 0``, ``n >= 2``, by quadrature.

    With ``w ~ N(0, I_2)`` in polar form, ``k_m = 2^m m! / (2 pi) int
    (cos(a) cos(a - theta))^m da`` over the arc where both cosines are
    positive (length ``pi - theta``); about its midpoint, with ``h = (pi -
    theta) / 2``,

    .. math::

        k_m = \frac{2^m m!\, h}{2\pi} \int_{-1}^{1}
              \left[\sin(h(1 + t)) \sin(h(1 - t))\right]^m dt,

    a positive integrand: no cancellation (the recurrence of
    :func:`_arccos_k` cancels for ``rho < 0``, where ``k_n`` is far below
    ``k_n(1)``). ``pi - theta = atan2(sin(theta), -rho)`` keeps its relative
    accuracy as ``rho -> -1``. Measured against the recurrence in 150-digit
    arithmetic: <= 1e-13 relative for ``n <= 60`` down to ``rho = -0.99``,
    <= 2e-12 for ``n <= 20`` at ``rho = -0.999999``.
    """
    h = 0.5 * math.atan2(sin_t, -rho)
    s0 = s1 = s2 = 0.0  # the integrals of b^n, b^(n-1), b^(n-2)
    for i in range(_GL_NODES.shape[0]):
        t = _GL_NODES[i]
        b = math.sin(h * (1.0 + t)) * math.sin(h * (1.0 - t))
        p = _GL_WEIGHTS[i] * b ** (n - 2)
        s2 += p
        s1 += p * b
        s0 += (p * b) * b
    c2 = h / _TWO_PI  # 2^m m! h / (2 pi) at m = n - 2
    for m in range(1, n - 1):
        c2 *= 2.0 * m
    c1 = c2 * (2.0 * (n - 1))
    c0 = c1 * (2.0 * n)
    return c0 * s0, c1 * s1, c2 * s2


@njit(cache=True, nogil=True, inline="always")
def _rho(a, b, c):
    """Correlation and ``sqrt(a) sqrt(b)`` (``rho = 0`` where a variance is 0).

    ``rho`` comes from :func:`sknnk._numerics.layer.correlation`: clipped to
    [-1, 1] and, within ``_RHO_SNAP`` of +-1 (duplicate or parallel inputs whose
    dot products were summed in different orders), exactly +-1, so duplicates
    get identical kernel values; the change of ``theta`` is below its own
    rounding error.
    """
    if a <= 0.0 or b <= 0.0:
        return 0.0, 0.0
    sa = math.sqrt(a)
    sb = math.sqrt(b)
    return correlation(c, 1.0 / sa, 1.0 / sb, 1.0 - _RHO_SNAP), sa * sb


_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(cache=True, nogil=True, inline="always")
def erf_point(q):
    """``(r, t)`` of erf at a variance ``q >= 0``: ``r = (1 + 2q)^(-1/2)`` and
    ``t = sqrt(h)``, ``h = 2q / (1 + 2q) = 1 - r^2`` (formed without the
    cancellation of ``1 - r^2``; both in [0, 1] for every ``q``, so nothing
    overflows)."""
    r = 1.0 / math.sqrt(1.0 + 2.0 * q)
    return r, math.sqrt(q + q) * r


@njit(cache=True, nogil=True, inline="always")
def erf_pair(rho, ra, rb, ta, tb, one):
    r"""``(x, Dn)`` of erf's dual in scale-free, cancellation-free form.

    With ``A = 1 + 2a``, ``B = 1 + 2b``, ``c = rho sqrt(a b)`` and ``(ra, ta)``,
    ``(rb, tb)`` of :func:`erf_point` (``h_a = t_a^2``):

    .. math::

        x = \frac{2c}{\sqrt{AB}} = \rho\, t_a t_b,\qquad
        D_n = \frac{AB - 4c^2}{AB} = 1 - x^2
            = r_a^2 + r_b^2 - r_a^2 r_b^2 + h_a h_b (1 - \rho)(1 + \rho),

    a sum of non-negative terms (``r_a^2 r_b^2 <= min(r_a^2, r_b^2)``), so
    ``D_n > 0`` at every scale, in every precision, and ``D_n`` keeps its
    relative accuracy as ``x -> +-1`` (where ``AB - 4c^2`` cancels). Then
    ``F = 2/pi asin(x)`` (with ``1 - |x| = D_n / (1 + |x|)``) and
    ``G = 4/pi r_a r_b / sqrt(D_n)``. ``rho`` is the snapped correlation of
    :func:`sknnk._numerics.layer.correlation`; ``one`` is 1 in its type.
    Symmetric in the two points bit for bit.

    At ``rho = +-1`` (duplicate or parallel inputs, after the snap) the
    correlation does not depend on the hyperparameters, and the gradients
    use the partials along fixed ``rho``: with ``D = 1 + 2a + 2b`` there,

    .. math::

        \frac{\partial F}{\partial a}\Big|_\rho
            = \frac{x}{\pi\sqrt{D_n}}\,\frac{r_a^2}{a},\qquad
        \frac{\partial G}{\partial a}\Big|_\rho
            = -\frac{G}{D_n}\, r_a^2 r_b^2,

    free of the cancellation ``dSigma - dq`` (both of the size of ``q``) of
    the general partials.
    """
    ra2 = ra * ra
    rb2 = rb * rb
    tt = ta * tb
    dn = (ra2 + rb2) - ra2 * rb2 + (tt * tt) * ((one - rho) * (one + rho))
    return rho * tt, dn


@njit(cache=True, nogil=True)
def elu_partials(alpha, lam, a, b, c, want_grad):
    r"""``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of ELU/SELU in closed form.

    ``phi(x) = lam psi(x)``, ``psi(x) = max(x, 0) + alpha (exp(min(x, 0)) - 1)``,
    ``psi'(x) = 1{x > 0} + alpha e^x 1{x < 0}``. With ``sa = sqrt(a)``, ``sb =
    sqrt(b)``, ``rho = c / (sa sb)``, ``r = sin(theta) = sqrt(1 - rho^2)``,
    ``R(x) = e^{x^2/2} Phi(-x)`` (:func:`mills`) and the tilted orthant terms

    .. math::

        E_a = E[e^u 1\{u<0, v<0\}] = e^{a/2}\Phi_2(-s_a, -\rho s_a; \rho),\quad
        E_b = e^{b/2}\Phi_2(-\rho s_b, -s_b; \rho),

        E_T = E[e^{u+v} 1\{u<0, v<0\}]
            = e^{(a+b+2c)/2}\Phi_2(-(s_a + \rho s_b), -(s_b + \rho s_a); \rho)

    (exponential tilting ``E[e^{t.w} g(w)] = e^{t'St/2} E[g(w + St)]``),
    taken from :func:`sknnk._numerics.bvn.elu_orthant` as the differences
    ``h_a = E_a - kappa_0`` and ``d = E_T - E_a - E_b + kappa_0`` (the
    ``alpha^2`` term of ``F`` is ``d``): series in the smaller scale where
    these are small, so the duals keep their relative accuracy down to
    variance 1e-300), Stein's identity for terms such
    as ``E[u e^v 1{u>0, v<0}]``, and ``kappa_0``, ``kappa_1`` of ReLU:

    .. math::

        F/\lambda^2 = s_a s_b\kappa_1 + \alpha\big[(s_a(R(s_b r) - \tfrac12)
            + s_b(R(s_a r) - \tfrac12))/\sqrt{2\pi}
            + c\,(R(s_a) - E_a + R(s_b) - E_b)\big]
            + \alpha^2(E_T - E_a - E_b + \kappa_0),

        G/\lambda^2 = \kappa_0 + \alpha(R(s_a) - E_a + R(s_b) - E_b)
            + \alpha^2 E_T.

    Partials from Price's theorem, ``F_c = G``, ``F_a = E[psi''(u) psi(v)] / 2``,
    ``G_c = E[psi''(u) psi''(v)]``, ``G_a = E[psi'''(u) psi'(v)] / 2``, with
    the distributional derivatives ``psi'' = alpha e^x 1{x<0} + (1 - alpha)
    delta`` and ``psi''' = alpha e^x 1{x<0} - alpha delta + (1 - alpha)
    delta'``:

    .. math::

        F_a/\lambda^2 = \tfrac12\Big[\alpha\big(s_b(R(s_a r) - \tfrac\rho2)
            /\sqrt{2\pi} + c(R(s_a) - E_a) + \alpha(E_T - E_a)\big)
            + (1-\alpha)\frac{s_b r/\sqrt{2\pi} + \alpha(R(s_b r) - \tfrac12)}
            {\sqrt{2\pi}\,s_a}\Big],

        G_c/\lambda^2 = \alpha^2 E_T + \alpha(1-\alpha)\frac{R(s_b r)/s_a
            + R(s_a r)/s_b}{\sqrt{2\pi}} + \frac{(1-\alpha)^2}{2\pi s_a s_b r},

        G_a/\lambda^2 = \tfrac12\Big[\alpha(R(s_a) - E_a + \alpha E_T)
            - \alpha\frac{\tfrac12 + \alpha R(s_b r)
            + (1-\alpha)\rho\, s_b R(s_b r)/s_a}{\sqrt{2\pi}\,s_a}\Big]
            - \frac{(1-\alpha)^2\rho}{4\pi a r},

    and ``F_b``, ``G_b`` by symmetry. The last terms of ``G_c`` and ``G_a`` are
    ``(1 - alpha)^2`` times the ReLU partials of ``kappa_0(rho)``; they
    diverge like ``1 / r`` (the jump of SELU's ``phi'`` at 0; ELU has
    ``alpha = 1``). At ``r = 0`` (``rho = +-1`` after the snap of
    :func:`_angle`) the correlation does not change with any hyperparameter,
    so they are returned as 0, as for ReLU: the other terms are the one-sided
    limits, and ``G_a da + G_b db + G_c dc`` is the derivative along fixed
    ``rho``.
    """
    rho, s = _rho(a, b, c)
    theta, r = _angle(rho)
    if s > 0.0:
        sa, sb = math.sqrt(a), math.sqrt(b)
        c = rho * s
    else:  # a zero-variance input: u (or v) is identically 0
        sa, sb = math.sqrt(max(a, 0.0)), math.sqrt(max(b, 0.0))
        c = 0.0
    k0 = (math.pi - theta) / _TWO_PI
    k1 = (r + (math.pi - theta) * rho) / _TWO_PI
    rar, rbr = mills(sa * r), mills(sb * r)
    har, hbr = mills_minus_half(sa * r), mills_minus_half(sb * r)  # R - 1/2
    # E_a = k0 + ha, E_T = k0 + ha + hb + d; pa = E[e^u 1{u<0, v>0}]
    ha, pa, hb, pb, d = elu_orthant(sa, sb, rho, r, k0)
    et = ((k0 + ha) + hb) + d
    isq = _INV_SQRT_2PI
    al2 = alpha * alpha
    f = s * k1 + alpha * ((sa * hbr + sb * har) * isq + c * (pa + pb)) + al2 * d
    g = k0 + alpha * (pa + pb) + al2 * et
    if s == 0.0:  # u or v is identically 0, and psi(0) = 0
        f = 0.0
    fa = fb = ga = gb = gc = 0.0
    if want_grad and s > 0.0:
        om = 1.0 - alpha
        fa = alpha * (sb * (har + 0.5 * (1.0 - rho)) * isq + c * pa + alpha * (d + hb))
        fa += om * (sb * r * isq + alpha * hbr) * isq / sa
        fb = alpha * (sa * (hbr + 0.5 * (1.0 - rho)) * isq + c * pb + alpha * (d + ha))
        fb += om * (sa * r * isq + alpha * har) * isq / sb
        gc = al2 * et + alpha * om * (rbr / sa + rar / sb) * isq
        ga = alpha * (pa + alpha * et)
        ga -= alpha * (0.5 + alpha * rbr + om * rho * sb * rbr / sa) * isq / sa
        gb = alpha * (pb + alpha * et)
        gb -= alpha * (0.5 + alpha * rar + om * rho * sa * rar / sb) * isq / sb
        if r > 0.0 and om != 0.0:
            sing = om * om / (_TWO_PI * r)
            gc += sing / s
            ga -= sing * rho / a
            gb -= sing * rho / b
        lh = 0.5 * lam * lam
        fa, fb, ga, gb, gc = lh * fa, lh * fb, lh * ga, lh * gb, 2.0 * lh * gc
    lam2 = lam * lam
    return lam2 * f, lam2 * g, fa, fb, lam2 * g, ga, gb, gc


@njit(cache=True, nogil=True, inline="always")
def erf_terms(rho, ra, ta, rb, tb, a, b, want_grad):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of erf at the variances ``a``,
    ``b`` and the snapped correlation ``rho``, from the :func:`erf_point`
    values ``(ra, ta)``, ``(rb, tb)`` of ``a`` and ``b`` (:func:`erf_pair`;
    at ``rho = +-1`` the partials along fixed ``rho``). Partials zero unless
    ``want_grad``."""
    fa = fb = fc = ga = gb = gc = 0.0
    arg, dn = erf_pair(rho, ra, rb, ta, tb, 1.0)
    sdn = math.sqrt(dn)
    g = 4.0 / math.pi * (ra * rb) / sdn
    f = 2.0 / math.pi * math.atan2(arg, sdn)
    if want_grad:
        # D = A B Dn: F_a = -k c / (A sqrt(D)), G_a = -G B / D, G_c = 4 G c / D
        fcoef = -2.0 / math.pi * arg / sdn
        gn = g / dn
        if abs(rho) < 1.0:
            fa = fcoef * (ra * ra)
            fb = fcoef * (rb * rb)
            fc = g
            ga = -gn * (ra * ra)
            gb = -gn * (rb * rb)
            gc = gn * ((arg + arg) * (ra * rb))
        else:  # along fixed rho = +-1 (see erf_pair); F_c = G_c = 0
            # grouped so that no factor underflows before the product does
            # (r^2 / a ~ 1 / a^2 and r_a^2 r_b^2 ~ 1 / (a b) would at a ~ 1e160)
            fa = -0.5 * (fcoef * ra) * (ra / a)
            fb = -0.5 * (fcoef * rb) * (rb / b)
            ga = gb = -g * ((ra * ra) * ((rb * rb) / dn))
    return f, g, fa, fb, fc, ga, gb, gc


@njit(cache=True, nogil=True)
def mixture_partials(prm, a, b, c, want_grad):
    r"""``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of ``phi(x) = alpha + beta
    tanh(gamma x)``, ``prm = (gamma, alpha, beta)``, by the Gaussian scale
    mixture ``tanh(x) ~= sum_k a_k erf(x / s_k)`` of
    :mod:`sknnk._numerics.mixture` (sup errors of ``phi`` to ``phi'''``
    below 6e-13; tanh is ``(1, 0, 1)``, sigmoid ``(1/2, 1/2, 1/2)``).

    With ``sigma_k = s_k / gamma`` each term is erf at the covariance scaled
    by ``1 / (sigma_i sigma_j)``, whose correlation is the ``rho`` of
    ``(a, b, c)`` for every pair (computed once, snapped as for every closed
    form):

    .. math::

        F = \alpha^2 + \beta^2 \sum_{ij} a_i a_j
            F_{erf}(a / \sigma_i^2, b / \sigma_j^2; \rho),\qquad
        G = \beta^2 \sum_{ij} \frac{a_i a_j}{\sigma_i \sigma_j}
            G_{erf}(a / \sigma_i^2, b / \sigma_j^2; \rho)

    (``E[erf(u / s)] = 0``: the offset only adds ``alpha^2``), and the partials
    by the chain rule (``d/da`` of a term is its erf partial over
    ``sigma_i^2``, ``d/dc`` over ``sigma_i sigma_j``), from :func:`erf_terms`
    -- at ``rho = +-1`` along fixed ``rho``. ``K^2`` terms whatever the
    variances. The points are taken in a canonical order (the smaller
    variance first), so ``F(a, b, c)`` and ``F(b, a, c)`` agree bit for bit.
    """
    if b < a:  # canonical order: the same bits for (a, b) and (b, a)
        out = _mixture_sum(prm, b, a, c, want_grad, False)
        f, g, fb, fa, fc, gb, ga, gc = out[:8]
        return f, g, fa, fb, fc, ga, gb, gc
    return _mixture_sum(prm, a, b, c, want_grad, False)[:8]


@njit(cache=True, nogil=True)
def _mixture_sum(prm, a, b, c, want_grad, integral):
    """The pair sum of :func:`mixture_partials` in the given order, and with
    ``integral`` the sums of :func:`softplus_partials` over the same pairs
    (``sum_ij a_i a_j J(x_ij)`` and the two sums of its ``F_a``, ``F_b``;
    else 0): ``(F, G, F_a, F_b, F_c, G_a, G_b, G_c, sJ, sF_a, sF_b)``."""
    gamma, alpha, beta = prm[0], prm[1], prm[2]
    g2 = gamma * gamma
    rho, s = _rho(a, b, c)
    c = rho * s  # the covariance of the snapped correlation (integral)
    k = AMPLITUDES.shape[0]
    bs = np.empty(k)
    rb = np.empty(k)
    tb = np.empty(k)
    cb = np.empty(k)  # c / T_j (integral)
    for j in range(k):
        bs[j] = b * (g2 * INV_S2[j])
        rb[j], tb[j] = erf_point(bs[j])
        cb[j] = (c * rb[j]) * (rb[j] * (g2 * INV_S2[j]))
    f = g = fa = fb = fc = ga = gb = gc = 0.0
    sj = sa_ = sb_ = 0.0
    for i in range(k):
        ai = a * (g2 * INV_S2[i])
        ra, ta = erf_point(ai)
        fi = gi = fai = fbi = fci = gai = gbi = gci = 0.0
        ji = wai = wbi = 0.0
        for j in range(k):
            t = erf_terms(rho, ra, ta, rb[j], tb[j], ai, bs[j], want_grad)
            wj, vj = AMPLITUDES[j], AMP_S[j]
            if integral:  # J = asin(x) - x / (1 + sqrt(1 - x^2))
                x, dn = erf_pair(rho, ra, rb[j], ta, tb[j], 1.0)
                w = wj * (x / (1.0 + math.sqrt(dn)))
                ji += wj * (_HALF_PI * t[0]) - w
                if want_grad:
                    wai += w
                    wbi += cb[j] * w
            fi += wj * t[0]
            gi += vj * t[1]
            if want_grad:
                fai += wj * t[2]
                fbi += (wj * INV_S2[j]) * t[3]
                fci += vj * t[4]
                gai += vj * t[5]
                gbi += (vj * INV_S2[j]) * t[6]
                gci += (vj * INV_S[j]) * t[7]
        wi, vi = AMPLITUDES[i], AMP_S[i]
        if integral:
            sj += wi * ji
            if want_grad:
                sa_ += wi * ((c * ra) * (ra * (g2 * INV_S2[i]))) * wai
                sb_ += wi * wbi
        f += wi * fi
        g += vi * gi
        if want_grad:
            fa += (wi * INV_S2[i]) * fai
            fb += wi * fbi
            fc += vi * fci
            ga += (vi * INV_S2[i]) * gai
            gb += vi * gbi
            gc += (vi * INV_S[i]) * gci
    b2 = beta * beta
    bg = b2 * g2
    bg2 = bg * g2
    return (alpha * alpha + b2 * f, bg * g, bg * fa, bg * fb, bg * fc,
            bg2 * ga, bg2 * gb, bg2 * gc, sj, sa_, sb_)  # fmt: skip


#: ``mixture_partials`` parameters of sigmoid, ``1/2 + tanh(x / 2) / 2``
#: (softplus' derivative)
_SIGMOID_PRM = np.array([0.5, 0.5, 0.5])
#: the mixture's scales ``sigma_k = 2 s_k`` of sigmoid and the amplitudes
#: ``a_k / (2 sqrt(pi))`` of softplus' mean (:func:`softplus_mean`)
_SP_SIG = 2.0 / INV_S
_SP_AMP = AMPLITUDES / (2.0 * math.sqrt(math.pi))
_LOG2 = math.log(2.0)
_HALF_PI = 0.5 * math.pi


@njit(cache=True, nogil=True, inline="always")
def softplus_mean(q):
    r"""``(m, dm/dq)`` of ``m(q) = E[softplus(u)]``, ``u ~ N(0, q)``, ``q >= 0``.

    From the mixture of sigmoid, ``sigmoid(x) ~= 1/2 + sum_k (a_k / 2)
    erf(x / sigma_k)`` with ``sigma_k = 2 s_k`` (:mod:`sknnk._numerics.mixture`),
    integrated once:

    .. math::

        \operatorname{softplus}(x) \approx C + \frac x2 + \sum_k \frac{a_k}{2}
            \Big[x \operatorname{erf}(x / \sigma_k)
            + \frac{\sigma_k}{\sqrt\pi} e^{-x^2 / \sigma_k^2}\Big],\qquad
        C = \log 2 - \sum_k \frac{a_k \sigma_k}{2\sqrt\pi},

    (``C = 2.0e-14``: the integral of the fit's error over ``x < 0``, the
    approximant's value at ``-inf``; it is exact at 0). With ``S_k =
    sigma_k^2 + 2q``, ``E[u erf(u / sigma)] = 2q / sqrt(pi S)`` (Stein) and
    ``E[e^{-u^2 / sigma^2}] = sigma / sqrt(S)``:

    .. math::

        m(q) = \log 2 + \sum_k \frac{a_k}{2\sqrt\pi}
               \frac{2q}{\sqrt{S_k} + \sigma_k},\qquad
        m'(q) = \sum_k \frac{a_k}{2\sqrt\pi} \frac{1}{\sqrt{S_k}},

    without the cancellation of ``sqrt(S_k) - sigma_k`` (``q`` down to 1e-300)
    nor overflow (``2q <= 2e300``); ``m(0) = log 2``, ``m'(0) = 1/8``
    (``sum_k w_k = 1``), ``m ~ sqrt(q / (2 pi))`` (ReLU's) at large ``q``.
    """
    m = dm = 0.0
    q2 = q + q
    for k in range(_SP_AMP.shape[0]):
        sq = math.sqrt(_SP_SIG[k] * _SP_SIG[k] + q2)
        m += _SP_AMP[k] * (q2 / (sq + _SP_SIG[k]))
        dm += _SP_AMP[k] / sq
    return _LOG2 + m, dm


@njit(cache=True, nogil=True)
def softplus_partials(a, b, c, want_grad):
    r"""``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of ``softplus(x) = log(1 +
    e^x)`` in closed form, at every layer variance (1e-300 to 1e300).

    ``softplus' = sigmoid``, so by Price's theorem ``dF/dc = E[sigmoid(u)
    sigmoid(v)]``: softplus' ``G`` and its partials are sigmoid's ``F`` and
    its partials (:func:`mixture_partials`, ``prm = (1/2, 1/2, 1/2)``), and

    .. math::

        F(a, b, c) = m(a)\, m(b) + \int_0^c F_{sigmoid}(a, b, c')\, dc'

    (at ``c = 0`` the pair is independent), with ``m`` of
    :func:`softplus_mean`. With the mixture scales ``sigma_i = 2 s_i``,
    ``S_i = sigma_i^2 + 2a``, ``T_j = sigma_j^2 + 2b`` and ``kappa_ij = 2 /
    sqrt(S_i T_j)``, ``F_{sigmoid} = 1/4 + 1/4 sum_ij a_i a_j (2/pi)
    asin(kappa_ij c')``, and ``int_0^c asin(kappa t) dt = c J(kappa c)``:

    .. math::

        F = m(a)\, m(b) + c\Big[\frac14 + \frac1{2\pi}\sum_{ij} a_i a_j
            J(x_{ij})\Big],\qquad
        J(x) = \arcsin x - \frac{x}{1 + \sqrt{1 - x^2}},

        F_a = m'(a)\, m(b) - \frac{c}{2\pi} \sum_{ij} \frac{a_i a_j}{S_i}
              \frac{x_{ij}}{1 + \sqrt{1 - x_{ij}^2}}

    (``dI/dkappa = c^2 / (1 + sqrt(1 - kappa^2 c^2))``, ``dkappa_ij/da =
    -kappa_ij / S_i``), where ``x_ij = kappa_ij c = rho t_i t_j`` and ``1 -
    x_ij^2`` are :func:`erf_pair`'s (scale-free: ``r_i = sigma_i / sqrt(S_i)``,
    ``t_i = sqrt(2a / S_i)`` of :func:`erf_point` at ``a / sigma_i^2``; ``c =
    rho sqrt(a) sqrt(b)`` from the snapped correlation, ``c / S_i`` as ``(c
    r_i) (r_i / sigma_i^2)``), and ``F_b`` likewise. ``J(x) ~ x / 2`` at
    small ``x`` (no cancellation: ``x / (1 + sqrt(1 - x^2)) <= 2 asin(x) /
    pi``). Limits: ``F -> log(2)^2 + c / 4`` at small variances, ReLU's
    ``F`` at large ones. At ``rho = +-1`` the partials along fixed ``rho``
    (as :func:`erf_terms`): ``F_a + F_c c / (2a)``, ``F_c = 0``. ``K^2``
    terms whatever the variances, in one pass with sigmoid's
    (:func:`_mixture_sum`); canonical order of the points, so ``F(a, b, c)``
    and ``F(b, a, c)`` agree bit for bit. Measured against nested quadrature
    of ``log(1 + e^x)``: the dual and all partials within 8e-16 (relative to
    their size) at variances 1e-3 to 1e3 (``tests/test_softplus_mixture.py``).
    """
    if b < a:  # canonical order: the same bits for (a, b) and (b, a)
        f, g, fb, fa, fc, gb, ga, gc = _softplus_sum(b, a, c, want_grad)
        return f, g, fa, fb, fc, ga, gb, gc
    return _softplus_sum(a, b, c, want_grad)


@njit(cache=True, nogil=True)
def _softplus_sum(a, b, c, want_grad):
    """The sums of :func:`softplus_partials` in the given order (one pass
    over the pairs with sigmoid's, :func:`_mixture_sum`)."""
    out = _mixture_sum(_SIGMOID_PRM, a, b, c, want_grad, True)
    sj, sa_, sb_ = out[8], out[9], out[10]
    rho, s = _rho(a, b, c)
    c = rho * s
    ma, dma = softplus_mean(a)
    mb, dmb = softplus_mean(b)
    f = ma * mb + c * (0.25 + sj / _TWO_PI)
    g = out[0]
    fa = fb = fc = 0.0
    if want_grad:
        fa = dma * mb - sa_ / _TWO_PI
        fb = ma * dmb - sb_ / _TWO_PI
        fc = g
        if abs(rho) == 1.0:  # along fixed rho = +-1 (c = rho sqrt(a b))
            sa, sb = math.sqrt(a), math.sqrt(b)
            fa += g * (0.5 * rho) * (sb / sa)
            fb += g * (0.5 * rho) * (sa / sb)
            fc = 0.0
    return f, g, fa, fb, fc, out[2], out[3], out[4]


#: ``XERF_MIX`` tables (:data:`sknnk._numerics.mixture.XERF_TABLES`):
#: amplitudes, ``1 / sigma_k`` and ``1 / sigma_k^2`` of each kind
_XG_A, _XG_IS = XERF_TABLES[0][0].copy(), 1.0 / XERF_TABLES[0][1]
_XS_A, _XS_IS = XERF_TABLES[1][0].copy(), 1.0 / XERF_TABLES[1][1]
_XT_A, _XT_IS = XERF_TABLES[2][0].copy(), 1.0 / XERF_TABLES[2][1]
_XG_IS2, _XS_IS2, _XT_IS2 = _XG_IS * _XG_IS, _XS_IS * _XS_IS, _XT_IS * _XT_IS
_INV_PI = 1.0 / math.pi
_SQRT2 = math.sqrt(2.0)


@njit(cache=True, nogil=True, inline="always")
def _xerf_table(kind):
    """``(a_k, 1 / sigma_k, 1 / sigma_k^2)`` of an ``XERF_MIX`` kind."""
    if kind == 0:
        return _XG_A, _XG_IS, _XG_IS2
    if kind == 1:
        return _XS_A, _XS_IS, _XS_IS2
    return _XT_A, _XT_IS, _XT_IS2


@njit(cache=True, nogil=True)
def xerf_partials(prm, a, b, c, want_grad):
    r"""``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of ``phi(x) = x (1 + E(x)) /
    2``, ``E(x) = sum_k a_k erf(x / sigma_k)``, in closed form at every layer
    variance (1e-300 to 1e300); ``prm = (kind,)`` selects the table of
    :data:`sknnk._numerics.mixture.XERF_TABLES` (gelu: one exact term; swish:
    tanh's mixture at the scales ``2 s_k``; gelu_tanh: a fitted mixture).

    ``u erf(u / s)`` and ``v erf(v / t)`` are even, ``u`` and ``v`` odd, so
    the cross terms vanish: ``F = c / 4 + 1/4 sum_ij a_i a_j sigma_i sigma_j
    M(a / sigma_i^2, b / sigma_j^2, c / (sigma_i sigma_j))`` with ``M(a, b,
    c) = E[u erf(u) v erf(v)]``, and ``G = 1/4 + 1/4 sum_ij a_i a_j
    M_c(...)`` (Price's theorem: ``d/dx [x erf(x)]`` is the derivative's
    term). By Stein's lemma and Gaussian tilting (``E[e^{-u^2} f] =
    A^{-1/2} E'[f]``), in the scale-free variables of :func:`erf_point` and
    :func:`erf_pair` (``R = r^2 = 1 / (1 + 2a)``, ``t^2 = 1 - R``, ``x = rho
    t_a t_b``, ``D = 1 - x^2``, ``P = R_a R_b``, ``e_a = 1 - rho^2 t_a^2 =
    R_a + t_a^2 (1 - rho)(1 + rho)``):

    .. math::

        M = \frac2\pi\sqrt{ab}\Big[t_a t_b\frac{D + \rho^2 P}{\sqrt D}
            + \rho\arcsin x\Big],\qquad
        M_c = \frac2\pi\Big[\arcsin x + \frac{x}{\sqrt D}
            \Big(R_a + R_b + P + \frac{x^2 P}{D}\Big)\Big],

        M_a = \frac{2b\, r_a r_b}{\pi}\Big[\frac{(1 + R_a)\, e_a}{\sqrt D}
            - \frac{\rho^2 t_a^2 R_a (2 R_b + t_b^2 e_a)}{D^{3/2}}\Big],

        M_{cc} = \frac4\pi\,\frac{r_a r_b}{D^{5/2}}\big[(D + R_a)(D + R_b)
            + 2x^2 P\big],\qquad
        M_{ca} = -\frac2\pi\, x\Big[\frac{R_a}{\sqrt D}\Big(1 + 3R_a
            + \frac{x^2 R_a}{D}\Big) + \frac{P (D + 3 R_a)}{D^{5/2}}\Big],

    (``M -> E|u||v|`` at large variance, ``(4/pi)(ab + 2c^2)`` at small),
    and at ``rho = +-1`` the partials along fixed ``rho``: ``F_a + G c /
    (2a)`` and

    .. math::

        \partial_a M_c\big|_\rho = \frac2\pi\,\frac{R_a^2\, x}{t_a^2 D^{5/2}}
            \big[(D + R_b)(2 R_a D - t_a^2 e_b) + 2x^2 P\big]

    (formed directly: ``M_ca + M_cc c / (2a)`` cancels to ``q^{-3/2}`` from
    terms ``~q^{-1/2}``), ``F_c = G_c = 0``. Every ratio is grouped so that
    nothing overflows or underflows before the product does (``D ~ R ~ 1 /
    q`` at ``rho = +-1``). ``K^2`` terms; canonical order of the points (the
    smaller variance first), so ``F(a, b, c)`` and ``F(b, a, c)`` agree bit
    for bit.
    """
    kind = int(prm[0])
    if b < a:
        f, g, fb, fa, fc, gb, ga, gc = _xerf_sum(kind, b, a, c, want_grad)
        return f, g, fa, fb, fc, ga, gb, gc
    return _xerf_sum(kind, a, b, c, want_grad)


@njit(cache=True, nogil=True)
def _xerf_sum(kind, a, b, c, want_grad):
    """The pair sums of :func:`xerf_partials` in the given order."""
    amp, isg, isg2 = _xerf_table(kind)
    rho, s = _rho(a, b, c)
    one_r = (1.0 - rho) * (1.0 + rho)
    r2 = rho * rho
    edge = abs(rho) == 1.0
    k = amp.shape[0]
    rb = np.empty(k)
    tb = np.empty(k)
    for j in range(k):
        rb[j], tb[j] = erf_point(b * isg2[j])
    f = g = fa = fb = ga = gb = gc = 0.0
    for i in range(k):
        ra, ta = erf_point(a * isg2[i])
        Ra = ra * ra
        ta2 = ta * ta
        ea = Ra + ta2 * one_r  # 1 - rho^2 t_a^2
        for j in range(k):
            w = amp[i] * amp[j]
            x, dn = erf_pair(rho, ra, rb[j], ta, tb[j], 1.0)
            sd = math.sqrt(dn)
            Rb = rb[j] * rb[j]
            P = Ra * Rb
            asn = math.atan2(x, sd)
            ra_d = Ra / dn
            rb_d = Rb / dn
            xx = x * x
            f += w * ((ta * tb[j]) * (dn + r2 * P) / sd + rho * asn)
            g += w * (asn + x * (Ra + Rb + P + xx * (Ra * rb_d)) / sd)
            if not want_grad:
                continue
            tb2 = tb[j] * tb[j]
            eb = Rb + tb2 * one_r
            # the brackets of M_a, M_b (times 2 b r_a r_b / pi)
            pa = (1.0 + Ra) * ea - r2 * ta2 * ra_d * (Rb + Rb + tb2 * ea)
            pb = (1.0 + Rb) * eb - r2 * tb2 * rb_d * (Ra + Ra + ta2 * eb)
            fa += w * (ra * isg[i]) * tb[j] * (pa / sd)
            fb += w * (rb[j] * isg[j]) * ta * (pb / sd)
            p2 = 2.0 * xx * (ra_d * rb_d)
            if edge:  # along fixed rho (times R / a)
                ba = ((dn + Rb) / dn) * ((2.0 * Ra * dn - ta2 * eb) / dn)
                bb = ((dn + Ra) / dn) * ((2.0 * Rb * dn - tb2 * ea) / dn)
                ga += w * (Ra / a) * (x * ((ba + p2) / sd))
                gb += w * (Rb / b) * (x * ((bb + p2) / sd))
            else:
                qa = (1.0 + 3.0 * Ra + xx * ra_d) + rb_d * ((dn + 3.0 * Ra) / dn)
                qb = (1.0 + 3.0 * Rb + xx * rb_d) + ra_d * ((dn + 3.0 * Rb) / dn)
                ga += w * (Ra * isg2[i]) * (x * (qa / sd))
                gb += w * (Rb * isg2[j]) * (x * (qb / sd))
                qc = ((dn + Ra) / dn) * ((dn + Rb) / dn) + p2
                gc += w * ((ra * isg[i]) * (rb[j] * isg[j])) * (qc / sd)
    c = rho * s  # the snapped covariance
    f = 0.25 * c + (0.5 * _INV_PI) * s * f
    g = 0.25 + (0.5 * _INV_PI) * g
    fc = 0.0
    if want_grad:
        h = (0.25 * _INV_PI) * _SQRT2
        fa = h * math.sqrt(b) * fa
        fb = h * math.sqrt(a) * fb
        if edge:  # along fixed rho: + G dc/da, dc/da = c / (2a)
            sa, sb = math.sqrt(a), math.sqrt(b)
            fa += g * (0.5 * rho) * (sb / sa)
            fb += g * (0.5 * rho) * (sa / sb)
            ga = (0.25 * _INV_PI) * ga
            gb = (0.25 * _INV_PI) * gb
        else:
            fc = g
            ga = -(0.5 * _INV_PI) * ga
            gb = -(0.5 * _INV_PI) * gb
            gc = _INV_PI * gc
    return f, g, fa, fb, fc, ga, gb, gc


@njit(cache=True, nogil=True, inline="always")
def closed_form_partials(code, prm, a, b, c, want_grad):
    """Return ``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of a closed-form activation.

    The partials are zero unless ``want_grad``. Where the correlation is
    exactly +-1 (or a variance is 0) it does not depend on any hyperparameter,
    and the partials that diverge there like ``1 / sin(theta)`` are returned as
    0, the limit of their contribution to the gradient.
    """
    fa = fb = fc = ga = gb = gc = 0.0
    if code == ELU:
        return elu_partials(prm[0], prm[1], a, b, c, want_grad)
    if code == IDENTITY:
        return c, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0
    if code == ERF:
        rho, _ = _rho(a, b, c)
        ra, ta = erf_point(a)
        rb, tb = erf_point(b)
        return erf_terms(rho, ra, ta, rb, tb, a, b, want_grad)
    if code == ERF_MIX:
        return mixture_partials(prm, a, b, c, want_grad)
    if code == SOFTPLUS_MIX:
        return softplus_partials(a, b, c, want_grad)
    if code == XERF_MIX:
        return xerf_partials(prm, a, b, c, want_grad)
    if code == SIN or code == COS:
        # e^{-(a+b)/2} (sinh c, cosh c) = h (+-(1 - e^{-2|c|}), 1 + e^{-2|c|})
        # with h = e^{-t/2} / 2 <= 1/2 (no overflow) and 1 - e^{-2|c|} by expm1
        # (no cancellation at small c: layer variances ~1e-300). The exponent
        # t = a + b - 2|c| = (sqrt(a) - sqrt(b))^2 + 2 sqrt(ab) (1 - |rho|) is
        # formed from the snapped correlation: >= 0, no overflow of a + b, and 0
        # for duplicate rows at any scale (raw a + b - 2|c| keeps the rounding
        # of c, ~eps a, which exp turns into 0 or inf at a ~ 1e300).
        rho, s = _rho(a, b, c)
        dsq = math.sqrt(max(a, 0.0)) - math.sqrt(max(b, 0.0))
        h = 0.5 * math.exp(-0.5 * (dsq * dsq + 2.0 * s * (1.0 - abs(rho))))
        d = -math.expm1(-2.0 * abs(c))
        sh, ch = math.copysign(h * d, c), h * (2.0 - d)
        if code == SIN:
            f, g = sh, ch
        else:
            f, g = ch, sh
        if want_grad:
            fa = fb = -0.5 * f
            ga = gb = -0.5 * g
            fc, gc = g, f
        return f, g, fa, fb, fc, ga, gb, gc

    # activations of the correlation angle
    rho, s = _rho(a, b, c)
    if code == RELU or code == ABRELU:
        if code == RELU:
            alpha, beta = 0.0, 1.0
        else:
            alpha, beta = prm[0], prm[1]
        ab_, dd = alpha * beta, (beta - alpha) ** 2
        if s == 0.0:
            # a zero-variance input keeps a = 0 (or b = 0) for every
            # hyperparameter, so every term of the gradient vanishes
            return ab_ * c, ab_ + 0.25 * dd, 0.0, 0.0, ab_ + 0.25 * dd, 0.0, 0.0, 0.0
        theta, sin_t = _angle(rho)
        k0 = (math.pi - theta) / _TWO_PI
        f = ab_ * c + dd * s * (sin_t + (math.pi - theta) * rho) / _TWO_PI
        g = ab_ + dd * k0
        if want_grad:
            fa = dd * math.sqrt(b / a) * sin_t / (2.0 * _TWO_PI)
            fb = dd * math.sqrt(a / b) * sin_t / (2.0 * _TWO_PI)
            fc = g
            if sin_t > 0.0:
                gc = dd / (_TWO_PI * s * sin_t)
                ga = -dd * rho / (2.0 * _TWO_PI * a * sin_t)
                gb = -dd * rho / (2.0 * _TWO_PI * b * sin_t)
        return f, g, fa, fb, fc, ga, gb, gc
    if code == STEP or code == SIGN:
        # G is a Dirac delta for these; finite networks have zero gradient
        # through them, so G = 0 (as neural-tangents does)
        if s == 0.0:
            return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
        theta, sin_t = _angle(rho)
        if code == STEP:
            f, scale = (math.pi - theta) / _TWO_PI, 1.0 / _TWO_PI
        else:
            f, scale = 1.0 - 2.0 * theta / math.pi, 2.0 / math.pi
        if want_grad and sin_t > 0.0:
            dfdrho = scale / sin_t
            fc = dfdrho / s
            fa = -dfdrho * rho / (2.0 * a)
            fb = -dfdrho * rho / (2.0 * b)
        return f, 0.0, fa, fb, fc, 0.0, 0.0, 0.0
    # ARCCOS of order n >= 2: F = s^n k_n, G = n^2 s^(n-1) k_(n-1)
    n = int(prm[0])
    if s == 0.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    theta, sin_t = _angle(rho)
    if rho < 0.0:
        kn, kn1, kn2 = _arccos_k_obtuse(n, rho, sin_t)
    else:
        kn, kn1, kn2 = _arccos_k(n, rho, theta, sin_t)
    sn1 = s ** (n - 1)
    f = sn1 * s * kn
    g = n * n * sn1 * kn1
    if want_grad:
        fc = g
        # d/da [s^n k_n(rho)] = s^n / (2a) (n k_n - rho k_n'), k_n' = n^2 k_(n-1)
        fa = sn1 * s / (2.0 * a) * (n * kn - rho * n * n * kn1)
        fb = sn1 * s / (2.0 * b) * (n * kn - rho * n * n * kn1)
        m = n - 1
        gc = n * n * m * m * s ** (n - 2) * kn2
        ga = n * n * sn1 / (2.0 * a) * (m * kn1 - rho * m * m * kn2)
        gb = n * n * sn1 / (2.0 * b) * (m * kn1 - rho * m * m * kn2)
    return f, g, fa, fb, fc, ga, gb, gc


@njit(cache=True, nogil=True)
def closed_form_diag(code, prm, q):
    """Return ``(V, W, dV/dq, dW/dq)`` of a closed-form activation at variance ``q``.

    Not for the ReLU family (:func:`relu_family_diag_values`) nor ELU
    (:func:`elu_diag_values`).
    """
    if code == ERF_MIX or code == SOFTPLUS_MIX or code == XERF_MIX:
        # the pair sum at rho = 1 (duplicates get these numbers)
        t = closed_form_partials(code, prm, q, q, q, True)
        return t[0], t[1], t[2] + t[3] + t[4], t[5] + t[6] + t[7]
    if code == ERF:
        # the pair form at rho = 1 (duplicates get the same numbers):
        # Dn = (1 + 4q) / (1 + 2q)^2, W = 4 / (pi sqrt(1 + 4q)) = 4/pi r^2 / sqrt(Dn)
        ra, ta = erf_point(q)
        arg, dn = erf_pair(1.0, ra, ra, ta, ta, 1.0)
        sdn = math.sqrt(dn)
        ra2 = ra * ra
        v = 2.0 / math.pi * math.atan2(arg, sdn)
        w = 4.0 / math.pi * ra2 / sdn
        # dV/dq = 2 V_a = 4 / (pi A sqrt(1 + 4q)); dW/dq = -8 / (pi (1 + 4q)^1.5)
        dv = w * ra2
        dw = -(w + w) * (ra2 / dn) * ra2
        return v, w, dv, dw
    if code == SIN:  # 1 - e^{-2q} by expm1: exact at tiny q
        e = math.exp(-2.0 * q)
        return -0.5 * math.expm1(-2.0 * q), 0.5 * (1.0 + e), e, -e
    if code == COS:
        e = math.exp(-2.0 * q)
        return 0.5 * (1.0 + e), -0.5 * math.expm1(-2.0 * q), -e, e
    if code == STEP or code == SIGN:
        if q <= 0.0:
            return 0.0, 0.0, 0.0, 0.0
        return (0.5 if code == STEP else 1.0), 0.0, 0.0, 0.0
    if code == ARCCOS:
        # the pair form at rho = 1, so that duplicate rows get the diagonal's
        # bits: V = F(q, q, q), dV/dq = F_a + F_b + F_c (likewise W)
        out = closed_form_partials(code, prm, q, q, q, True)
        return out[0], out[1], out[2] + out[3] + out[4], out[5] + out[6] + out[7]
    return q, 1.0, 1.0, 0.0  # IDENTITY


def relu_family_diag_values(code, prm, q):
    """``(V, W, dV/dq, dW/dq) = (m q, m, m, 0)`` of ``RELU``/``ABRELU`` at the
    variances ``q`` (numpy, nothing to compile): ``m = (alpha^2 + beta^2) / 2``
    for ``alpha min(x, 0) + beta max(x, 0)``, 1/2 for ReLU."""
    m = 0.5 if code == RELU else 0.5 * (prm[0] ** 2 + prm[1] ** 2)
    const = np.full(q.shape, m)
    return m * q, const, const, np.zeros(q.shape)


@njit(cache=True, nogil=True)
def closed_form_diag_values(code, prm, q):
    """Vectorised :func:`closed_form_diag` over an array of variances ``q``.

    Returns ``(V, W, dV/dq, dW/dq)``, arrays of the shape of ``q``. ELU/SELU
    (code ``ELU``) are :func:`elu_diag_values`, compiled apart so that the
    other activations do not compile the bivariate normal of their dual.
    """
    n = q.shape[0]
    v = np.empty(n)
    w = np.empty(n)
    dv = np.empty(n)
    dw = np.empty(n)
    for i in range(n):
        v[i], w[i], dv[i], dw[i] = closed_form_diag(code, prm, q[i])
    return v, w, dv, dw


@njit(cache=True, nogil=True)
def elu_diag_values(prm, q):
    """``(V, W, dV/dq, dW/dq)`` of ELU/SELU (``prm = (alpha, lam)``) at ``q``.

    At ``q <= 0`` the limits ``q -> 0``: ``V ~ lam^2 (1 + alpha^2) q / 2`` and
    ``W -> lam^2 (1 + alpha^2) / 2``; ``dW/dq`` diverges like ``q^(-1/2)``
    there, but only zero rows with ``sigma_b = 0`` reach it, and their
    derivatives all vanish.
    """
    n = q.shape[0]
    v = np.empty(n)
    w = np.empty(n)
    dv = np.empty(n)
    dw = np.empty(n)
    m = 0.5 * prm[1] ** 2 * (1.0 + prm[0] ** 2)
    for i in range(n):
        if q[i] <= 0.0:
            v[i], w[i], dv[i], dw[i] = 0.0, m, m, 0.0
            continue
        out = elu_partials(prm[0], prm[1], q[i], q[i], q[i], True)
        v[i], w[i] = out[0], out[1]
        dv[i] = out[2] + out[3] + out[4]
        dw[i] = out[5] + out[6] + out[7]
    return v, w, dv, dw


class ActivationSpec:
    """How the recursion evaluates one activation.

    Attributes
    ----------
    name : str
    code : int
        ``SERIES`` or the integer code of a closed form.
    prm : ndarray of shape (N_PRM,)
        Parameters of a closed form (e.g. the two slopes of ``ABRELU``).
    funcs : tuple or None
        ``(phi, phi', phi'', phi''')`` as vectorised numpy functions for
        activations evaluated by the Hermite series; the last entries may be
        None, in which case the series engine derives them by Stein's identity.
    kink : bool
        Whether ``phi`` or a derivative the series needs has a kink at 0.
    mixture : ActivationSpec or None
        For a series activation with an exact closed form at large variance
        (tanh, sigmoid: the scale mixture ``ERF_MIX``; softplus
        ``SOFTPLUS_MIX``; gelu, swish ``XERF_MIX``), that closed form.
    series_max_variance : float
        With ``mixture``: the largest layer variance at which the series is
        used (the engine evaluates every layer of a call by the mixture when
        one of its variances exceeds it).
    """

    def __init__(self, name, code, prm=(), funcs=None, kink=False, mixture=None,
                 series_max_variance=math.inf):  # fmt: skip
        self.name = name
        self.kink = kink
        self.code = code
        self.prm = np.zeros(N_PRM)
        self.prm[: len(prm)] = prm
        self.funcs = funcs
        self.mixture = mixture
        self.series_max_variance = float(series_max_variance)


def diag_values(code, prm, q):
    """``(V, W, dV/dq, dW/dq)`` of any closed-form activation at the variances
    ``q`` (1-D float64), dispatched to the one implementation of its family:
    :func:`relu_family_diag_values` (numpy), :func:`elu_diag_values` or
    :func:`closed_form_diag_values` (compiled). The one entry point of the
    engine's diagonal recursion and of the registry's scalar maps."""
    if code == RELU or code == ABRELU:
        return relu_family_diag_values(code, prm, q)
    if code == ELU:
        return elu_diag_values(prm, q)
    return closed_form_diag_values(code, prm, q)
