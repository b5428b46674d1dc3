"""Fuzz cases for every input materialize reads: one odd line (or one odd file) in an otherwise good project.

A case is reproducible from (kind, seed, index). Lines come from token soups per file kind,
mutated corpus lines (tests/data), random unicode and bytes, shell metacharacters, ``${VAR}``
tricks and very long lines; files may also become special (a directory, a FIFO, /dev/zero, a
symlink loop), re-encoded (UTF-16, latin-1, a BOM), CRLF, truncated or larger than the cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
KINDS = ("conda-packages.txt", "requirements.txt", "pip.conf", ".env", "materialize.toml", "lockfile", "env")
SPECIALS = ("dir", "fifo", "devzero", "loop", "dangling", "big")

BASE = {
    "conda-packages.txt": "# platform: linux-64\ntinyleaf=1.0=0\npython 3.11.*\n",
    "requirements.txt": "tinydep==1.0\n-r more.txt\n./localpkg\n",
    "more.txt": "six\n",
    "pip.conf": "[global]\nindex-url = https://pypi.example/simple\n",
    ".env": "TOKEN=abc123\n",
    "materialize.toml": 'channels = ["file:///srv/conda/test-channel"]\npython = "3.11"\n',
    "localpkg/pyproject.toml": '[project]\nname = "localpkg"\nversion = "0.1"\n',
    "localpkg/localpkg/__init__.py": "",
}
SETTING_KEYS = ("channels", "python", "platforms", "core", "core-requirements", "core-sets", "lockfile",
                "index-strategy", "virtual-packages")
ENV_NAMES = tuple("MATERIALIZE_" + k.upper().replace("-", "_") for k in SETTING_KEYS) + (
    "MATERIALIZE_LOCK_TIMEOUT", "MATERIALIZE_CACHE_DIR", "MATERIALIZE_UV")

_TOKENS = {
    "conda-packages.txt": ["numpy", "tinyleaf", "python", "=", "==", ">=", "<", "!=", "~=", "1.2", "3.11.*", "*",
                           "::", "conda-forge", "/", "linux-64", "noarch", "[", "]", "channel=", "subdir=",
                           "version=", "build=", "'", '"', ",", "|", " ", "py_0", "h1234_0", "#", "@EXPLICIT",
                           "./chan", "~/chan", "file:///x", "https://host/c", "pypi_0", "\t"],
    "requirements.txt": ["tinydep", "six", "==", ">=", "~=", "===", "!=", "1.0", "[extra]", "@", " @ ", ";",
                         "; python_version >= '3.8'", "-r ", "-c ", "-e ", "-i ", "--index-url ", "--extra-index-url ",
                         "--find-links ", "--trusted-host ", "--no-binary ", "--only-binary ", ":all:", ":none:",
                         "--prefer-binary", "--pre", "--hash=sha256:", "--hash=sha512:", "--hash=md5:", "0" * 64,
                         "git+https://", "http://", "https://[", "file://", "./", "../", "/", "localpkg", ".whl",
                         ".tar.gz", "#egg=", "${TOKEN}", "${", "}", " ", "\\", "#", "'", '"', "more.txt", "/dev/zero",
                         "fifo", "requirements.txt", "x.whl", "--require-hashes", "--config-settings=a=b"],
    "pip.conf": ["[global]", "[install]", "[", "]", "index-url", "extra-index-url", "find-links", "trusted-host",
                 "no-index", "pre", "no-binary", "only-binary", "prefer-binary", " = ", "=", ":", "true", "no",
                 "http://[::1/simple/", "https://u:p@host/simple", "./wheels", "${TOKEN}", "%(x)s", "\n  ", " ",
                 ";", "#"],
    ".env": ["TOKEN", "export ", "=", "'", '"', "\\", "$", "${TOKEN}", "#", " ", "a b", "\\n", "$(id)", "`id`"],
    "materialize.toml": [*(f"{k} = " for k in SETTING_KEYS), '"', "'", "[", "]", "{", "}", ",", "=", "3.11", "3.10",
                         "true", "1e400", "-0", "inf", "nan", '"/"', '"."', '"/dev/zero"', '"./chan"', "__glibc",
                         '".28"', '"2.28=a b"', '"__a b"', "[tool.materialize]", "\\u0000", "\\", "#", "\n", " "],
    "env": ['["a", "b"]', '["a",', "{", "}", "{__glibc = \"2.28\"}", "a,b", "a b", "3.x", "3.11", "/", ".", "",
            "/proc/self", "/dev/null", "-1", "nan", "600", "first-index", "${X}", "file:///x", "~/c", "\\"],
}
_WEIRD = ["\x00", "\ufeff", "\r", "\r\n", "\u2028", "\x85", "\x0b", "\x0c", "\u202e", "\U0001f600", "e\u0301", "\udcff",
          "$(rm -rf /tmp/none)", "`id`", "; echo", "| cat", "&& true", "> /dev/null", "*", "?", "~", "${",
          "${}", "${A${B}}", "$TOKEN", "%TOKEN%", "${lower}", "${1X}", "${TOKEN", "\\\n", "\t", "  "]


@dataclass
class Case:
    kind: str
    index: int
    files: dict[str, bytes | str] = field(default_factory=dict)  # name -> content, or a SPECIALS name
    env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)  # after the project path: the command


def corpus_lines() -> dict[str, list[str]]:
    requirements = [line for path in sorted((DATA / "requirements").rglob("*")) if path.is_file()
                    for line in path.read_text(errors="replace").splitlines() if line.strip()]
    conda = [line for path in sorted((DATA / "conda").glob("*.txt"))
             for line in path.read_text().splitlines() if line.strip()]
    return {"requirements.txt": requirements, "conda-packages.txt": conda}


class Generator:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.corpus = corpus_lines()
        self.seed_lock = (DATA / "fuzz" / "seed-lock.yml").read_text()

    def case(self, kind: str, index: int) -> Case:
        rng = random.Random(f"{self.seed}/{kind}/{index}")
        case = Case(kind, index, argv=["lock", "--check"])
        if kind == "env":
            for _ in range(rng.choice((1, 1, 2))):
                case.env[rng.choice(ENV_NAMES)] = self._env_value(rng)
            return case
        if kind == "lockfile":
            case.files["materialize-lock.yml"] = self._lockfile(rng)
            case.argv = rng.choice((["lock", "--check"], ["export", "--format", "pylock"],
                                    ["export", "--format", "explicit"], ["export", "--format", "requirements"],
                                    ["diff", "LOCK", "LOCK"]))
            return case
        target = "more.txt" if kind == "requirements.txt" and rng.random() < 0.3 else kind
        if rng.random() < 0.02:
            case.files[target] = rng.choice(SPECIALS)
            return case
        base = BASE[target].splitlines()
        base.insert(rng.randrange(len(base) + 1), self._line(rng, kind))
        case.files[target] = self._encode(rng, "\n".join(base) + rng.choice(("\n", "", "\n\n")))
        return case

    def _line(self, rng: random.Random, kind: str) -> str:
        choice = rng.random()
        if choice < 0.35:
            line = "".join(rng.choice(_TOKENS[kind]) for _ in range(rng.randint(1, 8)))
        elif choice < 0.6 and kind in self.corpus:
            line = self._mutate(rng, rng.choice(self.corpus[kind]))
        elif choice < 0.75:
            line = "".join(chr(rng.choice((rng.randint(32, 126), rng.randint(0, 0x2FFFF)))) for _ in range(rng.randint(0, 40)))
        elif choice < 0.85:
            line = "".join(rng.choice(_TOKENS[kind] + _WEIRD) for _ in range(rng.randint(1, 10)))
        elif choice < 0.995:
            line = self._mutate(rng, "".join(rng.choice(_TOKENS[kind]) for _ in range(3)))
        else:
            line = rng.choice(_TOKENS[kind]) * rng.choice((10_000, 100_000, 1_000_000))
        if kind == ".env" and rng.random() < 0.6:
            line = f"{rng.choice(('TOKEN', 'A', 'export B'))}={line}"
        if kind == "pip.conf" and rng.random() < 0.6:
            line = f"{rng.choice(_TOKENS['pip.conf'][2:11])} = {line}"
        if kind == "materialize.toml" and rng.random() < 0.5:
            line = f"{rng.choice(SETTING_KEYS)} = {self._toml_value(rng, line)}"
        return line

    def _mutate(self, rng: random.Random, line: str) -> str:
        chars = list(line)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(chars) + 1)
            action = rng.random()
            if action < 0.4:
                chars.insert(position, rng.choice(_WEIRD + list("=<>!~@;#[]{}()'\"\\ :/.,*|$-")))
            elif action < 0.7 and chars:
                del chars[min(position, len(chars) - 1)]
            elif chars:
                chars[min(position, len(chars) - 1)] = chr(rng.randint(0, 0x24F))
        return "".join(chars)

    def _toml_value(self, rng: random.Random, text: str) -> str:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        return rng.choice((f'"{escaped}"', f'["{escaped}"]', f'{{__glibc = "{escaped}"}}', text, f"'{text}'",
                           f'{{a = "{escaped}"}}', "[1, 2]", "{}", "[]", "true", "3.10"))

    def _env_value(self, rng: random.Random) -> str:
        value = "".join(rng.choice(_TOKENS["env"] + _WEIRD) for _ in range(rng.randint(0, 5)))
        if rng.random() < 0.3:
            value = self._line(rng, rng.choice(("conda-packages.txt", "requirements.txt")))
        # An environment value has no NUL and is bytes: what os.environ cannot encode cannot reach us either.
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")

    def _lockfile(self, rng: random.Random) -> bytes | str:
        text = self.seed_lock
        action = rng.random()
        if action < 0.02:
            return rng.choice(SPECIALS)
        if action < 0.25:
            return self._encode(rng, text[:rng.randrange(len(text))])
        lines = text.splitlines()
        for _ in range(rng.randint(1, 3)):
            where = rng.randrange(len(lines))
            head, sep, value = lines[where].partition(": ")
            mutation = rng.random()
            if mutation < 0.4 and sep:
                lines[where] = head + sep + rng.choice(("null", "[]", "{}", "1", "-1", "true", "'x'", "&a x", "*a",
                                                         "!!binary aGk=", "!!python/object:os.system x", "1e999",
                                                         "'" + "a" * 100_000 + "'", "[[[[[[[[]]]]]]]]", "~", '""'))
            elif mutation < 0.6:
                del lines[where]
            elif mutation < 0.8:
                lines.insert(where, self._line(rng, rng.choice(("requirements.txt", "conda-packages.txt"))))
            else:
                lines[where] = self._mutate(rng, lines[where])
        return self._encode(rng, "\n".join(lines) + "\n")

    def _encode(self, rng: random.Random, text: str) -> bytes:
        action = rng.random()
        if action < 0.9:
            return text.encode("utf-8", "surrogatepass")
        if action < 0.93:
            return "\r\n".join(text.split("\n")).encode("utf-8", "surrogatepass")
        if action < 0.95:
            return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
        encoding = rng.choice(("utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "shift_jis"))
        return text.encode(encoding, "replace")
