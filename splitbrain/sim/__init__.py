"""Deterministic simulation: the whole cluster in one process, on virtual time, from a seed.

What is here (each module imports only the ones above it and the node's ``db/`` code):

- :mod:`.loop`: an asyncio event loop whose clock is virtual and which never does I/O.
- :mod:`.clock`, :mod:`.storage`, :mod:`.network`: the node's :mod:`splitbrain.db.env`
  contracts, simulated (per-node clock offset and drift; storage that loses unsynced changes
  on a crash; a network of directed links with latency, loss, duplication, reordering and
  cuts, whose messages the compiled ``_wire`` copies when it is built).
- :mod:`.cluster`: five real nodes on those doubles, as the harness's :class:`Nodes` with the
  Killable, Pausable and ClockControl capabilities, and the in-process client.
- :mod:`.draws`: a run's random draws, recorded and played (the choice sequence the
  shrinker edits).
- :mod:`.world`: the per-seed draw of network, clock, disk and fault parameters.
- :mod:`.sieve`: a seed's fault schedule with only some of its faults performed.
- :mod:`.run`: one seed, start to verdict, through the harness's own run loop and checkers.
- :mod:`.shrink`: the smallest run of a failing seed that fails the same way, ending as a
  :mod:`splitbrain.replay` file that :mod:`.run` plays.
- :mod:`.command`: ``splitbrain sim``.

Nothing in a simulated run reads the wall clock, the OS's randomness or thread timing: the
same seed gives the same history in any process.
"""
