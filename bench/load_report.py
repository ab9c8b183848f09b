"""Turn `bench/results/*.json` into the Markdown results table and the PNG plots.

    .venv/bin/python -m bench.load_report [--results bench/results] [--out bench/results/load-report.md]

Reads the newest `load-<engine>-<persons>-*.json` per engine and size (`bench.load`), and the
newest `audit-<engine>-*.json` (`bench.audit_bench`) and `crypto_micro-*.json`
(`bench.crypto_micro`) for scenarios 4-6. Writes:

- the report (Markdown): every BENCH.md target with the measured figure, its ratio to the
  baseline (where there is one) and to the target; then each load run's table;
- `load-latency-<engine>-<persons>.png`: latency percentiles (p50/p90/p99 of one iteration)
  against concurrency, registry and baseline, one panel per scenario;
- `search-latency.png`: the search request's latency against the number of persons.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # no pyplot: a bare Figure renders PNG with Agg

RESULTS = Path(__file__).resolve().parent / "results"
THROUGHPUT_TARGET = {"read": 0.8, "write": 0.6}  # registry ÷ baseline, at least
P99_TARGET = 1.5  # read path p99, registry ÷ baseline, at most (4 and 16 clients, 1M persons)
SEARCH_SCALING_TARGET = 1.5  # search latency at 1M ÷ at 10k, at most


def _f(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _meets(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "**no**")


def run_table(result: dict[str, Any]) -> str:
    """One load run's tables: throughput, latency and CPU per scenario and concurrency."""
    runs = {(r["scenario"], r["concurrency"], r["service"]): r for r in result["runs"]}
    seed = result["setup"]["registry_seed"]
    lines = [
        f"#### {result['engine']}, {result['persons']:,} persons, {result['workers']} uvicorn worker(s) per service "
        f"({result['setup']['server']}); {result['duration_s']:g} s per run after {result['warmup_s']:g} s warm-up",
        "",
        f"`{result['command']}` — {result['timestamp']}, load {result['loadavg_start']} → {result['loadavg_end']}. "
        f"Seed: registry {seed['persons']:,} persons in {seed['seconds']:.0f} s "
        f"({seed['persons_per_s']:,.0f}/s through the services, + {seed['sequencer_drain_s']:.0f} s sequencer drain); "
        f"baseline {result['setup']['baseline_seed']['persons_per_s']:,.0f}/s (plain inserts).",
        "",
        "| scenario | clients | registry it/s | baseline it/s | ÷ baseline | target | registry p50 / p90 / p99 ms "
        "| baseline p50 / p90 / p99 ms | p99 ÷ | server CPU ms/it registry / baseline | errors r / b |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ratio in result["ratios"]:
        scenario, clients = ratio["scenario"], ratio["concurrency"]
        reg, base = runs[(scenario, clients, "registry")], runs[(scenario, clients, "baseline")]
        target = THROUGHPUT_TARGET.get(scenario)
        meets = None if target is None or ratio["throughput"] is None else ratio["throughput"] >= target
        rl, bl = reg["latency"], base["latency"]
        lines.append(
            f"| {scenario} | {clients} | {_f(reg['iterations_per_s'])} | {_f(base['iterations_per_s'])} "
            f"| {_f(ratio['throughput'], 2)} | {'≥ ' + str(target) + ' ' + _meets(meets) if target else '–'} "
            f"| {_f(rl['p50_ms'])} / {_f(rl['p90_ms'])} / {_f(rl['p99_ms'])} "
            f"| {_f(bl['p50_ms'])} / {_f(bl['p90_ms'])} / {_f(bl['p99_ms'])} | {_f(ratio['p99'], 2)} "
            f"| {_f(reg['server_cpu_ms_per_iteration'])} / {_f(base['server_cpu_ms_per_iteration'])} "
            f"| {reg['errors']} / {base['errors']} |"
        )
    steps = [(k, r) for k, r in runs.items() if k[0] == "read"]
    if steps:
        lines += [
            "",
            "Read path per request, registry ÷ baseline p50 (ms): "
            + "; ".join(
                f"c={c}: "
                + ", ".join(
                    f"{step} {_f(r['steps'][step]['p50_ms'])} ÷ "
                    f"{_f(runs[('read', c, 'baseline')]['steps'][step]['p50_ms'])}"
                    for step in r["steps"]
                )
                for (_, c, service), r in steps
                if service == "registry" and ("read", c, "baseline") in runs
            ),
        ]
    return "\n".join(lines)


IDLE_LEAVES = ("Condition.wait", "EpollSelector.select", "Queue.get", "Event.wait", "Thread.join")
LAYERS: dict[str, tuple[str, ...]] = {
    "registry/crypto (seal, open, blind index, keyring)": ("registry/crypto/",),
    "  of which the DEK row fetch (Keyring.read_key)": ("Keyring.read_key",),
    "  of which primitives: AEAD, HMAC, wrap, sign (crypto/suites.py, crypto/providers/)": (
        "registry/crypto/suites.py",
        "registry/crypto/providers/",
    ),
    "registry/audit (append, sequencer)": ("registry/audit/",),
    "audit sequencer thread": ("SequencerThread._loop",),
    "registry/disclosure": ("registry/disclosure.py",),
    "bearer token → principal (registry/api/deps.py _load_principal)": ("_load_principal",),
    "SQLite BEGIN IMMEDIATE (write lock)": ("create_engine.<locals>.<lambda> (registry/db.py",),
    "sqlalchemy (all)": ("sqlalchemy/",),
    "DB driver execute (sqlite3 / psycopg)": ("DefaultDialect.do_execute", "DefaultDialect.do_executemany"),
    "commit": ("do_commit",),
    "pydantic": ("pydantic",),
    "HTTP: uvicorn + starlette/fastapi outside the endpoint": ("h11_impl.py", "httptools_impl.py"),
}


def summarise_stacks(path: Path, top: int = 30) -> dict[str, Any]:
    """From py-spy's collapsed stacks, busy samples only (leaf not a wait): the share of them
    in each layer (a sample counts for a layer when any of its frames is in it) and the
    registry functions with the most inclusive samples."""
    total, per_layer, inclusive = 0, dict.fromkeys(LAYERS, 0), {}  # type: ignore[var-annotated]
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if frames[-1].startswith(IDLE_LEAVES):
            continue
        count = int(count_text)
        total += count
        for name, needles in LAYERS.items():
            if any(n in f for f in frames for n in needles):
                per_layer[name] += count
        seen = set()
        for frame in frames:
            key = frame.split(":")[0] + ")" if "(" in frame else frame  # drop the line number
            if key not in seen:
                seen.add(key)
                inclusive[key] = inclusive.get(key, 0) + count
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])
    interesting = [(k, v) for k, v in ranked if "registry/" in k][:top]
    return {
        "busy_samples": total,
        "layers": {k: round(v / total, 3) for k, v in per_layer.items()} if total else {},
        "top_inclusive": [{"function": k, "share": round(v / total, 3)} for k, v in interesting] if total else [],
    }


def profile_table(result: dict[str, Any]) -> str:
    """Shares of the registry server's busy samples per layer, for each profiled run."""
    profiles = result.get("profiles") or []
    if not profiles:
        return ""
    for p in profiles:  # re-read the stacks when they are still there (the layers may have been refined)
        stacks = RESULTS / p["file"]
        if stacks.exists():
            p["summary"] = summarise_stacks(stacks)
    head = [f"{p['run']['scenario']} c={p['run']['concurrency']}" for p in profiles]
    lines = [
        f"Registry server under py-spy ({result['engine']}, {result['persons']:,} persons; share of busy samples, "
        "a sample counts for every layer on its stack; stacks in "
        + ", ".join(f"`{p['file']}`" for p in profiles)
        + "):",
        "",
        "| layer | " + " | ".join(head) + " |",
        "|---|" + "---|" * len(head),
    ]
    for layer in profiles[0]["summary"]["layers"]:
        lines.append(f"| {layer} | " + " | ".join(f"{p['summary']['layers'][layer]:.0%}" for p in profiles) + " |")
    return "\n".join(lines)


def profiles_matrix(loads: list[dict[str, Any]]) -> str:
    """Every profiled run side by side: the share of busy samples per layer."""
    columns = []
    for result in loads:
        for p in result.get("profiles") or []:
            stacks = RESULTS / p["file"]
            summary = summarise_stacks(stacks) if stacks.exists() else p["summary"]
            label = f"{result['engine']} {result['persons']:,} {p['run']['scenario']} c={p['run']['concurrency']}"
            columns.append((label, summary["layers"]))
    if not columns:
        return ""
    lines = ["| layer | " + " | ".join(c[0] for c in columns) + " |", "|---|" + "---|" * len(columns)]
    for layer in columns[0][1]:
        lines.append(f"| {layer} | " + " | ".join(f"{c[1].get(layer, 0):.0%}" for c in columns) + " |")
    return "\n".join(lines)


def _newest(results: Path, pattern: str) -> list[dict[str, Any]]:
    newest: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
    for path in sorted(results.glob(pattern)):
        data = json.loads(path.read_text())
        key = (data.get("engine"), data.get("persons"))
        if key not in newest or path.name > newest[key][0]:
            newest[key] = (path.name, data | {"_file": path.name})
    return [v[1] for _, v in sorted(newest.items(), key=lambda kv: (str(kv[0][0]), kv[0][1] or 0))]


def _search_p50(result: dict[str, Any], service: str) -> float | None:
    for run in result["runs"]:
        if run["scenario"] == "read" and run["concurrency"] == min(result["concurrency"]) and run["service"] == service:
            return float(run["steps"]["search"]["p50_ms"])
    return None


def summary(loads: list[dict[str, Any]], audits: list[dict[str, Any]], crypto: dict[str, Any] | None) -> str:
    lines = [
        "| measure | engine, persons | registry | baseline | ÷ baseline | target | ÷ target | meets | source |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in loads:
        where = f"{result['engine']}, {result['persons']:,}"
        runs = {(r["scenario"], r["concurrency"], r["service"]): r for r in result["runs"]}
        for ratio in result["ratios"]:
            scenario, clients = ratio["scenario"], ratio["concurrency"]
            target = THROUGHPUT_TARGET.get(scenario)
            if target is None:
                continue
            reg, base = runs[(scenario, clients, "registry")], runs[(scenario, clients, "baseline")]
            value = ratio["throughput"]
            lines.append(
                f"| {scenario} path throughput, {clients} client(s) (it/s) | {where} | {_f(reg['iterations_per_s'])} "
                f"| {_f(base['iterations_per_s'])} | {_f(value, 2)} | ≥ {target} | {_f(value / target, 2)} "
                f"| {_meets(value >= target)} | {result['_file']} |"
            )
        for ratio in result["ratios"]:
            if ratio["scenario"] == "read" and ratio["concurrency"] in (4, 16):
                reg = runs[("read", ratio["concurrency"], "registry")]["latency"]["p99_ms"]
                base = runs[("read", ratio["concurrency"], "baseline")]["latency"]["p99_ms"]
                scope = "" if result["persons"] >= 1_000_000 else " (target is at 1M)"
                lines.append(
                    f"| read path p99, {ratio['concurrency']} clients (ms){scope} | {where} | {_f(reg)} | {_f(base)} "
                    f"| {_f(ratio['p99'], 2)} | ≤ {P99_TARGET} | {_f(ratio['p99'] / P99_TARGET, 2)} "
                    f"| {_meets(ratio['p99'] <= P99_TARGET)} | {result['_file']} |"
                )
        seed = result["setup"]["registry_seed"]
        lines.append(
            f"| bulk seed, person + dwelling + registration (/s; `registry.demo.seed`) | {where} "
            f"| {_f(seed['persons_per_s'], 0)} "
            f"| {_f(result['setup']['baseline_seed']['persons_per_s'], 0)} (plain inserts) "
            f"| {_f(seed['persons_per_s'] / result['setup']['baseline_seed']['persons_per_s'], 3)} | ≥ 2,000 "
            f"| {_f(seed['persons_per_s'] / 2000, 2)} | {_meets(seed['persons_per_s'] >= 2000)} | {result['_file']} |"
        )
    by_engine: dict[str, list[dict[str, Any]]] = {}
    for result in loads:
        by_engine.setdefault(result["engine"], []).append(result)
    for engine, results in by_engine.items():
        if len(results) < 2:
            continue
        small, large = results[0], results[-1]
        for service in ("registry", "baseline"):
            a, b = _search_p50(small, service), _search_p50(large, service)
            if a and b:
                value = b / a
                lines.append(
                    f"| search p50 (1 client) at {large['persons']:,} ÷ at {small['persons']:,} persons ({service}) "
                    f"| {engine} | {_f(value, 2)} ({_f(b, 2)} ms ÷ {_f(a, 2)} ms) | | "
                    f"| ≤ {SEARCH_SCALING_TARGET} (1M ÷ 10k) "
                    f"| {_f(value / SEARCH_SCALING_TARGET, 2)} | {_meets(value <= SEARCH_SCALING_TARGET)} "
                    f"| {small['_file']}, {large['_file']} |"
                )
    for audit in audits:
        verify, proof = audit["verify"], audit["inclusion"]
        where = f"{audit['engine']}, {audit['log_size']:,} entries"
        lines.append(
            f"| audit verify, scaled to 1M entries (s) | {where} | {_f(verify['seconds_scaled_to_1m'])} | | "
            f"| ≤ 30 | {_f(verify['seconds_scaled_to_1m'] / 30, 2)} | {_meets(verify['meets_target'])} "
            f"| {audit['_file']} |"
        )
        lines.append(
            f"| inclusion proof, median / p99 (ms) | {where} | {_f(proof['median_ms'], 2)} / {_f(proof['p99_ms'], 2)} "
            f"| | | ≤ 5 | {_f(proof['median_ms'] / 5, 2)} | {_meets(proof['meets_target_median'])} (median) "
            f"| {audit['_file']} |"
        )
        drain = audit.get("sequencer_drain")
        if drain:
            lines.append(
                f"| audit appends through the sequencer (entries/s) | {where} | {_f(drain['entries_per_s'], 0)} "
                f"| | | – | | | {audit['_file']} |"
            )
    if crypto is not None:
        for kek in crypto.get("kek_rotation", []):
            rate = kek["rewrap_deks_per_s_median"]
            lines.append(
                f"| KEK rotation, {kek['suite']} (DEKs/s) | sqlite, {kek['deks']:,} DEKs | {_f(rate, 0)} | | "
                f"| ≥ 20,000 | {_f(rate / 20000, 2)} | {_meets(rate >= 20000)} | {crypto['_file']} |"
            )
        for sealed in crypto.get("sealed_rotation", []):
            online = sealed["dek_rotation_online"]
            lines.append(
                f"| DEK re-encryption online, {sealed['suite']} (records/s) | sqlite, {sealed['persons']:,} persons "
                f"| {_f(online['records_per_s'], 0)} | | | ≥ 2,000 | {_f(online['ratio_to_target'], 2)} "
                f"| {_meets(online['meets_target'])} | {crypto['_file']} |"
            )
    return "\n".join(lines)


def ratio_matrix(loads: list[dict[str, Any]]) -> str:
    """Registry ÷ baseline per scenario and concurrency (columns: engine and size), with the
    server CPU per iteration ratio, the figure the machine's other load disturbs least."""
    if not loads:
        return ""
    heads = [f"{r['engine']} {r['persons']:,}" for r in loads]
    lines = ["| registry ÷ baseline | target | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(heads)]
    keys = sorted(
        {(x["scenario"], x["concurrency"]) for r in loads for x in r["ratios"]},
        key=lambda k: (("read", "write", "casefile").index(k[0]), k[1]),
    )
    rows = [("throughput", "throughput", lambda sc: THROUGHPUT_TARGET.get(sc)), ("p99", "p99 latency", None)]
    rows.append(("server_cpu_per_iteration", "server CPU per iteration", None))
    for field, label, target_of in rows:
        for scenario, clients in keys:
            target = target_of(scenario) if target_of else (P99_TARGET if scenario == "read" and clients > 1 else None)
            cells = []
            for r in loads:
                hit = [x for x in r["ratios"] if x["scenario"] == scenario and x["concurrency"] == clients]
                cells.append(_f(hit[0][field], 2) if hit else "–")
            sign = "≤" if field == "p99" else "≥"
            shown = f"{sign} {target}" if target and field != "server_cpu_per_iteration" else "–"
            lines.append(f"| {scenario} {label}, {clients} client(s) | {shown} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_latency(result: dict[str, Any], out: Path) -> Path:
    scenarios = list(dict.fromkeys(r["scenario"] for r in result["runs"]))
    fig = Figure(figsize=(5 * len(scenarios), 4))
    axes = fig.subplots(1, len(scenarios), squeeze=False)
    styles = {"p50_ms": ":", "p90_ms": "--", "p99_ms": "-"}
    colours = {"registry": "tab:red", "baseline": "tab:blue"}
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        for service in ("registry", "baseline"):
            runs = sorted(
                (r for r in result["runs"] if r["scenario"] == scenario and r["service"] == service),
                key=lambda r: r["concurrency"],
            )
            xs = [r["concurrency"] for r in runs]
            for q, style in styles.items():
                ax.plot(
                    xs,
                    [r["latency"][q] for r in runs],
                    style,
                    marker="o",
                    color=colours[service],
                    label=f"{service} {q[:3]}",
                )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(result["concurrency"], [str(c) for c in result["concurrency"]])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("iteration latency (ms)")
        ax.set_title(f"{scenario}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{result['engine']}, {result['persons']:,} persons: latency vs concurrency ({result['timestamp']})")
    fig.tight_layout()
    path = out / f"load-latency-{result['engine']}-{result['persons']}.png"
    fig.savefig(path, dpi=100)
    return path


def plot_search(loads: list[dict[str, Any]], out: Path) -> Path | None:
    if not loads:
        return None
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for engine in sorted({r["engine"] for r in loads}):
        results = [r for r in loads if r["engine"] == engine]
        for service, colour in (("registry", "tab:red"), ("baseline", "tab:blue")):
            for q, style in (("p50_ms", "-"), ("p99_ms", ":")):
                points = []
                for r in results:
                    for run in r["runs"]:
                        if run["scenario"] == "read" and run["service"] == service and run["concurrency"] == 1:
                            points.append((r["persons"], run["steps"]["search"][q]))
                if points:
                    xs, ys = zip(*sorted(points), strict=True)
                    marker = "o" if engine == "sqlite" else "s"
                    ax.plot(xs, ys, style, marker=marker, color=colour, label=f"{engine} {service} {q[:3]}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("persons in the database")
    ax.set_ylabel("search request latency, 1 client (ms)")
    ax.set_title("search by ID number vs record count")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "search-latency.png"
    fig.savefig(path, dpi=100)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=None, help="Markdown file (default: <results>/load-report.md)")
    args = parser.parse_args(argv)
    loads = _newest(args.results, "load-*-*.json")
    audits = _newest(args.results, "audit-*.json")
    cryptos = _newest(args.results, "crypto_micro-*.json")
    plots = [plot_latency(r, args.results) for r in loads]
    search = plot_search(loads, args.results)
    parts = [
        "### Targets (BENCH.md) against the newest results",
        "",
        summary(loads, audits, cryptos[-1] if cryptos else None),
        "",
        "### Registry ÷ baseline, same run, same data, same engine",
        "",
        ratio_matrix(loads),
        "",
        "### Where the registry server's busy time goes (py-spy)",
        "",
        profiles_matrix(loads),
        "",
        "### Load runs",
        "",
        *[run_table(r) + "\n\n" + profile_table(r) + "\n" for r in loads],
        "Plots: " + ", ".join(f"`{p.name}`" for p in [*plots, *([search] if search else [])]),
    ]
    text = "\n".join(parts)
    out = args.out or args.results / "load-report.md"
    out.write_text(text + "\n")
    print(text)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
