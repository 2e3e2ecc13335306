"""Independent, deliberately naive reference implementations for the sknnk tests.

Pure numpy/scipy; this module never imports sknnk (nor sklearn), so the tests compare
sknnk with code written separately from it. Conventions: NTK parameterization,
``depth`` = number of hidden layers, readout included, all weights and biases iid
N(0, 1); ``h1 = sw/sqrt(d) W1 x + sb b1``, ``h(l+1) = sw/sqrt(n) W(l+1) phi(h(l)) +
sb b(l+1)``, ``f(x) = h(L+1)``. Kernel recursion: ``S0 = sw^2 x.x'/d + sb^2``,
``T0 = S0``, ``S(l+1) = sw^2 F(S(l)) + sb^2``, ``T(l+1) = S(l+1) + sw^2 G(S(l)) T(l)``;
NNGP = S(L), NTK = T(L). Obvious correctness is preferred to speed throughout.
"""

import functools

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy import special


def _npdf(x):
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _dsigmoid(x):
    return special.expit(x) * (1.0 - special.expit(x))


def _dswish(x):
    s = special.expit(x)
    return s + x * s * (1.0 - s)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _delu(x):
    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0)))


ACTIVATIONS = {
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
    "erf": (special.erf, lambda x: 2.0 / np.sqrt(np.pi) * np.exp(-x * x)),
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "identity": (lambda x: 1.0 * x, lambda x: np.ones_like(x, dtype=float)),
    "sigmoid": (special.expit, _dsigmoid),
    "softplus": (lambda x: np.logaddexp(0.0, x), special.expit),
    "gelu": (lambda x: x * special.ndtr(x), lambda x: special.ndtr(x) + x * _npdf(x)),
    "swish": (lambda x: x * special.expit(x), _dswish),
    "elu": (_elu, _delu),
    "leaky_relu_0.1": (
        lambda x: np.where(x > 0, x, 0.1 * x),
        lambda x: np.where(x > 0, 1.0, 0.1),
    ),
    "sin": (np.sin, np.cos),
    "selu": (
        lambda x: (
            1.0507009873554805
            * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0.0)))
        ),
        lambda x: (
            1.0507009873554805
            * np.where(x > 0, 1.0, 1.6732632423543772 * np.exp(np.minimum(x, 0.0)))
        ),
    ),
    "gelu_tanh": (
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        lambda x: (
            0.5 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
            + 0.5
            * x
            * (1 - np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)) ** 2)
            * np.sqrt(2 / np.pi)
            * (1 + 3 * 0.044715 * x * x)
        ),
    ),
    "step": (lambda x: (x > 0).astype(float), lambda x: np.zeros_like(x)),
    "sign": (np.sign, lambda x: np.zeros_like(x)),
    "arccos2": (
        lambda x: np.maximum(x, 0.0) ** 2,
        lambda x: 2 * np.maximum(x, 0.0),
    ),
    "arccos3": (
        lambda x: np.maximum(x, 0.0) ** 3,
        lambda x: 3 * np.maximum(x, 0.0) ** 2,
    ),
    "arccos4": (
        lambda x: np.maximum(x, 0.0) ** 4,
        lambda x: 4 * np.maximum(x, 0.0) ** 3,
    ),
    "cos": (np.cos, lambda x: -np.sin(x)),
    "abs": (np.abs, np.sign),
}
"""dict: activation name -> ``(phi, dphi)``, vectorised numpy callables.

``gelu`` is the exact ``x Phi(x)``, ``swish`` is ``x sigmoid(x)``, ``elu`` has alpha 1,
``leaky_relu_0.1`` has negative slope 0.1; at a kink ``dphi(0)`` is the left derivative
(0 for relu, 0.1 for leaky_relu_0.1) and ``sign(0) = 0`` for abs.
"""


def _resolve(phi, dphi=None):
    """Return ``(phi, dphi)``, looked up in `ACTIVATIONS` when ``phi`` is a name."""
    if isinstance(phi, str):
        return ACTIVATIONS[phi]
    return phi, dphi


@functools.lru_cache(maxsize=None)
def _gh_nodes(n_nodes):
    z, w = hermegauss(n_nodes)
    return z, w / np.sqrt(2.0 * np.pi)


def gauss_hermite_dual(phi, dphi, a, b, c, n_nodes=160):
    """Dual activations ``(F, G)`` by 2-D Gauss-Hermite quadrature.

    ``F = E[phi(u) phi(v)]``, ``G = E[dphi(u) dphi(v)]`` for ``(u, v) ~ N(0, [[a, c],
    [c, b]])``, with probabilists' Gauss-Hermite (``n_nodes`` per dimension, weights
    divided by ``sqrt(2 pi)``) on the Cholesky map ``u = sqrt(a) z1``, ``v = c/sqrt(a)
    z1 + sqrt(max(b - c^2/a, 0)) z2`` (``u = 0``, ``v = sqrt(b) z2`` when ``a == 0``);
    ``a, b, c`` may be broadcastable arrays, evaluated one entry at a time. Converges
    fast only for smooth ``phi`` at moderate variance (tanh: ~1e-8 at 200 nodes); for
    kinked activations (relu, abs, leaky relu) the error stays around 1e-3.
    """
    z, w = _gh_nodes(n_nodes)
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    w2 = np.outer(w, w)
    a, b, c = np.broadcast_arrays(*(np.asarray(t, dtype=float) for t in (a, b, c)))
    F, G = np.empty(a.shape), np.empty(a.shape)
    for idx in np.ndindex(a.shape):
        ai, bi, ci = a[idx], b[idx], c[idx]
        if ai > 0:
            u = np.sqrt(ai) * z1
            v = ci / np.sqrt(ai) * z1 + np.sqrt(max(bi - ci * ci / ai, 0.0)) * z2
        else:
            u = np.zeros_like(z1)
            v = np.sqrt(max(bi, 0.0)) * z2
        F[idx] = np.sum(w2 * phi(u) * phi(v))
        G[idx] = np.sum(w2 * dphi(u) * dphi(v))
    return F[()], G[()]


def _gh_variance(phi, q, n_nodes=160):
    """Return ``E[phi(sqrt(q) z)^2]`` for every entry of ``q`` (1-D Gauss-Hermite)."""
    z, w = _gh_nodes(n_nodes)
    q = np.asarray(q, dtype=float)
    vals = [np.sum(w * phi(np.sqrt(max(qi, 0.0)) * z) ** 2) for qi in q.ravel()]
    return np.array(vals).reshape(q.shape)


def _as2d(X):
    X = np.asarray(X, dtype=float)
    return X[:, None] if X.ndim == 1 else X


def _recursion(X, Y, dual, variance, depth, sigma_w, sigma_b, width=None):
    """Run the layer recursion and return ``(nngp, ntk)``.

    ``dual(a, b, c) -> (F, G)`` is applied to every entry, ``variance(q) -> V(q)``
    propagates the per-point variances ``S_l(x, x)``. With an integer ``width`` the NTK
    is the standard-parameterization one: ``T0 = x.x' + 1``, ``T(l+1) = width F +
    sw^2 G T(l) + 1``.
    """
    X = _as2d(X)
    Y = X if Y is None else _as2d(Y)
    d = X.shape[1]
    sw2, sb2 = float(sigma_w) ** 2, float(sigma_b) ** 2
    qx = sw2 * np.sum(X * X, axis=1) / d + sb2
    qy = sw2 * np.sum(Y * Y, axis=1) / d + sb2
    S = sw2 * (X @ Y.T) / d + sb2
    T = S.copy() if width is None else X @ Y.T + 1.0
    for _ in range(depth):
        F, G = dual(qx[:, None], qy[None, :], S)
        S_next = sw2 * F + sb2
        if width is None:
            T = S_next + sw2 * G * T
        else:
            T = width * F + sw2 * G * T + 1.0
        S = S_next
        qx = sw2 * variance(qx) + sb2
        qy = sw2 * variance(qy) + sb2
    return S, T


def quadrature_kernels(X, Y, phi, dphi, depth, sigma_w, sigma_b, n_nodes=160):
    """NNGP and NTK matrices ``(nngp, ntk)``, shape ``(n_X, n_Y)``, by quadrature.

    Every entry at every layer uses `gauss_hermite_dual`; the per-point variances use
    the 1-D recursion ``q <- sw^2 E[phi(sqrt(q) z)^2] + sb^2`` with 1-D Gauss-Hermite.
    ``Y=None`` means ``Y = X``; ``phi`` may also be a name from `ACTIVATIONS` (then
    ``dphi`` is ignored).
    """
    phi, dphi = _resolve(phi, dphi)

    def dual(a, b, c):
        return gauss_hermite_dual(phi, dphi, a, b, c, n_nodes)

    def variance(q):
        return _gh_variance(phi, q, n_nodes)

    return _recursion(X, Y, dual, variance, depth, sigma_w, sigma_b)


def closed_form_dual(activation, a, b, c):
    """Closed-form dual activations ``(F, G)`` for relu, erf and identity.

    Written by hand from MATH.md section 2, broadcasting over arrays. relu (arc-cosine):
    ``F = sqrt(ab) (sin t + (pi - t) rho) / (2 pi)``, ``G = (pi - t) / (2 pi)``, ``rho =
    c / sqrt(ab)`` (``rho = 0`` where ``ab == 0``), ``t = arccos(rho)``. erf: ``F = 2/pi
    arcsin(2c / sqrt((1+2a)(1+2b)))``, ``G = 4/pi ((1+2a)(1+2b) - 4c^2)^(-1/2)``.
    identity: ``F = c``, ``G = 1``.
    """
    a, b, c = np.broadcast_arrays(*(np.asarray(t, dtype=float) for t in (a, b, c)))
    if activation == "identity":
        return c.copy(), np.ones_like(c)
    if activation == "relu":
        sqab = np.sqrt(a * b)
        rho = np.where(sqab > 0, c / np.where(sqab > 0, sqab, 1.0), 0.0)
        t = np.arccos(np.clip(rho, -1.0, 1.0))
        F = sqab * (np.sin(t) + (np.pi - t) * rho) / (2.0 * np.pi)
        G = (np.pi - t) / (2.0 * np.pi)
        return F, G
    if activation == "erf":
        D = (1.0 + 2.0 * a) * (1.0 + 2.0 * b)
        F = 2.0 / np.pi * np.arcsin(2.0 * c / np.sqrt(D))
        G = 4.0 / np.pi / np.sqrt(D - 4.0 * c * c)
        return F, G
    raise ValueError(f"no closed form for {activation!r}")


def _closed_form_recursion(X, Y, activation, depth, sigma_w, sigma_b, width=None):
    def dual(a, b, c):
        return closed_form_dual(activation, a, b, c)

    def variance(q):
        return closed_form_dual(activation, q, q, q)[0]

    return _recursion(X, Y, dual, variance, depth, sigma_w, sigma_b, width)


def closed_form_kernels(X, Y, activation, depth, sigma_w, sigma_b):
    """NNGP and NTK matrices ``(nngp, ntk)``, shape ``(n_X, n_Y)``, in closed form.

    ``activation`` is ``"relu"``, ``"erf"`` or ``"identity"``; every entry uses
    `closed_form_dual` and the per-point variances use the same formulas at
    ``a = b = c = q``. ``Y=None`` means ``Y = X``.
    """
    return _closed_form_recursion(X, Y, activation, depth, sigma_w, sigma_b)


def standard_param_ntk(X, Y, activation, depth, sigma_w, sigma_b, width):
    """Standard-parameterization NTK, shape ``(n_X, n_Y)``, in closed form.

    MATH.md section 1: ``T0 = x.x' + 1``, ``T(l+1) = width F(S(l)) + sw^2 G(S(l)) T(l)
    + 1`` with ``S`` from the NTK-parameterization recursion; the ``+ 1`` is the trained
    bias, present even when ``sigma_b = 0``. ``activation`` is relu, erf or identity.
    """
    return _closed_form_recursion(
        X, Y, activation, depth, sigma_w, sigma_b, width=width
    )[1]


# --------------------------------------------------------------------------------------
# Literal finite networks
# --------------------------------------------------------------------------------------


def _scales(n_in, sigma_w, sigma_b, parameterization):
    """Forward multipliers ``(cw, cb)`` of a Dense layer ``z = cw W a + cb b``."""
    if parameterization == "ntk":
        return float(sigma_w) / np.sqrt(n_in), float(sigma_b)
    if parameterization == "standard":
        return 1.0, 1.0
    raise ValueError(parameterization)


def init_network(d, depth, width, sigma_w, sigma_b, rng, parameterization="ntk"):
    """Random network as a list of ``(W, b)``, ``W`` of shape ``(n_out, n_in)``.

    ``depth`` hidden layers of ``width`` units and a scalar readout; entries are N(0, 1)
    for ``"ntk"``, and ``W ~ N(0, sw^2 / n_in)``, ``b ~ N(0, sb^2)`` for ``"standard"``.
    ``rng`` is a seed or a numpy Generator.
    """
    rng = np.random.default_rng(rng)
    dims = [d] + [width] * depth + [1]
    layers = []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        W, b = rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
        if parameterization == "standard":
            W, b = W * (sigma_w / np.sqrt(n_in)), b * sigma_b
        layers.append((W, b))
    return layers


def network_forward(layers, X, phi, sigma_w, sigma_b, parameterization="ntk"):
    """Forward pass, returning ``(f, inputs, pre)``.

    ``f`` has shape ``(m,)`` (one output per row of ``X``); ``inputs[k]`` (``(m,
    n_in)``) and ``pre[k]`` (``(m, n_out)``) are the input and pre-activation of layer
    ``k``. ``phi`` follows every layer except the readout.
    """
    A, inputs, pre = _as2d(X), [], []
    for k, (W, b) in enumerate(layers):
        cw, cb = _scales(W.shape[1], sigma_w, sigma_b, parameterization)
        H = cw * (A @ W.T) + cb * b
        inputs.append(A)
        pre.append(H)
        A = phi(H) if k < len(layers) - 1 else H
    return A[:, 0], inputs, pre


def _backprop(layers, X, phi, dphi, sigma_w, sigma_b, parameterization):
    """Return ``(f, inputs, deltas)``, ``deltas[k] = d f / d pre[k]`` per input row."""
    f, inputs, pre = network_forward(layers, X, phi, sigma_w, sigma_b, parameterization)
    deltas = [None] * len(layers)
    D = np.ones((len(f), 1))
    for k in reversed(range(len(layers))):
        deltas[k] = D
        if k > 0:
            W = layers[k][0]
            cw, _ = _scales(W.shape[1], sigma_w, sigma_b, parameterization)
            D = dphi(pre[k - 1]) * (cw * (D @ W))
    return f, inputs, deltas


def flatten_params(layers):
    """Concatenate ``W1.ravel(), b1, W2.ravel(), b2, ...`` into one vector."""
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in layers])


def unflatten_params(theta, like):
    """Inverse of `flatten_params`, taking the shapes from the layer list ``like``."""
    layers, pos = [], 0
    for W, b in like:
        Wn = np.array(theta[pos : pos + W.size]).reshape(W.shape)
        pos += W.size
        layers.append((Wn, np.array(theta[pos : pos + b.size])))
        pos += b.size
    return layers


def network_jacobian(layers, X, phi, dphi, sigma_w, sigma_b, parameterization="ntk"):
    """Explicit Jacobian ``d f(X) / d theta``, shape ``(m, P)``, by manual backprop.

    Columns follow `flatten_params`: ``df/dW[k] = cw delta[k] (outer) input[k]`` and
    ``df/db[k] = cb delta[k]``.
    """
    f, inputs, deltas = _backprop(
        layers, X, phi, dphi, sigma_w, sigma_b, parameterization
    )
    blocks = []
    for (W, _), A, D in zip(layers, inputs, deltas):
        cw, cb = _scales(W.shape[1], sigma_w, sigma_b, parameterization)
        blocks.append((cw * D[:, :, None] * A[:, None, :]).reshape(len(f), -1))
        blocks.append(cb * D)
    return np.concatenate(blocks, axis=1)


def _empirical_ntk(X, phi, dphi, depth, sigma_w, sigma_b, width, rng, param):
    """``J J^T`` of one new random net, accumulated block by block.

    The ``W[k]`` block of ``J J^T`` is ``cw^2 (D D^T) * (A A^T)`` and the ``b[k]`` block
    is ``cb^2 D D^T`` (``D = deltas[k]``, ``A = inputs[k]``); ``J`` is never formed.
    """
    phi, dphi = _resolve(phi, dphi)
    X = _as2d(X)
    layers = init_network(X.shape[1], depth, width, sigma_w, sigma_b, rng, param)
    _, inputs, deltas = _backprop(layers, X, phi, dphi, sigma_w, sigma_b, param)
    K = np.zeros((len(X), len(X)))
    for (W, _), A, D in zip(layers, inputs, deltas):
        cw, cb = _scales(W.shape[1], sigma_w, sigma_b, param)
        K += cw**2 * (D @ D.T) * (A @ A.T) + cb**2 * (D @ D.T)
    return K


def empirical_ntk(X, phi, dphi, depth, sigma_w, sigma_b, width, seed):
    """Empirical NTK ``J J^T``, shape ``(n, n)``, of ONE random NTK-param network.

    ``J`` is the gradient of ``f(X)`` with respect to all N(0, 1) weights and biases of
    a network of the given ``width`` (manual backprop); ``phi`` may be a name.
    """
    rng = np.random.default_rng(seed)
    return _empirical_ntk(X, phi, dphi, depth, sigma_w, sigma_b, width, rng, "ntk")


def empirical_ntk_standard(X, phi, dphi, depth, sigma_w, sigma_b, width, seed):
    """Empirical NTK ``J J^T`` of ONE random standard-parameterization network.

    Every layer including the readout is ``z = W a + b`` with ``W ~ N(0, sw^2 / n_in)``
    and ``b ~ N(0, sb^2)`` trained directly; ``phi`` may be a name.
    """
    rng = np.random.default_rng(seed)
    return _empirical_ntk(X, phi, dphi, depth, sigma_w, sigma_b, width, rng, "standard")


def mean_empirical_ntk(
    X, phi, dphi, depth, sigma_w, sigma_b, width, n_nets, seed, parameterization="ntk"
):
    """Mean and standard error ``(mean, stderr)`` of ``J J^T`` over ``n_nets`` nets.

    ``stderr`` is the sample standard deviation (``ddof=1``) over ``sqrt(n_nets)``;
    ``parameterization`` is ``"ntk"`` or ``"standard"``.
    """
    rng = np.random.default_rng(seed)
    Ks = np.array(
        [
            _empirical_ntk(
                X, phi, dphi, depth, sigma_w, sigma_b, width, rng, parameterization
            )
            for _ in range(n_nets)
        ]
    )
    return Ks.mean(axis=0), Ks.std(axis=0, ddof=1) / np.sqrt(n_nets)


def _psd_sqrt(K):
    """Batched ``R`` with ``R R^T = K`` for symmetric PSD ``K`` (eigenvalues >= 0)."""
    lam, U = np.linalg.eigh(0.5 * (K + np.swapaxes(K, -1, -2)))
    return U * np.sqrt(np.clip(lam, 0.0, None))[..., None, :]


def _mc_outputs_gram(X, phi, depth, sigma_w, sigma_b, width, n, rng):
    """Outputs ``(n, m)`` of ``n`` nets, each layer drawn from its conditional law.

    Given the layer input ``Phi`` (``n_in x m``), every unit's pre-activations over the
    ``m`` inputs are iid ``N(0, sw^2 Phi^T Phi / n_in + sb^2)``: exact in distribution.
    """
    m = len(X)
    sw2, sb2 = float(sigma_w) ** 2, float(sigma_b) ** 2
    K = np.broadcast_to(sw2 * (X @ X.T) / X.shape[1] + sb2, (n, m, m))
    for _ in range(depth):
        Z = rng.standard_normal((n, width, m))
        P = phi(Z @ np.swapaxes(_psd_sqrt(K), -1, -2))
        K = sw2 * (np.swapaxes(P, -1, -2) @ P) / width + sb2
    return (_psd_sqrt(K) @ rng.standard_normal((n, m, 1)))[..., 0]


def _mc_outputs_literal(X, phi, depth, sigma_w, sigma_b, width, n, rng):
    """Outputs ``(n, m)`` of ``n`` literal networks with explicit weight matrices."""
    outs = []
    for _ in range(n):
        layers = init_network(X.shape[1], depth, width, sigma_w, sigma_b, rng)
        outs.append(network_forward(layers, X, phi, sigma_w, sigma_b)[0])
    return np.array(outs)


def mc_nngp(
    X,
    activation_or_phi,
    depth,
    sigma_w,
    sigma_b,
    width,
    n_nets,
    seed,
    exact_sampler=True,
    batch_size=100,
):
    """Monte Carlo NNGP ``(mean, stderr)`` of ``f(x_i) f(x_j)`` over random networks.

    ``n_nets`` NTK-parameterization networks of the given ``width`` (so the mean has
    an ``O(1/width)`` bias); ``stderr`` is the std (``ddof=1``) of the products over
    ``sqrt(n_nets)``. ``exact_sampler=True`` draws each layer from an ``m x m`` factor
    of its conditional covariance (exact in distribution, fast); ``False`` uses
    literal weight matrices (slow: about 30 ms per net at width 1000, depth 3).
    """
    phi = _resolve(activation_or_phi)[0]
    X, rng = _as2d(X), np.random.default_rng(seed)
    sampler = _mc_outputs_gram if exact_sampler else _mc_outputs_literal
    outs = []
    for start in range(0, n_nets, batch_size):
        n = min(batch_size, n_nets - start)
        outs.append(sampler(X, phi, depth, sigma_w, sigma_b, width, n, rng))
    f = np.concatenate(outs)
    prods = f[:, :, None] * f[:, None, :]
    return prods.mean(axis=0), prods.std(axis=0, ddof=1) / np.sqrt(n_nets)


def central_fd(fn, theta, eps=1e-5):
    """Central finite differences of ``fn`` at the 1-D parameter vector ``theta``.

    Column ``k`` is ``(fn(theta + eps e_k) - fn(theta - eps e_k)) / (2 eps)``; columns
    are stacked on the last axis, giving shape ``fn(theta).shape + (theta.size,)``.
    """
    theta = np.asarray(theta, dtype=float)
    cols = []
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = eps
        plus = np.asarray(fn(theta + e), dtype=float)
        minus = np.asarray(fn(theta - e), dtype=float)
        cols.append((plus - minus) / (2.0 * eps))
    return np.stack(cols, axis=-1)


def nested_quad_dual(phi, dphi, a, b, c, n_panels=6, n_nodes=40, lim=12.0):
    """``(F, G)`` by nested composite Gauss-Legendre quadrature split at kinks.

    ``u = sqrt(a) z1``, ``v = c / sqrt(a) z1 + s z2`` with ``s^2 = b - c^2 / a``.
    The outer integral over ``z1`` is split at 0 (where ``u`` crosses 0) and the
    inner one over ``z2`` where ``v`` crosses 0, each half into ``n_panels``
    Gauss-Legendre panels, so kinks and jumps of ``phi`` and ``phi'`` at 0 are
    integrated to near machine precision (the Gaussian weight makes
    ``|z| > lim`` negligible). Independent of the Hermite-series engine.
    """
    phi, dphi = _resolve(phi, dphi)
    x, w = np.polynomial.legendre.leggauss(n_nodes)

    def nodes(lo, hi, panels=n_panels):
        # Gauss-Legendre panels on each [lo_i, hi_i] (vectorised)
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        edges = lo[..., None] + (hi - lo)[..., None] * np.linspace(0, 1, panels + 1)
        left, width = edges[..., :-1], np.diff(edges, axis=-1)
        pts = left[..., None] + width[..., None] * (x + 1) / 2
        wts = width[..., None] * w / 2 * np.ones_like(pts)
        return pts.reshape(*lo.shape, -1), wts.reshape(*lo.shape, -1)

    # outer: panels graded geometrically towards the kink at 0, because for
    # rho -> 1 the inner integral is a kink smoothed over a tiny width
    edges = np.concatenate(
        [[0.0], np.geomspace(1e-10, 1.0, 11), np.linspace(1, lim, 6)[1:]]
    )
    zr, wr = (
        np.concatenate(a)
        for a in zip(*(nodes(lo, hi, 1) for lo, hi in zip(edges[:-1], edges[1:])))
    )
    z1 = np.concatenate([-zr[::-1], zr])
    w1 = np.concatenate([wr[::-1], wr]) * _npdf(z1)
    sa = np.sqrt(a)
    s = np.sqrt(max(b - c * c / a, 0.0))
    m = c / sa * z1
    if s == 0.0:
        v = m[:, None]
        w2 = np.ones((z1.size, 1))
    else:
        cut = np.clip(-m / s, -lim, lim)
        pl, ql = nodes(np.full(z1.size, -lim), cut)
        pr, qr = nodes(cut, np.full(z1.size, lim))
        z2 = np.concatenate([pl, pr], axis=1)
        w2 = np.concatenate([ql, qr], axis=1) * _npdf(z2)
        v = m[:, None] + s * z2
    u = sa * z1
    F = np.sum(w1 * phi(u) * np.sum(w2 * phi(v), axis=1))
    G = np.sum(w1 * dphi(u) * np.sum(w2 * dphi(v), axis=1))
    return float(F), float(G)


def nested_quad_kernels(X, Y, phi, dphi, depth, sigma_w, sigma_b):
    """NNGP and NTK matrices ``(nngp, ntk)`` with `nested_quad_dual` at every entry.

    Slow (one nested quadrature per entry and layer) but accurate to ~1e-15 also
    for activations with kinks; the per-point variances use ``F(q, q, q)``.
    ``phi`` may be a name from `ACTIVATIONS` (then ``dphi`` is ignored).
    """
    phi, dphi = _resolve(phi, dphi)

    def dual(a, b, c):
        a, b, c = np.broadcast_arrays(a, b, c)
        out = [
            nested_quad_dual(phi, dphi, *t)
            for t in zip(a.ravel(), b.ravel(), c.ravel())
        ]
        F, G = (np.reshape(v, a.shape) for v in zip(*out))
        return F, G

    def variance(q):
        return np.array([nested_quad_dual(phi, dphi, t, t, t)[0] for t in q])

    return _recursion(X, Y, dual, variance, depth, sigma_w, sigma_b)


def five_point(f, h):
    """The five-point central difference ``(8 (f(h) - f(-h)) - (f(2h) -
    f(-2h))) / (12 h)`` of ``f`` at 0 (truncation ``h^4 f^(5) / 30``)."""
    return (8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h)


def theta_difference(kernel, X, col, h):
    """:func:`five_point` of ``kernel(X)`` in its ``theta[col]`` (any object
    with scikit-learn's ``theta`` and ``clone_with_theta``)."""

    def f(step):
        theta = kernel.theta.copy()
        theta[col] += step
        return kernel.clone_with_theta(theta)(X)

    return five_point(f, h)


@functools.lru_cache(maxsize=None)
def _legendre(order):
    return np.polynomial.legendre.leggauss(order)


def gauss_panels(m, s, width=1.0, order=24, lim=13.0):
    """Nodes ``m + s t`` and weights of ``E[f(m + s t)]``, ``t ~ N(0, 1)``,
    and the ``t``: Gauss-Legendre panels (``order`` points) in ``t`` with
    every edge where ``m + s t`` is an integer in [-40, 40] (unit panels where
    tanh-like activations bend), every edge where it is a multiple ``k
    width``, ``|k| <= 40`` (for the outer integral of a nested quadrature:
    the inner expectation bends on the scale of the conditional standard
    deviation), and 26 coarse panels on ``[-lim, lim]`` (``exp(-84)`` beyond
    13). Working in ``t`` keeps the Gaussian weights exact when ``s`` is
    tiny."""
    gl_x, gl_w = _legendre(order)
    fine = (np.arange(-40.0, 41.0) - m) / s
    if 1.0 < width < s:
        fine = np.concatenate([fine, (np.arange(-40.0, 41.0) * width - m) / s])
    edges = np.unique(np.concatenate([fine, np.linspace(-lim, lim, 27)]))
    edges = edges[(edges >= -lim) & (edges <= lim)]
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    t = (mid[:, None] + half[:, None] * gl_x).ravel()
    w = (half[:, None] * gl_w).ravel() * _npdf(t)
    return m + s * t, w, t


def conditional_panels(a, b, rho, one_minus=None, order=24):
    """The outer nodes of ``E[f(u) g(v)] = E_u[f(u) E[g(v) | u]]`` for
    variances ``a, b > 0`` and the correlation ``rho``, ``v | u ~ N(m,
    cs^2)``: ``(u, w, m, cs)``, ``m = rho sqrt(b / a) u`` and ``cs = sqrt(b)
    sqrt((1 - rho)(1 + rho))`` (0 at ``|rho| = 1``: ``v`` a function of ``u``),
    from ``one_minus = 1 - |rho|`` if given exactly (correlations such as
    ``1 - 1e-8``), without the cancellation of ``b - c^2 / a`` nor the
    overflow of ``c^2`` at variance 1e300. :func:`gauss_panels` in ``u``,
    with edges on the scale ``sqrt(a) sin`` on which ``E[g(v) | u]`` bends."""
    if one_minus is None:
        one_minus = 1.0 - abs(rho)
    sa, sb = np.sqrt(a), np.sqrt(b)
    sin = np.sqrt(one_minus * (2.0 - one_minus))
    width = sa * min(sin / max(abs(rho), 1e-300), 1.0)
    u, w, t = gauss_panels(0.0, sa, width, order)
    return u, w, rho * sb * t, sb * sin


def price_partials(derivatives, a, b, rho, one_minus=None, order=20):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of a smooth activation at
    variances ``a, b > 0`` and correlation ``rho`` (``one_minus = 1 - |rho|``
    exactly if given) by nested quadrature (:func:`conditional_panels`,
    inner :func:`gauss_panels`) and Price's theorem: ``F_a = E[phi''(u)
    phi(v)] / 2``, ``F_c = G = E[phi'(u) phi'(v)]``, ``G_a = E[phi'''(u)
    phi'(v)] / 2``, ``G_c = E[phi''(u) phi''(v)]``; at ``rho = +-1`` the
    partials along fixed ``rho`` (``F_c = G_c = 0``, ``dc/da = c / (2a)``).
    ``derivatives(x)`` returns ``phi .. phi'''`` at ``x``, stacked (4, n)."""
    u, wu, m, cs = conditional_panels(a, b, rho, one_minus, order=order)
    if cs == 0.0:
        inner = derivatives(m)
    else:
        inner = np.empty((4, u.size))
        for k in range(u.size):
            v, wv, _ = gauss_panels(m[k], cs, 1.0, order=order)
            inner[:, k] = derivatives(v) @ wv
    fu = derivatives(u) * wu

    def e(i, j):  # E[phi^(i)(u) phi^(j)(v)]
        return float(fu[i] @ inner[j])

    out = [e(0, 0), e(1, 1), e(2, 0) / 2, e(0, 2) / 2, e(1, 1),
           e(3, 1) / 2, e(1, 3) / 2, e(2, 2)]  # fmt: skip
    if abs(rho) == 1.0:
        sa, sb = np.sqrt(a), np.sqrt(b)
        for p, cp in ((2, 4), (5, 7)):
            out[p] += out[cp] * 0.5 * rho * sb / sa
            out[p + 1] += out[cp] * 0.5 * rho * sa / sb
            out[cp] = 0.0
    return out


def price_diag(derivatives, q, order=20):
    """``(V, W, dV/dq, dW/dq)`` at ``u ~ N(0, q)`` (:func:`gauss_panels`):
    ``E[phi^2]``, ``E[phi'^2]`` and half the expectations of their second
    derivatives (``derivatives`` as in :func:`price_partials`)."""
    u, w, _ = gauss_panels(0.0, np.sqrt(q), 1.0, order=order)
    p, d1, d2, d3 = derivatives(u)
    return (w @ (p * p), w @ (d1 * d1), w @ (d1 * d1 + p * d2),
            w @ (d2 * d2 + d1 * d3))  # fmt: skip


def price_kernels(derivatives, depth, sw, sb, x, y):
    """``(NNGP, NTK)`` of the rows ``x, y`` (NTK parameterization) by the
    layer recursion written out by hand, with :func:`price_partials` (or
    :func:`price_diag` for ``x is y``) at every layer."""
    d = x.size
    sw2, sb2 = sw * sw, sb * sb
    qx, qy = sw2 * (x @ x) / d + sb2, sw2 * (y @ y) / d + sb2
    s = t = sw2 * (x @ y) / d + sb2
    for _ in range(depth):
        if x is y:
            F, G = price_diag(derivatives, qx)[:2]
            qy = qx
        else:
            rho = max(min(s / (np.sqrt(qx) * np.sqrt(qy)), 1.0), -1.0)
            F, G = price_partials(derivatives, qx, qy, rho)[:2]
            qy = sw2 * price_diag(derivatives, qy)[0] + sb2
        qx = sw2 * price_diag(derivatives, qx)[0] + sb2
        s, t = sw2 * F + sb2, sw2 * F + sb2 + sw2 * G * t
    return s, t


def tsuchida_gelu(a, b, c):
    """``(F, G)`` of gelu ``x Phi(x)`` in the closed form of Tsuchida et al.
    (2020): ``P = (1 + a)(1 + b)``, ``Delta = sqrt(P - c^2)``, ``alpha =
    atan2(c, Delta)``."""
    P = (1 + a) * (1 + b)
    D = np.sqrt(P - c * c)
    al = np.arctan2(c, D)
    F = c / 4 + (c * al + (c * c + a * b * D * D) / (P * D)) / (2 * np.pi)
    G = 0.25 + al / (2 * np.pi) + c / (2 * np.pi * D) * (1 / D**2 + (1 - a * b) / P + 1)
    return F, G
