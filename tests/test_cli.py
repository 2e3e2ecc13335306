"""``python -m sknnk``: the main job's table, verdict, statistics and errors."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from sknnk.__main__ import Task, _verdict, corrected_ttest, main


def test_quick_main_job_prints_table_and_verdict(capsys):
    assert main(["--quick", "--depth", "2", "--folds", "3"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    # the well-posed GPR priors (fixed sigma_w) fit without ConvergenceWarning
    assert "ConvergenceWarning" not in out + captured.err
    for word in ("GPR (ML-II)", "KernelRidge", "SVC", "NTK", "NNGP", "RBF", "linear"):
        assert word in out
    rows = [line for line in out.splitlines() if line.startswith("breast_cancer")]
    assert len(rows) == 4  # one SVC row per method
    for line in rows:
        mean = float(line.split("acc")[1].split()[0])
        assert mean > 0.9  # breast cancer is easy for every tuned method
    assert "/3 splits)" in out  # the inner searches' choices
    assert "median of 3 splits" in out  # GPR hyperparameters
    assert "Verdict" in out and "numba compilation" in out
    assert "NTK vs RBF: significantly better" in out and "(of 3)" in out
    # one progress line per (data set, model, method) on stderr
    assert captured.err.count("] ") == 12


def test_corrected_ttest_reduces_to_paired_t_test():
    """With no overlap correction (n_test / n_train -> 0) it is scipy's paired
    t-test; the correction scales t by sqrt((1/J) / (1/J + n_test/n_train))."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.8, 0.05, 10), rng.normal(0.78, 0.05, 10)
    ref = stats.ttest_rel(a, b)
    diff, p = corrected_ttest(a, b, n_train=10**15, n_test=1)
    assert np.isclose(diff, np.mean(a - b), rtol=1e-14)
    assert np.isclose(p, ref.pvalue, rtol=1e-9)
    J, ratio = 10, 0.25
    t = ref.statistic * np.sqrt((1 / J) / (1 / J + ratio))
    _, p = corrected_ttest(a, b, n_train=4, n_test=1)
    assert np.isclose(p, 2 * stats.t.sf(abs(t), J - 1), rtol=1e-12)


def test_verdict_says_no_significant_difference_when_true():
    task = Task("toy", np.zeros((10, 1)), np.zeros(10), True)
    s = np.array([0.90, 0.92, 0.91, 0.93, 0.90])
    scores = {("SVC", "NTK"): s, ("SVC", "RBF"): s.copy(), ("SVC", "linear"): s - 0.1}
    (line,) = _verdict(task, scores, n_train=40, n_test=10)
    assert "significantly better than linear" in line
    assert "no significant difference from RBF (+0.000, p=1)" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["--depth", "-1"], "--depth: must be >= 0"),
        (["--depth", "two"], "expected an integer"),
        (["--n-jobs", "0"], "--n-jobs: must be >= 1 or negative"),
        (["--folds", "1"], "--folds: must be >= 2"),
        (["--activation", "ReLU"], "unknown activation 'ReLU'; did you mean 'relu'?"),
    ],
)
def test_bad_values_are_argparse_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_module_help():
    res = subprocess.run(
        [sys.executable, "-m", "sknnk", "--help"], capture_output=True, text=True
    )
    assert res.returncode == 0 and "--depth" in res.stdout
    help_text = " ".join(res.stdout.split())
    assert "(default -1: all cores; 1: none)" in help_text  # --n-jobs


@pytest.mark.slow
def test_full_main_job_runs_as_documented():
    """``python -m sknnk`` as the README says: every data set, and no warning
    on stderr (ConvergenceWarnings are counted in the table, with a note)."""
    res = subprocess.run(
        [sys.executable, "-m", "sknnk"], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-4000:]
    assert "Warning" not in res.stderr, res.stderr[-4000:]
    if "ConvergenceWarning(s) (*)" in res.stdout:
        assert "(*) scikit-learn's ConvergenceWarning" in res.stdout
    for name in ("breast_cancer", "wine", "diabetes", "friedman1"):
        assert name in res.stdout


def test_grid_search_optimum_on_the_grid_edge_is_flagged():
    # noiseless linear data: the smallest ridge wins, the first grid value
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV

    from sknnk.__main__ import _hyperparameters

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    grid = {"alpha": [1e-8, 1.0, 1e3]}
    fits = [
        GridSearchCV(KernelRidge(kernel="linear"), grid, cv=3).fit(X, y)
        for _ in range(2)
    ]
    text = _hyperparameters(fits)
    assert "alpha=1e-08 (2/2 splits)" in text
    assert "alpha at the edge of its grid in 2/2 splits" in text
