"""Issue 12: no input file, line or variable reaches exit 1, a traceback, a hang or runaway memory.

The bulk runs in-process through `cli.execute` (tests/fuzz; `scripts/fuzz` runs the same cases by
the ten thousand); a smaller sample runs the real CLI as a subprocess, as a user would.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.fuzz import cases, runner, sandbox
from tests.helpers import CLI_PATH

SEED = 2026


def test_fuzz_in_process_finds_no_internal_error_hang_or_memory_blowup():
    report = runner.run(cases.KINDS, runs_per_kind=150, seed=SEED, workers=2, timeout=60)
    assert report.runs == 150 * len(cases.KINDS)
    problems = [f"{o.kind}:{o.index} exit {o.code}: {o.detail[-800:]}" for o in
                report.internal + report.hangs + report.memory]
    assert problems == [], "\n\n".join(problems[:5])
    for kind in cases.KINDS:  # the cases reach past the first error: some inputs are fine
        assert sum(report.outcomes[kind].values()) == 150
    assert any(code in (0, 7) for counts in report.outcomes.values() for code in counts)


def test_the_runner_sees_an_internal_error(tmp_path, monkeypatch):
    """A fuzz that cannot see a bug proves nothing: make one, and watch it being caught."""
    from materialize import commands

    box = sandbox.Sandbox(tmp_path / "box")
    monkeypatch.chdir(box.project)
    for name, value in box.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(commands, "lock", lambda args, console: {}["no such key"])
    outcome = runner.CaseRunner(box).run(cases.Generator(SEED).case("conda-packages.txt", 1))
    assert outcome.code == 1 and "KeyError" in outcome.detail


@pytest.mark.parametrize("kind", cases.KINDS)
def test_fuzz_through_the_cli_as_a_subprocess(tmp_path, kind):
    generator = cases.Generator(SEED + 1)
    box = sandbox.Sandbox(tmp_path / "box")
    for index in range(6):
        case = generator.case(kind, index)
        box.apply(case)
        env = {**os.environ, **box.environment(), **case.env}
        done = subprocess.run([str(CLI_PATH), *box.argv(case)], capture_output=True, timeout=120, env=env,
                              cwd=box.project, stdin=subprocess.DEVNULL)
        stderr = done.stderr.decode(errors="replace")
        assert done.returncode not in (1, 139) and "Traceback" not in stderr, (case, done.returncode, stderr)
        assert done.returncode == 0 or stderr.startswith("error: "), (case, stderr)
        box.reset(case)


def test_the_special_files_are_refused_through_the_cli(tmp_path):
    box = sandbox.Sandbox(tmp_path / "box")
    others = ("conda-packages.txt", "more.txt", "pip.conf", ".env", "materialize.toml", "materialize-lock.yml")
    pairs = [(special, "requirements.txt") for special in cases.SPECIALS] + list(zip(cases.SPECIALS, others))
    for special, name in pairs:  # every special file once as requirements.txt, and once as another input
        case = cases.Case(name, 0, files={name: special}, argv=["lock", "--check"])
        box.apply(case)
        done = subprocess.run([str(CLI_PATH), *box.argv(case)], capture_output=True, text=True, timeout=60,
                              env={**os.environ, **box.environment()}, stdin=subprocess.DEVNULL)
        assert done.returncode == 3, (special, name, done.stderr)
        assert Path(name).name in done.stderr.splitlines()[0], (special, name, done.stderr)
        box.reset(case)
