"""How charcomplete starts itself as a child process (the shell server, the learner, the
shell snippets' command), so that what runs is always the installed package.

Running the package as a module puts the current directory first on `sys.path`: a `charcomplete/`
folder in whatever directory the user happens to be in would run instead of the installed
package (issue 25). `-P` (Python 3.11+) leaves the current directory out and nothing else;
on 3.10, which lacks it, isolated mode (`-I`) does the same and also ignores PYTHON*
variables and the user site-packages. Children also start in a directory of our choosing."""

from __future__ import annotations

import sys

# Where every child process starts: the root always exists and holds no package of ours.
CHILD_CWD = "/"


def safe_path_flag() -> str:
    return "-P" if sys.version_info >= (3, 11) else "-I"


def python_module_command(module: str = "charcomplete") -> list[str]:
    """The argv that runs `module` from the installed package, whatever the current directory holds."""
    return [sys.executable, safe_path_flag(), "-m", module]
