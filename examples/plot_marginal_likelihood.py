r"""
=======================================================
Marginal-likelihood landscape over sigma_w and sigma_b
=======================================================

A Bayesian wide network is a Gaussian process with the NNGP kernel, so its
hyperparameters :math:`\sigma_w` and :math:`\sigma_b` can be chosen by
maximising the log marginal likelihood of the data, exactly as the length
scale of an RBF kernel. :class:`sknnk.NNGPKernel` provides the analytic
gradients that scikit-learn's optimiser (L-BFGS-B) uses. We draw the landscape
over :math:`(\log\sigma_w, \log\sigma_b)` on the *diabetes* data for ReLU and
erf networks, with the paths the optimiser takes from three starting points.
"""

# %%
# Data
# ----
# 300 standardised samples; the noise level of the Gaussian process is fixed
# (``WhiteKernel(0.5, "fixed")``) so that the landscape is two-dimensional.
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

X, y = load_diabetes(return_X_y=True)
X = StandardScaler().fit_transform(X)[:300]
y = ((y - y.mean()) / y.std())[:300]

# %%
# An optimiser that records its path
# ----------------------------------
# ``GaussianProcessRegressor`` accepts any callable ``optimizer(obj_func,
# initial_theta, bounds)``; this one is scikit-learn's default L-BFGS-B with a
# callback. ``theta`` is :math:`(\log\sigma_b, \log\sigma_w)` (the length
# scale fixed): scikit-learn orders hyperparameters alphabetically.
from scipy.optimize import minimize
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import WhiteKernel

from sknnk import NNGPKernel


def recording_optimizer(paths):
    def optimizer(obj_func, initial_theta, bounds):
        path = [np.array(initial_theta)]
        res = minimize(
            obj_func, initial_theta, jac=True, method="L-BFGS-B", bounds=bounds,
            callback=lambda theta: path.append(np.array(theta)),
        )  # fmt: skip
        paths.append(np.array(path))
        return res.x, res.fun

    return optimizer


def landscape(activation, depth, log_sw, log_sb):
    arch = dict(depth=depth, activation=activation, length_scale_bounds="fixed")
    kernel = NNGPKernel(**arch) + WhiteKernel(0.5, "fixed")
    gpr = GaussianProcessRegressor(kernel, optimizer=None).fit(X, y)
    lml = np.array(
        [[gpr.log_marginal_likelihood([b, w]) for b in log_sb] for w in log_sw]
    )
    paths, fits = [], []
    for sw, sb in [(0.3, 0.03), (0.4, 20.0), (2.0, 0.5)]:
        start = NNGPKernel(**arch, sigma_w=sw, sigma_b=sb)
        fit = GaussianProcessRegressor(
            start + WhiteKernel(0.5, "fixed"), optimizer=recording_optimizer(paths)
        ).fit(X, y)
        fits.append(fit)
    return lml, paths, fits


# %%
# The landscapes
# --------------
import time

log_sw = np.linspace(np.log(0.2), np.log(6.0), 34)
log_sb = np.linspace(np.log(1e-5), np.log(40.0), 34)
results = {}
for activation, depth in [("relu", 2), ("erf", 2)]:
    start = time.time()
    results[activation] = landscape(activation, depth, log_sw, log_sb)
    best = max(results[activation][2], key=lambda g: g.log_marginal_likelihood_value_)
    k = best.kernel_.k1
    for path in results[activation][1]:
        print(f"  path from (sigma_w, sigma_b) = {np.exp(path[0, ::-1]).round(3)} "
              f"to {np.exp(path[-1, ::-1]).round(3)}")  # fmt: skip
    print(f"{activation}: {log_sw.size * log_sb.size} evaluations + 3 fits in "
          f"{time.time() - start:.1f} s; best sigma_w = {k.sigma_w:.3f}, "
          f"sigma_b = {k.sigma_b:.3f}, log ML = "
          f"{best.log_marginal_likelihood_value_:.2f}")  # fmt: skip

# %%
# Plot: filled contours of the log marginal likelihood (clipped from below for
# contrast), optimiser paths from the three starts (circles) to their optima
# (stars). The likelihood hardly depends on :math:`\sigma_b` once it is small
# compared with the weight contribution, so the landscape has a flat valley
# floor and, for erf, a second optimum at :math:`\sigma_b \to 0` (the lower
# bound): restarts (``n_restarts_optimizer``) are worthwhile.
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(12, 5))
for ax, (activation, (lml, paths, _)) in zip(axes, results.items()):
    top = lml.max()
    levels = np.linspace(top - 60, top, 25)
    cs = ax.contourf(
        np.exp(log_sb), np.exp(log_sw), np.clip(lml, levels[0], None), levels=levels,
        cmap="viridis",
    )  # fmt: skip
    fig.colorbar(cs, ax=ax, label="log marginal likelihood")
    for path in paths:
        sb, sw = np.exp(path[:, 0]), np.exp(path[:, 1])
        ax.plot(sb, sw, "-", color="w", lw=1.2)
        ax.plot(sb[0], sw[0], "o", color="w", mec="k")
        ax.plot(sb[-1], sw[-1], "*", color="C3", ms=14, mec="k")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\sigma_b$")
    ax.set_ylabel(r"$\sigma_w$")
    ax.set_xlim(np.exp(log_sb[[0, -1]]))
    ax.set_ylim(np.exp(log_sw[[0, -1]]))
    ax.set_title(f"NNGP, {activation}, 2 hidden layers (diabetes)")
fig.tight_layout()

# %%
# Save the figure in the working directory.
png = "plot_marginal_likelihood.png"
fig.savefig(png, dpi=110)
print("saved", png)
