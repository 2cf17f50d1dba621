"""Loader hardening: comment lines, K+ spellings and column maps, trailing commas, split by canonical name,
units in headers, plausibility limits, non-regular and oversized files, and the least data a fit needs."""

from __future__ import annotations

import hashlib
import os
import stat
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_data import CRAYFISH, DATA, GELBAND, write  # noqa: F401 - shared with the loader's tests

import vrest.data as data_module
from vrest.data import (
    MAX_FILE_BYTES,
    DataError,
    Recordings,
    _canonical,
    check_fittable,
    load_recordings,
    split_recordings,
)


def one_line(error: BaseException) -> str:
    message = str(error)
    assert isinstance(error, DataError) and isinstance(error, ValueError)
    assert "\n" not in message and "\r" not in message
    return message


def load_error(source, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_recordings(source, **kwargs)
    return one_line(info.value)


def assert_names(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, (part, message)


# --- 1. comment and blank lines above the header -----------------------------------------------


def test_comment_and_blank_lines_above_the_header_are_skipped_and_noted(tmp_path):
    path = write(tmp_path, "# exported by the rig\n#   date: 2024-01-01\n\n  # indented comment\n,,\n"
                           "K_o_mM,V_m_mV\n5.4,-80\n40,-30\n")
    rec = load_recordings(path)
    assert rec.table["K_o_mM"].tolist() == [5.4, 40.0] and rec.table["V_m_mV"].tolist() == [-80.0, -30.0]
    assert list(rec.table.index) == [7, 8]  # rows are the file's line numbers
    assert "5 lines above the header skipped (3 '#' comment lines, 2 blank lines)" in rec.notes
    assert "note: 5 lines above the header skipped" in rec.describe()
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()  # identity is the file's bytes


def test_rows_below_comments_are_named_by_their_line_in_the_file(tmp_path):
    path = write(tmp_path, "# one\n# two\nKo,Vm\n5,-80\n10,abc\n")
    message = load_error(path)
    assert message.startswith(f"{path}: row 5, column 'Vm': 'abc' is not a number")


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("# only\n# comments\n\n", ["no header row", "all 3 lines are '#' comments or blank"]),
        ("# K_o_mM,V_m_mV\n5,-80\n10,-70\n", ["row 2: the header is all numbers", "commented out"]),
        ("Ko,Vm\n5,-80\n# a comment below the header\n", ["row 3: 1 fields but the header has 2", "'#' comment"]),
    ],
)
def test_comment_problems_are_one_line_errors(tmp_path, content, parts):
    path = write(tmp_path, content)
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert_names(message, *parts, "expected")


# --- 2. K+ spellings and the explicit column map ------------------------------------------------


@pytest.mark.parametrize("name", ["K+ (mM)", "K (mM)", "[K+]o (mM)", "K+_o", "K+", "[K+]", "K", "Potassium (mM)",
                                  "bath K", "[K+]o conc (mM)", "K+ concentration", "K_o [mM]", "K+o", "K_bath"])
def test_more_k_spellings(tmp_path, name):
    assert _canonical(name) == "K_o_mM", name
    rec = load_recordings(write(tmp_path, f'"{name}",V_m (mV)\n5.4,-80\n40,-30\n'))
    assert rec.mapping["K_o_mM"] == name and rec.table["K_o_mM"].tolist() == [5.4, 40.0]


@pytest.mark.parametrize("name", ["Na", "Cl (mM)", "Ca", "K_m", "E_K", "Kd"])
def test_bare_other_ions_and_lookalikes_are_not_k_o(name):
    assert _canonical(name) != "K_o_mM"


def test_columns_maps_headers_the_loader_does_not_know(tmp_path):
    path = write(tmp_path, "bath potassium level,membrane voltage,who,sol\n5.4,-80,a,x\n40,-30,b,y\n")
    columns = {"K_o_mM": "bath potassium level", "V_m_mV": "membrane voltage", "cell": "who", "condition": "sol"}
    rec = load_recordings(path, columns=columns)
    assert rec.mapping == columns
    assert list(rec.table.columns) == ["K_o_mM", "V_m_mV", "cell", "condition"]
    assert "column 'bath potassium level' read as K_o_mM (given by columns=)" in rec.notes
    assert "K_o_mM <- 'bath potassium level'" in rec.describe()


def test_columns_chooses_between_two_candidates_and_keeps_the_other_as_extra(tmp_path):
    path = write(tmp_path, "Ko,K+ (mM),Vm\n1,5.4,-80\n2,40,-30\n")
    assert "both read as K_o_mM" in load_error(path)
    rec = load_recordings(path, columns={"K_o_mM": "K+ (mM)"})
    assert rec.table["K_o_mM"].tolist() == [5.4, 40.0]
    assert rec.extra_columns == ("Ko",) and rec.extras["Ko"].tolist() == ["1", "2"]
    assert any("'Ko' would be read as K_o_mM" in note for note in rec.notes)


def test_columns_header_match_ignores_case_and_surrounding_spaces(tmp_path):
    rec = load_recordings(write(tmp_path, "Bath K,Vm\n5,-80\n"), columns={"K_o_mM": " bath k "})
    assert rec.mapping["K_o_mM"] == "Bath K"


@pytest.mark.parametrize(
    ("columns", "parts"),
    [
        ({"K_o_mM": "K+ (mM)"}, ["row 1: columns maps K_o_mM to 'K+ (mM)', which is not a header of the file",
                                 "'Kbath', 'Vm'"]),
        ({"K_out": "Kbath"}, ["columns: 'K_out' is not a canonical column name", "K_o_mM, V_m_mV"]),
        ({"K_o_mM": "Kbath", "Na_o_mM": "Kbath"}, ["columns maps both K_o_mM and Na_o_mM to 'Kbath'"]),
        ({"K_o_mM": 3}, ["columns: K_o_mM is mapped to 3", "expected a header"]),
        (["K_o_mM"], ["columns is a list", "expected a mapping"]),
    ],
)
def test_bad_column_maps_are_one_line_errors_naming_the_file_and_header(tmp_path, columns, parts):
    path = write(tmp_path, "Kbath,Vm\n5,-80\n")
    message = load_error(path, columns=columns)
    assert message.startswith(f"{path}: ")
    assert_names(message, *parts, "expected")


def test_split_takes_the_column_map_too(tmp_path):
    path = write(tmp_path, "who,bath,Vm\na,5,-80\na,10,-70\nb,5,-81\nb,10,-71\n")
    out = split_recordings(path, "cell", columns={"cell": "who", "K_o_mM": "bath"})
    assert sorted(out) == ["a", "b"] and out["b"].table["V_m_mV"].tolist() == [-81.0, -71.0]


# --- 3. Excel's trailing comma ------------------------------------------------------------------


def test_trailing_comma_on_every_line_is_dropped_and_noted(tmp_path):
    path = write(tmp_path, "K_o_mM,V_m_mV,cell,\r\n5.4,-80,a,\r\n40,-30,b,\r\n")
    rec = load_recordings(path)
    assert list(rec.table.columns) == ["K_o_mM", "V_m_mV", "cell"] and rec.extra_columns == ()
    assert rec.table["V_m_mV"].tolist() == [-80.0, -30.0]
    assert any("empty unnamed last column dropped" in note and "trailing comma" in note for note in rec.notes)
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_trailing_comma_on_data_lines_only_is_dropped_and_noted(tmp_path):
    rec = load_recordings(write(tmp_path, "Ko,Vm\n5,-80,\n10,-70,,\n"))
    assert rec.table["K_o_mM"].tolist() == [5.0, 10.0]
    assert any("trailing fields beyond the header dropped on 2 rows" in note for note in rec.notes)


def test_a_value_under_the_unnamed_trailing_column_is_refused(tmp_path):
    path = write(tmp_path, "Ko,Vm,\n5,-80,\n10,-70,3\n")
    message = load_error(path)
    assert message.startswith(f"{path}: row 3, column 3: '3' under a column without a name; expected a name")


# --- 4. split by the canonical name; refused rows named -----------------------------------------

SPLIT = "Cell ID,Ko,Vm\nc1,5,-80\nc1,10,-70\nc2,5,abc\nc2,10,-0.07\nc2,20,-50\nc2,40,xyz\nc3,5,-82\nc3,10,-72\n"


@pytest.mark.parametrize("by", ["cell", "Cell ID", "cell id", "CELL", "fibre"])
def test_split_by_the_header_or_the_canonical_name(tmp_path, by):
    out = split_recordings(write(tmp_path, SPLIT), by)
    assert sorted(out) == ["c1", "c2", "c3"]
    assert isinstance(out["c1"], Recordings) and out["c1"].table["V_m_mV"].tolist() == [-80.0, -70.0]
    assert out["c3"].table["cell"].tolist() == ["c3", "c3"]


def test_split_names_every_refused_row_of_a_recording_and_why(tmp_path):
    path = write(tmp_path, SPLIT)
    out = split_recordings(path, "cell")
    message = one_line(out["c2"])
    assert message.startswith(f"{path} [Cell ID = c2]: row 4, column 'Vm': 'abc' is not a number")
    assert "(same in row 7)" in message  # the other unreadable row
    assert "row 5, column 'Vm': V_m -0.07 looks like volts" in message  # and the row in volts
    assert isinstance(out["c1"], Recordings) and isinstance(out["c3"], Recordings)  # the others intact


def test_split_reports_problems_in_several_columns_of_one_recording(tmp_path):
    path = write(tmp_path, "cell,Ko,Vm\na,5,-80\na,10,-70\nb,0,-80\nb,10,nope\n")
    message = one_line(split_recordings(path, "cell")["b"])
    assert_names(message, "row 4, column 'Ko': 0 mM is not a positive concentration", " | ",
                 "row 5, column 'Vm': 'nope' is not a number")


def test_split_by_an_unknown_column_is_one_line(tmp_path):
    path = write(tmp_path, SPLIT)
    with pytest.raises(DataError) as info:
        split_recordings(path, "condition")
    assert_names(one_line(info.value), str(path), "no column 'condition'", "Cell ID, Ko, Vm")


# --- 5. units in the headers --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["K_o (\u00b5M)", "K_o (\u03bcM)", "K_o [uM]", "K_o (uM)", "Ko_uM", "K_o (umol/L)",
                                  "[K+]o (\u00b5M)"])
def test_micromolar_k_o_is_converted_to_mm(tmp_path, name):
    rec = load_recordings(write(tmp_path, f"{name},V_m_mV\n5400,-80\n40000,-30\n"))
    assert rec.table["K_o_mM"].tolist() == [5.4, 40.0]
    assert rec.conversions == {"K_o_mM": "converted from uM to mM (values / 1000)"}
    assert f"column {name!r} read as K_o_mM, converted from uM to mM (values / 1000)" in rec.notes
    assert f"K_o_mM <- {name!r} (converted from uM to mM (values / 1000))" in rec.describe()


def test_other_concentration_units(tmp_path):
    rec = load_recordings(write(tmp_path, "K_o (mM),V_m_mV,Ca_o (nM),Na_o [mmol/L]\n5.4,-80,2000000,140\n"))
    t = rec.table
    assert t["K_o_mM"].tolist() == [5.4] and t["Ca_o_mM"].tolist() == [2.0] and t["Na_o_mM"].tolist() == [140.0]
    assert set(rec.conversions) == {"Ca_o_mM"}


def test_volts_are_converted_to_mv_when_the_header_says_so(tmp_path):
    rec = load_recordings(write(tmp_path, "Ko,V_m (V),sem (V)\n5,-0.08,0.002\n10,-0.0705,0.001\n"))
    np.testing.assert_allclose(rec.table["V_m_mV"], [-80.0, -70.5])
    np.testing.assert_allclose(rec.table["sem_mV"], [2.0, 1.0])
    assert rec.conversions["V_m_mV"] == "converted from V to mV (values x 1000)"


def test_units_in_mm_and_mv_leave_the_values_alone(tmp_path):
    rec = load_recordings(write(tmp_path, "K_o [mM],V_m [mV],T (\u00b0C)\n5.4,-80.25,21\n"))
    assert rec.table.iloc[0].tolist() == [5.4, -80.25, 21.0] and rec.conversions == {}


@pytest.mark.parametrize(
    ("header", "values", "parts"),
    [
        ("K_o (M)", "0.0054", ["row 1, column 'K_o (M)': unit M (molar) is not converted", "multiply by 1000"]),
        ("Ko_M", "0.0054", ["row 1, column 'Ko_M': unit M (molar)"]),
        ("K_o (mmol/kg)", "5.4", ["row 1, column 'K_o (mmol/kg)': unit 'mmol/kg' is not a unit of K_o_mM",
                                  "mM, uM (or \u00b5M) or nM"]),
        ("K_o (bath)", "5.4", ["row 1, column 'K_o (bath)': unit 'bath'"]),
        ("K_o (mV)", "5.4", ["row 1, column 'K_o (mV)': unit 'mV' is not a unit of K_o_mM"]),
        ("K_o_mM (uM)", "5400", ["row 1, column 'K_o_mM (uM)': the header states two units (mM and uM)"]),
    ],
)
def test_concentration_units_that_are_refused(tmp_path, header, values, parts):
    path = write(tmp_path, f"{header},Vm\n{values},-80\n")
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert_names(message, *parts, "expected")


@pytest.mark.parametrize(
    ("header", "parts"),
    [
        ("Vm (\u00b5V)", ["row 1, column 'Vm (\u00b5V)': unit '\u00b5V' is not a unit of V_m_mV", "mV or V"]),
        ("Vm (mM)", ["row 1, column 'Vm (mM)': unit 'mM' is not a unit of V_m_mV"]),
    ],
)
def test_voltage_units_that_are_refused(tmp_path, header, parts):
    path = write(tmp_path, f"Ko,{header}\n5,-80\n")
    assert_names(load_error(path), str(path), *parts)


def test_temperature_in_kelvin_is_refused_naming_the_row(tmp_path):
    path = write(tmp_path, "Ko,Vm,T (K)\n5,-80,25\n10,-70,25\n")
    message = load_error(path)
    assert message.startswith(f"{path}: row 2, column 'T (K)': 25 is in kelvin")
    assert "subtract 273.15" in message


# --- 6. plausibility limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("Ko,Vm\n5,-80\n1e6,-70\n", ["row 3, column 'Ko': 1e+06 mM is above 1000 mM"]),
        ("Ko,Vm,K_i\n5,-80,140\n10,-70,1e6\n", ["row 3, column 'K_i': 1e+06 mM is above 1000 mM"]),
        ("K_o (uM),Vm\n5400,-80\n2e9,-70\n", ["row 3, column 'K_o (uM)': 2e+09 uM (2e+06 mM) is above 1000 mM"]),
        ("Ko,Vm\n5,-80\n10,1e400\n", ["row 3, column 'Vm': '1e400' is not a number (too large"]),
        ("Ko,Vm\n5,-80\n10,-250\n", ["row 3, column 'Vm': V_m -250 mV is outside -200..+100 mV"]),
        ("Ko,Vm\n5,-80\n10,150\n", ["row 3, column 'Vm': V_m 150 mV is outside"]),
        ("Ko,Vm,sd\n5,-80,2\n10,-70,300\n", ["row 3, column 'sd': 300 mV is implausibly large"]),
        ("Ko,Vm,n\n5,-80,6\n10,-70,1e9\n", ["row 3, column 'n': 1e+09 is not a positive integer"]),
        ("K_o (uM),Vm\n5,-80\n40,-30\n", ["column 'K_o (uM)': every K_o is below 0.2 mM after converting from uM",
                                          "check the unit in the header"]),
    ],
)
def test_implausible_values_name_file_row_and_column(tmp_path, content, parts):
    path = write(tmp_path, content)
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert_names(message, *parts, "expected")


def test_one_row_in_volts_among_mv_is_refused_naming_that_row(tmp_path):
    path = write(tmp_path, "Ko,Vm\n5,-80\n10,-0.07\n20,-50\n40,-30\n")
    message = load_error(path)
    assert message.startswith(f"{path}: row 3, column 'Vm': V_m -0.07 looks like volts among values in mV")
    assert "mixed units" in message


def test_a_column_all_in_volts_without_a_unit_is_refused_with_advice(tmp_path):
    path = write(tmp_path, "Ko,Vm\n5,-0.08\n10,-0.07\n20,-0.45\n")
    message = load_error(path)
    assert_names(message, f"{path}: column 'Vm': every V_m is within +-0.5", "looks like volts: multiply by 1000",
                 "label the header 'V_m (V)'")


def test_a_row_in_mv_in_a_volts_column_is_refused(tmp_path):
    path = write(tmp_path, "Ko,V_m (V)\n5,-0.08\n10,-70\n")
    message = load_error(path)
    assert message.startswith(f"{path}: row 3, column 'V_m (V)': V_m -70 V is -70000 mV: looks like mV")


def test_near_zero_mv_that_cannot_be_volts_is_kept(tmp_path):
    rec = load_recordings(write(tmp_path, "Ko,Vm\n5,-80\n150,-0.3\n150,0\n"))
    assert rec.table["V_m_mV"].tolist() == [-80.0, -0.3, 0.0]


def test_several_bad_rows_of_one_column_are_all_named(tmp_path):
    path = write(tmp_path, "Ko,Vm\n5,-80\n1e6,-70\n2e6,-60\n3e6,-50\n")
    message = load_error(path)
    assert message.startswith(f"{path}: row 3, column 'Ko'") and message.endswith("(same in rows 4, 5)")


# --- 7. non-regular and oversized files ---------------------------------------------------------


def test_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    outcome: list[BaseException | object] = []

    def target() -> None:
        try:
            outcome.append(load_recordings(fifo))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # release a blocked open before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("load_recordings blocked on a FIFO")
    assert outcome and isinstance(outcome[0], DataError)
    assert one_line(outcome[0]) == (f"{fifo}: is a FIFO (named pipe), not a regular file; "
                                    "expected a CSV file of recordings (nothing was read)")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused(device):
    if not os.path.exists(device) or not stat.S_ISCHR(os.stat(device).st_mode):
        pytest.skip(f"{device} is not a character device here")
    assert load_error(device) == (f"{device}: is a character device, not a regular file; "
                                  "expected a CSV file of recordings (nothing was read)")


def test_a_symlink_to_a_device_and_a_directory_are_refused(tmp_path):
    link = tmp_path / "zero.csv"
    link.symlink_to("/dev/zero")
    assert load_error(link).startswith(f"{link}: is a character device, not a regular file")
    assert load_error(tmp_path) == f"{tmp_path}: is a directory; expected a CSV file of recordings"
    assert load_error(tmp_path / "no" / "such.csv").endswith("file not found; expected a CSV file of recordings")
    assert "not a usable path" in load_error(str(tmp_path / "a\0b.csv"))
    assert "not a path or a DataFrame" in load_error(42)


def test_files_beyond_the_size_limit_are_refused_before_reading(tmp_path, monkeypatch):
    assert MAX_FILE_BYTES == 200 * 1024 * 1024 and "200 MiB" in data_module.__doc__ + " 200 MiB"
    path = write(tmp_path, "Ko,Vm\n" + "5,-80\n" * 100)
    monkeypatch.setattr(data_module, "MAX_FILE_BYTES", 100)

    def no_open(*args, **kwargs):
        raise AssertionError("opened a file beyond the limit")

    monkeypatch.setattr(data_module.os, "open", no_open)
    message = load_error(path)
    assert message.startswith(f"{path}: 606 bytes, above the limit of 100 bytes")
    assert "MAX_FILE_BYTES" in message and "nothing was read" in message


def test_a_sparse_file_beyond_200_mib_is_refused(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk space used
    assert load_error(path).startswith(f"{path}: {MAX_FILE_BYTES + 1:,} bytes, above the limit")


# --- 8. the least data a fit needs --------------------------------------------------------------


def test_check_fittable_refuses_too_few_rows(tmp_path):
    path = write(tmp_path, "Ko,Vm\n5,-80\n")
    rec = load_recordings(path)
    with pytest.raises(DataError) as info:
        check_fittable(rec, 1)
    assert one_line(info.value) == (f"{path}: column 'Vm': 1 row with a finite V_m, too few to fit 1 parameter "
                                    "and the residual sd; expected at least 2 rows")
    rec3 = load_recordings(write(tmp_path, "Ko,Vm\n5,-80\n10,-70\n20,-55\n", "three.csv"))
    check_fittable(rec3, 2)  # 3 rows = 2 parameters + residual sd
    with pytest.raises(DataError, match="3 rows with a finite V_m, too few to fit 3 parameters"):
        check_fittable(rec3, 3)


def test_check_fittable_refuses_one_design_point_for_two_parameters(tmp_path):
    path = write(tmp_path, "Ko,Vm,condition\n5.4,-80,std\n5.4,-81,std\n5.4,-79,std\n5.4,-82,std\n")
    rec = load_recordings(path)
    check_fittable(rec, 1)  # one parameter: the mean V_m at one K_o fixes it
    with pytest.raises(DataError) as info:
        check_fittable(rec, 2)
    message = one_line(info.value)
    assert message.startswith(f"{path}: all 4 rows are at one design point (K_o_mM 5.4, condition std)")
    assert "expected at least two K_o levels" in message
    other = load_recordings(write(tmp_path, "Ko,Vm,condition\n5.4,-80,std\n5.4,-81,std\n5.4,-60,Na_free\n"
                                            "5.4,-62,Na_free\n", "two.csv"))  # fmt: skip
    check_fittable(other, 3)  # two solutions at one K_o are two design points


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2", None])
def test_check_fittable_refuses_a_bad_parameter_count(tmp_path, n):
    rec = load_recordings(write(tmp_path, "Ko,Vm\n5,-80\n10,-70\n"))
    with pytest.raises(DataError, match="n_parameters .* expected a whole number >= 1"):
        check_fittable(rec, n)


def test_check_fittable_accepts_the_bundled_data():
    check_fittable(load_recordings(CRAYFISH), 4)
    check_fittable(load_recordings(GELBAND), 5)
    check_fittable(load_recordings(GELBAND), np.int64(3))


# --- bundled data unchanged, and nothing but DataError for any input -----------------------------


def test_bundled_data_keep_their_values_and_identity():
    for path in (CRAYFISH, GELBAND):
        rec = load_recordings(path)
        assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert rec.conversions == {}
        pd.testing.assert_frame_equal(rec.table[["K_o_mM", "V_m_mV"]].reset_index(drop=True),
                                      pd.read_csv(path)[["K_o_mM", "V_m_mV"]].astype(float))


HEADERS = ["Ko", "K+ (mM)", "K_o (uM)", "K_o (M)", "Vm", "V_m (V)", "Vm (mV)", "cell", "sem", "n", "T (K)", "",
           "Na_o", "#", "x (y)", "K_o"]
CELLS = ["5", "-80", "-0.07", "0", "1e6", "1e400", "abc", "", "#", '"', "5,4", "\u221280", " 40 ", "nan", "2.5"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    preamble=st.lists(st.sampled_from(["# note", "", ",,", "  #x"]), max_size=3),
    header=st.lists(st.sampled_from(HEADERS), min_size=1, max_size=5),
    rows=st.lists(st.lists(st.sampled_from(CELLS), min_size=0, max_size=6), max_size=5),
    trailing=st.booleans(),
    by=st.sampled_from(["cell", "Ko", "nope"]),
)
def test_any_input_gives_recordings_or_a_one_line_data_error(tmp_path, preamble, header, rows, trailing, by):
    end = "," if trailing else ""
    text = "\n".join([*preamble, ",".join(header) + end, *(",".join(r) + end for r in rows)]) + "\n"
    path = write(tmp_path, text, "fuzz.csv")
    try:
        rec = load_recordings(path)
    except DataError as exc:
        one_line(exc)
    else:
        assert rec.sha256 == hashlib.sha256(text.encode()).hexdigest()
        assert rec.table["K_o_mM"].between(0, 1000, inclusive="right").all()
        assert rec.table["V_m_mV"].between(-200, 100).all()
        try:
            check_fittable(rec, 2)
        except DataError as exc:
            one_line(exc)
    try:
        out = split_recordings(path, by)
    except DataError as exc:
        one_line(exc)
    else:
        for value in out.values():
            if isinstance(value, DataError):
                one_line(value)


def test_a_row_is_named_by_the_line_it_starts_on(tmp_path):
    path = write(tmp_path, 'Ko,Vm,note\n5,-80,"two\nlines"\n10,abc,x\n')
    assert load_error(path).startswith(f"{path}: row 4, column 'Vm': 'abc' is not a number")
    rec = load_recordings(write(tmp_path, 'Ko,Vm,note\n5,-80,"two\nlines"\n10,-70,x\n', "ok.csv"))
    assert list(rec.table.index) == [2, 4]
