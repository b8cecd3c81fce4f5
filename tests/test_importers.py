"""Importers: Jepsen EDN (vector or one map per line), Porcupine etcd and kv logs, detection."""

from __future__ import annotations

import math

import pytest

from splitbrain.history import History, HistoryError
from splitbrain.importers import detect_format, implied_options
from splitbrain.importers import load as load_with_format


def load(path, fmt: str = "auto") -> History:
    return load_with_format(path, fmt)[0]

EDN_VECTOR = """; a comment
[{:process 0, :type :invoke, :f :write, :value 3}
 {:process :nemesis, :type :info, :f :start, :value nil}
 {:process 0, :type :ok, :f :write, :value 3}
 {:process 1, :type :invoke, :f :cas, :value [3 4]}
 {:process 1,
  :type :info, :f :cas, :value [3 4], :error [:timeout nil]}
 {:process 2, :type :invoke, :f :read, :value nil}
 {:process 2, :type :ok, :f :read, :value 4}]
"""


def test_edn_vector_with_comments_nemesis_and_multiline_maps(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text(EDN_VECTOR)
    history, fmt = load_with_format(path)
    assert fmt == "edn"
    write, cas, read = history.ops()
    assert (write.f, write.value, write.type) == ("write", 3, "ok")
    assert cas.value == [3, 4] and cas.type == "info" and cas.ret == math.inf
    assert cas.error == "timeout"
    assert (read.output, read.process) == (4, 2)
    [nem] = history.nemesis_ops()
    assert nem.f == "start"


def test_edn_one_map_per_line_with_keys_and_time(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text('{:process 0, :type :invoke, :f :read, :key "k", :time 5}\n'
                    '{:process 0, :type :ok, :f :read, :key "k", :value "v", :time 9}\n')
    [op] = load(path).ops()
    assert (op.key, op.output, op.call, op.ret) == ("k", "v", 0, 1)  # positions
    assert [ev.meta for ev in load(path)] == [{"time": 5}, {"time": 9}]


def test_porcupine_etcd(tmp_path):
    path = tmp_path / "etcd.log"
    path.write_text("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                    "INFO  jepsen.util - 1   :invoke :cas    [1 2]\n"
                    "INFO  jepsen.util - 0\t:fail\t:read\t:timed-out\n"
                    "INFO  jepsen.util - 1   :info   :cas    :timed-out\n")
    history, fmt = load_with_format(path)
    assert fmt == "porcupine-etcd"
    read, cas = history.ops()
    assert read.type == "fail" and read.error == "timed-out"
    assert cas.value == [1, 2] and cas.type == "info" and cas.output is None
    assert implied_options(fmt) == {"model": "cas-register", "initial": None, "nil_reads": "strict"}


def test_porcupine_kv(tmp_path):
    path = tmp_path / "kv.txt"
    path.write_text('{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}\n'
                    '{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}\n'
                    '{:process 1, :type :invoke, :f :get, :key "0", :value nil}\n'
                    '{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}\n')
    history, fmt = load_with_format(path)
    assert fmt == "porcupine-kv" and implied_options(fmt)["model"] == "kv-append"
    append, get = history.ops()
    assert (append.key, append.value, get.value, get.output) == ("0", "x 0 0 y", None, "x 0 0 y")


@pytest.mark.parametrize("text, fmt", [
    ('{"index":0,"type":"invoke"}', "jsonl"), ("[{:process 0}]", "edn"),
    ("INFO  jepsen.util - 0\t:invoke\t:read\tnil", "porcupine-etcd"),
    ('{:process 0, :type :invoke, :f :get, :key "0", :value nil}', "porcupine-kv"),
])
def test_detection(text, fmt):
    assert detect_format(text + "\n") == fmt


@pytest.mark.parametrize("text, words", [
    ("hello world\n", "no known history format"),
    ("[{:process 0, :type :ok, :f :read, :value 1}]", "has no open invocation"),
    ("[1 2]", "not a map"),
    ("[{:process 0, :f :read}]", "lacks :type"),
])
def test_bad_files_name_the_problem(tmp_path, text, words):
    path = tmp_path / "bad"
    path.write_text(text)
    with pytest.raises(HistoryError, match=words) as e:
        load(path)
    assert str(path) in str(e.value)


def test_explicit_format_mismatch(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text(EDN_VECTOR)
    with pytest.raises(HistoryError, match="line 1: is not a Porcupine etcd log line"):
        load(path, "porcupine-etcd")
