"""The library used from Python (a notebook), not through the command line: argument types,
seeds, shapes and the arrays a caller can reach."""

import numpy as np
import pytest

from spicecl.errors import SpiceclError


@pytest.mark.parametrize("value", ["ten", None, 10.5, "10", True])
def test_check_count_refuses_what_is_not_an_integer_naming_the_parameter(value):
    from spicecl.errors import check_count

    with pytest.raises(SpiceclError, match=r"^--steps must be an integer, got "):
        check_count("--steps", value, 1)


def test_check_count_takes_numpy_integers_and_integral_floats():
    from spicecl.errors import check_count

    assert check_count("--steps", np.int64(7), 1) == 7
    assert check_count("--steps", 1e3, 1) == 1000
    assert type(check_count("--steps", np.int32(3), 1)) is int


@pytest.mark.parametrize("value", ["0.5", b"0.5", None, True])
def test_check_range_refuses_what_is_not_a_number(value):
    from spicecl.errors import check_range

    with pytest.raises(SpiceclError, match=r"^--p must be a number, got "):
        check_range("--p", value, 0, 1)


def test_check_range_takes_numpy_scalars():
    from spicecl.errors import check_range

    assert check_range("--p", np.float32(0.5), 0, 1) == 0.5
    assert check_range("--p", np.int64(1), 0, 1) == 1.0
