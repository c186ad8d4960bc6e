"""The pull experiments' statistics and report (analysis/pull_stats.py,
report/pull_report.py) on a synthetic run: shares, slopes, the first screen, escaping."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rtlab.analysis import pull_stats as ps
from rtlab.report import pull_report as pr

SIZES = (0, 50_000_000, 200_000_000)


def _rows(client="docker", network="", rounds=8, seed=1, fail_round=None, per_mb_ms=10.0):
    """Cold trials: pull = 100 ms + per_mb_ms per MB, create 50 ms, start 150 ms, noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for rnd in range(rounds):
        for size in SIZES:
            pull = 0.1 + per_mb_ms * size / 1e6 / 1e3 + rng.normal(0, 0.005)
            for step, wall in (("pull", pull), ("create", 0.05), ("start", 0.15)):
                ok = not (rnd == fail_round and step == "create")
                rows.append(
                    {
                        "run_id": "r",
                        "experiment": "pull",
                        "client": client,
                        "runtime": "runc",
                        "network": network,
                        "compression": "gzip",
                        "cache": "cold",
                        "image_size_bytes": size,
                        "round": rnd,
                        "trial": rnd,
                        "warmup": False,
                        "step": step,
                        "wall_s": wall if ok else np.nan,
                        "ok": ok,
                        "pull_lo_bytes": size + 10_000 if step == "pull" else np.nan,
                    }
                )
    return pd.DataFrame(rows)


def test_the_share_is_the_pulls_part_of_each_complete_trial():
    trials = ps.trials_of(_rows(fail_round=2))
    assert len(trials) == 8 * 3
    broken = trials[trials["round"] == 2]
    assert broken["to_running_s"].isna().all() and broken["share"].isna().all()
    shares = ps.shares(trials)
    big = shares[shares.image_size_bytes == 200_000_000].iloc[0]
    assert big.trials == 8 and big.complete == 7
    expected = 2.1 / (2.1 + 0.2)
    assert abs(big.share - expected) < 0.01
    assert big.share_low <= big.share <= big.share_high  # the median's interval (7 trials)
    zero = shares[shares.image_size_bytes == 0].iloc[0]
    assert abs(zero.share - 0.1 / 0.3) < 0.03


def test_the_slope_is_the_mean_of_the_rounds_slopes_with_its_interval():
    slopes = ps.size_slopes(ps.trials_of(_rows(per_mb_ms=10.0)))
    (row,) = slopes.itertuples(index=False)
    assert abs(row.estimate - 10.0) < 0.2 and row.low < 10.0 < row.high
    assert row.trials == 8 and row.sizes == "0,50,200"


def test_the_first_screen_answers_per_client_and_every_string_is_escaped(tmp_path, monkeypatch):
    frame = pd.concat([_rows(), _rows(client="<b>evil</b>", seed=2)], ignore_index=True)
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setattr(pr, "load_trials", lambda r: frame)
    found = pr.load([run])
    lines = pr.headline(found.shares)
    assert len(lines) == 2 and lines[1].startswith("Through docker over runc, the pull is 91%")
    assert pr.answers([run])["pull"][0][0] == pr.QUESTION
    html = pr.section([run], tmp_path / "out", figures="none").data
    assert "<b>evil</b>" not in html and "&lt;b&gt;evil&lt;/b&gt;" in html
    assert (tmp_path / "out" / "pull_shares.csv").exists()
    assert pr.load([]) is None and pr.answers([]) == {}


def _compression_rows(rounds=10, zstd_factor=0.8, seed=3):
    """ctr: both compressions each round, the round's load (×1 to ×2) on both; zstd's pull
    ``zstd_factor`` of gzip's. docker: its zstd pulls fail (as docker 20.10's do)."""
    rng = np.random.default_rng(seed)
    frames = []
    for client in ("ctr", "docker"):
        for comp in ("gzip", "zstd"):
            f = _rows(client=client, rounds=rounds, seed=seed)
            f["compression"] = comp
            frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    load = pd.Series(rng.uniform(1.0, 2.0, rounds))
    pull = frame["step"] == "pull"
    frame.loc[pull, "wall_s"] *= frame.loc[pull, "round"].map(load).to_numpy()
    ctr_zstd = pull & (frame["client"] == "ctr") & (frame["compression"] == "zstd")
    frame.loc[ctr_zstd, "wall_s"] *= zstd_factor
    docker_zstd = pull & (frame["client"] == "docker") & (frame["compression"] == "zstd")
    frame.loc[docker_zstd, ["wall_s", "ok"]] = [np.nan, False]
    return frame


def test_zstd_against_gzip_is_paired_by_round_with_its_interval():
    pairs = ps.compression_pairs(ps.trials_of(_compression_rows()))
    ctr = pairs[(pairs.client == "ctr") & (pairs.measure == "pull")].set_index("image_size_bytes")
    assert list(ctr.index) == list(SIZES) and (ctr["rounds"] == 10).all()
    # paired by round, the round's load cancels: the ratio is zstd's factor, its CI tight
    assert np.allclose(ctr["ratio"], 0.8, atol=0.01)
    assert (ctr["ratio_low"] <= ctr["ratio"]).all() and (ctr["ratio"] <= ctr["ratio_high"]).all()
    assert (ctr["ratio_high"] - ctr["ratio_low"] < 0.05).all() and (ctr["p"] < 0.01).all()
    # docker keeps its rows, with why there is no ratio
    docker = pairs[pairs.client == "docker"]
    assert len(docker) == 2 * len(SIZES) and docker["ratio"].isna().all()
    assert set(docker["note"]) == {"no zstd trial completed"}
    # unpaired, the round's load would swamp a factor of 0.8: the pairing is what shows it
    shares = ps.shares(ps.trials_of(_compression_rows()))
    ctr_big = shares[(shares.client == "ctr") & (shares.image_size_bytes == 200_000_000)]
    gzip, zstd = (ctr_big[ctr_big.compression == c].iloc[0] for c in ("gzip", "zstd"))
    assert zstd.pull_high > gzip.pull_low  # the medians' intervals overlap


def test_the_compression_table_is_in_the_section_escaped(tmp_path, monkeypatch):
    frame = _compression_rows(rounds=6)
    frame.loc[frame.client == "ctr", "client"] = "<i>ctr</i>"
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setattr(pr, "load_trials", lambda r: frame)
    html = pr.section([run], tmp_path / "out", figures="none").data
    assert 'class="pull-compression"' in html and "zstd / gzip" in html
    assert "<i>ctr</i>" not in html and "&lt;i&gt;ctr&lt;/i&gt;/runc" in html
    assert "no zstd trial completed" in html
    assert (tmp_path / "out" / "pull_compression.csv").exists()


def test_the_console_has_one_line_per_size_never_pooled(tmp_path, monkeypatch):
    from rtlab.report import console

    frame = _compression_rows(rounds=6)
    monkeypatch.setattr(console, "load_trials", lambda r: frame)
    text = console.console_summary(tmp_path)  # what rtlab collect prints at its end
    lines = text.splitlines()
    assert lines[0].startswith("pull: median [95% CI] in ms")
    rows = [line.split() for line in lines[2:]]
    # 2 clients × 3 sizes × 2 compressions, one cold cache: one line each
    assert len(rows) == 12
    assert {(r[0], r[1], r[2]) for r in rows} == {
        (f"{c}/runc", s, z)
        for c in ("ctr", "docker")
        for s in ("0", "50MB", "200MB")
        for z in ("gzip", "zstd")
    }
    big = next(r for r in rows if r[:3] == ["ctr/runc", "200MB", "gzip"])
    assert 2000 < float(big[4]) < 5000 and big[-1] == "6/6"  # 2.1 s × the round's load
    failed = next(r for r in rows if r[:3] == ["docker/runc", "50MB", "zstd"])
    assert failed[4] == "—" and failed[-1] == "0/6"
    assert pr.console_table(frame.iloc[:0]) == "no pull trial to tabulate"
