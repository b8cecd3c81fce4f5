"""Real Jepsen EDN: histories in the shape of Knossos's own test files (cas-register/bad/
rethink-fail.edn, mutex/bad/etcd.edn, multi-register/good/multi-register.edn), whose ``:time``
goes backwards in file order, get verdicts; our JSONL keeps its rule that time never decreases.
"""

from __future__ import annotations

import pytest

from splitbrain.cli import main
from splitbrain.history import Event, HistoryError, write_jsonl
from splitbrain.importers import load

# rethink-fail.edn: a list, one op map per line, cas/write/read, failed cas, times that go
# backwards (each worker thread takes its own). The last read returns 1 after write 3 completed.
RETHINK_FAIL = """({:type :invoke, :f :cas, :value [1 4], :process 101, :time 99286665244}
 {:type :invoke, :f :write, :value 1, :process 69, :time 99286666632}
 {:type :fail, :f :cas, :value [1 4], :process 101, :time 99292796802}
 {:type :ok, :f :write, :value 1, :process 69, :time 99291886853}
 {:type :invoke, :f :read, :value nil, :process 12, :time 99330347564}
 {:type :ok, :f :read, :value 1, :process 12, :time 99331341004}
 {:type :invoke, :f :write, :value 3, :process 68, :time 99547671178}
 {:type :invoke, :f :cas, :value [3 2], :process 0, :time 99547666632}
 {:type :ok, :f :write, :value 3, :process 68, :time 99553362146}
 {:type :info, :f :cas, :value [3 2], :process 0, :time 99551886853, :error :timeout}
 {:type :invoke, :f :read, :value nil, :process 17, :time 99570356588}
 {:type :ok, :f :read, :value STALE, :process 17, :time 99569348569})
"""

# mutex/bad/etcd.edn: a vector with :index and :error :not-held, times out of order. Process 3
# acquires and never releases, yet process 2 acquires too.
MUTEX_ETCD = """[{:type :invoke, :f :release, :process 1, :time 341187643, :index 0}
{:type :fail, :f :release, :process 1, :time 342667129, :error :not-held, :index 1}
{:type :invoke, :f :acquire, :process 3, :time 371408519, :index 2}
{:type :invoke, :f :release, :process 4, :time 584312016, :index 3}
{:type :fail, :f :release, :process 4, :time 585400396, :error :not-held, :index 4}
{:type :ok, :f :acquire, :process 3, :time 584300961, :index 5}
{:type :invoke, :f :acquire, :process 2, :time 584335820, :index 6}
{:type :OUTCOME, :f :acquire, :process 2, :time 584301000, :index 7}]
"""

# multi-register/good/multi-register.edn: a comment, multi-line maps, :txn of [:read k v] and
# [:write k v] micro-ops (the short [:r k v] / [:w k v] forms too); registers start at x=0, y=0.
MULTI_REGISTER = """; A multi-register with x=0 and y=0
[{:type :invoke,
 :f :txn,
 :value [[:read :x nil] [:read :y nil]],
 :process 2,
 :time 7686334122}
{:type :invoke,
 :f :txn,
 :value [[:write :y 2]],
 :process 4,
 :time 7686306180}
{:type :ok,
 :f :txn,
 :value [[:read :x 0] [:read :y 0]],
 :process 2,
 :time 7736090694}
{:type :ok,
 :f :txn,
 :value [[:write :y 2]],
 :process 4,
 :time 7745089410}
{:type :invoke, :f :txn, :value [[:r :x nil] [:w :x 5] [:r :y nil]], :process 3,
 :time 8719199586}
{:type :ok, :f :txn, :value [[:r :x 0] [:w :x 5] [:r :y Y]], :process 3, :time 8728852722}]
"""


class Ran:
    def __init__(self, exit_code: int, output: str, err: str):
        self.exit_code, self.output, self.err = exit_code, output, err


def check(tmp_path, capsys, text: str, *options: str) -> Ran:
    """``splitbrain check`` on ``text`` as history.edn, through the console entry point."""
    path = tmp_path / "history.edn"
    path.write_text(text)
    with pytest.raises(SystemExit) as e:
        main(["check", str(path), *options])
    out = capsys.readouterr()
    return Ran(e.value.code, out.out, out.err)


KNOSSOS_REGISTER = ["--initial", "0", "--nil-reads", "unconstrained"]


@pytest.mark.parametrize("stale, code, verdict", [("3", 0, "linearizable"),
                                                  ("1", 1, "NOT linearizable")])
def test_rethink_fail_shape(tmp_path, capsys, stale, code, verdict):
    r = check(tmp_path, capsys, RETHINK_FAIL.replace("STALE", stale), *KNOSSOS_REGISTER)
    assert r.exit_code == code, r.output
    assert f"history.edn: {verdict} (5 ops, " in r.output  # the failed cas is left out
    if code:
        assert "read -> 1 (op 10) cannot be linearized" in r.output


@pytest.mark.parametrize("outcome, code, verdict", [("fail", 0, "linearizable"),
                                                    ("ok", 1, "NOT linearizable")])
def test_mutex_etcd_shape(tmp_path, capsys, outcome, code, verdict):
    r = check(tmp_path, capsys, MUTEX_ETCD.replace("OUTCOME", outcome), "--model", "mutex")
    assert r.exit_code == code, r.output
    assert f"history.edn: {verdict} (" in r.output
    if code:
        assert "acquire (op 6) cannot be linearized" in r.output


@pytest.mark.parametrize("y, code, verdict", [("2", 0, "linearizable"),
                                              ("7", 1, "NOT linearizable")])
def test_multi_register_shape(tmp_path, capsys, y, code, verdict):
    r = check(tmp_path, capsys, MULTI_REGISTER.replace("Y", y), "--model", "multi-register",
              "--initial", '{"x": 0, "y": 0}')
    assert r.exit_code == code, r.output
    assert f"history.edn: {verdict} (3 ops, " in r.output
    if code:
        assert 'txn [["r", "x", 0], ["w", "x", 5], ["r", "y", 7]] (op 4) cannot be ' \
               'linearized' in r.output


def test_multi_register_starts_nil_without_initial(tmp_path, capsys):
    r = check(tmp_path, capsys, MULTI_REGISTER.replace("Y", "2"), "--model", "multi-register")
    assert r.exit_code == 1 and "is illegal when the state of the registers is" in r.output


def test_edn_time_is_metadata_and_file_order_is_event_order(tmp_path):
    path = tmp_path / "history.edn"
    path.write_text(RETHINK_FAIL.replace("STALE", "3"))
    history, _ = load(path)
    assert [ev.time for ev in history] == list(range(12))
    assert history.events[3].meta == {"time": 99291886853}  # before the event above it


def test_our_jsonl_still_refuses_time_going_backwards(tmp_path):
    path = tmp_path / "history.jsonl"
    write_jsonl([Event("invoke", 0, "read", None, time=5), Event("ok", 0, "read", 1, time=4)],
                path)
    with pytest.raises(HistoryError, match="line 2: time goes backwards"):
        load(path)


@pytest.mark.parametrize("text", ["[{:type :invoke, :f :read", "[{:type :invoke :f}]",
                                  "[{:type :invoke, :f :read]", '[{:f "unterminated}]'])
def test_malformed_edn_is_one_sentence(tmp_path, capsys, text):
    r = check(tmp_path, capsys, text)
    assert r.exit_code == 254 and r.output == ""
    [line] = r.err.strip().splitlines()
    assert "history.edn: is not valid EDN (" in line and "the file may be truncated" in line


@pytest.mark.parametrize("text", ["[{{:a 1} 2}]", "[{[{:a 1}] 2}]"])
def test_a_map_key_that_is_a_map_is_one_sentence(tmp_path, capsys, text):
    r = check(tmp_path, capsys, text)
    assert r.exit_code == 254 and r.output == ""
    assert "holds EDN splitbrain cannot use: a map key holds a map" in r.err
