"""The command line never shows a traceback: a bug of ours is still one sentence and exit 255."""

import pytest

import splitbrain.reports
from splitbrain.cli import main


def test_an_internal_error_is_one_sentence_and_exit_255(monkeypatch, capsys, tmp_path):
    def broken(run_dir):
        raise RuntimeError("boom")

    monkeypatch.delenv("SPLITBRAIN_DEBUG", raising=False)
    monkeypatch.setattr(splitbrain.reports, "write_run_report", broken)
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 255
    assert "internal error (RuntimeError: boom)" in err and "SPLITBRAIN_DEBUG=1" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_debug_mode_shows_the_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("SPLITBRAIN_DEBUG", "1")
    monkeypatch.setattr(splitbrain.reports, "write_run_report",
                        lambda run_dir: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        main(["report", str(tmp_path)])


@pytest.mark.parametrize("argv", [["test", "--nodes", "many"], ["check"], ["nonsense"]])
def test_bad_flags_exit_254_with_a_hint(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 254
    assert err.startswith("splitbrain: ") and "--help" in err


def test_a_json_file_the_user_names_is_read_or_refused_in_one_sentence(tmp_path):
    from splitbrain.errors import BadInput, read_json

    (tmp_path / "good.json").write_text('{"a": 1}')
    (tmp_path / "bad.json").write_text('{"a": ')
    assert read_json(tmp_path / "good.json", "do X") == {"a": 1}
    with pytest.raises(BadInput, match=r"^cannot read .*missing\.json \(No such file or "
                                       r"directory\); do X$"):
        read_json(tmp_path / "missing.json", "do X")
    with pytest.raises(BadInput, match=r"bad\.json is not valid JSON \(Expecting value at "
                                       r"line 1\); do X$"):
        read_json(tmp_path / "bad.json", "do X")
