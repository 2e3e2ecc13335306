"""Public activation objects and :func:`resolve_activation` (the registry's front door).

A kernel's ``activation`` is either a name (see :data:`ACTIVATION_NAMES`), one
of the parameterised objects below, or any vectorised callable. Parameterised
objects behave like scikit-learn parameters: ``clone``, ``get_params`` and
``set_params`` work, so ``GridSearchCV`` can search e.g.
``{"kernel__activation__negative_slope": [0.01, 0.1, 0.3]}``.

Each activation is evaluated through its *dual*: the pair
``F(a, b, c) = E[phi(u) phi(v)]`` and ``G(a, b, c) = E[phi'(u) phi'(v)]`` for a
centred Gaussian pair with covariance ``[[a, c], [c, b]]``.

Closed forms (exact to rounding): ``"relu"``, ``"leaky_relu"`` (slope 0.01),
``"abs"``, :class:`ABReLU`, :class:`LeakyReLU`, ``"erf"``, ``"identity"``,
``"step"``, ``"sign"``, :class:`ArcCosine` of every order, ``"sin"``,
``"cos"``, ``"elu"`` (= :class:`ELU` with ``alpha=1``) and ``"selu"``. Step and
sign have a Dirac-delta derivative; as finite networks have zero gradient
through them, their ``G`` is 0 (the NTK then ignores the layers below, as in
neural-tangents). ELU and SELU are evaluated through the bivariate normal
distribution function (about 1e-14 relative, see :class:`ELU`).

Hermite series (see Notes of :class:`sknnk.NTKKernel`; ``"tanh"`` and
``"sigmoid"`` above layer variance 38 and 100 by a Gaussian scale mixture
of erf (sup error of phi below 1e-14), :mod:`sknnk._numerics.mixture`, and
``"softplus"`` above 200 by the integral of sigmoid's): ``"tanh"``,
``"sigmoid"``, ``"softplus"``, ``"swish"`` (= ``"silu"``), ``"gelu"`` (exact
``x Phi(x)``), ``"gelu_tanh"``, the other names of :data:`ACTIVATION_NAMES`,
user callables (:class:`Custom`).

Every value resolves to one entry of the activation registry
(:mod:`sknnk._numerics.registry`), which serves the kernels, the samplers, the
estimators, the finite networks and signal propagation alike.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator

from ._numerics import registry
from ._numerics.registry import ACTIVATION_NAMES
from ._validation import check_real

__all__ = [
    "ABReLU",
    "ACTIVATION_NAMES",
    "ArcCosine",
    "Custom",
    "ELU",
    "LeakyReLU",
    "resolve_activation",
]


class _Activation(BaseEstimator):
    """Base of parameterised activations (sklearn-style parameters)."""

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_params().items()))))

    def _spec(self, owner):  # pragma: no cover - abstract
        raise NotImplementedError


class ABReLU(_Activation):
    r"""Piecewise-linear activation :math:`\phi(x) = a \min(x, 0) + b \max(x, 0)`.

    ``ABReLU(0, 1)`` is ReLU, ``ABReLU(s, 1)`` the leaky ReLU with slope ``s``,
    ``ABReLU(-1, 1)`` the absolute value and ``ABReLU(1, 1)`` the identity.

    Parameters
    ----------
    a : float, default=0.0
        Slope for negative inputs.
    b : float, default=1.0
        Slope for positive inputs.

    Notes
    -----
    .. math::

        F = ab\,c + (b - a)^2 \sqrt{a_u b_v}\,\kappa_1(\rho), \qquad
        G = ab + (b - a)^2 \kappa_0(\rho)

    with the arc-cosine functions :math:`\kappa_0, \kappa_1` of ReLU.
    """

    def __init__(self, a: float = 0.0, b: float = 1.0):
        self.a = a
        self.b = b

    def _spec(self, owner):
        check_real(owner, "a", self.a, None)
        check_real(owner, "b", self.b, None)
        return registry.resolve("abrelu", (float(self.a), float(self.b)), repr(self))


class LeakyReLU(_Activation):
    """Leaky ReLU ``max(x, 0) + negative_slope * min(x, 0)`` (closed form).

    Parameters
    ----------
    negative_slope : float, default=0.01
        Slope for negative inputs.
    """

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def _spec(self, owner):
        check_real(owner, "negative_slope", self.negative_slope, None)
        prm = (float(self.negative_slope), 1.0)
        return registry.resolve("abrelu", prm, repr(self))


class ELU(_Activation):
    r"""Exponential linear unit :math:`\max(x, 0) + \alpha(e^{\min(x, 0)} - 1)`.

    ``ELU(1.0)`` is ``"elu"``; ``"selu"`` is
    ``SELU_SCALE * ELU(SELU_ALPHA)`` with the constants of Klambauer et al.
    (2017). Both are closed forms.

    Parameters
    ----------
    alpha : float, default=1.0
        Saturation value ``-alpha`` for negative inputs.

    Notes
    -----
    For :math:`(u, v) \sim N(0, [[a, c], [c, b]])` exponential tilting,
    :math:`E[e^{t^\top w} g(w)] = e^{t^\top\Sigma t/2} E[g(w + \Sigma t)]`, turns
    every exponential term into a bivariate normal probability, e.g.

    .. math::

        E[e^{u+v} 1\{u < 0, v < 0\}] = e^{(a+b+2c)/2}\,
        \Phi_2\Big(-\frac{a+c}{\sqrt a}, -\frac{b+c}{\sqrt b}; \rho\Big),

    and Stein's identity reduces the terms linear in ``u`` to univariate
    normal densities and distribution functions, giving ``F`` and ``G`` (and
    their partial derivatives, by Price's theorem) in closed form. The
    bivariate distribution function :math:`\Phi_2` is computed by
    Gauss-Legendre quadrature of Plackett's integral, with a separate
    treatment of correlations above 0.925 in absolute value: about 1e-14
    relative, also for correlations near or at +-1 and at large variances.
    If ``alpha != 1`` the derivative of ELU jumps at 0 (as for SELU) and the
    ``c``-derivative of ``G`` diverges like ``1 / sin(theta)`` as the
    correlation approaches +-1, as for ReLU; exactly at +-1 the correlation
    does not depend on the hyperparameters and the gradient uses the
    derivative at fixed correlation.
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def _spec(self, owner):
        check_real(owner, "alpha", self.alpha, None)
        return registry.resolve("elu", (float(self.alpha), 1.0), repr(self))


class ArcCosine(_Activation):
    """The activation ``max(x, 0)**order`` of the arc-cosine kernels.

    Order 0 is the step function, 1 is ReLU. Every order has the closed form
    of Cho and Saul (2009), ``E[relu(u)^n relu(v)^n] = (a b)^(n/2) J_n(theta) /
    (2 pi)``, evaluated by a recurrence in ``n`` (exact at every scale, no
    series).

    Parameters
    ----------
    order : int, default=1
        The power ``n >= 0``.
    """

    def __init__(self, order: int = 1):
        self.order = order

    def _spec(self, owner):
        n = self.order
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(
                f"The 'order' parameter of {owner} must be an int >= 0. "
                f"Got {n!r} instead."
            )
        return registry.resolve("arccos", (int(n),), repr(self))


class Custom(_Activation):
    """A user-supplied activation, evaluated by the Hermite series.

    Parameters
    ----------
    function : callable
        Vectorised ``phi`` (takes and returns float arrays), e.g. ``np.sin``.
    derivative : callable, default=None
        Vectorised ``phi'``. If None it is derived by central differences of
        ``function`` (about 1e-10 relative for smooth functions); pass it for
        full accuracy. Higher derivatives, needed for gradients only, are
        always derived from the series by Stein's identity.
    name : str, default=None
        Name shown in ``repr``.

    Notes
    -----
    ``phi`` must be square-integrable under every Gaussian the layers produce.
    Smooth functions converge geometrically; functions with kinks or jumps
    converge slowly and trigger a warning that states the truncation bound.
    Smooth functions with affine tails (``phi(x) ~ alpha x + beta`` as ``x ->
    +-inf``, up to exponentially small terms: softplus-, tanh- or
    ``x tanh(x)``-like; checked numerically, :mod:`sknnk._numerics.affine`)
    stay accurate at large layer variances (1e-9 up to about 3e3).
    """

    def __init__(self, function=None, derivative=None, name: str | None = None):
        self.function = function
        self.derivative = derivative
        self.name = name

    def _spec(self, owner):
        if not callable(self.function):
            raise TypeError(
                f"The 'function' parameter of {owner} must be a callable. "
                f"Got {self.function!r} instead."
            )
        if self.derivative is not None and not callable(self.derivative):
            raise TypeError(
                f"The 'derivative' parameter of {owner} must be a callable or None. "
                f"Got {self.derivative!r} instead."
            )
        resolved = registry.resolve(
            "custom", (self.function, self.derivative), repr(self)
        )
        probe = resolved.funcs[0](np.linspace(-3.0, 3.0, 7))
        if probe.shape != (7,) or not np.all(np.isfinite(probe)):
            raise ValueError(
                f"{owner}'s activation function must map a float array to a finite "
                "float array of the same shape (a vectorised numpy function)."
            )
        return resolved

    def __eq__(self, other):
        return (
            type(self) is type(other)
            and self.function is other.function
            and self.derivative is other.derivative
            and self.name == other.name
        )

    def __hash__(self):
        return hash((id(self.function), id(self.derivative), self.name))

    def __repr__(self, N_CHAR_MAX=700):
        if self.name is not None:
            return f"Custom(name={self.name!r})"
        return f"Custom({getattr(self.function, '__name__', repr(self.function))})"


def resolve_activation(activation, owner="kernel"):
    """Return the registry's resolved activation of an ``activation`` value.

    Parameters
    ----------
    activation : str, activation object or callable
        A name in :data:`ACTIVATION_NAMES`, an object of this module or a
        vectorised callable (taken as :class:`Custom`).
    owner : str, default="kernel"
        Named in error messages.

    Returns
    -------
    resolved : sknnk._numerics.registry.Resolved
        The engine's activation spec with its numpy functions and scalar maps.

    Raises
    ------
    ValueError
        For an unknown name (with the closest valid names) or another type.
    TypeError, ValueError
        For invalid parameters of an activation object.
    """
    if isinstance(activation, str):
        resolved = registry.resolve_name(activation)
        if resolved is not None:
            return resolved
    elif isinstance(activation, _Activation):
        return activation._spec(owner)
    elif callable(activation):
        return Custom(activation)._spec(owner)
    listed = ", ".join(repr(n) for n in ACTIVATION_NAMES)
    close = registry.suggest(activation)
    hint = " Did you mean " + " or ".join(repr(n) for n in close) + "?" if close else ""
    raise ValueError(
        f"The 'activation' parameter of {owner} must be a str among {{{listed}}}, "
        "an activation object from sknnk.activations (ABReLU, ArcCosine, Custom, "
        f"ELU, LeakyReLU) or a vectorised callable. Got {activation!r} instead." + hint
    )
