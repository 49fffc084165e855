"""Who may read: an analyst token, sent as `Authorization: Bearer` (the API)
or exchanged at the login form for a session cookie (HttpOnly, SameSite=Strict,
Secure over TLS). Sessions live in memory only: a restart logs everyone out,
and the cookie holds a random id, never the token."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

COOKIE = "blockwatch_session"
SESSION_S = 8 * 3600
MAX_SESSIONS = 10_000
TOKEN_CACHE_S = 30.0


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    analyst: str
    expires: float


class Sessions:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._checked: dict[str, tuple[str, float]] = {}   # sha256(token) -> analyst, until

    def create(self, token: str, analyst: str) -> str:
        now = time.monotonic()
        if len(self._sessions) >= MAX_SESSIONS:
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires > now}
            while len(self._sessions) >= MAX_SESSIONS:   # still full: drop the oldest
                self._sessions.pop(next(iter(self._sessions)))
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = Session(token, analyst, now + SESSION_S)
        return sid

    def get(self, sid: str) -> Session | None:
        session = self._sessions.get(sid)
        if session is None or session.expires <= time.monotonic():
            self._sessions.pop(sid, None)
            return None
        return session

    def drop(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def cached(self, token: str) -> str | None:
        """An analyst name checked within TOKEN_CACHE_S (bearer requests)."""
        hit = self._checked.get(_digest(token))
        return hit[0] if hit and hit[1] > time.monotonic() else None

    def remember(self, token: str, analyst: str) -> None:
        if len(self._checked) > MAX_SESSIONS:
            self._checked.clear()
        self._checked[_digest(token)] = (analyst, time.monotonic() + TOKEN_CACHE_S)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
