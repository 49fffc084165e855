"""Evidence strength: a silent block (DNS drop, web ip-drop) convicts only
with consistent evidence; until then it is suspect."""

from __future__ import annotations

from blockwatch.analysis.strength import Attempt, corroborated, strengthen
from blockwatch.analysis.verdict import Status


def drop(round_number: int, attempt_id: str, method: str = "ip-drop",
         address: str = "172.67.190.80") -> Attempt:
    return Attempt(round_number, Status.BLOCKED, method, address, attempt_id)


def test_a_single_timeout_does_not_convict() -> None:
    only = drop(3, "a")
    assert strengthen(only, [only]) is Status.SUSPECT
    assert strengthen(only, []) is Status.SUSPECT


def test_the_same_result_on_a_same_round_retry_convicts() -> None:
    first, retry = drop(3, "a"), drop(3, "b")
    assert strengthen(first, [first, retry]) is Status.BLOCKED


def test_the_same_result_across_addresses_in_the_round_convicts() -> None:
    v4, other = drop(3, "a"), drop(3, "b", address="172.67.190.81")
    assert strengthen(v4, [v4, other]) is Status.BLOCKED


def test_the_same_result_in_consecutive_rounds_convicts_both() -> None:
    r3, r4 = drop(3, "a"), drop(4, "b")
    assert strengthen(r3, [r3, r4]) is Status.BLOCKED
    assert strengthen(r4, [r3, r4]) is Status.BLOCKED


def test_rounds_that_are_not_consecutive_do_not_corroborate() -> None:
    r3, r5 = drop(3, "a"), drop(5, "b")
    assert strengthen(r3, [r3, r5]) is Status.SUSPECT


def test_a_retry_that_got_through_makes_the_timeout_transient() -> None:
    first, retry_ok, other = drop(3, "a"), Attempt(3, Status.OK, "", "x", "b"), drop(4, "c")
    assert not corroborated(first, [first, retry_ok, other])
    assert strengthen(first, [first, retry_ok, other]) is Status.SUSPECT


def test_a_different_method_does_not_corroborate() -> None:
    dns_drop, web_reset = drop(3, "a", method="drop"), drop(3, "b", method="tcp-reset")
    assert strengthen(dns_drop, [dns_drop, web_reset]) is Status.SUSPECT
    assert strengthen(dns_drop, [dns_drop, drop(2, "c", method="drop")]) is Status.BLOCKED


def test_blocks_that_say_so_themselves_need_no_corroboration() -> None:
    for method in ("http-451", "blockpage", "ede", "sinkhole", "tcp-reset"):
        single = drop(1, "a", method=method)
        assert strengthen(single, [single]) is Status.BLOCKED, method
    assert strengthen(Attempt(1, Status.OK), []) is Status.OK
