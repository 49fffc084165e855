"""Authentication: a server interceptor that admits a call only with a valid
token (`authorization: Bearer <token>`) or, under mutual TLS, a client
certificate whose CN/SAN names a registered principal, and only for the role the
method needs. Health checking and reflection are open: load balancers and
grpcurl need them and they reveal nothing stored.

A client certificate is bound to exactly one role by its names: `analyst:NAME`
names an analyst; `probe:NAME` or a bare `NAME` (what probe certificates
always carried) a probe. Registered names never contain `:`. A certificate
naming both roles is refused: a probe certificate whose name equals an
analyst's name once read reports as that analyst.

The principal reaches the servicer through a ContextVar: grpc.aio runs the
interceptor's wrapper and the handler in the same context.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, TypeAlias

import grpc
import grpc.aio

from blockwatch.collector.errors import AuthError
from blockwatch.collector.metrics import Metrics
from blockwatch.collector.registry import Principal, Registry
from blockwatch.schema.principals import Role

log = logging.getLogger(__name__)

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_PRINCIPAL: ContextVar[Principal | None] = ContextVar("blockwatch_principal", default=None)


def current_principal() -> Principal:
    principal = _PRINCIPAL.get()
    if principal is None:   # only reachable if a method was left out of the role map
        raise AuthError("no authenticated principal for this call", denied=True)
    return principal


ROLE_PREFIXES: dict[str, Role] = {"analyst:": "analyst", "probe:": "probe"}


def _certificate_names(context: grpc.aio.ServicerContext[Any, Any]) -> list[str]:
    auth = context.auth_context()
    names: list[str] = []
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        names += [v.decode(errors="replace") for v in auth.get(key, [])]
    return names


def certificate_identity(names: list[str]) -> tuple[Role, list[str]]:
    """The one role a certificate's names bind it to, and its names in that role.
    Raises AuthError when they name both roles."""
    by_role: dict[Role, list[str]] = {"probe": [], "analyst": []}
    for name in names:
        for prefix, role in ROLE_PREFIXES.items():
            if name.startswith(prefix):
                by_role[role].append(name[len(prefix):])
                break
        else:
            by_role["probe"].append(name)
    roles = [role for role, found in by_role.items() if found]
    if len(roles) > 1:
        raise AuthError(f"certificate names {names} name both a probe and an analyst; "
                        "a client certificate must be bound to one role", denied=True)
    role = roles[0] if roles else "probe"
    return role, by_role[role]


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, registry: Registry, roles: Mapping[str, Role], metrics: Metrics,
                 *, mtls: bool = False) -> None:
        self._registry = registry
        self._roles = roles
        self._metrics = metrics
        self._mtls = mtls

    def authenticate(self, method: str, metadata: Mapping[str, str],
                     certificate_names: list[str]) -> Principal:
        """Who calls, and may they call `method`? Raises AuthError."""
        role = self._roles.get(method)
        if role is None:
            raise AuthError(f"{method} is not open to any role", denied=True)
        header = metadata.get("authorization", "")
        cert_role, cert_names = (certificate_identity(certificate_names) if certificate_names
                                 else ("probe", []))
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("authorization metadata must be 'Bearer <token>'")
            principal = self._registry.authenticate(token.strip())
            if principal is None:
                raise AuthError("unknown or revoked token")
            if certificate_names and (principal.role != cert_role
                                      or principal.name not in cert_names):
                raise AuthError(f"token of {principal.role} {principal.name!r} presented "
                                f"with a certificate for {certificate_names}", denied=True)
        elif certificate_names:
            if cert_role != role:
                raise AuthError(f"a {cert_role} certificate may not call {method}",
                                denied=True)
            found = [p for n in cert_names if (p := self._registry.lookup(role, n))]
            if not found:
                raise AuthError(f"certificate names {certificate_names} are not an active "
                                f"{role}")
            principal = found[0]
        else:
            raise AuthError("missing authorization metadata (Bearer token)")
        if principal.role != role:
            raise AuthError(f"a {principal.role} may not call {method}", denied=True)
        return principal

    async def _admit(self, method: str, context: grpc.aio.ServicerContext[Any, Any]
                     ) -> Principal:
        metadata = {k: v for k, v in (context.invocation_metadata() or ())
                    if isinstance(v, str)}
        names = _certificate_names(context) if self._mtls else []
        try:
            principal = self.authenticate(method, metadata, names)
        except AuthError as exc:
            reason = "denied" if exc.denied else "unauthenticated"
            self._metrics.auth_failures.labels(reason).inc()
            log.warning("auth=refused method=%s peer=%s reason=%r", method, context.peer(),
                        str(exc))
            code = (grpc.StatusCode.PERMISSION_DENIED if exc.denied
                    else grpc.StatusCode.UNAUTHENTICATED)
            await context.abort(code, str(exc))
            raise   # abort raised already; keeps type checkers certain
        _PRINCIPAL.set(principal)
        return principal

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        admit = self._admit
        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                await admit(method, context)
                return await inner_uu(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.stream_stream is not None:
            inner_ss: Any = handler.stream_stream

            async def stream_stream(requests: Any, context: Any) -> AsyncIterator[Any]:
                await admit(method, context)
                async for response in inner_ss(requests, context):
                    yield response

            return grpc.stream_stream_rpc_method_handler(
                stream_stream, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            inner_us: Any = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                await admit(method, context)
                async for response in inner_us(request, context):
                    yield response

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        raise AuthError(f"{method}: client-streaming methods are not wrapped yet", denied=True)
