"""Trainer: strategies by name, metrics JSON per epoch, atomic checkpoints, resume."""
import json

import pytest

torch = pytest.importorskip("torch")

import spiking.nn as snn  # noqa: E402


def _toy(n=64, T=12, seed=0):
    """Two classes: input channels 0-4 or 5-9 fire more often."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    rate = torch.full((n, 10), 0.05)
    rate[y == 0, :5] = 0.5
    rate[y == 1, 5:] = 0.5
    x = (torch.rand(T, n, 10, generator=g) < rate).float()
    return x, y


def _loader(x, y, batch=16):
    return [(x[:, i:i + batch], y[i:i + batch]) for i in range(0, x.shape[1], batch)]


def _model(seed=0):
    torch.manual_seed(seed)
    return snn.Sequential(snn.Linear(10, 16), snn.LIF(0.9, v_th=0.5), snn.Linear(16, 2), snn.LeakyReadout(0.8))


@pytest.mark.parametrize("strategy,opts", [("bptt", {}), ("sltt", {}), ("sltt", {"chunk": 4}), ("sltt-k", {"k": 4})])
def test_training_reduces_loss(strategy, opts):
    x, y = _toy()
    model = _model()
    tr = snn.Trainer(model, torch.optim.Adam(model.parameters(), 1e-2), strategy, progress=False, **opts)
    before = tr.evaluate(_loader(x, y))
    hist = tr.fit(_loader(x, y), epochs=6)
    after = tr.evaluate(_loader(x, y))
    assert len(hist) == 6 and after["loss"] < before["loss"]
    assert after["acc"] >= 0.8


def test_metrics_checkpoint_and_resume(tmp_path):
    x, y = _toy()
    loader = _loader(x, y)

    def trainer(out):
        model = _model(seed=1)
        return snn.Trainer(model, torch.optim.Adam(model.parameters(), 5e-3), "sltt-k", k=5, out_dir=out,
                           progress=False, seed=3, config={"experiment": "toy"})

    # uninterrupted: 4 epochs
    full = trainer(tmp_path / "full")
    full.fit(loader, 4, val_loader=loader)
    # interrupted after 2 epochs, then resumed by a fresh trainer
    part = trainer(tmp_path / "part")
    part.fit(loader, 2, val_loader=loader)
    resumed = trainer(tmp_path / "part")
    hist = resumed.fit(loader, 4, val_loader=loader, resume=True)
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)      # same data order, same SLTT-K draws: identical weights
    metrics = json.loads((tmp_path / "part" / "metrics.json").read_text())
    assert metrics["config"]["strategy"] == "sltt-k" and metrics["config"]["k"] == 5
    assert metrics["config"]["experiment"] == "toy"
    assert metrics["config"]["model"]["layers"][1]["type"] == "LIF"
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3, 4]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "time_s"} <= set(metrics["epochs"][0])
    ck = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)
    assert set(ck) >= {"state_dict", "optimizer", "config", "epoch"} and ck["epoch"] == 4
    # the checkpoint rebuilds the model without the original code path
    model = snn.build_model(ck["config"]["model"])
    model.load_state_dict(ck["state_dict"])
    assert torch.equal(model(x)[0], resumed.model(x)[0])
    # no temporary files left behind
    assert sorted(p.name for p in (tmp_path / "part").iterdir()) == ["checkpoint.pt", "metrics.json"]


def test_resume_refuses_other_strategy(tmp_path):
    x, y = _toy(n=16)
    model = _model()
    snn.Trainer(model, torch.optim.SGD(model.parameters(), 0.1), "bptt", out_dir=tmp_path, progress=False).fit(
        _loader(x, y), 1)
    other = snn.Trainer(model, torch.optim.SGD(model.parameters(), 0.1), "sltt", out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="strategy 'bptt'"):
        other.fit(_loader(x, y), 2, resume=True)


def test_failed_save_leaves_previous_checkpoint(tmp_path, monkeypatch):
    x, y = _toy(n=16)
    model = _model()
    tr = snn.Trainer(model, torch.optim.SGD(model.parameters(), 0.1), "bptt", out_dir=tmp_path, progress=False)
    tr.fit(_loader(x, y), 1)
    before = (tmp_path / "checkpoint.pt").read_bytes()

    def boom(obj, f, *a, **k):
        open(f, "wb").write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        tr.save_checkpoint()
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "metrics.json"]


def test_batch_first_input_and_bad_arguments():
    x, y = _toy(n=16)
    model = _model()
    tr = snn.Trainer(model, torch.optim.SGD(model.parameters(), 0.1), time_first=False, progress=False)
    r = tr.train_step(x.transpose(0, 1), y)
    assert r["n"] == 16
    with pytest.raises(ValueError, match="strategy='tbptt'"):
        snn.Trainer(model, torch.optim.SGD(model.parameters(), 0.1), "tbptt")
    with pytest.raises(ValueError, match="needs k"):
        snn.Trainer(model, torch.optim.SGD(model.parameters(), 0.1), "sltt-k")
    with pytest.raises(ValueError, match="epochs=0"):
        tr.fit(_loader(x, y), 0)


@pytest.mark.parametrize("strategy", ["bptt", "sltt", "sltt-k"])
def test_recurrent_and_conv_models_train_with_every_strategy(strategy):
    torch.manual_seed(0)
    rec = snn.Sequential(snn.Linear(10, 8), snn.RecurrentLIF(8, 0.9, v_th=0.5), snn.Linear(8, 2),
                         snn.LeakyReadout(0.8))
    conv = snn.Sequential(snn.Conv2d(1, 2, 3, padding=1), snn.LIF(0.9, v_th=0.3), snn.Flatten(),
                          snn.Linear(2 * 4 * 4, 2), snn.LeakyReadout(0.8))
    x, y = _toy(n=8)
    for model, inp in ((rec, x), (conv, torch.cat([x, x[..., :6]], -1).reshape(12, 8, 1, 4, 4))):
        tr = snn.Trainer(model, torch.optim.SGD(model.parameters(), 0.1), strategy, k=3, progress=False)
        r = tr.train_step(inp, y)
        assert torch.isfinite(torch.tensor(r["loss"]))
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_scheduler_is_stepped_per_batch_and_resumed(tmp_path):
    """A per-batch learning-rate schedule survives an interruption: the resumed run ends with the
    weights and the learning rate of the uninterrupted one."""
    x, y = _toy()
    loader = _loader(x, y)            # 4 batches per epoch

    def trainer(out):
        model = _model(seed=2)
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=4 * len(loader))
        return snn.Trainer(model, opt, "bptt", out_dir=out, progress=False, scheduler=sched)

    full = trainer(tmp_path / "full")
    full.fit(loader, 4)
    assert full.scheduler.last_epoch == 4 * len(loader)
    trainer(tmp_path / "part").fit(loader, 2)
    resumed = trainer(tmp_path / "part")
    resumed.fit(loader, 4, resume=True)
    assert resumed.optimizer.param_groups[0]["lr"] == full.optimizer.param_groups[0]["lr"]
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    # a checkpoint without scheduler state cannot resume a trainer that has one
    model = _model(seed=2)
    plain = snn.Trainer(model, torch.optim.Adam(model.parameters(), 1e-2), "bptt", out_dir=tmp_path / "plain",
                        progress=False)
    plain.fit(loader, 1)
    with pytest.raises(ValueError, match="scheduler"):
        trainer(tmp_path / "plain").load_checkpoint(tmp_path / "plain" / "checkpoint.pt")
