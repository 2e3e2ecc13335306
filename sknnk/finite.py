r"""Finite random networks: Monte Carlo NNGP, empirical NTK and GD training.

The kernels of :mod:`sknnk` are limits of finite networks. This module builds
those finite networks in plain numpy, with the same NTK parameterization
(all weights and biases i.i.d. :math:`N(0, 1)`). With input
:math:`x \in \mathbb R^d`, hidden width :math:`n` and ``depth`` :math:`= L`
hidden layers,

.. math::

    z^0 = \frac{\sigma_w}{\sqrt d} W^0 (x / \ell) + \sigma_b b^0, \qquad
    \mathrm{branch}^l = \frac{\sigma_w}{\sqrt n} W^l \phi(u^{l-1})
    + \sigma_b b^l, \qquad f(x) = z^L,

for :math:`l = 1, \dots, L`, where

* :math:`\ell` is ``length_scale`` (a scalar, or one scale per input feature:
  automatic relevance determination; the division is skipped when every
  scale is 1);
* :math:`u^{l-1} = \mathrm{LN}(z^{l-1})` with ``normalization="layer"``, else
  :math:`u^{l-1} = z^{l-1}`; :math:`\mathrm{LN}(z) = (z - \bar z) / s(z)`
  per input point across the :math:`n` units (mean :math:`\bar z`, standard
  deviation :math:`s` with divisor :math:`n`, no gain, bias or epsilon; a
  point whose units are all equal, which happens only for :math:`x = 0` with
  :math:`\sigma_b = 0`, has :math:`s` replaced by 1, as
  :class:`sklearn.preprocessing.StandardScaler` does);
* plain blocks (``residual=False``): :math:`z^l = \mathrm{branch}^l`;
  residual blocks (``residual=True``): :math:`z^l = z^{l-1} + \alpha\,
  \mathrm{branch}^l` for :math:`l = 1, \dots, L - 1` with :math:`\alpha` =
  ``branch_scale``, and the last step :math:`z^L = \mathrm{branch}^L` is the
  plain readout (so ``depth=1`` residual networks are plain ones).

Their infinite-width limits are the kernels with the same parameters: the
NNGP :math:`\mathrm{Cov}(f)` and the NTK
:math:`\sum_{w \in W, b} \partial_w f\, \partial_w f'`. Users (and the
tests) check those predictions with

* :func:`sample_outputs` / :func:`monte_carlo_nngp`: outputs of many random
  networks at a few inputs, and the Monte Carlo estimate of the NNGP;
* :class:`FiniteMLP`: an ensemble of networks with explicit weights, their
  Jacobians, empirical NTKs :math:`J J^\top` (manual back-propagation,
  through the exact Jacobian of the layer normalisation) and full-batch
  gradient or natural-gradient descent training;
* :func:`monte_carlo_ntk`: the mean empirical NTK of random networks.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._overflow import (
    FINITE_ACTIVATION,
    STANDARDIZE,
    check_finite_result,
    quiet_overflow,
    sample_moments,
)
from ._validation import (
    check_generator,
    check_input,
    check_int,
    check_length_scale,
    check_network,
    check_options,
    check_real,
    feature_scales,
)

__all__ = [
    "FiniteMLP",
    "monte_carlo_nngp",
    "monte_carlo_ntk",
    "sample_outputs",
]


def _check_net(
    owner, width, depth, activation, sigma_w, sigma_b, length_scale=1.0,
    residual=False, branch_scale=1.0, normalization=None,
):  # fmt: skip
    """Validate the network parameters; return ``(phi, phi')`` of the activation."""
    act = check_network(
        owner,
        depth=depth,
        activation=activation,
        sigma_w=sigma_w,
        sigma_b=sigma_b,
        width=width,
        length_scale=length_scale,
        residual=residual,
        branch_scale=branch_scale,
        normalization=normalization,
    )
    return act.pointwise()


def scaled_inputs(owner, X, length_scale):
    """``X / length_scale`` per feature (``X`` itself when every scale is 1).

    Raises
    ------
    ValueError
        If ``length_scale`` is an array whose length is not ``X.shape[1]``.
    """
    ls = feature_scales(owner, length_scale, X.shape[1])
    return X if ls is None else X / ls.astype(X.dtype, copy=False)


def layer_norm(z, axis=-1):
    r"""Layer normalisation of ``z`` across the units on ``axis``.

    Returns ``u = (z - mean) / s`` and ``1 / s`` (keeping ``axis`` of length
    1), with ``s`` the standard deviation across the units (divisor: their
    number), replaced by 1 where it is 0. The transposed Jacobian maps a
    cotangent ``g`` of ``u`` to :func:`layer_norm_vjp`.
    """
    c = z - z.mean(axis=axis, keepdims=True)
    s = np.sqrt(np.mean(c * c, axis=axis, keepdims=True))
    inv = 1.0 / np.where(s > 0, s, 1.0)
    c *= inv
    return c, inv


def nonlinearity_input(z, ln, axis=-1):
    """``(u, 1/s)``: the input ``u`` of the nonlinearity, ``layer_norm(z,
    axis)`` with layer normalisation (``ln``), else ``(z, None)``."""
    return layer_norm(z, axis) if ln else (z, None)


def layer_norm_vjp(g, u, inv):
    r"""Cotangent of ``z`` from the cotangent ``g`` of ``u = LN(z)`` (last axis).

    With :math:`\partial u_i / \partial z_j = (\delta_{ij} - 1/n - u_i u_j/n)
    / s` (symmetric), :math:`\bar z = (g - \bar g - u\,\overline{g u}) / s`.
    """
    out = g - g.mean(axis=-1, keepdims=True)
    out -= u * np.mean(g * u, axis=-1, keepdims=True)
    out *= inv
    return out


def _is_residual(layer, depth, residual):
    """Whether step ``layer`` (0 input, ``depth`` readout) is a residual block."""
    return residual and 0 < layer < depth


def dense_layer(a, W_t, b, sigma_w, sigma_b):
    r"""The dense map of one layer, :math:`\frac{\sigma_w}{\sqrt{n_{in}}}\,
    a W^\top + \sigma_b b`, in the NTK parameterization.

    ``a`` holds the layer inputs in rows (``(..., n, fan_in)``), ``W_t`` the
    transposed weights (``(..., fan_in, fan_out)``) and ``b`` the biases,
    broadcast over the rows. The one dense layer of the finite networks here
    and of the samplers' random networks (:mod:`sknnk.random_features`).
    """
    h = a @ W_t
    h *= sigma_w / math.sqrt(W_t.shape[-2])
    h += sigma_b * b
    return h


def block_output(z, h, layer, depth, residual, alpha):
    """The stream after step ``layer``: ``z + alpha * h`` in a residual block
    (:func:`_is_residual`), else the plain step ``h``."""
    return z + alpha * h if _is_residual(layer, depth, residual) else h


_FIXES = (
    STANDARDIZE + ", use a smaller sigma_w, sigma_b or depth, or " + FINITE_ACTIVATION
)


def _check_layer(owner, layer, C):
    """Refuse a layer covariance of the Gram sampler that overflows."""
    check_finite_result(
        owner, f"the covariance of the pre-activations of layer {layer}", C, _FIXES
    )


def _diverged(owner, step):
    """The error of a training run whose outputs or loss overflow."""
    cause = (
        "the initial network's outputs or loss overflow float64: "
        + STANDARDIZE
        + " and the targets y, or use a smaller sigma_w or depth"
        if step == 0
        else "training diverged: lower 'learning_rate' (or standardize X and y)"
    )
    return ValueError(f"{owner}.train: at step {step} {cause}.")


def _psd_sqrt(C):
    """Symmetric square roots of a stack of PSD matrices (singular allowed)."""
    lam, V = np.linalg.eigh(C)
    return (V * np.sqrt(np.maximum(lam, 0.0))[..., None, :]) @ np.swapaxes(V, -1, -2)


@quiet_overflow
def sample_outputs(
    X,
    n_networks=1000,
    width=1024,
    depth=1,
    activation="relu",
    sigma_w=2**0.5,
    sigma_b=0.1,
    length_scale=1.0,
    residual=False,
    branch_scale=1.0,
    normalization=None,
    method="gram",
    batch_size=None,
    random_state=None,
):
    r"""Outputs of random finite networks at the inputs ``X``.

    The networks are those of the module docstring (:mod:`sknnk.finite`).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    n_networks : int, default=1000
        Number of independent random networks.
    width : int, default=1024
        Width of every hidden layer.
    depth : int, default=1
        Number of hidden layers.
    activation : str, activation object or callable, default="relu"
        Nonlinearity: any activation the kernels accept (a name in
        ``sknnk.ACTIVATION_NAMES``, an object of :mod:`sknnk.activations` or
        a vectorised callable).
    sigma_w, sigma_b : float, default=sqrt(2), 0.1
        Standard deviations of the weights and biases.
    length_scale : float or array-like of shape (n_features,), default=1.0
        Per-feature scales :math:`\ell` of the first layer: it sees
        :math:`x / \ell` (> 0).
    residual : bool, default=False
        Residual blocks :math:`z^l = z^{l-1} + \alpha\,\mathrm{branch}^l`
        for the hidden steps ``l = 1..depth-1`` (the readout stays plain).
    branch_scale : float, default=1.0
        :math:`\alpha` (> 0), used only with ``residual=True``.
    normalization : {None, "layer"}, default=None
        ``"layer"``: layer normalisation of the pre-activations, per point
        across the units, before every nonlinearity.
    method : {"gram", "weights"}, default="gram"
        ``"weights"`` draws every weight matrix (``width x width`` numbers per
        hidden layer and network). ``"gram"`` draws the same random variables
        more cheaply: given the post-activations :math:`\Phi` (``width x m``)
        of a layer at the ``m`` inputs, the rows of :math:`W\Phi` are i.i.d.
        :math:`N(0, \Phi^\top\Phi)`, so each layer is drawn from an ``m x m``
        square root (added to the residual stream, which is kept per unit);
        the outputs have exactly the distribution of the literal networks, at
        cost ``O(width * m^2)`` per layer.
    batch_size : int, default=None
        Networks processed at once (memory control); ``None`` chooses it.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed of the random weights (see
        :func:`sknnk._validation.check_generator`: an int seeds a numpy
        ``Generator``, None and ``RandomState`` follow scikit-learn).

    Returns
    -------
    outputs : ndarray of shape (n_networks, n_samples)
        ``outputs[s, i]`` is the output of network ``s`` at ``X[i]``.

    Raises
    ------
    ValueError
        For invalid parameters, or a ``length_scale`` array whose length is
        not ``n_features``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk.finite import sample_outputs
    >>> X = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> f = sample_outputs(X, n_networks=5, width=64, random_state=0)
    >>> f.shape
    (5, 2)
    >>> sample_outputs(X, n_networks=5, width=64, depth=3, residual=True,
    ...                normalization="layer", random_state=0).shape
    (5, 2)
    """
    owner = "sample_outputs"
    phi, _ = _check_net(
        owner, width, depth, activation, sigma_w, sigma_b, length_scale, residual,
        branch_scale, normalization,
    )  # fmt: skip
    check_int(owner, "n_networks", n_networks, 1)
    check_options(owner, "method", method, {"gram", "weights"})
    check_int(owner, "batch_size", batch_size, 1, allow_none=True)
    X = check_input(X, "X", owner)
    X = scaled_inputs(owner, X, length_scale)
    rng = check_generator(random_state)
    m, d = X.shape
    sw, sb = float(sigma_w), float(sigma_b)
    sw2, sb2 = sw**2, sb**2
    alpha, ln = float(branch_scale), normalization == "layer"
    if batch_size is None:
        per_net = 8 * width * (width if method == "weights" else m) * 3
        batch_size = int(max(1, min(n_networks, 2**28 // max(per_net, 1))))
    out = np.empty((n_networks, m))
    for s0 in range(0, n_networks, batch_size):
        E = min(batch_size, n_networks - s0)
        if method == "gram":
            C = np.broadcast_to(sw2 * (X @ X.T) / d + sb2, (E, m, m))
            z = None  # the stream z^layer, per unit: (E, width, m)
            for layer in range(depth):
                _check_layer(owner, layer, C)
                h = rng.standard_normal((E, width, m)) @ _psd_sqrt(C)
                z = block_output(z, h, layer, depth, residual, alpha)
                a = phi(nonlinearity_input(z, ln, axis=1)[0])
                C = sw2 * np.swapaxes(a, 1, 2) @ a / width + sb2
            _check_layer(owner, depth, C)
            out[s0 : s0 + E] = (rng.standard_normal((E, 1, m)) @ _psd_sqrt(C))[:, 0]
        else:
            a = np.broadcast_to(X, (E, m, d))
            fan_in, z = d, None
            for layer in range(depth + 1):
                n_out = width if layer < depth else 1
                W = rng.standard_normal((E, n_out, fan_in))
                b = rng.standard_normal((E, 1, n_out))
                h = dense_layer(a, np.swapaxes(W, 1, 2), b, sw, sb)
                z = block_output(z, h, layer, depth, residual, alpha)
                a = phi(nonlinearity_input(z, ln)[0]) if layer < depth else z
                fan_in = n_out
            out[s0 : s0 + E] = a[:, :, 0]
    check_finite_result(owner, "the network outputs", out, _FIXES)
    return out


def monte_carlo_nngp(
    X,
    n_networks=1000,
    width=1024,
    depth=1,
    activation="relu",
    sigma_w=2**0.5,
    sigma_b=0.1,
    length_scale=1.0,
    residual=False,
    branch_scale=1.0,
    normalization=None,
    method="gram",
    random_state=None,
):
    r"""Monte Carlo estimate of the NNGP from random finite networks.

    The second moment :math:`\frac1S\sum_s f_s(x_i) f_s(x_j)` over ``S``
    random networks estimates :math:`\Sigma^L(x_i, x_j)`, up to a finite-width
    bias of order ``1/width``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    n_networks, width, depth, activation, sigma_w, sigma_b
        See :func:`sample_outputs`.
    length_scale, residual, branch_scale, normalization
        The architecture (see :func:`sample_outputs`).
    method, random_state
        See :func:`sample_outputs`.

    Returns
    -------
    K_mean : ndarray of shape (n_samples, n_samples)
        The Monte Carlo estimate.
    K_stderr : ndarray of shape (n_samples, n_samples)
        Its standard error (sample standard deviation of the products over
        networks, divided by ``sqrt(n_networks)``).

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import NNGPKernel
    >>> from sknnk.finite import monte_carlo_nngp
    >>> X = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> K, se = monte_carlo_nngp(X, n_networks=4000, width=256, random_state=0)
    >>> bool(np.all(np.abs(K - NNGPKernel()(X)) < 5 * se))
    True
    """
    f = sample_outputs(
        X, n_networks, width, depth, activation, sigma_w, sigma_b, length_scale,
        residual, branch_scale, normalization, method, random_state=random_state,
    )  # fmt: skip
    # products of outputs scaled by powers of two: no overflow of f f'
    e = np.frexp(np.max(np.abs(f), axis=0))[1]
    fs = np.ldexp(f, -e)
    prods = fs[:, :, None] * fs[:, None, :]
    return sample_moments(
        "monte_carlo_nngp", "the NNGP estimate", prods, e[:, None] + e[None, :]
    )


class FiniteMLP:
    r"""An ensemble of independent finite fully-connected networks.

    ``n_networks`` networks with explicit weights, in the NTK
    parameterization of the sknnk kernels (the networks of the module
    docstring, :mod:`sknnk.finite`), held with a leading network axis so
    that all of them are evaluated and trained together. Jacobians, empirical
    NTKs and training gradients go through the skip connections and the exact
    Jacobian of the layer normalisation of these finite networks.

    Parameters
    ----------
    width : int, default=1024
        Width of every hidden layer.
    depth : int, default=1
        Number of hidden layers.
    activation : str, activation object or callable, default="relu"
        Nonlinearity: any activation the kernels accept (a name in
        ``sknnk.ACTIVATION_NAMES``, an object of :mod:`sknnk.activations` or
        a vectorised callable).
    sigma_w : float, default=sqrt(2)
        Standard deviation of the weights (before the ``1/sqrt(fan_in)``).
    sigma_b : float, default=0.1
        Standard deviation of the biases.
    length_scale : float or array-like of shape (n_features,), default=1.0
        Per-feature scales :math:`\ell` of the first layer: it sees
        :math:`x / \ell` (> 0).
    residual : bool, default=False
        Residual blocks :math:`z^l = z^{l-1} + \alpha\,\mathrm{branch}^l`
        for the hidden steps ``l = 1..depth-1`` (the readout stays plain).
    branch_scale : float, default=1.0
        :math:`\alpha` (> 0), used only with ``residual=True``.
    normalization : {None, "layer"}, default=None
        ``"layer"``: layer normalisation of the pre-activations, per point
        across the units, before every nonlinearity.
    n_outputs : int, default=1
        Number of outputs (rows of the readout layer).
    n_networks : int, default=1
        Number of independent networks.
    random_state : int, RandomState instance, Generator or None, default=None
        Seed of the initial weights.

    Attributes
    ----------
    weights_ : list of ndarray
        ``weights_[l]`` has shape ``(n_networks, fan_out, fan_in)``, layer
        ``l = 0..depth`` (the last one is the readout).
    biases_ : list of ndarray
        ``biases_[l]`` has shape ``(n_networks, fan_out)``.
    n_features_in_ : int
        Input dimension.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk.finite import FiniteMLP
    >>> X = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> net = FiniteMLP(width=128, depth=2, n_networks=3, random_state=0)
    >>> net.initialize(2).predict(X).shape  # (networks, samples, outputs)
    (3, 3, 1)
    >>> net.ntk(X).shape  # empirical NTK J J^T of each network
    (3, 3, 3)
    >>> hist = net.train(X, [0.0, 1.0, 0.0], n_steps=100, learning_rate=0.1)
    >>> bool(hist["train_loss"][-1].max() < hist["train_loss"][0].min())
    True
    """

    def __init__(
        self,
        width=1024,
        depth=1,
        activation="relu",
        sigma_w=2**0.5,
        sigma_b=0.1,
        length_scale=1.0,
        residual=False,
        branch_scale=1.0,
        normalization=None,
        n_outputs=1,
        n_networks=1,
        random_state=None,
    ):
        self.width = width
        self.depth = depth
        self.activation = activation
        self.sigma_w = sigma_w
        self.sigma_b = sigma_b
        self.length_scale = length_scale
        self.residual = residual
        self.branch_scale = branch_scale
        self.normalization = normalization
        self.n_outputs = n_outputs
        self.n_networks = n_networks
        self.random_state = random_state

    # ------------------------------------------------------------ parameters
    def initialize(self, n_features):
        """Draw all weights and biases i.i.d. N(0, 1).

        Parameters
        ----------
        n_features : int
            Input dimension.

        Returns
        -------
        self : FiniteMLP
        """
        owner = type(self).__name__
        self._activation()
        check_int(owner, "n_outputs", self.n_outputs, 1)
        check_int(owner, "n_networks", self.n_networks, 1)
        check_int(owner, "n_features", n_features, 1)
        check_length_scale(owner, self.length_scale, n_features)
        rng = check_generator(self.random_state)
        sizes = [n_features] + [self.width] * self.depth + [self.n_outputs]
        E = self.n_networks
        self.weights_ = [
            rng.standard_normal((E, n_out, n_in))
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        ]
        self.biases_ = [rng.standard_normal((E, n_out)) for n_out in sizes[1:]]
        self.n_features_in_ = int(n_features)
        return self

    @property
    def n_params(self):
        """Number of trainable parameters of one network."""
        return sum(W[0].size + b[0].size for W, b in zip(self.weights_, self.biases_))

    def _check_fitted_X(self, X, name="X"):
        if not hasattr(self, "weights_"):
            raise AttributeError(
                "This FiniteMLP has no weights yet; call initialize(n_features) "
                "or train(X, y) first."
            )
        X = check_input(X, name, type(self).__name__)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but this FiniteMLP was "
                f"initialized with {self.n_features_in_}."
            )
        return X

    # ------------------------------------------------------------ forward
    def _activation(self):
        """Validate the network parameters; ``(phi, phi')``."""
        return _check_net(
            type(self).__name__, self.width, self.depth, self.activation,
            self.sigma_w, self.sigma_b, self.length_scale, self.residual,
            self.branch_scale, self.normalization,
        )  # fmt: skip

    def _forward(self, X):
        """Output ``f`` (E, n, n_outputs), layer inputs ``acts`` and, per
        hidden step, ``(phi'(u), u, 1/s)`` (``u, 1/s`` of the layer
        normalisation, None without it) for the back-propagation."""
        phi, dphi = self._activation()
        sw, sb = float(self.sigma_w), float(self.sigma_b)
        alpha, ln = float(self.branch_scale), self.normalization == "layer"
        X = scaled_inputs(type(self).__name__, X, self.length_scale)
        a = np.broadcast_to(X, (self.n_networks,) + X.shape)
        acts, steps, z = [], [], None
        for layer, (W, b) in enumerate(zip(self.weights_, self.biases_)):
            acts.append(a)
            h = dense_layer(a, np.swapaxes(W, 1, 2), b[:, None, :], sw, sb)
            z = block_output(z, h, layer, self.depth, self.residual, alpha)
            if layer < self.depth:
                u, inv = nonlinearity_input(z, ln)
                a = phi(u)
                steps.append((dphi(u), u if ln else None, inv))
        return z, acts, steps

    @quiet_overflow
    def predict(self, X):
        """Outputs of every network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        f : ndarray of shape (n_networks, n_samples, n_outputs)
        """
        X = self._check_fitted_X(X)
        f = self._forward(X)[0]
        check_finite_result(type(self).__name__, "the network outputs", f, _FIXES)
        return f

    def _deltas(self, steps, cot):
        """Back-propagate output cotangents ``cot`` of shape (E, n, n_outputs).

        Returns ``deltas[l]`` (E, n, fan_out of layer l): the derivative of
        ``cot[:, i] . f(x_i)`` with respect to the output of the dense map of
        layer ``l`` (before the ``branch_scale`` of a residual block), for
        every example.
        """
        sw, alpha = float(self.sigma_w), float(self.branch_scale)
        deltas = [None] * len(self.weights_)
        dz = cot  # cotangent of the stream z^layer
        for layer in range(len(self.weights_) - 1, -1, -1):
            res = _is_residual(layer, self.depth, self.residual)
            delta = alpha * dz if res else dz
            deltas[layer] = delta
            if layer == 0:
                break
            W = self.weights_[layer]
            dphi, u, inv = steps[layer - 1]
            back = (sw / math.sqrt(W.shape[2])) * (delta @ W)
            back = back * dphi
            if u is not None:
                back = layer_norm_vjp(back, u, inv)
            dz = dz + back if res else back
        return deltas

    def _grads(self, acts, steps, cot):
        """Parameter gradients of ``sum_i cot_i . f(x_i)``."""
        sw, sb = float(self.sigma_w), float(self.sigma_b)
        deltas = self._deltas(steps, cot)
        gW, gb = [], []
        for a, delta in zip(acts, deltas):
            gW.append((sw / math.sqrt(a.shape[2])) * np.swapaxes(delta, 1, 2) @ a)
            gb.append(sb * delta.sum(axis=1))
        return gW, gb

    # ------------------------------------------------------------ Jacobian
    def _output_deltas(self, X, output):
        """Per-example deltas of output ``output`` and the layer inputs."""
        _, acts, steps = self._forward(X)
        cot = np.zeros((self.n_networks, X.shape[0], self.n_outputs))
        cot[:, :, output] = 1.0
        return self._deltas(steps, cot), acts

    def _check_output(self, output):
        if not isinstance(output, numbers.Integral) or not (
            0 <= output < self.n_outputs
        ):
            raise ValueError(
                f"output must be an int in [0, {self.n_outputs}); got {output!r}."
            )

    @quiet_overflow
    def jacobian(self, X, output=0):
        r"""Jacobian :math:`J = \partial f_o(X) / \partial w` of each network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        output : int, default=0
            Which output :math:`f_o`.

        Returns
        -------
        J : ndarray of shape (n_networks, n_samples, n_params)
            Columns ordered layer by layer: weights (row-major), then biases.
        """
        X = self._check_fitted_X(X)
        self._check_output(output)
        sw, sb = float(self.sigma_w), float(self.sigma_b)
        deltas, acts = self._output_deltas(X, output)
        E, n = self.n_networks, X.shape[0]
        blocks = []
        for a, delta in zip(acts, deltas):
            a = np.broadcast_to(a, (E,) + a.shape[1:])
            gW = (sw / math.sqrt(a.shape[2])) * delta[:, :, :, None] * a[:, :, None, :]
            blocks.append(gW.reshape(E, n, -1))
            blocks.append(sb * delta)
        J = np.concatenate(blocks, axis=2)
        check_finite_result(type(self).__name__, "the Jacobian", J, _FIXES)
        return J

    @quiet_overflow
    def ntk(self, X, Y=None, output=0):
        r"""Empirical NTK :math:`J(X) J(Y)^\top` of each network.

        Computed layer by layer without forming :math:`J`: the weights of a
        layer with input :math:`a` and back-propagated delta :math:`\delta`
        contribute :math:`\frac{\sigma_w^2}{n_{in}}(\delta\delta'^\top)\odot
        (a a'^\top)`, its bias :math:`\sigma_b^2\,\delta\delta'^\top`.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        Y : array-like of shape (n_samples_Y, n_features), default=None
            ``None`` means ``X``.
        output : int, default=0
            Which output.

        Returns
        -------
        Theta : ndarray of shape (n_networks, n_samples_X, n_samples_Y)
        """
        X = self._check_fitted_X(X)
        self._check_output(output)
        dx, ax = self._output_deltas(X, output)
        if Y is None:
            dy, ay = dx, ax
        else:
            dy, ay = self._output_deltas(self._check_fitted_X(Y, "Y"), output)
        sw2, sb2 = float(self.sigma_w) ** 2, float(self.sigma_b) ** 2
        theta = 0.0
        for a1, a2, d1, d2 in zip(ax, ay, dx, dy):
            dd = d1 @ np.swapaxes(d2, 1, 2)
            aa = a1 @ np.swapaxes(a2, -1, -2)
            theta = theta + (sw2 / a1.shape[-1]) * dd * aa + sb2 * dd
        check_finite_result(type(self).__name__, "the empirical NTK", theta, _FIXES)
        return theta

    # ------------------------------------------------------------ training
    @quiet_overflow
    def train(
        self,
        X,
        y,
        n_steps,
        learning_rate=0.1,
        optimizer="gd",
        ridge=0.0,
        X_eval=None,
        eval_steps=None,
    ):
        r"""Full-batch training of every network on the mean squared error.

        Minimises :math:`\frac{1}{2N}\sum_i\|f(x_i) - y_i\|^2 +
        \frac{\lambda}{2}\|w - w_0\|^2` (``ridge`` :math:`\lambda`) from the
        current weights, which are updated in place (call :meth:`initialize`
        first, or let ``train`` do it when there are no weights yet). A run
        that diverges raises and restores the weights it started from.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        n_steps : int
            Number of steps.
        learning_rate : float, default=0.1
            Step size :math:`\eta`. After ``k`` steps the networks approximate
            :class:`~sknnk.InfiniteWidthRegressor` at ``t=k`` with the same
            ``learning_rate``.
        optimizer : {"gd", "ngd"}, default="gd"
            ``"gd"``: :math:`w \leftarrow w - \eta\nabla`. ``"ngd"``: natural
            gradient with the pseudo-inverse of the Fisher :math:`J^\top J/N`,
            i.e. :math:`w \leftarrow w - \eta J^\top (JJ^\top)^{+}(f(X) - y)`
            (one output and ``ridge=0`` only).
        ridge : float, default=0.0
            Weight decay toward the initial weights (``"gd"`` only).
        X_eval : array-like of shape (n_eval, n_features), default=None
            Points at which outputs are recorded; ``None`` records none.
        eval_steps : array-like of int, default=None
            Steps after which to record (0 = before training); ``None`` means
            ``[0, n_steps]``.

        Returns
        -------
        history : dict
            ``"steps"`` (n_records,), ``"train_loss"`` (n_records,
            n_networks) and, if ``X_eval`` is given, ``"outputs"`` (n_records,
            n_networks, n_eval, n_outputs).
        """
        owner = type(self).__name__
        X = check_input(X, "X", owner)
        if not hasattr(self, "weights_"):
            self.initialize(X.shape[1])
        X = self._check_fitted_X(X)
        y = np.asarray(y, dtype=np.float64).reshape(X.shape[0], -1)
        if not np.isfinite(y).all():
            raise ValueError(f"y passed to {owner}.train contains NaN or infinity.")
        if y.shape[1] != self.n_outputs:
            raise ValueError(
                f"y has {y.shape[1]} output(s) but the network has "
                f"n_outputs={self.n_outputs}."
            )
        check_int(owner, "n_steps", n_steps, 0)
        check_real(owner, "learning_rate", learning_rate, positive=True)
        check_options(owner, "optimizer", optimizer, {"gd", "ngd"})
        check_real(owner, "ridge", ridge, positive=False)
        if optimizer == "ngd" and (self.n_outputs != 1 or ridge != 0):
            raise ValueError("optimizer='ngd' supports n_outputs=1 and ridge=0 only.")
        if X_eval is not None:
            X_eval = self._check_fitted_X(X_eval, "X_eval")
        steps = np.array(
            [0, n_steps] if eval_steps is None else eval_steps, dtype=int
        ).ravel()
        if np.any(steps < 0) or np.any(steps > n_steps):
            raise ValueError(f"eval_steps must lie in [0, {n_steps}].")
        record = set(steps.tolist())
        N = X.shape[0]
        eta = float(learning_rate)
        # the weights at the call: the ridge's anchor, and what a diverged
        # run restores (no network is left with overflowed weights)
        w0 = [W.copy() for W in self.weights_]
        b0 = [b.copy() for b in self.biases_]

        def diverged(step):
            self.weights_[:], self.biases_[:] = w0, b0
            return _diverged(owner, step)

        snapshots = {}
        for k in range(n_steps + 1):
            f, acts, cache = self._forward(X)
            resid = f - y  # (E, N, n_outputs)
            if not np.isfinite(resid).all():
                raise diverged(k)
            if k in record:
                snap = {"loss": 0.5 * np.sum(resid**2, axis=(1, 2)) / N}
                if not np.isfinite(snap["loss"]).all():
                    raise diverged(k)
                if X_eval is not None:
                    snap["outputs"] = self.predict(X_eval)
                snapshots[k] = snap
            if k == n_steps:
                break
            if optimizer == "gd":
                cot = resid / N
            else:
                theta = self.ntk(X)
                cot = np.linalg.pinv(theta, hermitian=True) @ resid
            gW, gb = self._grads(acts, cache, cot)
            for i in range(len(self.weights_)):
                if ridge:
                    gW[i] += ridge * (self.weights_[i] - w0[i])
                    gb[i] += ridge * (self.biases_[i] - b0[i])
                self.weights_[i] -= eta * gW[i]
                self.biases_[i] -= eta * gb[i]
        history = {
            "steps": steps,
            "train_loss": np.stack([snapshots[s]["loss"] for s in steps]),
        }
        if X_eval is not None:
            history["outputs"] = np.stack([snapshots[s]["outputs"] for s in steps])
        return history


def monte_carlo_ntk(
    X,
    n_networks=16,
    width=1024,
    depth=1,
    activation="relu",
    sigma_w=2**0.5,
    sigma_b=0.1,
    length_scale=1.0,
    residual=False,
    branch_scale=1.0,
    normalization=None,
    random_state=None,
):
    r"""Mean and standard error of the empirical NTK of random networks.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    n_networks : int, default=16
        Number of networks (each holds ``width**2 * (depth - 1)`` weights).
    width, depth, activation, sigma_w, sigma_b
        See :class:`FiniteMLP`.
    length_scale, residual, branch_scale, normalization
        The architecture (see :class:`FiniteMLP`).
    random_state
        See :class:`FiniteMLP`.

    Returns
    -------
    Theta_mean : ndarray of shape (n_samples, n_samples)
    Theta_stderr : ndarray of shape (n_samples, n_samples)

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import NTKKernel
    >>> from sknnk.finite import monte_carlo_ntk
    >>> X = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> T, se = monte_carlo_ntk(X, n_networks=64, width=512, random_state=0)
    >>> bool(np.all(np.abs(T - NTKKernel()(X)) < 5 * se))
    True
    """
    owner = "monte_carlo_ntk"
    _check_net(
        owner, width, depth, activation, sigma_w, sigma_b, length_scale, residual,
        branch_scale, normalization,
    )  # fmt: skip
    check_int(owner, "n_networks", n_networks, 1)
    X = check_input(X, "X", owner)
    check_length_scale(owner, length_scale, X.shape[1])
    rng = check_generator(random_state)
    per_net = 8 * width * max(width, X.shape[1]) * max(depth, 1)
    batch = int(max(1, min(n_networks, 2**28 // per_net)))
    thetas = []
    for s0 in range(0, n_networks, batch):
        net = FiniteMLP(
            width, depth, activation, sigma_w, sigma_b, length_scale, residual,
            branch_scale, normalization, n_networks=min(batch, n_networks - s0),
            random_state=rng,
        )  # fmt: skip
        thetas.append(net.initialize(X.shape[1]).ntk(X))
    return sample_moments(owner, "the empirical NTK", np.concatenate(thetas))
