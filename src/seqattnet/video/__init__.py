"""Raw video files -> per-video feature files with torchvision video backbones (needs seqattnet[video]).

`decode` streams frames with PyAV, `backbones` builds the networks and their preprocessing, `extract`
runs them over snippets and writes one `.npz` per video. torchvision and PyAV are imported inside the
functions that need them, so this package imports without them.
"""
