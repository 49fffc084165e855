"""Structured DNS errors: the I-JSON a filtering resolver may put in an EDE's
EXTRA-TEXT (draft-ietf-dnsop-structured-dns-error) read into evidence fields.

The draft's keys: "c" contact (URIs: mailto:, tel:, sips:, https:), "j"
justification, "s" sub-error (a number from the draft's IANA registry), "o"
organization, "l" language of the text (a BCP 47 tag). Unknown keys are
ignored, as the draft asks. The text comes from whoever answered the query, so
parsing is bounded and never raises: anything that is not a small JSON object
of the right shapes is `malformed`, and the verbatim text is always kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from blockwatch.analysis.errors import AnalysisError

MAX_TEXT_CHARS = 4096      # EXTRA-TEXT can be ~64 KiB; a real one is far smaller
MAX_FIELD_CHARS = 512
MAX_CONTACTS = 8
_CONTACT_SCHEMES = ("mailto:", "tel:", "sips:", "https:")


@dataclass(frozen=True, slots=True)
class StructuredError:
    """What an EXTRA-TEXT says, as evidence. `verbatim` is always the text as
    received; the other fields are empty unless it was valid structured data."""

    verbatim: str
    structured: bool = False          # a JSON object with at least one known key
    malformed: str = ""               # why text that looks like JSON was refused
    contact: tuple[str, ...] = ()
    justification: str = ""
    suberror: int | None = None
    organization: str = ""
    language: str = ""

    @property
    def summary(self) -> str:
        """"blocked by X under Y" for reports; "" when nothing structured was said."""
        if not self.structured:
            return ""
        who = self.organization or "the resolver"
        why = f" under {self.justification}" if self.justification else ""
        return f"blocked by {who}{why}"


class _Refused(AnalysisError, ValueError):
    """The text is JSON-like but not acceptable structured data."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # I-JSON (RFC 7493) forbids duplicate names: which one wins is ambiguous.
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Refused("duplicate key")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise _Refused(f"non-I-JSON number {name}")


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _Refused(f'"{key}" is not a string')
    return value[:MAX_FIELD_CHARS]


def _contacts(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items[:MAX_CONTACTS]:
        uri = _text(item, "c")
        # Keep only URI schemes the draft allows: a javascript: or data: URI is not
        # something a report should ever render as a link.
        if uri.lower().startswith(_CONTACT_SCHEMES):
            out.append(uri)
    return tuple(out)


def _fields(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Refused("not a JSON object")
    fields: dict[str, Any] = {}
    if "c" in data:
        fields["contact"] = _contacts(data["c"])
    if "j" in data:
        fields["justification"] = _text(data["j"], "j")
    if "o" in data:
        fields["organization"] = _text(data["o"], "o")
    if "l" in data:
        fields["language"] = _text(data["l"], "l")[:35]  # BCP 47 tags are short
    if "s" in data:
        sub = data["s"]
        if isinstance(sub, bool) or not isinstance(sub, int) or not 0 <= sub <= 0xFFFF:
            raise _Refused('"s" is not a sub-error number')
        fields["suberror"] = sub
    return fields


def parse_extra_text(text: str) -> StructuredError:
    """The evidence in one EXTRA-TEXT. Plain text (most resolvers today) is kept
    verbatim with no fields; it never raises."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return StructuredError(text)
    if len(stripped) > MAX_TEXT_CHARS:
        return StructuredError(text, malformed=f"longer than {MAX_TEXT_CHARS} characters")
    try:
        fields = _fields(json.loads(stripped, object_pairs_hook=_no_duplicates,
                                    parse_constant=_no_constant))
    except _Refused as exc:
        return StructuredError(text, malformed=str(exc))
    except (ValueError, RecursionError) as exc:
        # json.JSONDecodeError is a ValueError; deep nesting within the bound
        # can still exhaust the parser's recursion.
        return StructuredError(text, malformed=f"not JSON: {type(exc).__name__}")
    if not fields:
        return StructuredError(text, malformed="no structured-error key")
    return StructuredError(text, structured=True, **fields)
