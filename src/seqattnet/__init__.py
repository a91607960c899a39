"""SeqAttNet: temporal action localization with 3D input amassment and temporal attention."""

from .version import __version__

__all__ = ["__version__"]
