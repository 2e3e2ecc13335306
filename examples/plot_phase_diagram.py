r"""
=====================================================
Order, chaos and the critical line of tanh and ReLU
=====================================================

Deep in a wide random network, the correlation :math:`c` between the hidden
representations of two inputs follows a one-dimensional map whose slope at
:math:`c = 1` is :math:`\chi_1 = \sigma_w^2 E[\phi'(\sqrt{q^*}z)^2]`
(:mod:`sknnk.signal_propagation`). For :math:`\chi_1 < 1` (*ordered*) all inputs
end up perfectly correlated; for :math:`\chi_1 > 1` (*chaotic*) nearby inputs
decorrelate. Networks initialised on the *critical line* :math:`\chi_1 = 1`
propagate information deepest, so it is the natural choice of
:math:`(\sigma_w, \sigma_b)` for deep NNGP/NTK kernels. We map :math:`\chi_1`
over :math:`(\sigma_b^2, \sigma_w^2)` for tanh and ReLU.
"""

# %%
# :math:`\chi_1` on a grid
# ------------------------
# For tanh, every grid point solves the length map's fixed point :math:`q^*`
# (Brent's method) and integrates :math:`E[\phi'^2]` numerically; for ReLU,
# :math:`\chi_1 = \sigma_w^2/2` whatever :math:`\sigma_b`.
import time

import numpy as np

from sknnk import signal_propagation as sp

sw2 = np.linspace(0.5, 4.0, 71)
sb2 = np.linspace(0.0, 0.5, 51)
SB2, SW2 = np.meshgrid(sb2, sw2)
start = time.time()
chi = {act: sp.chi1(act, np.sqrt(SW2), np.sqrt(SB2)) for act in ("tanh", "relu")}
print(f"chi_1 on {SW2.size} points per activation in {time.time() - start:.1f} s")

# %%
# The critical line
# -----------------
# :func:`sknnk.signal_propagation.critical_point` solves :math:`\chi_1 = 1` for
# :math:`\sigma_w` at each :math:`\sigma_b`. For ReLU it is :math:`\sigma_w^2 = 2`
# (He initialisation), but with :math:`\sigma_b > 0` the variance :math:`q^l`
# then grows without bound, so only :math:`\sigma_b = 0` is truly critical.
sb_line = np.sqrt(np.concatenate([[0.0], np.geomspace(1e-5, 0.5, 60)]))
line = {act: sp.critical_line(act, sb_line) for act in ("tanh", "relu")}
for sb in (0.1, 0.5):
    sw = sp.critical_point("tanh", sb)
    print(f"tanh, sigma_b = {sb}: critical sigma_w = {sw:.10f}, "
          f"q* = {sp.q_star('tanh', sw, sb):.4f}")  # fmt: skip
mf = sp.mean_field("tanh", 2.5, 0.1)
print(f"tanh (2.5, 0.1): {mf.phase}, c* = {mf.c_star:.5f}, xi_c = {mf.xi_c:.2f}")

# %%
# The phase diagram
# -----------------
# Colour: :math:`\log_{10}\chi_1` (blue ordered, red chaotic). Black: the
# critical line from Brent's method, which runs along the :math:`\chi_1 = 1`
# contour of the grid (dashed yellow).
import matplotlib.pyplot as plt
from matplotlib.colors import TwoSlopeNorm

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
for ax, act in zip(axes, ("tanh", "relu")):
    z = np.log10(chi[act])
    mesh = ax.pcolormesh(
        SB2, SW2, z, cmap="RdBu_r", shading="auto",
        norm=TwoSlopeNorm(vcenter=0.0, vmin=z.min(), vmax=z.max()),
    )  # fmt: skip
    ax.plot(sb_line**2, line[act] ** 2, color="k", lw=3, label=r"$\chi_1 = 1$")
    ax.contour(SB2, SW2, chi[act], levels=[1.0], colors="yellow", linestyles="--")
    box = dict(facecolor="white", alpha=0.8, edgecolor="none")
    ax.text(0.25, 0.8, "ordered", ha="center", color="navy", bbox=box)
    upper = "chaotic" if act == "tanh" else "exploding variance"
    ax.text(0.12, 3.6, upper, ha="center", color="darkred", bbox=box)
    if act == "relu":
        ax.fill_between(
            [1e-3, 0.5], 2.0, 4.0, hatch="//", facecolor="none", edgecolor="gray",
            lw=0, label=r"$q^l \to \infty$",
        )  # fmt: skip
    ax.set_xlabel(r"$\sigma_b^2$")
    ax.set_title(act)
    ax.legend(loc="upper right")
    fig.colorbar(mesh, ax=ax, label=r"$\log_{10}\chi_1$")
axes[0].set_ylabel(r"$\sigma_w^2$")
fig.tight_layout()

# %%
# Save the figure in the working directory.
png = "plot_phase_diagram.png"
fig.savefig(png, dpi=110)
print("saved", png)
