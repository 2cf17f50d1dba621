"""Loading recordings: bundled data sets, column synonyms, and one-line errors for bad input."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrest.data import CANONICAL, DataError, Recordings, _canonical, load_recordings

DATA = Path(__file__).resolve().parents[1] / "data"
CRAYFISH = DATA / "ernstrom_crayfish_muscle_students_2019.csv"
GELBAND = DATA / "gelband1972_human_atrium_fig6.csv"


def write(tmp_path: Path, content: str | bytes, name: str = "rec.csv") -> Path:
    """Write ``content`` to a file in ``tmp_path`` and return its path."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def load_error(source, **kwargs) -> str:
    """The message of the DataError that loading ``source`` raises; it must be one line."""
    with pytest.raises(DataError) as info:
        load_recordings(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert isinstance(info.value, ValueError)
    return message


# --- bundled data ------------------------------------------------------------------------------


def test_crayfish_loads():
    rec = load_recordings(CRAYFISH)
    t = rec.table
    assert isinstance(rec, Recordings)
    assert len(t) == 84 and t["cell"].nunique() == 84
    assert list(t.columns) == ["K_o_mM", "V_m_mV", "cell", "condition"]
    assert set(t["K_o_mM"]) == {5.4, 40.0, 100.0}
    # five solutions: three labels in `solution`, the gluconate label at three K_o levels
    assert t["condition"].nunique() == 3
    assert t.groupby(["condition", "K_o_mM"]).ngroups == 5
    sizes = t.groupby(["condition", "K_o_mM"]).size()
    assert sorted(sizes) == [15, 16, 17, 18, 18]
    assert t.index[0] == 2 and t.index[-1] == 85 and t.index.is_monotonic_increasing
    assert t["K_o_mM"].dtype == np.float64 and t["V_m_mV"].dtype == np.float64
    assert t["cell"].iloc[0] == "5-4KCl#1" and t["V_m_mV"].iloc[0] == -74.629
    assert rec.mapping == {"K_o_mM": "K_o_mM", "V_m_mV": "V_m_mV", "cell": "cell_or_fibre_id",
                           "condition": "solution"}
    assert rec.extra_columns == ("repo_file", "note")
    assert list(rec.extras.columns) == ["repo_file", "note"] and rec.extras.index.equals(t.index)
    assert "2 unknown columns kept: repo_file, note" in rec.notes
    text = rec.describe()
    assert "84 rows" in text and "cells: 84" in text and "5.4, 40, 100" in text
    assert "5 condition x K_o groups" in text and "condition <- 'solution'" in text


def test_gelband_loads_with_and_without_error_column():
    plain = load_recordings(GELBAND)
    assert len(plain.table) == 12
    assert "sem_mV" not in plain.table and "err_mV" in plain.extra_columns
    assert any("error_column='err_mV'" in note for note in plain.notes)
    rec = load_recordings(GELBAND, error_column="err_mV", error_kind="sem")
    t = rec.table
    assert list(t.columns) == ["K_o_mM", "V_m_mV", "sem_mV", "n"]
    assert t["sem_mV"].iloc[0] == 5.835 and (t["n"] == 6).all()
    assert list(t["K_o_mM"]) == [1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 40, 50]
    assert rec.mapping["sem_mV"] == "err_mV" and "err_mV" not in rec.extra_columns
    assert any(note.startswith("ASSUMPTION") and "err_mV" in note for note in rec.notes)
    as_sd = load_recordings(GELBAND, error_column="err_mV", error_kind="sd").table
    assert "sd_mV" in as_sd and "sem_mV" not in as_sd


def test_sha256_is_hashlib_digest_and_file_untouched():
    before = (CRAYFISH.read_bytes(), os.stat(CRAYFISH).st_mtime_ns)
    rec = load_recordings(str(CRAYFISH))
    assert rec.sha256 == hashlib.sha256(CRAYFISH.read_bytes()).hexdigest()
    assert rec.source == str(CRAYFISH)
    assert (CRAYFISH.read_bytes(), os.stat(CRAYFISH).st_mtime_ns) == before


# --- column names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "canonical"),
    [
        (["Ko", "K_out", "Kout", "K_o", "[K]o", "[K+]o (mM)", "K_ext", "potassium_out", "K_o_mM", "K+ o (mM)",
          "ko", "K-o", "K.o", "Ko [mM]", "extracellular K"], "K_o_mM"),
        (["Vm", "V_m", "Vrest", "V_rest", "RMP", "membrane_potential", "resting_potential", "V_m_mV",
          "Vm (mV)", "V_m [mV]", "RMP_mV", "Em"], "V_m_mV"),
        (["Na_o", "Na_out", "Nao", "Na_o_mM", "[Na+]o", "sodium_out"], "Na_o_mM"),
        (["Cl_o", "Clo", "Cl_out"], "Cl_o_mM"),
        (["K_i", "Ki", "K_in", "K_i_mM", "[K]i"], "K_i_mM"),
        (["Na_i", "Nai", "Na_in"], "Na_i_mM"),
        (["Cl_i", "Cli", "Cl_in", "intracellular Cl"], "Cl_i_mM"),
        (["Ca_o", "Cao", "Ca_out", "Ca_o_mM"], "Ca_o_mM"),
        (["temp", "temperature", "T_C", "temp_c", "Temperature (C)", "temperature_C"], "temperature_C"),
        (["cell", "cell_id", "fibre", "fiber", "fibre_id", "cell_or_fibre_id", "recording", "recording_id",
          "neuron"], "cell"),
        (["condition", "solution", "saline", "group", "treatment"], "condition"),
        (["sem", "se", "sem_mV", "stderr", "SEM (mV)", "s.e.m."], "sem_mV"),
        (["sd", "std", "sd_mV", "SD", "s.d."], "sd_mV"),
        (["n", "n_cells", "count", "N"], "n"),
    ],
)
def test_synonyms(names, canonical):
    for name in names:
        assert _canonical(name) == canonical, name


@pytest.mark.parametrize("name", ["err_mV", "note", "source_figure", "repo_file", "Ca_i", "voltage_clamp", "ok"])
def test_unknown_names(name):
    assert _canonical(name) is None


def test_synonyms_in_a_file_and_the_printed_mapping(tmp_path):
    path = write(tmp_path, "Vm (mV),Fibre,[K+]o (mM),Temp_C,Saline,Nao,remark\n"
                           "-80,f1,5.4,21,std,205,ok\n-40,f2,40,21,std,205,\n")
    rec = load_recordings(path)
    assert rec.mapping == {"K_o_mM": "[K+]o (mM)", "V_m_mV": "Vm (mV)", "Na_o_mM": "Nao",
                           "temperature_C": "Temp_C", "cell": "Fibre", "condition": "Saline"}
    assert list(rec.table.columns) == ["K_o_mM", "V_m_mV", "Na_o_mM", "temperature_C", "cell", "condition"]
    assert "column 'Vm (mV)' read as V_m_mV" in rec.notes
    assert "1 unknown column kept: remark" in rec.notes
    assert rec.extras["remark"].tolist() == ["ok", ""]
    text = rec.describe()
    assert "V_m_mV <- 'Vm (mV)'" in text and "K_o_mM <- '[K+]o (mM)'" in text and "cells: 2" in text


def test_entirely_empty_optional_column_is_dropped_with_a_note(tmp_path):
    rec = load_recordings(write(tmp_path, "Ko,Vm,Na_o,sem\n5,-80,,\n10,-70,,\n"))
    assert list(rec.table.columns) == ["K_o_mM", "V_m_mV"]
    assert "Na_o_mM" not in rec.mapping
    assert any("'Na_o'" in note and "dropped" in note for note in rec.notes)


def test_blank_rows_are_skipped_and_rows_keep_their_numbers(tmp_path):
    rec = load_recordings(write(tmp_path, "Ko,Vm\r\n5,-80\r\n\r\n,\r\n10,-70\r\n"))
    assert list(rec.table.index) == [2, 5]
    assert "2 blank rows skipped" in rec.notes


# --- DataFrame input ---------------------------------------------------------------------------


def test_dataframe_input_matches_file_input():
    df = pd.read_csv(CRAYFISH)
    copy = df.copy()
    rec = load_recordings(df)
    assert rec.source == "<DataFrame>"
    serialised = df.to_csv(index=False, lineterminator="\n").encode("utf-8")
    assert rec.sha256 == hashlib.sha256(serialised).hexdigest()
    pd.testing.assert_frame_equal(rec.table, load_recordings(CRAYFISH).table)
    pd.testing.assert_frame_equal(df, copy)  # input untouched


def test_dataframe_errors_name_the_row():
    df = pd.DataFrame({"Ko": [5.0, 10.0, 20.0], "Vm": [-80.0, np.nan, -50.0]})
    message = load_error(df)
    assert message.startswith("<DataFrame>: row 3, column 'Vm': empty cell")


# --- bad input ---------------------------------------------------------------------------------

GOOD = "K_o_mM,V_m_mV\n5.4,-80\n40,-30\n"

BAD_FILES = [
    # (content, keyword arguments, substrings the message must contain)
    (b"", {}, ["file is empty"]),
    (b"  \n\n", {}, ["file is empty"]),
    (b"K_o_mM,V_m_mV\n", {}, ["no data rows"]),
    (b"K_o_mM,V_m_mV\n5\x00,-80\n", {}, ["binary file", "NUL"]),
    ("K_o_mM,V_m_mV,note\n5,-80,caf\u00e9\n".encode("latin-1"), {}, ["not UTF-8", "0xe9", "line 2"]),
    (GOOD.encode("utf-16"), {}, ["UTF-16"]),
    (b"PK\x03\x04rest-of-a-zip", {}, ["Excel", "export the sheet as CSV"]),
    ("K_o_mM,V_m_mV\n5,-80\n10,-70,3\n", {}, ["row 3:", "3 fields but the header has 2"]),
    ("K_o_mM;V_m_mV\n5,4;-80\n", {}, ["row 1", "use comma-separated values; found ';'"]),
    ("K_o_mM\tV_m_mV\n5.4\t-80\n", {}, ["use comma-separated values; found tab"]),
    ("Ko,foo\n5,1\n", {}, ["missing required column V_m_mV", "'Ko', 'foo'"]),
    ("foo,bar\n5,1\n", {}, ["missing required column K_o_mM and V_m_mV"]),
    ('[{"K_o_mM": 5.4, "V_m_mV": -80}]', {}, ["looks like JSON"]),
    ('{"K_o_mM": [5.4], "V_m_mV": [-80]}', {}, ["looks like JSON"]),
    ("<!DOCTYPE html><html><body>404</body></html>", {}, ["looks like HTML"]),
    ("Ko,Vm,Ko\n5,-80,5\n", {}, ["row 1", "duplicate column name 'Ko'", "columns 1 and 3"]),
    ("Ko,K_out,Vm\n5,5,-80\n", {}, ["'Ko' and 'K_out' both read as K_o_mM"]),
    ("sem,Ko,Vm,err\n1,5,-80,2\n", {"error_column": "err", "error_kind": "sem"}, ["'sem' and 'err'"]),
    ("Ko,,Vm\n5,1,-80\n", {}, ["row 1, column 2: empty column name"]),
    ('Ko,Vm\n5,"-80\n', {}, ["row 2", "malformed quoting"]),
    ("Ko,Vm\n5,-80\n10,\n", {}, ["row 3, column 'Vm': empty cell", "required"]),
    ("Ko,Vm\n5,-80\n10,abc\n", {}, ["row 3, column 'Vm': 'abc' is not a number", "mV"]),
    ("Ko,Vm\n5,-80\n10,nan\n", {}, ["row 3, column 'Vm': 'nan' is not a number"]),
    ("Ko,Vm\ninf,-80\n", {}, ["row 2, column 'Ko': 'inf' is not a number", "mM"]),
    ("Ko,Vm\n5,\u221280\n", {}, ["row 2, column 'Vm'", "Unicode minus"]),
    ("Ko,Vm,Na_o\n5,-80,140\n10,-70,\n", {}, ["row 3, column 'Na_o': empty cell", "whole column"]),
    ("Ko,Vm,cell\n5,-80,a\n10,-70,\n", {}, ["row 3, column 'cell': empty cell"]),
    ("Ko,Vm\n5,-80\n10,250\n", {}, ["row 3, column 'Vm'", "250 mV is outside -200..+100 mV"]),
    ("Ko,Vm\n5,-0.08\n10,-0.07\n", {}, ["column 'Vm'", "looks like volts: multiply by 1000"]),
    ("Ko,Vm,Na_o\n5,-80,140\n5,-85,0\n", {}, ["row 3, column 'Na_o'", "not a positive concentration", "0.1"]),
    ("Ko,Vm\n-5,-80\n", {}, ["row 2, column 'Ko'", "not a positive concentration"]),
    ("K_o (M),Vm\n0.005,-80\n0.04,-30\n", {}, ["column 'K_o (M)'", "looks like molar: multiply by 1000"]),
    ("Ko,Vm,temp\n5,-80,21\n10,-70,60\n", {}, ["row 3, column 'temp'", "outside -5..50 degrees C"]),
    ("Ko,Vm,temperature (K)\n5,-80,295\n", {}, ["row 2, column 'temperature (K)'", "kelvin"]),
    ("Ko,Vm,sem\n5,-80,-1\n", {}, ["row 2, column 'sem'", "negative"]),
    ("Ko,Vm,n\n5,-80,6\n10,-70,2.5\n", {}, ["row 3, column 'n'", "not a positive integer"]),
    ("Ko,Vm,n\n5,-80,0\n", {}, ["row 2, column 'n'", "not a positive integer"]),
    (GOOD, {"error_column": "err_mV", "error_kind": "sem"}, ["error_column 'err_mV' is not a column"]),
    ("Ko,Vm,err\n5,-80,1\n", {"error_column": "err", "error_kind": "ci95"}, ["error_kind 'ci95'", "'sem' or 'sd'"]),
    ("Ko,Vm,err\n5,-80,1\n", {"error_column": "err"}, ["error_column and error_kind go together"]),
    ("Ko,Vm,err\n5,-80,-1\n", {"error_column": "err", "error_kind": "sd"}, ["row 2, column 'err'", "sd_mV >= 0"]),
]


@pytest.mark.parametrize(("content", "kwargs", "expected"), BAD_FILES)
def test_bad_input_gives_one_line_naming_file_row_and_column(tmp_path, content, kwargs, expected):
    path = write(tmp_path, content)
    before = path.read_bytes()
    message = load_error(path, **kwargs)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message, (part, message)
    assert "expected" in message
    assert path.read_bytes() == before


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.csv"
    assert load_error(missing) == f"{missing}: file not found; expected a CSV file of recordings"
    assert load_error(tmp_path).startswith(f"{tmp_path}: is a directory")


# --- property: column order and header case do not matter ---------------------------------------

BASE = {  # canonical -> (spellings, values)
    "K_o_mM": (["K_o_mM", "Ko", "K_out", "[K]o"], ["5.4", "40", "100"]),
    "V_m_mV": (["V_m_mV", "Vm", "RMP", "V_rest"], ["-80.5", "-40", "-20.25"]),
    "Na_o_mM": (["Na_o", "Nao"], ["205", "170", "110"]),
    "temperature_C": (["temp", "T_C"], ["21", "21.5", "22"]),
    "cell": (["cell", "fibre_id"], ["a", "b", "c"]),
    "condition": (["condition", "solution"], ["std", "glu", "glu"]),
    "sd_mV": (["sd", "std"], ["1.5", "2", "0"]),
    "n": (["n", "count"], ["3", "4", "5"]),
}


def _csv(headers: list[str], columns: list[list[str]]) -> str:
    rows = [",".join(headers)] + [",".join(col[i] for col in columns) for i in range(3)]
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("prop")
    path = write(folder, _csv(list(BASE), [v for _, v in BASE.values()]))
    return folder, load_recordings(path).table


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_column_order_and_header_case_do_not_change_the_table(reference, data):
    folder, expected = reference
    order = data.draw(st.permutations(list(BASE)))
    headers = []
    for canonical in order:
        name = data.draw(st.sampled_from(BASE[canonical][0]))
        flips = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
        headers.append("".join(c.swapcase() if f else c for c, f in zip(name, flips, strict=True)))
    path = write(folder, _csv(headers, [BASE[c][1] for c in order]))
    table = load_recordings(path).table
    pd.testing.assert_frame_equal(table, expected)
    assert tuple(table.columns) == tuple(c for c in CANONICAL if c in BASE)


def test_data_readme_lists_the_bundled_digests():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for path in (CRAYFISH, GELBAND):
        assert f"`{path.name}` | `{load_recordings(path).sha256}`" in readme
