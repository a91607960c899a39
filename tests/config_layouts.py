"""Configs in the layouts older versions wrote, for the tests that check they still read. pytest puts
tests/ on the import path, so any test module imports this by name."""

from seqattnet.config import MOVED_KEYS


def old_config_layout(raw: dict) -> dict:
    """A config mapping (`to_dict`) as written before evaluation, synthetic and windows had sections of
    their own: every key of MOVED_KEYS under its old name, in data (keys added to those sections since, which
    have no old name, stay where they are)."""
    raw = {section: dict(values) for section, values in raw.items()}
    for old, new in MOVED_KEYS.items():
        (old_section, old_name), (new_section, new_name) = old.split("."), new.split(".")
        raw[old_section][old_name] = raw[new_section].pop(new_name)
    return {section: values for section, values in raw.items() if values}
