"""docs/api.md and the README run: every ``python`` block of a page is executed in order in one
namespace, and what a block prints (or the exception it must raise) matches the comment lines
after the call.

Conventions of the page: a block starting with ``# raises: Name`` must raise that exception;
one starting with ``# pytest`` is a test file, run by pytest in a pytester session (it starts a
cluster: integration); comment lines right after a ``print(...)`` or a raising call are the
expected output, where a trailing ``...`` stands for the rest."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

pytest_plugins = "pytester"

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(kind: str, page: Path = DOC) -> list[str]:
    found = BLOCK.findall(page.read_text())
    is_pytest = [b.startswith("# pytest") for b in found]
    return [b for b, p in zip(found, is_pytest) if p == (kind == "pytest")]


def expectations(block: str) -> list[str]:
    """The comment runs right after a print(...) or the last code line of a raising block."""
    lines = block.splitlines()
    runs, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith("#") and ("print(" in line or
                                                  (block.startswith("# raises:") and line.strip())):
            run = []
            while i + 1 < len(lines) and lines[i + 1].lstrip().startswith("# "):
                i += 1
                run.append(lines[i].lstrip()[2:])
            if run:
                runs.append(run)
        i += 1
    return [" ".join(run) for run in runs]


def normal(text: str) -> str:
    """Whitespace collapsed, and the seconds a check took (which vary) left out."""
    return re.sub(r"\d+\.\d+ s\b", "S s", " ".join(text.split()))


def shows(expected: str, output: str) -> bool:
    """Whether ``output`` shows ``expected``, whose ``...`` stand for any text."""
    at = 0
    for piece in (p.strip() for p in normal(expected).split("...")):
        at = normal(output).find(piece, at)
        if at < 0:
            return False
        at += len(piece)
    return True


def test_the_page_has_examples():
    assert len(blocks("python")) >= 8 and len(blocks("pytest")) == 1


@pytest.mark.parametrize("page", [DOC, ROOT / "README.md"], ids=["api.md", "README.md"])
def test_the_python_examples_run_and_print_what_the_page_says(page: Path):
    namespace: dict = {"__name__": "__main__"}
    for block in blocks("python", page):
        out = io.StringIO()
        raises = re.match(r"# raises: (\w+)", block)
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(block, str(page), "exec"), namespace)
        except Exception as e:  # noqa: BLE001 - compared with the block's declaration below
            assert raises, f"this block of {page.name} raised {e!r}:\n{block}"
            assert type(e).__name__ == raises.group(1), f"raised {e!r}, not {raises.group(1)}"
            out.write(f"{type(e).__name__}: {e}")
        else:
            assert not raises, f"this block of {page.name} should raise {raises.group(1)}:\n{block}"
        for expected in expectations(block):
            assert shows(expected, out.getvalue()), (
                f"{page.name} says a block prints {expected!r}, but it printed "
                f"{out.getvalue()!r}")


@pytest.mark.integration
def test_the_pytest_example_passes(pytester: pytest.Pytester):
    pytester.makepyfile(test_doc_example=blocks("pytest")[0])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=1)
