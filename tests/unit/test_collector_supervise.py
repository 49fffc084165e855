"""Pure parts of the collector's supervision, mTLS role binding and connection
limits."""

from __future__ import annotations

import pytest

from blockwatch.collector.auth import certificate_identity
from blockwatch.collector.errors import AuthError
from blockwatch.collector.server import connection_cap, merge_activity
from blockwatch.runtime.supervise import Backoff


def test_backoff_doubles_from_one_second_up_to_a_minute() -> None:
    b = Backoff()
    assert [b.delay(n) for n in (1, 2, 3, 4, 7, 20)] == [1.0, 2.0, 4.0, 8.0, 60.0, 60.0]


def test_activity_of_a_failed_flush_is_folded_into_the_next() -> None:
    old = {"a": (10.0, 1, 100, 0, "bad batch"), "b": (5.0, 2, 20, 1, "")}
    new = {"a": (12.0, 1, 50, 0, ""), "c": (7.0, 1, 1, 0, "x")}
    assert merge_activity(old, new) == {
        "a": (12.0, 2, 150, 0, "bad batch"), "b": (5.0, 2, 20, 1, ""),
        "c": (7.0, 1, 1, 0, "x")}


@pytest.mark.parametrize(("names", "identity"), [
    (["it-1"], ("probe", ["it-1"])),
    (["probe:it-1", "it-1"], ("probe", ["it-1", "it-1"])),
    (["analyst:alice"], ("analyst", ["alice"])),
    ([], ("probe", [])),
])
def test_a_certificate_names_one_role(names: list[str],
                                      identity: tuple[str, list[str]]) -> None:
    assert certificate_identity(names) == identity


def test_a_certificate_naming_both_roles_is_refused() -> None:
    with pytest.raises(AuthError) as caught:
        certificate_identity(["alice", "analyst:alice"])
    assert caught.value.denied and "one role" in str(caught.value)


def test_the_connection_cap_leaves_descriptors_for_storage() -> None:
    assert connection_cap(1024) == 768
    assert connection_cap(524_288) == 393_216
    assert connection_cap(100) == 16   # never zero: the collector must stay reachable
