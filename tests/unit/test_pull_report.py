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
