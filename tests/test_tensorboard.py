"""What TensorBoard makes of a logdir with runs of two models, two seeds and two data sets, read
with TensorBoard's own HParams backend: the columns it shows are the union of all runs' keys."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # five tiny runs, shared with test_report.py


def hparams_experiment(logdir):
    """The HParams experiment as TensorBoard's backend computes it for its HParams tab."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    tb = base_plugin.TBContext(data_provider=data_provider.MultiplexerDataProvider(mux, str(logdir)),
                               multiplexer=mux, logdir=str(logdir))
    ctx, request = backend_context.Context(tb), context.RequestContext()
    return ctx.experiment_from_metadata(request, "", True, ctx.hparams_metadata(request, ""), [])


def test_hparams_columns_are_the_union_of_every_runs_keys_what_sets_runs_apart_first(two_data_sets):
    from lit_modules import MODELS

    experiment = hparams_experiment(two_data_sets)
    names = [h.name for h in experiment.hparam_infos]
    assert set(MODELS["lenet"].all_defaults()) | set(MODELS["vgg_bn"].all_defaults()) <= set(names)
    assert "width" in names and "width" not in MODELS["lenet"].all_defaults()  # vgg_bn's alone
    # The table opens on its first five columns: what says which run it is, where it differs between
    # runs (all five runs changed the same keys: "Changed" does not), then keys that differ.
    assert names[:3] == ["Dataset", "Model", "Seed"]
    differs = {h.name: h.differs for h in experiment.hparam_infos}
    assert all(differs[n] for n in names[:5]) and not differs["Changed"]
    metrics = {(m.name.group, m.name.tag) for m in experiment.metric_infos}
    assert {(s, t) for s in ("train", "val", "test") for t in ("acc", "loss")} <= metrics
    assert {("val", "result/acc"), ("test", "result/acc")} <= metrics


def test_every_run_has_its_stage_folders_text_and_confusion_image(two_data_sets):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = sorted(p for p in two_data_sets.glob("*/version_*"))
    assert len(runs) == 5
    for run in runs:
        events = EventAccumulator(str(run), size_guidance={"tensors": 0, "images": 0}).Reload()
        text = events.Tensors("about/text_summary")[0].tensor_proto.string_val[0].decode()
        classes = "3 classes: a, b, c" if "folder" in text.splitlines()[0] else "10 classes: airplane"
        assert f"**{run.parent.name}**" in text and classes in text
        assert [e.step for e in events.Images("best/confusion matrix (test set)")]
        for stage in ("train", "val", "test"):
            stage_events = EventAccumulator(str(run / stage)).Reload()
            assert [e.step for e in stage_events.Scalars("acc")] == [1, 2]


def test_the_hparams_changed_column_names_each_change_in_one_cell():
    from callbacks.tensorboard import flat_hparams

    info = {"model": "vgg_bn", "data": {}, "seed": 0, "precision": "32", "recipe": {"model": {"lr": 0.02}},
            "changes": {"lr": 0.02, "batchnorm": False}}
    assert flat_hparams(info)["Changed"] == "lr=0.02 batchnorm=False"  # spaces: a narrow column
    assert flat_hparams({**info, "changes": {}})["Changed"] == "defaults"
