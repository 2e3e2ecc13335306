"""Series activations at large layer variance: values, gradients and warnings.

The reference is independent of sknnk: the dual activations
``E[phi(u) phi(v)]`` and ``E[phi'(u) phi'(v)]`` by nested composite
Gauss-Legendre quadrature in the pre-activations themselves (unit-width
panels where ``phi`` bends, coarse panels over the Gaussian's range), the
layer recursion written out by hand, and gradients in ``log sigma`` by a
five-point central difference of that reference recursion. The activations are
written here again (not taken from sknnk).
"""

import math
import warnings

import numpy as np
import pytest
from scipy import special
from sklearn.gaussian_process import GaussianProcessRegressor

from sknnk import NNGPKernel, NTKKernel
from sknnk.activations import Custom

# ---------------------------------------------------------------------------
# the reference
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_LIM = 12.0  # Gaussian range in standard deviations (exp(-72) beyond)


def _tanh(x):
    return np.tanh(x)


def _dtanh(x):
    e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def _gelu(x):
    return x * special.ndtr(x)


def _dgelu(x):
    return special.ndtr(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _softplus(x):
    return np.logaddexp(0.0, x)


def _swish(x):
    return x * special.expit(x)


def _dswish(x):
    s = special.expit(x)
    return s + x * s * (1.0 - s)


def _dsigmoid(x):
    s = special.expit(x)
    return s * (1.0 - s)


_C = math.sqrt(2.0 / math.pi)


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(_C * (x + 0.044715 * x**3)))


def _dgelu_tanh(x):
    t = np.tanh(_C * (x + 0.044715 * x**3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _C * (1.0 + 0.134145 * x * x)


def _relu4(x):
    return np.maximum(x, 0.0) ** 4


def _drelu4(x):
    return 4.0 * np.maximum(x, 0.0) ** 3


#: activation -> (phi, phi') of the reference
REFERENCE = {
    "tanh": (_tanh, _dtanh),
    "sigmoid": (special.expit, _dsigmoid),
    "softplus": (_softplus, special.expit),
    "swish": (_swish, _dswish),
    "gelu": (_gelu, _dgelu),
    "gelu_tanh": (_gelu_tanh, _dgelu_tanh),
    "arccos4": (_relu4, _drelu4),
}


def _gauss(m, s):
    """Nodes ``x = m + s t`` and weights for ``E[f(x)]``, ``x ~ N(m, s^2)``:
    Gauss-Legendre panels in the standardized ``t`` on ``[-12, 12]``, with
    unit panels in ``x`` on ``|x| <= 40`` (where the activations bend; 0 is
    an edge, for kinks) and 24 panels over the whole range. Working in ``t``
    keeps the Gaussian weights exact when ``s`` is tiny (``rho -> 1``)."""
    fine = (np.arange(-40.0, 41.0) - m) / s
    edges = np.unique(np.concatenate([fine, np.linspace(-_LIM, _LIM, 25)]))
    edges = edges[(edges >= -_LIM) & (edges <= _LIM)]
    left, right = edges[:-1], edges[1:]
    half = 0.5 * (right - left)
    t = ((0.5 * (left + right))[:, None] + half[:, None] * _GL_X).ravel()
    w = (half[:, None] * _GL_W).ravel() * np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    return m + s * t, w


def quad_dual(phi, dphi, a, b, c):
    """``(F, G)`` at the covariance ``[[a, c], [c, b]]`` by nested quadrature:
    ``u ~ N(0, a)`` outside, ``v | u ~ N(c u / a, b - c^2 / a)`` inside."""
    u, wu = _gauss(0.0, math.sqrt(a))
    s = math.sqrt(max(b - c * c / a, 0.0))
    F = G = 0.0
    pu, du = phi(u), dphi(u)
    for k in range(u.size):
        m = c * u[k] / a
        if s < 1e-15 * math.sqrt(b):
            fv, gv = float(phi(np.array([m]))[0]), float(dphi(np.array([m]))[0])
        else:
            v, wv = _gauss(m, s)
            fv, gv = wv @ phi(v), wv @ dphi(v)
        F += wu[k] * pu[k] * fv
        G += wu[k] * du[k] * gv
    return F, G


def quad_variance(phi, q):
    """``E[phi(u)^2]``, ``u ~ N(0, q)``, by 1-D quadrature."""
    u, w = _gauss(0.0, math.sqrt(q))
    return float(w @ phi(u) ** 2)


def reference_kernels(x, y, act, depth, sigma_w, sigma_b):
    """``(NNGP, NTK)`` of the pair ``(x, y)`` by the layer recursion (NTK
    parameterization) with :func:`quad_dual` at every layer."""
    phi, dphi = REFERENCE[act]
    d = x.size
    sw2, sb2 = sigma_w**2, sigma_b**2
    qx = sw2 * (x @ x) / d + sb2
    qy = sw2 * (y @ y) / d + sb2
    s = sw2 * (x @ y) / d + sb2
    t = s
    for _ in range(depth):
        if np.array_equal(x, y):
            F, G = quad_dual(phi, dphi, qx, qx, qx)
        else:
            F, G = quad_dual(phi, dphi, qx, qy, s)
        s, t = sw2 * F + sb2, sw2 * F + sb2 + sw2 * G * t
        qx = sw2 * quad_variance(phi, qx) + sb2
        qy = sw2 * quad_variance(phi, qy) + sb2
    return s, t


def reference_gradient(x, y, act, depth, sigma_w, sigma_b, ntk, h=2.5e-4):
    """``(d/dlog sigma_w, d/dlog sigma_b)`` of the reference kernel by the
    five-point central difference: truncation ``h^4 k^(5) / 30`` (k^(5) up to
    ~1e5 k for ArcCosine(4), homogeneous of degree 10 in sigma_w at depth 1)
    and rounding ``~1e-15 k / h``, both ~1e-11 relative at ``h = 2.5e-4``."""
    out = []
    for which in ("w", "b"):

        def k(e, which=which):
            sw = sigma_w * math.exp(e) if which == "w" else sigma_w
            sb = sigma_b * math.exp(e) if which == "b" else sigma_b
            return reference_kernels(x, y, act, depth, sw, sb)[int(ntk)]

        out.append((8 * (k(h) - k(-h)) - (k(2 * h) - k(-2 * h))) / (12 * h))
    return np.array(out)


#: share of the bias in the layer-0 variance of the grid points
BIAS_SHARE = 1e-3


def _pair(q, rho, d=2):
    """Two inputs and ``(sigma_w, sigma_b)``: layer-0 variances ``q`` and
    correlation ``rho`` (``sigma_w = 1``, ``sigma_b^2 = BIAS_SHARE q``; the
    bias keeps the correlation above ``-1 + 2 BIAS_SHARE``, reached by
    ``y = -x``)."""
    sigma_b = math.sqrt(BIAS_SHARE * q)
    g = q * (1.0 - BIAS_SHARE)  # |x|^2 / d
    r = math.sqrt(g * d)
    cos = max((rho - BIAS_SHARE) / (1.0 - BIAS_SHARE), -1.0)
    x = np.array([r, 0.0])
    y = r * np.array([cos, math.sqrt(max(1.0 - cos * cos, 0.0))])
    return x, y, 1.0, sigma_b


def _errors(act, q, rho, ntk, depth=1):
    """Errors of the value and of both log-gradients of the entry of
    :func:`_pair` at depth ``depth``, relative to ``sqrt(k(x, x) k(y, y))``
    (the reference's; a log-derivative has the units of the kernel)."""
    from sknnk.activations import ArcCosine

    activation = ArcCosine(4) if act == "arccos4" else act
    x, y, sigma_w, sigma_b = _pair(q, rho)
    cls = NTKKernel if ntk else NNGPKernel
    kernel = cls(depth=depth, activation=activation, sigma_w=sigma_w, sigma_b=sigma_b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        K, dK = kernel(np.vstack([x, y]), eval_gradient=True)
    ref = reference_kernels(x, y, act, depth, sigma_w, sigma_b)[int(ntk)]
    rxx = reference_kernels(x, x, act, depth, sigma_w, sigma_b)[int(ntk)]
    ryy = reference_kernels(y, y, act, depth, sigma_w, sigma_b)[int(ntk)]
    scale = math.sqrt(rxx * ryy)
    e_value = abs(K[0, 1] - ref) / scale
    g = reference_gradient(x, y, act, depth, sigma_w, sigma_b, ntk)
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    e_grad = [
        abs(dK[0, 1, names.index(f"sigma_{p}")] - g[i]) / scale
        for i, p in enumerate("wb")
    ]
    return e_value, e_grad


# ---------------------------------------------------------------------------
# the reference itself, against closed forms (erf: F = 2/pi arcsin(...))
def test_reference_quadrature_against_erf_closed_form():
    def derf(x):
        return 2.0 / math.sqrt(math.pi) * np.exp(-x * x)

    for a, b, rho in [(0.01, 0.02, 0.5), (38.0, 40.0, 0.999), (1e3, 1e3, -0.9)]:
        c = rho * math.sqrt(a * b)
        F, G = quad_dual(special.erf, derf, a, b, c)
        D = (1 + 2 * a) * (1 + 2 * b)
        assert F == pytest.approx(
            2 / math.pi * math.asin(2 * c / math.sqrt(D)), abs=1e-13
        )
        assert G == pytest.approx(4 / math.pi / math.sqrt(D - 4 * c * c), rel=1e-11)


# ---------------------------------------------------------------------------
# issue 13, item 3: tanh at first-layer variance 38 (was 6.6e-6 off)
def test_tanh_ntk_at_variance_38():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 3))
    X *= math.sqrt(3 * 18.5) / np.linalg.norm(X, axis=1)[:, None]
    X[1] *= 1.02
    kernel = NTKKernel(depth=2, activation="tanh", sigma_w=math.sqrt(2.0), sigma_b=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # accurate: no truncation warning
        K, dK = kernel(X, eval_gradient=True)
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    for i, j in [(0, 1), (0, 2), (1, 1)]:
        args = (X[i], X[j], "tanh", 2, math.sqrt(2.0), 1.0)
        ref = reference_kernels(*args)[1]
        scale = math.sqrt(
            reference_kernels(X[i], X[i], *args[2:])[1]
            * reference_kernels(X[j], X[j], *args[2:])[1]
        )
        assert abs(K[i, j] - ref) <= 1e-9 * scale
        g = reference_gradient(*args, ntk=True)
        for col, p in enumerate("wb"):
            got = dK[i, j, names.index(f"sigma_{p}")]
            assert abs(got - g[col]) <= 1e-9 * abs(g[col]) + 1e-9 * scale


# ---------------------------------------------------------------------------
# issue 13, item 2: gelu NTK at sigma_w = 20 (gradient 1.9e11 vs 5.4e8)
def _central(kernel, X, name, h=1e-4):
    names = [hp.name for hp in kernel.hyperparameters if not hp.fixed]
    j = names.index(name)
    out = []
    for s in (h, -h, 2 * h, -2 * h):
        theta = kernel.theta.copy()
        theta[j] += s
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out.append(kernel.clone_with_theta(theta)(X))
    return (8 * (out[0] - out[1]) - (out[2] - out[3])) / (12 * h)


@pytest.mark.parametrize("sigma_w", [10.0, 20.0])
def test_gradient_beyond_the_accurate_range_is_refused(sigma_w):
    # the layer variances reach ~1e4-1e5: the series cannot resolve phi''
    # (mish, a series activation at every variance; softplus, gelu and swish
    # take their closed forms there: tests/test_softplus_mixture.py and
    # tests/test_xerf.py)
    X = np.random.default_rng(0).normal(size=(12, 4))
    kernel = NTKKernel(depth=2, activation="mish", sigma_w=sigma_w, sigma_b=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (the values' bound)
        with pytest.raises(ValueError, match="gradient.*standardize X"):
            kernel(X, eval_gradient=True)


@pytest.mark.parametrize("act", ["gelu", "swish", "softplus"])
def test_gradient_where_accepted_matches_differences(act):
    # sigma_w = 3: layer variances up to ~100; the returned gradient is within
    # the stated bound of central differences of the values
    X = np.random.default_rng(0).normal(size=(12, 4))
    kernel = NTKKernel(depth=2, activation=act, sigma_w=3.0, sigma_b=1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        K, dK = kernel(X, eval_gradient=True)
    assert not caught
    for col, hp in enumerate(h for h in kernel.hyperparameters if not h.fixed):
        fd = _central(kernel, X, hp.name)
        scale = np.sqrt(np.outer(np.diag(np.abs(fd)), np.diag(np.abs(fd))))
        assert np.max(np.abs(dK[:, :, col] - fd) / scale) < 1e-8


# ---------------------------------------------------------------------------
# values and gradients against the reference, a few points (fast) and a grid
FAST = [
    ("tanh", 38.0, 0.999, True),
    ("tanh", 0.01, -1 + 1e-12, True),
    ("gelu", 50.0, 0.5, True),
    ("softplus", 30.0, 1 - 1e-12, False),
    ("arccos4", 2.0, 0.9, True),
]


@pytest.mark.parametrize("act,q,rho,ntk", FAST)
def test_values_and_gradients_against_quadrature(act, q, rho, ntk):
    e_value, e_grad = _errors(act, q, rho, ntk)
    assert e_value < 1e-9 and max(e_grad) < 1e-9, (e_value, e_grad)


#: variances where every series activation is accurate to 1e-9 (measured by
#: benchmarks/series_error_map.py)
ACCURATE_UP_TO = {
    "tanh": 38.0,
    "sigmoid": 100.0,
    "softplus": 100.0,
    "swish": 100.0,
    "gelu": 100.0,
    "gelu_tanh": 38.0,
    "arccos4": 10.0,
}


@pytest.mark.slow
@pytest.mark.parametrize("act", sorted(ACCURATE_UP_TO))
def test_grid_against_quadrature(act):
    worst = 0.0
    for q in (1.0, ACCURATE_UP_TO[act]):
        for rho in (-1.0, 0.9, 1 - 1e-12):
            e_value, e_grad = _errors(act, q, rho, ntk=True)
            worst = max(worst, e_value, *e_grad)
    assert worst < 1e-9, worst


# ---------------------------------------------------------------------------
# warnings: at most once per configuration, only above 1e-7, at the user's line
def _big_inputs():
    return np.random.default_rng(1).normal(size=(6, 3)) * 30.0


#: softplus as a user callable: a series activation at every variance (the
#: named "softplus", tanh and sigmoid no longer warn: their closed forms take
#: over beyond the series range)
SERIES_SOFTPLUS = Custom(_softplus, derivative=special.expit)


def test_warning_once_names_the_user_line_and_the_fix():
    from sknnk._numerics import series

    series.reset_warnings()
    kernel = NNGPKernel(depth=2, activation=SERIES_SOFTPLUS, sigma_w=3.0)
    X = _big_inputs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kernel(X)
        kernel(X)
        kernel(X * 1.01)
    assert len(caught) == 1, [str(w.message) for w in caught]
    w = caught[0]
    assert w.filename == __file__
    message = str(w.message)
    assert "standardize X" in message and "sigma_w" in message
    bound = float(message.split("bounded by ")[1].split()[0])
    assert bound > series.WARN_BOUND


def test_warning_inside_gpr_fit_points_outside_the_libraries():
    from sknnk._numerics import series

    series.reset_warnings()
    X = _big_inputs()
    y = np.sin(X[:, 0])
    kernel = NNGPKernel(
        depth=2, activation=SERIES_SOFTPLUS, sigma_w=3.0, sigma_w_bounds="fixed",
        sigma_b_bounds="fixed",
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GaussianProcessRegressor(kernel, alpha=1e-3).fit(X, y)
    ours = [w for w in caught if "Hermite" in str(w.message)]
    assert len(ours) == 1
    assert ours[0].filename == __file__


def test_no_warning_below_the_threshold():
    X = np.random.default_rng(2).normal(size=(10, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for act in ("tanh", "gelu", "softplus", "swish", "sigmoid", "gelu_tanh"):
            NTKKernel(depth=3, activation=act)(X, eval_gradient=True)
