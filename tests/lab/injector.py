"""An on-path injector stand-in: answers every query at once with a forged reply,
then relays the real resolver's reply, so the client sees two replies to one
query, the forged one first (as with the Great Firewall's DNS injection).
With `copies` > 1 it floods: that many identical forged replies, then the real one."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

import dns.message
import dns.rrset

FORGED_ADDRESS = "10.10.34.34"  # answer data only: nobody ever connects to it


class Injector:
    def __init__(self, address: str, port: int, upstream: tuple[str, int],
                 forged: str = FORGED_ADDRESS, copies: int = 1) -> None:
        self.address, self.port, self.upstream, self.forged = address, port, upstream, forged
        self.copies = copies
        self.queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((address, port))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Injector:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, client = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.queries += 1
            query = dns.message.from_wire(data)
            forged = dns.message.make_response(query)
            question = query.question[0]
            if question.rdtype == 1:
                forged.answer.append(dns.rrset.from_text(question.name, 300, "IN", "A",
                                                         self.forged))
            wire = forged.to_wire()
            for _ in range(self.copies):
                self._sock.sendto(wire, client)
            # relay in the background: a slow upstream must not delay the next forgery
            threading.Thread(target=self._relay, args=(data, client), daemon=True).start()

    def _relay(self, data: bytes, client: tuple[str, int]) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.settimeout(2)
            up.sendto(data, self.upstream)
            try:
                real, _ = up.recvfrom(4096)
            except TimeoutError:
                return
        if not self._stop.is_set():
            self._sock.sendto(real, client)
