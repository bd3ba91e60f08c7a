"""The one error type that reaches users: it carries a message that says what, where and what to do."""


class AffordhandError(Exception):
    """A user-facing error (bad file, bad flag, missing model). The CLI prints its message, no traceback."""
