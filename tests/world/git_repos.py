"""Local git repositories of buildable projects, and a smart-HTTP server for them.

Commits are deterministic (fixed author, committer and dates; global and
system git config ignored), so the same versions give the same commit ids on
every machine. `serve_git_over_http` runs `git http-backend` (smart HTTP) behind
a tiny threaded HTTP server on 127.0.0.1, optionally behind basic auth.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from .wheels import Dist, source_tree

EPOCH = 1704067200  # 2024-01-01T00:00:00Z; commit n is dated EPOCH + 60 * n
AUTHOR = ("Test World", "world@example.invalid")


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every git call here runs with: no user config, no prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=AUTHOR[0],
        GIT_AUTHOR_EMAIL=AUTHOR[1],
        GIT_COMMITTER_NAME=AUTHOR[0],
        GIT_COMMITTER_EMAIL=AUTHOR[1],
    )
    env.update(extra or {})
    return env


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    argv = ["git", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-C", str(repo), *args]
    result = subprocess.run(argv, env=env or git_env(), capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout.strip()


def _project_name(repo: Path) -> str:
    return (repo / ".git" / "world-project").read_text().strip()


def commit_version(repo: Path, version: str, tag: bool = True) -> str:
    """Commit the project at `version` on `main`, tag it `v<version>`; returns the sha."""
    dist = Dist(_project_name(repo), version)
    for rel, data in source_tree(dist, "pyproject").items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    git(repo, "add", "-A")
    count = int(git(repo, "rev-list", "--count", "--all") or 0) if _has_commits(repo) else 0
    date = f"@{EPOCH + 60 * count} +0000"
    env = git_env({"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    git(repo, "commit", "-q", "--allow-empty", "-m", f"version {version}", env=env)
    if tag:
        git(repo, "tag", f"v{version}")
    return git(repo, "rev-parse", "HEAD")


def _has_commits(repo: Path) -> bool:
    result = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD"],
        env=git_env(), capture_output=True, text=True, timeout=60,
    )
    return result.returncode == 0


def make_git_repo(root: Path, project_name: str, versions: list[str]) -> Path:
    """A repo at `root/project_name`: one tagged commit per version, `main` at the last.

    Served by `serve_git_over_http(root)` as `<base>/<project_name>.git`.
    """
    repo = Path(root) / project_name
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / ".git" / "world-project").write_text(project_name + "\n")  # untracked
    (repo / ".gitignore").write_text("build/\n*.egg-info/\n__pycache__/\n")
    for version in versions:
        commit_version(repo, version)
    return repo


def head_sha(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", f"{ref}^{{commit}}")


class _GitHandler(BaseHTTPRequestHandler):
    """Runs `git http-backend` as a CGI for each request."""

    server: "_GitHTTPServer"
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        self.server.log.append(format % args)

    def _authorized(self) -> bool:
        creds = self.server.credentials
        if creds is None:
            return True
        expected = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _serve(self) -> None:
        self.server.authorizations.append((self.path, self.headers.get("Authorization")))
        if not self._authorized():
            return
        path, _, query = self.path.partition("?")
        env = git_env({
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": self._map_path(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": self.server.credentials[0] if self.server.credentials else "",
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        })
        body = self._read_body()
        env["CONTENT_LENGTH"] = str(len(body))
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120)
        self._write_cgi(result.stdout)

    def _map_path(self, path: str) -> str:
        """`/name.git/...` -> `/name/...` when the repo is a working tree named `name`."""
        first, _, rest = path.lstrip("/").partition("/")
        if first.endswith(".git") and not (self.server.root / first).exists():
            first = first[: -len(".git")]
        return f"/{first}/{rest}"

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _write_cgi(self, output: bytes) -> None:
        head, _, payload = output.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = output.partition(b"\n\n")
        headers = [line.split(":", 1) for line in head.decode("latin-1").splitlines() if ":" in line]
        status = next((v.strip() for k, v in headers if k.lower() == "status"), "200 OK")
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason or None)
        for key, value in headers:
            if key.lower() != "status":
                self.send_header(key, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, credentials: tuple[str, str] | None) -> None:
        super().__init__(("127.0.0.1", 0), _GitHandler)
        self.root = root
        self.credentials = credentials
        self.log: list[str] = []
        self.authorizations: list[tuple[str, str | None]] = []  # (path, Authorization header) per request


@contextlib.contextmanager
def serve_git_over_http(repo_parent: Path, *, auth: tuple[str, str] | None = None,
                        record: list | None = None) -> Iterator[str]:
    """Serve every repo under `repo_parent` over smart HTTP; yields `http://127.0.0.1:PORT`.

    `git+http://127.0.0.1:PORT/<name>.git@v1.0` then works; with `auth`, the
    credentials must come as URL userinfo or through a git credential helper.
    With `record` (a list), every request's (path, Authorization header) is appended to it.
    """
    if shutil.which("git") is None:
        raise RuntimeError("git is not on PATH")
    server = _GitHTTPServer(Path(repo_parent).resolve(), auth)
    if record is not None:
        server.authorizations = record
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
