"""Install on every host the splitbrain the tester runs (Jepsen's ``DB.setup!``).

The tester builds a *wheelhouse* once per version of the source: the wheel of the running
install plus the wheels of its dependencies (``pip wheel``, cached in
``~/.cache/splitbrain/wheelhouse/<digest>``, the digest covering every source file). On each
host, under ``REMOTE_DIR`` and a lock file (hosts that share a file system install once):

    REMOTE_DIR/installed   the digest of what is installed: equal means current, skip
    REMOTE_DIR/venv/       python3 -m venv, then pip install --no-index from the uploaded wheels

So the hosts need python3 with venv of the tester's major.minor version (the wheels are built
for it) and nothing from the network.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

from splitbrain.errors import TesterFailure
from splitbrain.remote.ssh import SshHosts

SOURCE_SUFFIXES = (".py", ".c", ".html", ".js", ".css", ".j2", ".toml")


def source_root() -> Path:
    """The source tree of the running splitbrain (an editable install or a checkout)."""
    root = Path(__file__).resolve().parents[2]  # splitbrain/remote/install.py -> the tree
    if not (root / "pyproject.toml").is_file():
        raise TesterFailure(f"remote hosts need splitbrain's source tree to build the wheel "
                            f"they install, and {root} has no pyproject.toml; install "
                            f"splitbrain from a checkout (pip install -e .)")
    return root


def digest(root: Path) -> str:
    """A hash of every source file that ends up in the wheel."""
    h = hashlib.sha256()
    files = [root / "pyproject.toml", root / "setup.py",
             *sorted(p for p in (root / "splitbrain").rglob("*")
                     if p.suffix in SOURCE_SUFFIXES or p.parent.name == "templates")]
    for path in files:
        if path.is_file():
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def wheelhouse() -> tuple[str, Path]:
    """(digest, folder of wheels) for the running source, built when not cached."""
    root = source_root()
    key = digest(root)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    folder = cache / "splitbrain" / "wheelhouse" / key
    if (folder / "complete").is_file():
        return key, folder
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet",
                           "--disable-pip-version-check", "-w", str(folder), str(root)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise TesterFailure(f"could not build the wheels to install on the hosts (pip wheel "
                            f"{root}: {proc.stderr.strip()[-300:]})")
    (folder / "complete").write_text(key + "\n")
    return key, folder


async def install(hosts: SshHosts) -> None:
    """Install the running splitbrain on every host of ``hosts`` unless it is current there."""
    key, folder = wheelhouse()
    wheels = sorted(folder.glob("*.whl"))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    r = shlex.quote(hosts.options.remote_dir)

    async def one(host: str) -> None:
        found = await hosts.shell(host, f"cat {r}/installed 2>/dev/null; python3 -c "
                                        f"'import sys; print(\"%d.%d\" % sys.version_info[:2])'")
        lines = found.out.split()
        if lines[:1] == [key]:
            return
        if not lines or lines[-1] != version:
            raise TesterFailure(f"host {host} runs Python {lines[-1] if lines else '?'} but "
                                f"the tester's wheels are for Python {version}; install "
                                f"python{version} there as python3, or run the tester with "
                                f"the hosts' Python")
        upload = f"{hosts.options.remote_dir}/upload-{host}"
        for wheel in wheels:
            await hosts.put(host, f"{upload}/{wheel.name}", wheel.read_bytes())
        u = shlex.quote(upload)
        script = (f"cd {r} && exec 9> .lock && flock 9 && "
                  f"if [ \"$(cat installed 2>/dev/null)\" != {key} ]; then "
                  f"rm -rf venv installed && python3 -m venv venv && "
                  f"venv/bin/pip install --quiet --no-index --find-links {u} splitbrain && "
                  f"echo {key} > installed; fi; status=$?; rm -rf {u}; exit $status")
        result = await hosts.shell(host, script, timeout=600.0, as_root=True)
        if result.code != 0:
            raise TesterFailure(f"installing splitbrain in {hosts.options.remote_dir} on host "
                                f"{host} failed ({(result.err or result.out).strip()[-300:]}); "
                                f"check that python3-venv is installed there")

    await asyncio.gather(*(one(h) for h in hosts.hosts))
