"""A throwaway CA for the lab's DoT/DoH servers (trustme), written to files.

Daemons read certs from disk and clients verify with ``verify=ca_path``, so
everything is materialised as PEM files in the given directory.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class ServerCert:
    """Paths of one issued server certificate (chain) and its private key."""

    cert_path: Path
    key_path: Path
    identities: tuple[str, ...]


class LabCA:
    """A lab certificate authority that writes ``ca.pem`` into ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name="blockwatch lab CA")
        self.ca_path = self.directory / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))

    def issue(self, stem: str, *identities: str) -> ServerCert:
        """Issue a server cert for DNS names and/or IP addresses.

        ``stem`` names the files (``<stem>.pem`` full chain, ``<stem>.key``).
        """
        if not identities:
            raise ValueError("a server certificate needs at least one name or IP")
        leaf = self._ca.issue_cert(*identities)
        cert_path = self.directory / f"{stem}.pem"
        key_path = self.directory / f"{stem}.key"
        # Full chain (leaf first) so servers can send intermediates if any.
        cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key_path))
        key_path.chmod(0o600)
        return ServerCert(cert_path=cert_path, key_path=key_path, identities=identities)

    def client_context(self) -> ssl.SSLContext:
        """A client SSLContext trusting only the lab CA (for DoH via httpx2)."""
        return ssl.create_default_context(cafile=str(self.ca_path))
