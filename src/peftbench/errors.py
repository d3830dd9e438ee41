"""User-facing errors: the CLI prints these as one line and exits with code 2, no traceback."""


class UserError(Exception):
    """A mistake in the user's input (file, key, value). The message names it and what was expected."""
