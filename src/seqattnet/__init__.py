"""SeqAttNet: temporal action localization with 3D input amassment and temporal attention.

The Python API, in three lines from import to detections:

    import seqattnet
    detector = seqattnet.load("runs/demo/last.pt")
    print(detector.predict("runs/demo/data/features"))

`load`, `train`, `Detector` and `Results` live in seqattnet.api, imported on first use so that
`import seqattnet` stays light (no torch until a model is needed).
"""

from .version import __version__

__all__ = ["Detector", "Results", "__version__", "load", "train"]
_API = ("Detector", "Results", "load", "train")


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'seqattnet' has no attribute {name!r}")
