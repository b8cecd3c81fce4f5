"""Bad --hosts and SSH options are refused before anything starts: one sentence, exit 254."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration  # each case runs the command line


def splitbrain(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, words", [
    (["--hosts", "a,b,c"], "--hosts names 3 hosts for 5 nodes; one node runs on each host, so "
                           "pass --nodes 3"),
    (["--hosts", "a,a", "--nodes", "2"], "--hosts names a host twice (a,a)"),
    (["--hosts", ",", "--nodes", "2"], "--hosts needs a comma-separated list of hosts"),
    (["--hosts", "a,b", "--nodes", "2", "--net", "netns"],
     "--net netns builds namespaces on this machine; with --hosts"),
    (["--hosts", "a,b", "--nodes", "2", "--ssh-key", "/nonexistent/key"],
     "--ssh-key /nonexistent/key is not a file"),
    (["--hosts", "a,b", "--nodes", "2", "--ssh-known-hosts", "/nonexistent/kh"],
     "--ssh-known-hosts /nonexistent/kh is not a file; pass a known_hosts file or use "
     "--ssh-accept-new"),
    (["--hosts", "a,b", "--nodes", "2", "--remote-dir", "opt/sb"],
     "--remote-dir must be an absolute path"),
    (["--hosts", "a,b", "--nodes", "2", "--leave-running"], "--leave-running is for local"),
])
def test_bad_host_options_are_one_sentence(tmp_path, args, words):
    result = splitbrain(tmp_path, "test", *args)
    assert result.returncode == 254, result.stderr
    assert result.stderr.startswith(f"splitbrain: {words}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "store").exists()  # refused before a run directory


def test_cluster_up_checks_the_same(tmp_path):
    result = splitbrain(tmp_path, "cluster", "up", "--hosts", "a,b", "--nodes", "2", "--net",
                        "netns")
    assert result.returncode == 254 and "--net netns builds namespaces" in result.stderr
