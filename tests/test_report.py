"""The uncertainty report: sections, figures, self-containedness, bad input, and a headless-Chromium render."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from vrest.api import MultipleSteadyStatesWarning, predict
from vrest.bistability import bistable_range
from vrest.cli import main
from vrest.folders import read_folder as load_folder
from vrest.folders import report_paths as outputs
from vrest.report import build_report
from vrest.report.content import MAX_DRAWS, assemble
from vrest.report.kalaemia import KALAEMIA_MM
from vrest.report.load import membrane_draws

DATA = Path(__file__).resolve().parents[1] / "data"
GELBAND = DATA / "gelband1972_human_atrium_fig6.csv"
FAST = ["--chains", "2", "--draws", "200", "--tune", "200"]
SECTIONS = ("Summary", "Data and provenance", "Assumptions and priors", "V_m against log10 K_o", "Parameters", "Diagnostics",
            "Model comparison (PSIS-LOO)", "Derived quantities", "V_rest in hypo-, normo- and hyperkalaemia",
            "Identifiability and design advice", "Sensitivity", "Methods")  # fmt: skip
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PNG = re.compile(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'")


def _fit(out: Path, model: str) -> Path:
    argv = ["fit", str(GELBAND), "--model", model, "--preset", "cardiac_myocyte", "--k-replaces-na",
            "--error-column", "err_mV", "--error-kind", "sem", "--out", str(out), *FAST]  # fmt: skip
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Two fits of the Gelband data and a small sensitivity run (built once)."""
    from vrest.sensitivity import sobol_analysis, write_outputs

    root = tmp_path_factory.mktemp("report")
    sens = root / "sens"
    res = sobol_analysis("ghk", ["hypokalaemia", "hyperkalaemia"], n=256, seed=0, resamples=20)
    write_outputs(res, sens, figures=False)
    return {"ghk": _fit(root / "ghk", "ghk"), "mn": _fit(root / "mn", "mullins-noda"), "sens": sens, "root": root}


@pytest.fixture(scope="module")
def report(folders) -> Path:
    return build_report([folders["ghk"], folders["mn"], folders["sens"]], folders["root"] / "out" / "report.html")


def _pngs(html: str) -> list[np.ndarray]:
    return [matplotlib.image.imread(io.BytesIO(base64.b64decode(b)), format="png") for b in PNG.findall(html)]


def test_every_section_in_html_and_markdown(report):
    html, md = report.read_text(), report.with_suffix(".md").read_text()
    for title in SECTIONS:
        assert f">{title}</h2>" in html.replace("&#x27;", "'").replace("&amp;", "&"), title
        assert f"\n## {title}\n" in md, title
    for text in ("sha256", "Gelband", "Clerx", "k_i", "p_na ~ LogNormal", "Pareto", "elpd", "V_rest_mV",
                 "NOT identifiable", "advice:", "S1 linearised", "nutpie", "seed 0"):  # fmt: skip
        assert text in html, text
    assert re.search(r"class='verdict (green|amber|red)'>(Green|Amber|Red):", html)


def test_every_figure_present_nonblank_and_saved(report):
    html, md = report.read_text(), report.with_suffix(".md").read_text()
    _, _, fig_dir = outputs(report)
    names = re.findall(r"<figure id='fig-([^']+)'>", html)
    expected = {"vm_vs_k_o", "residuals", "prior_posterior_ghk_ghk", "pairs_ghk_ghk", "ranks_ghk_ghk",
                "prior_posterior_mullins_noda_mn", "ranks_mullins_noda_mn", "sobol_sens", "heatmap_sens"}  # fmt: skip
    assert expected <= set(names)
    images = _pngs(html)
    assert len(images) == len(names)
    for name, image in zip(names, images, strict=True):
        assert image.shape[0] > 100 and image.shape[1] > 100, name
        assert image[..., :3].std() > 0.05, f"{name} is blank"
        assert (fig_dir / f"{name}.png").stat().st_size > 1000
        assert (fig_dir / f"{name}.svg").read_text().lstrip().startswith("<?xml")
        assert f"({fig_dir.name}/{name}.png)" in md


def test_self_contained_and_small(report):
    html = report.read_text()
    assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", html, re.IGNORECASE)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "Content-Security-Policy" in html
    assert report.stat().st_size < 3_000_000


def test_refuses_to_overwrite_without_force(folders, report):
    with pytest.raises(FileExistsError, match="--force"):
        build_report([folders["ghk"]], report)
    out = build_report([folders["ghk"]], report, force=True)
    assert "Model comparison" not in out.read_text()  # one fit: no comparison


def test_mixed_data_sets_and_foreign_folders_raise(folders, tmp_path):
    other = tmp_path / "other_data"
    shutil.copytree(folders["ghk"], other)
    info = json.loads((other / "fit.json").read_text())
    info["data"]["sha256"] = "0" * 64
    (other / "fit.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="other_data: fits a different data set") as err:
        build_report([folders["ghk"], other], tmp_path / "r.html")
    assert "\n" not in str(err.value)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    for bad in (tmp_path / "junk", tmp_path / "missing"):
        with pytest.raises(ValueError, match=re.escape(bad.name)):
            build_report([bad], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_missing_data_file_falls_back_to_observed_data(folders, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(folders["ghk"], moved)
    info = json.loads((moved / "fit.json").read_text())
    info["data"]["source"] = str(tmp_path / "gone.csv")
    (moved / "fit.json").write_text(json.dumps(info))
    html = build_report([moved], tmp_path / "r.html").read_text()
    assert "observed_data of posterior.nc" in html and "Data and provenance" in html


def _chromium(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr", "--v=0", *extra, page.as_uri()]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium; .ci/run does it)")
def test_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "shot.png"
    run = _chromium(tmp_path, report, "--window-size=1100,1800", f"--screenshot={shot}")
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    assert matplotlib.image.imread(shot)[..., :3].std() > 0.05
    # every figure decodes in the browser and the page fetches nothing: a probe script (CSP lifted) writes the title
    probe = report.with_name("probe.html")
    script = ("<script>addEventListener('load',()=>{const i=[...document.images];document.title='IMAGES '+"
              "i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length+' RESOURCES '+"
              "performance.getEntriesByType('resource').length})</script></body>")  # fmt: skip
    html = report.read_text()
    probe.write_text(re.sub(r"<meta http-equiv='Content-Security-Policy'[^>]*>", "", html).replace("</body>", script))
    dom = _chromium(tmp_path, probe, "--dump-dom")
    n = len(PNG.findall(html))
    assert f"<title>IMAGES {n}/{n} RESOURCES 0</title>" in dom.stdout, dom.stdout[:300]


def test_cli_module_builds_the_report(folders, tmp_path, capsys):
    import argparse

    from vrest.cli import report as cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", str(folders["ghk"]), str(folders["sens"]), "--out", str(tmp_path / "a.html")])
    assert cli.run(args) == 0
    assert str((tmp_path / "a.html").resolve()) in capsys.readouterr().out
    assert (tmp_path / "a.md").is_file() and (tmp_path / "a_figures" / "vm_vs_k_o.svg").is_file()


KIR_INPUTS = {"k_i": 145.0, "na_o": 140.0, "na_i": 10.0, "cl_o": 150.0, "cl_i": 15.0, "temp_k": 310.15}
"""The cardiac_myocyte preset's concentrations (mM) and temperature (K), fixed for the synthetic kir fit."""


def _synthetic_kir(ghk: Path, out: Path, n_draws: int = 40) -> Path:
    """A rectifying-kir fit folder from the GHK fit's files (data, predictive and diagnostics files reused):
    2 x ``n_draws`` posterior draws of g_na, g_cl (nS) and i_pump (pA) near the model's defaults, bistable near
    K_o 3-5 mM in most but not all draws, and K_o-independent fixed inputs, so that vrest.bistable_range applies."""
    import xarray as xr

    from vrest.inference.priors import fitted_priors

    shutil.copytree(ghk, out)
    tree = xr.open_datatree(ghk / "posterior.nc").load().isel(draw=slice(0, n_draws), missing_dims="ignore")
    rng = np.random.default_rng(1)
    shape = tree["posterior"]["sigma_mv"].shape
    posterior = tree["posterior"].to_dataset()[["sigma_mv"]].assign(
        g_na=(("chain", "draw"), 0.02 * np.exp(0.3 * rng.normal(size=shape))),
        g_cl=(("chain", "draw"), 0.1 * np.exp(0.3 * rng.normal(size=shape))),
        i_pump=(("chain", "draw"), rng.normal(0.0, 0.5, size=shape)))  # fmt: skip
    tree["posterior"] = xr.DataTree(posterior)
    tree.to_netcdf(out / "posterior.nc")
    info = json.loads((ghk / "fit.json").read_text())
    info["model"] = "rectifying-kir"
    kir_priors = fitted_priors("rectifying-kir")
    info["priors"] = [p.describe() for p in kir_priors] + ["sigma_mv ~ HalfNormal(5) mV"]
    info["prior_specs"] = [{"name": p.name, "log_scale": p.log_scale, "mean": p.mean, "sd": p.sd} for p in kir_priors]
    info["uncertain"] = []
    info["k_replaces_na"] = {"na_plus_k_mM": {}}  # Na_o fixed (KIR_INPUTS), not raised with K_o as in the GHK fit
    info["assumptions"] = [{"input": k, "value": v, "unit": "", "source": "test", "applies_to": "all rows"}
                           for k, v in KIR_INPUTS.items()]  # fmt: skip
    (out / "fit.json").write_text(json.dumps(info))
    return out


@pytest.fixture(scope="module")
def kir(folders) -> dict:
    """The synthetic kir fit, its report (HTML and Markdown), and vrest.bistable_range of each draw it used."""
    folder = _synthetic_kir(folders["ghk"], folders["root"] / "kir")
    html = build_report([folder], folders["root"] / "kir_out" / "report.html")
    params = membrane_draws(load_folder(folder), MAX_DRAWS)
    n = len(params["g_na"])
    ranges = [bistable_range("rectifying-kir", preset="cardiac_myocyte", **KIR_INPUTS,
                             **{k: float(v[i]) for k, v in params.items()}) for i in range(n)]  # fmt: skip
    return {"folder": folder, "md": html.with_suffix(".md").read_text(), "html": html.read_text(), "params": params,
            "ranges": ranges}  # fmt: skip


def _md_table(md: str, column: str) -> list[dict[str, str]]:
    """Rows of the first Markdown table with a column named ``column``, as dicts of cell text."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| ") and f" {column} |" in line)
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return rows


def test_kir_bistable_range_matches_direct_computation(kir):
    (row,) = _md_table(kir["md"], "P_bistable")
    ranges = kir["ranges"]
    found = np.array([(r[0][0], r[-1][1]) for r in ranges if r])
    assert 0 < len(found) < len(ranges)
    assert int(row["draws"]) == len(ranges) == 80
    assert float(row["P_bistable"]) == pytest.approx(len(found) / len(ranges), abs=1e-9)
    q5, q50, q95 = np.quantile(found, [0.05, 0.5, 0.95], axis=0)
    for j, bound in enumerate(("lower", "upper")):
        for name, q in (("q5", q5), ("median", q50), ("q95", q95)):
            assert float(row[f"{bound}_K_o_{name}_mM"]) == pytest.approx(q[j], rel=1e-3), (bound, name)
    median = {k: float(np.median(v)) for k, v in kir["params"].items()}
    (lo, hi), = bistable_range("rectifying-kir", preset="cardiac_myocyte", **KIR_INPUTS, **median)
    assert float(row["lower_K_o_q5_mM"]) <= lo <= float(row["lower_K_o_q95_mM"])
    assert float(row["upper_K_o_q5_mM"]) <= hi <= float(row["upper_K_o_q95_mM"])


def test_kir_kalaemia_predictions_and_shaded_range(kir):
    rows = {r["state"]: r for r in _md_table(kir["md"], "state")}
    assert list(rows) == list(KALAEMIA_MM)
    params = {k: v[:, None] for k, v in kir["params"].items()}
    k_o = np.array(list(KALAEMIA_MM.values()))
    with pytest.warns(MultipleSteadyStatesWarning):  # two stable states in some draws: the hyperpolarised one is used
        v = predict("rectifying-kir", preset="cardiac_myocyte", **KIR_INPUTS, k_o=k_o, **params)
    for j, (state, level) in enumerate(KALAEMIA_MM.items()):
        row = rows[state]
        inside = np.mean([any(a <= level <= b for a, b in r) for r in kir["ranges"]])
        assert float(row["P_bistable_at_K_o"]) == pytest.approx(inside, abs=1e-9), state
        for name, q in (("q5", 0.05), ("median", 0.5), ("q95", 0.95)):
            assert float(row[f"V_rest_{name}_mV"]) == pytest.approx(np.quantile(v[:, j], q), rel=1e-3), state
    _, figs = assemble([load_folder(kir["folder"])], [])
    legend = [t.get_text() for t in figs["vm_vs_k_o"].axes[0].get_legend().get_texts()]
    assert any("bistable range" in t for t in legend)
    assert "Bistable K_o range</h3>" in kir["html"]


def test_ghk_report_has_kalaemia_predictions_but_no_bistable_block(folders, tmp_path):
    html = build_report([folders["ghk"]], tmp_path / "r.html")
    md = html.with_suffix(".md").read_text()
    assert "## V_rest in hypo-, normo- and hyperkalaemia" in md
    assert "Bistable K_o range" not in md and "P_bistable" not in md
    rows = {r["state"]: r for r in _md_table(md, "state")}
    assert list(rows) == list(KALAEMIA_MM)
    params = {k: v[:, None] for k, v in membrane_draws(load_folder(folders["ghk"]), MAX_DRAWS).items()}
    # the Gelband fit raised K+ by replacing Na+ (k_replaces_na: Na_o = 141 mM - K_o)
    k_o = np.array(list(KALAEMIA_MM.values()))
    v = predict("ghk", preset="cardiac_myocyte", k_o=k_o, na_o=141.0 - k_o, **params)
    for j, state in enumerate(KALAEMIA_MM):
        assert float(rows[state]["V_rest_median_mV"]) == pytest.approx(np.median(v[:, j]), rel=1e-3), state


def test_kalaemia_levels_lie_in_the_sensitivity_scenarios():
    from vrest.sensitivity.scenarios import bundled_scenario

    for state, level in KALAEMIA_MM.items():
        grid = bundled_scenario(state).k_o_grid
        assert min(grid) <= level <= max(grid), state
