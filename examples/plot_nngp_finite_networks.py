"""
==============================================
Wide random networks are Gaussian processes
==============================================

A fully-connected network with random weights computes a random function. As
its hidden layers grow wide, the outputs at any finite set of inputs become
jointly Gaussian with the covariance given by the NNGP kernel
(:class:`sknnk.NNGPKernel`). We check this the classic way: draw 1000 random
ReLU networks with 3 hidden layers of width 1000, evaluate each at two inputs
:math:`x_1, x_2`, and overlay the scatter of :math:`(f(x_1), f(x_2))` with the
ellipses of the predicted Gaussian.
"""

# %%
# 1000 random networks
# --------------------
# :func:`sknnk.finite.sample_outputs` draws networks in the NTK parameterization
# of the sknnk kernels. ``method="gram"`` draws each layer's outputs at the two
# inputs from their exact conditional distribution (given the previous layer,
# :math:`W\phi` has i.i.d. Gaussian rows), which is the distribution of the
# literal networks at a fraction of the cost; ``method="weights"`` draws every
# weight matrix, and we use it for 100 more networks as a check.
import numpy as np

from sknnk.finite import sample_outputs

X = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])  # two inputs, 53 degrees apart
net = dict(width=1000, depth=3, activation="relu", sigma_w=1.5, sigma_b=0.1)
f = sample_outputs(X, n_networks=1000, random_state=0, **net)
f_literal = sample_outputs(X, n_networks=100, method="weights", random_state=1, **net)
print("outputs:", f.shape)

# %%
# The NNGP covariance
# -------------------
# The empirical second moment over networks estimates the kernel; its standard
# error is :math:`\sqrt{(K_{11}K_{22} + K_{12}^2)/S}` for :math:`S` networks.
from sknnk import NNGPKernel

K = NNGPKernel(depth=3, activation="relu", sigma_w=1.5, sigma_b=0.1)(X)
K_mc = f.T @ f / len(f)
se = np.sqrt((np.outer(np.diag(K), np.diag(K)) + K**2) / len(f))
print("NNGP kernel:\n", K.round(4))
print("Monte Carlo estimate:\n", K_mc.round(4))
print("z-scores:\n", ((K_mc - K) / se).round(2))

# %%
# Scatter and covariance ellipses
# -------------------------------
# The ellipses enclose 39%, 86% and 99% of a 2-D Gaussian (1, 2 and 3 standard
# deviations in the Mahalanobis distance). The right panel compares the
# squared Mahalanobis distances of the networks with their
# :math:`\chi^2_2` (exponential) distribution.
import matplotlib.pyplot as plt

lam, V = np.linalg.eigh(K)
angle = np.linspace(0, 2 * np.pi, 200)
circle = np.stack([np.cos(angle), np.sin(angle)])

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 5))
ax.scatter(f[:, 0], f[:, 1], s=6, alpha=0.5, label="1000 networks (Gram sampler)")
ax.scatter(
    f_literal[:, 0], f_literal[:, 1], s=14, marker="x", color="k",
    label="100 networks (explicit weights)",
)  # fmt: skip
for r in (1, 2, 3):
    ell = V @ (r * np.sqrt(lam)[:, None] * circle)
    ax.plot(
        ell[0], ell[1], color="C3", lw=1.5, label="NNGP ellipses" if r == 1 else None
    )
ax.set_xlabel("$f(x_1)$")
ax.set_ylabel("$f(x_2)$")
ax.set_aspect("equal")
ax.legend(loc="upper left", fontsize=8)
_ = ax.set_title("Width-1000 ReLU networks, 3 hidden layers")

m2 = np.einsum("si,ij,sj->s", f, np.linalg.inv(K), f)
bins = np.linspace(0, 14, 36)
ax2.hist(m2, bins=bins, density=True, alpha=0.6, label="networks")
ax2.plot(bins, 0.5 * np.exp(-bins / 2), color="C3", label=r"$\chi^2_2$ density")
ax2.set_xlabel(r"squared Mahalanobis distance $f^\top K^{-1} f$")
ax2.legend()
_ = ax2.set_title("Gaussian check")
fig.tight_layout()

# %%
# Save the figure in the working directory.
png = "plot_nngp_finite_networks.png"
fig.savefig(png, dpi=110)
print("saved", png)
