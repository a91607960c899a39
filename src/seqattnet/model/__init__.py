"""The network: maps features to predictions and nothing else (no targets, losses or decoding)."""

from .proposal import ProposalGenerator, ProposalMaps
from .seqattnet import HeadOutputs, SeqAttNet

__all__ = ["HeadOutputs", "ProposalGenerator", "ProposalMaps", "SeqAttNet"]
