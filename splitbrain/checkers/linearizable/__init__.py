"""Linearizability: Wing-Gong-Lowe search with P-compositionality, memoisation, proven pruning
rules and polynomial deciders, with explanations a person can follow.

``check(history, model="cas-register", ...) -> Result`` (see :mod:`.checker`); models in
:mod:`.models`.

An anomaly (one per illegal key) is ``{"type": "nonlinearizable", "key", "ops": [history
indices of the failing window], "op": index of the op that cannot be placed, "explanation",
"linearization": [{"op", "state"}, ...] (the last ops of the longest linearizable prefix),
"prefix_length", "last_state", "candidates": [{"op", "state", "why"}, ...]}``.
"""

from splitbrain.checkers.linearizable.checker import check
from splitbrain.checkers.linearizable.models import MODELS, Model, make_model

__all__ = ["check", "Model", "MODELS", "make_model"]
