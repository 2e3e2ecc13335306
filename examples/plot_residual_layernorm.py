r"""
=================================================================
Residual connections and layer normalisation in deep NTK kernels
=================================================================

Deep plain networks forget their input: in the infinite-width limit the
correlation between the representations of two inputs follows a map with a
fixed point, so with depth every pair of inputs ends up equally correlated and
the deep NNGP/NTK tends to a kernel that cannot tell inputs apart. A residual
block :math:`z \mapsto z + \alpha\,\mathrm{branch}(z)` keeps a copy of the
stream, so each block moves the correlation only a little, and layer
normalisation fixes the variance seen by every nonlinearity (see
:mod:`sknnk.signal_propagation`). We compare the four architectures (plain,
residual, layer norm, residual + layer norm) through

1. the correlation of two inputs through the depth of the kernel, and
2. the test accuracy of kernel regression with the NTK on a subset of the
   digits data set, as a function of depth.
"""

# %%
# Correlation of two inputs versus depth
# --------------------------------------
# ``NNGPKernel(depth=L)`` is the covariance of the network's output after
# ``L`` hidden layers; its normalised off-diagonal entry is the correlation
# :math:`c^L` of the two inputs. We take erf with :math:`\sigma_w = 2.5`
# (chaotic: plain networks decorrelate every pair of inputs to :math:`c^*`).
import time

import numpy as np

from sknnk import NNGPKernel, NTKKernel

start = time.time()
ARCHS = {
    "plain": {},
    "residual": dict(residual=True, branch_scale=0.5),
    "layer norm": dict(normalization="layer"),
    "residual + layer norm": dict(
        residual=True, branch_scale=0.5, normalization="layer"
    ),
}
pair = np.array([[1.0, 0.2, 0.0], [0.8, 0.6, 0.1]])
depths = np.arange(1, 61)
corr = {}
for name, arch in ARCHS.items():
    c = []
    for depth in depths:
        K = NNGPKernel(depth=int(depth), activation="erf", sigma_w=2.5, **arch)(pair)
        c.append(K[0, 1] / np.sqrt(K[0, 0] * K[1, 1]))
    corr[name] = np.array(c)
    print(f"{name:>22}: c^1 = {c[0]:.3f}, c^60 = {c[-1]:.3f}")

# %%
# Kernel regression accuracy versus depth
# ---------------------------------------
# Kernel ridge regression on one-hot labels with the NTK (the mean prediction
# of the trained infinitely wide network), 400 training and 300 test digits.
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=400, test_size=300, random_state=0, stratify=y
)
scaler = StandardScaler().fit(X_train)
Z = np.vstack([scaler.transform(X_train), scaler.transform(X_test)])
Y = np.eye(10)[y_train]
n = len(X_train)
acc_depths = [1, 4, 16, 64]
accuracy = {}
for name, arch in ARCHS.items():
    acc = []
    for depth in acc_depths:
        K = NTKKernel(depth=depth, activation="relu", **arch)(Z)
        K_tr, K_te = K[:n, :n], K[n:, :n]
        ridge = 1e-3 * np.mean(np.diag(K_tr))
        coef = np.linalg.solve(K_tr + ridge * np.eye(n), Y)
        acc.append(np.mean(np.argmax(K_te @ coef, axis=1) == y_test))
    accuracy[name] = acc
    print(f"{name:>22}: accuracy " + " ".join(f"{a:.3f}" for a in acc))
print(f"computed in {time.time() - start:.1f} s")

# %%
# Plot
# ----
import matplotlib.pyplot as plt

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for name in ARCHS:
    ax1.plot(depths, corr[name], label=name)
    ax2.plot(acc_depths, accuracy[name], "o-", label=name)
ax1.set_xlabel("depth")
ax1.set_ylabel(r"correlation $c^L$ of two inputs")
ax1.set_title(r"NNGP, erf, $\sigma_w = 2.5$")
ax1.legend()
ax2.set_xscale("log", base=2)
ax2.set_xlabel("depth")
ax2.set_ylabel("test accuracy")
ax2.set_title("NTK kernel regression, digits (ReLU)")
ax2.legend()
fig.tight_layout()

# %%
# Save the figure in the working directory.
png = "plot_residual_layernorm.png"
fig.savefig(png, dpi=110)
print("saved", png)
