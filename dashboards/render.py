#!/usr/bin/env python3
"""Render the top of the overview dashboard to a picture, from its own queries (a script, not a test).

    python dashboards/render.py [--seconds 120] [--out docs/img/overview.png]

Starts ``pf_exporter --simulate`` and a real Prometheus (Debian's ``prometheus``) scraping it every
second with the shipped recording rules, lets them run, then draws the dashboard's first rows
(Status, Limits, States) as Grafana lays them out (its gridPos), each panel from its queries'
answers: stat panels as their value, bar gauges as bars, time series as lines.  Needs matplotlib.
Grafana itself is not needed (nor available here): this is the dashboard's data, drawn by us.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROWS = 38  # grid units drawn from the top: the Status, Limits and States rows
BG, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
COLOURS = ["#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#b877d9", "#f2495c", "#8ab8ff", "#ffb357"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def wait(url: str, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


def expr(text: str) -> str:
    return (text.replace('job=~"$job"', 'job="pf"').replace('instance=~"$instance"', 'instance=~".+"')
            .replace("$__rate_interval", "30s").replace("$__range", "2m").replace("$__interval", "5s"))


def legend(fmt: str | None, metric: dict[str, str]) -> str:
    if fmt:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt)
    return ",".join(f"{k}={v}" for k, v in metric.items() if k not in ("__name__", "job", "instance"))


def draw(prom: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    board = json.loads((ROOT / "dashboards" / "pf-overview.json").read_text())
    panels = [p for p in board["panels"] if p["gridPos"]["y"] < ROWS]
    scale = 0.62  # inches per grid unit across (24 wide) and 0.42 per unit down
    fig = plt.figure(figsize=(24 * scale, ROWS * 0.42), facecolor=BG)
    now = time.time()
    for p in panels:
        g = p["gridPos"]
        left, width = g["x"] / 24, g["w"] / 24
        bottom, height = 1 - (g["y"] + g["h"]) / ROWS, g["h"] / ROWS
        if p["type"] == "row":
            fig.text(left + 0.004, bottom + height / 2, p["title"], color=TEXT, fontsize=12, weight="bold",
                     va="center")
            continue
        ax = fig.add_axes((left + 0.004, bottom + 0.006, width - 0.008, height - 0.012), facecolor=PANEL)
        ax.set_title(p["title"], color=TEXT, fontsize=9, loc="left")
        for spine in ax.spines.values():
            spine.set_color(GRID)
        ax.tick_params(colors=TEXT, labelsize=7)
        series = []
        for t in p.get("targets", []):
            if p["type"] == "timeseries":
                q = urllib.parse.urlencode({"query": expr(t["expr"]), "start": now - 110, "end": now, "step": 2})
                res = get(f"{prom}/api/v1/query_range?{q}")["data"]["result"]
                series += [(legend(t.get("legendFormat"), r["metric"]), r["values"]) for r in res]
            else:
                q = urllib.parse.urlencode({"query": expr(t["expr"])})
                res = get(f"{prom}/api/v1/query?{q}")["data"]["result"]
                series += [(legend(t.get("legendFormat"), r["metric"]), r["value"]) for r in res]
        if p["type"] == "stat":
            ax.set_xticks([])
            ax.set_yticks([])
            text = "-"
            if series:
                name, (_, v) = series[0]
                value = float(v)
                text = name if p["title"] in ("Release", "Ruleset checksum") else (
                    "enabled" if p["title"] == "pf" and value == 1 else f"{value:,.0f}")
                if p["title"] == "Release":
                    text = series[0][0].split("release=")[-1].split(",")[0] or text
                if p["title"] == "Enabled for":
                    text = f"{value / 3600:.1f} h"
            ax.text(0.5, 0.42, text[:26], color=COLOURS[0], fontsize=16 if len(text) < 12 else 10, ha="center",
                    va="center", weight="bold", transform=ax.transAxes)
        elif p["type"] == "bargauge":
            items = sorted(((n or "value", float(v)) for n, (_, v) in series), key=lambda x: -x[1])[:8]
            ax.barh([n[:22] for n, _ in items][::-1], [v for _, v in items][::-1], color=COLOURS[2])
            ax.tick_params(axis="y", labelsize=6)
            ax.grid(axis="x", color=GRID, linewidth=0.5)
        else:
            for i, (name, values) in enumerate(series[:8]):
                xs = [float(x) - now for x, _ in values]
                ys = [float(y) for _, y in values]
                ax.plot(xs, ys, color=COLOURS[i % len(COLOURS)], linewidth=1.2, label=name[:28])
            ax.grid(color=GRID, linewidth=0.5)
            if series:
                ax.legend(fontsize=6, loc="upper left", facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor=BG)
    print(f"wrote {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120, help="how long Prometheus scrapes before drawing")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "overview.png")
    args = ap.parse_args()
    exp_port, prom_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        rules = [str(ROOT / "dashboards" / "prometheus_rules.yml")]
        cfg = Path(tmp) / "prometheus.yml"
        cfg.write_text(json.dumps({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                   "rule_files": rules,
                                   "scrape_configs": [{"job_name": "pf", "static_configs": [
                                       {"targets": [f"127.0.0.1:{exp_port}"]}]}]}))
        exporter = subprocess.Popen([sys.executable, "-m", "pf_exporter", "--simulate", "--simulate.state-fill", "0.6",
                                     "--web.listen-address", f"127.0.0.1:{exp_port}"], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        prom = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait(f"http://127.0.0.1:{exp_port}/metrics")
            wait(f"http://127.0.0.1:{prom_port}/-/ready")
            time.sleep(args.seconds)
            draw(f"http://127.0.0.1:{prom_port}", args.out)
        finally:
            for p in (prom, exporter):
                p.terminate()
                p.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
