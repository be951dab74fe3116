import os

import pytest

from studio.core.measure import zipped, zipped_size


@pytest.mark.parametrize("data", [b"", b"abc" * 1000, os.urandom(9_000_001)])
def test_zipped_size_is_the_length_of_the_zip_whatever_the_pieces(data):
    expected = len(zipped("model", data))
    assert zipped_size("model", [data]) == expected
    assert zipped_size("model", [data[:7], b"", data[7:]]) == expected
