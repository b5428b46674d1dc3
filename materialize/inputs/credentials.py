"""Credentials for indexes and git hosts, handed to child processes through files and environment.

A private temporary folder holds a netrc file (uv reads ``NETRC``) and a git config whose
credential helper answers from environment variables; both vanish when the block ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..secrets import Secret, split_credentials


@dataclass
class Credentials:
    hosts: dict[str, tuple[str, Secret | None]] = field(default_factory=dict)  # host[:port] -> (user, password)

    def add_url(self, url: str) -> str:
        """Remember the userinfo of ``url``; return the URL without it."""
        clean, user, password = split_credentials(url)
        if user is not None:
            self.hosts[urlsplit(clean).netloc] = (user, password)
        return clean

    def add_url_in_vcs(self, url: str) -> str:
        """``git+https://tok@host/r`` -> ``git+https://host/r``, remembering the credentials for git."""
        scheme, plus, rest = url.partition("+")
        return f"{scheme}{plus}{self.add_url(rest)}" if plus else self.add_url(url)

    @contextmanager
    def child_env(self) -> Iterator[dict[str, str]]:
        """Environment entries that give uv and git these credentials, never via argv."""
        if not self.hosts:
            yield {}
            return
        folder = tempfile.mkdtemp(prefix="materialize-cred-")
        try:
            os.chmod(folder, 0o700)
            env: dict[str, str] = {"NETRC": os.path.join(folder, "netrc"),
                                   "GIT_CONFIG_GLOBAL": os.path.join(folder, "gitconfig")}
            netrc_lines, git_lines = [], ["[credential]", "\tuseHttpPath = false"]
            for index, (netloc, (user, password)) in enumerate(sorted(self.hosts.items())):
                secret = password.reveal() if password else ""
                host = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc  # netrc knows no ports
                netrc_lines.append(f"machine {host} login {user} password {secret or 'x'}")
                env[f"MATERIALIZE_GIT_USER_{index}"] = user
                env[f"MATERIALIZE_GIT_PASSWORD_{index}"] = secret
                helper = (f"!f() {{ test \"$1\" = get || exit 0; echo username=$MATERIALIZE_GIT_USER_{index}; "
                          f"echo password=$MATERIALIZE_GIT_PASSWORD_{index}; }}; f")
                git_lines += [f'[credential "http://{netloc}"]', f"\thelper = \"{_quote(helper)}\"",
                              f'[credential "https://{netloc}"]', f"\thelper = \"{_quote(helper)}\""]
            _write_private(env["NETRC"], "\n".join(netrc_lines) + "\n")
            _write_private(env["GIT_CONFIG_GLOBAL"], "\n".join(git_lines) + "\n")
            yield env
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)

