"""Models: parameter count of WRN-28-2, shapes, forward_features vs forward, Learning-Loss module."""

import pytest
import torch

from alkit.engine.models import MODEL_NAMES, LossPredictionModule, build_model, count_parameters


def test_wrn_28_2_has_about_1_47m_parameters():
    n = count_parameters(build_model("wrn-28-2", 10))
    assert 1_400_000 <= n <= 1_600_000, n


@pytest.mark.parametrize("name,channels,size", [("wrn-28-2", 3, 32), ("resnet18", 3, 32),
                                                ("small-cnn", 3, 32), ("small-cnn", 1, 8)])
def test_forward_shapes_and_features(name, channels, size):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, in_channels=channels, image_size=size).eval()
    x = torch.randn(3, channels, size, size)
    with torch.no_grad():
        logits = model(x)
        logits2, emb, taps = model.forward_features(x)
    assert logits.shape == (3, 7)
    assert emb.shape == (3, model.embedding_dim)
    assert 3 <= len(taps) <= 4 and [t.shape[1] for t in taps] == model.tap_channels
    assert all(t.dim() == 4 and t.shape[0] == 3 for t in taps)
    torch.testing.assert_close(logits, logits2)
    torch.testing.assert_close(model.fc(emb), logits)  # the embedding is the classifier's input
    pred = LossPredictionModule(model.tap_channels)(taps)
    assert pred.shape == (3,)


def test_models_train_step_backpropagates_into_taps():
    model = build_model("small-cnn", 10, in_channels=1, image_size=8)
    lossnet = LossPredictionModule(model.tap_channels, hidden=16)
    logits, _, taps = model.forward_features(torch.randn(4, 1, 8, 8))
    (logits.sum() + lossnet(taps).sum()).backward()
    assert model.stages[0][0].weight.grad is not None  # the first convolution
    assert lossnet.head.weight.grad is not None


def test_unknown_model_and_bad_taps_are_refused():
    with pytest.raises(ValueError, match="wrn-28-2"):
        build_model("vgg16", 10)
    with pytest.raises(ValueError, match="image_size"):
        build_model("resnet18", 10, image_size=4)
    with pytest.raises(ValueError, match="taps"):
        LossPredictionModule([8, 16])([torch.randn(2, 8, 4, 4)])


def test_model_names_all_build():
    for name in MODEL_NAMES:
        assert count_parameters(build_model(name, 10, 3, 32)) > 0
