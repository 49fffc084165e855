"""The lab world's mirror-discovery ground truth (tests/lab/truthmirrors.py),
computed from the world's web servers: the redirect, the certificate sibling
and the same-site variant are mirrors, the unrelated variant is not, a
generated variant is evidence only once measured from the control vantage, and
an approved mirror leaves the proposals. Pure: the lab e2e test compares
`report mirrors` with these."""

from __future__ import annotations

from tests.lab import truth, truthlayers, truthmirrors

LAST = len(truth.ROUNDS)
APPROVAL = min(r.number for r in truth.ROUNDS if truth.approvals(r.number))


def test_every_source_of_the_world_is_found() -> None:
    found = {(e.candidate, e.source) for e in truthmirrors.evidence(
        truthmirrors.every_name_measured(), APPROVAL - 1)}
    redirects = {h.redirect_to for h in truth.WEB_HOSTS if h.redirect_to}
    listed = {d.name for o in truth.ORDERS for _, d in o.domains() if d.added_round < APPROVAL}
    assert {(n, "redirect") for n in redirects - listed} <= found
    siblings = {n for h in truth.WEB_HOSTS for n in h.sans if len(h.sans) > 1} - listed
    assert siblings and {(n, "certificate") for n in siblings} <= found
    assert {source for _, source in found} == {"redirect", "certificate", "variant"}


def test_the_unrelated_variant_is_no_mirror() -> None:
    unrelated = truthmirrors.unrelated_variants()
    assert unrelated
    for name in unrelated:
        host = truthmirrors.control_host(name)
        assert host is not None and not host.redirect_to
        assert name not in {c for _, c in truthmirrors.true_mirrors(LAST)}


def test_a_variant_counts_only_once_measured_from_the_control_vantage() -> None:
    variants = {e.candidate for e in truthmirrors.evidence(
        truthmirrors.every_name_measured(), LAST) if e.source == "variant"}
    assert variants
    nothing: truth.CandidatePlan = {}
    assert not {e.candidate for e in truthmirrors.evidence(nothing, LAST)
                if e.source == "variant"}
    name = sorted(variants)[0]
    later = {3: frozenset({name})}
    (piece,) = [e for e in truthmirrors.evidence(later, LAST) if e.candidate == name]
    assert (piece.source, piece.first_round) == ("variant", 3)


def test_approved_mirror_leaves_the_proposals() -> None:
    approved = {d.name for r in truth.ROUNDS for _, _, d in truth.approvals(r.number)}
    before = {c for _, c in truthmirrors.true_mirrors(APPROVAL - 1)}
    after = {c for _, c in truthmirrors.true_mirrors(APPROVAL)}
    assert approved <= before and not approved & after


def test_reachability_counts_candidate_and_target_measurements() -> None:
    plan = truthmirrors.every_name_measured()
    rows = truthmirrors.expected_mirrors(plan, LAST)
    assert rows
    for row in rows:
        order = next(o for o in truth.ORDERS if o.order_id == row["order"])
        group = next(g for g in truthlayers.intermediaries(order)
                     if g.name == row["intermediary"])
        # measured every round, then as a target, through every resolver of the group
        assert row["measured"] == LAST * len(group.resolvers)
        blocked = [r for r in truth.ROUNDS if row["candidate"] in truth.policy(
            str(row["country"]), truth.RESOLVER_OPERATOR[str(row["intermediary"])],
            r.number)]
        assert row["resolved"] == (LAST - len(blocked)) * len(group.resolvers)
        assert row["reachable"] == ("no" if blocked and blocked[-1].number == LAST else "yes")
