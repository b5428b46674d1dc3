"""One function per subcommand: read the arguments, make one core call, render the result."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .errors import InputError, StaleLockError
from .ui import Console

LOCKFILE_NAME = "materialize-lock.yml"


def _settings(project: Path, flags: dict[str, Any]):
    from . import settings

    return settings.load(project.resolve(), flags)


def _lockfile_path(args: argparse.Namespace, settings=None, *, must_exist: bool = False) -> Path:
    """``--lockfile`` is relative to the working directory, as every path argument; the `lockfile`
    setting is relative to the project (or to the config file that sets it)."""
    from . import files

    if args.lockfile is not None:
        source = "--lockfile, relative to the working directory"
        path = Path(os.path.abspath(args.lockfile))  # named as given: a link is followed only to read it
    else:
        name = settings["lockfile"] if settings is not None else LOCKFILE_NAME
        source = f"setting lockfile, {settings.source('lockfile')}" if settings is not None else "the default"
        path = Path(os.path.abspath(args.project / name))
    shown = f"lockfile {files.short(str(path))} ({source})"
    kind = files.probe(path, shown)
    if kind == "directory":
        raise InputError(f"{shown} is a directory", hint="name a file, e.g. materialize-lock.yml")
    parent = next((p for p in path.parents if files.probe(p, shown) != "missing"), None)
    if parent is not None and files.probe(parent, shown) != "directory":
        raise InputError(f"{shown}: {parent} is a file, not a directory")
    if must_exist and kind == "missing":
        hint = "run 'materialize lock' first"
        beside = (args.project / args.lockfile) if args.lockfile is not None else None
        if beside is not None and beside.resolve() != path and files.probe(beside, shown) == "file":
            hint = f"did you mean --lockfile {beside.resolve()}?"
        raise InputError(f"{path}: no lockfile here ({source})", hint=hint)
    return path


def lock(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from .resolve import lock as locking
    from .inputs import project as projects

    from . import cache

    cache.ready()
    flags = {"channels": args.channels, "python": args.python, "platforms": args.platforms,
             "core-requirements": str(Path(args.core_requirements).resolve()) if args.core_requirements else None,
             "core": args.core}
    settings = _settings(args.project, flags)
    path = _lockfile_path(args, settings)
    if args.check:
        return _check_fresh(args.project, settings, path, args.platforms or [])
    project = projects.load(args.project, settings)
    platforms = locking.target_platforms(args.platforms or [], settings, path)
    options = locking.LockOptions(project, settings, path, platforms, upgrade=args.upgrade,
                                  upgrade_packages=tuple(args.upgrade_package))
    console.progress("locking ...")
    report = locking.lock(options)
    console.done_progress()
    for line in report.lines():
        console.out(line)
    for note in report.notes:
        console.info(f"{note.level}: {note.message}")
    return {"lockfile": str(report.lockfile), "platforms": report.lock.platforms, "python": report.lock.python,
            "conda": len(report.lock.conda), "pypi": len(report.lock.pip), "unchanged": report.unchanged,
            "credentials": report.lock.credentials, **report.as_data()}


def _check_fresh(project_dir: Path, settings, path: Path, platforms: list[str]) -> dict[str, Any]:
    """Exit 7 when the inputs changed since the lock. Settings given now are compared; those given
    only at lock time (a --channel flag, say) are taken from the lockfile: like with like."""
    from . import lockfile
    from .inputs import project as projects
    from .resolve import lock as locking

    lock_data = lockfile.read(path)
    settings = settings.under(lock_data.settings)
    project = projects.load(project_dir, settings)
    options = locking.LockOptions(project, settings, path, locking.target_platforms(platforms, settings, path))
    for platform in options.platforms:
        if lock_data.content_hash.get(platform) != locking.content_hash(options, platform, lock_data,
                                                                         lock_data.python.get(platform)):
            raise StaleLockError(f"{path.name} is out of date for {platform}: the inputs changed "
                                 "since it was written", hint="run 'materialize lock'")
    return {"lockfile": str(path), "fresh": True}


def install(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from . import lockfile, platforms
    from .prefix import state as prefix_state

    path = _lockfile_path(args, must_exist=True)
    prefix = args.prefix.resolve()
    if not args.locked:  # the no-op path: one hash, one small JSON read, no heavy import
        try:
            lock_digest = lockfile.file_digest(path)
        except FileNotFoundError:
            lock_digest = ""
        if lock_digest and not args.repair and prefix_state.is_current(prefix, lock_digest, __version__):
            console.out(f"{prefix} is up to date with {path.name}")
            return {"prefix": str(prefix), "status": "up-to-date", "platform": platforms.host()}
    from .prefix import install as installing

    from . import cache

    cache.ready()
    settings = _settings(args.project, {})
    if args.locked:
        _require_fresh(args, settings, path)
    report = installing.install(installing.InstallOptions(path, prefix, args.project.resolve(), settings,
                                                          offline=args.offline, repair=args.repair), console)
    for line in report.lines():
        console.out(line)
    return report.as_data()


def _require_fresh(args: argparse.Namespace, settings, path: Path) -> None:
    from . import platforms

    _check_fresh(args.project, settings, path, [platforms.host()])


def verify(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from .prefix import verify as verifying

    if args.image:
        return _verify_image(args, console)
    path = _lockfile_path(args, must_exist=args.lockfile is not None)
    if args.lockfile is None and not path.is_file():
        path = None  # no lockfile at hand (a mounted prefix): check the files against the manifest only
    report = verifying.verify(args.prefix.resolve(), path)
    for line in report.lines():
        console.out(line)
    report.raise_on_drift()
    return report.as_data()


def _verify_image(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from .image import check, stores

    result = check.check(stores.open_store(args.image, _access(args), push=False), args.prefix.resolve())
    for line in result.lines():
        console.out(line)
    result.raise_on_drift()
    return result.as_data()


def fetch(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from .prefix import install as installing

    from . import cache

    cache.ready()
    settings = _settings(args.project, {})
    data = installing.fetch_all(_lockfile_path(args, settings, must_exist=True), args.project.resolve(), settings,
                                console)
    console.out(f"{data['artifacts']} artifacts are in the cache ({data['conda']} conda, {data['pypi']} PyPI)")
    if data["not_fetched"]:
        console.out(f"not fetched (uv builds them from source at install): {', '.join(data['not_fetched'])}")
    return data


def config(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from .resolve import effective

    settings = _settings(args.project, {})
    rows = effective.rows(settings, args.project.resolve(), (args.project / settings["lockfile"]).resolve())
    width = max(len(row.key) for row in rows)
    for row in rows:
        first, *more = row.text.splitlines()
        console.out(f"{row.key:<{width}}  {first}  ({row.source})")
        for line in more:
            console.out(f"{'':<{width}}  {line}")
    return {row.key: {"value": row.value, "source": row.source} for row in rows}


def export(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from .lockfile import export as exporting

    lockfile_path = _lockfile_path(args, must_exist=True)
    done = exporting.export(lockfile_path, args.format, args.platform, args.output)
    if args.output:
        exporting.write_atomic(args.output, done.text)
        console.info(f"Wrote {args.output} ({args.format}, {done.platform}): {done.conda} conda and "
                     f"{done.pypi} PyPI packages")
    elif not args.json:
        import sys

        from .ui import write

        write(sys.stdout, done.text)
    return {"format": args.format, "platform": done.platform, "lockfile": str(lockfile_path),
            "output": str(args.output.resolve()) if args.output else None,
            "text": None if args.output else done.text,
            "conda": done.conda, "pypi": done.pypi, "skipped": list(done.skipped)}


def diff(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from .lockfile import diff as diffing

    result = diffing.compare(args.old, args.new)
    for line in result.lines():
        console.out(line)
    return result.as_data()


def _access(args: argparse.Namespace):
    from . import settings
    from .image.stores import Access
    from .secrets import Secret

    password = Secret(sys.stdin.read().rstrip("\r\n")) if args.password_stdin else None
    insecure = settings.load(None, {})["insecure-registries"]
    return Access(args.username, password, args.insecure, tuple(insecure))


def push(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from .image import push as pushing, stores

    store = stores.open_store(args.reference, _access(args), push=True)
    report = pushing.push(args.prefix.resolve(), store, console)
    for line in report.lines():
        console.out(line)
    return report.as_data()


def pull(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    from .image import pull as pulling, stores

    store = stores.open_store(args.reference, _access(args), push=False)
    report = pulling.pull(store, args.prefix.resolve(), console, repair=args.repair)
    for line in report.lines():
        console.out(line)
    return report.as_data()
