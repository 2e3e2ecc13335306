"""The activation registry: one entry per activation family, used by every tool.

An :class:`Entry` holds everything sknnk knows about one activation (or one
parameterised family of them):

* its public names (``ENTRIES`` below) with their parameters -- ``"relu"``,
  ``"leaky_relu"`` and ``"abs"`` are the family ``abrelu`` at ``(0, 1)``,
  ``(0.01, 1)`` and ``(-1, 1)``;
* its numpy ``(phi, phi', phi'', phi''')`` (:mod:`sknnk._numerics.smooth`) for
  finite networks, the random-feature samplers and the series engine;
* how the compiled engine evaluates its dual kernel: an integer closed-form
  code of :mod:`sknnk._numerics.activations` with its parameters, or the
  Hermite series (code ``SERIES``) of the numpy functions;
* its kink locations and its degree of positive homogeneity (if any).

:func:`resolve` turns a family and its parameters into a :class:`Resolved`
activation. That object is the engine's
:class:`~sknnk._numerics.activations.ActivationSpec` (the kernels consume it
directly) and adds the pointwise functions and the scalar single-variance maps
of signal propagation -- :meth:`Resolved.diag` (``V, W, dV/dq, dW/dq``) and
:meth:`Resolved.dual` (``F, G, dF/dc`` of a correlation) -- which are thin
adapters over the engine's compiled duals (``closed_form_diag``,
``closed_form_partials``) and Hermite tables (``series.diag_values``,
``series.layer_tables``), never a second derivation.

Adding an activation means adding one :class:`Entry` (and its numpy builder)
here; the kernels, samplers, finite networks, signal propagation and the
estimators then accept its name.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from . import activations as _na
from . import mixture as _mix
from . import series, smooth

Funcs = tuple  # (phi, phi', phi'' or None, phi''' or None)


@dataclass(frozen=True)
class Entry:
    """One activation family.

    Attributes
    ----------
    family : str
        Name of the family (``"abrelu"``, ``"tanh"``, ...).
    names : dict of str to tuple
        Public names of members of the family and their parameters.
    funcs : callable
        ``funcs(*prm)`` returns the numpy ``(phi, phi', phi'', phi''')``.
    dual : callable
        ``dual(*prm)`` returns ``(code, engine_prm)`` for the compiled
        engine: a closed-form code of :mod:`sknnk._numerics.activations`, or
        ``SERIES`` (the Hermite series of ``funcs``).
    kinks : callable
        ``kinks(*prm)`` returns the points where ``phi`` is not smooth.
    degree : callable
        ``degree(*prm)`` returns ``n`` if ``phi(t x) = t^n phi(x)`` for every
        ``t > 0``, else None.
    jump : callable
        ``jump(*prm)``: whether ``phi`` jumps (``phi'`` has a Dirac mass,
        taken as 0 by the duals, as a finite network has no gradient there).
    mixture : callable or None
        For a series family with a closed form where the series is not
        accurate: ``mixture(*prm)`` returns its ``(code, engine_prm)``
        (:data:`~sknnk._numerics.activations.ERF_MIX`,
        :data:`~sknnk._numerics.activations.SOFTPLUS_MIX`,
        :data:`~sknnk._numerics.activations.XERF_MIX`; used above the
        layer variance ``SERIES_MAX_VARIANCE[family]`` of
        :mod:`sknnk._numerics.mixture`).
    """

    family: str
    names: dict
    funcs: Callable
    dual: Callable
    kinks: Callable = lambda *prm: ()
    degree: Callable = lambda *prm: None
    jump: Callable = lambda *prm: False
    mixture: Callable | None = None


def _series(*prm):
    return _na.SERIES, ()


def _abrelu_dual(a, b):
    if (a, b) == (0.0, 1.0):
        return _na.RELU, ()
    return _na.ABRELU, (a, b)


def _arccos_dual(n):
    if n == 0:
        return _na.STEP, ()
    if n == 1:
        return _na.RELU, ()
    return _na.ARCCOS, (float(n),)


def _at_zero(*prm):
    return (0.0,)


def _mish():
    """Mish (Misra, 2019), ``x tanh(softplus(x))``: a new activation is one
    entry (its numpy functions; the engine derives everything else)."""

    def phi(x):
        return x * np.tanh(np.logaddexp(0.0, x))

    def dphi(x):
        t = np.tanh(np.logaddexp(0.0, x))
        return t + x * (1.0 - t * t) * special.expit(x)

    return phi, dphi, None, None


_ENTRY_LIST = [
    Entry("identity", {"identity": (), "linear": ()}, smooth.identity,
          lambda: (_na.IDENTITY, ()), degree=lambda: 1),
    Entry("abrelu",
          {"relu": (0.0, 1.0), "leaky_relu": (0.01, 1.0), "abs": (-1.0, 1.0)},
          smooth.abrelu, _abrelu_dual,
          kinks=lambda a, b: () if a == b else (0.0,), degree=lambda a, b: 1),
    Entry("arccos", {"step": (0,)}, smooth.relu_power, _arccos_dual,
          kinks=_at_zero, degree=lambda n: n, jump=lambda n: n == 0),
    Entry("sign", {"sign": ()}, smooth.sign, lambda: (_na.SIGN, ()),
          kinks=_at_zero, degree=lambda: 0, jump=lambda: True),
    Entry("erf", {"erf": ()}, smooth.erf, lambda: (_na.ERF, ())),
    Entry("sin", {"sin": ()}, smooth.sin, lambda: (_na.SIN, ())),
    Entry("cos", {"cos": ()}, smooth.cos, lambda: (_na.COS, ())),
    Entry("elu", {"elu": (1.0, 1.0), "selu": (smooth.SELU_ALPHA, smooth.SELU_SCALE)},
          smooth.elu, lambda alpha, lam: (_na.ELU, (alpha, lam)), kinks=_at_zero),
    Entry("tanh", {"tanh": ()}, smooth.tanh, _series,
          mixture=lambda: (_na.ERF_MIX, _mix.params(1.0, 0.0, 1.0))),
    # sigmoid(x) = 1/2 + tanh(x / 2) / 2
    Entry("sigmoid", {"sigmoid": ()}, smooth.sigmoid, _series,
          mixture=lambda: (_na.ERF_MIX, _mix.params(0.5, 0.5, 0.5))),
    # softplus' = sigmoid: its dual from sigmoid's by Price's theorem
    Entry("softplus", {"softplus": ()}, smooth.softplus, _series,
          mixture=lambda: (_na.SOFTPLUS_MIX, ())),
    # swish(x) = x / 2 + x tanh(x / 2) / 2: tanh's mixture at scales 2 s_k
    Entry("swish", {"swish": (), "silu": ()}, smooth.swish, _series,
          mixture=lambda: (_na.XERF_MIX, (_mix.XERF_SWISH,))),
    # gelu(x) = x / 2 + x erf(x / sqrt 2) / 2: one exact term
    Entry("gelu", {"gelu": ()}, smooth.gelu, _series,
          mixture=lambda: (_na.XERF_MIX, (_mix.XERF_GELU,))),
    # gelu_tanh: a fitted mixture of its tanh (mixture.GELU_TANH_AMPLITUDES)
    Entry("gelu_tanh", {"gelu_tanh": ()}, smooth.gelu_tanh, _series,
          mixture=lambda: (_na.XERF_MIX, (_mix.XERF_GELU_TANH,))),
    Entry("mish", {"mish": ()}, lambda: _mish(), _series),
    # user callables: prm = (function, derivative or None); no public name
    Entry("custom", {}, smooth.custom, _series),
]  # fmt: skip

#: family name -> :class:`Entry`
ENTRIES = {e.family: e for e in _ENTRY_LIST}
#: public activation name -> (family, parameters)
NAMES = {n: (e.family, prm) for e in _ENTRY_LIST for n, prm in e.names.items()}
#: Names accepted by every ``activation`` parameter, sorted.
ACTIVATION_NAMES = tuple(sorted(NAMES))


def _typed(fn):
    """Wrap ``fn`` so that it returns a new array of its input's dtype."""

    def call(x):
        return np.asarray(fn(x), dtype=x.dtype)

    return call


class Resolved(_na.ActivationSpec):
    """A resolved activation: the engine's spec plus pointwise and scalar maps.

    Parameters
    ----------
    name : str
        Shown in messages (the public name or the ``repr`` of an object).
    entry : Entry
        Its family.
    prm : tuple
        Family parameters.

    Attributes
    ----------
    code, prm, funcs, kink
        As :class:`~sknnk._numerics.activations.ActivationSpec`; ``funcs``
        are the numpy functions, ``kink`` is set for series activations that
        are not smooth at 0 (the series engine's Gregory weights).
    entry : Entry
    params : tuple
        Family parameters.
    kinks : tuple of float
        Points where ``phi`` is not smooth.
    degree : int or None
        Degree of positive homogeneity.
    jump : bool
        Whether ``phi`` is discontinuous.
    """

    def __init__(self, name: str, entry: Entry, prm: tuple):
        code, engine_prm = entry.dual(*prm)
        funcs = entry.funcs(*prm)
        kinks = tuple(entry.kinks(*prm))
        kink = code == _na.SERIES and 0.0 in kinks
        mix, top = None, np.inf
        if entry.mixture is not None:
            mix = _na.ActivationSpec(name, *entry.mixture(*prm), funcs=funcs)
            top = _mix.SERIES_MAX_VARIANCE[entry.family]
        super().__init__(name, code, engine_prm, funcs=funcs, kink=kink,
                         mixture=mix, series_max_variance=top)  # fmt: skip
        self.entry = entry
        self.params = prm
        self.kinks = kinks
        self.degree = entry.degree(*prm)
        self.jump = bool(entry.jump(*prm))

    # ------------------------------------------------------------ pointwise
    def pointwise(self):
        """``(phi, phi')`` as numpy functions of a float array.

        Returns
        -------
        phi, dphi : callable
            Vectorised functions returning a new array of the input's shape
            and (floating) dtype; the input is never modified.
        """
        return _typed(self.funcs[0]), _typed(self.funcs[1])

    # ------------------------------------------------------------ scalar maps
    def diag(self, q, derivatives: bool = True) -> tuple[np.ndarray, ...]:
        r"""``V, W, dV/dq, dW/dq`` at the variances ``q`` (the engine's diagonal).

        :math:`V(q) = E[\phi(\sqrt q z)^2]`, :math:`W(q) = E[\phi'(\sqrt q
        z)^2]`, :math:`z \sim N(0, 1)`.

        Parameters
        ----------
        q : array-like of shape (n,)
            Variances ``>= 0``.
        derivatives : bool, default=True
            If False the series activations skip ``dV/dq`` and ``dW/dq``
            (returned as zeros).

        Returns
        -------
        V, W, dV, dW : ndarray of shape (n,)
        """
        q = np.ascontiguousarray(q, dtype=float).reshape(-1)
        spec = self._method(q)
        if spec.code == _na.SERIES:
            return series.diag_values(self.funcs, q, derivatives, self.kink)
        return tuple(
            np.asarray(a, dtype=float) for a in _na.diag_values(spec.code, spec.prm, q)
        )

    def _method(self, q):
        """The spec that evaluates the variances ``q``: the mixture where one
        exceeds :attr:`series_max_variance` (as the engine chooses), else
        this one."""
        top = np.max(q, initial=0.0)
        if self.mixture is not None and top > self.series_max_variance:
            return self.mixture
        return self

    def dual(self, q: float, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""``F, G, dF/dc`` at the covariance ``[[q, c q], [c q, q]]``.

        :math:`F = E[\phi(u)\phi(v)]`, :math:`G = E[\phi'(u)\phi'(v)]` and
        :math:`\partial F / \partial c_{uv}` (Price's theorem: equal to
        :math:`G` except where ``phi`` jumps; the duals take ``G = 0`` there
        while the derivative of ``F`` is finite for ``|c| < 1``).

        Parameters
        ----------
        q : float
            Variance ``> 0``.
        c : array-like of shape (n,)
            Correlations in [-1, 1].

        Returns
        -------
        F, G, F_c : ndarray of shape (n,)
        """
        c = np.asarray(c, dtype=float).reshape(-1)
        spec = self._method(np.array([q], dtype=float))
        if spec.code != _na.SERIES:
            out = np.array(
                [
                    _na.closed_form_partials(spec.code, spec.prm, q, q, ci * q, True)
                    for ci in c
                ]  # fmt: skip
            ).reshape(-1, 8)
            # dF/dc = G (Price's theorem) unless phi jumps: the closed forms'
            # F_c slot is the partial along fixed rho at rho = +-1, i.e. 0
            return out[:, 0], out[:, 1], out[:, 4] if self.jump else out[:, 1]
        coef, rem, n_terms = self._tables(float(q))
        # the engine's Mehler sum with its Cauchy-Schwarz tail (rho^N r_N)
        powers = c[:, None] ** np.arange(n_terms + 1)[None, :]
        f = powers[:, :n_terms] @ coef[0, 0] ** 2 + powers[:, n_terms] * rem[0, 0]
        g = powers[:, :n_terms] @ coef[1, 0] ** 2 + powers[:, n_terms] * rem[1, 0]
        return f, g, g

    def _tables(self, q):
        """Hermite tables of ``phi`` and ``phi'`` at the variance ``q``, kept
        for the last few variances (fixed-point iterations reuse them)."""
        cache = self.__dict__.setdefault("_table_cache", {})
        if q not in cache:
            if len(cache) >= 8:
                cache.pop(next(iter(cache)))
            cache[q] = series.layer_tables(self.funcs[:2], np.array([q]), 8, self.kink)
        return cache[q]

    def slopes_at_infinity(self) -> tuple[float, float]:
        """``(phi'(-inf), phi'(+inf))``, as ``phi'`` at ``-+1e8``."""
        d = self.funcs[1](np.array([-1e8, 1e8]))
        return float(d[0]), float(d[1])


def resolve(family: str, prm: tuple, name: str | None = None) -> Resolved:
    """The :class:`Resolved` member ``prm`` of the family ``family``."""
    entry = ENTRIES[family]
    return Resolved(family if name is None else name, entry, tuple(prm))


def resolve_name(name: str) -> Resolved | None:
    """The :class:`Resolved` activation of a public name, or None if unknown."""
    if name not in NAMES:
        return None
    family, prm = NAMES[name]
    return resolve(family, prm, name)


def suggest(name) -> list[str]:
    """The valid names closest to ``name`` (case-insensitive, difflib)."""
    if not isinstance(name, str):
        return []
    folded = {n.lower().replace("-", "_"): n for n in ACTIVATION_NAMES}
    key = name.lower().replace("-", "_")
    if key in folded:
        return [folded[key]]
    return [folded[m] for m in difflib.get_close_matches(key, folded, n=2, cutoff=0.6)]
