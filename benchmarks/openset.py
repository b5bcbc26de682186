"""Open-set decisions in noise: today's raw threshold, the target-FAR rule on raw cosine, and AS-norm +
calibration + the target-FAR rule (the library's default), with resemblyzer by the same FAR rule, in
one run on libri-dev TEST speakers.

    python -m benchmarks.openset [--far 0.01] [--splits 20] [--out docs/results/openset]

Open set: half the 30 test speakers enrolled in quiet (first half of their segments), the others
strangers; every test segment identified, repeated over --splits seeded halves (pooled). Conditions:
clean; white and running_tap at 10, 5, 0 dB on the test side only, and on both sides (enrolment noisy
too). Per rule and condition: enrolled named right, strangers accepted as someone (the actual FAR of
identify, against the target), and on verification trials (every test segment against all 30 speakers'
profiles): EER, the per-trial FAR at verify's threshold, Cllr, actual and minimum DCF (p_target 0.01).
And enrolment's duplicate-voice warning in quiet: how often enrolling a speaker again under a new name is
said to match another speaker, and how often their own first profile (duplicates()).
Thresholds, cohort and calibration come from train/dev speakers only (benchmarks/fit_scoring.py).

The same on ocean-train's TEST half (non-native English, children and adults): every rule above was fitted
on LibriSpeech readers, and a user's voices may be nothing like them. Beside them, a candidate: the shipped
rule refit with ocean-train's encoder-TRAIN speakers in the cohort and its encoder-DEV speakers in the
calibration (candidate(); its TEST half fits nothing), measured, not shipped.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
from pathlib import Path
from statistics import NormalDist

import numpy as np

from benchmarks import openset_data as D
from benchmarks.common import DATA, REPO, START_COMMIT, command
from benchmarks.fit_scoring import dev_trials, fit_logistic, fitted
from voxprint import protocol as P
from voxprint.io import write_json
from voxprint.report.results import code_version, write_result
from voxprint.scoring import Candidate, Scorer, mean_snr, tail_gaussian
from voxprint.vectors import unit
from voxprint.verification import act_dcf, cllr, eer, min_dcf

# the code these figures depend on: docs/results/ says they are stale once one of these changes
INPUTS = ["benchmarks/openset.py", "benchmarks/openset_data.py", "benchmarks/fit_scoring.py", "voxprint/scoring.py",
          "voxprint/quality.py", "voxprint/decisions.py", "voxprint/pretrained", "voxprint/inference.py",
          "voxprint/clip_scoring.py", "voxprint/vad"]

SHIPPED = REPO / "voxprint" / "pretrained" / "encoder"
# the candidate's cohort: this share of its rows from ocean-train's encoder-TRAIN speakers, the rest libri-dev's
OCEAN_SHARE = 0.4
CANDIDATE = "voxprint AS-norm + calibration refit with ocean-train voices (candidate, not shipped)"


class Rule:
    """How scores are made (raw cosine or AS-norm) and thresholded (fixed, or the target-FAR rule)."""

    def __init__(self, name, system, scorer=None, fixed=None, imp=(0.0, 1.0), calib=None):
        self.name, self.system, self.scorer, self.fixed, self.imp, self.calib = name, system, scorer, fixed, imp, calib

    def scores(self, means, enrol_snr, temb, test_snr):
        """[M, K] scores of test embeddings against profiles (raw cosine, or AS-norm by the library)."""
        if self.scorer is None:
            return temb @ means.T
        return self.scorer.normalise(means, enrol_snr, temb, test_snr)

    def threshold(self, far, k, test_snr, enrol_snr):
        """[M, K] thresholds for test clips (SNR [M]) against profiles (mean SNR [K])."""
        shape = (len(test_snr), len(enrol_snr))
        if self.fixed is not None:
            return np.full(shape, self.fixed)
        if self.scorer is not None:  # the library's own rule
            return np.broadcast_to(self.scorer.threshold(far, k, test_snr[:, None], enrol_snr[None, :]), shape)
        per = 1 - (1 - far) ** (1 / k)
        return np.full(shape, self.imp[0] + self.imp[1] * NormalDist().inv_cdf(1 - per))

    def llr(self, s, tq, eq):
        if self.scorer is not None:
            return self.scorer.llr(s, tq, eq)
        w, b = self.calib  # raw cosine, score-only logistic calibration fitted on dev
        return s * w + b


def rules_for(system, noise_dir) -> list[Rule]:
    """The rules compared for one system; every threshold and calibration from dev speakers."""
    dev = P.segments(DATA / "libri-dev", P.load_split()["dev"])
    _, raw, _, y, _ = dev_trials(system, dev, noise_dir, None)
    w, b = fit_logistic(raw[:, None], y)
    imp_raw = tail_gaussian(raw[~y])  # the same impostor model as the library's (scoring.tail_gaussian)
    out = [Rule(f"{system.label} raw cosine, FAR rule", system, imp=imp_raw, calib=(float(w[0]), b))]
    if system.label != "voxprint":  # the rule the shipped threshold was chosen by: dev EER point, pooled
        t = float(eer(raw, y)[1])
        out.append(Rule(f"{system.label} raw cosine, dev EER threshold {t:.3f}", system, fixed=t, calib=(float(w[0]), b)))
    if system.label == "voxprint":
        thr = float(P.read_json(SHIPPED / "calibration.json")["threshold"])
        out.insert(0, Rule(f"voxprint raw cosine, shipped threshold {thr:.3f}", system, fixed=thr,
                           calib=(float(w[0]), b)))
        sc = Scorer.load(SHIPPED)
        out.append(Rule("voxprint AS-norm + calibration, FAR rule (default)", system, scorer=sc,
                        imp=(sc.imp_mean, sc.imp_sd)))
        cand = candidate(system, noise_dir)
        out.append(Rule(CANDIDATE, system, scorer=cand, imp=(cand.imp_mean, cand.imp_sd)))
    return out


def candidate(system, noise_dir) -> Scorer:
    """The shipped decision rule refit with voices unlike LibriSpeech (`python -m benchmarks.fit_scoring
    --ocean OCEAN_SHARE`): the cohort also holds ocean-train's encoder-TRAIN speakers, the calibration and
    the impostor models also see its encoder-DEV speakers (voxprint/encoder/ocean_split.json; its TEST half,
    measured here, fits nothing). Measured beside the shipped rule, not shipped."""
    cohort, cohort_snr, info = fitted(system, noise_dir, OCEAN_SHARE)
    return Scorer(cohort, cohort_snr, info)


def populations() -> list[tuple[str, str, list[P.Segment]]]:
    """(label, cache group, segments) of the speakers measured: libri-dev TEST speakers, and ocean-train's
    TEST half (non-native English, children and adults; voxprint/encoder/ocean_split.json)."""
    from voxprint.encoder import data as ED

    return [("libri-dev test", "test", P.segments(DATA / "libri-dev", P.load_split()["test"])),
            ("ocean-train test", "ocean-test", ED.ocean_segments(DATA / "ocean-train", ED.ocean_split()["test"]))]


def views(system, segs, noise_dir, group: str = "test"):
    """Condition name -> (emb, speech_s, snr) of every test segment."""
    return {c.name: D.cached(system, group, segs, c, P.NOISE_SEED) for c in D.conditions(D.REPORT_NOISES, noise_dir)}


def placements(noise_dir):
    """(label, enrolment condition, test condition) of every reported condition."""
    out = [("clean", "clean", "clean")]
    for c in D.conditions(D.REPORT_NOISES, noise_dir)[1:]:
        out += [(f"{c.name} test", "clean", c.name), (f"{c.name} both", c.name, c.name)]
    return out


def profile(view, idx):
    emb, speech, snr = view
    q = {"speech_s": float(speech[idx].sum()), "snr_db": float(snr[idx].sum()), "clips": int(len(idx))}
    return unit(unit(emb[idx], dtype=np.float64).mean(0)).astype(np.float32), q


def open_set(rule, segs, enr, tst, far, splits) -> dict:
    """Pooled over seeded halves: enrolled named right, strangers accepted as someone."""
    spk = sorted({s.speaker for s in segs})
    tests = [i for i, s in enumerate(segs) if not s.enrol]
    named = known = accepted = strangers = 0
    for seed in range(splits):
        enrolled, _ = P.open_set_speakers(spk, seed)
        profs = [profile(enr, [i for i, s in enumerate(segs) if s.enrol and s.speaker == p]) for p in enrolled]
        esnr = np.array([mean_snr(q) for _, q in profs])
        sc = rule.scores(np.stack([m for m, _ in profs]), esnr, tst[0][tests].astype(np.float32), tst[2][tests])
        margin = sc - rule.threshold(far, len(enrolled), tst[2][tests], esnr)
        ok, arg = margin.max(1) >= 0, margin.argmax(1)
        for j, t in enumerate(tests):
            if segs[t].speaker in enrolled:
                known += 1
                named += bool(ok[j] and enrolled[arg[j]] == segs[t].speaker)
            else:
                strangers += 1
                accepted += bool(ok[j])
    return {"named": named / known, "stranger_fa": accepted / strangers, "n_known": known, "n_strangers": strangers}


def verification(rule, segs, enr, tst, far) -> dict:
    """Every test segment against every test speaker's profile: EER, per-trial FAR, Cllr, DCFs."""
    spk = sorted({s.speaker for s in segs})
    profs = [profile(enr, [i for i, s in enumerate(segs) if s.enrol and s.speaker == p]) for p in spk]
    tests = [i for i, s in enumerate(segs) if not s.enrol]
    esnr = np.array([mean_snr(q) for _, q in profs])
    sc = rule.scores(np.stack([m for m, _ in profs]), esnr, tst[0][tests].astype(np.float32), tst[2][tests])
    thr = rule.threshold(far, 1, tst[2][tests], esnr).ravel()
    y = np.array([[segs[t].speaker == p for p in spk] for t in tests])
    llr = np.array([[float(rule.llr(sc[j, k], {"speech_s": float(tst[1][t]), "snr_db": float(tst[2][t]), "clips": 1},
                                    profs[k][1])) for k in range(len(spk))] for j, t in enumerate(tests)])
    s, y, llr = sc.ravel(), y.ravel(), llr.ravel()
    return {"eer": eer(s, y)[0], "trial_fa": float(np.mean(s[~y] >= thr[~y])),
            "cllr": cllr(llr, y), "act_dcf": act_dcf(llr, y), "min_dcf": min_dcf(s, y)[0]}


def duplicates(rule, segs, view, far) -> dict:
    """Enrolment's duplicate-voice warning at the decision's target FAR, in quiet: every speaker enrolled from
    the first half of their segments, then each enrolled again under a new name from the other half. Judged
    two ways: each new clip decided against the profiles as identify decides it, warned when most clips
    match one profile (enrol_check.duplicate_of, what `enroll` does), and the new clips' mean decided as one
    clip (`mean`, what it did before). False warnings: the share of second enrolments said to match
    ANOTHER speaker (all others enrolled); caught: said to match their own first profile."""
    from voxprint.enrol_check import duplicate_of

    spk = sorted({s.speaker for s in segs})
    first = [Candidate(p, *profile(view, [i for i, s in enumerate(segs) if s.enrol and s.speaker == p]))
             for p in spk]
    n = len(spk)

    def raw_threshold(k):  # a raw-cosine rule's threshold for k profiles (it does not depend on the SNRs)
        return None if rule.scorer is not None else float(rule.threshold(far, k, np.zeros(1), np.zeros(1))[0, 0])

    out = {}
    for how in ("clips", "mean"):
        false = caught = 0
        for j, p in enumerate(spk):
            idx = [i for i, s in enumerate(segs) if not s.enrol and s.speaker == p]
            if how == "mean":
                m, q = profile(view, idx)
                vecs, quals = m[None, :], [q]
            else:
                vecs = view[0][idx].astype(np.float32)
                quals = [{"speech_s": float(view[1][i]), "snr_db": float(view[2][i]), "clips": 1} for i in idx]
            others = first[:j] + first[j + 1:]
            false += duplicate_of(rule.scorer, vecs, quals, others, far, raw_threshold(n - 1)) is not None
            found = duplicate_of(rule.scorer, vecs, quals, first, far, raw_threshold(n))
            caught += found is not None and found[0] == p
        out[how] = {"false_warnings": false / n, "caught": caught / n}
    return {**out, "speakers": n}


def run(args) -> dict:
    noise_dir = DATA / "noise"
    systems = [D.Voxprint()]
    try:
        systems.append(D.Resemblyzer())
    except ImportError as e:
        print(f"resemblyzer not installed ({e}); pip install -e '.[anchors]'")
    pops = populations()
    results = []
    for system in systems:
        seen = {label: views(system, segs, noise_dir, group) for label, group, segs in pops}  # read once per system
        for rule in rules_for(system, noise_dir):
            for label, _, segs in pops:
                v = seen[label]
                rows = {}
                for place, ce, ct in placements(noise_dir):
                    rows[place] = {**open_set(rule, segs, v[ce], v[ct], args.far, args.splits),
                                   **verification(rule, segs, v[ce], v[ct], args.far)}
                results.append({"rule": rule.name, "population": label, "conditions": rows,
                                "duplicates": duplicates(rule, segs, v["clean"], args.far)})
            print(f"{rule.name}: done", flush=True)
    libri = pops[0][2]
    snr = {c: float(np.median(x[2])) for c, x in views(systems[0], libri, noise_dir).items()}
    return {"far": args.far, "splits": args.splits, "speakers": len({s.speaker for s in libri}), "segments": len(libri),
            "populations": {label: {"speakers": len({s.speaker for s in segs}), "segments": len(segs)}
                            for label, _, segs in pops},
            "median_snr_estimate": snr, "results": results}


def of(doc, rule: str, population: str = "libri-dev test") -> dict:
    """The conditions of one rule (a name or a part of it) on one population."""
    return next(x for x in doc["results"] if rule in x["rule"] and x.get("population", population) == population)["conditions"]


def bars(doc) -> list[str]:
    """The issue's bars for the default rule on libri-dev test speakers, each met or not."""
    r = of(doc, "(default)")
    far = doc["far"]
    upto5 = {k: v for k, v in r.items() if "-0dB" not in k}
    worst_fa = max(upto5, key=lambda k: upto5[k]["stranger_fa"])
    w5 = [k for k in r if k.startswith("white-5dB")]
    ratio = [max(v["stranger_fa"], 1e-9) / far for v in upto5.values()]
    lines = [f"- strangers accepted <= 0.03 clean to 5 dB: worst {upto5[worst_fa]['stranger_fa']:.3f} ({worst_fa}) "
             f"-> {'met' if upto5[worst_fa]['stranger_fa'] <= 0.03 else 'NOT met'}",
             f"- enrolled named >= 0.90 clean: {r['clean']['named']:.3f} -> {'met' if r['clean']['named'] >= 0.9 else 'NOT met'}",
             "- enrolled named >= 0.75 at white 5 dB: " + ", ".join(f"{k} {r[k]['named']:.3f}" for k in w5) +
             f" -> {'met' if min(r[k]['named'] for k in w5) >= 0.75 else 'NOT met'}",
             f"- identify's actual FAR within x2 of the target {far:g} (clean to 5 dB): ratio {min(ratio):.2f}..{max(ratio):.2f} "
             f"-> {'met' if min(ratio) >= 0.5 and max(ratio) <= 2 else 'NOT met'}"]
    raw = of(doc, "voxprint raw cosine, FAR")
    worse = [k for k in r if r[k]["eer"] > raw[k]["eer"] + 1e-9]
    lines.append(f"- AS-norm EER no worse than raw cosine in any condition: {'met' if not worse else 'NOT met: ' + ', '.join(worse)}")
    return lines


def summary(doc) -> list[str]:
    """One row per population and rule: clean figures, and the worst strangers accepted from clean to 5 dB."""
    out = ["| speakers | rule | enrolled named, clean | strangers accepted, clean | worst to 5 dB | verify FAR, clean "
           "| EER, clean |", "|---|---|---|---|---|---|---|"]
    for x in doc["results"]:
        r = x["conditions"]
        upto5 = {k: v for k, v in r.items() if "-0dB" not in k}
        worst = max(upto5, key=lambda k: upto5[k]["stranger_fa"])
        c = r["clean"]
        out.append(f"| {x.get('population', 'libri-dev test')} | {x['rule']} | {c['named']:.3f} | {c['stranger_fa']:.3f} | "
                   f"{upto5[worst]['stranger_fa']:.3f} ({worst}) | {c['trial_fa']:.4f} | {c['eer']:.3f} |")
    return out


def duplicate_table(doc) -> list[str]:
    """Enrolment's duplicate-voice warning per population and rule (duplicates())."""
    rows = [x for x in doc["results"] if "duplicates" in x]
    if not rows:
        return []
    out = ["## Enrolment's duplicate-voice warning, in quiet", "",
           "Each speaker enrolled from the first half of their segments, then enrolled again under a new name from "
           "the other half (duplicates()). False warnings = second enrolments said to match another speaker; "
           "caught = said to match their own first profile. `enroll` decides each new clip as identify does and "
           "warns when most of them match one profile; before, it decided the new clips' mean as one clip.", "",
           "| speakers | rule | false warnings, clip by clip (enroll) | caught | false warnings, the mean (before) "
           "| caught |", "|---|---|---|---|---|---|"]
    for x in rows:
        d = x["duplicates"]
        out.append(f"| {x['population']} ({d['speakers']}) | {x['rule']} | {d['clips']['false_warnings']:.3f} | "
                   f"{d['clips']['caught']:.3f} | {d['mean']['false_warnings']:.3f} | {d['mean']['caught']:.3f} |")
    return [*out, ""]


def headline(doc) -> str:
    """One line for the README's index: the default rule's strangers accepted and enrolled named."""
    r = of(doc, "(default)")
    worst = max((k for k in r if "-0dB" not in k), key=lambda k: r[k]["stranger_fa"])
    line = (f"target FAR {doc['far']:g}: strangers accepted {r['clean']['stranger_fa']:.3f} clean, worst "
            f"{r[worst]['stranger_fa']:.3f} ({worst}); enrolled named {r['clean']['named']:.3f} clean")
    if "ocean-train test" in doc.get("populations", {}):
        line += f"; ocean-train strangers accepted {of(doc, '(default)', 'ocean-train test')['clean']['stranger_fa']:.3f} clean"
    return line


def markdown(doc) -> str:
    pops = doc.get("populations", {})
    ocean = pops.get("ocean-train test")
    out = [f"libri-dev test speakers ({doc['speakers']}, {doc['segments']} 2-s segments), never used to fit or choose "
           f"anything; half enrolled, half strangers, over {doc['splits']} seeded halves (pooled). Target FAR "
           f"{doc['far']:g}: for identify the share of strangers' segments accepted as someone, for verify per trial."]
    if ocean:
        out += ["", f"The same on ocean-train's TEST half ({ocean['speakers']} speakers, {ocean['segments']} 2-s segments; "
                "non-native English, children and adults, voxprint/encoder/ocean_split.json): voices unlike the "
                "LibriSpeech readers every shipped threshold, cohort and calibration was fitted on. The candidate "
                f"rule is the shipped one refit (benchmarks/fit_scoring.py's fit) with ocean-train's encoder-TRAIN "
                f"speakers as {OCEAN_SHARE:.0%} of its cohort and its encoder-DEV speakers in the calibration; "
                "it is measured here, not shipped."]
    out += ["", "## The issue's bars (default rule, libri-dev test speakers)", "", *bars(doc), "",
            "## Every rule, in brief", "", *summary(doc), "", *duplicate_table(doc)]
    for r in doc["results"]:
        out += [f"## {r['rule']}: {r.get('population', 'libri-dev test')}", "",
                "| condition | enrolled named | strangers accepted | EER | verify FAR | Cllr | actDCF / minDCF |",
                "|---|---|---|---|---|---|---|"]
        for k, m in r["conditions"].items():
            out.append(f"| {k} | {m['named']:.3f} | {m['stranger_fa']:.3f} | {m['eer']:.3f} | {m['trial_fa']:.4f} | "
                       f"{m['cllr']:.3f} | {m['act_dcf']:.3f} / {m['min_dcf']:.3f} |")
        out.append("")
    snr = doc["median_snr_estimate"]
    out += ["Columns: enrolled named = enrolled speakers' test segments named right (and accepted); strangers "
            "accepted = identify's actual FAR; verify FAR = per-trial false accepts at verify's threshold for the "
            "same target; Cllr and actual DCF from each rule's LLR (raw cosine: a score-only logistic calibration "
            "fitted on dev); minDCF at p_target 0.01.", "",
            "SNR estimate (voxprint/quality.py), median over libri-dev test segments per condition: " +
            ", ".join(f"{k} {v:.1f} dB" for k, v in snr.items()), ""]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--far", type=float, default=0.01)
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument("--out", type=Path, help="write OUT.md (stamped: voxprint.report.results) and OUT.json "
                    "(docs/results/openset is the published one)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    doc = run(args)
    md = markdown(doc)
    print(md)
    if args.out:
        write_json(args.out.with_suffix(".json"), doc)
        path = write_result("openset", md, title="Open-set decisions in noise", command=command(__spec__.name),
                            inputs=INPUTS, headline=headline(doc), root=REPO, path=args.out.with_suffix(".md"),
                            code=code_version(REPO, INPUTS, since=START_COMMIT))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
