"""The pole (aard) on speech: the shipped aard head against variants, scored on the transcript split;
writes BENCHMARKS.md (aard).

    python benchmarks/bench_aard.py [--real ../shared/eval/real_dev.jsonl]

Every variant is an aard head over the active model's own features (lemma and character n-grams,
question, sentence vectors), refitted on the training corpus only, and scored on every coded
(segment, factor) pair of the transcript split: is the pole right when the factor is given? The
variants add what issue #10 asks to model: negation (lemmas in the scope of niet/geen/nooit/...
marked as negated), contrast (the lemmas after the last maar/toch/alleen, as their own features),
the factor's own words (per-factor lemma terms), the regularisation, and the context of a spoken
answer: the interviewer's question crossed with the answer's opening cue (ja/nee/een beetje ...),
the question's sentence vector per factor, the same speaker's previous turn (its aard score for the
same factor blended in, the weight chosen on the other writers), and a head per codebook group.
Per writer, to see the spread. With ``--real PATH`` (a coded JSONL file kept outside the
repository, see ``../shared/eval/README.md``) every variant is also scored on that file's (segment,
factor) pairs; only the numbers are printed and written, never its texts. Embeddings are cached
under `data/cache/`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, git_commit, machine, write_section  # noqa: E402
from training import paths  # noqa: E402
from training.artifacts import load_model, read_active  # noqa: E402
from training.codebook import load_codebook  # noqa: E402
from training.data import example_from_row, load_corpus  # noqa: E402
from training.text import lemma_string  # noqa: E402
from training.train import build_encoder, inputs_of  # noqa: E402
from training.transcripts import follows_previous, load_transcripts  # noqa: E402

CACHE = ROOT / "data" / "cache"
NEGATIONS = {"niet", "geen", "nooit", "niets", "niemand", "nauwelijks", "weinig", "amper", "zonder", "nergens",
             "minder"}
CONTRAST = ("maar", "toch", "alleen", "echter")
SCOPE_ENDS = {"maar", "en", "want", "dus", ".", ",", ";", ":", "!", "?"}


def negation_marked(lemmas: str, scope: int = 3) -> str:
    """Lemmas with the next ``scope`` words after a negation prefixed NEG_ (up to a clause boundary)."""
    out, left = [], 0
    for word in lemmas.split():
        if word in NEGATIONS:
            out.append(word)
            left = scope
            continue
        if word in SCOPE_ENDS:
            left = 0
        out.append(f"NEG_{word}" if left else word)
        left = max(left - 1, 0)
    return " ".join(out)


def after_contrast(lemmas: str) -> str:
    words = lemmas.split()
    marks = [i for i, w in enumerate(words) if w in CONTRAST]
    return " ".join(f"C_{w}" for w in words[marks[-1] + 1:]) if marks else ""


# An answer's opening often carries its pole only through the question ("Heb je ruimte ervaren?" -
# "Ja. Een beetje."): the opening cue, the kind of question, and both crossed.
AFFIRMING = {"ja", "jazeker", "zeker", "absoluut", "inderdaad", "klopt", "wel", "heel", "enorm", "echt", "zeer",
             "best", "genoeg", "prima", "goed"}
DENYING = {"nee", "niet", "geen", "nauwelijks", "nooit", "weinig", "amper", "niks", "niets", "minder", "slecht"}
HEDGING = {"beetje", "soms", "redelijk", "deels", "wisselend", "matig", "misschien", "beperkt", "gedeeltelijk",
           "enigszins", "weleens", "papier"}
QUESTION_WORDS = {"wat", "hoe", "waarom", "wie", "welk", "welke", "waar", "wanneer", "waardoor", "waarover",
                  "waarin", "hoeveel"}
QUESTION_NEGATIVE = {"niet", "geen", "nooit", "weinig", "minder", "moeilijk", "lastig", "belemmeren", "hinderen",
                     "gehinderd", "spanning", "tegenvallen", "probleem"}
QUESTION_POSITIVE = {"veel", "goed", "helpen", "geholpen", "fijn", "positief", "meer", "sterk", "prettig"}
SHORT_ANSWER = 12  # words; a longer answer usually says its pole itself
SHIPPED = "shipped head (per-factor sentence vectors, C = 4)"


def answer_cues(answer_lemmas: str, question_lemmas: str) -> str:
    """Tokens for the answer's opening cue (affirming, denying, hedging), the question's kind
    (yes/no or open, negative or positive words) and their crossings; for a short answer also the
    question's own lemmas, since such an answer means nothing without them."""
    answer, question = answer_lemmas.split(), question_lemmas.split()
    opening = answer[:4]
    kinds = [name for name, words in (("AFF", AFFIRMING), ("NEG", DENYING), ("HEDGE", HEDGING))
             if any(w in words for w in opening)]
    short = len(answer) <= SHORT_ANSWER
    tokens = [f"A_{c}" for c in kinds] + ([f"ASHORT_{c}" for c in kinds] if short else [])
    if question:
        asked = ["QOPEN" if any(w in QUESTION_WORDS for w in question[:3]) else "QYESNO"]
        asked += ["QNEG"] * any(w in QUESTION_NEGATIVE for w in question)
        asked += ["QPOS"] * any(w in QUESTION_POSITIVE for w in question)
        tokens += asked + [f"{q}&{c}" for q in asked for c in kinds]
        if short:
            tokens += [f"{q}&S{c}" for q in asked for c in kinds] + [f"SQ_{w}" for w in question]
    return " ".join(tokens) or "NONE"


def pairs(examples, index) -> tuple[list[int], list[int], np.ndarray]:
    rows, cols, y = [], [], []
    for i, e in enumerate(examples):
        for code in e.codes:
            if code.factor in index:
                rows.append(i), cols.append(index[code.factor]), y.append(code.aard == "+")
    return rows, cols, np.array(y, dtype=int)


def per_factor(M, rows, cols, k: int, weight: float = 1.0) -> sp.csr_matrix:
    """The matrix's row in the factor's own block: a separate linear term per factor."""
    M = sp.coo_matrix(sp.csr_matrix(M)[rows])
    d = M.shape[1]
    return sp.csr_matrix((M.data * weight, (M.row, np.asarray(cols)[M.row] * d + M.col)), shape=(len(rows), k * d))


def load_real(path: Path, codebook) -> list:
    """The coded segments of a file kept outside the repository (id, text, codes; no question)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    keep = ("id", "text", "codes", "speaker_role")
    return [example_from_row({k: r.get(k) for k in keep}, f"{path.name}:{n}", codebook) for n, r in enumerate(rows, 1)]


@dataclass(frozen=True)
class Variant:
    shared: tuple = ()  # names of extra feature families, one term for all factors
    own: tuple = ()  # names of extra feature families, a term per factor
    dense: bool = True  # the sentence vector per factor (the shipped head)
    C: float = 4.0
    per_group: bool = False  # a separate head for each codebook group
    previous_turn: bool = False  # blend in the same speaker's previous turn's aard score


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, help="also score on this coded JSONL file (never committed)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    codebook = load_codebook(paths.DEFAULT_CODEBOOK)
    split = load_transcripts(codebook=codebook)
    sets = {"train": load_corpus(paths.TRAIN_DIR, codebook), "test": [t.example for t in split]}
    if args.real:
        sets["real"] = load_real(args.real, codebook)
    model = load_model(paths.DEFAULT_MODELS_DIR, read_active(paths.DEFAULT_MODELS_DIR)).model
    model.encoder_ = build_encoder(model._cfg().encoder, CACHE)
    features = {name: model._features_and_dense(inputs_of(examples)) for name, examples in sets.items()}
    questions = {}
    for name, examples in sets.items():
        asked = [i for i, e in enumerate(examples) if e.question]
        questions[name] = np.zeros_like(features[name][1])
        if asked:
            questions[name][asked] = model._dense([examples[i].question for i in asked])
    model.encoder_.save()
    k = len(model.factor_ids_)
    index = {f: j for j, f in enumerate(model.factor_ids_)}
    groups = sorted({codebook.factor(f).group for f in model.factor_ids_})
    group_of = np.array([groups.index(codebook.factor(f).group) for f in model.factor_ids_])
    p = {name: pairs(examples, index) for name, examples in sets.items()}
    writers = np.array([split[i].writer for i in p["test"][0]])
    follows = np.array(follows_previous(split))
    lemmas = {name: [lemma_string(e.text) for e in examples] for name, examples in sets.items()}
    asked_lemmas = {name: [lemma_string(e.question) if e.question else "" for e in examples]
                    for name, examples in sets.items()}
    dense_weight = model._cfg().dense_weight

    def family(vec, make, texts):
        fitted = vec.fit_transform([make(t) for t in texts["train"]])
        return {name: fitted if name == "train" else vec.transform([make(t) for t in texts[name]]) for name in sets}

    def tfidf(**kw):
        return TfidfVectorizer(token_pattern=r"\S+", min_df=2, sublinear_tf=True, **kw)

    both = {name: list(zip(lemmas[name], asked_lemmas[name])) for name in sets}
    families = {
        "negated": family(tfidf(ngram_range=(1, 2)), negation_marked, lemmas),
        "contrast": family(tfidf(), after_contrast, lemmas),
        "words": family(tfidf(max_features=3000), lambda t: t, lemmas),
        "cues": family(CountVectorizer(token_pattern=r"\S+", lowercase=False, binary=True, min_df=2),
                       lambda qa: answer_cues(*qa), both),
        "question vector": {name: questions[name] * dense_weight * 0.5 for name in sets},
    }

    def design(name, rows, cols, v: Variant):
        X, D = features[name]
        onehot = sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), cols)), shape=(len(rows), k))
        blocks = [X[rows], onehot] + [families[f][name][rows] for f in v.shared]
        blocks += [per_factor(families[f][name], rows, cols, k) for f in v.own]
        if v.dense:
            blocks.append(per_factor(D, rows, cols, k, dense_weight))
        return sp.hstack(blocks, format="csr")

    def fit(A, y, C):
        return LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=5000).fit(A, y)

    def logits(v: Variant, targets):
        """The aard logit of each target's (rows, cols) pairs under the variant, fitted on the corpus."""
        rows, cols, y = p["train"]
        A = design("train", rows, cols, v)
        out = [np.zeros(len(t[1])) for t in targets]
        for g in range(len(groups)) if v.per_group else [None]:
            fitted = group_of[cols] == g if g is not None else np.ones(len(y), bool)
            clf = fit(A[fitted], y[fitted], v.C)
            for z, (name, t_rows, t_cols) in zip(out, targets):
                mine = group_of[t_cols] == g if g is not None else np.ones(len(t_rows), bool)
                if mine.any():
                    z[mine] = clf.decision_function(design(name, np.asarray(t_rows)[mine],
                                                           np.asarray(t_cols)[mine], v))
        return out

    def previous_blend(z, z_prev, continues):
        """The previous turn's weight, chosen per writer on the other writers (leave-one-writer-out)."""
        y = p["test"][2]
        blended = lambda w: np.where(continues, (1 - w) * z + w * z_prev, z)  # noqa: E731
        grid = np.arange(0, 0.55, 0.05)
        out, chosen = np.zeros_like(z), []
        for w_name in sorted(set(writers)):
            held = writers == w_name
            best = max(grid, key=lambda w: float(((blended(w) >= 0) == y)[~held].mean()))
            out[held] = blended(best)[held]
            chosen.append(round(float(best), 2))
        return out, chosen

    def fitted_with_speech():
        """Not a head we may ship (the split only measures): how far speech itself takes these features.
        Each writer is scored by the shipped head fitted on the corpus and the other writers' pairs; the
        real set (when given) by one fitted on the corpus and the whole split."""
        rows, cols, y_test = p["test"]
        base = Variant()
        A = sp.vstack([design("train", *p["train"][:2], base), design("test", rows, cols, base)], format="csr")
        y_all = np.concatenate([p["train"][2], y_test])
        source = np.concatenate([np.full(len(p["train"][2]), ""), writers])
        right = np.zeros(len(y_test), bool)
        for w_name in sorted(set(writers)):
            held = writers == w_name
            clf = fit(A[source != w_name], y_all[source != w_name], 4.0)
            scored = design("test", np.asarray(rows)[held], np.asarray(cols)[held], base)
            right[held] = clf.predict(scored) == y_test[held]
        if not args.real:
            return right, None
        predicted = fit(A, y_all, 4.0).predict(design("real", *p["real"][:2], base))
        return right, float((predicted == p["real"][2]).mean())

    variants = {
        SHIPPED: Variant(),
        "without the per-factor sentence vectors": Variant(dense=False),
        "C = 1": Variant(C=1.0),
        "C = 16": Variant(C=16.0),
        "+ negation scope": Variant(shared=("negated",)),
        "+ contrast clause": Variant(shared=("contrast",)),
        "+ negation scope + contrast clause": Variant(shared=("negated", "contrast")),
        "+ per-factor lemma terms": Variant(own=("words",)),
        "+ per-factor negation scope": Variant(own=("negated",)),
        "+ question kind x answer cue": Variant(shared=("cues",)),
        "+ question kind x answer cue, per factor": Variant(own=("cues",)),
        "+ question sentence vector per factor": Variant(own=("question vector",)),
        "+ previous turn's aard score (weight chosen across writers)": Variant(previous_turn=True),
        "a separate head per codebook group": Variant(per_group=True),
    }
    results, notes = {}, []
    for name, v in variants.items():
        rows, cols, y_test = p["test"]
        targets = [("test", rows, cols)]
        continues = follows[rows]
        if v.previous_turn:
            targets.append(("test", np.where(continues, np.asarray(rows) - 1, rows), cols))
        if args.real:
            targets.append(("real", p["real"][0], p["real"][1]))
        z = logits(v, targets)
        z_test = z[0]
        if v.previous_turn:
            z_test, chosen = previous_blend(z[0], z[1], continues)
            notes.append(f"previous turn's weight per held-out writer: {', '.join(map(str, chosen))}")
        right = (z_test >= 0) == y_test
        if name == SHIPPED:
            short = np.array([len(lemmas["test"][i].split()) <= SHORT_ANSWER for i in rows])
            notes.append(f"{short.sum()} of the {len(rows)} pairs are answers of at most {SHORT_ANSWER} words, "
                         f"where the question could matter most (shipped head right on {right[short].mean():.3f} of "
                         f"them, on {right[~short].mean():.3f} of the longer ones)")
        by_writer = [float(right[writers == w].mean()) for w in sorted(set(writers))]
        real = float(((z[-1] >= 0) == p["real"][2]).mean()) if args.real else None
        results[name] = (float(right.mean()), min(by_writer), max(by_writer), real)
        real_text = f" real {real:.3f}" if real is not None else ""
        print(f"{name:62s} {results[name][0]:.3f} (writers {results[name][1]:.3f}-{results[name][2]:.3f}){real_text}",
              flush=True)
    right, real = fitted_with_speech()
    by_writer = [float(right[writers == w].mean()) for w in sorted(set(writers))]
    diagnostic = "diagnostic, not shippable: shipped head also fitted on the other writers' transcripts"
    results[diagnostic] = (float(right.mean()), min(by_writer), max(by_writer), real)
    print(f"{diagnostic}: {results[diagnostic][0]:.3f}" + (f" real {real:.3f}" if real is not None else ""), flush=True)
    notes.append("the diagnostic row measures the representation, not a candidate: it is fitted on the split "
                 "itself (leave-one-writer-out; for the real column on the whole split), which the split may "
                 "not be used for in a shipped model")
    n_real = f", and on the {len(p['real'][2])} (segment, factor) pairs of the real development set " \
             "(`--real ../shared/eval/real_dev.jsonl`, kept outside the repository; no question or previous " \
             "turn there, so the context variants can only differ through the answer's own cues)" if args.real else ""
    body = [
        "## The pole (aard) on speech: what was tried",
        "",
        f"Measured by `python benchmarks/bench_aard.py{' --real ../shared/eval/real_dev.jsonl' if args.real else ''}` "
        f"(commit {git_commit()}, {time.perf_counter() - started:.0f} s) "
        f"on {machine()}. Aard heads over the active model's features, fitted on the training corpus, scored on "
        f"all {len(p['test'][2])} coded (segment, factor) pairs of the transcript split (the factor given){n_real}.",
        "",
        "| aard head | accuracy | lowest-highest writer | real development set |",
        "|---|---:|---:|---:|",
    ]
    body += [f"| {name} | {acc:.3f} | {lo:.3f}-{hi:.3f} | {'-' if real is None else f'{real:.3f}'} |"
             for name, (acc, lo, hi, real) in results.items()]
    shipped = results[SHIPPED]
    best_name, best = max(((n, r) for n, r in results.items() if n != diagnostic), key=lambda kv: kv[1][0])
    body += ["", f"Issue #10 asks for 0.92. The best variant here ({best_name}) scores {best[0]:.3f}, "
             f"{best[0] - shipped[0]:+.3f} against the shipped head's {shipped[0]:.3f}. A variant is adopted only "
             "when it gains at least +0.02 on the split (more than the writers' spread suggests is noise) and "
             "loses nothing on the real development set."]
    body += [f"{note[0].upper()}{note[1:]}." for note in notes] + [""]
    write_section("aard", "\n".join(body))


if __name__ == "__main__":
    main()
