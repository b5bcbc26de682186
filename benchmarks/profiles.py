"""Enrol-only closed-set identification with the shipped encoder (issue 24, items 2 and 3): how test-clip
length, the way a speaker is enrolled and the kind of profile change how often the nearest profile is right.

    python -m benchmarks.profiles [--results]

Nothing is trained. Every clip goes through `Recognizer().score_waves` (the shipped encoder, the route
`voxprint enroll` / `identify` take: unit embeddings), once; every variant is then scored from those
embeddings held in memory. A test clip is named after the enrolled speaker whose profile scores highest by
cosine, among the speakers of its own group (closed set).

Sources (under $VOXPRINT_DATA):
- libri-dev: one read utterance per speaker; the dev and test speakers of the project's split
  (voxprint/encoder/libri_split.json, voxprint.protocol.load_split). The test side is the utterance's
  last 4 s, the enrolment side everything before it.
- ocean-train: speechocean762 train speakers (children and adults), several utterances each. Split here:
  children (age <= 15) and adults apart, each seeded-permuted (OCEAN_SEED), half dev, the rest test. The
  test side is the speaker's last utterances (name order), whole, until they hold 4 s; the first 4 s of
  them joined end to end are cut into test clips. The enrolment side is the utterances before them.

Cutting (per speaker, on its utterances joined end to end; enrolment and test never overlap in time): the
test side's 4 s cut into 0.5, 1, 2 and 4-s clips (the same audio at every length). Enrolment sets, all from
the enrolment side: `5x1s` its first 5 s as five 1-s clips; `1x5s` the same 5 s as one clip; `rest` the
whole enrolment side as the recordings it comes in (libri-dev: one clip; ocean-train: one per utterance);
`rest-2s` the whole side cut into 2-s clips (a last piece of >= 1 s kept). A speaker needs >= 5 s of
enrolment side and 4 s of test side (libri-dev: a >= 9-s utterance); shorter ones are left out.

Profiles: `mean` (today's: unit mean of the clips' unit embeddings), `k2`/`k3` (spherical k-means
centroids of the clips' embeddings, at most one per clip; score = best centroid), `nearest` (score = best
single clip). The profile kind is chosen on DEV speakers only (pooled test clips of both sources, clean,
every length, the multi-clip enrolment sets); the mean stays unless another kind names more dev clips.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import DATA, publish
from voxprint import audio
from voxprint import protocol as P
from voxprint.augment import mix_at_snr, white_noise
from voxprint.vectors import unit

# the code these figures depend on: docs/results/profiles.md is stale once one of these changes
INPUTS = ["benchmarks/profiles.py", "voxprint/inference.py", "voxprint/pretrained", "voxprint/features",
          "voxprint/melspec.py", "voxprint/vad", "voxprint/clip_scoring.py", "voxprint/audio.py",
          "voxprint/augment.py", "voxprint/vectors.py", "voxprint/protocol.py", "voxprint/encoder/libri_split.json",
          "voxprint/config.py", "voxprint/schema.py"]

SR = P.SAMPLE_RATE
TEST_S = 4.0
LENGTHS = (0.5, 1.0, 2.0, 4.0)  # test-clip seconds
N_SHORT, SHORT_S = 5, 1.0  # the `5x1s` enrolment
REST_CLIP_S = 2.0
ENROL_SETS = ("5x1s", "1x5s", "rest", "rest-2s")
PROFILES = ("mean", "k2", "k3", "nearest")
CONDITIONS = ("clean", "white-5dB")
NOISE_SNR_DB, NOISE_SEED = 5.0, 20240611
OCEAN_SEED = 0
CHILD_MAX_AGE = 15
BAR = 0.95  # issue 24: 1-s clips, libri-dev test speakers, 5 enrolment clips each


@dataclass(frozen=True)
class Piece:
    """A clip cut from a speaker's utterances joined end to end: [start, end) seconds on that timeline."""

    speaker: str
    role: str  # "enrol" or "test"
    kind: str  # an enrolment set (ENROL_SETS) or f"test-{seconds}"
    index: int
    start: float
    end: float
    wave: np.ndarray = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.speaker}/{self.kind}/{self.index}"


def _pieces(speaker, role, kind, joined, spans) -> list[Piece]:
    return [Piece(speaker, role, kind, i, a / SR, b / SR, joined[a:b]) for i, (a, b) in enumerate(spans)]


def _consecutive(start: int, stop: int, n: int, min_last: int | None = None) -> list[tuple[int, int]]:
    """Consecutive n-sample spans of [start, stop); a shorter last one kept if >= min_last samples."""
    spans = [(a, min(a + n, stop)) for a in range(start, stop, n)]
    return [(a, b) for a, b in spans if b - a == n or (min_last is not None and b - a >= min_last)]


def split_point(bounds: list[int], whole_utterances: bool) -> int:
    """Sample where the test side begins: the last TEST_S s, or (whole_utterances, more than one) the
    start of the trailing utterances that together hold TEST_S s."""
    total, need = bounds[-1], int(TEST_S * SR)
    if not whole_utterances or len(bounds) <= 2:
        return total - need
    for start in reversed(bounds[1:-1]):
        if total - start >= need:
            return start
    return total - need


def cut_speaker(speaker: str, utts: list[np.ndarray], whole_utterances: bool = False) -> list[Piece]:
    """Every enrolment set and test clip of one speaker (module docstring); [] if it is too short."""
    bounds = [0, *np.cumsum([len(u) for u in utts]).tolist()]
    joined = np.concatenate(utts).astype(np.float32)
    split = split_point(bounds, whole_utterances)
    short, test_n = int(SHORT_S * SR), int(TEST_S * SR)
    if split < N_SHORT * short or bounds[-1] - split < test_n:
        return []
    out = _pieces(speaker, "enrol", "5x1s", joined, _consecutive(0, N_SHORT * short, short))
    out += _pieces(speaker, "enrol", "1x5s", joined, [(0, N_SHORT * short)])
    files = [(a, b) for a, b in zip(bounds, bounds[1:]) if b <= split]
    out += _pieces(speaker, "enrol", "rest", joined, files if whole_utterances and len(files) > 1 else [(0, split)])
    out += _pieces(speaker, "enrol", "rest-2s", joined,
                   _consecutive(0, split, int(REST_CLIP_S * SR), int(P.MIN_LAST_S * SR)))
    for sec in LENGTHS:
        out += _pieces(speaker, "test", f"test-{sec:g}", joined, _consecutive(split, split + test_n, int(sec * SR)))
    return out


# --------------------------------------------------------------------------- sources and splits


def age_split(rows: list[dict], seed: int, first: Callable[[int], int], among: set[str] | None = None
              ) -> tuple[list[str], list[str]]:
    """(first part, rest) of the speakers of `rows` (only those in `among`, when given): children
    (age <= CHILD_MAX_AGE) and adults apart, so both groups are in both parts, each group seeded-permuted
    and its first `first(group size)` speakers in the first part; each part sorted."""
    a: list[str] = []
    b: list[str] = []
    for child in (True, False):
        group = sorted(r["speaker"] for r in rows if (among is None or r["speaker"] in among)
                       and (int(r["age"]) <= CHILD_MAX_AGE) == child)
        order = [group[i] for i in np.random.default_rng(seed).permutation(len(group))]
        a += order[: first(len(order))]
        b += order[first(len(order)):]
    return sorted(a), sorted(b)


def ocean_split(rows: list[dict], seed: int = OCEAN_SEED) -> dict[str, list[str]]:
    """Children (age <= 15) and adults apart, each seeded-permuted; the first half (rounded down) dev."""
    dev, test = age_split(rows, seed, lambda n: n // 2)
    return {"dev": dev, "test": test}


def ocean_rows(root: Path) -> list[dict]:
    import csv

    with open(root / "speakers.csv", newline="") as f:
        return list(csv.DictReader(f))


def sources(home: Path) -> dict[str, dict]:
    """{source: {"groups": {"dev"/"test": speakers}, "files": speaker -> utterance files, "whole": bool}}."""
    libri, ocean = home / "libri-dev", home / "ocean-train"
    split = P.load_split()
    rows = ocean_rows(ocean)
    return {
        "libri-dev": {"groups": {g: split[g] for g in ("dev", "test")}, "whole": False,
                      "files": lambda s: [P.utterance(libri, s)]},
        "ocean-train": {"groups": ocean_split(rows), "whole": True,
                        "children": {r["speaker"] for r in rows if int(r["age"]) <= CHILD_MAX_AGE},
                        "files": lambda s: sorted((ocean / s).glob("*.flac"))},
    }


def cut_source(src: dict) -> tuple[dict[str, list[str]], list[Piece]]:
    """(group -> the speakers kept, every piece of them)."""
    kept: dict[str, list[str]] = {}
    pieces: list[Piece] = []
    for group, speakers in src["groups"].items():
        kept[group] = []
        for s in speakers:
            got = cut_speaker(s, [audio.load(f, SR)[0] for f in src["files"](s)], src["whole"])
            if got:
                kept[group].append(s)
                pieces += got
    return kept, pieces


# --------------------------------------------------------------------------- embeddings (each clip once)


def noisy(piece: Piece) -> np.ndarray:
    """The piece with white noise at NOISE_SNR_DB, drawn from NOISE_SEED and the piece's id (reproducible)."""
    rng = np.random.default_rng([NOISE_SEED, zlib.crc32(piece.id.encode())])
    return mix_at_snr(piece.wave, white_noise(len(piece.wave), rng), NOISE_SNR_DB)


def embed_all(embed, pieces: list[Piece], chunk: int = 200) -> dict[tuple[str, str], np.ndarray]:
    """{(piece id, condition): unit embedding}: every piece clean, test pieces also with white noise."""
    jobs = [(p, "clean") for p in pieces] + [(p, "white-5dB") for p in pieces if p.role == "test"]
    out: dict[tuple[str, str], np.ndarray] = {}
    t = time.perf_counter()
    for i in range(0, len(jobs), chunk):
        part = jobs[i: i + chunk]
        vecs = np.asarray(embed([p.wave if c == "clean" else noisy(p) for p, c in part]), dtype=np.float64)
        out.update({(p.id, c): unit(v) for (p, c), v in zip(part, vecs)})
        print(f"  embedded {min(i + chunk, len(jobs))}/{len(jobs)} clips ({time.perf_counter() - t:.0f} s)",
              flush=True)
    return out


# --------------------------------------------------------------------------- profiles and scoring


def kmeans_centroids(emb: np.ndarray, k: int, iters: int = 20) -> np.ndarray:
    """Spherical k-means of unit rows emb [n, E] -> unit centroids [min(k, n), E]. Deterministic: the
    first centroid is the clip nearest the mean, each next one the clip farthest from those chosen."""
    k = min(k, len(emb))
    chosen = [int(np.argmax(emb @ unit(emb.mean(0))))]
    while len(chosen) < k:
        chosen.append(int(np.argmin((emb @ emb[chosen].T).max(1))))
    cent = emb[chosen]
    for _ in range(iters):
        assign = np.argmax(emb @ cent.T, axis=1)
        new = np.stack([unit(emb[assign == j].mean(0)) if np.any(assign == j) else cent[j] for j in range(k)])
        if np.allclose(new, cent):
            break
        cent = new
    return cent


def profile(emb: np.ndarray, kind: str) -> np.ndarray:
    """A speaker's profile vectors [m, E] from its enrolment clips' unit embeddings [n, E]."""
    if kind == "mean":
        return unit(emb.mean(0))[None]
    if kind == "nearest":
        return emb
    if kind in ("k2", "k3"):
        return kmeans_centroids(emb, int(kind[1:]))
    raise ValueError(f"unknown profile kind {kind!r}")


def identify(profiles: dict[str, np.ndarray], tests: np.ndarray) -> list[str]:
    """The speaker whose profile scores highest (its best vector, by cosine) for each test row [N, E]."""
    names = sorted(profiles)
    scores = np.stack([(tests @ profiles[s].T).max(1) for s in names], axis=1)
    return [names[i] for i in scores.argmax(1)]


def score_group(emb: dict, pieces: list[Piece], speakers: list[str]) -> list[dict]:
    """(correct, n) of every enrolment set x profile x condition x test length, among `speakers`."""
    mine = [p for p in pieces if p.speaker in set(speakers)]
    rows = []
    for enrol in ENROL_SETS:
        clips = {s: np.stack([emb[p.id, "clean"] for p in mine if p.speaker == s and p.kind == enrol])
                 for s in speakers}
        multi = max(len(c) for c in clips.values()) > 1
        for kind in PROFILES if multi else ("mean",):
            profiles = {s: profile(c, kind) for s, c in clips.items()}
            for cond in CONDITIONS:
                for sec in LENGTHS:
                    tests = [p for p in mine if p.kind == f"test-{sec:g}"]
                    named = identify(profiles, np.stack([emb[p.id, cond] for p in tests]))
                    rows.append({"enrol": enrol, "profile": kind, "condition": cond, "length": sec,
                                 "multi": multi, "n": len(tests),
                                 "correct": sum(n == p.speaker for n, p in zip(named, tests))})
    return rows


def tally(rows: list[dict], **match) -> tuple[int, int]:
    """(clips named right, clips) over the rows that match every key=value given."""
    hit = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return sum(r["correct"] for r in hit), sum(r["n"] for r in hit)


def rate(rows: list[dict], **match) -> str:
    right, n = tally(rows, **match)
    return f"{right / n:.3f}" if n else "-"


def choose(results: dict) -> tuple[str, dict[str, tuple[int, int]]]:
    """The profile kind that names the most DEV test clips (both sources pooled, clean, every length, the
    enrolment sets with more than one clip); the mean unless another names more."""
    dev = [r for src in results.values() for r in src["rows"]["dev"] if r["multi"] and r["condition"] == "clean"]
    pooled = {k: tally(dev, profile=k) for k in PROFILES}
    best = max(PROFILES, key=lambda k: (pooled[k][0], k == "mean"))
    return best, pooled


# --------------------------------------------------------------------------- report


def length_table(results: dict, condition: str) -> list[str]:
    """Accuracy by test-clip length and enrolment set, today's mean profile."""
    head = "| source | speakers | enrolment | " + " | ".join(f"{s:g} s" for s in LENGTHS) + " |"
    lines = [head, "|---|---|---|" + "---:|" * len(LENGTHS)]
    for name, src in results.items():
        for group in ("dev", "test"):
            rows = src["rows"][group]
            for enrol in ENROL_SETS:
                cells = [rate(rows, enrol=enrol, profile="mean", condition=condition, length=s) for s in LENGTHS]
                lines.append(f"| {name} | {group.upper()} ({len(src['kept'][group])}) | {enrol} | "
                             + " | ".join(cells) + " |")
    return lines


def profile_table(results: dict) -> list[str]:
    """Accuracy by profile kind on the multi-clip enrolment sets, clean."""
    head = "| source | speakers | enrolment | profile | " + " | ".join(f"{s:g} s" for s in LENGTHS) + " | all |"
    lines = [head, "|---|---|---|---|" + "---:|" * (len(LENGTHS) + 1)]
    for name, src in results.items():
        for group in ("dev", "test"):
            rows = [r for r in src["rows"][group] if r["multi"] and r["condition"] == "clean"]
            for enrol in dict.fromkeys(r["enrol"] for r in rows):
                for kind in PROFILES:
                    cells = [rate(rows, enrol=enrol, profile=kind, length=s) for s in LENGTHS]
                    lines.append(f"| {name} | {group.upper()} | {enrol} | {kind} | " + " | ".join(cells)
                                 + f" | {rate(rows, enrol=enrol, profile=kind)} |")
    return lines


def choice_table(results: dict, pooled: dict) -> list[str]:
    """Per profile kind: the pooled DEV figure that chooses, each source's DEV alone, noise, and TEST."""
    lines = ["| profile | DEV clean, pooled (chooses) | " + " | ".join(f"DEV {n} clean" for n in results)
             + " | DEV white 5 dB | TEST clean (not used to choose) | TEST white 5 dB |",
             "|---|---:|" + "---:|" * (len(results) + 3)]
    for kind in PROFILES:
        right, n = pooled[kind]
        cells = [f"{right}/{n} = {right / n:.3f}"]
        cells += [rate([r for r in src["rows"]["dev"] if r["multi"]], profile=kind, condition="clean")
                  for src in results.values()]
        for group, conds in (("dev", CONDITIONS[1:]), ("test", CONDITIONS)):
            rows = [r for src in results.values() for r in src["rows"][group] if r["multi"]]
            cells += [rate(rows, profile=kind, condition=c) for c in conds]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return lines


def verdict(best: str, pooled: dict) -> str:
    runner = max((k for k in PROFILES if k != best), key=lambda k: pooled[k][0])
    right, n = pooled[best]
    gap = right - pooled[runner][0]
    stays = " The mean stays: no other kind names more DEV clips." if best == "mean" else ""
    return (f"Chosen on DEV: **{best}**, {right}/{n} DEV clips named right, {gap} more than the next best "
            f"({runner}, {pooled[runner][0]}).{stays}")


def bar_line(results: dict) -> str:
    rows = results["libri-dev"]["rows"]["test"]
    right, n = tally(rows, enrol="5x1s", profile="mean", condition="clean", length=1.0)
    met = "met" if right / n >= BAR else "NOT met"
    return (f"Issue 24's bar: enrol-only identification of 1-s clips among the libri-dev TEST speakers "
            f"({len(results['libri-dev']['kept']['test'])}), each enrolled from five 1-s clips (today's mean "
            f"profile): {right}/{n} = {right / n:.3f} against a bar of {BAR:.2f}: **{met}**.")


def about(results: dict, meta: dict) -> list[str]:
    """The protocol paragraph: sources, splits, speakers kept, clip counts, how the run was made."""
    parts = []
    for name, src in results.items():
        kept = {g: len(v) for g, v in src["kept"].items()}
        given = {g: len(v) for g, v in src["groups"].items()}
        sizes = ", ".join(f"{e} {min(v)}-{max(v)}" for e, v in src["sizes"].items())
        parts.append(f"{name}: DEV {kept['dev']} of {given['dev']} speakers, TEST {kept['test']} of "
                     f"{given['test']} kept (the others too short); enrolment clips per speaker: {sizes}")
    ocean = results["ocean-train"]
    kids = {g: len(set(v) & ocean["children"]) for g, v in ocean["groups"].items()}
    return [
        "Enrol-only closed-set identification with the shipped encoder, nothing trained: every clip embedded "
        f"once by `Recognizer().score_waves` ({meta['engine']} route, the one `voxprint enroll` / `identify` "
        "take), each test clip named after the enrolled speaker of its own group whose profile scores highest "
        "by cosine. The cutting, enrolment sets and profile kinds are described in benchmarks/profiles.py's "
        "docstring: per speaker the last 4 s (libri-dev) or the trailing whole utterances holding 4 s "
        "(ocean-train) are the test side, cut into 0.5/1/2/4-s clips (the same audio at every length); "
        "enrolment comes only from the audio before it, so the two never overlap in time. `5x1s` = the "
        "enrolment side's first 5 s as five 1-s clips, `1x5s` = the same 5 s as one clip, `rest` = the whole "
        "enrolment side as recorded (libri-dev one clip, ocean-train one clip per utterance), `rest-2s` = the "
        "whole side as 2-s clips.",
        "",
        "Speaker splits: libri-dev uses the project's split (voxprint/encoder/libri_split.json, seed "
        f"{meta['libri_seed']}); ocean-train is split here, children (age <= {CHILD_MAX_AGE}) and adults apart, "
        f"each permuted with seed {OCEAN_SEED}, half (rounded down) DEV, the rest TEST: DEV "
        f"{given_of(ocean, 'dev')} speakers ({kids['dev']} children), TEST {given_of(ocean, 'test')} "
        f"({kids['test']} children). " + "; ".join(parts) + ". White noise (5 dB, exact SNR over the clip, "
        f"seed {NOISE_SEED} and the clip's id) is mixed into the TEST clips only; enrolment stays clean.",
        "",
        f"{meta['clips']} clips embedded in {meta['seconds']:.0f} s (one thread). Cells: share of test clips "
        "named right; per group and length there are speakers x 4 s / length test clips.",
    ]


def given_of(src: dict, group: str) -> int:
    return len(src["groups"][group])


def markdown(results: dict, meta: dict) -> str:
    best, pooled = choose(results)
    return "\n".join([
        *about(results, meta), "", bar_line(results), "",
        "## By test-clip length and enrolment (today's mean profile), clean", "", *length_table(results, "clean"),
        "", "## The same with white noise at 5 dB on the test clips", "", *length_table(results, "white-5dB"),
        "", "## Profile kinds (enrolment sets with more than one clip), clean", "", *profile_table(results),
        "", "## The choice (DEV speakers only)", "",
        "Pooled over both sources' DEV speakers, every test length and the multi-clip enrolment sets "
        "(libri-dev 5x1s and rest-2s; ocean-train 5x1s, rest and rest-2s); TEST columns are reported, never "
        "used to choose.", "", *choice_table(results, pooled), "",
        verdict(best, pooled),
    ])


def headline(results: dict) -> str:
    right, n = tally(results["libri-dev"]["rows"]["test"], enrol="5x1s", profile="mean", condition="clean",
                     length=1.0)
    best, _ = choose(results)
    return (f"libri-dev TEST, 1-s clips, five 1-s enrolment clips: {right / n:.3f} (bar {BAR:.2f}); "
            f"profile kind chosen on DEV: {best}")


def run(home: Path, embed) -> dict:
    """Cut both sources, embed every clip once, score every variant -> results per source."""
    results = {}
    jobs = 0
    for name, src in sources(home).items():
        t = time.perf_counter()
        kept, pieces = cut_source(src)
        print(f"{name}: {sum(map(len, kept.values()))} speakers, {len(pieces)} pieces "
              f"({sum(p.role == 'test' for p in pieces)} test)", flush=True)
        emb = embed_all(embed, pieces)
        jobs += len(emb)
        rows = {g: score_group(emb, pieces, kept[g]) for g in ("dev", "test")}
        count = Counter((p.kind, p.speaker) for p in pieces if p.role == "enrol")
        sizes = {e: sorted({count[e, s] for g in kept.values() for s in g}) for e in ENROL_SETS}
        results[name] = {**src, "kept": kept, "rows": rows, "sizes": sizes}
        print(f"{name}: done in {time.perf_counter() - t:.0f} s", flush=True)
    results["clips"] = jobs
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", action="store_true", help="write docs/results/profiles.md")
    ap.add_argument("--data", type=Path, help="data home with libri-dev/ and ocean-train/ (default $VOXPRINT_DATA)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    import torch

    from voxprint.inference import Recognizer

    torch.set_num_threads(1)
    rec = Recognizer()
    t = time.perf_counter()
    results = run(args.data or DATA, lambda waves: rec.score_waves(waves)[1])
    meta = {"engine": rec.engine, "clips": results.pop("clips"), "seconds": time.perf_counter() - t,
            "libri_seed": P.load_split()["seed"]}
    body = markdown(results, meta)
    print(body)
    if args.results:
        publish("profiles", body, title="Enrol-only identification: clip length, enrolment and profile kinds",
                inputs=INPUTS, module=__spec__.name, headline=headline(results))


if __name__ == "__main__":
    main()
