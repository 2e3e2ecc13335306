"""The numerics layer of sknnk: compiled recursions, duals and the Gram engine.

Module map (one role per file):

* ``engine`` -- the entry point: :class:`~sknnk._numerics.engine.Network`
  record, ``gram``, ``diag`` and the per-point preparation.
* ``layer`` -- the one layer map: parameter record, state, seed, dense layer,
  correlation, and the parameterization scalars shared with the samplers.
* ``activations`` -- closed-form duals ``F``, ``G`` and their partials.
* ``bvn`` -- bivariate normal probabilities for the ELU/SELU duals.
* ``series`` -- Hermite (Mehler) tables of activations without a closed form.
* ``smooth`` -- the numpy ``phi, phi', ...`` of those activations.
* ``recursion`` -- the per-entry depth recursion (any activation code).
* ``gram`` -- the generic and series tile drivers and the plan that feeds them.
* ``fast`` -- the vectorised ReLU-family and erf tile drivers, row helpers.
"""
