"""DER / JER of a set of conversations with pyannote.metrics (benchmarks/diarize.py)."""

from __future__ import annotations

import warnings

COLLAR = 0.25  # seconds on each side of a reference boundary; pyannote's `collar` is the total width


def annotation(turns):
    from pyannote.core import Annotation, Segment

    a = Annotation()
    for i, t in enumerate(turns):
        a[Segment(t.start, t.end), i] = t.label
    return a


def score_set(results, collars=(COLLAR,)) -> dict:
    """results: [(reference turns, hypothesis turns, count right)]. Aggregated over the set (total
    errors / total reference speech, as pyannote accumulates): der_collar (first collar); for each
    collar c: der_c, missed_c, false_alarm_c, confusion_c (shares of reference speech) and jer_c; and
    count_right (share of conversations)."""
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    out = {}
    for c in collars:
        der = DiarizationErrorRate(collar=2 * c, skip_overlap=False)
        jer = JaccardErrorRate(collar=2 * c, skip_overlap=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 'uem approximated': the extent of reference and hypothesis
            for ref, hyp, _ in results:
                r, h = annotation(ref), annotation(hyp)
                der(r, h)
                jer(r, h)
        acc = der.accumulated_
        total = acc["total"] or 1.0
        out.update({f"der_{c}": abs(der), f"missed_{c}": acc["missed detection"] / total,
                    f"false_alarm_{c}": acc["false alarm"] / total, f"confusion_{c}": acc["confusion"] / total,
                    f"jer_{c}": abs(jer)})
    out["der_collar"] = out[f"der_{collars[0]}"]
    out["count_right"] = sum(ok for *_, ok in results) / max(len(results), 1)
    return out
