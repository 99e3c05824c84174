"""Training across processes: two gloo ranks on CPU (loopback only) against one process.

The oracle is the one-process Trainer on the same global batches: two ranks that each take half
of every global batch (7 samples: 4 + 3, an uneven split) must end with the same parameters and
the same reduced metrics, for BPTT and for SLTT (several backward passes per step); only rank 0
writes files, and a two-rank run resumed from its checkpoint equals the uninterrupted run.
"""
import json
import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import spiking.nn as snn  # noqa: E402
from spiking.nn import distributed as dd  # noqa: E402

N_TRAIN, N_VAL, BATCH, T = 23, 9, 7, 6   # batches 7, 7, 7, 2: split 4+3 and 1+1


def _data():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (N_TRAIN + N_VAL,), generator=g)
    rate = torch.full((N_TRAIN + N_VAL, 6), 0.1)
    for c in range(3):
        rate[y == c, 2 * c:2 * c + 2] = 0.6
    x = (torch.rand(T, N_TRAIN + N_VAL, 6, generator=g) < rate).float()
    return x, y


def _model(seed=0):
    torch.manual_seed(seed)
    return snn.Sequential(snn.Linear(6, 12), snn.LIF(0.85, v_th=0.5), snn.Linear(12, 3), snn.LeakyReadout(0.8))


class _Batches:
    """This rank's part of each global batch (DistributedBatchSampler over the training ids)."""

    def __init__(self, x, y, sampler):
        self.x, self.y, self.sampler = x, y, sampler

    def set_epoch(self, epoch):
        self.sampler.set_epoch(epoch)

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        for idx in self.sampler:
            yield self.x[:, idx], self.y[idx]


def _train(strategy, out_dir, epochs, rank, world, *, seed=0, resume=False):
    x, y = _data()
    train_ids = np.arange(N_TRAIN)
    val = dd.shard(N_VAL, rank, world) + N_TRAIN        # validation ids stay out of training
    sampler = dd.DistributedBatchSampler(train_ids, BATCH, seed=5, rank=rank, world_size=world)
    model = _model(seed)
    tr = snn.Trainer(model, torch.optim.Adam(model.parameters(), 2e-2), strategy, out_dir=out_dir,
                     progress=False, seed=1)
    hist = tr.fit(_Batches(x, y, sampler), epochs, val_loader=[(x[:, val], y[val])], resume=resume)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, hist


def _worker(rank, world, port, tmp):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    ctx = dd.init_from_env("gloo")
    assert ctx.world_size == world and dd.is_distributed()
    result = {}
    for strategy in ("bptt", "sltt"):
        own = os.path.join(tmp, f"{strategy}-rank{rank}")   # per-rank folders: rank 1's must stay empty
        os.makedirs(own)
        result[strategy] = _train(strategy, own, 2, rank, world)
    shared = os.path.join(tmp, "resume")
    if rank == 0:
        os.makedirs(shared)
    dd.barrier()
    _train("bptt", shared, 1, rank, world)
    result["resumed"] = _train("bptt", shared, 2, rank, world, seed=7, resume=True)  # other init: must load
    if rank == 0:
        torch.save(result, os.path.join(tmp, "rank0.pt"))
    torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), str(tmp)), nprocs=2, join=True)
    return tmp, torch.load(tmp / "rank0.pt", weights_only=False)


@pytest.mark.parametrize("strategy", ["bptt", "sltt"])
def test_two_ranks_equal_one_process_on_the_same_global_batches(two_ranks, strategy, tmp_path):
    _, result = two_ranks
    params2, hist2 = result[strategy]
    params1, hist1 = _train(strategy, None, 2, 0, 1)
    for name in params1:
        torch.testing.assert_close(params2[name], params1[name], rtol=1e-5, atol=1e-6, msg=name)
    # metrics summed over the ranks are those of the whole global batches and the whole val split
    for h1, h2 in zip(hist1, hist2):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert h2[key] == pytest.approx(h1[key], rel=1e-6, abs=1e-9), key
    # training actually moved the parameters (the comparison is not between two untouched models)
    untouched = _model(0).state_dict()
    assert any(not torch.allclose(untouched[k], params1[k]) for k in params1)


def test_only_rank_zero_writes_files(two_ranks):
    tmp, result = two_ranks
    for strategy in ("bptt", "sltt"):
        assert sorted(p.name for p in (tmp / f"{strategy}-rank0").iterdir()) == ["checkpoint.pt", "metrics.json"]
        assert list((tmp / f"{strategy}-rank1").iterdir()) == []
    written = json.loads((tmp / "bptt-rank0" / "metrics.json").read_text())["epochs"]
    assert [e["val_loss"] for e in written] == pytest.approx([h["val_loss"] for h in result["bptt"][1]])


def test_two_rank_run_resumes_from_its_checkpoint(two_ranks):
    _, result = two_ranks
    uninterrupted, hist = result["bptt"]
    resumed, hist_r = result["resumed"]
    assert [h["epoch"] for h in hist_r] == [1, 2]
    for name in uninterrupted:
        torch.testing.assert_close(resumed[name], uninterrupted[name], rtol=1e-6, atol=1e-7, msg=name)


def test_sampler_splits_every_global_batch_and_keeps_to_its_ids():
    ids = np.arange(100, 123)        # 23 training ids; others (e.g. validation) never drawn
    parts = [dd.DistributedBatchSampler(ids, 7, seed=3, rank=r, world_size=3) for r in range(3)]
    one = dd.DistributedBatchSampler(ids, 7, seed=3, rank=0, world_size=1)
    for p in parts + [one]:
        p.set_epoch(2)
    per_rank = [list(p) for p in parts]
    assert [len(b) for b in per_rank] == [len(p) for p in parts] == [3, 3, 3]   # 7, 7, 7; the last (2 < 3 ranks) dropped
    for k, glob in enumerate(list(one)[:3]):
        joined = sum((per_rank[r][k] for r in range(3)), [])
        assert joined == glob                     # the ranks' parts are the one-process batch, in order
        assert [len(per_rank[r][k]) for r in range(3)] == [3, 2, 2]
    drawn = np.concatenate([np.concatenate(b) for b in per_rank])
    assert set(drawn) <= set(ids) and len(set(drawn)) == drawn.size
    one.set_epoch(3)
    assert list(one) != per_rank and sorted(np.concatenate(list(one))) == sorted(ids)
    assert np.concatenate([dd.shard(10, r, 3) for r in range(3)]).tolist() == list(range(10))


def test_bad_sampler_arguments_are_named():
    with pytest.raises(ValueError, match="batch_size=2 < world_size=3"):
        dd.DistributedBatchSampler(np.arange(10), 2, rank=0, world_size=3)
    with pytest.raises(ValueError, match="rank=3"):
        dd.DistributedBatchSampler(np.arange(10), 4, rank=3, world_size=3)
    with pytest.raises(ValueError, match="distributed=True"):
        model = _model()
        snn.Trainer(model, torch.optim.SGD(model.parameters(), 0.1), distributed=True)
