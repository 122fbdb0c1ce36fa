"""The code-suggestion model: factor (multi-label), then richting and aard for each factor.

- **factor**: one-vs-rest logistic regression over lexical, dense and codebook features. Each
  label's score is calibrated by Platt scaling fitted on its out-of-fold scores (k-fold
  cross-validation), and the suggestion threshold is chosen on those out-of-fold probabilities.
  The fitted head is plain arrays (weights, bias, Platt a/b): fast to apply, safe to persist.
- **richting** (PO/SO, only for factors that allow both) and **aard** (+/-): logistic
  regressions over the same segment features plus a one-hot of the factor, trained on every
  (segment, code) pair. Being linear, they are evaluated for all factors at once.

The class follows the scikit-learn estimator contract (parameters in ``__init__`` only, ``fit``
returns self, fitted attributes end in ``_``). The encoder is not part of the persisted state: it
is a model of its own, named in the manifest and re-created at load time.
"""

from __future__ import annotations

import copy
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from .codebook import Codebook
from .data import Code
from .encoders import Encoder
from .features import (
    Inputs,
    hstack,
    keyword_hits,
    keyword_sets,
    lexical_texts,
    surface_features,
    make_char_vectorizer,
    make_question_vectorizer,
    make_word_vectorizer,
)
from .text import lemma_string, normalise, sentence_texts

log = logging.getLogger(__name__)


@dataclass
class ModelConfig:
    """Hyperparameters; a training config file sets any of them (copied into the artifact)."""

    encoder: str = "e5"
    use_words: bool = True
    use_chars: bool = True
    use_question: bool = True
    use_codebook: bool = False
    codebook_examples: bool = False  # the codebook's definitions and indicator phrases as extra factor examples
    group_stage: bool = False  # two levels: group probabilities (out-of-fold) as extra features of the factor heads
    group_weight: float = 1.0
    word_max_features: int = 40_000
    char_max_features: int = 60_000
    dense_weight: float = 2.0
    question_weight: float = 0.5
    codebook_weight: float = 0.5
    C: float = 4.0
    # The liblinear solver's stopping tolerance. Its default (1e-4) is kept for configs that do not name one,
    # so a model trained before this setting existed retrains as it was; default.yaml sets 0.01, which fits
    # the heads in about two thirds of the CPU time and moves their scores by < 0.003 (logit) on our corpus.
    tol: float = 1e-4
    calibration_cv: int = 3
    min_examples_per_factor: int = 6
    seed: int = 13
    n_jobs: int = 2
    # "Is there anything to code here?" as its own head, so a codable segment always gets its best
    # factor and the factor threshold only decides about further codes (issue #10).
    no_code_detector: bool = True
    surface_weight: float = 1.0
    # The pole depends on the factor (many changes around the school is aard +, yet rarely good
    # news): the aard head gets the sentence vector once per factor, so each factor learns its poles.
    aard_per_factor: bool = True
    # Chosen on the transcript split, tried and off by default: both helped there and hurt on real
    # text (real development set: aard 0.871 -> 0.823 with the prior correction; ECE of the main
    # code 0.10 -> 0.22 with the confidence map), so real text decides. BENCHMARKS.md has both.
    aard_prior_correction: bool = False
    speech_confidence_map: bool = False
    # How much a coder-confirmed segment (Example.source "confirmed") counts in training against one
    # segment of the shipped corpus: its sample weight in every head. 1.0 for configs that do not name it,
    # so older models retrain as they were; default.yaml sets the value bench_loop chose (BENCHMARKS.md).
    confirmed_weight: float = 1.0

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"onbekende modelinstelling(en): {', '.join(sorted(unknown))}; bekend zijn: "
                             f"{', '.join(sorted(known))}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    # Settings that change how closely or on how many processes the solver converges, or how much the
    # confirmed segments weigh (which only a retrain has), not what the features and heads are: a calibration
    # fitted under one holds under another (tol 0.01 moves scores by < 0.003).
    CALIBRATION_NEUTRAL = frozenset({"tol", "n_jobs", "confirmed_weight"})

    def heads_match(self, other: "ModelConfig") -> bool:
        """Whether heads fitted under ``other`` score on the same scale as under this config."""
        mine, theirs = self.to_dict(), other.to_dict()
        return all(mine[k] == theirs[k] for k in mine if k not in self.CALIBRATION_NEUTRAL)


@dataclass
class Suggestion:
    factor: str
    richting: str
    aard: str
    confidence: float
    richting_confidence: float
    aard_confidence: float

    def to_dict(self) -> dict:
        return {
            "factor": self.factor,
            "richting": self.richting,
            "aard": self.aard,
            "confidence": round(self.confidence, 4),
            "richting_confidence": round(self.richting_confidence, 4),
            "aard_confidence": round(self.aard_confidence, 4),
        }


class Predictions(NamedTuple):
    """Per segment: P(factor), P(richting PO | factor), P(aard + | factor), P(nothing to code)."""

    factor_p: np.ndarray
    po_p: np.ndarray
    aard_p: np.ndarray
    no_code_p: np.ndarray | None


@dataclass(frozen=True)
class DecisionRule:
    """Which factors a segment gets, from its scores.

    Without ``no_code_threshold``: every factor whose confidence reaches ``threshold`` (possibly
    none). With it: nothing when P(nothing to code) reaches it; otherwise the best factor always
    and further factors that reach ``threshold``.
    """

    threshold: float
    no_code_threshold: float | None = None

    def kept(self, factor_p: np.ndarray, no_code_p: float | None) -> list[int]:
        never_silent = self.no_code_threshold is not None and no_code_p is not None
        if never_silent and no_code_p >= self.no_code_threshold:
            return []
        order = np.argsort(-factor_p, kind="stable")
        return [int(j) for rank, j in enumerate(order)
                if factor_p[j] >= self.threshold or (never_silent and rank == 0)]


def logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


def confidence_map(p: np.ndarray, ab) -> np.ndarray:
    """Platt scaling on top of a probability: sigmoid(a * logit(p) + b), monotone, so rankings stay."""
    return sigmoid(ab[0] * logit(p) + ab[1])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def best_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The global threshold that maximises micro-F1 of the factor labels."""
    best, best_f1 = 0.5, -1.0
    for t in np.arange(0.05, 0.80, 0.01):
        pred = proba >= t
        tp = float((pred & (y_true == 1)).sum())
        fp = float((pred & (y_true == 0)).sum())
        fn = float((~pred & (y_true == 1)).sum())
        f1 = 2 * tp / max(2 * tp + fp + fn, 1.0)
        if f1 > best_f1 + 1e-9:
            best, best_f1 = float(t), f1
    return round(best, 2)


def linear_head(cfg: ModelConfig) -> LogisticRegression:
    # The dual liblinear solver: many more features than segments, so it is ~8x faster here. It visits the
    # samples in a random order drawn from one C generator per process, seeded from the config.
    return LogisticRegression(C=cfg.C, solver="liblinear", dual=True, max_iter=5000, tol=cfg.tol,
                              random_state=cfg.seed)


Platt = tuple[float, float]


def fit_label(X: sp.csr_matrix, y: np.ndarray, cfg: ModelConfig, platt: Platt | None = None,
              sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float, float, float, np.ndarray | None]:
    """One label: weights on all data, Platt a/b fitted on out-of-fold scores, OOF probabilities.

    With ``platt`` given (a retrain carrying the active version's calibration), only the weights are
    fitted: one fit instead of ``calibration_cv + 1``, and no OOF probabilities (None).
    ``sample_weight``: how much each row counts (confirmed segments more than the corpus), in every fit."""
    w = sample_weight
    oof = None
    if platt is None:
        oof = np.zeros(len(y))
        folds = StratifiedKFold(n_splits=cfg.calibration_cv, shuffle=True, random_state=cfg.seed)
        for train_idx, test_idx in folds.split(X, y):
            head = linear_head(cfg).fit(X[train_idx], y[train_idx], None if w is None else w[train_idx])
            oof[test_idx] = head.decision_function(X[test_idx])
        platt_fit = LogisticRegression(C=1e4, solver="lbfgs").fit(oof[:, None], y, w)
        platt = (platt_fit.coef_[0, 0], platt_fit.intercept_[0])
    a, b = float(platt[0]), float(platt[1])
    final = linear_head(cfg).fit(X, y, w)
    return (final.coef_[0].astype(np.float32), float(final.intercept_[0]), a, b,
            None if oof is None else sigmoid(a * oof + b))


def fit_labels(X: sp.csr_matrix, Y: np.ndarray, cfg: ModelConfig,
               platts: list[Platt | None] | None = None, sample_weight: np.ndarray | None = None) -> list[tuple]:
    """fit_label for every column of Y (with that column's carried calibration, if any), in worker
    processes when n_jobs > 1.

    Processes, not threads: liblinear draws its sample order from one generator per process, so heads
    fitted on threads of one process interleave their draws and a refit on the same data gave another
    model (factor weights apart by up to 1.4). Each worker fits its share of the columns in turn, so the
    result no longer depends on timing."""
    platts = platts or [None] * Y.shape[1]
    if not uses_workers(cfg, Y.shape[1]):
        return fit_columns(X, Y, cfg, platts, sample_weight)
    n_workers = min(cfg.n_jobs, Y.shape[1])
    shares = [list(range(w, Y.shape[1], n_workers)) for w in range(n_workers)]  # interleaved: similar loads
    # One task per worker, so X is sent once to each; max_nbytes=None because sklearn's liblinear wrapper
    # refuses joblib's read-only memory maps.
    done = Parallel(n_jobs=n_workers, backend="loky", max_nbytes=None)(
        delayed(fit_columns)(X, Y[:, share], cfg, [platts[j] for j in share], sample_weight) for share in shares)
    heads: list[tuple] = [()] * Y.shape[1]
    for share, fitted in zip(shares, done):
        for j, head in zip(share, fitted):
            heads[j] = head
    return heads


def uses_workers(cfg: ModelConfig, n_labels: int) -> bool:
    """Whether fit_labels fits in worker processes (else here, one label after the other)."""
    return min(cfg.n_jobs, n_labels) > 1


def fit_columns(X: sp.csr_matrix, Y: np.ndarray, cfg: ModelConfig, platts: list[Platt | None],
                sample_weight: np.ndarray | None = None) -> list[tuple]:
    return [fit_label(X, Y[:, j], cfg, platts[j], sample_weight) for j in range(Y.shape[1])]


class CodeSuggester(BaseEstimator):
    def __init__(self, config: ModelConfig | None = None):
        self.config = config

    # ------------------------------------------------------------------ features

    def _cfg(self) -> ModelConfig:
        return self.config or ModelConfig()

    def _dense(self, texts: list[str]) -> np.ndarray:
        return self._encode([normalise(t) for t in texts])

    def _encode(self, normalised: list[str]) -> np.ndarray:
        # Each distinct text is encoded once: the parts of a long turn share their question, and
        # back-channels ("Ja.", "Klopt.") recur. A text's vector does not depend on the others.
        distinct = list(dict.fromkeys(normalised))
        vectors = self.encoder_.encode(distinct)
        if len(distinct) == len(normalised):
            return vectors
        row = {text: i for i, text in enumerate(distinct)}
        return vectors[[row[t] for t in normalised]]

    def memory_vectors(self, texts: list[str]):
        """L2-normalised vectors the confirmation memory compares (``training.memory``): the sentence
        vectors, or the lemma tf-idf (sparse, already L2-normalised) of a model without an encoder."""
        if self.encoder_ is not None:
            dense = self._dense(texts)
            return dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
        vectorizer = self.word_vec_ if self._cfg().use_words else self.char_vec_
        prepared = [lemma_string(t) for t in texts] if self._cfg().use_words else [normalise(t).lower() for t in texts]
        return vectorizer.transform(prepared)

    def _features(self, inputs: list[Inputs], fit: bool = False) -> sp.csr_matrix:
        return self._features_and_dense(inputs, fit)[0]

    def _features_and_dense(self, inputs: list[Inputs], fit: bool = False) -> tuple[sp.csr_matrix, np.ndarray | None]:
        """The feature matrix, and the segments' own sentence vectors (None without an encoder)."""
        cfg = self._cfg()
        dense = None
        lemmas, chars, questions = lexical_texts(inputs)
        blocks: list = []
        if cfg.use_words:
            blocks.append(self.word_vec_.fit_transform(lemmas) if fit else self.word_vec_.transform(lemmas))
        if cfg.use_chars:
            blocks.append(self.char_vec_.fit_transform(chars) if fit else self.char_vec_.transform(chars))
        if cfg.use_question:
            q = self.question_vec_.fit_transform(questions) if fit else self.question_vec_.transform(questions)
            blocks.append(q * cfg.question_weight)
        if self.encoder_ is not None:
            # One encoder call for the texts and their questions, in the order sentence_texts gives.
            vectors = self._encode(sentence_texts(inputs, cfg.use_question))
            dense = vectors[:len(inputs)]
            blocks.append(dense * cfg.dense_weight)
            if cfg.use_question:
                asked = [i for i, x in enumerate(inputs) if x.question]
                qdense = np.zeros_like(dense)
                qdense[asked] = vectors[len(inputs):]
                blocks.append(qdense * cfg.dense_weight * cfg.question_weight)
            if cfg.use_codebook:
                sims = dense @ self.factor_vectors_.T
                # e5 similarities sit in a narrow band; centring per segment keeps only the ranking.
                sims = (sims - sims.mean(axis=1, keepdims=True)) / (sims.std(axis=1, keepdims=True) + 1e-6)
                blocks.append(sims * cfg.codebook_weight)
        if cfg.use_codebook:
            hits = keyword_hits(lemmas, [frozenset(k) for k in self.keywords_])
            blocks.append(np.log1p(hits) * cfg.codebook_weight)
        if not blocks:
            raise ValueError("the model configuration switches every feature family off")
        return hstack(blocks), dense

    # ------------------------------------------------------------------ fitting

    def fit(self, inputs: list[Inputs], codes: list[list[Code]], codebook: Codebook,
            encoder: Encoder | None = None, calibration_from: "CodeSuggester | None" = None,
            sample_weight: np.ndarray | None = None) -> "CodeSuggester":
        """Fit every head. ``calibration_from``: a fitted model (the active version, at a retrain) whose
        factor and no-code calibrations are carried over for the codes both know; those heads are then
        fitted once, without their out-of-fold folds, which are most of a retrain's time. The decision
        rule is chosen on transcripts afterwards either way (``set_decision_rule``).
        ``sample_weight``: per segment, how much it counts in every head (None: all alike)."""
        cfg = self._cfg()
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w is not None and (w.shape != (len(inputs),) or not np.all(np.isfinite(w)) or np.any(w <= 0)):
            raise ValueError("sample_weight: one positive weight per segment")
        self.encoder_ = encoder
        self.aard_offset_ = None  # measured on transcripts after fitting, never carried over
        self.encoder_name_ = encoder.name if encoder is not None else "none"
        self.word_vec_ = make_word_vectorizer(cfg.word_max_features)
        self.char_vec_ = make_char_vectorizer(cfg.char_max_features)
        self.question_vec_ = make_question_vectorizer()

        counts = {f: 0 for f in codebook.factor_ids}
        for cs in codes:
            for f in {c.factor for c in cs}:
                if f in counts:
                    counts[f] += 1
        self.factor_ids_ = [f for f in codebook.factor_ids if counts[f] >= cfg.min_examples_per_factor]
        self.untrained_factors_ = sorted(set(codebook.factor_ids) - set(self.factor_ids_))
        if self.untrained_factors_:
            log.warning("too few examples (< %d) to learn: %s", cfg.min_examples_per_factor,
                        ", ".join(self.untrained_factors_))
        if len(self.factor_ids_) < 2:
            raise ValueError("at least two codes need examples to train a model")
        self.keywords_ = [sorted(k) for k in keyword_sets(codebook, self.factor_ids_)]
        self.direction_factors_ = [f for f in self.factor_ids_ if codebook.factor(f).has_direction]
        self.fixed_richting_ = {f: codebook.factor(f).default_richting for f in self.factor_ids_}
        if self.encoder_ is not None and cfg.use_codebook:
            self.factor_vectors_ = self._dense([codebook.factor(f).description_text() for f in self.factor_ids_])
        else:
            self.factor_vectors_ = np.zeros((len(self.factor_ids_), 1), dtype=np.float32)

        X, dense = self._features_and_dense(inputs, fit=True)
        index = {f: j for j, f in enumerate(self.factor_ids_)}
        Y = np.zeros((len(inputs), len(self.factor_ids_)), dtype=np.int64)
        for i, cs in enumerate(codes):
            for c in cs:
                if c.factor in index:
                    Y[i, index[c.factor]] = 1

        X_heads, Y_heads = X, Y
        self.group_ids_ = sorted({codebook.factor(f).group for f in self.factor_ids_}) if cfg.group_stage else []
        if self.group_ids_:
            # First level: does the segment speak of a group (e.g. leercultuur school) at all? Its
            # out-of-fold probabilities become features of the second level, the factor heads.
            G = np.zeros((len(inputs), len(self.group_ids_)), dtype=np.int64)
            for j, f in enumerate(self.factor_ids_):
                G[:, self.group_ids_.index(codebook.factor(f).group)] |= Y[:, j]
            group_heads = fit_labels(X, G, cfg, sample_weight=w)
            self.group_coef_ = np.vstack([h[0] for h in group_heads])
            self.group_bias_ = np.array([h[1] for h in group_heads], dtype=np.float32)
            self.group_platt_ = np.array([[h[2], h[3]] for h in group_heads], dtype=np.float64)
            oof_groups = np.column_stack([h[4] for h in group_heads])
            X_heads = sp.hstack([X, oof_groups * cfg.group_weight], format="csr")
        w_heads = w
        if cfg.codebook_examples:
            # What the codebook says of each code, as short extra examples for the factor heads only
            # (they carry no richting or aard). The vectorizers stay fitted on real segments.
            extra, extra_y = [], []
            for j, f in enumerate(self.factor_ids_):
                factor = codebook.factor(f)
                for phrase in (factor.definition, *factor.include, *factor.indicators):
                    extra.append(Inputs(phrase))
                    extra_y.append(j)
            Y_extra = np.zeros((len(extra), Y.shape[1]), dtype=np.int64)
            Y_extra[np.arange(len(extra)), extra_y] = 1
            X_heads = sp.vstack([X_heads, self._with_groups(self._features(extra))], format="csr")
            Y_heads = np.vstack([Y, Y_extra])
            w_heads = None if w is None else np.concatenate([w, np.ones(len(extra))])
        carried = self._carried_platts(calibration_from)
        # While worker processes fit the factor heads, this process fits richting and aard (a few seconds of
        # a retrain). Only then: fitted here beside heads fitted here, they would share liblinear's generator.
        if uses_workers(cfg, Y.shape[1]):
            with ThreadPoolExecutor(1, thread_name_prefix="richting-aard") as side:
                poles = side.submit(self._fit_richting_aard, X, codes, index, dense, w)
                heads = fit_labels(X_heads, Y_heads, cfg, carried, w_heads)
                poles.result()
        else:
            heads = fit_labels(X_heads, Y_heads, cfg, carried, w_heads)
            self._fit_richting_aard(X, codes, index, dense, w)
        self.factor_coef_ = np.vstack([h[0] for h in heads])
        self.factor_bias_ = np.array([h[1] for h in heads], dtype=np.float32)
        self.platt_ = np.array([[h[2], h[3]] for h in heads], dtype=np.float64)
        if any(h[4] is None for h in heads):
            # Calibration carried: no out-of-fold scores to choose a threshold on, so the source model's
            # stands until the rule is chosen on transcripts.
            self.threshold_ = float(calibration_from.threshold_)
        else:
            oof = np.column_stack([h[4] for h in heads])[: len(inputs)]  # the threshold is set on real segments
            self.threshold_ = best_threshold(Y, oof)
        self._fit_no_code(X, inputs, Y, calibration_from, w)
        return self

    def _carried_platts(self, source: "CodeSuggester | None") -> list[Platt | None]:
        """The source model's calibration for each factor it also has; None where it must be fitted."""
        if source is None or not hasattr(source, "platt_"):
            return [None] * len(self.factor_ids_)
        known = {f: j for j, f in enumerate(source.factor_ids_)}
        return [(float(source.platt_[known[f], 0]), float(source.platt_[known[f], 1])) if f in known else None
                for f in self.factor_ids_]

    def _no_code_features(self, X: sp.csr_matrix, inputs: list[Inputs]) -> sp.csr_matrix:
        # Tried and dropped: the factor heads' top scores as extra features (stacked on out-of-fold
        # scores) lowered the detector's AUC on the transcript split from 0.872 to 0.853.
        return sp.hstack([X, surface_features(inputs) * self._cfg().surface_weight], format="csr")

    def _fit_no_code(self, X: sp.csr_matrix, inputs: list[Inputs], Y: np.ndarray,
                     calibration_from: "CodeSuggester | None" = None, w: np.ndarray | None = None) -> None:
        """The no-code detector: P(nothing to code) from the segment's features and its shape.

        Its threshold starts at the out-of-fold F1 optimum; ``set_decision_rule`` replaces it with
        one chosen across writers on transcripts (the shift the synthetic folds cannot show)."""
        y_none = (Y.sum(axis=1) == 0).astype(np.int64)
        if not self._cfg().no_code_detector or len(set(y_none.tolist())) < 2:
            self.no_code_coef_ = None
            return
        carried = None
        if calibration_from is not None and getattr(calibration_from, "no_code_coef_", None) is not None:
            carried = tuple(float(v) for v in calibration_from.no_code_platt_)
        coef, bias, a, b, oof = fit_label(self._no_code_features(X, inputs), y_none, self._cfg(), carried, w)
        self.no_code_coef_, self.no_code_bias_, self.no_code_platt_ = coef, bias, np.array([a, b])
        if oof is None:
            # Its thresholds and context weight, not its confidence map: predictions made before a rule is
            # chosen on transcripts must be the heads' own (training.decision.fit_decision).
            self.decision_rule_ = {**calibration_from.decision_rule_, "further_threshold": self.threshold_,
                                   "confidence_map": None,
                                   "source": "carried from the model whose calibration this retrain kept"}
        else:
            self.decision_rule_ = {"no_code_threshold": best_threshold(y_none[:, None], oof[:, None]),
                                   "further_threshold": self.threshold_,
                                   "source": "out-of-fold scores on the training corpus"}

    def _with_groups(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """X plus the first level's group probabilities, when the model has two levels."""
        if not self.group_ids_:
            return X
        groups = sigmoid(self.group_platt_[:, 0] * (np.asarray(X @ self.group_coef_.T) + self.group_bias_)
                          + self.group_platt_[:, 1])
        return sp.hstack([X, groups * self._cfg().group_weight], format="csr")

    def _pairs(self, X: sp.csr_matrix, rows: list[int], factor_cols: list[int], n_factors: int,
               dense: np.ndarray | None = None) -> sp.csr_matrix:
        """(segment, factor) rows: the segment's features, a one-hot of the factor and, with
        ``dense``, the sentence vector in the factor's own block (a per-factor linear term)."""
        onehot = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (np.arange(len(rows)), factor_cols)),
                               shape=(len(rows), n_factors))
        blocks = [X[rows], onehot]
        if dense is not None:
            d = dense.shape[1]
            cols = (np.asarray(factor_cols)[:, None] * d + np.arange(d)[None, :]).ravel()
            data = (dense[rows] * self._cfg().dense_weight).ravel()
            blocks.append(sp.csr_matrix((data, (np.repeat(np.arange(len(rows)), d), cols)),
                                        shape=(len(rows), n_factors * d)))
        return sp.hstack(blocks, format="csr")

    def _fit_linear(self, X: sp.csr_matrix, y: np.ndarray, w: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        if len(set(y.tolist())) < 2:  # one class only: a constant, honestly uncertain model
            prior = float(np.clip(y.mean() if len(y) else 0.5, 0.05, 0.95))
            return np.zeros(X.shape[1], dtype=np.float32), float(np.log(prior / (1 - prior)))
        clf = linear_head(self._cfg()).fit(X, y, w)
        return clf.coef_[0].astype(np.float32), float(clf.intercept_[0])

    def _fit_richting_aard(self, X: sp.csr_matrix, codes: list[list[Code]], index: dict[str, int],
                           dense: np.ndarray | None = None, w: np.ndarray | None = None) -> None:
        direction_index = {f: j for j, f in enumerate(self.direction_factors_)}
        r_rows, r_cols, r_y, a_rows, a_cols, a_y = [], [], [], [], [], []
        for i, cs in enumerate(codes):
            for c in cs:
                if c.factor not in index:
                    continue
                a_rows.append(i), a_cols.append(index[c.factor]), a_y.append(1 if c.aard == "+" else 0)
                if c.factor in direction_index and c.richting in ("PO", "SO"):
                    r_rows.append(i), r_cols.append(direction_index[c.factor]), r_y.append(1 if c.richting == "PO" else 0)
        n_features = X.shape[1]
        if r_rows:
            coef, bias = self._fit_linear(self._pairs(X, r_rows, r_cols, len(self.direction_factors_)), np.array(r_y),
                                          None if w is None else w[r_rows])
        else:
            coef, bias = np.zeros(n_features + len(self.direction_factors_), dtype=np.float32), 0.0
        self.richting_coef_, self.richting_bias_ = coef, bias
        # Each factor's share of + in training: the prior that ``set_aard_offsets`` corrects.
        plus, seen = np.ones(len(self.factor_ids_)), np.full(len(self.factor_ids_), 2.0)
        np.add.at(plus, a_cols, a_y)
        np.add.at(seen, a_cols, 1)
        self.aard_prior_ = plus / seen
        per_factor = dense if self._cfg().aard_per_factor else None
        coef, bias = self._fit_linear(self._pairs(X, a_rows, a_cols, len(self.factor_ids_), per_factor), np.array(a_y),
                                      None if w is None else w[a_rows])
        self.aard_coef_, self.aard_bias_ = coef, bias

    # ------------------------------------------------------------------ prediction

    def predict_all(self, inputs: list[Inputs]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities (n x factors) of factor, of richting PO (given the factor), of aard +."""
        return self._predict(inputs)[:3]

    def predict_no_code(self, inputs: list[Inputs]) -> np.ndarray | None:
        """P(nothing to code) per segment, or None for a model without the detector."""
        return self._predict(inputs)[3]

    @property
    def has_no_code_detector(self) -> bool:
        return getattr(self, "no_code_coef_", None) is not None

    def _predict(self, inputs: list[Inputs]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        # One pass over the features (the encoder is the slow part) serves every head.
        if not inputs:
            k = len(self.factor_ids_)
            return np.zeros((0, k)), np.zeros((0, k)), np.zeros((0, k)), (np.zeros(0) if self.has_no_code_detector else None)
        X, dense = self._features_and_dense(inputs)
        n_features = X.shape[1]
        scores = np.asarray(self._with_groups(X) @ self.factor_coef_.T) + self.factor_bias_
        factor_p = sigmoid(self.platt_[:, 0] * scores + self.platt_[:, 1])
        calibration = (getattr(self, "decision_rule_", None) or {}).get("confidence_map")
        if calibration:
            factor_p = confidence_map(factor_p, calibration)
        base_a = X @ self.aard_coef_[:n_features] + self.aard_bias_
        k = len(self.factor_ids_)
        aard_z = base_a[:, None] + self.aard_coef_[n_features:n_features + k][None, :]
        if len(self.aard_coef_) > n_features + k:  # per-factor sentence-vector terms
            W = self.aard_coef_[n_features + k:].reshape(k, -1)
            aard_z = aard_z + (dense * self._cfg().dense_weight) @ W.T
        if getattr(self, "aard_offset_", None) is not None:
            aard_z = aard_z + self.aard_offset_[None, :]
        aard_p = sigmoid(aard_z)
        po_p = np.ones_like(factor_p)
        if self.direction_factors_:
            base_r = X @ self.richting_coef_[:n_features] + self.richting_bias_
            for j, f in enumerate(self.direction_factors_):
                po_p[:, self.factor_ids_.index(f)] = sigmoid(base_r + self.richting_coef_[n_features + j])
        none_p = None
        if self.has_no_code_detector:
            z = np.asarray(self._no_code_features(X, inputs) @ self.no_code_coef_).ravel() + self.no_code_bias_
            none_p = sigmoid(self.no_code_platt_[0] * z + self.no_code_platt_[1])
        return factor_p, po_p, aard_p, none_p

    def set_aard_offsets(self, offsets: np.ndarray) -> None:
        """Per-factor shifts of the aard logit: the corpus balances the poles by design, real talk
        does not (reported impact is mostly +), so the prior is corrected to the poles' real shares."""
        self.aard_offset_ = np.asarray(offsets, dtype=np.float64)

    def set_decision_rule(self, no_code_threshold: float, further_threshold: float, source: str,
                          context_weight: float = 0.0, calibration: tuple[float, float] | None = None) -> None:
        """Numbers chosen outside the training folds, kept in the artifact: the thresholds, the context
        weight, and the map (a, b) from a factor's corpus-calibrated confidence to one calibrated on speech."""
        self.decision_rule_ = {"no_code_threshold": float(no_code_threshold),
                               "further_threshold": float(further_threshold), "context_weight": float(context_weight),
                               "confidence_map": [float(c) for c in calibration] if calibration else None,
                               "source": source}

    def predictions(self, inputs: list[Inputs]) -> Predictions:
        """Every head's output for the segments: what ``suggest`` decides on."""
        return Predictions(*self._predict(inputs))

    def in_context(self, pred: Predictions, follows: list[bool], weight: float | None = None) -> Predictions:
        """Factor scores blended with those of the same speaker's previous turn (``follows[i]``: segment i
        continues segment i-1). Spoken answers lean on what was just said; the weight is chosen on the
        transcript split and kept in the decision rule (0 without one)."""
        if weight is None:
            weight = float((getattr(self, "decision_rule_", None) or {}).get("context_weight", 0.0))
        if weight <= 0 or not any(follows):
            return pred
        factor_p = pred.factor_p.copy()
        rows = np.flatnonzero(np.asarray(follows, dtype=bool))
        factor_p[rows] = (1 - weight) * pred.factor_p[rows] + weight * pred.factor_p[rows - 1]
        return Predictions(factor_p, pred.po_p, pred.aard_p, pred.no_code_p)

    def suggest(self, inputs: list[Inputs], min_confidence: float | None = None,
                with_no_code: bool = False):
        """Suggestions per segment, sorted by confidence.

        With the no-code detector and no ``min_confidence``: a segment the detector does not call
        no-code always gets its best factor, and further factors when they pass the threshold.
        With ``min_confidence`` (or an older model without the detector) codes are kept when their
        confidence reaches it, nothing else: ``0`` lists every factor. ``with_no_code`` also returns
        the detector's P(nothing to code) per segment (None without a detector).
        """
        pred = self.predictions(inputs)
        rows = self.suggest_from(pred, min_confidence)
        return (rows, pred.no_code_p) if with_no_code else rows

    def decision_rule(self, min_confidence: float | None = None) -> DecisionRule:
        rule = getattr(self, "decision_rule_", None) if self.has_no_code_detector else None
        if min_confidence is not None or rule is None:
            return DecisionRule(self.threshold_ if min_confidence is None else min_confidence)
        return DecisionRule(rule["further_threshold"], rule["no_code_threshold"])

    def suggest_from(self, pred: Predictions, min_confidence: float | None = None,
                     rule: DecisionRule | None = None) -> list[list[Suggestion]]:
        """Suggestions from predictions already made (evaluation tries several rules on one pass)."""
        rule = rule or self.decision_rule(min_confidence)
        out = []
        for i in range(len(pred.factor_p)):
            row = []
            for j in rule.kept(pred.factor_p[i], None if pred.no_code_p is None else float(pred.no_code_p[i])):
                f, p = self.factor_ids_[j], float(pred.factor_p[i, j])
                if f in self.direction_factors_:
                    richting = "PO" if pred.po_p[i, j] >= 0.5 else "SO"
                    r_conf = float(max(pred.po_p[i, j], 1 - pred.po_p[i, j]))
                else:
                    richting, r_conf = self.fixed_richting_[f], 1.0
                aard = "+" if pred.aard_p[i, j] >= 0.5 else "-"
                row.append(Suggestion(f, richting, aard, p, r_conf, float(max(pred.aard_p[i, j], 1 - pred.aard_p[i, j]))))
            out.append(row)
        return out

    # ------------------------------------------------------------------ persistence

    STATE_KEYS = ("config", "encoder_name_", "factor_ids_", "untrained_factors_", "keywords_",
                  "direction_factors_", "fixed_richting_", "factor_vectors_", "word_vec_", "char_vec_",
                  "question_vec_", "factor_coef_", "factor_bias_", "platt_", "richting_coef_", "richting_bias_",
                  "aard_coef_", "aard_bias_", "threshold_")
    # Present only in two-level models (group_stage); a one-level model has no group heads.
    GROUP_KEYS = ("group_ids_", "group_coef_", "group_bias_", "group_platt_")
    # Present only in models with the no-code detector (older artifacts load without it).
    NO_CODE_KEYS = ("no_code_coef_", "no_code_bias_", "no_code_platt_", "decision_rule_")
    # Present when the aard priors were measured (aard_prior_) and corrected (aard_offset_).
    AARD_KEYS = ("aard_prior_", "aard_offset_")
    VECTORIZER_KEYS = ("word_vec_", "char_vec_", "question_vec_")

    def state(self) -> dict:
        """What the model file holds: plain arrays, lists and scikit-learn objects, nothing of our own."""
        state = {k: getattr(self, k) for k in self.STATE_KEYS}
        state["config"] = self._cfg().to_dict()
        vocabularies = {}
        for key in self.VECTORIZER_KEYS:
            state[key], terms = _without_vocabulary(getattr(self, key))
            if terms is not None:
                vocabularies[key] = terms
        state["vocabularies"] = vocabularies
        if self.group_ids_:
            state.update({k: getattr(self, k) for k in self.GROUP_KEYS})
        if self.has_no_code_detector:
            state.update({k: getattr(self, k) for k in self.NO_CODE_KEYS})
        state.update({k: getattr(self, k) for k in self.AARD_KEYS if getattr(self, k, None) is not None})
        return state

    @classmethod
    def from_state(cls, state: dict, encoder: Encoder | None) -> "CodeSuggester":
        model = cls(ModelConfig.from_dict(state["config"]))
        for k in cls.STATE_KEYS[1:]:
            setattr(model, k, state[k])
        model.group_ids_ = []
        model.no_code_coef_ = None
        model.aard_offset_ = None
        for k in cls.GROUP_KEYS + cls.NO_CODE_KEYS + cls.AARD_KEYS:
            if k in state:
                setattr(model, k, state[k])
        # Files written before the vocabularies were arrays keep them in the vectorizers themselves.
        for key, terms in state.get("vocabularies", {}).items():
            getattr(model, key).vocabulary_ = {term: j for j, term in enumerate(terms.tolist())}
        model.encoder_ = encoder
        return model


def _without_vocabulary(vectorizer):
    """A copy of a fitted vectorizer without its vocabulary dict, and that vocabulary as an array of terms
    in column order (None when there is nothing to take out).

    skops writes a dict as one node per entry in its JSON schema: the default model's ~68,000 terms made a
    33 MB schema that took ~5 s to write and 4-7 s to read back. A numpy array of strings is one .npy file, and the
    column of a term is its position, so nothing is lost."""
    vocabulary = getattr(vectorizer, "vocabulary_", None)
    if not vocabulary:
        return vectorizer, None
    by_column = sorted(vocabulary, key=vocabulary.__getitem__)
    terms = np.array(by_column, dtype=str)
    if [vocabulary[t] for t in by_column] != list(range(len(by_column))) or terms.tolist() != by_column:
        # Not a column per term, or a term numpy's strings cannot hold (trailing NULs): keep the dict.
        return vectorizer, None
    stripped = copy.copy(vectorizer)
    stripped.vocabulary_ = {}
    return stripped, terms
