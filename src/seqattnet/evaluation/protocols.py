"""The tIoU threshold lists of the two standard protocols, and a parser for user-given lists."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, quoted


def _frozen(values: np.ndarray) -> np.ndarray:
    values.setflags(write=False)  # shared module constants: a caller must not change them in place
    return values


# Built with np.linspace exactly as the official code does, so that a tIoU that lands on a threshold
# (`iou >= 0.7000000000000001`) is decided the same way.
TIOUS: dict[str, np.ndarray] = {
    "activitynet": _frozen(np.linspace(0.5, 0.95, 10)),  # ActivityNet eval_detection.py / eval_proposal.py
    "thumos": _frozen(np.linspace(0.3, 0.7, 5)),  # THUMOS14 as reported by BMN, ActionFormer, ...
}


def parse_tious(text: str, source: str = "--tious") -> np.ndarray:
    """"0.5,0.75,0.95" -> float64[K]. Every value must lie in [0, 1]; order and duplicates are kept."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise InputError.at(source, f"expected comma-separated tIoU thresholds, got {quoted(text)}")
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise InputError.at(source, f"{quoted(part)} is not a number") from None
        if not 0.0 <= value <= 1.0:  # also rejects NaN
            raise InputError.at(source, f"tIoU threshold {part} is outside [0, 1]")
        values.append(value)
    return np.asarray(values, dtype=np.float64)


def resolve_tious(protocol: str = "activitynet", tious: str | None = None) -> np.ndarray:
    """The thresholds to use: `tious` when given, else the protocol's list. -> float64[K]"""
    if tious is not None:
        return parse_tious(tious)
    if protocol not in TIOUS:
        raise InputError.at("--protocol", f"unknown protocol {protocol!r}; expected one of {sorted(TIOUS)}")
    return np.array(TIOUS[protocol])
