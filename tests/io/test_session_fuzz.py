"""Property tests: random Sessions round-trip exactly; the loader survives anything.

The loader's contract under fuzzing: for any input it either returns a valid Session (one
that saves and loads back identically) or raises SessionFileError with a one-line message.
Any other exception (TypeError, KeyError, RecursionError, OverflowError...) is a bug.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from session_strategies import assert_identical, sessions

from explorer.core.session import Session
from explorer.io.session_file import (
    SessionFileError,
    load_session,
    save_session,
    session_from_dict,
    session_from_json,
    session_to_dict,
    session_to_json,
)

SAMPLE = (Path(__file__).parent / "data" / "session_v1.attn.json").read_bytes()

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # includes NaN and infinities, written as NaN/Infinity literals
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _load_or_refuse(data) -> Session | None:
    try:
        session = session_from_json(data)
    except SessionFileError as exc:
        assert "\n" not in str(exc)
        return None
    assert isinstance(session, Session)
    assert_identical(session, session_from_json(session_to_json(session)))
    return session


@settings(max_examples=150, deadline=None)
@given(sessions())
def test_random_sessions_round_trip_exactly(session):
    assert_identical(session, session_from_json(session_to_json(session)))
    assert_identical(session, session_from_dict(json.loads(json.dumps(session_to_dict(session)))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_random_sessions_round_trip_through_files(session):
    with tempfile.TemporaryDirectory() as folder:
        path = save_session(session, Path(folder) / "s.attn.json")
        assert_identical(session, load_session(path))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_loaded_or_refused(data):
    _load_or_refuse(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.integers(0, len(SAMPLE)))
def test_sample_with_bytes_spliced_in_is_loaded_or_refused(noise, at):
    _load_or_refuse(SAMPLE[:at] + noise + SAMPLE[at + len(noise) :])


@settings(max_examples=200, deadline=None)
@given(json_values, st.booleans())
def test_random_json_is_loaded_or_refused(value, as_session):
    if as_session:  # get past the header checks to reach the field checks
        value = {"format": "attention-explorer-session", "version": 1, "x": value}
    assert _load_or_refuse(json.dumps(value)) is None


def _paths(node, prefix=()):
    """Every (container path, key) in a JSON document."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield prefix, key
        yield from _paths(child, (*prefix, key))


@st.composite
def mutated_documents(draw):
    doc = session_to_dict(draw(sessions()))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        prefix, key = draw(st.sampled_from(paths))
        parent = doc
        for k in prefix:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "delete", "retype", "add", "duplicate"]))
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif action == "retype":
            old = parent[key]
            parent[key] = draw(st.sampled_from([str(old), [old], {"v": old}, True, None, 1]))
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(json_values)
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_mutated_sessions_are_loaded_or_refused(doc):
    _load_or_refuse(json.dumps(doc))
    try:
        session_from_dict(doc)  # the dict API has the same contract
    except SessionFileError:
        pass
