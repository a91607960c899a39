"""SeqAttNet: temporal action localization with 3D input amassment and temporal attention."""

__version__ = "0.1.0"
