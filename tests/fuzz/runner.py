"""Run fuzz cases in worker processes, in-process through the CLI's own `cli.execute`, with a watchdog.

Each worker parses the command line as the CLI does, runs the command with the fuzzed project and
environment, and reports the exit code: exit 1 (or an exception that escaped) is an internal error.
The parent kills a worker whose case outlives ``timeout`` (a hang) or whose resident memory passes
``memory_limit`` and starts a new one. Workers run commands that read inputs only (`lock --check`,
`export`, `diff`): no engine, no network.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from .cases import KINDS, Generator

MIB = 1024 * 1024


@dataclass
class Outcome:
    kind: str
    index: int
    code: int  # exit code; -1 hang, -2 memory
    detail: str = ""  # first stderr line, or the traceback of an internal error
    seconds: float = 0.0
    memory_growth: int = 0  # bytes the worker's peak resident memory grew during this case
    input_bytes: int = 0


@dataclass
class Report:
    outcomes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    internal: list[Outcome] = field(default_factory=list)
    hangs: list[Outcome] = field(default_factory=list)
    memory: list[Outcome] = field(default_factory=list)
    slowest: Outcome | None = None
    seconds: float = 0.0

    def add(self, outcome: Outcome, memory_budget) -> None:
        self.outcomes[outcome.kind][outcome.code] += 1
        if outcome.code == 1:
            self.internal.append(outcome)
        elif outcome.code == -1:
            self.hangs.append(outcome)
        elif outcome.code == -2 or outcome.memory_growth > memory_budget(outcome.input_bytes):
            self.memory.append(outcome)
        if outcome.code >= 0 and (self.slowest is None or outcome.seconds > self.slowest.seconds):
            self.slowest = outcome

    @property
    def runs(self) -> int:
        return sum(sum(c.values()) for c in self.outcomes.values())


def memory_budget(input_bytes: int) -> int:
    """No input may take memory beyond a few times its size (plus a fixed allowance for the interpreter)."""
    return 64 * MIB + 4 * input_bytes


def run(kinds=KINDS, runs_per_kind: int = 100, seed: int = 12, workers: int = 2, timeout: float = 20.0,
        memory_limit: int = 1536 * MIB, progress=None) -> Report:
    tasks = [(kind, index) for index in range(runs_per_kind) for kind in kinds]
    report = Report()
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="materialize-fuzz-") as folder:
        pool = [_Worker(context, seed, Path(folder) / f"w{i}") for i in range(workers)]
        pending = list(reversed(tasks))
        try:
            while pending or any(w.task for w in pool):
                for worker in pool:
                    if worker.task is None and pending:
                        worker.send(pending.pop())
                multiprocessing.connection.wait([w.conn for w in pool if w.task], timeout=0.05)
                for worker in pool:
                    outcome = worker.poll(timeout, memory_limit)
                    if outcome is not None:
                        report.add(outcome, memory_budget)
                        if progress is not None:
                            progress(report)
        finally:
            for worker in pool:
                worker.stop()
    report.seconds = time.monotonic() - started
    return report


class _Worker:
    def __init__(self, context, seed: int, root: Path) -> None:
        self._context, self._seed, self._root = context, seed, root
        self.task = None
        self._start()

    def _start(self) -> None:
        self.conn, child = self._context.Pipe()
        self._root.mkdir(parents=True, exist_ok=True)
        folder = tempfile.mkdtemp(dir=self._root)
        self._proc = self._context.Process(target=_serve, args=(child, self._seed, folder), daemon=True)
        self._proc.start()
        child.close()
        self._sent_at = 0.0

    def send(self, task) -> None:
        self.task = task
        self._sent_at = time.monotonic()
        self.conn.send(task)

    def poll(self, timeout: float, memory_limit: int) -> Outcome | None:
        if self.task is None:
            return None
        if self.conn.poll():
            try:
                outcome = self.conn.recv()
            except EOFError:
                outcome = Outcome(*self.task, code=1, detail="the worker died (signal or os._exit)")
                self._restart()
            self.task = None
            return outcome
        kind, index = self.task
        if not self._proc.is_alive():
            self._restart()
            self.task = None
            return Outcome(kind, index, 1, f"the worker died with exit code {self._proc.exitcode}")
        if time.monotonic() - self._sent_at > timeout:
            self._restart()
            self.task = None
            return Outcome(kind, index, -1, f"no answer within {timeout:.0f}s")
        if _resident(self._proc.pid) > memory_limit:
            self._restart()
            self.task = None
            return Outcome(kind, index, -2, f"resident memory above {memory_limit // MIB} MiB")
        return None

    def _restart(self) -> None:
        self._proc.kill()
        self._proc.join(5)
        self._start()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)


def _resident(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _serve(conn, seed: int, folder: str) -> None:
    """The worker: a sandbox, the generator, and one case at a time."""
    from .sandbox import Sandbox

    sandbox = Sandbox(Path(folder))
    os.environ.update(sandbox.environment())
    for name in [n for n in os.environ if n.startswith(("MATERIALIZE_", "UV_", "PIP_")) and n != "MATERIALIZE_CACHE_DIR"]:
        del os.environ[name]
    os.chdir(sandbox.project)
    generator = Generator(seed)
    runner = CaseRunner(sandbox)
    while True:
        task = conn.recv()
        if task is None:
            break
        conn.send(runner.run(generator.case(*task)))
    conn.close()
    sys.stdout.flush()
    os._exit(0)  # rattler's runtime may crash a normal interpreter exit (docs/engines.md)


class CaseRunner:
    """One case through `cli.execute`, as ``materialize ARGV`` would run it."""

    def __init__(self, sandbox) -> None:
        from materialize import cli

        self.sandbox, self._cli = sandbox, cli
        self._parser = cli.build_parser()  # argparse parsers are reusable; building one costs ~14 ms
        self._errors = _Capture()
        logging.getLogger("materialize").addHandler(self._errors)
        logging.getLogger("materialize").setLevel(logging.DEBUG)

    def run(self, case) -> Outcome:
        from materialize.ui import Console

        self.sandbox.apply(case)
        before_env = {k: os.environ.get(k) for k in case.env}
        os.environ.update(case.env)
        peak = _peak()
        started = time.monotonic()
        out, err = io.StringIO(), io.StringIO()
        try:
            argv = self.sandbox.argv(case)
            with redirect_stdout(out), redirect_stderr(err):
                args = self._parser.parse_args(argv)
                code = self._cli.execute(args, Console(quiet=True), argv)
            detail = err.getvalue().strip().splitlines()[0] if err.getvalue().strip() else ""
            if code == 1:
                detail = self._errors.last or err.getvalue()
            elif code and not err.getvalue().startswith("error: "):
                code, detail = 1, f"exit {code} without an 'error:' line: {err.getvalue()[:300]!r}"
        except BaseException:  # anything that escaped the CLI's own handling is a bug too
            code, detail = 1, traceback.format_exc()
        finally:
            for key, value in before_env.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
            self._forget_secrets()
        outcome = Outcome(case.kind, case.index, code, detail[:4000], time.monotonic() - started,
                          _peak() - peak, _size(case))
        self.sandbox.reset(case)
        return outcome

    def _forget_secrets(self) -> None:
        """Each case is a new run: the secrets it registered do not belong to the next one."""
        from materialize import secrets

        for registry in (getattr(secrets, "_KNOWN", None), getattr(secrets, "_ORDERED", None)):
            if isinstance(registry, (set, list)):
                registry.clear()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.getMessage() == "internal error":
            self.last = "".join(traceback.format_exception(*record.exc_info))


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _size(case) -> int:
    return sum(len(v) for v in case.files.values() if isinstance(v, bytes)) + sum(len(v) for v in case.env.values())
