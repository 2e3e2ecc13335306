"""Runtime reliability: read-only installs, thread limits, interrupts, every
joblib backend, the memory guard (each situation in a fresh process where it
needs one)."""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import sknnk
from sknnk import NTKKernel

ROOT = Path(sknnk.__file__).resolve().parent.parent


def _run(code, env=None, cwd=None, timeout=300):
    """Run ``code`` in a fresh interpreter; return the completed process."""
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONPATH", str(ROOT))
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", textwrap.dedent(code)],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---------------------------------------------------------------- read-only install
def _read_only_copy(tmp_path):
    """A non-editable copy of the package where no cache directory can exist.

    Running as root ignores permission bits, so every place numba could cache
    in is made impossible to create: a regular file named ``__pycache__`` in
    every package directory (in-tree cache), and ``HOME``, ``XDG_CACHE_HOME``
    and ``NUMBA_CACHE_DIR`` below a regular file (user-wide and user-provided
    caches). The tree is also made read-only, as an installed site-packages is
    for a user.
    """
    site = tmp_path / "site-packages"
    dst = site / "sknnk"
    shutil.copytree(
        ROOT / "sknnk",
        dst,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"),
    )
    dirs = [dst, *(p for p in dst.rglob("*") if p.is_dir())]
    for d in dirs:
        (d / "__pycache__").write_text("not a directory\n")
    for p in [*dst.rglob("*"), dst, site]:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file: nothing can be created below it\n")
    env = {
        "PYTHONPATH": str(site),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(blocker / "home"),
        "XDG_CACHE_HOME": str(blocker / "cache"),
        "NUMBA_CACHE_DIR": str(blocker / "numba"),
    }
    return site, env


@pytest.mark.slow  # compiles without a cache: ~15 s
def test_read_only_install_without_cache_location_imports_and_computes(tmp_path):
    site, env = _read_only_copy(tmp_path)
    X = np.random.default_rng(0).normal(size=(6, 3))
    code = f"""
        import json
        import numpy as np
        import sknnk
        assert sknnk.__file__.startswith({str(site)!r}), sknnk.__file__
        X = np.array({X.tolist()!r})
        K = sknnk.NTKKernel(depth=2)(X)
        print(json.dumps(K.tolist()))
    """
    try:
        res = _run(code, env=env, cwd=tmp_path)
    finally:
        for p in tmp_path.rglob("*"):
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    assert res.returncode == 0, res.stderr
    K = np.array(json.loads(res.stdout.strip().splitlines()[-1]))
    # the value of the normal (cached) import, bitwise
    np.testing.assert_array_equal(K, NTKKernel(depth=2)(X))
    # one clear warning per process, naming the fix
    assert res.stderr.count("NUMBA_CACHE_DIR") == 1, res.stderr
    assert "no writable directory to cache" in res.stderr
