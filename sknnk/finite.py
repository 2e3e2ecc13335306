r"""Finite random networks: Monte Carlo NNGP, empirical NTK and GD training.

The kernels of :mod:`sknnk` are limits of finite networks. This module builds
those finite networks in plain numpy, with the same NTK parameterization
(all weights and biases i.i.d. :math:`N(0, 1)`)

.. math::

    h^1 = \frac{\sigma_w}{\sqrt d} W^1 x + \sigma_b b^1, \qquad
    h^{l+1} = \frac{\sigma_w}{\sqrt n} W^{l+1}\phi(h^l) + \sigma_b b^{l+1},
    \qquad f(x) = h^{L+1},

so that users (and the tests) can check the infinite-width predictions:

* :func:`sample_outputs` / :func:`monte_carlo_nngp`: outputs of many random
  networks at a few inputs, and the Monte Carlo estimate of the NNGP;
* :class:`FiniteMLP`: an ensemble of networks with explicit weights, their
  Jacobians, empirical NTKs :math:`J J^\top` (manual back-propagation) and
  full-batch gradient or natural-gradient descent training;
* :func:`monte_carlo_ntk`: the mean empirical NTK of random networks.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._validation import (
    check_generator,
    check_input,
    check_int,
    check_network,
    check_options,
    check_real,
)

__all__ = [
    "FiniteMLP",
    "monte_carlo_nngp",
    "monte_carlo_ntk",
    "sample_outputs",
]


def _check_net(owner, width, depth, activation, sigma_w, sigma_b):
    """Validate the network parameters; return ``(phi, phi')`` of the activation."""
    act = check_network(
        owner,
        depth=depth,
        activation=activation,
        sigma_w=sigma_w,
        sigma_b=sigma_b,
        width=width,
    )
    return act.pointwise()


def _psd_sqrt(C):
    """Symmetric square roots of a stack of PSD matrices (singular allowed)."""
    lam, V = np.linalg.eigh(C)
    return (V * np.sqrt(np.maximum(lam, 0.0))[..., None, :]) @ np.swapaxes(V, -1, -2)


def sample_outputs(
    X,
    n_networks=1000,
    width=1024,
    depth=1,
    activation="relu",
    sigma_w=2**0.5,
    sigma_b=0.1,
    method="gram",
    batch_size=None,
    random_state=None,
):
    r"""Outputs of random finite networks at the inputs ``X``.

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
    method : {"gram", "weights"}, default="gram"
        ``"weights"`` draws every weight matrix (``width x width`` numbers per
        hidden layer and network). ``"gram"`` draws the same random variables
        more cheaply: given the post-activations :math:`\Phi` (``width x m``)
        of a layer at the ``m`` inputs, the rows of :math:`W\Phi` are i.i.d.
        :math:`N(0, \Phi^\top\Phi)`, so each layer is drawn from an ``m x m``
        square root; the outputs have exactly the distribution of the
        literal networks, at cost ``O(width * m^2)`` per layer.
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

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk.finite import sample_outputs
    >>> X = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> f = sample_outputs(X, n_networks=5, width=64, random_state=0)
    >>> f.shape
    (5, 2)
    """
    owner = "sample_outputs"
    phi, _ = _check_net(owner, width, depth, activation, sigma_w, sigma_b)
    check_int(owner, "n_networks", n_networks, 1)
    check_options(owner, "method", method, {"gram", "weights"})
    check_int(owner, "batch_size", batch_size, 1, allow_none=True)
    X = check_input(X, "X", owner)
    rng = check_generator(random_state)
    m, d = X.shape
    sw2, sb2 = float(sigma_w) ** 2, float(sigma_b) ** 2
    if batch_size is None:
        per_net = 8 * width * (width if method == "weights" else m) * 3
        batch_size = int(max(1, min(n_networks, 2**28 // max(per_net, 1))))
    out = np.empty((n_networks, m))
    for s0 in range(0, n_networks, batch_size):
        E = min(batch_size, n_networks - s0)
        if method == "gram":
            C = np.broadcast_to(sw2 * (X @ X.T) / d + sb2, (E, m, m))
            for _ in range(depth):
                h = rng.standard_normal((E, width, m)) @ _psd_sqrt(C)
                a = phi(h)
                C = sw2 * np.swapaxes(a, 1, 2) @ a / width + sb2
            out[s0 : s0 + E] = (rng.standard_normal((E, 1, m)) @ _psd_sqrt(C))[:, 0]
        else:
            a = np.broadcast_to(X, (E, m, d))
            fan_in = d
            for layer in range(depth + 1):
                n_out = width if layer < depth else 1
                W = rng.standard_normal((E, n_out, fan_in))
                b = rng.standard_normal((E, 1, n_out))
                h = (float(sigma_w) / math.sqrt(fan_in)) * (a @ np.swapaxes(W, 1, 2))
                h += float(sigma_b) * b
                a = phi(h) if layer < depth else h
                fan_in = n_out
            out[s0 : s0 + E] = a[:, :, 0]
    return out


def monte_carlo_nngp(
    X,
    n_networks=1000,
    width=1024,
    depth=1,
    activation="relu",
    sigma_w=2**0.5,
    sigma_b=0.1,
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
    n_networks, width, depth, activation, sigma_w, sigma_b, method, random_state
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
        X, n_networks, width, depth, activation, sigma_w, sigma_b, method,
        random_state=random_state,
    )  # fmt: skip
    prods = f[:, :, None] * f[:, None, :]
    S = f.shape[0]
    mean = prods.mean(axis=0)
    se = (
        prods.std(axis=0, ddof=1) / math.sqrt(S)
        if S > 1
        else np.full_like(mean, np.inf)
    )
    return mean, se


class FiniteMLP:
    r"""An ensemble of independent finite fully-connected networks.

    ``n_networks`` networks with explicit weights, in the NTK
    parameterization of the sknnk kernels (see the module docstring), held
    with a leading network axis so that all of them are evaluated and trained
    together.

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
        n_outputs=1,
        n_networks=1,
        random_state=None,
    ):
        self.width = width
        self.depth = depth
        self.activation = activation
        self.sigma_w = sigma_w
        self.sigma_b = sigma_b
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
        _check_net(
            owner, self.width, self.depth, self.activation, self.sigma_w,
            self.sigma_b,
        )  # fmt: skip
        check_int(owner, "n_outputs", self.n_outputs, 1)
        check_int(owner, "n_networks", self.n_networks, 1)
        check_int(owner, "n_features", n_features, 1)
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
    def _forward(self, X):
        """Pre-activations ``hs``, layer inputs ``acts`` and derivatives
        ``dphis`` = phi'(h) of the hidden layers."""
        phi, dphi = _check_net(
            type(self).__name__, self.width, self.depth, self.activation,
            self.sigma_w, self.sigma_b,
        )  # fmt: skip
        sw, sb = float(self.sigma_w), float(self.sigma_b)
        a = np.broadcast_to(X, (self.n_networks,) + X.shape)
        acts, hs, dphis = [], [], []
        for layer, (W, b) in enumerate(zip(self.weights_, self.biases_)):
            acts.append(a)
            h = (sw / math.sqrt(W.shape[2])) * (a @ np.swapaxes(W, 1, 2))
            h += sb * b[:, None, :]
            hs.append(h)
            if layer < self.depth:
                a = phi(h)
                dphis.append(dphi(h))
        return hs, acts, dphis

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
        return self._forward(X)[0][-1]

    def _deltas(self, dphis, cot):
        """Back-propagate output cotangents ``cot`` of shape (E, n, n_outputs).

        Returns ``deltas[l]`` (E, n, fan_out of layer l): the derivative of
        ``cot[:, i] . f(x_i)`` with respect to ``h^l(x_i)``, for every example.
        """
        sw = float(self.sigma_w)
        deltas = [None] * len(self.weights_)
        delta = cot
        for layer in range(len(self.weights_) - 1, -1, -1):
            deltas[layer] = delta
            if layer == 0:
                break
            W = self.weights_[layer]
            back = (sw / math.sqrt(W.shape[2])) * (delta @ W)
            delta = back * dphis[layer - 1]
        return deltas

    def _grads(self, acts, dphis, cot):
        """Parameter gradients of ``sum_i cot_i . f(x_i)``."""
        sw, sb = float(self.sigma_w), float(self.sigma_b)
        deltas = self._deltas(dphis, cot)
        gW, gb = [], []
        for a, delta in zip(acts, deltas):
            gW.append((sw / math.sqrt(a.shape[2])) * np.swapaxes(delta, 1, 2) @ a)
            gb.append(sb * delta.sum(axis=1))
        return gW, gb

    # ------------------------------------------------------------ Jacobian
    def _output_deltas(self, X, output):
        """Per-example deltas of output ``output`` and the layer inputs."""
        _, acts, dphis = self._forward(X)
        cot = np.zeros((self.n_networks, X.shape[0], self.n_outputs))
        cot[:, :, output] = 1.0
        return self._deltas(dphis, cot), acts

    def _check_output(self, output):
        if not isinstance(output, numbers.Integral) or not (
            0 <= output < self.n_outputs
        ):
            raise ValueError(
                f"output must be an int in [0, {self.n_outputs}); got {output!r}."
            )

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
        return np.concatenate(blocks, axis=2)

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
        return theta

    # ------------------------------------------------------------ training
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
        first, or let ``train`` do it when there are no weights yet).

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
        w0 = [W.copy() for W in self.weights_] if ridge else None
        b0 = [b.copy() for b in self.biases_] if ridge else None
        snapshots = {}
        for k in range(n_steps + 1):
            hs, acts, dphis = self._forward(X)
            resid = hs[-1] - y  # (E, N, n_outputs)
            if k in record:
                snap = {"loss": 0.5 * np.sum(resid**2, axis=(1, 2)) / N}
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
            gW, gb = self._grads(acts, dphis, cot)
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
    random_state=None,
):
    r"""Mean and standard error of the empirical NTK of random networks.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    n_networks : int, default=16
        Number of networks (each holds ``width**2 * (depth - 1)`` weights).
    width, depth, activation, sigma_w, sigma_b, random_state
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
    _check_net(owner, width, depth, activation, sigma_w, sigma_b)
    check_int(owner, "n_networks", n_networks, 1)
    X = check_input(X, "X", owner)
    rng = check_generator(random_state)
    per_net = 8 * width * max(width, X.shape[1]) * max(depth, 1)
    batch = int(max(1, min(n_networks, 2**28 // per_net)))
    thetas = []
    for s0 in range(0, n_networks, batch):
        net = FiniteMLP(
            width, depth, activation, sigma_w, sigma_b,
            n_networks=min(batch, n_networks - s0), random_state=rng,
        )  # fmt: skip
        thetas.append(net.initialize(X.shape[1]).ntk(X))
    thetas = np.concatenate(thetas)
    se = (
        thetas.std(axis=0, ddof=1) / math.sqrt(n_networks)
        if n_networks > 1
        else np.full(thetas.shape[1:], np.inf)
    )
    return thetas.mean(axis=0), se
