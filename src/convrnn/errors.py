"""The project's own error types (the lowest module of the package: anything may raise them)."""


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field."""
