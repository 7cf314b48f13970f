"""Parity with PyTorch's nn.RNN / nn.LSTM / nn.GRU on the same weights (float64), masked and unmasked."""

import numpy as np
import pytest

import glassnet as g
from glassnet.nn.layers.recurrent import mask_from_lengths

torch = pytest.importorskip("torch")

TORCH = {g.SimpleRNN: "RNN", g.LSTM: "LSTM", g.GRU: "GRU"}


def copy_weights(layer, net, layer_index=0):
    """glassnet weights -> a torch module: W = weight_ih^T, U = weight_hh^T, biases split as documented."""
    H = layer.hidden
    for d, (W, U, b, *rest) in enumerate(layer.directions):
        sfx = f"_l{layer_index}" + ("_reverse" if d else "")
        getattr(net, "weight_ih" + sfx).data = torch.from_numpy(W.value.T.copy())
        getattr(net, "weight_hh" + sfx).data = torch.from_numpy(U.value.T.copy())
        b_hh = np.zeros_like(b.value)
        if rest:                                    # GRU: PyTorch's b_hn sits inside r * (...)
            b_hh[2 * H:] = rest[0].value
        getattr(net, "bias_ih" + sfx).data = torch.from_numpy(b.value.copy())
        getattr(net, "bias_hh" + sfx).data = torch.from_numpy(b_hh)


def grads_of(layer, net, layer_index=0):
    """(glassnet grad, torch grad) pairs in glassnet's layout."""
    H, pairs = layer.hidden, []
    for d, (W, U, b, *rest) in enumerate(layer.directions):
        sfx = f"_l{layer_index}" + ("_reverse" if d else "")
        pairs += [(W.grad, getattr(net, "weight_ih" + sfx).grad.numpy().T),
                  (U.grad, getattr(net, "weight_hh" + sfx).grad.numpy().T)]
        gb = getattr(net, "bias_ih" + sfx).grad.numpy()
        ghh = getattr(net, "bias_hh" + sfx).grad.numpy()
        if rest:
            pairs += [(b.grad, gb), (b.grad[:2 * H], ghh[:2 * H]), (rest[0].grad, ghh[2 * H:])]
        else:
            pairs += [(b.grad, gb), (b.grad, ghh)]
    return pairs


@pytest.mark.parametrize("cls", list(TORCH))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_matches_pytorch(cls, bidirectional, masked, return_sequences):
    rng = np.random.default_rng(7)
    B, T, n_in, H = 5, 9, 3, 4
    layer = cls(n_in, H, return_sequences=return_sequences, bidirectional=bidirectional, seed=3, dtype="float64")
    for p in layer.parameters():
        p.value += 0.2 * rng.standard_normal(p.value.shape)
    net = getattr(torch.nn, TORCH[cls])(n_in, H, batch_first=True, bidirectional=bidirectional).double()
    copy_weights(layer, net)
    lengths = np.array([9, 4, 1, 7, 6]) if masked else np.full(B, T)
    x = rng.normal(size=(B, T, n_in))
    x[mask_from_lengths(lengths, T) == 0] = 0.0
    D = 2 if bidirectional else 1
    G = rng.normal(size=(B, T, D * H) if return_sequences else (B, D * H))

    layer.fixed_mask = mask_from_lengths(lengths, T) if masked else None
    y = layer.forward(x)
    dx = layer.backward(G)

    xt = torch.from_numpy(x).requires_grad_(True)
    if masked:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.from_numpy(lengths), batch_first=True,
                                                         enforce_sorted=False)
        out, state = net(packed)
        out = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)[0]
    else:
        out, state = net(xt)
    h_n = state[0] if cls is g.LSTM else state
    last = torch.cat([h_n[d] for d in range(D)], dim=-1)
    yt = out if return_sequences else last
    (yt * torch.from_numpy(G)).sum().backward()

    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    for ours, theirs in grads_of(layer, net):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("cls", list(TORCH))
def test_stacked_matches_pytorch_two_layers(cls):
    """Two stacked glassnet layers = one torch module with num_layers=2 (float32, the default dtype)."""
    rng = np.random.default_rng(0)
    first = cls(3, 5, return_sequences=True, bidirectional=True, seed=0)
    second = cls(10, 5, return_sequences=True, bidirectional=True, seed=1)
    net = getattr(torch.nn, TORCH[cls])(3, 5, num_layers=2, batch_first=True, bidirectional=True)
    copy_weights(first, net, 0)
    copy_weights(second, net, 1)
    x = rng.normal(size=(4, 12, 3)).astype(np.float32)
    y = second.forward(first.forward(x))
    np.testing.assert_allclose(y, net(torch.from_numpy(x))[0].detach().numpy(), rtol=1e-4, atol=1e-5)
