"""Regenerate or check ``tests/elu_references.json`` (the stored mpmath values
of ``dual`` and ``dual40`` in ``tests/test_elu_scale.py``).

Usage, from the repository root::

    python tests/make_elu_references.py          # regenerate (about 15 minutes)
    python tests/make_elu_references.py --check  # recompute every stored value

Regenerating runs ``tests/test_elu_scale.py`` (slow tests included) in one
process with :data:`_stored.RECORD_ENV` set: every call of the two reference
functions is computed with mpmath and the file is written anew, with exactly
the arguments that the tests use. The values come from the mpmath code of the
test file alone; sknnk's results are not stored. Run it after changing a
reference function or the arguments of a test (a test calling with arguments
not in the file still passes, computing the value, and warns
``StoredReferenceMiss``).

``--check`` recomputes every stored value and reports the largest relative
difference (zero with the mpmath version that wrote the file; exit status 1
above 1e-30).
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def regenerate():
    sys.path.insert(0, str(HERE))
    from _stored import RECORD_ENV

    env = dict(os.environ, **{RECORD_ENV: "1"})
    cmd = [sys.executable, "-m", "pytest", str(HERE / "test_elu_scale.py")]
    # one process, no doctests of the package, no plugins that split the run
    cmd += ["-q", "-p", "no:xdist", "-p", "no:randomly", "-o", "addopts="]
    res = subprocess.run(cmd, env=env, cwd=HERE.parent)
    if res.returncode != 0:
        print(
            "a test failed: the file holds the values computed up to the "
            "failures; fix the test and regenerate",
            file=sys.stderr,
        )
    return res.returncode


def check():
    import mpmath as mp

    sys.path.insert(0, str(HERE))
    import test_elu_scale as module
    from _stored import from_text

    worst, n = mp.mpf(0), 0
    for name, table in module.dual.store.values().items():
        fn = getattr(module, name)
        for key, want in table.items():
            key, *numbers = key.split("|")
            got = fn.compute(key, *(from_text(t) for t in numbers))
            for g, w in zip(got, (from_text(t) for t in want)):
                worst = max(worst, abs(g - w) / max(abs(w), mp.mpf("1e-300")))
            n += 1
    print(f"{n} stored calls recomputed; largest relative difference {worst}")
    return 0 if worst < mp.mpf("1e-30") else 1


if __name__ == "__main__":
    sys.exit(check() if "--check" in sys.argv[1:] else regenerate())
