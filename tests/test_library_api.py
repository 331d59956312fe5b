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


def test_learning_config_keeps_plain_python_numbers():
    """numpy scalars (p from np.linspace, levels from an array) and levels=128.0: the config
    holds Python floats and ints, so it trains (a float ``levels`` made the tap clip fail with
    a casting error) and its to_dict() goes into JSON (np.float32 and np.int64 do not)."""
    import json

    from spicecl.learning import LearningConfig, train
    from spicecl.network import exp16
    from spicecl.tasks import make_task

    cfg = LearningConfig(rule="discrete", p=np.float32(0.5), eta=np.float64(0.5),
                         levels=128.0, r_ab=np.int64(10_000), sigma_max=np.float32(0.05))
    assert type(cfg.levels) is int and cfg.levels == 128
    assert type(cfg.p) is float and type(cfg.r_ab) is float
    json.dumps(cfg.to_dict())
    net = exp16()
    task = make_task(net, "allostery", np.random.default_rng(0))
    ref = train(net, task, LearningConfig(rule="discrete", p=0.5, levels=128), 1, 20)
    h = train(net, task, LearningConfig(rule="discrete", p=0.5, levels=128.0), 1, 20)
    assert np.array_equal(h.final_taps, ref.final_taps)
    assert LearningConfig(p=1).p == 1 and type(LearningConfig(p=1).p) is int  # as given


def test_learning_config_refuses_a_string_for_a_number():
    from spicecl.learning import LearningConfig

    with pytest.raises(SpiceclError, match=r"^--p must be a number, got '0.5'$"):
        LearningConfig(p="0.5")
    with pytest.raises(SpiceclError, match=r"^levels must be an integer >= 2, got '128'$"):
        LearningConfig(levels="128")
