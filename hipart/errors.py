"""The one exception type that reaches users as a one-line message (the CLI prints it and exits 1)."""


class HipartError(Exception):
    """A problem with the user's input or environment; the message names the problem and the fix."""
