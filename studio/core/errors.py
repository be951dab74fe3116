"""The one error type a user sees: a single line naming the file and the problem."""


class StudioError(Exception):
    """A problem with the user's input, told in one line. Never shown with a traceback."""

    def __init__(self, problem: str, source: str | None = None):
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {problem}" if source else problem)


class TrustRequired(StudioError):
    """Loading this file would run code stored in it; the user has to trust it first."""


def first_line(e: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message, for embedding in a one-line error."""
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:limit]
