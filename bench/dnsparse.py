"""DNS message speed: the probe's own reader and query writer (dnsmessage.py)
against dnspython on the same bytes. Prints name=value lines (microseconds per
message: CPU time, best of several repeats, one core).

    python bench/dnsparse.py [--number 2000] [--repeat 7]

Replies are built by dnspython and are what resolvers send blocked and open
names: two A records, two AAAA records, a CNAME chain of three ending in an A
(a CDN), a Google-style REFUSED with EDE 16 and its text plus NSID, and a
large TXT set (~1 KB). `parse_us_hand` is `parse_response`, the whole way from
bytes to the probe's Response (rendered records, CNAME chain, EDE, NSID);
`parse_us_dnspython` is `dns.message.from_wire` alone, before any of that, so
it understates what dnspython would cost the probe. Per-reply figures follow
(`parse_us_hand_cname=` ...); the summary figures are their mean.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import statistics
import time
import timeit
from collections.abc import Callable

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset

from blockwatch.probe.dnsmessage import encode_query, parse_response

DOMAIN = "kickasstorrents.to"
OWNER = DOMAIN + "."


def _reply(qtype: str) -> dns.message.Message:
    query = dns.message.make_query(DOMAIN, qtype, use_edns=0)
    return dns.message.make_response(query)


def replies() -> dict[str, tuple[bytes, int]]:
    """name -> (wire, qtype) of realistic replies."""
    out: dict[str, tuple[bytes, int]] = {}
    a = _reply("A")
    a.answer.append(dns.rrset.from_text(OWNER, 300, "IN", "A", "104.21.16.1", "172.67.1.2"))
    out["a"] = (a.to_wire(), 1)
    aaaa = _reply("AAAA")
    aaaa.answer.append(dns.rrset.from_text(OWNER, 300, "IN", "AAAA", "2606:4700:3030::6815:1001",
                                           "2606:4700:3036::ac43:102"))
    out["aaaa"] = (aaaa.to_wire(), 28)
    cname = _reply("A")
    chain = [DOMAIN, "www.kickasstorrents.to", "kat.cdn.example.net", "edge7.cdn.example.net"]
    for owner, target in itertools.pairwise(chain):
        cname.answer.append(dns.rrset.from_text(owner + ".", 60, "IN", "CNAME", target + "."))
    cname.answer.append(dns.rrset.from_text(chain[-1] + ".", 20, "IN", "A", "198.51.100.7"))
    out["cname"] = (cname.to_wire(), 1)
    refused = _reply("A")
    refused.set_rcode(dns.rcode.REFUSED)
    refused.use_edns(0, options=[
        dns.edns.EDEOption(dns.edns.EDECode.CENSORED,
                           "The requested domain is blocked by court order (AGCOM 12/24)"),
        dns.edns.NSIDOption(b"gpdns-mil")])
    out["ede"] = (refused.to_wire(), 1)
    txt = _reply("TXT")
    strings = [f'"v=spf1 include:_spf{i}.example.net ~all {"x" * 80}"' for i in range(7)]
    txt.answer.append(dns.rrset.from_text(OWNER, 300, "IN", "TXT", *strings))
    out["txt"] = (txt.to_wire(), 16)
    return out


def best_us(run: Callable[[], object], number: int, repeat: int) -> float:
    # CPU time, not wall time: on a shared machine the wall clock counts the
    # time other processes held the core.
    timings = timeit.repeat(run, number=number, repeat=repeat, timer=time.process_time)
    return min(timings) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    hand: list[float] = []
    library: list[float] = []
    for name, (wire, qtype) in replies().items():
        parsed = parse_response(wire, DOMAIN, qtype, 0)
        assert not parsed.parse_error, (name, parsed.parse_error)
        ours = best_us(functools.partial(parse_response, wire, DOMAIN, qtype, 0),
                       args.number, args.repeat)
        theirs = best_us(functools.partial(dns.message.from_wire, wire), args.number,
                         args.repeat)
        hand.append(ours)
        library.append(theirs)
        print(f"reply_bytes_{name}={len(wire)}")
        print(f"parse_us_hand_{name}={ours:.1f}")
        print(f"parse_us_dnspython_{name}={theirs:.1f}")
    print(f"parse_us_hand={statistics.mean(hand):.1f}")
    print(f"parse_us_dnspython={statistics.mean(library):.1f}")

    def dnspython_query() -> bytes:
        query = dns.message.make_query(DOMAIN, "A", use_edns=0, payload=1232, options=[
            dns.edns.GenericOption(dns.edns.OptionType.NSID, b""),
            dns.edns.EDEOption(dns.edns.EDECode.OTHER)])
        query.id = 0
        return query.to_wire()

    assert dnspython_query() == encode_query(DOMAIN, 1)
    print(f"query_us_hand={best_us(lambda: encode_query(DOMAIN, 1), args.number, args.repeat):.1f}")
    print(f"query_us_dnspython={best_us(dnspython_query, args.number, args.repeat):.1f}")


if __name__ == "__main__":
    main()
