"""The web view's HTTP side (Starlette): pages, the JSON/CSV API under
/api/v1, login. Read-only; every route but /login and /static needs an
analyst. Errors are one line with a 4xx/5xx status, never a traceback."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from blockwatch.analysis.errors import AnalysisError, RemoteError, UsageError
from blockwatch.analysis.filters import Filters
from blockwatch.analysis.known import UnknownValue
from blockwatch.analysis.render import to_csv
from blockwatch.analysis.reports import REPORT_NAMES, Report
from blockwatch.analysis.status import Status
from blockwatch.analysis.webview import pages, svg
from blockwatch.analysis.webview.auth import COOKIE, SESSION_S, Sessions
from blockwatch.analysis.webview.evidence import (
    KINDS,
    NAME,
    SELECTION_KEYS,
    Selection,
    structured_error,
)
from blockwatch.analysis.webview.source import Denied, Source
from blockwatch.analysis.webview.story import build_story, story_requests

log = logging.getLogger(__name__)
FILTER_KEYS = ("order", "country", "resolver", "site", "since", "until", "by")
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store", "X-Frame-Options": "DENY",
}


class HttpError(AnalysisError):
    """A request the web view answers with `status` (an unknown report: 404)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("blockwatch.analysis.webview"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def _filters(request: Request, allowed: tuple[str, ...] = FILTER_KEYS) -> Filters:
    unknown = set(request.query_params) - set(allowed) - {"format"}
    if unknown:
        raise UsageError(f"unknown parameter {sorted(unknown)[0][:40]!r}; known: "
                         f"{', '.join(allowed)}", field="parameter")
    get = request.query_params.get
    for key in ("order", "resolver", "site"):
        value = get(key, "")
        if value and not NAME.fullmatch(value):
            raise UsageError(f"{value[:40]!r} is not a valid name", field=key)
    return Filters.parse(**{k: get(k, "") for k in allowed})


def _name_param(value: str, field: str) -> str:
    if not NAME.fullmatch(value):
        raise UsageError(f"{value[:40]!r} is not a valid name", field=field)
    return value


def _status_json(status: Status) -> dict[str, Any]:
    return {"measurements": status.measurements, "verdicts": status.verdicts,
            "pending": status.pending, "note": status.note()}


def report_json(report: Report, status: Status | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "report": report.name, "title": report.title,
        "columns": [{"key": c.key, "title": c.title, "kind": c.kind} for c in report.columns],
        "rows": report.records()}
    if report.name == "measurement":
        out["structured_error"] = structured_error(report)
    if status is not None:
        out["status"] = _status_json(status)
    return out


def create_app(source: Source, *, secure_cookies: bool = False) -> Starlette:  # noqa: PLR0915
    env = environment()
    sessions = Sessions()

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = env.get_template(name).render(**context)
        return HTMLResponse(body, status_code=status, headers=_HEADERS)

    async def token_of(request: Request) -> str:
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Denied("expected Authorization: Bearer <analyst token>")
            token = token.strip()
            if sessions.cached(token) is None:
                sessions.remember(token, await source.authenticate(token))
            return token
        session = sessions.get(request.cookies.get(COOKIE, ""))
        if session is None:
            raise Denied("log in with an analyst token")
        return session.token

    Handler = Callable[[Request, str], Awaitable[Response]]

    def guarded(handler: Handler, *, api: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                token = await token_of(request)
                return await handler(request, token)
            except Denied as exc:
                if api or request.headers.get("authorization"):
                    return _error(api, 401 if "log in" in str(exc) else 403, str(exc))
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303,
                                        headers=_HEADERS)
            except UnknownValue as exc:
                return _error(api, 404, str(exc))
            except UsageError as exc:
                return _error(api, 400, str(exc))
            except HttpError as exc:
                return _error(api, exc.status, str(exc))
            except RemoteError as exc:
                if exc.code != "RESOURCE_EXHAUSTED":
                    log.warning("event=web_failed path=%s error=%r", request.url.path, str(exc))
                    return _error(api, 502, f"the collector failed: {str(exc)[:200]}")
                # the collector's gate for analysts is full: say so, try again soon
                return _error(api, 503, f"the collector is busy, try again: {str(exc)[:200]}")
            except AnalysisError as exc:
                log.warning("event=web_failed path=%s error=%r", request.url.path, str(exc))
                return _error(api, 502, f"the database failed: {str(exc)[:200]}")
            except Exception:
                # a bug: logged with its traceback here, one line for the browser
                log.exception("event=web_bug path=%s", request.url.path)
                return _error(api, 500, "internal error (logged by the server)")
        return endpoint

    def _error(api: bool, status: int, message: str) -> Response:
        line = message.splitlines()[0][:300] if message else "error"
        if api:
            return JSONResponse({"error": line}, status_code=status, headers=_HEADERS)
        return page("error.html", status, message=line, code=status)

    # -- pages ---------------------------------------------------------------------

    async def overview(request: Request, token: str) -> Response:
        f = _filters(request, ("since", "until"))
        orders = await source.evidence(token, "orders", {})
        [compliance] = await source.answers(token, [("compliance", f)])
        by_order: dict[str, list[dict[str, Any]]] = {}
        for row in compliance.report.records():
            by_order.setdefault(str(row["order"]), []).append(row)
        return page("overview.html", orders=orders.records(), by_order=by_order,
                    note=compliance.status.note(),
                    table=pages.report_table("compliance", compliance.report, f),
                    orders_csv="/api/v1/evidence/orders?format=csv")

    async def order_page(request: Request, token: str) -> Response:
        order = _name_param(request.path_params["order"], "order")
        f = dataclasses.replace(_filters(request, ("since", "until")), order=order)
        found = (await source.evidence(token, "orders", {"order": order})).records()
        if not found:
            known = (await source.evidence(token, "orders", {})).column("order")
            raise UnknownValue("order", order, [str(k) for k in known])
        window = {"order": order, **pages.days(f)}
        got = await source.answers(token, story_requests(found[0], f))
        story = build_story(found[0], f, [a.report for a in got],
                            sources=await source.evidence(token, "sources", window),
                            domains=await source.evidence(token, "domains", {"order": order}),
                            days=await source.evidence(token, "compliance_days", window))
        return page("order.html", story=story, note=got[0].status.note(), f=f)

    async def rounds_page(request: Request, token: str) -> Response:
        order = _name_param(request.path_params["order"], "order")
        f = dataclasses.replace(_filters(request, ("since", "until")), order=order)
        params = {"order": order, **pages.days(f)}
        found = await source.evidence(token, "rounds", params)
        return page("table.html", title=f"Order {order}: probes and rounds",
                    back=pages.url(f"/orders/{quote(order)}", pages.days(f)),
                    table=pages.table(found, csv=pages.url("/api/v1/evidence/rounds",
                                                           {**params, "format": "csv"}),
                                      anchor="rounds"))

    async def country_page(request: Request, token: str) -> Response:
        f = _filters(request, ("order", "since", "until"))
        f = dataclasses.replace(f, country=Filters.parse(
            country=request.path_params["country"]).country)
        world = dataclasses.replace(f, country="")
        eff, everywhere = await source.answers(
            token, [("effectiveness", f), ("effectiveness", world)])
        controls = {str(c) for c in (await source.evidence(token, "controls", {}))
                    .column("country")}
        shares = pages.country_shares(everywhere.report)
        for c in controls:
            shares.setdefault(c, (0, 0))
        chart = svg.map_svg(shares, controls, "Share of measurements blocked per country"
                            + (f" for order {f.order}" if f.order else ""), focus=f.country)
        return page("country.html", country=f.country, chart=chart, controls=sorted(controls),
                    grid=pages.resolvers_by_sites(eff.report, f),
                    table=pages.report_table("effectiveness", eff.report, f),
                    note=eff.status.note())

    async def measurement_list(request: Request, token: str) -> Response:
        params = dict(request.query_params)
        selection = Selection.parse(params)
        clean = selection.params()
        listed = await source.evidence(token, "measurements", clean)
        counted = await source.evidence(token, "count", {k: v for k, v in clean.items()
                                                         if k not in ("limit", "offset")})
        total = int(counted.rows[0][0] or 0)
        links: dict[str, pages.Link] = {
            "measurement": lambda r: f"/measurements/{r['measurement']}"}
        table = pages.table(listed, links, csv=pages.url("/api/v1/evidence/measurements",
                                                         {**clean, "format": "csv"}))
        step = selection.limit
        more = pages.url("/measurements", {**clean, "offset": str(selection.offset + step)}) \
            if selection.offset + step < total else None
        return page("measurements.html", table=table, total=total, selection=clean,
                    first=selection.offset + 1, last=selection.offset + len(listed.rows),
                    more=more)

    async def measurement_page(request: Request, token: str) -> Response:
        mid = request.path_params["mid"]
        detail = await source.evidence(token, "measurement", {"id": mid})
        fields = {str(r[0]): r[1] for r in detail.rows}
        web = await source.evidence(token, "web", {"id": mid})
        site = await source.evidence(token, "site", {"id": mid})
        identity = await source.evidence(token, "identity", {"id": mid})
        control = fields.get("control measurement")
        return page("measurement.html", fields=fields, mid=fields.get("measurement"),
                    control=control, web=pages.table(web, anchor="web"),
                    site={str(r[0]): r[1] for r in site.rows}, identity=pages.table(
                        identity, {"measurement": lambda r: f"/measurements/{r['measurement']}"},
                        anchor="identity"),
                    json_url=f"/api/v1/evidence/measurement?id={quote(str(mid))}")

    # -- the API -------------------------------------------------------------------

    def _formatted(request: Request, report: Report, status: Status | None) -> Response:
        fmt = request.query_params.get("format", "json")
        if fmt == "csv":
            return Response(to_csv(report), media_type="text/csv; charset=utf-8",
                            headers={**_HEADERS, "Content-Disposition":
                                     f'attachment; filename="{report.name}.csv"'})
        if fmt != "json":
            raise UsageError(f"{fmt[:20]!r}: expected json or csv", field="format")
        return JSONResponse(report_json(report, status), headers=_HEADERS)

    async def api_report(request: Request, token: str) -> Response:
        name = request.path_params["name"]
        if name not in REPORT_NAMES:
            raise HttpError(404, f"unknown report {name[:40]!r}; one of "
                                 f"{', '.join(REPORT_NAMES)}")
        [got] = await source.answers(token, [(name, _filters(request))])
        return _formatted(request, got.report, got.status)

    async def api_evidence(request: Request, token: str) -> Response:
        kind = request.path_params["kind"]
        if kind not in KINDS:
            raise HttpError(404, f"unknown evidence {kind[:40]!r}; one of {', '.join(KINDS)}")
        params = {k: v for k, v in request.query_params.items() if k != "format"}
        if len(params) > len(SELECTION_KEYS):
            raise UsageError("too many parameters", field="parameter")
        return _formatted(request, await source.evidence(token, kind, params), None)

    async def api_index(request: Request, token: str) -> Response:
        return JSONResponse({"reports": [f"/api/v1/reports/{n}" for n in REPORT_NAMES],
                             "evidence": [f"/api/v1/evidence/{k}" for k in KINDS],
                             "formats": ["json", "csv"]}, headers=_HEADERS)

    # -- login ---------------------------------------------------------------------

    def _next(value: str) -> str:
        # only a local path: no open redirect
        return value if value.startswith("/") and not value.startswith("//") \
            and "\\" not in value else "/"

    async def login_form(request: Request) -> Response:
        return page("login.html", next=_next(request.query_params.get("next", "/")),
                    message="")

    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=4)
        token = str(form.get("token", "")).strip()
        target = _next(str(form.get("next", "/")))
        if not token or len(token) > 512:
            return page("login.html", 400, next=target, message="give an analyst token")
        try:
            analyst = await source.authenticate(token)
        except Denied as exc:
            return page("login.html", 403, next=target,
                        message=f"refused: {str(exc).splitlines()[0][:200]}")
        response = RedirectResponse(target, status_code=303, headers=_HEADERS)
        response.set_cookie(COOKIE, sessions.create(token, analyst), max_age=SESSION_S,
                            httponly=True, samesite="strict", secure=secure_cookies, path="/")
        return response

    async def logout(request: Request) -> Response:
        sessions.drop(request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/login", status_code=303, headers=_HEADERS)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def not_found(request: Request, exc: Exception) -> Response:
        api = request.url.path.startswith("/api/")
        return _error(api, 404, f"no such page: {request.url.path[:80]}")

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", guarded(overview, api=False)),
        Route("/orders/{order}", guarded(order_page, api=False)),
        Route("/orders/{order}/rounds", guarded(rounds_page, api=False)),
        Route("/countries/{country}", guarded(country_page, api=False)),
        Route("/measurements", guarded(measurement_list, api=False)),
        Route("/measurements/{mid}", guarded(measurement_page, api=False)),
        Route("/api/v1", guarded(api_index, api=True)),
        Route("/api/v1/reports/{name}", guarded(api_report, api=True)),
        Route("/api/v1/evidence/{kind}", guarded(api_evidence, api=True)),
        Mount("/static", StaticFiles(packages=[("blockwatch.analysis.webview", "static")]),
              name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found})


def dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False)
