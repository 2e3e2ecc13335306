"""
===========================================================
NTK and NNGP kernels vs the RBF kernel on real data sets
===========================================================

The kernels of infinitely wide networks drop into any scikit-learn kernel
method. We compare them with the RBF kernel on three data sets that ship with
scikit-learn: Gaussian-process regression with marginal-likelihood tuning on
*diabetes*, and support vector classification on *breast cancer* and
*digits*; plus the infinitely wide network itself trained by gradient descent
(:class:`sknnk.InfiniteWidthRegressor` with the training time chosen by
cross-validation, :class:`sknnk.InfiniteWidthClassifier` trained to
convergence with a small weight decay).
Scores are on held-out test sets; times include fitting and prediction.
"""

# %%
# Models
# ------
# The same network architecture (3 hidden ReLU layers, the default
# :math:`\sigma_w = \sqrt 2`, :math:`\sigma_b = 0.1`) gives the NNGP and the
# NTK. In the Gaussian process the kernel is scaled by a ``ConstantKernel`` and
# a ``WhiteKernel`` models the noise, all tuned by maximising the marginal
# likelihood (for the network kernels this includes :math:`\sigma_b`, through
# its analytic gradient; :math:`\sigma_w` is fixed, as the constant carries the
# amplitude). A single split: ``python -m sknnk`` gives cross-validated means
# and standard deviations.
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sknnk import InfiniteWidthClassifier, InfiniteWidthRegressor, NNGPKernel, NTKKernel

arch = dict(depth=3, activation="relu", sigma_b=0.1)  # sigma_w: sqrt(2)


def base_kernels(n_features, **params):
    return {
        "RBF": RBF(length_scale=np.sqrt(n_features)),
        "NNGP": NNGPKernel(**arch, **params),
        "NTK": NTKKernel(**arch, **params),
    }


def regressors(n_features):
    # sigma_w fixed: with ReLU it is an amplitude, which the ConstantKernel
    # carries (two amplitudes would leave the likelihood flat along a ridge)
    models = {
        name: GaussianProcessRegressor(
            ConstantKernel() * k + WhiteKernel(0.5), normalize_y=True, random_state=0
        )
        for name, k in base_kernels(n_features, sigma_w_bounds="fixed").items()
    }
    # the trained infinite network, stopped early: the training time t is a
    # hyperparameter like any other, chosen here by cross-validation
    models["wide net (GD)"] = GridSearchCV(
        InfiniteWidthRegressor(**arch), {"t": [3, 10, 30, 100, 300, np.inf]}, cv=5
    )
    return models


def classifiers(n_features):
    models = {
        name: SVC(kernel=k, C=3.0) for name, k in base_kernels(n_features).items()
    }
    models["wide net (GD)"] = InfiniteWidthClassifier(**arch, ridge=1e-3)
    return models


# %%
# Fit and score
# -------------
datasets = {
    "diabetes (GP regression, R²)": (load_diabetes, regressors),
    "breast cancer (SVC, accuracy)": (load_breast_cancer, classifiers),
    "digits (SVC, accuracy)": (load_digits, classifiers),
}
scores, times = {}, {}
for data_name, (loader, make_models) in datasets.items():
    X, y = loader(return_X_y=True)
    if make_models is regressors:
        y = (y - y.mean()) / y.std()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    for model_name, model in make_models(X.shape[1]).items():
        pipe = make_pipeline(StandardScaler(), model)
        start = time.perf_counter()
        pipe.fit(X_train, y_train)
        score = pipe.score(X_test, y_test)
        times[data_name, model_name] = time.perf_counter() - start
        scores[data_name, model_name] = score
        print(f"{data_name:32s} {model_name:18s} score {score:.3f} "
              f"time {times[data_name, model_name]:6.2f} s")  # fmt: skip

# %%
# Scores and times
# ----------------
import matplotlib.pyplot as plt

model_names = ["RBF", "NNGP", "NTK", "wide net (GD)"]
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
width = 0.2
for ax, table, label in [(axes[0], scores, "test score"), (axes[1], times, "time (s)")]:
    for i, model_name in enumerate(model_names):
        vals = [table[d, model_name] for d in datasets]
        pos = np.arange(len(datasets)) + (i - 1.5) * width
        bars = ax.bar(pos, vals, width, label=model_name)
        if table is scores:
            ax.bar_label(bars, fmt="%.3f", fontsize=6, rotation=90, padding=2)
    ax.set_xticks(np.arange(len(datasets)), list(datasets), fontsize=8)
    ax.set_ylabel(label)
axes[0].set_ylim(0, 1.3)
axes[0].legend(loc="upper center", ncols=4, fontsize=8)
axes[1].set_yscale("log")
_ = axes[0].set_title("held-out score (higher is better)")
_ = axes[1].set_title("fit + predict time")
fig.tight_layout()

# %%
# Save the figure in the working directory.
png = "plot_kernels_vs_rbf.png"
fig.savefig(png, dpi=110)
print("saved", png)
