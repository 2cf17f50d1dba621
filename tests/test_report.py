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

from vrest.cli import main
from vrest.report import build_report
from vrest.report.build import outputs

DATA = Path(__file__).resolve().parents[1] / "data"
GELBAND = DATA / "gelband1972_human_atrium_fig6.csv"
FAST = ["--chains", "2", "--draws", "200", "--tune", "200"]
SECTIONS = ("Data and provenance", "Assumptions and priors", "V_m against log10 K_o", "Parameters", "Diagnostics",
            "Model comparison (PSIS-LOO)", "Derived quantities", "Identifiability and design advice", "Sensitivity",
            "Methods")  # fmt: skip
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
        assert f">{title}</h2>" in html.replace("&#x27;", "'"), title
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
    assert not re.search(r"(src|href)\s*=\s*['\"]?\s*(https?:)?//", html, re.I)
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

    from vrest.report import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", str(folders["ghk"]), str(folders["sens"]), "--out", str(tmp_path / "a.html")])
    assert cli.run(args) == 0
    assert str((tmp_path / "a.html").resolve()) in capsys.readouterr().out
    assert (tmp_path / "a.md").is_file() and (tmp_path / "a_figures" / "vm_vs_k_o.svg").is_file()
