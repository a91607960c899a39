"""The demo config shrunk for the tests that train, so a run takes seconds on a CPU: 24 + 8 built-in
videos of 4 classes, T = D = 16 and 16-channel features and layers. pytest puts tests/ on the import
path (it holds the top conftest.py), so any test module imports this by name."""

TINY_RUN = ["synthetic.train_videos=24", "synthetic.val_videos=8", "synthetic.classes=4", "synthetic.groups=4",
            "model.num_classes=4", "model.feature_dim=16", "model.temporal_scale=16", "model.max_duration=16", "model.base_channels=16",
            "model.bm_channels=16", "model.map_channels=8", "model.num_samples=8", "train.batch_size=8"]


def as_sets(overrides: list[str]) -> list[str]:
    """["a=1", "b=2"] -> ["--set", "a=1", "--set", "b=2"], as the command line takes them."""
    return [arg for item in overrides for arg in ("--set", item)]
