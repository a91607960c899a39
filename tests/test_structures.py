import pytest

from seqattnet.structures import canonical_video_id


@pytest.mark.parametrize("raw, canonical", [("v_QOlSCBRmfWY", "QOlSCBRmfWY"), ("QOlSCBRmfWY", "QOlSCBRmfWY"),
                                            ("video_test_0000004", "video_test_0000004")])
def test_canonical_video_id(raw, canonical):
    assert canonical_video_id(raw) == canonical
