r"""
=====================================================
Per-feature relevance (ARD) with the NNGP kernel
=====================================================

With an array ``length_scale``, :class:`sknnk.NNGPKernel` is the kernel of a
wide network whose first layer sees :math:`x / l`, one length scale per input
feature (Automatic Relevance Determination, as in Neal's Bayesian networks).
Maximising the marginal likelihood with the analytic gradients drives the
scales of irrelevant features up: :math:`1 / l_k` measures relevance.

On ``make_friedman1`` with 10 features, of which only the first 5 enter the
target, we compare the learned relevances of the NNGP kernel and of
scikit-learn's anisotropic ``RBF`` with the truth: the root-mean-square of
:math:`\partial f / \partial x_k` of the noise-free target.
"""

# %%
# Data: 5 informative and 5 pure-noise features
# ---------------------------------------------
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split

X, y = make_friedman1(n_samples=400, n_features=10, noise=0.5, random_state=1)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0)
d = X.shape[1]

# %%
# The truth: how much each feature moves the target
# -------------------------------------------------
# ``f = 10 sin(pi x1 x2) + 20 (x3 - 1/2)^2 + 10 x4 + 5 x5`` on uniform inputs.
u = np.random.default_rng(0).uniform(size=(100_000, d))
grad = np.zeros_like(u)
grad[:, 0] = 10 * np.pi * u[:, 1] * np.cos(np.pi * u[:, 0] * u[:, 1])
grad[:, 1] = 10 * np.pi * u[:, 0] * np.cos(np.pi * u[:, 0] * u[:, 1])
grad[:, 2] = 40 * (u[:, 2] - 0.5)
grad[:, 3] = 10.0
grad[:, 4] = 5.0
truth = np.sqrt((grad**2).mean(axis=0))

# %%
# Gaussian processes with ARD kernels
# -----------------------------------
# The same recipe for both kernels: a constant times the ARD kernel plus
# white noise, hyperparameters by L-BFGS-B on the marginal likelihood.
import warnings

from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from sknnk import NNGPKernel

kernels = {
    "NNGP-ARD (depth 2)": ConstantKernel()
    * NNGPKernel(depth=2, length_scale=np.ones(d))
    + WhiteKernel(),
    "NNGP isotropic": ConstantKernel() * NNGPKernel(depth=2) + WhiteKernel(),
    "RBF-ARD": ConstantKernel() * RBF(length_scale=np.ones(d)) + WhiteKernel(),
}
fitted, scores = {}, {}
for name, kernel in kernels.items():
    gpr = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # L-BFGS-B convergence chatter
        gpr.fit(Xtr, ytr)
    fitted[name] = gpr
    scores[name] = gpr.score(Xte, yte)
    print(f"{name:<20} test R^2 = {scores[name]:.3f}")

# %%
# Learned relevances against the truth
# ------------------------------------
# Each set of relevances is divided by its largest entry.
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

relevance = {
    "truth (RMS df/dx)": truth,
    "NNGP-ARD": 1 / fitted["NNGP-ARD (depth 2)"].kernel_.k1.k2.length_scale,
    "RBF-ARD": 1 / fitted["RBF-ARD"].kernel_.k1.k2.length_scale,
}
fig, ax = plt.subplots(figsize=(8, 4))
width = 0.27
for i, (name, r) in enumerate(relevance.items()):
    ax.bar(np.arange(d) + (i - 1) * width, r / r.max(), width, label=name)
ax.axvline(4.5, color="gray", lw=0.8, ls="--")
ax.text(4.6, 0.9, "pure noise", color="gray")
ax.set_xticks(np.arange(d), [f"x{k + 1}" for k in range(d)])
ax.set_ylabel("relevance (1 / length scale, normalised)")
r2 = ", ".join(f"{k.split(' (')[0]} {v:.3f}" for k, v in scores.items())
ax.set_title(f"make_friedman1: learned relevance (test R$^2$: {r2})", fontsize=9)
ax.legend()
fig.tight_layout()
fig.savefig("ard_relevance.png", dpi=100)
