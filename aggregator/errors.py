"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """A mistake in input or configuration, reported as one line with the fix."""


class ConfigError(UserError):
    """feeds.yaml is invalid; the message names the entry and the field."""
