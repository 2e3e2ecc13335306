"""
=====================================================================
Scaling up: Nystroem and random features for the NTK and the NNGP
=====================================================================

An exact Gram matrix has :math:`N^2` entries, so exact kernel methods stop at a
few tens of thousands of points. For more, replace the kernel by an explicit
feature map :math:`\\Phi` with :math:`\\Phi(x)\\cdot\\Phi(y) \\approx k(x, y)` and
train a linear model on it:

* **Nystroem with the exact kernel**: ``Nystroem(kernel=NTKKernel(...))``
  from scikit-learn, with ``k`` landmark points, is
  :math:`\\Phi\\Phi^\\top = K_{XZ} K_{ZZ}^{+} K_{ZX}`; it adapts to the data;
* **random features**: :class:`sknnk.NNGPSampler` and
  :class:`sknnk.NTKSampler` are random networks of width ``m`` (the NTK one
  with a sketch of the backward pass); they need no fit and do not look at the
  data, and their error falls like :math:`1/\\sqrt m`.

This example measures, on the *digits* data set, how close each
approximation gets to the exact Gram and how well a linear classifier on the
features does compared with the exact kernel.
"""

# %%
# Data and the exact kernels
# --------------------------
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sknnk import NNGPKernel, NNGPSampler, NTKKernel, NTKSampler
from sknnk.large_scale import select_nystroem_components

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
arch = dict(depth=3, activation="relu", sigma_w=1.4, sigma_b=0.1)
exact = {"NNGP": NNGPKernel(**arch), "NTK": NTKKernel(**arch)}
K_exact = {name: k(X_train) for name, k in exact.items()}


def gram_error(features, K):
    """Relative Frobenius error of the approximate Gram."""
    return np.linalg.norm(features @ features.T - K) / np.linalg.norm(K)


# %%
# Error of the approximate Gram
# -----------------------------
# Nystroem with ``k`` landmarks has ``k`` features; a random network of width
# ``m`` gives ``m + 1`` NNGP features and about ``2m + 1`` NTK features.
landmarks = [32, 64, 128, 256, 512, 1024]
widths = [128, 256, 512, 1024, 2048, 4096]
errors = {}
for name, kernel in exact.items():
    errs = []
    for k in landmarks:
        nys = Nystroem(kernel=kernel, n_components=k, random_state=0)
        errs.append(gram_error(nys.fit(X_train).transform(X_train), K_exact[name]))
    errors[f"Nystroem {name}"] = (landmarks, errs)
    sampler_cls = NNGPSampler if name == "NNGP" else NTKSampler
    dims, errs = [], []
    for m in widths:
        rf = sampler_cls(n_components=m, random_state=0, **arch).fit(X_train)
        F = rf.transform(X_train)
        dims.append(F.shape[1])
        errs.append(gram_error(F, K_exact[name]))
    errors[f"{sampler_cls.__name__} {name}"] = (dims, errs)

for label, (dims, errs) in errors.items():
    print(f"{label:<20}", "  ".join(f"{d}:{e:.3f}" for d, e in zip(dims, errs)))

# %%
# :func:`sknnk.large_scale.select_nystroem_components` picks the number of
# landmarks for a target error, measured on a subsample of the data (the exact
# Gram of ``n_samples`` points is the reference). The 64 pixels of *digits*
# have a high intrinsic dimension, so the NTK spectrum decays slowly and
# Nystroem needs many landmarks here:
k_ntk, report = select_nystroem_components(
    exact["NTK"], X_train, tol=0.12, n_components=(64, 128, 256, 512), random_state=0
)
print("landmarks for a 12% NTK error:", k_ntk, "errors:", np.round(report.errors, 4))

# %%
# Test accuracy of a linear classifier on the features
# ----------------------------------------------------
# The reference is an SVM with the exact NTK (the whole Gram).
start = time.perf_counter()
svc = SVC(kernel=exact["NTK"], C=10.0).fit(X_train, y_train)
exact_acc = svc.score(X_test, y_test)
print(f"SVC, exact NTK: {exact_acc:.3f} ({time.perf_counter() - start:.1f} s)")

accuracy = {}
for label, make in {
    "Nystroem NTK": lambda k: Nystroem(
        kernel=exact["NTK"], n_components=k, random_state=0
    ),
    "NTKSampler": lambda m: NTKSampler(n_components=m, random_state=0, **arch),
    "NNGPSampler": lambda m: NNGPSampler(n_components=m, random_state=0, **arch),
}.items():
    sizes = landmarks if label.startswith("Nystroem") else widths
    accs = []
    for size in sizes:
        model = make_pipeline(make(size), RidgeClassifier(alpha=1e-2))
        accs.append(model.fit(X_train, y_train).score(X_test, y_test))
    accuracy[label] = (sizes, accs)
    print(f"{label:<14}", "  ".join(f"{s}:{a:.3f}" for s, a in zip(sizes, accs)))

# %%
# Plot
# ----
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
styles = {"Nystroem": "o-", "NTKSampler": "s--", "NNGPSampler": "^--"}
for label, (dims, errs) in errors.items():
    axes[0].loglog(dims, errs, styles[label.split()[0]], label=label)
d = np.array([128, 8193])
axes[0].loglog(d, 4.0 / np.sqrt(d / 2), ":", color="grey", label=r"$4/\sqrt{m}$")
axes[0].set_xlabel("number of features")
axes[0].set_ylabel("relative Frobenius error of the Gram")
axes[0].set_title(f"digits, relu depth {arch['depth']}, {len(X_train)} points")
axes[0].legend(fontsize=8)

for label, (sizes, accs) in accuracy.items():
    axes[1].semilogx(sizes, accs, styles[label.split()[0]], label=label)
axes[1].axhline(exact_acc, color="k", lw=1, label="SVC, exact NTK")
axes[1].set_xlabel("landmarks k (Nystroem) / width m (random features)")
axes[1].set_ylabel("test accuracy (RidgeClassifier on the features)")
axes[1].legend(fontsize=8)
fig.tight_layout()

# %%
# Nystroem is the accurate choice when the data fit in memory once (its fit
# needs the ``k x k`` Gram of the landmarks and each transformed row ``k``
# kernel entries); the random features are data-independent and need no fit.
# Save the figure in the working directory.
png = "plot_kernel_approximation.png"
fig.savefig(png, dpi=110)
