"""When the verdict pass next has work (collector/receipts.py)."""

from __future__ import annotations

from blockwatch.collector.receipts import COALESCE_US, MAX_ENTRIES, Receipts

S = 1_000_000                 # µs in a second
WAITS = (60 * S, 180 * S)     # DNS settle; site: settle and web settle


def test_nothing_stored_is_nothing_due() -> None:
    assert Receipts().next_due_us(0, WAITS) is None


def test_before_any_pass_the_first_receipt_is_due_a_settle_time_later() -> None:
    r = Receipts()
    r.add(1000 * S)
    r.add(1005 * S)
    assert r.next_due_us(0, WAITS) == 1060 * S


def test_after_a_pass_the_next_due_is_the_first_it_could_not_judge() -> None:
    r = Receipts()
    for t in (1000, 1010, 1020):
        r.add(t * S)
    # began at 1075: DNS judged up to 1015 (1000 and 1010); none has its site verdict
    assert r.next_due_us(1075 * S, WAITS) == 1080 * S          # 1020's DNS verdict
    # began at 1085: every DNS verdict written; the site verdicts wait longer
    assert r.next_due_us(1085 * S, WAITS) == 1180 * S          # 1000's site verdict
    # began at 1185: 1000's site verdict too
    assert r.next_due_us(1185 * S, WAITS) == 1190 * S


def test_a_pass_forgets_only_what_every_layer_has_judged() -> None:
    r = Receipts()
    for t in (1000, 1010, 1020):
        r.add(t * S)
    r.passed(1085 * S, WAITS)                   # DNS done for all, no site verdict
    assert len(r) == 3
    r.passed(1195 * S, WAITS)                   # 1000 and 1010 judged in every layer
    assert len(r) == 1 and r.next_due_us(1195 * S, WAITS) == 1200 * S
    r.passed(1200 * S, WAITS)
    assert len(r) == 0 and r.next_due_us(1200 * S, WAITS) is None


def test_close_receipts_share_the_later_time() -> None:
    r = Receipts()
    r.add(1000 * S)
    r.add(1000 * S + COALESCE_US - 1)
    assert len(r) == 1
    # waking for the later one is never early for it
    assert r.next_due_us(0, WAITS) == 1060 * S + COALESCE_US - 1
    r.add(1000 * S + 2 * COALESCE_US)
    assert len(r) == 2


def test_a_clock_stepping_back_keeps_the_order() -> None:
    r = Receipts()
    r.add(1000 * S)
    r.add(990 * S)
    r.add(1001 * S)
    r.passed(1061 * S - 1, (60 * S,))
    assert len(r) == 1 and r.next_due_us(1061 * S - 1, (60 * S,)) == 1061 * S


def test_a_pass_that_never_runs_does_not_grow_the_list_without_bound() -> None:
    r = Receipts()
    for i in range(MAX_ENTRIES + 50):
        r.add(i * COALESCE_US)
    assert len(r) == MAX_ENTRIES
    assert r.next_due_us(0, WAITS) == 50 * COALESCE_US + 60 * S
