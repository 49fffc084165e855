"""Structured DNS errors (draft-ietf-dnsop-structured-dns-error) read from EDE
EXTRA-TEXT into evidence; bad text kept verbatim and never raising."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from blockwatch.analysis.structurederrors import (
    MAX_CONTACTS,
    MAX_FIELD_CHARS,
    MAX_TEXT_CHARS,
    StructuredError,
    parse_extra_text,
)

AGCOM = json.dumps({
    "c": ["mailto:pirateria@agcom.it", "https://www.agcom.it/piracy-shield"],
    "j": "AGCOM order 12/26/CSP (copyright)", "s": 1, "o": "AGCOM", "l": "it"})


def test_structured_text_names_who_blocked_why_and_whom_to_contact() -> None:
    found = parse_extra_text(AGCOM)
    assert found.structured and not found.malformed
    assert found.organization == "AGCOM"
    assert found.justification == "AGCOM order 12/26/CSP (copyright)"
    assert found.contact == ("mailto:pirateria@agcom.it", "https://www.agcom.it/piracy-shield")
    assert found.suberror == 1 and found.language == "it"
    assert found.verbatim == AGCOM
    assert found.summary == "blocked by AGCOM under AGCOM order 12/26/CSP (copyright)"


def test_plain_text_is_kept_verbatim_and_not_malformed() -> None:
    text = "The requested domain is on a court ordered copyright piracy blocklist"
    assert parse_extra_text(text) == StructuredError(text)
    assert parse_extra_text("").summary == ""


def test_single_contact_string_is_accepted_and_unsafe_schemes_dropped() -> None:
    found = parse_extra_text('{"c": "mailto:abuse@isp.example", "o": "ISP"}')
    assert found.contact == ("mailto:abuse@isp.example",)
    found = parse_extra_text('{"c": ["javascript:alert(1)", "tel:+390612345"], "o": "X"}')
    assert found.contact == ("tel:+390612345",)


def test_unknown_keys_are_ignored_but_an_object_without_known_keys_is_malformed() -> None:
    assert parse_extra_text('{"o": "Quad9", "zz": [1, 2]}').organization == "Quad9"
    found = parse_extra_text('{"zz": 1}')
    assert not found.structured and found.malformed == "no structured-error key"


def test_malformed_json_is_kept_verbatim_with_the_reason() -> None:
    cases = {
        '{"o": "X"': "not JSON: JSONDecodeError",
        '{"o": "X", "o": "Y"}': "duplicate key",
        '{"s": NaN}': "non-I-JSON number NaN",
        '{"s": "1"}': '"s" is not a sub-error number',
        '{"s": true}': '"s" is not a sub-error number',
        '{"s": 70000}': '"s" is not a sub-error number',
        '{"j": 5}': '"j" is not a string',
        '{"c": [1]}': '"c" is not a string',
    }
    for text, reason in cases.items():
        found = parse_extra_text(text)
        assert found == StructuredError(text, malformed=reason), text


def test_bounds_hold_for_long_text_fields_and_contact_lists() -> None:
    huge = '{"o": "' + "x" * MAX_TEXT_CHARS + '"}'
    assert parse_extra_text(huge).malformed.startswith("longer than")
    found = parse_extra_text(json.dumps({
        "o": "y" * (MAX_FIELD_CHARS * 2), "l": "z" * 100,
        "c": [f"mailto:a{i}@x.example" for i in range(50)]}))
    assert len(found.organization) == MAX_FIELD_CHARS
    assert len(found.language) == 35
    assert len(found.contact) == MAX_CONTACTS


def test_deep_nesting_within_the_bound_is_malformed_not_a_crash() -> None:
    text = '{"a":' + "[" * 2000 + "]" * 2000 + "}"
    assert len(text) <= MAX_TEXT_CHARS
    found = parse_extra_text(text)
    assert not found.structured and found.verbatim == text


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=600))
def test_any_text_parses_without_raising_and_keeps_it_verbatim(text: str) -> None:
    found = parse_extra_text(text)
    assert found.verbatim == text
    assert not (found.structured and found.malformed)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["c", "j", "s", "o", "l", "x"]), children, max_size=5),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(_JSONISH)
def test_any_json_value_gives_fields_of_the_right_shape_or_malformed(value: object) -> None:
    text = json.dumps(value)
    found = parse_extra_text(text)
    assert found.verbatim == text
    if found.structured:
        assert all(isinstance(c, str) for c in found.contact)
        assert found.suberror is None or 0 <= found.suberror <= 0xFFFF
    else:
        assert (found.contact, found.justification, found.organization) == ((), "", "")
