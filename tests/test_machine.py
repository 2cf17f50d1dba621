"""Threads and CPUs: what vrest's parallel loops may use."""

from __future__ import annotations

import pytest

from vrest.machine import solver_threads, usable_cpus


def test_solver_threads_follow_vrest_threads_then_omp_and_never_exceed_the_cpus(monkeypatch):
    monkeypatch.delenv("VREST_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert solver_threads() == usable_cpus() >= 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as Dask sets it in its worker processes
    assert solver_threads() == 1
    monkeypatch.setenv("VREST_THREADS", "1000")
    assert solver_threads() == usable_cpus()


@pytest.mark.parametrize("text", ["0", "two", "-1", "1.5"])
def test_a_thread_count_that_is_not_a_whole_number_names_the_variable(monkeypatch, text):
    monkeypatch.setenv("VREST_THREADS", text)
    with pytest.raises(ValueError, match=r"\$VREST_THREADS: expected a whole number"):
        solver_threads()


def test_the_command_line_reports_a_bad_thread_setting_in_one_line_with_exit_code_2(monkeypatch, capsys):
    from vrest.cli import main

    monkeypatch.setenv("VREST_THREADS", "many")
    assert main(["predict", "--model", "rectifying-kir", "--k-o", "3.5"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().count("\n") == 0 and "$VREST_THREADS" in err
