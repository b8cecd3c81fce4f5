"""`splitbrain test --hosts` on lab hosts over SSH: an end-to-end run with partitions, kills and
pauses; a tester killed mid-run followed by a new run on the same hosts; and every SSH error
case as one sentence naming the host, exit 255, nothing left running."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from lab_hosts import lab, lab_args, ssh_options  # noqa: F401 (lab is a fixture)
from short_runs import short_run

from splitbrain import lab as lab_module
from splitbrain import errors
from splitbrain.harness.interfaces import CommandResult
from splitbrain.harness.sshcluster import ssh_cluster
from splitbrain.history import NEMESIS
from splitbrain.remote.ssh import SshHosts, SshOptions

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def remote_dir():
    """One install for the module, in a folder of its own (lab hosts share this machine's
    file system)."""
    d = f"/tmp/sb-lab-ssh-{uuid.uuid4().hex[:12]}"
    yield d
    shutil.rmtree(d, ignore_errors=True)


def node_procs(built) -> list[int]:
    """Processes in the lab's host namespaces other than sshd (the nodes, if any run)."""
    pids = []
    for host in built["hosts"]:
        for pid in lab_module._pids(f"{lab_module.PREFIX}-{host}"):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if not exe.endswith("sshd") and state not in ("Z", "X"):
                pids.append(pid)
    return pids


def cli(*args: str, timeout: float = 240.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "splitbrain.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_end_to_end_run_with_partitions_kills_and_pauses(lab, remote_dir, tmp_path):
    outcome, history = short_run(
        tmp_path, mode="dynamo", workload="set", nemesis="partition,kill,pause",
        nemesis_interval=1.5, time_limit=8.0, recovery=2.0, nodes=len(lab["hosts"]),
        hosts=",".join(lab["hosts"].values()), ssh_user="root", ssh_key=lab["key"],
        ssh_known_hosts=lab["known_hosts"], remote_dir=remote_dir)
    assert outcome.test["net"] == "firewall"
    assert outcome.test["cluster"]["nodes"][0]["host"] == lab["hosts"]["h1"]
    assert outcome.result.valid in (True, False)  # judged, not unknown
    fs = {op.f for op in history.ops(include_nemesis=True) if op.process == NEMESIS}
    assert "heal" in fs and len(fs) > 1, fs
    assert sum(1 for op in history.ops() if op.type == "ok") > 20
    logs = sorted(p.name for p in (outcome.run_dir / "nodes").iterdir())
    assert logs == ["n1.log", "n2.log", "n3.log"]
    assert "n1" in (outcome.run_dir / "nodes" / "n1.log").read_text()
    assert node_procs(lab) == []


def test_a_killed_tester_is_followed_by_a_clean_run(lab, remote_dir, tmp_path):
    store = tmp_path / "store"
    first = subprocess.Popen(
        [sys.executable, "-m", "splitbrain.cli", "test", "--mode", "dynamo", "--store",
         str(store), "--time-limit", "60", "--remote-dir", remote_dir, *lab_args(lab)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not ((h := store / "latest" / "history.jsonl").exists()
                   and h.stat().st_size > 2000):
            assert first.poll() is None and time.monotonic() < deadline, "no ops recorded"
            time.sleep(0.2)
        left = node_procs(lab)
        assert len(left) == len(lab["hosts"])
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert node_procs(lab) == left  # SIGKILL leaves remote nodes running, as on real hosts
    second = cli("test", "--mode", "dynamo", "--store", str(store), "--time-limit", "3",
                 "--nemesis", "none", "--recovery", "1", "--remote-dir", remote_dir,
                 *lab_args(lab))
    assert second.returncode in (0, 1), second.stderr
    assert "verdict:" in second.stdout
    assert node_procs(lab) == []


def run_failing(lab, remote_dir, *args: str) -> str:
    """A run that must fail before any node starts: its one-line message (exit 255)."""
    result = cli("test", "--time-limit", "2", "--remote-dir", remote_dir, *lab_args(lab),
                 "--store", "/tmp/sb-lab-unused-store", *args, timeout=120)
    shutil.rmtree("/tmp/sb-lab-unused-store", ignore_errors=True)
    assert result.returncode == 255, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert node_procs(lab) == []
    return lines[0]


def test_unreachable_host(lab, remote_dir):
    message = run_failing(lab, remote_dir, "--ssh-port", "2222")
    assert any(f"cannot reach host {h} (port 2222)" in message for h in lab["hosts"].values())
    assert "check the address, --ssh-port and that sshd runs there" in message


def test_refused_key(lab, remote_dir, tmp_path):
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    message = run_failing(lab, remote_dir, "--ssh-key", str(key))
    assert any(f"host {h} (port 22) refused the SSH key {key} for user root" in message
               for h in lab["hosts"].values())
    assert "authorized_keys" in message


def test_unknown_host_key(lab, remote_dir, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    message = run_failing(lab, remote_dir, "--ssh-known-hosts", str(empty))
    assert any(f"host {h} (port 22) is not in {empty}" in message
               for h in lab["hosts"].values())
    assert "--ssh-accept-new to trust it on first use" in message


class ScriptedHosts(SshHosts):
    """SshHosts whose shell answers from a script (the host checks, without such a host)."""

    def __init__(self, answers: dict[str, CommandResult]):
        super().__init__(["h1"], SshOptions(user="alice"))
        self.answers = answers

    async def shell(self, host, command, **kwargs) -> CommandResult:
        return next(r for prefix, r in self.answers.items() if command.startswith(prefix))


def test_missing_python3_is_one_sentence():
    hosts = ScriptedHosts({"id -u": CommandResult(0, "0\nno-python3\n", "")})
    with pytest.raises(errors.TesterFailure, match="^host h1 has no python3; install it there"):
        asyncio.run(hosts._check("h1"))


def test_missing_sudo_is_one_sentence():
    hosts = ScriptedHosts({"id -u": CommandResult(0, "1000\n/usr/bin/python3\n", ""),
                           "sudo -n true": CommandResult(1, "", "sudo: a password is required")})
    with pytest.raises(errors.TesterFailure, match="^user alice on host h1 is not root and cannot sudo "
                                            "without a password; log in as root"):
        asyncio.run(hosts._check("h1"))


def test_accept_new_trusts_a_host_seen_first(lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")

    async def scenario():
        hosts = SshHosts([lab["hosts"]["h1"]], ssh_options(lab, known_hosts=str(empty),
                                                           accept_new=True,
                                                           remote_dir=str(tmp_path / "r")))
        await hosts.setup()
        try:
            return await hosts.run(lab["hosts"]["h1"], ["ip", "-4", "-o", "addr", "show", "eth0"])
        finally:
            await hosts.close()

    assert f"inet {lab['hosts']['h1']}/24" in asyncio.run(scenario()).out


def test_cluster_up_status_down_on_hosts(lab, remote_dir, tmp_path):
    root = str(tmp_path / "rc")
    ssh = [*lab_args(lab), "--remote-dir", remote_dir, "--root", root]
    try:
        up = cli("cluster", "up", "--mode", "dynamo", *ssh)
        assert up.returncode == 0, up.stderr
        assert f"n1  http://{lab['hosts']['h1']}:8000" in up.stdout
        assert len(node_procs(lab)) == len(lab["hosts"])  # left running after 'up' exited
        status = cli("cluster", "status", "--root", root)
        assert status.returncode == 0 and status.stdout.count(" healthy ") == 3
    finally:
        down = cli("cluster", "down", "--root", root)
    assert down.returncode == 0, down.stderr
    assert node_procs(lab) == []
    assert sorted(p.name for p in (tmp_path / "rc" / "logs").iterdir()) == [
        "n1.log", "n2.log", "n3.log"]
    assert cli("cluster", "status", "--root", root).returncode == 254


def rules(built, host: str) -> str:
    listing = subprocess.run(["ip", "netns", "exec", f"{lab_module.PREFIX}-{host}", "nft", "list",
                              "ruleset"], capture_output=True, text=True)
    return listing.stdout


def test_a_cut_left_by_a_killed_tester_is_healed_by_the_next_start(lab, remote_dir, tmp_path):
    async def scenario():
        left = ssh_cluster("dynamo", list(lab["hosts"].values()), ssh_options(
            lab, remote_dir=remote_dir), tmp_path / "first")
        await left.start()
        await left.net.cut([("n1", "n2")])
        await left.hosts.close()  # gone without healing or stopping, as a SIGKILLed tester
        assert "drop" in rules(lab, "h2")
        again = ssh_cluster("dynamo", list(lab["hosts"].values()), ssh_options(
            lab, remote_dir=remote_dir), tmp_path / "second")
        async with again:
            assert "drop" not in rules(lab, "h2")
        assert "splitbrain" not in rules(lab, "h2")  # close removed our table

    asyncio.run(scenario())


def in_host(built, host: str, *argv: str) -> str:
    return subprocess.run(["ip", "netns", "exec", f"{lab_module.PREFIX}-{host}", *argv],
                          capture_output=True, text=True).stdout


@pytest.mark.parametrize("tool", ["nft", "iptables"])
def test_firewall_rules_are_ours_and_removed_exactly(lab, tmp_path, tool):
    from splitbrain.harness.firewall import FirewallNet
    from splitbrain.harness.interfaces import Placement

    h1, h2 = lab["hosts"]["h1"], lab["hosts"]["h2"]
    listing = ["nft", "list", "ruleset"] if tool == "nft" else ["iptables", "-S"]
    before = in_host(lab, "h2", *listing)

    async def scenario():
        hosts = SshHosts([h1, h2], ssh_options(lab, remote_dir=str(tmp_path / "r")))
        await hosts.connect()
        try:
            placements = [Placement("n1", h1, h1, "/unused/n1"),
                          Placement("n2", h2, h2, "/unused/n2")]
            net = FirewallNet(hosts, placements)
            net.tools = {h1: tool, h2: tool}
            await net.cut([("n1", "n2")])
            cut = in_host(lab, "h2", *listing)
            await net.loss([("n1", "n2")], 30)
            await net.heal()
            healed = in_host(lab, "h2", *listing)
            await net.close()
            return cut, healed
        finally:
            await hosts.close()

    cut, healed = asyncio.run(scenario())
    if tool == "nft":
        assert f"ip saddr {h1} tcp dport 9000 drop" in cut
        assert "drop" not in healed
    else:
        assert f"-A splitbrain -s {h1}/32 -p tcp -m tcp --dport 9000 -j DROP" in cut
        assert "-A INPUT -j splitbrain" in cut
        assert "DROP" not in healed
    assert in_host(lab, "h2", *listing) == before  # close removed exactly what was added
