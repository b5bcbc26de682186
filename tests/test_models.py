"""Every model: embed -> [B, E], logits -> [B, K], any number of frames, options checked."""

import pytest
import torch

from voxprint.config import ModelConfig
from voxprint.errors import ConfigError
from voxprint.models import MODELS, build_net

# Models whose sizes the config sets; `encoder` has the shipped weights' sizes (tested below).
FREE = sorted(m for m in MODELS if not hasattr(MODELS[m], "fixed_features"))


@pytest.mark.parametrize("name", FREE)
@pytest.mark.parametrize("dim", [17, 20, 40])
def test_shapes_and_variable_length(name, dim):
    net = build_net(ModelConfig(name=name, embed_dim=32), dim, 5).eval()
    for frames in (12, 101, 333):
        logits, emb = net(torch.randn(3, dim, frames))
        assert logits.shape == (3, 5) and emb.shape == (3, 32)
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", FREE)
def test_batch_independent_in_eval(name):
    """Eval mode: an example's output does not depend on the rest of the batch."""
    net = build_net(ModelConfig(name=name), 20, 4).eval()
    x = torch.randn(4, 20, 50)
    with torch.no_grad():
        together = net(x)[0]
        alone = torch.cat([net(x[i : i + 1])[0] for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-4)


def test_encoder_starts_from_the_shipped_weights_with_their_sizes():
    import torch

    from voxprint.inference import Recognizer

    shipped = Recognizer()
    net = build_net(ModelConfig(name="encoder", embed_dim=32), 40, 5).eval()
    x = torch.rand(2, 40, 80)
    logits, emb = net(x)
    assert logits.shape == (2, 5) and emb.shape == (2, 256)
    with torch.no_grad():
        assert torch.allclose(emb, shipped.net.embed(x), atol=1e-5)  # same embedding before any training
    with pytest.raises(ConfigError, match="40 mel bands"):
        build_net(ModelConfig(name="encoder"), 20, 5)


def test_unknown_model_and_option_are_rejected():
    with pytest.raises(ConfigError, match="valid: cnn, crnn, encoder, ge2e, lstm"):
        build_net(ModelConfig(name="transformer"), 20, 3)
    with pytest.raises(ConfigError, match="valid: channels"):
        build_net(ModelConfig(name="cnn", options={"chanels": [8]}), 20, 3)
    net = build_net(ModelConfig(name="cnn", options={"channels": [8, 16]}), 20, 3)
    assert net.backbone.blocks[-1][0].out_channels == 16


def test_aam_head_margin_lowers_target_logit_only():
    net = build_net(ModelConfig(name="lstm", head="aam", aam_margin=0.3, aam_scale=10.0), 20, 4).eval()
    emb = net.embed(torch.randn(6, 20, 40))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    plain, margin = net.head(emb), net.training_logits(emb, y)
    target = torch.nn.functional.one_hot(y, 4).bool()
    assert (margin[target] < plain[target]).all()
    assert torch.allclose(margin[~target], plain[~target])
    assert plain.abs().max() <= 10.0 + 1e-4  # s * cos


def test_normalisation_is_part_of_the_model():
    net = build_net(ModelConfig(name="cnn"), 8, 3).eval()
    x = torch.randn(2, 8, 30) * 5 + 3
    net.set_normalisation(torch.full((8,), 3.0), torch.full((8,), 5.0))
    a = net.embed(x)
    state = net.state_dict()
    assert "feat_mean" in state and "feat_std" in state
    other = build_net(ModelConfig(name="cnn"), 8, 3).eval()
    other.load_state_dict(state)
    assert torch.allclose(other.embed(x), a)


def test_sizes_are_checked_before_anything_is_allocated():
    from voxprint.models import MAX_PARAMS

    with pytest.raises(ConfigError, match="model.options.channels = \\[1000000000\\]; valid: an integer 1-4096"):
        build_net(ModelConfig(name="cnn", options={"channels": [1_000_000_000]}), 20, 3)
    with pytest.raises(ConfigError, match="model.options.hidden"):
        build_net(ModelConfig(name="lstm", options={"hidden": 2.5}), 20, 3)
    # every size in range, but together too big: counted on the meta device, refused
    with pytest.raises(ConfigError, match=f"weights; at most {MAX_PARAMS:,}"):
        build_net(ModelConfig(name="cnn", embed_dim=4096), 20, 100_000)


def test_tdnn_pools_its_frames_and_with_input_stats_its_input_too():
    import torch

    from voxprint.models.tdnn import TDNN

    x = torch.randn(3, 20, 101)
    with_in, without = TDNN(20, 64, channels=32), TDNN(20, 64, channels=32, input_stats=False)
    assert with_in.embed(x).shape == without.embed(x).shape == (3, 64)
    n = lambda m: sum(p.numel() for p in m.parameters())
    assert n(with_in) - n(without) == 2 * 20 * 64  # the input's mean and std reach the embedding
    with_in.eval()
    shifted = x.clone()
    shifted[:, 0] += 5.0  # a change the input statistics see
    assert not torch.allclose(with_in.embed(x), with_in.embed(shifted))


def test_stats_hears_the_input_statistics_only_not_the_order_of_frames():
    import torch

    from voxprint.models.stats import Stats

    net = Stats(20, 32, hidden=16, layers=2).eval()
    x = torch.randn(3, 20, 101)
    shuffled = x[:, :, torch.randperm(101)]
    assert net.embed(x).shape == (3, 32)
    assert torch.allclose(net.embed(x), net.embed(shuffled), atol=1e-5)  # frame order carries nothing
    louder = x.clone()
    louder[:, 3] *= 2.0  # a band's spread changes: the embedding must move
    assert not torch.allclose(net.embed(x), net.embed(louder), atol=1e-3)


@pytest.mark.parametrize("name", ["cnn", "crnn"])
def test_conv_stack_gives_what_the_relu_first_nchw_blocks_gave(name):
    """Pooling before the ReLU, in channels-last order, is a speed change only: the same outputs and input
    gradients as conv, BN, ReLU, max-pool in the default order, and the same parameter names."""
    net = build_net(ModelConfig(name=name, embed_dim=16), 17, 3).train()
    old = torch.nn.Sequential(*[torch.nn.Sequential(b[0], b[1], torch.nn.ReLU(), b[2]) for b in net.backbone.blocks])
    assert [k for k, _ in old.named_parameters()] == [k for k, _ in net.backbone.blocks.named_parameters()]
    x = torch.randn(4, 1, 17, 40, requires_grad=True)
    y_old = old(x)
    x_new = x.detach().clone().requires_grad_(True)
    y_new = net.backbone.blocks(x_new.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(y_new, y_old, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y_old)
    y_old.backward(g)
    y_new.backward(g)
    torch.testing.assert_close(x_new.grad, x.grad, rtol=1e-4, atol=1e-5)


def test_lstm_steps_over_stacked_frame_pairs_and_stride_1_is_the_plain_lstm():
    from voxprint.models.lstm import LSTM

    seen = []
    for stride, frames, steps in ((2, 101, 50), (2, 100, 50), (1, 101, 101), (3, 30, 10)):
        net = LSTM(20, stride=stride).eval()
        hook = net.rnn.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape))
        with torch.no_grad():
            emb = net.embed(torch.randn(2, 20, frames))
        hook.remove()
        assert seen[-1] == (2, steps, 20 * stride) and emb.shape == (2, 128)
    # the stacking is learned: a change in either frame of a pair changes the embedding
    net = LSTM(20).eval()
    x = torch.randn(1, 20, 40)
    y = x.clone()
    y[0, :, 1] += 1.0  # the second frame of the first pair
    with torch.no_grad():
        assert not torch.allclose(net.embed(x), net.embed(y))
