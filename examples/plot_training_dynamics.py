r"""
==========================================================
Training dynamics: infinite width vs finite networks
==========================================================

An infinitely wide network trained by gradient descent on the squared loss is
a linear model in its parameters, so its outputs over random initialisations
are Gaussian at every training time :math:`t`, with a closed-form mean and
covariance (Lee et al. 2019). :class:`sknnk.InfiniteWidthRegressor` computes
them from one eigendecomposition of the NTK. Here we put them next to an
ensemble of 64 real networks of width 1024 trained by full-batch gradient
descent (:class:`sknnk.finite.FiniteMLP`), and compare gradient descent with
natural-gradient descent, which learns every eigendirection of the NTK at the
same rate.
"""

# %%
# Data and the infinite-width model
# ---------------------------------
# Ten noisy samples of :math:`\sin 2\theta`, with the angle :math:`\theta`
# given to the network as the point :math:`\sqrt 2(\cos\theta, \sin\theta)` of
# a circle; a network with one hidden ReLU layer. Time is counted in gradient
# steps of size ``learning_rate``.
import numpy as np

from sknnk import InfiniteWidthRegressor

rng = np.random.default_rng(0)
theta = np.sort(rng.uniform(-2.8, 2.8, 10))
y = np.sin(2 * theta) + 0.1 * rng.normal(size=10)
theta_test = np.linspace(-np.pi, np.pi, 200)


def circle(t):
    return np.sqrt(2) * np.column_stack([np.cos(t), np.sin(t)])


X, X_test = circle(theta), circle(theta_test)
net = dict(depth=1, activation="relu", sigma_w=1.5, sigma_b=0.1)
eta = 0.5
gd = InfiniteWidthRegressor(**net, learning_rate=eta).fit(X, y)
lam = gd.eigenvalues_[::-1]
print("NTK eigenvalues / N:", (lam / len(X)).round(3))
print(f"largest step eta * lambda_max / N = {eta * lam[0] / len(X):.2f} (< 2: stable)")

# %%
# 64 finite networks trained by gradient descent
# ----------------------------------------------
# All networks are trained at once (the weights carry a leading network axis).
import time

from sknnk.finite import FiniteMLP

steps = [0, 10, 100, 1000]
start = time.time()
ensemble = FiniteMLP(width=1024, n_networks=64, random_state=1, **net)
hist_gd = ensemble.train(
    X, y, n_steps=steps[-1], learning_rate=eta, X_eval=X_test, eval_steps=steps
)
print(f"trained 64 networks for {steps[-1]} steps in {time.time() - start:.1f} s")
finite = hist_gd["outputs"][..., 0]  # (steps, networks, test points)
mean, std = gd.predict(X_test, t=np.array(steps, float), return_std=True)
diff = np.abs(finite.mean(1) - mean)
z = diff / (finite.std(1, ddof=1) / np.sqrt(64))
print("max |mean difference| per time:", diff.max(axis=1).round(3))
print("max |z| of the ensemble mean per time:", np.abs(z).max(axis=1).round(2))

# %%
# The means agree within a few standard errors. As training proceeds the
# spread over initialisations shrinks, while the finite-width corrections
# (the NTK of a width-1024 network differs from its limit by a few percent and
# moves a little during training) do not, so late-time z-scores grow: the
# slowest eigendirections of the NTK are the most sensitive to finite width.

# %%
# Predictions at several training times
# -------------------------------------
# Shaded: the infinite-width mean :math:`\pm 2` standard deviations; dashed:
# mean and :math:`\pm 2` standard deviations of the 64 trained networks.
import matplotlib.pyplot as plt

fig, axes = plt.subplots(2, 4, figsize=(15, 7.5))
for j, (ax, t) in enumerate(zip(axes[0], steps)):
    ax.fill_between(
        theta_test, mean[j] - 2 * std[j], mean[j] + 2 * std[j], color="C0", alpha=0.25,
        label=r"infinite width, $\pm 2$ std",
    )  # fmt: skip
    ax.plot(theta_test, mean[j], color="C0", lw=2, label="infinite width, mean")
    m, s = finite[j].mean(0), finite[j].std(0)
    ax.plot(theta_test, m, "--", color="C3", label="64 networks, mean")
    ax.plot(theta_test, m - 2 * s, ":", color="C3")
    ax.plot(theta_test, m + 2 * s, ":", color="C3")
    ax.plot(theta, y, "ko", ms=4, label="training data")
    ax.set_ylim(-3.5, 3.5)
    ax.set_xlabel(r"$\theta$")
    ax.set_title(f"gradient descent, t = {t} steps")
axes[0, 0].legend(loc="lower left", fontsize=8)

# %%
# Gradient descent vs natural gradient
# ------------------------------------
# Natural-gradient flow (``optimizer="ngd"``) preconditions by the Fisher
# matrix: the training residual decays as :math:`e^{-\eta t}` in every
# eigendirection, whereas gradient descent learns the direction of eigenvalue
# :math:`\lambda_i` at the rate :math:`\eta\lambda_i/N`: fast for the smooth top
# eigenfunctions, slowly for the rest. Both end at the same :math:`t=\infty`
# predictor. The finite NGD networks take
# :math:`w \leftarrow w - \eta J^\top(JJ^\top)^{-1}(f(X) - y)`.
eta_ngd = 0.02
ngd = InfiniteWidthRegressor(**net, optimizer="ngd", learning_rate=eta_ngd).fit(X, y)
steps_ngd = [0, 5, 20, 50, 100, 250]
start = time.time()
ensemble = FiniteMLP(width=1024, n_networks=64, random_state=2, **net)
hist_ngd = ensemble.train(
    X, y, n_steps=steps_ngd[-1], learning_rate=eta_ngd, optimizer="ngd",
    eval_steps=steps_ngd,
)  # fmt: skip
print(f"NGD: {steps_ngd[-1]} steps in {time.time() - start:.1f} s")


def expected_loss(model, t):
    """E over initialisations of (1/2N) sum (f_t(x_i) - y_i)^2."""
    m, s = model.predict(X, t=t, return_std=True)
    return 0.5 * np.mean((m - y) ** 2 + s**2, axis=-1)


# time axis in units of eta * t
t_gd = np.geomspace(0.02, 2e3, 200)
ax = axes[1, 0]
ax.loglog(eta * t_gd, expected_loss(gd, t_gd), color="C0", label="GD, infinite width")
ax.loglog(
    eta * np.array(steps[1:]), hist_gd["train_loss"][1:].mean(1), "o", color="C0",
    label="GD, 64 networks",
)  # fmt: skip
t_ngd = np.geomspace(0.5, 400, 200)
ax.loglog(eta_ngd * t_ngd, expected_loss(ngd, t_ngd), color="C1", label="NGD, infinite")
ax.loglog(
    eta_ngd * np.array(steps_ngd[1:]), hist_ngd["train_loss"][1:].mean(1), "s",
    color="C1", label="NGD, 64 networks",
)  # fmt: skip
ax.set_xlabel(r"$\eta t$")
ax.set_ylabel("mean training loss")
ax.legend(fontsize=8)
ax.set_title("training loss")

# %%
# What each optimizer has learned at the same :math:`\eta t`: gradient descent
# fits the smooth part first; NGD shrinks the residual uniformly toward the
# same interpolant.
for ax, eta_t in zip(axes[1, 1:], [0.5, 2.0, np.inf]):
    ax.plot(theta_test, gd.predict(X_test, t=eta_t / eta), color="C0", label="GD mean")
    ax.plot(
        theta_test, ngd.predict(X_test, t=eta_t / eta_ngd), color="C1", label="NGD mean"
    )
    ax.plot(theta, y, "ko", ms=4)
    ax.set_ylim(-2, 2)
    ax.set_xlabel(r"$\theta$")
    ax.set_title(r"$\eta t$ = " + (r"$\infty$" if np.isinf(eta_t) else f"{eta_t}"))
axes[1, 1].legend(fontsize=8)
fig.tight_layout()

# %%
# Save the figure in the working directory.
png = "plot_training_dynamics.png"
fig.savefig(png, dpi=100)
print("saved", png)
