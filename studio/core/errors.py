"""The one error type a user sees: a single line naming the file and the problem."""

import re

OUT_OF_MEMORY = "ran out of memory; nothing was changed. Try a smaller batch size, model or data set"


class StudioError(Exception):
    """A problem with the user's input, told in one line. Never shown with a traceback."""

    def __init__(self, problem: str, source: str | None = None):
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {problem}" if source else problem)

    def __reduce__(self):  # pickled (from a job's process) with its parts, not the joined message
        return type(self), (self.problem, self.source)


class TrustRequired(StudioError):
    """Loading this file would run code stored in it; the user has to trust it first."""


def first_line(e: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, for embedding in a one-line error. ONNX Runtime's
    prefixes (error code, C++ source file and function signature) and terminal colours (torch.export's)
    are dropped: the words come after."""
    text = _ORT_CODE.sub("", _COLOURS.sub("", str(e)).strip())
    text = _CPP_PLACE.sub("", text)
    line = text.splitlines()[0] if text else type(e).__name__
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0] + "…"


_COLOURS = re.compile(r"\x1b\[[0-9;]*m")
_ORT_CODE = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_CPP_PLACE = re.compile(r"^\S+\.(?:h|cc|cpp):\d+ .*?\) (?=[A-Z])")
