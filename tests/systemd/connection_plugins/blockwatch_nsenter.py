"""Ansible connection plugin: run tasks inside a booted systemd-nspawn container.

Why this way in: the container has no network (no sshd to reach), and the
machine is not registered with machined (so no machinectl). nsenter into the
namespaces of the container's init is what `machinectl shell` does underneath:
every command, module and file transfer happens inside the container, with its
own root, mounts, PIDs, cgroups and network, run by its own python3, while
ansible-playbook stays a controller on the host like any other. Becoming the
service users goes through the container's sudo, as on a real host.

Everything but how a command is started is ansible's local plugin (become
handling, pipelining).
"""

from __future__ import annotations

import shlex
from typing import Any

from ansible.errors import AnsibleError  # type: ignore[import-untyped]
from ansible.plugins.connection import local  # type: ignore[import-untyped]

DOCUMENTATION = """
name: blockwatch_nsenter
short_description: run commands in the namespaces of a systemd-nspawn container's init
description:
  - Commands run through nsenter in every namespace of the given process, with a clean environment.
  - Files are transferred through the same way in (cat), so they land in the container's mounts.
options:
  nsenter_pid:
    description: host PID of the container's init
    type: int
    required: true
    vars:
      - name: blockwatch_nsenter_pid
  become_success_timeout:
    type: int
    default: 10
    description: Seconds to wait for become to succeed.
    vars:
      - name: ansible_local_become_success_timeout
  become_strip_preamble:
    type: bool
    default: true
    description: Strip internal become output preceding command execution.
    vars:
      - name: ansible_local_become_strip_preamble
extends_documentation_fragment:
  - connection_pipelining
"""

# what a fresh login inside would have; nothing of the controller's environment
_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root"


class Connection(local.Connection):  # type: ignore[misc]
    transport = "blockwatch_nsenter"

    def _inside(self, cmd: str) -> str:
        pid = int(self.get_option("nsenter_pid"))
        return f"nsenter --target={pid} --all -- env -i {_ENV} /bin/sh -c {shlex.quote(cmd)}"

    def exec_command(self, cmd: str, in_data: bytes | None = None,
                     sudoable: bool = True) -> tuple[int, bytes, bytes]:
        # local runs this string with the host's /bin/sh; the command itself
        # (become wrapper included) runs inside
        result: tuple[int, bytes, bytes] = super().exec_command(
            self._inside(cmd), in_data=in_data, sudoable=sudoable)
        return result

    def put_file(self, in_path: str, out_path: str) -> None:
        with open(in_path, "rb") as f:
            data = f.read()
        rc, _, err = super().exec_command(self._inside(f"cat > {shlex.quote(out_path)}"),
                                          in_data=data, sudoable=False)
        if rc != 0:
            raise AnsibleError(f"cannot write {out_path} in the container: {err!r}")

    def fetch_file(self, in_path: str, out_path: str) -> None:
        rc, out, err = super().exec_command(self._inside(f"cat {shlex.quote(in_path)}"),
                                            sudoable=False)
        if rc != 0:
            raise AnsibleError(f"cannot read {in_path} in the container: {err!r}")
        with open(out_path, "wb") as f:
            f.write(out)

    def _connect(self) -> Any:
        super()._connect()
        self._play_context.remote_user = "root"
        return self
