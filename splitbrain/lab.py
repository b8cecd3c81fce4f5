"""``splitbrain lab``: SSH hosts on one machine, to try remote mode (and test it on CI) without
machines. Root and Linux only.

``lab up --hosts N`` builds, on a free subnet ``10.214.K.0/24``::

    namespace sb-lab-hub    bridge br0; one veth port per host and one for the tester
    namespace sb-lab-hI     eth0 = 10.214.K.I/24, Debian's sshd listening only on that address
    tester's namespace      veth sb-lab-t = 10.214.K.254/24, plugged into br0

and, in ``LAB_DIR`` (``/run/sb-lab``), a client key pair (``id_ed25519``) authorised for root on
every host, each host's sshd config and host key, and a ``known_hosts`` file with every host
key. ``ip route get`` must show each host address going through ``sb-lab-t`` (the netns
network's route check), so nothing is ever sent off the machine. ``lab down`` kills every
process in the lab's namespaces (sshd and whatever it started), deletes the namespaces and
the veth, and removes ``LAB_DIR``. The hosts share this machine's file system, as containers
on one machine would not: everything the SSH backend writes is keyed by node name, so that
does not matter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness import netns

LAB_DIR = Path(os.environ.get("SPLITBRAIN_LAB_DIR", "/run/sb-lab"))
SUBNET = "10.214"
PREFIX = "sb-lab"
HUB, TESTER_IF, TESTER_HOST = f"{PREFIX}-hub", f"{PREFIX}-t", 254
STATE_FILE = "lab.json"
SSHD = "/usr/sbin/sshd"
MAX_HOSTS = 50


def _run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TesterFailure(f"'{' '.join(argv)}' failed while building the lab: "
                            f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def state() -> dict[str, Any] | None:
    """The running lab (``subnet``, ``hosts`` name -> address, ``key``, ``known_hosts``), or
    None when there is none."""
    try:
        return json.loads((LAB_DIR / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def unavailable_reason() -> str | None:
    """Why this process cannot build a lab, or None."""
    if not sys.platform.startswith("linux"):
        return "the lab uses Linux network namespaces"
    if os.geteuid() != 0:
        return "it needs root (network namespaces, sshd)"
    if not shutil.which("ip"):
        return "the ip command is missing (apt-get install iproute2)"
    return None


def ensure_sshd() -> None:
    """Install Debian's openssh-server when sshd is missing (apt-get)."""
    if Path(SSHD).exists():
        return
    if not shutil.which("apt-get"):
        raise TesterFailure("sshd is missing and this is not a Debian-like system; install "
                            "openssh-server, then run 'splitbrain lab up' again")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                  "openssh-server"]):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise TesterFailure(f"'{' '.join(argv)}' failed ({proc.stderr.strip()[-300:]}); "
                                f"install openssh-server by hand, then run 'splitbrain lab up' "
                                f"again")


def _free_subnet() -> int:
    used = _run("ip", "-4", "addr") + _run("ip", "-4", "route", "show", "table", "all")
    for k in range(256):
        if f"{SUBNET}.{k}." not in used:
            return k
    raise TesterFailure(f"every subnet {SUBNET}.0-255.0/24 is in use on this machine")


def _keygen(path: Path, comment: str) -> None:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))


def _sshd_config(host_dir: Path, address: str) -> str:
    return "\n".join([
        f"ListenAddress {address}", "Port 22",
        f"HostKey {host_dir / 'ssh_host_ed25519_key'}",
        f"PidFile {host_dir / 'sshd.pid'}",
        f"AuthorizedKeysFile {LAB_DIR / 'authorized_keys'}",
        "PermitRootLogin prohibit-password", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "MaxStartups 100:30:200", "MaxSessions 100",
        "Subsystem sftp internal-sftp", ""])


def up(count: int) -> dict[str, Any]:
    """Build a lab of ``count`` SSH hosts (see the module docstring); returns its state.
    Refuses when a lab already runs; a failed build leaves nothing behind."""
    reason = unavailable_reason()
    if reason:
        raise BadInput(f"splitbrain lab is not available here: {reason}")
    if not 1 <= count <= MAX_HOSTS:
        raise BadInput(f"--hosts must be 1..{MAX_HOSTS}, not {count}")
    if state() is not None or LAB_DIR.exists():
        raise BadInput(f"a lab already runs (see {LAB_DIR}); stop it first with "
                       f"'splitbrain lab down'")
    ensure_sshd()
    try:
        return _build(count)
    except BaseException:
        down()
        raise


def _build(count: int) -> dict[str, Any]:
    LAB_DIR.mkdir(mode=0o700, parents=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    netns._own_netns_dir()
    k = _free_subnet()
    hosts = {f"h{i}": f"{SUBNET}.{k}.{i}" for i in range(1, count + 1)}
    lab = {"subnet": f"{SUBNET}.{k}.0/24", "hosts": hosts, "user": "root",
           "key": str(LAB_DIR / "id_ed25519"), "known_hosts": str(LAB_DIR / "known_hosts"),
           "namespaces": [HUB, *(f"{PREFIX}-{h}" for h in hosts)], "ifaces": [TESTER_IF]}
    (LAB_DIR / STATE_FILE).write_text(json.dumps(lab, indent=2))  # before anything exists
    _keygen(LAB_DIR / "id_ed25519", "splitbrain-lab")
    shutil.copyfile(LAB_DIR / "id_ed25519.pub", LAB_DIR / "authorized_keys")
    netns.add_hub(HUB, TESTER_IF, f"{SUBNET}.{k}.{TESTER_HOST}")
    known = []
    for host, addr in hosts.items():
        ns, host_dir = f"{PREFIX}-{host}", LAB_DIR / host
        host_dir.mkdir(mode=0o700)
        netns.add_port(HUB, host, ns, addr)
        netns.check_route(addr, TESTER_IF)
        _keygen(host_dir / "ssh_host_ed25519_key", f"splitbrain-lab-{host}")
        (host_dir / "sshd_config").write_text(_sshd_config(host_dir, addr))
        _run("ip", "netns", "exec", ns, SSHD, "-f", str(host_dir / "sshd_config"),
             "-E", str(host_dir / "sshd.log"))
        pub = (host_dir / "ssh_host_ed25519_key.pub").read_text().split()
        known.append(f"{addr} {pub[0]} {pub[1]}")
    (LAB_DIR / "known_hosts").write_text("\n".join(known) + "\n")
    _wait_listening(hosts)
    return lab


def _wait_listening(hosts: dict[str, str], timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    for host, addr in hosts.items():
        while True:
            try:
                socket.create_connection((addr, 22), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TesterFailure(f"the lab's sshd on {host} ({addr}) does not answer; "
                                        f"see {LAB_DIR / host / 'sshd.log'}") from None
                time.sleep(0.05)


def ssh_arguments(lab: dict[str, Any]) -> list[str]:
    """The ``splitbrain test`` arguments that run on this lab's hosts."""
    return ["--hosts", ",".join(lab["hosts"].values()), "--ssh-user", lab["user"],
            "--ssh-key", lab["key"], "--ssh-known-hosts", lab["known_hosts"]]


def status() -> list[dict[str, Any]] | None:
    """Each host of the running lab: ``host``, ``address``, ``sshd`` (listening), ``pids``
    (processes in its namespace); None when no lab runs."""
    lab = state()
    if lab is None:
        return None
    import socket

    rows = []
    for host, addr in lab["hosts"].items():
        try:
            socket.create_connection((addr, 22), timeout=0.5).close()
            listening = True
        except OSError:
            listening = False
        rows.append({"host": host, "address": addr, "sshd": listening,
                     "pids": _pids(f"{PREFIX}-{host}")})
    return rows


def _pids(ns: str) -> list[int]:
    proc = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(p) for p in proc.stdout.split()] if proc.returncode == 0 else []


def down() -> list[str] | None:
    """Remove the lab: every process in its namespaces, the namespaces, the veth, LAB_DIR.
    Returns what was removed, or None when no lab was there."""
    lab = state()
    if lab is None and not LAB_DIR.exists():
        return None
    namespaces = (lab or {}).get("namespaces") or _lab_namespaces()
    removed = []
    for ns in namespaces:
        for pid in _pids(ns):
            try:
                os.kill(pid, signal.SIGKILL)
                removed.append(f"process {pid}")
            except ProcessLookupError:
                pass
    for ns in namespaces:
        if subprocess.run(["ip", "netns", "del", ns], capture_output=True).returncode == 0:
            removed.append(f"namespace {ns}")
    if subprocess.run(["ip", "link", "del", TESTER_IF], capture_output=True).returncode == 0:
        removed.append(f"interface {TESTER_IF}")
    shutil.rmtree(LAB_DIR, ignore_errors=True)
    removed.append(str(LAB_DIR))
    return removed


def _lab_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines()
            if line.strip() and line.split()[0].startswith(f"{PREFIX}-")]
