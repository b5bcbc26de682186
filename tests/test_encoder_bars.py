"""benchmarks/encoder.py states the encoder issue's bars from its own figures: met or NOT met, never typed in."""

from benchmarks.encoder import bar_lines, headline


def _row(system, eer, ms, ocean=None):
    conds = {c: {"eer": eer} for c in ("clean", "white-5dB", "running_tap-5dB")}
    return {"system": system, "conditions": conds, "ms_per_1s_clip": ms,
            "ocean": {c: {"eer": e} for c, e in (ocean or {}).items()} or None}


def test_bars_follow_the_figures():
    doc = {"results": [_row("resemblyzer 0.1.4", 0.2, 15.0),
                       _row("voxprint encoder (shipped) [onnx]", 0.015, 3.0, {"clean": 0.04, "white-5dB": 0.05})]}
    lines = "\n".join(bar_lines(doc))
    assert "libri-dev TEST EER clean <= 0.016: 0.015 -> met" in lines
    assert "libri-dev TEST EER running_tap-5dB <= 0.04: 0.015 -> met" in lines
    assert "ocean-train TEST EER clean <= 0.03: 0.040 -> NOT met" in lines
    assert "ocean-train TEST EER white-5dB <= 0.06: 0.050 -> met" in lines
    assert "1/5.0 -> met" in lines  # 3.0 ms against 15.0 ms
    doc["results"][1]["ms_per_1s_clip"] = 3.1
    assert "-> NOT met" in bar_lines(doc)[-2]
    assert "model.onnx" in bar_lines(doc)[-1] and "-> met" in bar_lines(doc)[-1]  # the shipped files as they are
    assert headline(doc).endswith("ocean-train test clean 0.040, white 5 dB 0.050")


def test_no_shipped_row_no_bars():
    assert bar_lines({"results": [_row("resemblyzer 0.1.4", 0.2, 15.0)]}) == [] and headline({"results": []}) == ""
