"""QueCC: architecture, weights on disk, the untrained guard, deterministic training, and that it
learns to use the text query where pooling cannot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _extras import need

need("torch")  # every test here runs compressors on tensors

import torch
from torch import nn

from vlmplanner.compressors import CompressionContext, get_compressor
from vlmplanner.compressors.quecc import QueCC, QueCCData, read_quecc_config, train_quecc
from vlmplanner.errors import InvalidTokenCountError, ValidationError

SMALL: dict[str, int] = {"vision_dim": 8, "multi_dim": 16, "query_dim": 6, "heads": 2}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest (and steadiest on a busy machine) on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def inputs(grid: tuple[int, int], batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, CompressionContext]:
    g = torch.Generator().manual_seed(seed)
    n = grid[0] * grid[1]
    x = torch.randn(batch, n, SMALL["vision_dim"], generator=g)
    return x, CompressionContext(grid, query=torch.randn(batch, SMALL["query_dim"], generator=g),
                                 multi_layer_features=torch.randn(batch, n, SMALL["multi_dim"], generator=g))


@pytest.mark.parametrize(("k", "stride"), [(1, 24), (4, 12), (9, 8), (16, 6), (36, 4), (64, 3), (144, 2)])
def test_kernel_equals_stride(k: int, stride: int) -> None:
    quecc = QueCC(k, grid=(24, 24), allow_untrained=True, seed=0, **SMALL)
    assert quecc.stride == stride and quecc.downsample.kernel_size == (stride, stride)
    assert quecc.downsample.groups == SMALL["vision_dim"]              # depthwise
    out = quecc.compress(*inputs((24, 24), batch=1))
    assert out.features.shape == (1, k, SMALL["vision_dim"])
    assert out.positions[0, 0].tolist() == [(stride - 1) / 2] * 2


def test_paper_configuration() -> None:
    quecc = get_compressor("quecc", 36, allow_untrained=True)
    assert quecc.config == {"visual_tokens": 36, "grid": (24, 24), "vision_dim": 1024, "multi_dim": 4096,
                            "query_dim": 4096, "heads": 8, "multi_layer": True}
    assert quecc.stride == 4 and quecc.required_inputs == ("query", "multi_layer_features")


def test_each_token_sees_only_its_window_and_the_query() -> None:
    quecc = QueCC(4, grid=(4, 4), allow_untrained=True, seed=0, **SMALL)  # 2 x 2 windows of 2 x 2
    x, context = inputs((4, 4), batch=1)
    base = quecc.compress(x, context).features
    x2, multi2 = x.clone(), context.multi_layer_features.clone()  # type: ignore[union-attr]
    x2[0, 15] += 5.0                                                   # token (3, 3): window 3 only
    multi2[0, 15] += 5.0
    moved = quecc.compress(x2, CompressionContext((4, 4), query=context.query,
                                                  multi_layer_features=multi2)).features
    assert torch.equal(moved[0, :3], base[0, :3]) and not torch.allclose(moved[0, 3], base[0, 3])
    other_query = CompressionContext((4, 4), query=context.query + 1.0,  # type: ignore[operator]
                                     multi_layer_features=context.multi_layer_features)
    assert not torch.allclose(quecc.compress(x, other_query).features, base)


def test_untrained_quecc_refuses_to_compress() -> None:
    quecc = QueCC(4, grid=(4, 4), seed=0, **SMALL)
    with pytest.raises(ValidationError) as info:
        quecc.compress(*inputs((4, 4)))
    assert info.value.field == "weights" and "train_quecc" in str(info.value)
    quecc.forward(*inputs((4, 4)))                                     # training loops may run it


def test_width_mismatch_is_named() -> None:
    quecc = QueCC(4, grid=(4, 4), allow_untrained=True, seed=0, **SMALL)
    x, context = inputs((4, 4))
    with pytest.raises(ValidationError) as info:
        quecc.compress(x, CompressionContext((4, 4), query=torch.randn(2, 5),
                                             multi_layer_features=context.multi_layer_features))
    assert info.value.field == "context.query" and "query_dim" in str(info.value)
    with pytest.raises(ValidationError) as info:
        QueCC(4, grid=(4, 4), vision_dim=8, heads=3)
    assert info.value.field == "heads"


def test_weights_round_trip(tmp_path: Path) -> None:
    quecc = QueCC(4, grid=(4, 4), seed=0, **SMALL)
    quecc.mark_trained()
    path = quecc.save_weights(tmp_path / "quecc.safetensors")
    assert read_quecc_config(path)["visual_tokens"] == 4
    x, context = inputs((4, 4))
    expected = quecc.compress(x, context).features
    for loaded in (QueCC.from_weights(path),
                   get_compressor("quecc", 4, weights=path),
                   QueCC(4, grid=(4, 4), seed=1, **SMALL).load_weights(path)):
        assert loaded.is_trained
        assert torch.equal(loaded.compress(x, context).features, expected)


def test_weights_must_match(tmp_path: Path) -> None:
    path = QueCC(4, grid=(4, 4), seed=0, **SMALL).save_weights(tmp_path / "q.safetensors")
    with pytest.raises(InvalidTokenCountError) as info:
        get_compressor("quecc", 1, weights=path)
    assert "trained for 4 tokens" in str(info.value)
    with pytest.raises(ValidationError) as info:
        get_compressor("quecc", 4, weights=path, query_dim=7)
    assert info.value.field == "query_dim"
    with pytest.raises(ValidationError) as info:
        QueCC(4, grid=(4, 4), **{**SMALL, "vision_dim": 4}).load_weights(path)
    assert info.value.field == "vision_dim"
    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ValidationError) as info:
        get_compressor("quecc", 4, weights=other)
    assert "no QueCC weights" in str(info.value)


# -- training ----------------------------------------------------------------------------------

GRID, N, E, CLASSES, DQ, REGIONS = (4, 4), 16, 32, 8, 16, 4


class Readout(nn.Module):
    """Stands in for the LLM: reads the compressed tokens together with the question."""

    def __init__(self, k: int, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = nn.Sequential(nn.Linear(k * E + DQ, 64), nn.GELU(), nn.Linear(64, CLASSES))

    def forward(self, tokens: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([tokens.flatten(1), query], dim=-1))


def region_task(n: int, seed: int) -> QueCCData:
    """4 x 4 patches in 4 quadrants; each quadrant shows one of 8 classes; the query names a
    quadrant and the answer is its class. Patch features carry a 2-D position embedding (as a ViT's
    do) plus the class signal; the query embedding names the quadrant. Pooling to one token mixes
    the quadrants, so only a query-conditioned compressor can keep the one asked about."""
    world = torch.Generator().manual_seed(123)
    class_emb = torch.randn(CLASSES, E, generator=world)
    rows, cols = torch.randn(4, E, generator=world) * 0.7, torch.randn(4, E, generator=world) * 0.7
    position = (rows[:, None] + cols[None]).reshape(N, E)
    region_emb = torch.randn(REGIONS, DQ, generator=world)
    quadrant = torch.tensor([(r // 2) * 2 + c // 2 for r in range(4) for c in range(4)])
    g = torch.Generator().manual_seed(seed)
    classes = torch.randint(0, CLASSES, (n, REGIONS), generator=g)
    asked = torch.randint(0, REGIONS, (n,), generator=g)
    features = class_emb[classes[:, quadrant]] + position + 0.3 * torch.randn(n, N, E, generator=g)
    multi = torch.cat([features, features + 0.3 * torch.randn(n, N, E, generator=g)], dim=-1)
    query = region_emb[asked] + 0.1 * torch.randn(n, DQ, generator=g)
    return QueCCData(features, query, classes[torch.arange(n), asked], multi)


def accuracy(head: nn.Module, tokens: torch.Tensor, data: QueCCData) -> float:
    with torch.no_grad():
        return float((head(tokens, data.query).argmax(-1) == data.targets).float().mean())


def test_training_is_deterministic() -> None:
    data = region_task(128, seed=5)
    trained = []
    for _ in range(2):
        quecc = QueCC(1, grid=GRID, vision_dim=E, multi_dim=2 * E, query_dim=DQ, heads=2, seed=0)
        result = train_quecc(quecc, data, Readout(1), epochs=2, batch_size=32, seed=3)
        assert result.steps == 8 and len(result.losses) == 2 and quecc.is_trained
        trained.append(quecc.state_dict())
    assert all(torch.equal(trained[0][name], trained[1][name]) for name in trained[0])


def test_training_rejects_bad_arguments() -> None:
    quecc = QueCC(1, grid=GRID, vision_dim=E, multi_dim=2 * E, query_dim=DQ, heads=2, seed=0)
    data = region_task(8, seed=5)
    with pytest.raises(ValidationError) as info:
        train_quecc(quecc, data, Readout(1), epochs=0)
    assert info.value.field == "epochs"
    with pytest.raises(ValidationError):
        train_quecc(quecc, QueCCData(data.features, data.query[:4], data.targets), Readout(1))
    with pytest.raises(ValidationError) as info:   # multi-layer QueCC without multi-layer features
        train_quecc(quecc, QueCCData(data.features, data.query, data.targets), Readout(1))
    assert info.value.field == "context.multi_layer_features"


def test_quecc_learns_what_pooling_cannot() -> None:
    """At one token, a trained QueCC answers the question about the queried region; average
    pooling (with the same readout, trained 4x longer on its output) cannot tell the regions apart."""
    start = time.perf_counter()
    train, test = region_task(1024, seed=1), region_task(1000, seed=2)

    quecc = QueCC(1, grid=GRID, vision_dim=E, multi_dim=2 * E, query_dim=DQ, heads=2, seed=0)
    head = Readout(1)
    result = train_quecc(quecc, train, head, epochs=6, batch_size=64, lr=3e-3, seed=0)
    context = CompressionContext(GRID, query=test.query, multi_layer_features=test.multi_layer_features)
    quecc_accuracy = accuracy(head, quecc.compress(test.features, context).features, test)

    pool = get_compressor("pool", 1)
    pooled_train = pool.compress(train.features, CompressionContext(GRID)).features
    pooled_test = pool.compress(test.features, CompressionContext(GRID)).features
    pool_head = Readout(1)
    optimiser = torch.optim.AdamW(pool_head.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(24):
        order = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), 64):
            index = order[i:i + 64]
            loss = nn.functional.cross_entropy(pool_head(pooled_train[index], train.query[index]),
                                               train.targets[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    pool_accuracy = accuracy(pool_head, pooled_test, test)

    print(f"quecc@1 {quecc_accuracy:.3f} pool@1 {pool_accuracy:.3f} ({time.perf_counter() - start:.1f} s)")
    assert result.losses[-1] < result.losses[0]
    assert quecc_accuracy >= 0.9, quecc_accuracy
    assert quecc_accuracy >= pool_accuracy + 0.3, (quecc_accuracy, pool_accuracy)
    assert pool_accuracy < 0.6, pool_accuracy
    assert time.perf_counter() - start < 60
