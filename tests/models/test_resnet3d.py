"""resnet3d: tiny-config shapes and training, STC placement, full-size parameter counts."""
import keras
import numpy as np
import pytest

from actionzoo.layers.stc_block import STCBlock
from actionzoo.layers.zero_pad_shortcut import ZeroPadShortcut
from actionzoo.models.resnet3d import resnet3d

TINY = {"clip_length": 8, "input_size": 32, "num_classes": 3, "width": 0.125}


def _clips(n=2, t=8, size=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, t, size, size, 3)).astype("float32")


def _n_params(model):
    """Hara et al. count PyTorch ``parameters()``: BN gamma/beta, not running stats."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("kwargs", [
    {"depth": 18}, {"depth": 18, "stc": True},
    {"depth": 50, "cardinality": 4, "stc": True, "branches": ("spatial",)},
])
def test_tiny_model_shapes_and_training_step(kwargs):
    model = resnet3d(**kwargs, **TINY)
    x = _clips()
    assert tuple(model(x).shape) == (2, 3)
    embedding_width = model.get_layer("embedding").output.shape[-1]
    assert embedding_width == model.get_layer("logits").input.shape[-1]
    model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True,  # one step: skip tracing
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(x, np.array([0, 2]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [w.numpy() for w in model.trainable_weights]
    changed = [not np.allclose(a, b) for a, b in zip(before, after, strict=True)]
    assert sum(changed) > len(changed) // 2


def test_stage_sizes_follow_table_1():
    model = resnet3d(depth=18, clip_length=16, input_size=112, width=0.125)
    sizes = [tuple(model.get_layer(f"conv{s}_block1_out").output.shape[1:4]) for s in (2, 3, 4, 5)]
    assert sizes == [(8, 28, 28), (4, 14, 14), (2, 7, 7), (1, 4, 4)]


@pytest.mark.parametrize("depth, n_blocks", [(18, 8), (50, 16)])
def test_one_stc_block_per_residual_block_before_the_add(depth, n_blocks):
    model = resnet3d(depth=depth, stc=True, **TINY)
    stc = [layer for layer in model.layers if isinstance(layer, STCBlock)]
    assert len(stc) == n_blocks
    for layer in stc:
        block = layer.name[: -len("_stc")]
        add = model.get_layer(f"{block}_add")
        assert layer.output in add.input  # the add sums the STC output and the shortcut
        last_bn = model.get_layer(f"{block}_{2 if depth < 50 else 3}_bn")
        assert layer.input is last_bn.output


def test_include_top_false_returns_embedding():
    model = resnet3d(depth=18, include_top=False, **TINY)
    assert tuple(model.output.shape) == (None, 64)


def test_shortcut_a_has_no_parameters_and_b_adds_projections():
    a = resnet3d(depth=18, shortcut="A", **TINY)
    b = resnet3d(depth=18, shortcut="B", **TINY)
    assert any(isinstance(layer, ZeroPadShortcut) for layer in a.layers)
    assert not any(layer.name.endswith("_0_conv") for layer in a.layers)
    # 3 projections (stages 2-4): conv c_in*c_out + BN 2*c_out
    widths = [8, 16, 32, 64]
    extra = sum(cin * cout + 2 * cout for cin, cout in zip(widths, widths[1:], strict=False))
    assert _n_params(b) - _n_params(a) == extra


def test_downsample_position():
    hara = resnet3d(depth=50, **TINY)
    caffe = resnet3d(depth=50, downsample="1x1", **TINY)
    assert hara.get_layer("conv3_block1_2_conv").strides == (2, 2, 2)
    assert hara.get_layer("conv3_block1_1_conv").strides == (1, 1, 1)
    assert caffe.get_layer("conv3_block1_1_conv").strides == (2, 2, 2)
    assert caffe.get_layer("conv3_block1_2_conv").strides == (1, 1, 1)
    assert tuple(caffe(_clips()).shape) == (2, 3)


def test_resnext_uses_grouped_conv():
    model = resnet3d(depth=50, cardinality=4, **TINY)
    conv = model.get_layer("conv2_block1_2_conv")
    assert conv.groups == 4 and tuple(conv.kernel.shape) == (3, 3, 3, 1, 4)


def test_stc_model_for_one_clip_length_rejects_another():
    model = resnet3d(depth=18, stc=True, **TINY)
    with pytest.raises(ValueError, match=r"\(None, 8, 32, 32, 3\).*\(2, 4, 32, 32, 3\)"):
        model(_clips(t=4))


def test_spatial_stc_needs_a_clip_length_but_temporal_stc_does_not():
    with pytest.raises(ValueError, match="clip length T"):
        resnet3d(depth=18, stc=True, **{**TINY, "clip_length": None})
    model = resnet3d(depth=18, stc=True, branches=("temporal",), **{**TINY, "clip_length": None})
    assert tuple(model(_clips(t=4)).shape) == tuple(model(_clips(t=8)).shape) == (2, 3)


@pytest.mark.parametrize("kwargs", [
    {"depth": 20}, {"depth": 18, "cardinality": 32}, {"depth": 50, "shortcut": "C"},
    {"depth": 18, "downsample": "1x1"}, {"depth": 50, "width": 0},
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        resnet3d(**kwargs)


@pytest.mark.parametrize("kwargs, expected", [
    ({"depth": 18}, 33.2e6), ({"depth": 34}, 63.5e6), ({"depth": 50}, 47.0e6),
    ({"depth": 101}, 86.1e6), ({"depth": 101, "cardinality": 32}, 48.3e6),
])
def test_parameter_counts_match_hara_et_al(kwargs, expected):
    """Hara et al. (CVPR 2018) Kinetics models, 400 classes; built, never run."""
    n = _n_params(resnet3d(num_classes=400, **kwargs))
    assert abs(n - expected) / expected < 0.02, f"{n / 1e6:.2f}M vs {expected / 1e6}M"


def test_flops_count_every_layer_and_stc_adds_little():
    from actionzoo.flops import count_flops

    plain, stc = resnet3d(depth=18, **TINY), resnet3d(depth=18, stc=True, **TINY)
    conv1 = 8 * 16 * 16 * 8 * 7 * 7 * 7 * 3  # (T, H/2, W/2, C) outputs * kernel volume * C_in
    assert count_flops(plain) > conv1
    assert 1.0 < count_flops(stc) / count_flops(plain) < 1.05


def test_keras_file_round_trip(tmp_path):
    model = resnet3d(depth=18, stc=True, **TINY)  # STCBlock and ZeroPadShortcut layers
    x = _clips()
    path = str(tmp_path / "model.keras")
    model.save(path)
    revived = keras.saving.load_model(path)
    np.testing.assert_allclose(revived(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_single_branch_by_name():
    model = resnet3d(depth=18, stc=True, branches="temporal", **TINY)
    stc_blocks = [layer for layer in model.layers if isinstance(layer, STCBlock)]
    assert {layer.branches for layer in stc_blocks} == {("temporal",)}
