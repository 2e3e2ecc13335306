"""
=====================================================================
Feature learning at infinite width: word embeddings in μP versus NTK
=====================================================================

The NTK of an infinitely wide network (:class:`sknnk.NTKKernel`) is fixed: the
hidden features never move, and training is kernel regression. In the
maximal-update parameterization (μP) the features of an infinitely wide network
*do* move. For a one-hidden-layer linear network the μP limit is exactly
computable (:class:`sknnk.MuPLinearRegressor`), with a cost that depends on the
input and output dimensions only.

We train that limit on a small word2vec-like task: a synthetic corpus whose
words are *concepts* on a ring ("topics") in a *male* and a *female* form. The
network maps a one-hot word to its row of pointwise mutual information (PMI)
with all other words, as skip-gram word2vec implicitly does. The hidden
representation of a word is its embedding. We then check that literal
finite-width μP networks converge to the limit as the width grows.
"""

# %%
# A synthetic co-occurrence corpus
# --------------------------------
# Word ``(c, g)`` has a concept angle :math:`\theta_c` and a gender sign
# :math:`s_g = \pm1`. Contexts are drawn with probability
# :math:`p(j \mid i) \propto \exp(\kappa\cos(\theta_i-\theta_j) + \beta s_i s_j)`,
# we count 5000 context draws per word, and the target is the (add-one smoothed)
# PMI matrix. Its leading structure has rank 4 (a constant, the ring's cosine
# and sine, the gender sign), buried in sampling noise and smoothing harmonics.
import numpy as np

rng = np.random.default_rng(0)
n_concepts = 120
n_words = 2 * n_concepts  # d_in = d_out = 240
theta = np.repeat(2 * np.pi * np.arange(n_concepts) / n_concepts, 2)
sign = np.tile([1.0, -1.0], n_concepts)  # even index: male, odd: female
logits = 3.0 * np.cos(theta[:, None] - theta[None, :]) + 1.5 * np.outer(sign, sign)
p = np.exp(logits)
p /= p.sum(axis=1, keepdims=True)
counts = np.stack([rng.multinomial(5000, row) for row in p]).astype(float)
counts = counts + counts.T + 1.0
pmi = np.log(
    counts
    * counts.sum()
    / (counts.sum(1, keepdims=True) * counts.sum(0, keepdims=True))
)
X = np.eye(n_words)  # one-hot words
Y = pmi
print(f"{n_words} words, top singular values of the PMI matrix:")
print(np.round(np.linalg.svd(Y, compute_uv=False)[:7]))

# %%
# The μP limit
# ------------
# Gradient descent on the infinitely wide μP network reduces to a width-480
# (= d_in + d_out) linear network. A small initialization scale
# (:math:`\sigma_u = \sigma_v = 0.3`) makes the features learn the leading modes
# first; ``learning_rate="auto"`` picks a stable step from the data.
import time

from sknnk import MuPLinearRegressor

t0 = time.perf_counter()
mup = MuPLinearRegressor(n_steps=30, sigma_u=0.3, sigma_v=0.3).fit(X, Y)
print(
    f"muP limit: {time.perf_counter() - t0:.1f} s, learning rate "
    f"{mup.learning_rate_:.3f}, loss {mup.loss_curve_[0]:.0f} -> "
    f"{mup.loss_curve_[-1]:.1f}, feature movement |M - M_0| / |M_0| = "
    f"{mup.feature_movement_:.0f}"
)

# %%
# In the limit the embedding of word :math:`i` is the column :math:`P_{:,i}`
# (its Gram matrix is the learned feature metric :math:`M = P^\top P`). In the
# NTK limit the features are the random initial ones forever: their Gram matrix
# stays :math:`\sigma_u^2 I / d_{\rm in}`, every pair of words orthogonal. We
# draw those frozen features from a wide NTK-parameterized network. (Both
# limits can fit the targets: the function class is linear maps in both
# cases. What differs is whether the representation changes.)
from sknnk.feature_learning import train_finite_linear_network

emb_mup = mup.P_.T
ntk_init = train_finite_linear_network(
    X, Y, 1024, parameterization="ntk", n_steps=0, random_state=0
)
emb_ntk = ntk_init.W1.T  # (n_words, width): frozen in the NTK limit


def offset_cosine(E):
    """Mean cosine between the male -> female offsets of different concepts."""
    D = E[1::2] - E[0::2]
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    cos = D @ D.T
    return cos[np.triu_indices(len(D), 1)].mean()


def analogy_accuracy(E, n_queries=500, seed=1):
    """a_male : a_female :: b_male : ?  (nearest word by cosine, queries excluded)."""
    En = E / np.linalg.norm(E, axis=1, keepdims=True)
    r = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_queries):
        a, b = r.choice(n_concepts, 2, replace=False)
        q = E[2 * b] + E[2 * a + 1] - E[2 * a]
        score = En @ q
        score[[2 * a, 2 * a + 1, 2 * b]] = -np.inf
        hits += np.argmax(score) == 2 * b + 1
    return hits / n_queries


for name, E in [("muP limit", emb_mup), ("NTK limit (frozen)", emb_ntk)]:
    print(
        f"{name:20s} gender offsets parallel: mean cos {offset_cosine(E):.2f}; "
        f"analogy top-1 accuracy {analogy_accuracy(E):.2f} "
        f"(chance {1 / (n_words - 3):.3f})"
    )

# %%
# Principal components of the embeddings: μP has learned the ring of concepts
# and a gender direction, with parallel male→female offsets (the word2vec
# analogy picture); the NTK features are noise.
import matplotlib.pyplot as plt
from sklearn.decomposition import PCA

fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
for ax, (title, E, dims) in zip(
    axes,
    [
        ("μP limit: PC1 vs PC2", emb_mup, (0, 1)),
        ("μP limit: PC1 vs PC3", emb_mup, (0, 2)),
        ("NTK limit (frozen features): PC1 vs PC2", emb_ntk, (0, 1)),
    ],
):
    Z = PCA(3).fit_transform(E)
    for g, marker in [(0, "o"), (1, "^")]:
        ax.scatter(
            Z[g::2, dims[0]],
            Z[g::2, dims[1]],
            c=theta[g::2],
            cmap="hsv",
            marker=marker,
            s=18,
            label=["male", "female"][g],
        )
    for c in range(0, n_concepts, 12):
        ax.annotate(
            "",
            xy=Z[2 * c + 1, list(dims)],
            xytext=Z[2 * c, list(dims)],
            arrowprops=dict(arrowstyle="->", color="0.3", lw=0.8),
        )
    ax.set_title(title)
    ax.set_xlabel(f"PC{dims[0] + 1}")
    ax.set_ylabel(f"PC{dims[1] + 1}")
axes[0].legend(loc="upper right")
fig.suptitle("Word embeddings (colour: concept angle on the ring; arrows: male→female)")
fig.tight_layout()
fig.savefig("feature_learning_embeddings.png", dpi=110)

# %%
# Finite μP networks converge to the limit
# ----------------------------------------
# Literal finite networks (hidden width :math:`n`, μP scaling) trained with the
# same data, learning rate and number of steps approach the limit with error
# :math:`O(n^{-1/2})`, in the outputs and in the feature kernel
# :math:`W^{1\top}W^1/n \to M`.
widths = [64, 128, 256, 512, 1024, 2048]
out_err, metric_err = [], []
t0 = time.perf_counter()
for n in widths:
    net = train_finite_linear_network(
        X,
        Y,
        n,
        n_steps=30,
        learning_rate=mup.learning_rate_,
        sigma_u=0.3,
        sigma_v=0.3,
        random_state=n,
    )
    out_err.append(np.abs(net.predict(X) - mup.predict(X)).max())
    metric_err.append(np.abs(net.feature_metric - mup.feature_metric_).max())
    print(
        f"width {n:5d}: max |f - f_lim| = {out_err[-1]:.3f}, "
        f"max |W1'W1/n - M| = {metric_err[-1]:.3f}"
    )
print(f"finite networks: {time.perf_counter() - t0:.1f} s")

fig, ax = plt.subplots(figsize=(5.5, 4.2))
ax.loglog(widths, out_err, "o-", label=r"outputs, max $|f - f_\infty|$")
ax.loglog(widths, metric_err, "s-", label=r"feature metric, max $|W^{1\top}W^1/n - M|$")
ref = out_err[0] * np.sqrt(widths[0] / np.asarray(widths))
ax.loglog(widths, ref, "k--", lw=1, label=r"$\propto n^{-1/2}$")
ax.set_xlabel("hidden width $n$")
ax.set_ylabel("distance to the μP limit")
ax.set_title("Finite μP networks → MuPLinearRegressor")
ax.legend()
fig.tight_layout()
fig.savefig("feature_learning_convergence.png", dpi=110)
plt.show()
