"""The web view's access rules and API, over HTTP against a real server:
no token, a probe token and hostile parameters are refused with a clear 4xx
that leaks nothing; the API's numbers equal the CLI's JSON on the same data."""

from __future__ import annotations

import httpx
import pytest

from tests.web.conftest import UNTIL, WebServer

PAGES = ("/", "/orders/it-2024-kat", "/countries/IT", "/measurements",
         "/api/v1/reports/compliance", "/api/v1/evidence/orders")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_and_probe_token_are_refused(server: WebServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as web:
        for path in PAGES:
            got = web.get(path, follow_redirects=False)
            if path.startswith("/api/"):
                assert got.status_code == 401, path
                assert got.json()["error"].startswith("log in")
            else:
                assert got.status_code == 303 and got.headers["location"].startswith(
                    "/login?next="), path
            denied = web.get(path, headers=_bearer(server.probe))
            assert denied.status_code == 403, path
            assert "probe token" in denied.text
            assert web.get(path, headers=_bearer("bw_not-a-token")).status_code == 403
        # the login form refuses a probe token too, and sets no cookie
        refused = web.post("/login", data={"token": server.probe, "next": "/"})
        assert refused.status_code == 403 and "probe token" in refused.text
        assert "blockwatch_session" not in refused.cookies


def test_analyst_login_sets_a_safe_session_cookie(server: WebServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as web:
        got = web.post("/login", data={"token": server.analyst, "next": "//evil.example/"},
                       follow_redirects=False)
        assert got.status_code == 303 and got.headers["location"] == "/"   # no open redirect
        cookie = got.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert "secure" not in cookie       # plain HTTP on loopback; Secure under TLS
        assert server.analyst not in got.headers["set-cookie"]   # a session id, not the token
        page = web.get("/")
        assert page.status_code == 200 and "it-2024-kat" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        web.post("/logout")
        assert web.get("/", follow_redirects=False).status_code == 303


HOSTILE = ("../../etc/passwd", "it-2024-kat' OR 1=1 --", "<script>alert(1)</script>",
           "%00", "a" * 300, "{order:String}")


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameters_get_a_clear_4xx(server: WebServer, value: str) -> None:
    with httpx.Client(base_url=server.url, timeout=60, headers=_bearer(server.analyst)) as web:
        attempts = [
            ("/api/v1/reports/compliance", {"order": value}),
            ("/api/v1/reports/effectiveness", {"country": value}),
            ("/api/v1/reports/effectiveness", {"resolver": value}),
            ("/api/v1/reports/effectiveness", {"site": value}),
            ("/api/v1/reports/timeline", {"since": value}),
            ("/api/v1/reports/compliance", {"by": value}),
            ("/api/v1/reports/compliance", {"format": value}),
            ("/api/v1/reports/compliance", {value: "x"}),
            ("/api/v1/evidence/measurements", {"verdict": value}),
            ("/api/v1/evidence/measurements", {"scope": value, "order": "it-2024-kat"}),
            ("/api/v1/evidence/measurements", {"limit": value}),
            ("/api/v1/evidence/measurements", {"domain": value}),
            ("/api/v1/evidence/measurement", {"id": value}),
            ("/measurements", {"asn": value}),
            ("/countries/" + value, {}),
            ("/orders/" + value, {}),
            ("/measurements/" + value, {}),
            ("/api/v1/reports/" + value, {}),
            ("/api/v1/evidence/" + value, {}),
            ("/static/" + value, {}),
        ]
        for path, params in attempts:
            got = web.get(path, params=params)
            assert 400 <= got.status_code < 500, (path, params, got.status_code, got.text[:200])
            body = got.text
            assert "Traceback" not in body and "root:" not in body, (path, params)
            assert "SELECT" not in body and "FROM verdicts" not in body, (path, params)
            assert got.headers["x-content-type-options"] == "nosniff"
            if got.headers["content-type"].startswith("application/json"):
                # data, not markup: JSON with nosniff, one line naming the problem
                assert len(got.json()["error"].splitlines()) == 1
            else:
                assert "<script>" not in body, (path, params)   # escaped, never raw
                assert body.count('role="alert"') == 1, (path, params)


def test_api_equals_the_cli_json(server: WebServer,
                                 cli_json: dict[tuple[str, str], list[dict[str, object]]]
                                 ) -> None:
    with httpx.Client(base_url=server.url, timeout=120, headers=_bearer(server.analyst)) as web:
        for (name, extra), expected in cli_json.items():
            args = extra.split()
            params = dict(zip([a.lstrip("-") for a in args[::2]], args[1::2], strict=True))
            got = web.get(f"/api/v1/reports/{name}", params={**params, "until": UNTIL})
            assert got.status_code == 200, got.text
            body = got.json()
            assert body["rows"] == expected, (name, extra)
            assert body["status"]["pending"] == 0
            csv = web.get(f"/api/v1/reports/{name}",
                          params={**params, "until": UNTIL, "format": "csv"})
            assert csv.headers["content-type"].startswith("text/csv")
            assert len(csv.text.splitlines()) == len(expected) + 1
        # an unknown filter value is named, as by the CLI
        unknown = web.get("/api/v1/reports/compliance", params={"order": "it-2099-x"})
        assert unknown.status_code == 404 and "it-2099-x" in unknown.json()["error"]


def test_every_count_link_lists_as_many_measurements(server: WebServer) -> None:
    """The measurements behind a count are exactly that many (the count kind
    runs the list's WHERE)."""
    import re

    with httpx.Client(base_url=server.url, timeout=120, headers=_bearer(server.analyst)) as web:
        for page in ("/orders/it-2024-kat?until=" + UNTIL, "/countries/IT?until=" + UNTIL):
            html = web.get(page).text
            links = re.findall(r'<td class="n"><a href="(/measurements\?[^"]+)">(\d+)</a>', html)
            assert links, page
            for href, shown in links:
                listed = web.get(href.replace("&amp;", "&"))
                assert listed.status_code == 200, href
                total = re.search(r'<strong id="total">(\d+)</strong>', listed.text)
                assert total and total.group(1) == shown, (page, href)


def test_probes_and_rounds_behind_an_order(server: WebServer) -> None:
    with httpx.Client(base_url=server.url, timeout=120, headers=_bearer(server.analyst)) as web:
        rows = web.get("/api/v1/evidence/rounds", params={"order": "it-2024-kat"}).json()["rows"]
        by_country = {r["country"]: r for r in rows}
        assert by_country["IT"]["probes"] == 2 and by_country["IT"]["probe_names"] == "it-1 it-2"
        assert by_country["NL"]["control"] == "yes"
        page = web.get("/orders/it-2024-kat")
        assert 'href="/orders/it-2024-kat/rounds"' in page.text
        assert "it-1 it-2" in web.get("/orders/it-2024-kat/rounds").text
        sources = web.get("/api/v1/evidence/sources", params={"order": "it-2024-kat"})
        assert {r["country"]: r["asns"] for r in sources.json()["rows"]}["IT"] == "3269 30722"
