"""argv -> settings -> one core call -> render. The only place that prints or exits.

Every run ends in ``os._exit`` after flushing: rattler's async runtime can crash the interpreter
at exit (SIGSEGV, exit 139; docs/engines.md), and a user must never see that.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .errors import Interrupted, MaterializeError, UsageError

COMMANDS = ("lock", "install", "verify", "fetch", "config", "export", "diff", "push", "pull")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", hint=f"see '{self.prog} --help'")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0, help="more output (-vv: debug)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    common.add_argument("--json", action="store_true", help="print one JSON envelope on stdout")
    parser = _Parser(prog="materialize", parents=[common], description=(
        "Lock conda-packages.txt + requirements.txt into one lockfile; install it into an environment directory."))
    parser.add_argument("--version", action="version", version=f"materialize {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    lock = sub.add_parser("lock", parents=[common], help="resolve the project's inputs into one lockfile")
    _project_args(lock)
    lock.add_argument("--channel", action="append", dest="channels", metavar="URL", help="conda channel (repeatable)")
    lock.add_argument("--python", metavar="X.Y", help="Python version when conda-packages.txt names none")
    lock.add_argument("--platform", action="append", dest="platforms", metavar="SUBDIR", help="platform (repeatable)")
    lock.add_argument("--core-requirements", metavar="FILE", help="the serving runtime's core requirements")
    lock.add_argument("--core", metavar="NAME", help="named core set")
    lock.add_argument("--upgrade", action="store_true", help="ignore the previous lockfile's pins")
    lock.add_argument("--upgrade-package", action="append", default=[], metavar="NAME", help="move this pin")
    lock.add_argument("--check", action="store_true", help="exit 7 when the lockfile is out of date; write nothing")

    install = sub.add_parser("install", parents=[common], help="build an environment directory from the lockfile")
    _project_args(install)
    install.add_argument("--prefix", required=True, type=Path, help="the environment directory")
    install.add_argument("--offline", action="store_true", help="use only the cache")
    install.add_argument("--locked", action="store_true", help="exit 7 when the inputs changed since the lock")
    install.add_argument("--repair", action="store_true",
                         help="check every file against the lock's artifacts and restore whatever drifted")

    verify = sub.add_parser("verify", parents=[common], help="check a prefix against its lockfile and expected state")
    _project_args(verify)
    verify.add_argument("--prefix", required=True, type=Path)
    verify.add_argument("--image", metavar="REFERENCE", help="check against this image's files instead (push/pull's references)")
    _login_args(verify)

    fetch = sub.add_parser("fetch", parents=[common], help="download every artifact of the lockfile into the cache")
    _project_args(fetch)

    config = sub.add_parser("config", parents=[common], help="show the effective settings and their sources")
    config.add_argument("project", nargs="?", type=Path, default=Path("."))

    export = sub.add_parser("export", parents=[common], help="write the lock in another format")
    _project_args(export)
    export.add_argument("--format", required=True, choices=("explicit", "pylock", "requirements"))
    export.add_argument("--platform", metavar="SUBDIR")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    diff = sub.add_parser("diff", parents=[common], help="compare two lockfiles (or git revisions of one)")
    diff.add_argument("old")
    diff.add_argument("new")

    push = sub.add_parser("push", parents=[common], help="send an environment to a registry or an OCI layout as an image")
    push.add_argument("--prefix", required=True, type=Path, help="the environment directory (at its real path)")
    _image_args(push)
    pull = sub.add_parser("pull", parents=[common], help="write an environment directory from an image")
    _image_args(pull)
    pull.add_argument("--prefix", required=True, type=Path, help="the environment directory: the path it was built at")
    pull.add_argument("--repair", action="store_true", help="compare every file even when the prefix already "
                      "holds this image, and restore what differs")
    return parser


def _image_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", help="HOST[:PORT]/REPOSITORY[:TAG][@DIGEST], or oci:PATH[:TAG] for an OCI layout")
    _login_args(parser)


def _login_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--username", help="registry login (the password comes from --password-stdin)")
    parser.add_argument("--password-stdin", action="store_true", help="read the registry password from stdin")
    parser.add_argument("--insecure", action="store_true",
                        help="allow plain HTTP and unverified TLS for this registry (loopback needs no flag)")


def _project_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", type=Path, default=Path("."), help="project folder (default: .)")
    parser.add_argument("--lockfile", type=Path, help="lockfile path (default: PROJECT/materialize-lock.yml)")


def main(argv: list[str] | None = None) -> NoReturn:
    from .ui import silence

    for name in ("stdout", "stderr"):  # started with the stream closed (`>&-`): write to nowhere
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))
    code = run(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # the reader may have left (`| head`): the code stands
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            silence(stream)
    os._exit(code)


def run(argv: list[str]) -> int:
    from .ui import Console

    as_json = "--json" in argv
    console = Console(as_json=as_json, quiet="-q" in argv or "--quiet" in argv)
    command = next((a for a in argv if a in COMMANDS), "materialize")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as err:
        return _fail(console, command, err)
    except SystemExit as exit_:  # --help, --version
        return int(exit_.code or 0)
    console = Console(quiet=args.quiet, verbose=args.verbose, as_json=args.json)
    log_path = _logging(args.verbose)
    from . import scratch

    scratch.sweep()  # temporary folders that killed runs left behind
    return execute(args, console, argv, log_path)


def execute(args: argparse.Namespace, console: Any, argv: list[str], log_path: Path | None = None) -> int:
    """One parsed command: its exit code, the error printed; internal errors go to the run log."""
    try:
        from . import commands

        data = getattr(commands, args.command)(args, console)
    except MaterializeError as err:
        return _fail(console, args.command, err)
    except KeyboardInterrupt:
        return _interrupted(console, args, argv)
    except Exception as err:  # a bug: keep the traceback where it can be read
        return _internal(console, args, err, log_path)
    console.envelope(args.command, 0, data, [])
    return 0


def _fail(console: Any, command: str, err: MaterializeError) -> int:
    console.error(err.message, err.hint)
    console.envelope(command, err.exit_code, err.data, [{"kind": err.kind, "message": err.message, "hint": err.hint}])
    return err.exit_code


def _interrupted(console: Any, args: argparse.Namespace, argv: list[str]) -> int:
    """Ctrl-C: a fresh line (the terminal echoed ^C), what state things are in, the command to finish."""
    import shlex

    if sys.stderr.isatty():
        print(file=sys.stderr)
    again = "materialize " + shlex.join(argv)
    state = {"install": "the prefix counts as incomplete until an install finishes; ",
             "lock": "the lockfile is written only at the end, so it is unchanged; "}.get(args.command, "")
    return _fail(console, args.command, Interrupted("interrupted", hint=f"{state}run it again to finish: {again}"))


def _internal(console: Any, args: argparse.Namespace, err: Exception, log_path: Path | None) -> int:
    import logging
    import traceback

    logging.getLogger("materialize").debug("internal error", exc_info=err)
    if args.verbose:
        traceback.print_exception(type(err), err, err.__traceback__)
    text = str(err)
    text = text if len(text) <= 500 else text[:500] + "..."
    where = (f"the traceback is in the run log {log_path}" if log_path else
             "no run log could be written (the cache folder is not writable); re-run with -v for the traceback")
    console.error(f"internal error: {type(err).__name__}: {text}\n{where}",
                  "this is a bug in materialize: please report it with that log")
    console.envelope(args.command, 1, None, [{"kind": "internal", "message": f"{type(err).__name__}: {text}",
                                              "hint": where}])
    return 1


def _logging(verbose: int) -> Path | None:
    from . import cache, ui

    try:
        log_dir = cache.root() / "logs"
    except Exception:
        log_dir = None
    return ui.setup_logging(verbose, log_dir)
