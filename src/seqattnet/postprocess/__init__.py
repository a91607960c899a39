"""Post-processing of model outputs into detections: Soft-NMS and hard NMS of temporal segments."""

from .soft_nms import BatchedSoftNMSResult, SoftNMSResult, batched_soft_nms, soft_nms

__all__ = ["BatchedSoftNMSResult", "SoftNMSResult", "batched_soft_nms", "soft_nms"]
