"""Tests for bot.aggregation: worked examples with exact numbers, published Krippendorff alphas,
a case where Dawid-Skene rightly overrules the majority, and a few properties."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.aggregation import (
    MAX_ITER,
    Aggregate,
    DawidSkeneModel,
    Level,
    RatingAggregate,
    dawid_skene,
    dawid_skene_model,
    gold_accuracy,
    krippendorff_alpha,
    majority_vote,
    rating_summary,
)
from tests.crowds import REFERENCE_CROWDS, fingerprint, generate

Answers = list[tuple[str, str, str]]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval")


def reliability_data(matrix: str, coders: str = "ABCD") -> list[tuple[int, str, str]]:
    """Answers from a coders-by-units matrix, one coder a line, '*' for a missing value."""
    rows = matrix.strip().splitlines()
    assert len(rows) <= len(coders)
    return [
        (unit, coder, value)
        for coder, row in zip(coders, rows, strict=False)
        for unit, value in enumerate(row.split())
        if value != "*"
    ]


# --- majority vote -----------------------------------------------------------------------

VOTES: Answers = [
    ("t1", "w1", "a"), ("t1", "w2", "a"), ("t1", "w3", "b"),
    ("t2", "w1", "b"), ("t2", "w2", "a"),
    ("t3", "w1", "c"),
    ("t4", "w1", "a"), ("t4", "w2", "b"), ("t4", "w3", "c"), ("t4", "w4", "c"),
    ("t5", "w1", "a"), ("t5", "w2", "b"), ("t5", "w3", "b"), ("t5", "w4", "c"), ("t5", "w5", "c"),
]  # fmt: skip


def test_majority_vote_worked_example() -> None:
    result = majority_vote(VOTES)
    assert result == {
        "t1": Aggregate("a", 2 / 3, 3, {"a": 2, "b": 1}),
        # 1:1 tie: the lexicographically smallest value wins, and the tie shows.
        "t2": Aggregate("a", 0.5, 2, {"a": 1, "b": 1}, tied=True),
        "t3": Aggregate("c", 1.0, 1, {"c": 1}),
        "t4": Aggregate("c", 0.5, 4, {"a": 1, "b": 1, "c": 2}),
        "t5": Aggregate("b", 0.4, 5, {"a": 1, "b": 2, "c": 2}, tied=True),
    }


def test_majority_vote_breaks_ties_by_the_order_of_options() -> None:
    result = majority_vote(VOTES, options=["c", "b", "a"])
    assert result["t2"] == Aggregate("b", 0.5, 2, {"b": 1, "a": 1}, tied=True)
    assert result["t5"] == Aggregate("c", 0.4, 5, {"c": 2, "b": 2, "a": 1}, tied=True)
    assert result["t1"].value == "a"  # no tie: the order of options does not matter
    assert not result["t1"].tied


def test_majority_vote_rejects_values_outside_the_options() -> None:
    with pytest.raises(ValueError, match="not among the options"):
        majority_vote(VOTES, options=["a", "b"])
    with pytest.raises(ValueError, match="repeat"):
        majority_vote(VOTES, options=["a", "b", "c", "a"])
    assert majority_vote([]) == {}


# --- Dawid-Skene ---------------------------------------------------------------------------

RELIABLE = ("r1", "r2", "r3")
# Contested tasks: only r1 and the two spammers answered; the truth is r1's answer.
CONTESTED = {"x0": "a", "x1": "c", "x2": "a", "x3": "c", "x4": "a", "x5": "c"}


def spammer_case() -> Answers:
    """27 calibration tasks (9 per class) answered by everyone: the 3 reliable workers are
    always right, 'lazy' always answers 'b', and 'noisy' answers independently of the truth
    (each true class gets each answer 3 times). On the contested tasks the two spammers answer
    'b' together and outvote r1."""
    classes = "abc"
    answers: Answers = []
    for i in range(27):
        task, truth = f"cal{i}", classes[i % 3]
        answers += [(task, worker, truth) for worker in RELIABLE]
        answers += [(task, "lazy", "b"), (task, "noisy", classes[(i // 3) % 3])]
    for task, truth in CONTESTED.items():
        answers += [(task, "r1", truth), (task, "lazy", "b"), (task, "noisy", "b")]
    return answers


def test_dawid_skene_overrules_a_majority_of_spammers() -> None:
    answers = spammer_case()
    mv = majority_vote(answers)
    ds = dawid_skene(answers)
    model = dawid_skene_model(answers)
    assert model.converged

    for task, truth in CONTESTED.items():
        # Majority vote follows the two spammers ...
        assert mv[task] == Aggregate("b", 2 / 3, 3, {truth: 1, "b": 2})
        # ... Dawid-Skene knows their "b" carries no information and follows r1.
        assert ds[task].value == truth
        assert ds[task].confidence > 0.95
        assert not ds[task].tied
    for i in range(27):  # where the reliable workers agree, both methods get it right
        assert mv[f"cal{i}"].value == ds[f"cal{i}"].value == "abc"[i % 3]

    accuracy = model.accuracies
    for worker in RELIABLE:
        assert accuracy[worker] > 0.95
    # Both spammers score about 0.27, no better than guessing among three classes (1/3).
    assert accuracy["lazy"] < 0.3
    assert accuracy["noisy"] < 0.3
    # 'lazy' answers "b" whatever the truth is.
    for true_label in "abc":
        assert model.confusion["lazy"][true_label]["b"] > 0.95
    # 9 of 33 tasks are truly "b" (the rest split evenly), and the priors see that.
    assert model.priors["b"] == pytest.approx(9 / 33, abs=0.01)
    assert model.priors["a"] == pytest.approx(model.priors["c"])


def test_dawid_skene_model_is_a_proper_distribution() -> None:
    model = dawid_skene_model(spammer_case())
    assert model.classes == ("a", "b", "c")
    assert math.fsum(model.priors.values()) == pytest.approx(1.0)
    for matrix in model.confusion.values():
        for row in matrix.values():
            assert math.fsum(row.values()) == pytest.approx(1.0)
            assert all(p > 0 for p in row.values())  # smoothing: never exactly 0
    for posterior in model.posteriors.values():
        assert math.fsum(posterior.values()) == pytest.approx(1.0)


def test_dawid_skene_with_one_answer_and_unanimous_workers() -> None:
    # A lone answer: the smoothed matrices keep the posterior finite and the label obvious.
    (only,) = dawid_skene([("t", "w", "yes")]).values()
    assert only == Aggregate("yes", 1.0, 1, {"yes": 1})
    unanimous = [(t, w, v) for t, v in [("t1", "x"), ("t2", "y")] for w in ("w1", "w2", "w3")]
    ds = dawid_skene(unanimous)
    assert {t: a.value for t, a in ds.items()} == {"t1": "x", "t2": "y"}
    assert all(a.confidence > 0.99 for a in ds.values())


def test_dawid_skene_symmetric_case_is_a_visible_tie() -> None:
    # Two workers who never agree: nothing tells which one is right.
    answers = [("t1", "w1", "a"), ("t1", "w2", "b"), ("t2", "w1", "b"), ("t2", "w2", "a")]
    ds = dawid_skene(answers)
    assert ds["t1"].tied
    assert ds["t1"].value == "a"
    assert ds["t1"].confidence == pytest.approx(0.5)
    assert dawid_skene(answers, options=["b", "a"])["t1"].value == "b"


def test_dawid_skene_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="max_iter"):
        dawid_skene([("t", "w", "a")], max_iter=0)
    with pytest.raises(ValueError, match="smoothing"):
        dawid_skene([("t", "w", "a")], smoothing=-0.1)
    with pytest.raises(ValueError, match="not among the options"):
        dawid_skene([("t", "w", "a")], options=["b"])


# --- Dawid-Skene on generated crowds, against crowd-kit --------------------------------

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "crowdkit_dawid_skene.json").read_text(encoding="utf-8")
)
SPECS = {spec.name: spec for spec in REFERENCE_CROWDS}


def labels_and_confidences(
    model: DawidSkeneModel[str, str], tasks: list[str]
) -> tuple[list[str], list[float]]:
    labels, confidences = [], []
    for task in tasks:
        posterior = model.posteriors[task]
        best = max(model.classes, key=posterior.__getitem__)
        labels.append(best)
        confidences.append(posterior[best])
    return labels, confidences


@pytest.mark.parametrize("name", ["project", "many_classes", "hard"])
def test_dawid_skene_runs_to_convergence_at_the_defaults(name: str) -> None:
    # These crowds need 180-430 rounds; the old cap of 100 stopped short (on "hard" a fifth
    # of the labels were still wrong), and nobody was told.
    answers, _ = generate(SPECS[name])
    model = dawid_skene_model(answers)
    assert model.converged
    assert 100 < model.iterations < MAX_ITER
    tasks = sorted(model.posteriors)
    labels, confidences = labels_and_confidences(model, tasks)
    exact = dawid_skene_model(answers, tol=1e-12, max_iter=100_000)
    assert exact.converged
    exact_labels, exact_confidences = labels_and_confidences(exact, tasks)
    assert labels == exact_labels
    assert confidences == pytest.approx(exact_confidences, abs=1e-4)
    # A cap that is reached says so.
    short = dawid_skene_model(answers, max_iter=20)
    assert (short.converged, short.iterations) == (False, 20)


@pytest.mark.parametrize("name", [spec.name for spec in REFERENCE_CROWDS])
def test_dawid_skene_matches_crowd_kit(name: str) -> None:
    """Without smoothing our EM is the one crowd-kit's DawidSkene runs (tests/data/README.md:
    how its results were computed): the same labels on every task, the same posteriors."""
    reference = REFERENCE["crowds"][name]
    answers, truth = generate(SPECS[name])
    assert fingerprint(answers) == reference["fingerprint"]  # the very same crowd
    model = dawid_skene_model(answers, smoothing=0, tol=1e-10, max_iter=100_000)
    assert model.converged
    tasks = reference["tasks"]
    assert sorted(tasks) == sorted(model.posteriors)
    labels, confidences = labels_and_confidences(model, tasks)
    assert labels == reference["labels"]
    assert confidences == pytest.approx(reference["confidences"], abs=1e-6)
    # And the bot's own setting (light smoothing) is no worse at finding the truth.
    ours = dawid_skene(answers)
    right = sum(ours[t].value == truth[t] for t in tasks)
    assert right >= sum(
        label == truth[t] for t, label in zip(tasks, labels, strict=True)
    ) - 0.01 * len(tasks)


# --- ratings -------------------------------------------------------------------------------


def test_rating_summary() -> None:
    answers = [
        ("t1", "w1", "1"), ("t1", "w2", "5"), ("t1", "w3", "4"),
        ("t2", "w1", "2"), ("t2", "w2", "3"),
        ("t3", "w1", "4.5"),
    ]  # fmt: skip
    assert rating_summary(answers) == {
        "t1": RatingAggregate(median=4.0, mean=10 / 3, answers=3),
        "t2": RatingAggregate(median=2.5, mean=2.5, answers=2),
        "t3": RatingAggregate(median=4.5, mean=4.5, answers=1),
    }
    with pytest.raises(ValueError, match="not a number"):
        rating_summary([("t", "w", "great")])
    with pytest.raises(ValueError, match="finite"):
        rating_summary([("t", "w", "nan")])


# --- Krippendorff's alpha ------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers,
# 12 units, values 1-5, missing data. Published: nominal .743, ordinal .815, interval .849.
K2011 = """
1 2 3 3 2 1 4 1 2 * * *
1 2 3 3 2 2 4 1 2 5 * 3
* 3 3 3 2 3 4 2 2 5 1 *
1 2 3 3 2 4 4 1 2 5 1 *
"""

# Wikipedia, "Krippendorff's alpha", the computational example: 3 coders, 15 units.
# Published: nominal .691, interval .811 (also the test values of the `krippendorff` package).
WIKIPEDIA = """
* * * * * 3 4 1 2 1 1 3 3 * 3
1 * 2 1 3 3 4 3 * * * * * * *
* * 2 1 3 4 4 * 2 1 1 3 3 * 4
"""


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_alpha_krippendorff_2011_four_observers_missing_data(
    level: Level, published: float
) -> None:
    alpha = krippendorff_alpha(reliability_data(K2011), level)
    assert alpha is not None
    assert round(alpha, 3) == published


def test_alpha_krippendorff_2011_exact_fractions() -> None:
    # Worked by hand from the coincidence matrix: n = 40 pairable values with marginals
    # n_1..n_5 = 9, 13, 10, 5, 3. Nominal: 8 disagreeing coincidences, sum n_c n_k (c != k)
    # = 1600 - 384 = 1216. Interval: sum o_ck (c-k)^2 = 52/3, sum n_c n_k (c-k)^2 = 4480.
    data = reliability_data(K2011)
    assert krippendorff_alpha(data, "nominal") == pytest.approx(1 - 39 * 8 / 1216)  # 113/152
    assert krippendorff_alpha(data, "interval") == pytest.approx(1 - 39 * (52 / 3) / 4480)


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.691), ("interval", 0.811)])
def test_alpha_wikipedia_example(level: Level, published: float) -> None:
    alpha = krippendorff_alpha(reliability_data(WIKIPEDIA), level)
    assert alpha is not None
    assert round(alpha, 3) == published
    if level == "nominal":
        assert alpha == pytest.approx(56 / 81)


def test_alpha_krippendorff_2011_two_observers() -> None:
    # Section A, binary data, two observers, no missing data: alpha = .095.
    binary = reliability_data("0 1 0 0 0 0 0 0 1 0\n1 1 1 0 0 1 0 0 0 0")
    assert krippendorff_alpha(binary) == pytest.approx(1 - 19 * 4 / (14 * 6))
    # Section B, nominal data, two observers, no missing data: alpha = .692.
    nominal = reliability_data("a a b b d c c c e d d a\nb a b b b c c c e d d d")
    alpha = krippendorff_alpha(nominal)
    assert alpha is not None
    assert round(alpha, 3) == 0.692


def test_alpha_properties() -> None:
    data = reliability_data(K2011)
    # Perfect agreement (with variation) is 1 at every level.
    perfect = [(u, c, v) for u, v in enumerate("12345") for c in "AB"]
    for level in LEVELS:
        assert krippendorff_alpha(perfect, level) == 1.0
    # No variation at all, or nothing pairable: undefined.
    assert krippendorff_alpha([(u, c, "3") for u in range(5) for c in "AB"]) is None
    assert krippendorff_alpha([(u, "A", str(u)) for u in range(5)]) is None
    assert krippendorff_alpha([]) is None
    # Coders are interchangeable: renaming them (here: swapping A and D) changes nothing.
    swapped = [(u, {"A": "D", "D": "A"}.get(c, c), v) for u, c, v in data]
    assert krippendorff_alpha(swapped, "ordinal") == krippendorff_alpha(data, "ordinal")
    # Units with a single value are not pairable and are ignored.
    lonely = [*data, (100, "A", "1"), (101, "B", "5"), (102, "C", "9")]
    for level in LEVELS:
        assert krippendorff_alpha(lonely, level) == krippendorff_alpha(data, level)


def test_alpha_ordinal_order() -> None:
    words = {"1": "very low", "2": "low", "3": "mid", "4": "high", "5": "very high"}
    order = list(words.values())
    data = [(u, c, words[v]) for u, c, v in reliability_data(K2011)]
    alpha = krippendorff_alpha(data, "ordinal", order=order)
    assert alpha is not None
    assert round(alpha, 3) == 0.815
    # Numbers are ranked numerically by default, not as strings ("10" after "9").
    numeric = [(0, "A", "9"), (0, "B", "10"), (1, "A", "2"), (1, "B", "2"), (2, "A", "10")]
    assert krippendorff_alpha(numeric, "ordinal") == krippendorff_alpha(
        numeric, "ordinal", order=["2", "9", "10"]
    )
    with pytest.raises(ValueError, match="not in order"):
        krippendorff_alpha(data, "ordinal", order=order[:-1])
    with pytest.raises(ValueError, match="only applies"):
        krippendorff_alpha(data, "nominal", order=order)
    with pytest.raises(ValueError, match="unknown level"):
        krippendorff_alpha(data, "ratio")  # type: ignore[arg-type]


# --- gold ----------------------------------------------------------------------------------


def test_gold_accuracy() -> None:
    gold = {"t1": "a", "t2": "b"}
    answers = [("t1", "w1", "a"), ("t1", "w2", "b"), ("t2", "w1", "b"), ("t3", "w1", "x")]
    assert gold_accuracy(answers, gold) == (2, 3)
    assert gold_accuracy([a for a in answers if a[1] == "w1"], gold) == (2, 2)
    assert gold_accuracy(answers, {}) == (0, 0)


# --- properties ----------------------------------------------------------------------------

answer_lists = st.lists(
    st.tuples(
        st.integers(0, 5), st.sampled_from(["w1", "w2", "w3", "w4"]), st.sampled_from("abc")
    ),
    max_size=30,
)
rating_lists = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(["w1", "w2", "w3"]), st.sampled_from("12345")),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(answer_lists)
def test_majority_vote_properties(answers: list[tuple[int, str, str]]) -> None:
    for task, agg in majority_vote(answers).items():
        values = [v for t, _, v in answers if t == task]
        assert 0 < agg.confidence <= 1
        assert agg.answers == len(values) == sum(agg.votes.values())
        assert agg.votes[agg.value] == max(agg.votes.values())
        assert agg.confidence == agg.votes[agg.value] / agg.answers
        assert agg.tied == (list(agg.votes.values()).count(max(agg.votes.values())) > 1)


@settings(max_examples=50, deadline=None)
@given(answer_lists)
def test_dawid_skene_properties(answers: list[tuple[int, str, str]]) -> None:
    observed = {v for _, _, v in answers}
    result = dawid_skene(answers)
    assert set(result) == {t for t, _, _ in answers}
    for agg in result.values():
        assert agg.value in observed
        assert 1 / len(observed) - 1e-9 <= agg.confidence <= 1 + 1e-9
    for accuracy in dawid_skene_model(answers).accuracies.values():
        assert 0 <= accuracy <= 1


@settings(max_examples=100, deadline=None)
@given(rating_lists, st.sampled_from(LEVELS))
def test_alpha_at_most_one(answers: list[tuple[int, str, str]], level: Level) -> None:
    alpha = krippendorff_alpha(answers, level)
    assert alpha is None or alpha <= 1 + 1e-12


@settings(max_examples=100, deadline=None)
@given(rating_lists)
def test_alpha_interval_ignores_linear_rescaling(answers: list[tuple[int, str, str]]) -> None:
    # Interval alpha depends on differences only relative to their spread: x -> 2x + 3 keeps it.
    rescaled = [(t, w, str(2 * int(v) + 3)) for t, w, v in answers]
    alpha = krippendorff_alpha(answers, "interval")
    other = krippendorff_alpha(rescaled, "interval")
    assert (alpha is None) == (other is None)
    if alpha is not None and other is not None:
        assert other == pytest.approx(alpha, abs=1e-9)
