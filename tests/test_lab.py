"""`splitbrain lab up|status|down`: SSH hosts in namespaces of this machine, reachable with the
printed arguments, listening only on their namespace address, and removed without a trace."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lab_hosts import lab_skip_reason

from splitbrain import lab

pytestmark = pytest.mark.integration


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", "lab", *args],
                          capture_output=True, text=True, timeout=300)


def test_up_status_down_leaves_nothing():
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    try:
        up = cli("up", "--hosts", "2")
        assert up.returncode == 0, up.stderr
        built = lab.state()
        assert built is not None and list(built["hosts"]) == ["h1", "h2"]
        assert f"--hosts {','.join(built['hosts'].values())} --ssh-user root --ssh-key " \
               f"{built['key']} --ssh-known-hosts {built['known_hosts']}" in up.stdout
        again = cli("up", "--hosts", "2")
        assert again.returncode == 254 and "a lab already runs" in again.stderr
        status = cli("status")
        assert status.returncode == 0 and status.stdout.count("sshd answering") == 2
        h1 = built["hosts"]["h1"]
        ssh = subprocess.run(["ssh", "-i", built["key"], "-o", "BatchMode=yes", "-o",
                              f"UserKnownHostsFile={built['known_hosts']}", "-o",
                              "StrictHostKeyChecking=yes", f"root@{h1}",
                              "ss -Htln 'sport = :22'"], capture_output=True, text=True,
                             timeout=60)
        assert ssh.returncode == 0, ssh.stderr
        assert [line.split()[3] for line in ssh.stdout.splitlines()] == [f"{h1}:22"]
    finally:
        down = cli("down")
    assert down.returncode == 0 and "lab removed" in down.stdout
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert lab.PREFIX not in namespaces
    assert subprocess.run(["ip", "link", "show", lab.TESTER_IF],
                          capture_output=True).returncode != 0
    assert not lab.LAB_DIR.exists()
    assert cli("down").returncode == 254
