"""``${VAR}`` tokens in requirement lines and the lockfile's URLs, and their expansion (its own
module: an install expands a lockfile's URLs without importing the requirement parsers)."""

from __future__ import annotations

import re

from ..errors import InputError

VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(text: str, variables: dict[str, str], where: str) -> str:
    """Replace ``${VAR}`` tokens; a missing variable is an input error naming the line."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise InputError(f"{where}: environment variable {name} is not set (neither in the environment "
                             "nor in the project's .env)", hint=f"export {name}=... or add it to .env")
        return variables[name]

    return VAR.sub(replace, text)
