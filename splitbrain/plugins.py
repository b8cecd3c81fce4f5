"""Models, workloads and checkers from outside splitbrain: ``pkg.mod:Name`` specs and the entry
point groups of installed packages.

Rules:

* A spec with a colon is ``module:attribute`` (the attribute may be dotted) and is imported.
  A spec without one is a built-in name first, then the name of an entry point in the kind's
  group (:data:`GROUPS`), read with :mod:`importlib.metadata`.
* A model is a :class:`~splitbrain.checkers.linearizable.models.Model` subclass, built with
  the checker's ``initial`` and ``nil_reads`` and always guarded
  (:mod:`splitbrain.checkers.linearizable.guard`). A workload is a
  :class:`~splitbrain.workloads.base.Workload` subclass. A checker is a callable taking a
  :class:`~splitbrain.history.History` and returning a
  :class:`~splitbrain.checkers.result.Result`.
* Every failure to find, import or accept a spec is a :class:`~splitbrain.errors.BadInput`: one
  sentence naming the spec and what to do.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Callable

from splitbrain.checkers.result import Result
from splitbrain.errors import BadInput
from splitbrain.history import History

#: Plugin kind -> entry point group.
GROUPS = {"model": "splitbrain.models", "workload": "splitbrain.workloads",
          "checker": "splitbrain.checkers"}


@dataclass(frozen=True)
class Plugin:
    """One installed entry point: its kind, name, target (``module:attribute``) and the
    distribution that declares it."""

    kind: str
    name: str
    target: str
    distribution: str


def installed(kind: str | None = None) -> list[Plugin]:
    """The installed plugins of ``kind`` (every kind when None), sorted by kind and name."""
    found = []
    for k, group in GROUPS.items():
        if kind is None or kind == k:
            found += [Plugin(k, ep.name, ep.value, ep.dist.name if ep.dist else "?")
                      for ep in entry_points(group=group)]
    return sorted(found, key=lambda p: (p.kind, p.name))


def _entry_point(kind: str, name: str) -> EntryPoint | None:
    matches = entry_points(group=GROUPS[kind], name=name)
    return next(iter(matches), None)


def load(kind: str, spec: str, builtins: tuple[str, ...] = ()) -> Any:
    """The object ``spec`` names (see the module's rules); ``builtins`` are listed when it
    names nothing."""
    flag = f"--{kind}"
    if ":" in spec:
        module, _, attribute = spec.partition(":")
        where = f"{flag} {spec!r}"
        try:
            obj: Any = importlib.import_module(module)
        except ImportError as e:
            raise BadInput(f"{where}: module {module!r} cannot be imported ({e}); check the "
                           f"spelling and that its package is installed in this Python") from None
        except Exception as e:
            raise BadInput(f"{where}: importing module {module!r} raised "
                           f"{type(e).__name__}: {e}; fix the module") from None
        for part in attribute.split("."):
            if not part or not hasattr(obj, part):
                raise BadInput(f"{where}: module {module!r} has no {attribute!r}; name a "
                               f"{kind} it defines, as module:Name") from None
            obj = getattr(obj, part)
        return obj
    ep = _entry_point(kind, spec)
    if ep is None:
        known = [*builtins, *(p.name for p in installed(kind))]
        raise BadInput(f"{flag} {spec!r} is neither a built-in nor an installed plugin {kind}; "
                       f"use one of {', '.join(known) or 'none'}, or give module:Name")
    try:
        return ep.load()
    except Exception as e:
        raise BadInput(f"{flag} {spec!r}: the entry point {ep.value!r} of "
                       f"{ep.dist.name if ep.dist else 'its package'} cannot be loaded "
                       f"({type(e).__name__}: {e}); reinstall or fix that package") from None


def _subclass(kind: str, spec: str, obj: Any, base: type, base_name: str) -> type:
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise BadInput(f"--{kind} {spec!r} is {obj!r}, not a subclass of {base_name}; name "
                       f"such a class")
    return obj


def model(spec: str, *, initial: Any = None, nil_reads: str = "strict") -> Any:
    """The checker's model for ``--model spec``: a built-in's name unchanged, else a guarded
    instance of the plugin's Model subclass."""
    from splitbrain.checkers.linearizable.guard import guard
    from splitbrain.checkers.linearizable.models import MODELS, Model

    if spec in MODELS:
        return spec
    cls = _subclass("model", spec, load("model", spec, tuple(MODELS)), Model,
                   "splitbrain.Model")
    try:
        instance = cls(initial=initial, nil_reads=nil_reads)
    except BadInput:
        raise
    except Exception as e:
        raise BadInput(f"--model {spec!r}: {cls.__qualname__}(initial=..., nil_reads=...) raised "
                       f"{type(e).__name__}: {e}; its __init__ must accept Model's keyword "
                       f"options") from None
    return guard(instance)


def workload_class(spec: str) -> type:
    """The Workload subclass ``--workload spec`` names (built-ins are not looked up here)."""
    from splitbrain.workloads import WORKLOADS
    from splitbrain.workloads.base import Workload

    return _subclass("workload", spec, load("workload", spec, tuple(WORKLOADS)), Workload,
                     "splitbrain.workloads.base.Workload")


def make_workload(spec: str, mode: str, *, reads: tuple[str, ...] | None = None,
                  keys: int | None = None) -> Any:
    """The workload ``--workload spec`` names, for ``mode``: a built-in (drawing its reads'
    consistency from ``reads``, and sized by ``keys``, when given), else a plugin (BadInput
    with ``keys``, which only built-ins take)."""
    from splitbrain.workloads import WORKLOADS, check_keys, make

    if spec in WORKLOADS:
        return make(spec, mode, reads=reads, keys=keys)
    check_keys(spec, keys)
    return workload_class(spec)(mode)


def checker(spec: str) -> Callable[[History], Result]:
    """The checker ``--checker spec`` names: a callable from a History to a Result, whose
    failures are BadInput naming the spec."""
    fn = load("checker", spec)
    if isinstance(fn, type) or not callable(fn):
        raise BadInput(f"--checker {spec!r} is {fn!r}, not a function; name a function "
                       f"taking a History and returning a Result")

    def run(history: History) -> Result:
        try:
            result = fn(history)
        except BadInput:
            raise
        except Exception as e:
            raise BadInput(f"--checker {spec!r} raised {type(e).__name__}: {e}; fix the "
                           f"checker") from None
        if not isinstance(result, Result):
            raise BadInput(f"--checker {spec!r} returned {type(result).__name__}, not a "
                           f"splitbrain.Result; return one")
        return result

    return run
