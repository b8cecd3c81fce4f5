"""What the SSH tests share: ``lab``, a module-scoped fixture that builds ``splitbrain lab``
hosts (root only: it skips elsewhere with the reason; on CI, CI=true, ``lab.up`` installs
openssh-server when missing) and always removes them; and ``ssh_options(lab)``."""

from __future__ import annotations

import os
import shutil
from typing import Any, Iterator

import pytest

from splitbrain import lab as lab_module
from splitbrain.remote.ssh import SshOptions

LAB_HOSTS = 3


def lab_skip_reason() -> str | None:
    reason = lab_module.unavailable_reason()
    if reason:
        return f"splitbrain lab cannot run here: {reason} (CI runs these tests as root)"
    if not os.path.exists(lab_module.SSHD) and os.environ.get("CI") != "true":
        return "sshd is missing (apt-get install openssh-server; CI installs it)"
    if not shutil.which("ssh-keygen") and os.environ.get("CI") != "true":
        return "ssh-keygen is missing (apt-get install openssh-client)"
    if lab_module.state() is not None:
        return "a splitbrain lab is already running here; 'splitbrain lab down' first"
    return None


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, Any]]:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    built = lab_module.up(LAB_HOSTS)
    try:
        yield built
    finally:
        lab_module.down()


def ssh_options(built: dict[str, Any], **changes: Any) -> SshOptions:
    """The options that reach the lab's hosts (``changes`` override fields)."""
    return SshOptions(**{"user": built["user"], "key": built["key"],
                         "known_hosts": built["known_hosts"], **changes})


def lab_args(built: dict[str, Any]) -> list[str]:
    """``splitbrain test`` arguments for the lab (``--nodes`` matching its hosts)."""
    return [*lab_module.ssh_arguments(built), "--nodes", str(len(built["hosts"]))]
