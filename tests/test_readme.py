"""The README's Results blocks are generated from a real run folder."""

import pytest

from voxprint.cli import main
from voxprint.errors import VoxprintError
from voxprint.io import read_csv
from voxprint.report.readme import update_readme


def test_readme_block_is_filled_from_the_run(tiny_run, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\nbefore\n<!-- results:tiny:start -->\nold text\n<!-- results:tiny:end -->\nafter\n")
    assert main(["report", str(tiny_run), "--readme", str(readme), "--section", "tiny"]) == 0
    text = readme.read_text()
    assert "old text" not in text and text.startswith("# x\n\nbefore\n") and text.endswith("after\n")
    acc = float(read_csv(tiny_run / "results.csv")[0]["accuracy"])
    assert f"{acc:.4f}" in text  # the number in the table is the run's number
    assert "| **cnn** |" in text and "mel (test accuracy / macro-F1)" in text
    assert "accuracy vs SNR" in text and "white 10 dB" in text
    assert (tmp_path / "docs" / "results" / "tiny" / "chart_accuracy.png").stat().st_size > 1000
    assert "](docs/results/tiny/chart_accuracy.png)" in text
    # regenerating is idempotent
    update_readme(tiny_run, readme, "tiny")
    assert readme.read_text() == text


def test_readme_without_markers_is_refused(tiny_run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# nothing to fill\n")
    with pytest.raises(VoxprintError, match="markers"):
        update_readme(tiny_run, readme, "tiny")
