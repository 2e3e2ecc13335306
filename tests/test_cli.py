import subprocess
import sys

from sknnk.__main__ import main


def test_main_job_prints_table(capsys):
    assert main(["--depth", "2", "--restarts", "0"]) == 0
    out = capsys.readouterr().out
    for word in ("GPR (ML-II)", "KernelRidge", "SVC", "NTK", "NNGP", "RBF"):
        assert word in out
    rows = [line for line in out.splitlines() if "breast_cancer" in line]
    assert len(rows) == 3
    accuracies = [float(line.split()[4]) for line in rows]
    assert min(accuracies) > 0.85


def test_module_help():
    res = subprocess.run(
        [sys.executable, "-m", "sknnk", "--help"], capture_output=True, text=True
    )
    assert res.returncode == 0 and "--depth" in res.stdout
