"""Evaluation with the official ActivityNet semantics: detection mAP at any tIoU thresholds, proposal
AR@AN and AUC, the result-JSON format, and DETAD's error diagnosis (`evaluation.diagnosis`). numpy and the
standard library only: no torch, no model."""

from .detection import DetectionMetrics, evaluate_detection, format_detection_table
from .proposal import ProposalMetrics, evaluate_proposals, format_proposal_table
from .protocols import TIOUS, parse_tious
from .results import read_results, write_results

__all__ = [
    "TIOUS",
    "DetectionMetrics",
    "ProposalMetrics",
    "evaluate_detection",
    "evaluate_proposals",
    "format_detection_table",
    "format_proposal_table",
    "parse_tious",
    "read_results",
    "write_results",
]
