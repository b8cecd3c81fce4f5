"""The compiled EDN reader agrees with the reference reader (edn_format, then plain) on the
subset Jepsen writes, refuses what it does not understand, and passes tagged literals through."""

from __future__ import annotations

import edn_format
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splitbrain import edn


def compiled():
    """The compiled reader; its absence fails these tests rather than skipping them."""
    assert edn._edn is not None, "the C extension is not built: pip install -e . builds it"
    return edn._edn.loads_all

NAMES = st.from_regex(r"[a-z][a-z0-9*!?_+<>=-]{0,8}(/[a-z][a-z0-9-]{0,5})?", fullmatch=True)
SYMBOLS = NAMES.filter(lambda s: s not in ("nil", "true", "false"))
STRINGS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
SCALARS = st.one_of(
    st.integers(-2**70, 2**70).map(str),
    st.integers(0, 10**6).map(lambda n: f"{n}N"),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["nil", "true", "false"]),
    NAMES.map(lambda s: ":" + s),
    SYMBOLS,
    STRINGS.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"')
                .replace("\n", "\\n").replace("\t", "\\t") + '"'),
)
SEPARATORS = st.sampled_from([" ", ", ", "\n ", " ; a comment\n", ",", "\t"])


def _join(draw, forms):
    return "".join(f + draw(SEPARATORS) for f in forms).rstrip(", \t")


@st.composite
def forms(draw, depth: int = 0):
    """One EDN form as text."""
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        return draw(SCALARS)
    kind = draw(st.sampled_from(["vector", "list", "map", "set"]))
    if kind == "map":
        keys = draw(st.lists(st.one_of(NAMES.map(lambda s: ":" + s),
                                       st.integers(0, 99).map(str)), max_size=4, unique=True))
        return "{" + _join(draw, [k + " " + draw(forms(depth + 1)) for k in keys]) + "}"
    if kind == "set":
        items = draw(st.lists(st.integers(-9, 99), max_size=4, unique=True))
        return "#{" + _join(draw, [str(i) for i in items]) + "}"
    items = [draw(forms(depth + 1)) for _ in range(draw(st.integers(0, 4)))]
    o, c = ("[", "]") if kind == "vector" else ("(", ")")
    return o + _join(draw, items) + c


def reference(text: str):
    return [edn.plain(f) for f in edn_format.loads_all(text)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(forms(), min_size=1, max_size=4), st.data())
def test_compiled_reader_agrees_with_edn_format(items, data):
    text = _join(data.draw, items)
    expected = reference(text)
    got = compiled()(text)
    assert repr(got) == repr(expected), text  # repr: 1 vs 1.0 vs True must agree too


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forms(), st.integers(0, 10_000), st.sampled_from(["", "]", "}", ")", "\\a", "#", '"']))
def test_compiled_reader_never_accepts_what_the_reference_refuses(form, cut, junk):
    text = form[:cut % (len(form) + 1)] + junk
    try:
        expected = reference(text)
    except Exception:
        with pytest.raises(ValueError):
            compiled()(text)
        return
    try:
        got = compiled()(text)
    except ValueError:
        return  # outside the compiled subset: loads_all falls back to the reference
    assert repr(got) == repr(expected), text


def test_tagged_literals_pass_through_and_discard_drops_a_form():
    text = '[#jepsen.history.Op{:index 0, :type :invoke} #inst "2026-11-30" #_ :gone 1]'
    assert edn.loads_all(text) == [[{"index": 0, "type": "invoke"}, "2026-11-30", 1]]


def test_what_the_compiled_reader_refuses_the_reference_reads():
    assert edn.loads_all(r"[\a 1]") == [["a", 1]]  # a character literal


def test_malformed_text_gets_the_reference_readers_message(monkeypatch):
    with pytest.raises(edn.EdnError) as compiled:
        edn.loads_all("[{:a 1}")
    monkeypatch.setattr(edn, "_edn", None)
    with pytest.raises(edn.EdnError) as reference_only:
        edn.loads_all("[{:a 1}")
    assert str(compiled.value) == str(reference_only.value)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('[](){}#_:;"\\,. \n-+0123456789eEMNanil/trufs')),
               max_size=40))
def test_compiled_reader_returns_or_refuses_any_text(text):
    try:
        compiled()(text)
    except ValueError:
        pass  # refused: loads_all asks the reference reader


@pytest.mark.parametrize("text", ["a/", ":a/", ".5", "007", "0.", "1M", "1.5M", "é", "[a/b /]"])
def test_tokens_edn_format_splits_or_reads_otherwise_get_its_reading(text):
    """Each of these once read differently in the compiled reader; now it refuses them and
    loads_all gives the reference reading."""
    assert repr(edn.loads_all(text)) == repr(reference(text))
