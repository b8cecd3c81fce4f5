"""Hosts over SSH with paramiko: the remote :class:`~splitbrain.harness.interfaces.Hosts`.

Rules of this module:

1. One connection per host, opened by :meth:`SshHosts.setup` and reused by every call; each
   blocking paramiko call runs in a worker thread (``asyncio.to_thread``), never on the event
   loop.
2. Every command runs as root: directly when the SSH user is root, else through ``sudo -n``.
   Files move through the command's stdin and stdout (``cat``), so no SFTP is needed.
3. A daemon ``NAME`` lives in ``REMOTE_DIR/nodes/NAME`` with its ``pid`` file; it is ours only
   while its pid is alive, not a zombie, and its command line names that directory. Nothing
   else is ever signalled.
4. Connection and host errors are one sentence naming the host and the fix
   (:class:`TesterFailure`, exit 255).
"""

from __future__ import annotations

import asyncio
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splitbrain.errors import BadInput, TesterFailure
from splitbrain.harness.interfaces import CommandResult

DEFAULT_REMOTE_DIR = "/opt/splitbrain"
CONNECT_TIMEOUT = 10.0
KILL_WAIT = 5.0

#: Shell functions every daemon command starts with: ``alive DIR`` is true while the daemon of
#: DIR runs (rule 3).
ALIVE = r"""alive() {
  pid=$(cat "$1/pid" 2>/dev/null) || return 1
  st=$(cat /proc/$pid/stat 2>/dev/null) || return 1
  case "${st##*) }" in Z*|X*) return 1;; esac
  tr '\0' '\n' < /proc/$pid/cmdline | grep -qF -- "$1"
}
"""


def _paramiko() -> Any:
    try:
        import paramiko
    except ImportError:
        raise BadInput("remote hosts need paramiko; install it with pip install "
                       "'splitbrain[ssh]'") from None
    return paramiko


@dataclass
class SshOptions:
    """How to reach the hosts: ``user`` (default: this user's name as SSH would), ``key``
    (a private key file; default: the SSH agent and ~/.ssh keys), ``port``, ``known_hosts``
    (default ~/.ssh/known_hosts), ``accept_new`` (trust a host key seen for the first time,
    as ``ssh -o StrictHostKeyChecking=accept-new``), ``remote_dir`` (where splitbrain is
    installed and the nodes run on each host)."""

    user: str | None = None
    key: str | None = None
    port: int = 22
    known_hosts: str | None = None
    accept_new: bool = False
    remote_dir: str = DEFAULT_REMOTE_DIR

    def validate(self) -> None:
        if self.key is not None and not Path(self.key).is_file():
            raise BadInput(f"--ssh-key {self.key} is not a file; pass the private key that the "
                           f"hosts accept")
        if self.known_hosts is not None and not Path(self.known_hosts).is_file():
            raise BadInput(f"--ssh-known-hosts {self.known_hosts} is not a file; pass a "
                           f"known_hosts file or use --ssh-accept-new")
        if not 0 < self.port < 65536:
            raise BadInput(f"--ssh-port must be a port number, not {self.port}")
        if not self.remote_dir.startswith("/"):
            raise BadInput(f"--remote-dir must be an absolute path, not {self.remote_dir!r}")


class SshHosts:
    """``hosts`` (names or addresses) reached over SSH as ``options`` say. ``install``, when
    given, is awaited by :meth:`setup` once the hosts are connected and checked (it installs
    splitbrain: see :mod:`splitbrain.remote.install`)."""

    def __init__(self, hosts: list[str], options: SshOptions, install: Any = None):
        self.hosts = list(hosts)
        self.options = options
        self.install = install
        self.clients: dict[str, Any] = {}
        self.root = {h: True for h in hosts}  # whether the SSH user is root there

    # -- connections ------------------------------------------------------------------------

    async def setup(self) -> None:
        """Connect to every host, check python3 and root (or sudo), install splitbrain, then
        stop any daemon a previous tester left (teardown before setup)."""
        await self.connect()
        if self.install is not None:
            await self.install(self)
        await self.teardown()

    async def connect(self) -> None:
        """Connect to every host and check python3 and root (or sudo); nothing else."""
        await asyncio.gather(*(asyncio.to_thread(self._connect, h) for h in self.hosts))
        await asyncio.gather(*(self._check(h) for h in self.hosts))

    def _connect(self, host: str) -> None:
        paramiko = _paramiko()
        o = self.options
        client = paramiko.SSHClient()
        known = o.known_hosts or str(Path("~/.ssh/known_hosts").expanduser())
        if Path(known).is_file():
            client.load_host_keys(known)
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy() if o.accept_new
                                           else paramiko.RejectPolicy())
        where = f"host {host} (port {o.port})"
        try:
            client.connect(host, port=o.port, username=o.user, key_filename=o.key,
                           timeout=CONNECT_TIMEOUT, banner_timeout=CONNECT_TIMEOUT,
                           auth_timeout=CONNECT_TIMEOUT, allow_agent=o.key is None,
                           look_for_keys=o.key is None)
        except paramiko.BadHostKeyException:
            raise TesterFailure(f"{where} presented a host key different from the one in "
                                f"{known}; if the host was rebuilt, remove its line there "
                                f"(ssh-keygen -R {host} -f {known}) and run again") from None
        except paramiko.AuthenticationException:
            raise TesterFailure(f"{where} refused the SSH key "
                                f"{o.key or '(agent and ~/.ssh keys)'} for user "
                                f"{o.user or 'default'}; add its public key to that user's "
                                f"~/.ssh/authorized_keys there, or pass --ssh-key/--ssh-user"
                                ) from None
        except paramiko.SSHException as e:
            if "not found in known_hosts" in str(e):
                raise TesterFailure(f"{where} is not in {known}; add its key "
                                    f"(ssh-keyscan -p {o.port} {host} >> {known}) or pass "
                                    f"--ssh-accept-new to trust it on first use") from None
            raise TesterFailure(f"SSH to {where} failed ({e}); check that sshd runs there "
                                f"and --ssh-port") from None
        except (OSError, socket.timeout) as e:
            reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise TesterFailure(f"cannot reach {where} ({reason}); check the address, "
                                f"--ssh-port and that sshd runs there") from None
        transport = client.get_transport()
        transport.set_keepalive(15)
        self.clients[host] = client

    async def _check(self, host: str) -> None:
        probe = await self.shell(host, "id -u; command -v python3 || echo no-python3")
        lines = probe.out.split()
        self.root[host] = bool(lines) and lines[0] == "0"
        if "no-python3" in lines:
            raise TesterFailure(f"host {host} has no python3; install it there (apt-get "
                                f"install python3 python3-venv) and run again")
        if not self.root[host]:
            sudo = await self.shell(host, "sudo -n true")
            if sudo.code != 0:
                raise TesterFailure(f"user {self.options.user or '(default)'} on host {host} "
                                    f"is not root and cannot sudo without a password; log in "
                                    f"as root (--ssh-user root) or allow passwordless sudo "
                                    f"there")

    async def close(self) -> None:
        clients, self.clients = self.clients, {}
        for client in clients.values():
            await asyncio.to_thread(client.close)

    # -- commands ---------------------------------------------------------------------------

    async def shell(self, host: str, command: str, *, input: bytes | None = None,
                    timeout: float = 30.0, as_root: bool = False) -> CommandResult:
        """Run a shell command on ``host`` (as root when ``as_root``; rule 2)."""
        code, out, err = await self._exec_bytes(host, command, input=input, timeout=timeout,
                                                as_root=as_root)
        return CommandResult(code, out.decode(errors="replace"), err.decode(errors="replace"))

    async def _exec_bytes(self, host: str, command: str, *, input: bytes | None = None,
                          timeout: float = 30.0, as_root: bool = False) -> tuple[int, bytes, bytes]:
        if as_root and not self.root.get(host, True):
            command = f"sudo -n sh -c {shlex.quote(command)}"
        client = self.clients.get(host)
        if client is None:
            raise TesterFailure(f"host {host} is not connected (the cluster was stopped)")
        return await asyncio.to_thread(_run_blocking, client, host, command, input, timeout)

    async def run(self, host: str, argv: list[str], *, input: bytes | None = None,
                  timeout: float = 30.0) -> CommandResult:
        return await self.shell(host, shlex.join(argv), input=input, timeout=timeout,
                                as_root=True)

    # -- daemons ----------------------------------------------------------------------------

    def python(self, host: str) -> str:
        return f"{self.options.remote_dir}/venv/bin/python"

    def address(self, host: str) -> str:
        return host

    def node_dir(self, host: str, name: str) -> str:
        return f"{self.options.remote_dir}/nodes/{name}"

    async def put(self, host: str, path: str, data: bytes) -> None:
        parent = path.rsplit("/", 1)[0] or "/"
        result = await self.shell(host, f"mkdir -p {shlex.quote(parent)} && cat > "
                                        f"{shlex.quote(path)}", input=data, as_root=True)
        if result.code != 0:
            raise TesterFailure(f"cannot write {path} on host {host} ({result.err.strip()})")

    async def start(self, host: str, name: str, argv: list[str], log: str) -> None:
        d = shlex.quote(self.node_dir(host, name))
        script = (f"mkdir -p {d} && cd {d} && {{ setsid {shlex.join(argv)} >> "
                  f"{shlex.quote(log)} 2>&1 < /dev/null & echo $! > pid; }}")
        result = await self.shell(host, script, as_root=True)
        if result.code != 0:
            raise TesterFailure(f"cannot start {name} on host {host} ({result.err.strip()})")

    async def signal(self, host: str, name: str, sig: int) -> None:
        d = shlex.quote(self.node_dir(host, name))
        await self.shell(host, f"{ALIVE}alive {d} && kill -{int(sig)} $(cat {d}/pid); true",
                         as_root=True)

    async def is_running(self, host: str, name: str) -> bool:
        d = shlex.quote(self.node_dir(host, name))
        return (await self.shell(host, f"{ALIVE}alive {d}", as_root=True)).code == 0

    async def fetch(self, host: str, path: str, dest: Path) -> bool:
        code, out, _ = await self._exec_bytes(host, f"cat {shlex.quote(path)}", as_root=True)
        if code != 0:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(out)
        return True

    async def teardown(self) -> None:
        """SIGKILL every daemon under REMOTE_DIR/nodes on every connected host and wait until
        they are gone."""
        nodes = shlex.quote(f"{self.options.remote_dir}/nodes")
        script = (f"{ALIVE}for d in {nodes}/*; do alive \"$d\" && kill -KILL $(cat \"$d/pid\") "
                  f"&& kill -CONT $(cat \"$d/pid\") 2>/dev/null; done; i=0; "
                  f"while [ $i -lt {int(KILL_WAIT * 20)} ]; do left=0; for d in {nodes}/*; do "
                  f"alive \"$d\" && left=1; done; [ $left = 0 ] && exit 0; sleep 0.05; "
                  f"i=$((i+1)); done; exit 1")
        results = await asyncio.gather(*(self.shell(h, script, as_root=True)
                                         for h in self.clients), return_exceptions=True)
        for host, result in zip(list(self.clients), results):
            if isinstance(result, BaseException) or result.code != 0:
                raise TesterFailure(f"the nodes on host {host} survived SIGKILL for "
                                    f"{KILL_WAIT:g} s; stop them by hand there")


def _run_blocking(client: Any, host: str, command: str, input: bytes | None,
                  timeout: float) -> tuple[int, bytes, bytes]:
    try:
        stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
        if input is not None:
            stdin.write(input)
        stdin.channel.shutdown_write()
        out, err = stdout.read(), stderr.read()
        return stdout.channel.recv_exit_status(), out, err
    except (OSError, socket.timeout, EOFError) as e:
        raise TesterFailure(f"lost the SSH connection to host {host} "
                            f"({type(e).__name__}: {e}); check the host and run again") from None
    except Exception as e:  # paramiko.SSHException, without importing paramiko here
        if type(e).__module__.startswith("paramiko"):
            raise TesterFailure(f"SSH to host {host} failed ({e}); check the host and run "
                                f"again") from None
        raise
