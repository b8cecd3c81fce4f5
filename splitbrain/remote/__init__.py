"""Remote hosts: the SSH backend of :class:`splitbrain.harness.interfaces.Hosts` (``ssh.py``,
behind the optional ``splitbrain[ssh]`` extra: only it imports paramiko, and only when used)
and the install of the running splitbrain on each host (``install.py``).

It may import only :mod:`splitbrain.harness.interfaces` from the harness; the harness composes
it into a cluster (:mod:`splitbrain.harness.sshcluster`). ``splitbrain lab``
(:mod:`splitbrain.lab`) builds SSH hosts on this machine to try it on."""
