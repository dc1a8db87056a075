"""antelope.data.feed on its own: a run's dataset opened from its config keys, in memory or streamed, with what the
config left open chosen and said, and each torchrun process's shard."""

import pytest
import torch

from antelope import config
from antelope.data.feed import Feed, Reading, per_rank
from antelope.errors import ConfigError

CPU = torch.device("cpu")


def opened(*overrides, **kwargs):
    cfg, _ = config.compose(["dataset=Digits", *overrides])
    return Feed.open(cfg, {}, CPU, **kwargs)


def test_digits_is_read_into_memory_and_described():
    feed = opened()
    assert feed.reading == Reading(False, "tables and Digits are small: read whole", feed.reading.workers)
    assert feed.choices == {"stream": False, "data_workers": feed.reading.workers}
    assert feed.spec.obs.shape == (1, 8, 8) and feed.spec.num_classes == 10
    assert next(feed.replay).obs.shape == (64, 1, 8, 8) and feed.examples.shape == (5, 1, 8, 8)
    assert [r["context"] for r in feed.records] == ["train", "eval"] and feed.records[0]["name"] == "Digits"
    assert len(feed.records[0]["features"]) + len(feed.records[1]["features"]) == 1797
    assert opened(record=False).records == ()
    assert str(feed.reading).startswith("in memory (tables and Digits are small")


def test_each_process_takes_every_world_th_sample_and_its_share_of_the_batch():
    whole, half = opened(), opened(rank=1, world=2)
    assert torch.equal(half.replay.obs, whole.replay.obs[1::2]) and half.replay.batch_size == 32
    assert per_rank(8, 2) == 4
    with pytest.raises(ConfigError, match="batch_size=7 must divide by the 2 processes"):
        per_rank(7, 2)


def test_streamed_data_is_chosen_and_said_why():
    feed = opened("stream=true", "data_workers=0")
    try:
        assert feed.reading == Reading(True, "stream=true was set", 0)
        assert str(feed.reading) == "streamed in the training process (stream=true was set)"
        assert next(feed.replay).obs.shape == (64, 1, 8, 8)
    finally:
        feed.close()


def test_augment_needs_images_and_generate_needs_the_test_split_in_memory(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 5.0], "label": [0, 1, 0, 1, 0]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ConfigError, match=r"augment=\['flip'\] needs images"):
        opened(f"dataset={tmp_path / 't.csv'}", "augment=[flip]")
    with pytest.raises(ConfigError, match="generate=true compares its samples with the test split held in memory"):
        opened("stream=true", "generate=true")
