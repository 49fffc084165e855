"""Which UDP replies a probe keeps when a forger floods: every reply is counted,
the first is kept, then each new answer set, and the last distinct one always
survives (pure: UdpOutcome, no sockets)."""

from __future__ import annotations

import dns.message
import dns.rrset

from blockwatch.probe.bounds import MAX_RESPONSES
from blockwatch.probe.udp import UdpOutcome


def _reply(address: str, ttl: int = 60) -> bytes:
    query = dns.message.make_query("thepiratebay.org", "A")
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text("thepiratebay.org.", ttl, "IN", "A", address))
    return reply.to_wire()


def test_sixteen_identical_forgeries_do_not_push_the_genuine_reply_out() -> None:
    outcome = UdpOutcome(sent_ns=0)
    forged, genuine = _reply("10.10.34.34"), _reply("192.0.2.1")
    for i in range(40):
        outcome.add_reply(i, forged)
    outcome.add_reply(100, genuine)
    assert [data for _, data in outcome.replies] == [forged, genuine]
    assert outcome.reply_count == 41 and outcome.answer_sets == 2
    assert outcome.reply_bytes == 40 * len(forged) + len(genuine)


def test_a_copy_with_another_ttl_is_the_same_answer_set() -> None:
    outcome = UdpOutcome(sent_ns=0)
    outcome.add_reply(1, _reply("192.0.2.1", 60))
    outcome.add_reply(2, _reply("192.0.2.1", 59))
    assert len(outcome.replies) == 1 and outcome.answer_sets == 1 and outcome.reply_count == 2


def test_when_full_the_newest_distinct_reply_replaces_the_last_kept() -> None:
    outcome = UdpOutcome(sent_ns=0)
    for i in range(MAX_RESPONSES + 5):
        outcome.add_reply(i, _reply(f"10.0.0.{i}"))
    arrivals = [arrival for arrival, _ in outcome.replies]
    assert len(arrivals) == MAX_RESPONSES
    assert arrivals[0] == 0 and arrivals[-1] == MAX_RESPONSES + 4
    assert outcome.answer_sets == MAX_RESPONSES + 5


def test_one_reply_is_not_parsed_and_counts_one_set() -> None:
    outcome = UdpOutcome(sent_ns=0)
    outcome.add_reply(5, b"not dns at all")
    assert outcome.answer_sets == 1 and outcome.replies == [(5, b"not dns at all")]
