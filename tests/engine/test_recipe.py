"""The default recipe: the spec builds, the schedule follows its formula, training is
deterministic for a seed and reports what it did.

The full 10-epoch run (>= 98 % validation accuracy) is a measurement, not a
test; here the runs are a few steps on a few hundred digits.
"""

import math

import numpy as np
import pytest

from engine.data import mnist_split
from engine.network import Network
from engine.recipe import DEFAULT_SPEC, DEFAULT_TRAINING, train
from engine.training import Trainer
from engine.training_loop import TrainingConfig, TrainingRun, cosine_lr

TINY_SPEC = [
    {"type": "conv", "filters": 2, "kernel": 3, "stride": 2, "padding": 1},
    {"type": "relu"},
    {"type": "flatten"},
    {"type": "dense", "units": 10},
]


@pytest.fixture(scope="module")
def small_data():
    split = mnist_split()
    return split._replace(train_x=split.train_x[:192], train_y=split.train_y[:192],
                          val_x=split.val_x[:64], val_y=split.val_y[:64])


def test_default_spec_parameter_count_by_formula():
    net = Network(DEFAULT_SPEC, input_shape=(1, 28, 28), seed=0)
    convs = [layer for layer in DEFAULT_SPEC if layer["type"] == "conv"]
    f1, f2 = convs[0]["filters"], convs[1]["filters"]
    k = 3
    # two 'same' 3x3 convolutions and two 2x2 pools: 28 -> 14 -> 7
    expected = (f1 * 1 * k * k + f1) + (f2 * f1 * k * k + f2) + (f2 * 7 * 7 * 10 + 10)
    assert net.param_count == expected
    assert net.num_classes == 10
    assert net.predict(np.zeros((2, 1, 28, 28), np.float32)).shape == (2,)


def test_default_training_is_accepted_by_the_trainer(small_data):
    kwargs = DEFAULT_TRAINING.trainer_kwargs()
    assert set(kwargs) <= set(DEFAULT_TRAINING.as_dict())
    trainer = Trainer(Network(TINY_SPEC, seed=0), *small_data, **kwargs)
    assert trainer.optimizer.lr == DEFAULT_TRAINING.lr
    assert trainer.batch_size == DEFAULT_TRAINING.batch_size
    assert trainer.augment == DEFAULT_TRAINING.augment
    assert DEFAULT_TRAINING.replace(lr=0.5).trainer_kwargs()["lr"] == 0.5


def test_cosine_schedule_formula():
    peak, total = 3e-3, 100
    assert cosine_lr(0, total, peak) == pytest.approx(peak)
    assert cosine_lr(50, total, peak) == pytest.approx(peak / 2)
    assert cosine_lr(25, total, peak) == pytest.approx(peak * (1 + math.sqrt(0.5)) / 2)
    assert cosine_lr(total, total, peak) == pytest.approx(0.0, abs=1e-15)
    rates = [cosine_lr(i, total, peak) for i in range(total + 1)]
    assert all(a >= b for a, b in zip(rates[:-1], rates[1:], strict=True))


def _weights(net):
    return [p.copy() for p in net.parameters()]


def test_train_is_deterministic_for_a_seed(small_data):
    runs = [train(epochs=2, seed=seed, spec=TINY_SPEC, data=small_data) for seed in (4, 4, 5)]
    (net_a, rep_a), (net_b, rep_b), (net_c, _) = runs
    for a, b in zip(_weights(net_a), _weights(net_b), strict=True):
        np.testing.assert_array_equal(a, b)
    assert rep_a.epoch_losses == rep_b.epoch_losses
    assert rep_a.val_accuracy == rep_b.val_accuracy
    pairs = zip(_weights(net_a), _weights(net_c), strict=True)
    assert any(not np.array_equal(a, c) for a, c in pairs)


def test_train_report_and_progress(small_data):
    calls = []
    net, report = train(epochs=2, seed=0, spec=TINY_SPEC, data=small_data,
                        progress=lambda *args: calls.append(args))
    steps = math.ceil(192 / DEFAULT_TRAINING.batch_size)
    assert report.status == "ok"
    assert report.epochs == 2 and report.iterations == 2 * steps
    assert len(report.epoch_losses) == 2 and len(report.epoch_accuracies) == 2
    assert report.val_count == 64
    # the reported accuracy is the network's accuracy on the validation digits
    predictions = net.predict(small_data.val_x)
    assert report.val_correct == int(np.sum(predictions == small_data.val_y))
    assert report.val_accuracy == pytest.approx(report.val_correct / 64)
    assert len(calls) == 2 * steps
    finished = [c for c in calls if c[4]]
    assert [c[0] for c in finished] == [0, 1] and all(c[2] == 1.0 for c in finished)
    assert all(c[1] == 2 for c in calls)
    assert [c[2] for c in calls[:steps]] == pytest.approx([(i + 1) / steps for i in range(steps)])


def test_train_learns_on_a_small_set(small_data):
    _, report = train(epochs=5, seed=0, spec=TINY_SPEC, data=small_data,
                      training=TrainingConfig(augment=False, lr=1e-2, batch_size=32))
    assert report.epoch_losses[-1] < 0.7 * report.epoch_losses[0]
    assert report.val_accuracy > 0.5  # chance is 0.1


def test_limit_and_time_budget(small_data):
    _, report = train(epochs=3, seed=0, spec=TINY_SPEC, data=small_data, limit=64,
                      time_budget=0.0)
    assert report.status == "time budget"
    assert report.iterations == 1 and report.val_count == 64


def test_bad_epochs():
    with pytest.raises(ValueError, match="epochs"):
        train(epochs=0, spec=TINY_SPEC)


@pytest.mark.parametrize("bad", [{"lr": 0.0}, {"lr": float("nan")}, {"lr": True},
                                 {"epochs": 0}, {"epochs": 2.5}, {"batch_size": True},
                                 {"optimizer": "rmsprop"}, {"schedule": "step"},
                                 {"seed": 1.5}])
def test_config_refuses_bad_values(bad):
    with pytest.raises(ValueError):
        TrainingConfig(**bad)


def _hand_loop(data, config, steps):
    """The oracle: a plain loop around Trainer.step() with the cosine formula written
    out here, not TrainingRun's."""
    trainer = Trainer(Network(TINY_SPEC, seed=config.seed), *data, **config.trainer_kwargs())
    total = config.epochs * trainer.iterations_per_epoch
    rates = []
    for i in range(steps):
        lr = config.lr * 0.5 * (1 + math.cos(math.pi * i / total))
        trainer.optimizer.lr = lr
        rates.append(lr)
        trainer.step()
    return trainer, rates


def test_run_follows_the_schedule_and_equals_a_hand_written_loop(small_data):
    config = TrainingConfig(epochs=2, augment=True, seed=3)
    oracle, rates = _hand_loop(small_data, config, steps=2 * 3)
    trainer = Trainer(Network(TINY_SPEC, seed=3), *small_data, **config.trainer_kwargs())
    steps = list(TrainingRun(trainer, config))
    assert len(steps) == 2 * 3  # 192 digits in batches of 64, two epochs
    assert [s.lr for s in steps] == pytest.approx(rates)
    for a, b in zip(_weights(trainer.network), _weights(oracle.network), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [s.epoch_finished for s in steps] == [False, False, True] * 2
    assert [s.run_finished for s in steps] == [False] * 5 + [True]
    first_epoch = [s.result.loss for s in steps[:3]]
    assert steps[2].mean_loss == pytest.approx(np.mean(first_epoch))
    assert steps[3].mean_loss == pytest.approx(steps[3].result.loss)


def test_run_changes_take_effect_at_once(small_data):
    config = TrainingConfig(epochs=1, schedule="constant", lr=1e-3)
    trainer = Trainer(Network(TINY_SPEC, seed=0), *small_data, **config.trainer_kwargs())
    run = TrainingRun(trainer, config)
    assert trainer.lr == 1e-3
    run.set_peak_lr(2e-3)
    assert trainer.lr == 2e-3 and run.step().lr == 2e-3
    run.set_schedule("cosine")
    # step 1 of a 3-step cosine run
    assert trainer.lr == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi / 3)))
    run.set_epochs(2)  # the schedule stretches over 6 steps
    assert trainer.lr == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi / 6)))
    remaining = list(run)
    assert len(remaining) == 5 and remaining[-1].run_finished and run.done
    assert list(run) == []  # a finished run yields nothing more
    run.set_epochs(3)
    assert not run.done and len(list(run)) == 3


def test_run_stops_at_divergence(small_data):
    config = TrainingConfig(epochs=3, lr=1e6, schedule="constant", optimizer="sgd",
                            augment=False)
    trainer = Trainer(Network(TINY_SPEC, seed=0), *small_data, **config.trainer_kwargs())
    steps = list(TrainingRun(trainer, config))
    assert steps[-1].result.status == "diverged" and steps[-1].run_finished
    assert all(s.result.status == "ok" for s in steps[:-1])
    assert len(steps) < 3 * 3
