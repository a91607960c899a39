"""Loops and plumbing: building datasets and the model from a config, training, inference, checkpoints."""
