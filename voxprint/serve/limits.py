"""The server's limits. They are part of the one settings schema (voxprint/schema.py,
`ServeLimits`: each limit's type and valid range), so the CLI, the app and the tests agree on them;
`Limits` is the name the serving code uses."""

from ..schema import ServeLimits as Limits

__all__ = ["Limits"]
