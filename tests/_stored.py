"""Expensive independent reference values, computed once and stored in JSON.

Some references of the tests are mpmath quadratures at 20 to 40 digits that
take seconds per value (minutes per test file). :func:`stored` wraps such a
reference function: a call whose exact arguments are in the function's JSON
file returns the stored value (bit for bit the mpmath number that the function
computed when the file was made), any other call computes it as before and
warns (:class:`StoredReferenceMiss`) that the file is stale. The stored values
are outputs of the reference code, never of sknnk, and a test of each file
recomputes a sample of them (see ``tests/make_elu_references.py`` to
regenerate or fully check a file).

Arguments and values are written exactly: a number as the four integers of
its mpmath binary form (``sign:mantissa(hex):exponent:bitcount``), a string
as itself. This module never imports sknnk.
"""

import atexit
import functools
import json
import os
import warnings
from pathlib import Path

import mpmath as mp

#: set to ``1`` to compute every call and write the files anew at exit
RECORD_ENV = "SKNNK_RECORD_REFERENCES"


class StoredReferenceMiss(UserWarning):
    """A stored reference function was called with arguments not in its file."""


def exact_text(x):
    """Exact text of ``x``: a string as itself, a number (float, numpy or
    mpmath scalar) by its binary value."""
    if isinstance(x, str):
        return x
    with mp.workprec(4096):  # exact for every float64 and mpf used in the tests
        sign, man, exp, bc = mp.mpf(x)._mpf_
    return f"{sign}:{int(man):x}:{exp}:{bc}"


def from_text(text):
    """The mpmath number written by :func:`exact_text`."""
    sign, man, exp, bc = text.split(":")
    return mp.make_mpf((int(sign), int(man, 16), int(exp), int(bc)))


class _Store:
    """The values of the stored functions of one JSON file."""

    def __init__(self, path, description):
        self.path = Path(path)
        self.description = description
        self.recording = os.environ.get(RECORD_ENV, "") == "1"
        self._values = None

    def values(self):
        if self._values is None:
            if self.recording or not self.path.exists():
                self._values = {}
            else:
                with open(self.path) as fh:
                    self._values = json.load(fh)["values"]
            if self.recording:
                atexit.register(self.write)
        return self._values

    def write(self):
        values = {
            name: dict(sorted(table.items()))
            for name, table in sorted(self.values().items())
        }
        with open(self.path, "w") as fh:
            json.dump(
                {
                    "description": self.description,
                    "generated_by": "tests/make_elu_references.py",
                    "mpmath": mp.__version__,
                    "values": values,
                },
                fh,
                indent=0,
            )
            fh.write("\n")


def stored(path, description):
    """Decorator factory: store the values of a reference function in ``path``.

    The wrapped function gains ``.compute`` (the undecorated function),
    ``.lookup(*args)`` (the stored value, or ``None``) and ``.store``.
    """
    store = _Store(path, description)

    def decorate(fn):
        name = fn.__name__

        def key(args):
            return "|".join(exact_text(a) for a in args)

        def lookup(*args):
            found = store.values().get(name, {}).get(key(args))
            return None if found is None else tuple(from_text(v) for v in found)

        @functools.wraps(fn)
        def wrapper(*args):
            if not store.recording:
                found = lookup(*args)
                if found is not None:
                    return found
                warnings.warn(
                    f"{name}{args} is not in {store.path.name}: computed now "
                    "(slow); regenerate the file with "
                    "tests/make_elu_references.py",
                    StoredReferenceMiss,
                    stacklevel=2,
                )
            out = fn(*args)
            if store.recording:
                table = store.values().setdefault(name, {})
                table[key(args)] = [exact_text(v) for v in out]
            return out

        wrapper.compute = fn
        wrapper.lookup = lookup
        wrapper.store = store
        return wrapper

    return decorate
