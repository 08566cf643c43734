import numpy as np
import pytest

from core.errors import SpecError
from core.spec import Spec, epoch_order, flops_per_sample, initial_weights, parse_layers


def test_defaults_reproduce_the_seed_program():
    spec = Spec()
    assert (spec.layers, spec.activation, spec.loss, spec.batch_size, spec.lr, spec.epochs) == (
        (784, 36, 10),
        "sigmoid",
        "quadratic",
        10,
        3.0,
        30,
    )
    weights = initial_weights(spec)
    assert [W.shape for W, _ in weights] == [(36, 784), (10, 36)]
    assert all(W.min() >= -1 and W.max() < 1 and W.dtype == np.float64 for W, _ in weights)
    assert all(not b.any() for _, b in weights)


def test_same_seed_same_weights_and_batch_order():
    a, b = initial_weights(Spec(seed=7)), initial_weights(Spec(seed=7))
    for (Wa, _), (Wb, _) in zip(a, b):
        np.testing.assert_array_equal(Wa, Wb)
    np.testing.assert_array_equal(epoch_order(7, 3, 1000), epoch_order(7, 3, 1000))


def test_other_seed_or_epoch_gives_other_draws():
    assert not np.array_equal(initial_weights(Spec(seed=1))[0][0], initial_weights(Spec(seed=2))[0][0])
    assert not np.array_equal(epoch_order(1, 1, 1000), epoch_order(1, 2, 1000))
    assert sorted(epoch_order(1, 1, 1000)) == list(range(1000))


@pytest.mark.parametrize("init", ["normal", "xavier", "he"])
def test_other_inits_have_their_scale(init):
    W = initial_weights(Spec(layers=(784, 200, 10), init=init))[0][0]
    expected_std = {"normal": 1.0, "xavier": (6 / (784 + 200)) ** 0.5 / 3**0.5, "he": (2 / 784) ** 0.5}[init]
    assert W.std() == pytest.approx(expected_std, rel=0.05)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layers": (784, 36, 9)}, "must start with 784"),
        ({"layers": (100, 36, 10)}, "must start with 784"),
        ({"layers": (784, 0, 10)}, "positive"),
        ({"activation": "swish"}, "unknown --activation"),
        ({"loss": "hinge"}, "unknown --loss"),
        ({"init": "zeros"}, "unknown --init"),
        ({"batch_size": 0}, "--batch-size"),
        ({"batch_size": 60_001}, "--batch-size"),
        ({"lr": -1.0}, "--lr"),
        ({"lr": float("nan")}, "--lr"),
        ({"epochs": 0}, "--epochs"),
    ],
)
def test_invalid_specification_is_refused_with_the_option_named(kwargs, message):
    with pytest.raises(SpecError, match=message):
        Spec(**kwargs)


def test_layers_text_is_parsed_or_refused():
    assert parse_layers("784,64,32,10") == (784, 64, 32, 10)
    with pytest.raises(SpecError, match="comma-separated"):
        parse_layers("784,x,10")


def test_flop_count_matches_design():
    assert flops_per_sample((784, 36, 10), 10) * 60_000 == pytest.approx(7.25e9, rel=0.001)
