"""The base of the errors that point at a line of a data file: "path:line: problem"."""

import os


class FileFormatError(ValueError):
    """A data file that cannot be used as it is, named with its line: `"path:line: problem"`.

    The message is `"<input>: problem"` without a path and `"path: problem"`
    without a line. Subclasses (`BeirFormatError`, `InteractionsFormatError`)
    may add to the location by overriding `location()`.

    Args:
        problem: str. What is wrong and, where possible, what to do.
        path: str, PathLike or None. The file.
        line: int or None. The 1-based line number.

    Attributes:
        problem, path (str or None), line: as given.

    Example:
    ```python
    raise FileFormatError("expected 3 columns, got 2", "qrels/test.tsv", 7)
    # FileFormatError: qrels/test.tsv:7: expected 3 columns, got 2
    ```
    """

    def __init__(self, problem, path=None, line=None):
        self.problem = problem
        self.path = None if path is None else os.fspath(path)
        self.line = line
        super().__init__(f"{self.location()}: {problem}")

    def location(self):
        """`"path:line"`, `"path"` or `"<input>"`."""
        where = self.path or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        return where
