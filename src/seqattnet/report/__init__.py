"""Self-contained HTML reports: a video player above a per-class timeline of detections and ground truth."""

from .html import write_report

__all__ = ["write_report"]
