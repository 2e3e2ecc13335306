"""Every code block of the docs runs, the docs build, every example runs.

None of these tests writes into the checkout: code blocks and examples run
with the working directory in ``tmp_path``, and Sphinx builds a copy of
``doc/`` and ``examples/``.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
from sklearn.exceptions import ConvergenceWarning

from sknnk.__main__ import _parser

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "doc").glob("*.rst"))]


def code_blocks(path):
    """``(language, code)`` of every code block of a Markdown or reST file.

    reST literal blocks introduced by a bare ``::`` are returned with the
    language ``"literal"``, so that a test can refuse them (a block must say
    what it is to be executed).
    """
    text = path.read_text()
    if path.suffix == ".md":
        fence = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.M | re.S)
        return [(m[2], textwrap.dedent(m[3])) for m in fence.finditer(text)]
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        directive = re.match(r"\s*\.\. code-block::\s*(\w+)", line)
        literal = line.rstrip().endswith("::") and not re.match(r"\s*\.\. ", line)
        i += 1
        if not (directive or literal):
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            body.append(lines[i])
            i += 1
        code = textwrap.dedent("\n".join(body)).strip("\n")
        code = "\n".join(c for c in code.splitlines() if not c.startswith(":"))
        blocks.append((directive[1] if directive else "literal", code + "\n"))
    return blocks


def test_every_code_block_says_its_language():
    for path in DOCS:
        for lang, code in code_blocks(path):
            assert lang in ("python", "bash"), (path.name, lang, code[:200])


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_run_as_written(path, tmp_path, monkeypatch):
    """The Python blocks of one page, in order, in one namespace (as a reader
    runs them), with ConvergenceWarning as an error."""
    blocks = [code for lang, code in code_blocks(path) if lang == "python"]
    if not blocks:
        return
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc_block__"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for code in blocks:
            exec(compile(code, f"{path.name} block", "exec"), namespace)


def _free_names(code):
    """Names a block reads but neither imports nor assigns (nor builtins)."""
    import ast
    import builtins

    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    used = {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return used - bound


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_sknnk_blocks_are_self_contained(path):
    """A block that uses sknnk runs when copied alone into a fresh
    interpreter: it imports (or defines) every name it reads. Snippets that
    continue an earlier example without naming sknnk are exempt."""
    for lang, code in code_blocks(path):
        if lang == "python" and "sknnk" in code:
            assert not _free_names(code), (path.name, sorted(_free_names(code)), code)


def _check_command(command, extras):
    words = shlex.split(command)
    if words[:2] == ["pip", "install"]:
        for spec in words[2:]:
            if spec == "-e":
                continue
            target, _, extra = spec.partition("[")
            assert target == ".", command
            for name in filter(None, extra.rstrip("]").split(",")):
                assert name in extras, f"{command}: no extra {name!r}"
    elif words[:3] == ["python", "-m", "sknnk"]:
        # the real parser (the job itself runs in tests/test_cli.py)
        try:
            _parser().parse_args(words[3:])
        except SystemExit as exc:  # --help, --version
            assert exc.code == 0, command
    elif words[:3] == ["python", "-m", "pytest"]:
        pass  # what .ci/run runs
    else:
        raise AssertionError(f"no check for the documented command {command!r}")


def test_shell_blocks_name_real_extras_and_options():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    n = 0
    for path in DOCS:
        for lang, code in code_blocks(path):
            if lang != "bash":
                continue
            for line in code.splitlines():
                line = line.split("#")[0].strip()
                for command in filter(None, (c.strip() for c in line.split("&&"))):
                    _check_command(command, extras)
                    n += 1
    assert n >= 6


@pytest.mark.slow
def test_sphinx_build_has_no_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    # autosummary and sphinx-gallery write into the source tree: build a copy
    for name in ("doc", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]))
    res = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
         "-d", str(tmp_path / "doctrees"), str(tmp_path / "doc"),
         str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    assert (tmp_path / "html" / "api.html").exists()


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_saves_figures(script, tmp_path):
    pytest.importorskip("matplotlib")
    env = dict(os.environ, MPLBACKEND="Agg")
    start = time.time()
    res = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    pngs = list(tmp_path.glob("*.png"))
    assert any(p.stat().st_mtime >= start - 1 for p in pngs), "no figure saved"
    assert not list(script.parent.glob("*.png")), "example wrote next to itself"
