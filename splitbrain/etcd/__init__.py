"""etcd as a system under test: :mod:`.nodes` (etcd members as a
:class:`~splitbrain.harness.interfaces.Database`), :mod:`.client` (the v3 JSON gateway with the
node client's call surface, so the register and set workloads run unchanged). The composition
of an etcd cluster on namespace or SSH hosts, partitioned by their firewalls, is the harness's
(:mod:`splitbrain.harness.etcdcluster`); this package imports only the harness's interfaces."""
