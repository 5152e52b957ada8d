"""Datasets and models plug in like strategies: one plug-in file registers a dataset and a model
(alkit.register_dataset / register_model) and both run through ``alkit run`` (in two worker
processes, which load the file again) and ``alkit sweep``; the built-ins are registered the same way."""

import textwrap

import pandas as pd
import pytest
import yaml

from alkit import cli

PLUGIN = textwrap.dedent('''
    """A plug-in: half of the digits as a dataset of its own, and a one-layer network."""
    import torch
    from torch import nn

    import alkit
    from alkit.engine.data import ImageDataset, load_dataset


    def load_even_digits(root, download, **options):
        """The digits 0-4 of the embedded digits (their labels kept)."""
        d = load_dataset("digits")
        keep, test = d.train_y < 5, d.test_y < 5
        return ImageDataset(name="even-digits", train_x=d.train_x[keep], train_y=d.train_y[keep],
                            test_x=d.test_x[test], test_y=d.test_y[test], classes=d.classes[:5],
                            mean=d.mean, std=d.std)


    class TinyNet(nn.Module):
        """forward_features(x) -> (logits, embedding [B, 32], taps)."""

        def __init__(self, num_classes, in_channels, image_size):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size ** 2, 32), nn.ReLU())
            self.fc = nn.Linear(32, num_classes)
            self.tap_channels, self.embedding_dim = [], 32

        def forward_features(self, x):
            emb = self.body(x)
            return self.fc(emb), emb, []

        def forward(self, x):
            return self.forward_features(x)[0]


    alkit.register_dataset("half-digits", load_even_digits, kind="classification", recipe="digits",
                           model="tiny-net")
    alkit.register_model("tiny-net", TinyNet)
''')


@pytest.fixture
def plugin(tmp_path):
    p = tmp_path / "my_plugin.py"
    p.write_text(PLUGIN)
    yield p
    from alkit.engine.data import unregister_dataset
    from alkit.engine.models import unregister_model

    unregister_dataset("half-digits")
    unregister_model("tiny-net")


def test_the_builtins_are_registered_like_a_plugin():
    from alkit.engine.data import dataset_names, dataset_spec
    from alkit.engine.models import model_names

    assert dataset_names() == ("digits", "cifar10", "cifar100", "shapes", "voc")
    assert all(dataset_spec(n).builtin for n in dataset_names())
    assert model_names() == ("wrn-28-2", "resnet18", "small-cnn")
    assert model_names("segmentation") == ("small-seg", "deeplabv2-resnet101", "deeplabv2-resnet50")
    import alkit

    with pytest.raises(ValueError, match="built in"):
        alkit.register_dataset("digits", lambda root, download: None, kind="classification")
    with pytest.raises(ValueError, match="built in"):
        alkit.register_model("small-cnn", lambda k, c, s: None)


def test_plugin_dataset_and_model_through_run_in_two_workers(tmp_path, plugin, capsys):
    out = tmp_path / "o"
    code = cli.main(["run", "--plugin", str(plugin), "--dataset", "half-digits", "--strategies", "random,entropy",
                     "--initial", "10", "--step", "10", "--cycles", "1", "--trials", "1", "--epochs", "2", "--min-steps", "0",
                     "--workers", "2", "--runs-dir", str(tmp_path / "runs"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    df = pd.read_csv(out / "results.csv")
    assert set(df.dataset) == {"half-digits"} and len(df) == 4
    assert df.accuracy.between(0, 1).all()
    import json

    configs = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("config.json")]
    assert {c["model"] for c in configs} == {"tiny-net"}  # the dataset's default model, by the plug-in
    # a mistyped plug-in name is one line, like a built-in's
    assert cli.main(["run", "--plugin", str(plugin), "--dataset", "half-digits", "--model", "tiny-nett",
                     "--out", str(out)]) == 2
    assert "--model: unknown model 'tiny-nett' (did you mean 'tiny-net'?)" in capsys.readouterr().err


def test_plugin_dataset_and_model_through_sweep(tmp_path, plugin, capsys):
    pytest.importorskip("distributed")
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"fixed": dict(dataset="half-digits", strategies=["random"], trials=1, initial=10,
                                                  step=10, cycles=1, epochs=2, min_steps=0, model="tiny-net"),
                                    "axes": dict(augment=["none", "paper"])}))
    out = tmp_path / "out"
    code = cli.main(["sweep", "--grid", str(grid), "--plugin", str(plugin), "--out", str(out), "--workers", "1",
                     "--runs-dir", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    df = pd.read_csv(out / "results.csv")
    assert set(df.dataset) == {"half-digits"} and set(df.model) == {"tiny-net"} and len(df) == 4


def test_a_file_registering_nothing_is_one_line(tmp_path, capsys):
    f = tmp_path / "empty.py"
    f.write_text("x = 1\n")
    assert cli.main(["run", "--plugin", str(f), "--out", str(tmp_path / "o")]) == 2
    assert "registers no strategy" in capsys.readouterr().err


SEG_PLUGIN = textwrap.dedent('''
    """A plug-in segmentation network: two convolutions, logits at the input's size."""
    import torch.nn.functional as F
    from torch import nn

    import alkit


    class TinySeg(nn.Module):
        def __init__(self, num_classes, pretrained=None):
            super().__init__()
            if pretrained:
                raise ValueError("tiny-seg has no pretrained weights")
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
            self.classifier = nn.Conv2d(8, num_classes, 1)
            self.tap_channels = [8, 8, 8, 8]

        def forward_features(self, x):
            h = self.body(x)
            logits = F.interpolate(self.classifier(h), size=x.shape[-2:], mode="bilinear", align_corners=False)
            return logits, [h, h, h, h]

        def forward(self, x):
            return self.forward_features(x)[0]


    alkit.register_model("tiny-seg", TinySeg, kind="segmentation")
''')


def test_plugin_segmentation_model_through_run(tmp_path, capsys):
    p = tmp_path / "seg_plugin.py"
    p.write_text(SEG_PLUGIN)
    out = tmp_path / "o"
    try:
        code = cli.main(["run", "--plugin", str(p), "--dataset", "shapes", "--model", "tiny-seg", "--strategies",
                         "random,entropy", "--initial", "200", "--step", "100", "--cycles", "1", "--trials", "1",
                         "--epochs", "1", "--workers", "1", "--runs-dir", str(tmp_path / "runs"), "--out", str(out)])
        assert code == 0, capsys.readouterr().err
        df = pd.read_csv(out / "results.csv")
        assert len(df) == 4 and df.miou.between(0, 1).all()
        import json

        assert {json.loads(c.read_text())["model"] for c in (tmp_path / "runs").rglob("config.json")} == {"tiny-seg"}
        assert cli.main(["run", "--plugin", str(p), "--dataset", "shapes", "--model", "tiny-segg",
                         "--out", str(out)]) == 2
        assert "unknown model 'tiny-segg' (did you mean 'tiny-seg'?)" in capsys.readouterr().err
    finally:
        from alkit.engine.models import unregister_model

        unregister_model("tiny-seg", "segmentation")
