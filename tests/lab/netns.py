"""Seal this process (and every child it starts) in a fresh network namespace
whose only interface is loopback, so no packet can leave the machine."""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess

CLONE_NEWNET = 0x40000000


def enter_private_netns() -> str:
    """Unshare the network namespace; returns "" on success, else why not."""
    if os.geteuid() != 0:
        return "not root"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"unshare failed: {os.strerror(ctypes.get_errno())}"
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return ""


def only_loopback() -> bool:
    return {name for _, name in socket.if_nameindex()} <= {"lo"}
