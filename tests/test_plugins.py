"""Models, workloads and checkers named on the command line as pkg.mod:Name or as installed
entry points (splitbrain/plugins.py): what works, and the one-sentence errors (exit 254)."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from splitbrain import plugins
from splitbrain.cli import main

PLUGIN = '''
from splitbrain import Result
from test_api import MaxRegister

class Broken(MaxRegister):
    def step(self, state, op):
        return state + op.value

def no_reads_of_seven(history):
    bad = [op.index for op in history.ops() if op.f == "read" and op.output == 7]
    return Result(valid=not bad, checker="no-sevens",
                  anomalies=[{"type": "seven", "ops": bad, "explanation": "read 7"}] if bad else [])

def not_a_result(history):
    return 42

NOT_A_CLASS = 3
'''


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "i17_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "i17_plugin"


@pytest.fixture
def history(tmp_path: Path) -> str:
    events = [("invoke", "write", 5), ("ok", "write", 5), ("invoke", "read", None),
              ("ok", "read", 7), ("invoke", "write", 3), ("ok", "write", 3)]
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps({"type": t, "process": 0, "f": f, "value": v, "time": i})
                            + "\n" for i, (t, f, v) in enumerate(events)))
    return str(path)


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """The exit code (0 when the command returned), stdout and stderr of ``splitbrain argv``."""
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_a_model_by_module_path_checks_and_explains(plugin_module, history, capsys):
    code, out, _ = run(["check", history, "--model", f"{plugin_module}:MaxRegister"], capsys)
    assert code == 1
    assert "NOT linearizable (3 ops" in out and "model max-register" in out
    assert "read -> 7 (op 2) cannot be linearized" in out


def test_a_plugin_checker_joins_the_verdict(plugin_module, tmp_path, capsys):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"type":"invoke","process":0,"f":"read","time":0}\n'
                    '{"type":"ok","process":0,"f":"read","value":7,"time":1}\n')
    code, out, _ = run(["check", str(path), "--model", "register", "--initial", "7",
                        "--checker", f"{plugin_module}:no_reads_of_seven"], capsys)
    assert code == 1
    assert "linearizable (1 ops" in out
    assert f"{plugin_module}:no_reads_of_seven: INVALID (1 anomalies)" in out


@pytest.mark.parametrize("flag, spec, message", [
    ("--model", "i17_missing:X", "--model 'i17_missing:X': module 'i17_missing' cannot be "
                                 "imported"),
    ("--model", "i17_plugin:Nope", "--model 'i17_plugin:Nope': module 'i17_plugin' has no "
                                   "'Nope'; name a model it defines"),
    ("--model", "i17_plugin:NOT_A_CLASS", "--model 'i17_plugin:NOT_A_CLASS' is 3, not a "
                                          "subclass of splitbrain.Model"),
    ("--model", "i17_plugin:Broken", "model 'max-register' (i17_plugin.Broken): step on read "
                                     "-> 7 (op 2) in state 5 raised TypeError"),
    ("--model", "nonesuch", "--model 'nonesuch' is neither a built-in nor an installed plugin "
                            "model; use one of register, cas-register,"),
    ("--checker", "i17_plugin:not_a_result", "--checker 'i17_plugin:not_a_result' returned "
                                             "int, not a splitbrain.Result"),
    ("--checker", "i17_plugin:MaxRegister", "is <class 'test_api.MaxRegister'>, not a function"),
])
def test_bad_specs_are_one_sentence_and_exit_254(plugin_module, history, capsys, flag, spec,
                                                 message):
    code, out, err = run(["check", history, flag, spec], capsys)
    assert code == 254, out
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_plugin_checker_is_refused_for_a_run_directory(plugin_module, tmp_path, capsys):
    code, _, err = run(["check", str(tmp_path), "--checker", f"{plugin_module}:no_reads_of_seven"],
                       capsys)
    assert code == 254
    assert f"--checker judges history files, and {tmp_path} is a directory" in err


def test_a_bad_workload_spec_is_one_sentence(plugin_module, capsys):
    code, _, err = run(["test", "--workload", f"{plugin_module}:MaxRegister", "--time-limit",
                        "1"], capsys)
    assert code == 254
    assert "is <class 'test_api.MaxRegister'>, not a subclass of " \
           "splitbrain.workloads.base.Workload" in err


def test_entry_points_are_found_by_name_and_listed(plugin_module, history, capsys, monkeypatch):
    eps = {"splitbrain.models": [EntryPoint("maxreg", f"{plugin_module}:MaxRegister",
                                            "splitbrain.models")],
           "splitbrain.checkers": [EntryPoint("sevens", f"{plugin_module}:no_reads_of_seven",
                                              "splitbrain.checkers")]}

    def fake(*, group: str, name: str | None = None) -> list[EntryPoint]:
        return [ep for ep in eps.get(group, []) if name is None or ep.name == name]

    monkeypatch.setattr(plugins, "entry_points", fake)
    code, out, _ = run(["plugins"], capsys)
    assert code == 0
    assert [line.split()[:3] for line in out.splitlines()] == [
        ["checker", "sevens", f"{plugin_module}:no_reads_of_seven"],
        ["model", "maxreg", f"{plugin_module}:MaxRegister"]]
    code, out, _ = run(["check", history, "--model", "maxreg", "--checker", "sevens"], capsys)
    assert code == 1 and "model max-register" in out and "sevens: INVALID" in out


def test_no_plugins_says_where_they_would_be(capsys, monkeypatch):
    monkeypatch.setattr(plugins, "entry_points", lambda *, group, name=None: [])
    main_out = run(["plugins"], capsys)[1]
    assert main_out.strip() == ("no plugins installed (entry point groups: splitbrain.models, "
                                "splitbrain.workloads, splitbrain.checkers)")
