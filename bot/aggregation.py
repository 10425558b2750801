"""Aggregating crowd labels and measuring agreement: pure functions over plain tuples.

Every function takes the answers as an iterable of ``(task_id, worker_id, value)`` tuples.
Values are strings (an option's text, or a numeric string such as ``"4"`` for ratings); task
and worker ids are anything hashable. Every tuple counts as one answer: if a worker may answer
a task twice, de-duplicate before calling.

* :func:`majority_vote` - the most frequent value per task, its share, visible ties.
* :func:`dawid_skene` / :func:`dawid_skene_model` - Dawid & Skene (1979) EM: one confusion
  matrix per worker, so the answers of workers who are often wrong count for less.
* :func:`rating_summary` - median and mean of numeric ratings per task.
* :func:`krippendorff_alpha` - agreement (nominal, ordinal, interval) from the coincidence
  matrix, as in Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability".
* :func:`gold_accuracy` - answers that match known (gold) labels.

Standard library only, on purpose: numpy, pandas or crowd-kit would add tens of megabytes to
the bot's install for a handful of loops, and one project's answers fit in memory many times
over, so vectorising buys nothing that matters here.

Ties are broken the same way everywhere: by the order of ``options`` when it is given, else by
the lexicographically smallest value. A tie is never hidden: :attr:`Aggregate.tied` says so.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

T = TypeVar("T", bound=Hashable)
"""A task id."""
W = TypeVar("W", bound=Hashable)
"""A worker id."""

Level = Literal["nominal", "ordinal", "interval"]

# Posteriors closer than this (relatively) to the best one count as a tie.
_TIE_REL_TOL = 1e-9


@dataclass(frozen=True, slots=True)
class Aggregate:
    """The aggregated label of one task.

    ``confidence`` is the winning value's share of the answers (majority vote) or its
    posterior probability (Dawid-Skene). ``votes`` counts the raw answers per value, in
    tie-break order. ``tied`` is True when another value was exactly as good and the winner
    was chosen only by the tie-break rule.
    """

    value: str
    confidence: float
    answers: int
    votes: dict[str, int]
    tied: bool = False


@dataclass(frozen=True, slots=True)
class RatingAggregate:
    """Median and mean of one task's numeric ratings."""

    median: float
    mean: float
    answers: int


@dataclass(frozen=True, slots=True)
class DawidSkeneModel(Generic[T, W]):
    """A fitted Dawid-Skene model.

    ``confusion[worker][true][answered]`` is the estimated probability that ``worker`` answers
    ``answered`` on a task whose true label is ``true`` (each row sums to 1).
    ``posteriors[task][label]`` is the probability that ``label`` is the task's true label.
    """

    classes: tuple[str, ...]
    priors: dict[str, float]
    confusion: dict[W, dict[str, dict[str, float]]]
    posteriors: dict[T, dict[str, float]]
    iterations: int
    converged: bool

    def accuracy(self, worker: W) -> float:
        """The worker's estimated chance of answering a task correctly.

        Averaged over true labels weighted by the class priors: ``sum_k prior_k * pi[k][k]``.
        A worker who always gives the same answer scores that class's prior; a worker who
        answers at random scores about ``1 / len(classes)``.
        """
        matrix = self.confusion[worker]
        return math.fsum(self.priors[k] * matrix[k][k] for k in self.classes)

    @property
    def accuracies(self) -> dict[W, float]:
        """:meth:`accuracy` of every worker."""
        return {worker: self.accuracy(worker) for worker in self.confusion}


def _class_order(values: Iterable[str], options: Sequence[str] | None) -> tuple[str, ...]:
    """The classes in tie-break order: ``options`` as given, else the sorted observed values.

    Raises ValueError when ``options`` repeats a value or misses an observed one.
    """
    seen = set(values)
    if options is None:
        return tuple(sorted(seen))
    classes = tuple(options)
    if len(set(classes)) != len(classes):
        raise ValueError(f"options repeat a value: {classes!r}")
    unknown = seen.difference(classes)
    if unknown:
        raise ValueError(f"values not among the options: {sorted(unknown)!r}")
    return classes


def _by_task(answers: Iterable[tuple[T, Hashable, str]]) -> dict[T, list[str]]:
    """The values given to each task, in input order."""
    grouped: dict[T, list[str]] = defaultdict(list)
    for task, _worker, value in answers:
        grouped[task].append(value)
    return dict(grouped)


def _votes(values: list[str], classes: tuple[str, ...]) -> dict[str, int]:
    """Answers per value, in tie-break order, values nobody gave left out."""
    counts = Counter(values)
    return {c: counts[c] for c in classes if counts[c]}


def majority_vote(
    answers: Iterable[tuple[T, Hashable, str]], *, options: Sequence[str] | None = None
) -> dict[T, Aggregate]:
    """The most frequent value of each task.

    ``confidence`` is its share of the task's answers. Ties go to the value that comes first
    in ``options`` (when given; every value must then be one of them) or else to the
    lexicographically smallest value, and are flagged with ``tied=True``.
    """
    grouped = _by_task(answers)
    classes = _class_order((v for vs in grouped.values() for v in vs), options)
    result: dict[T, Aggregate] = {}
    for task, values in grouped.items():
        votes = _votes(values, classes)
        best = max(votes.values())
        winners = [value for value, count in votes.items() if count == best]
        result[task] = Aggregate(
            value=winners[0],
            confidence=best / len(values),
            answers=len(values),
            votes=votes,
            tied=len(winners) > 1,
        )
    return result


def dawid_skene_model(
    answers: Iterable[tuple[T, W, str]],
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    options: Sequence[str] | None = None,
    smoothing: float = 0.1,
) -> DawidSkeneModel[T, W]:
    """Fit Dawid & Skene (1979) by expectation-maximisation.

    The model: each task has a hidden true label drawn from the class priors; a worker facing
    a task of true label ``k`` answers ``l`` with probability ``pi_w[k][l]`` (a full confusion
    matrix per worker), independently of the other workers.

    * Start: the task posteriors are the majority-vote shares (the classic initialisation).
    * M-step: priors and confusion matrices from the posterior-weighted answer counts, each
      cell given ``smoothing`` extra pseudo-answers (additive smoothing: the MAP estimate under
      a symmetric Dirichlet prior). This keeps a worker with few answers from getting a
      degenerate matrix of 0s and 1s (one answer would otherwise be "always right"), and
      gives the rows of labels the worker never met the uninformative ``1 / len(classes)``.
      The default 0.1 is light: a perfect worker with 10 answers per class still rates about
      0.98 on three classes.
    * E-step: posteriors ``P(k | task) ~ prior_k * prod_w pi_w[k][answer_w]``, in log space.
    * Stop when no posterior moved more than ``tol``, or after ``max_iter`` rounds.

    The classes are ``options`` (in that order) when given, else the observed values sorted.
    """
    if max_iter < 1:
        raise ValueError("max_iter must be at least 1")
    if not smoothing > 0:
        raise ValueError("smoothing must be positive")
    data = list(answers)
    classes = _class_order((value for _, _, value in data), options)
    k_count = len(classes)
    class_index = {c: i for i, c in enumerate(classes)}

    task_index: dict[T, int] = {}
    worker_index: dict[W, int] = {}
    # Per task: (worker index, answered class index) pairs.
    task_answers: list[list[tuple[int, int]]] = []
    for task, worker, value in data:
        if task not in task_index:
            task_index[task] = len(task_answers)
            task_answers.append([])
        w = worker_index.setdefault(worker, len(worker_index))
        task_answers[task_index[task]].append((w, class_index[value]))
    n_workers = len(worker_index)

    # Initialisation: majority-vote shares.
    posteriors: list[list[float]] = []
    for pairs in task_answers:
        row = [0.0] * k_count
        for _, label in pairs:
            row[label] += 1.0
        posteriors.append([x / len(pairs) for x in row])

    priors: list[float] = []
    confusion: list[list[list[float]]] = []
    iterations = 0
    converged = False
    while iterations < max_iter:
        iterations += 1
        # M-step.
        class_mass = [math.fsum(row[k] for row in posteriors) for k in range(k_count)]
        total = math.fsum(class_mass) + k_count * smoothing
        priors = [(mass + smoothing) / total for mass in class_mass]
        counts = [[[smoothing] * k_count for _ in range(k_count)] for _ in range(n_workers)]
        for row, pairs in zip(posteriors, task_answers, strict=True):
            for w, label in pairs:
                matrix = counts[w]
                for k in range(k_count):
                    matrix[k][label] += row[k]
        confusion = [
            [[cell / math.fsum(cells) for cell in cells] for cells in matrix] for matrix in counts
        ]
        log_confusion = [[[math.log(p) for p in cells] for cells in m] for m in confusion]
        log_priors = [math.log(p) for p in priors]

        # E-step.
        change = 0.0
        for t, pairs in enumerate(task_answers):
            logs = list(log_priors)
            for w, label in pairs:
                matrix = log_confusion[w]
                for k in range(k_count):
                    logs[k] += matrix[k][label]
            top = max(logs)
            weights = [math.exp(x - top) for x in logs]
            norm = math.fsum(weights)
            new_row = [x / norm for x in weights]
            moved = (abs(a - b) for a, b in zip(new_row, posteriors[t], strict=True))
            change = max(change, *moved)
            posteriors[t] = new_row
        if change < tol:
            converged = True
            break

    tasks = list(task_index)
    workers = list(worker_index)
    return DawidSkeneModel(
        classes=classes,
        priors=dict(zip(classes, priors, strict=True)),
        confusion={
            worker: {
                true: dict(zip(classes, confusion[w][k], strict=True))
                for k, true in enumerate(classes)
            }
            for w, worker in enumerate(workers)
        },
        posteriors={
            task: dict(zip(classes, posteriors[t], strict=True)) for t, task in enumerate(tasks)
        },
        iterations=iterations,
        converged=converged,
    )


def dawid_skene(
    answers: Iterable[tuple[T, W, str]],
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    options: Sequence[str] | None = None,
    smoothing: float = 0.1,
) -> dict[T, Aggregate]:
    """Each task's most probable true label under :func:`dawid_skene_model`.

    ``confidence`` is that label's posterior probability; ``votes`` are the raw answers.
    Ties (posteriors equal to within a relative 1e-9) go to the class that comes first in
    ``options``, else to the lexicographically smallest, and are flagged with ``tied=True``.
    """
    data = list(answers)
    model = dawid_skene_model(
        data, max_iter=max_iter, tol=tol, options=options, smoothing=smoothing
    )
    grouped = _by_task(data)
    result: dict[T, Aggregate] = {}
    for task, posterior in model.posteriors.items():
        best = max(posterior.values())
        winners = [
            c for c in model.classes if math.isclose(posterior[c], best, rel_tol=_TIE_REL_TOL)
        ]
        values = grouped[task]
        result[task] = Aggregate(
            value=winners[0],
            confidence=posterior[winners[0]],
            answers=len(values),
            votes=_votes(values, model.classes),
            tied=len(winners) > 1,
        )
    return result


def _number(value: str) -> float:
    """A finite number from a numeric string; ValueError for anything else."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def rating_summary(answers: Iterable[tuple[T, Hashable, str]]) -> dict[T, RatingAggregate]:
    """Median and mean of each task's ratings (numeric strings such as ``"4"`` or ``"3.5"``).

    Raises ValueError for a value that is not a finite number.
    """
    result: dict[T, RatingAggregate] = {}
    for task, values in _by_task(answers).items():
        numbers = [_number(v) for v in values]
        result[task] = RatingAggregate(
            median=float(statistics.median(numbers)),
            mean=statistics.fmean(numbers),
            answers=len(numbers),
        )
    return result


def _default_order(values: Iterable[str]) -> list[str]:
    """Numeric order if every value is a number, else lexicographic."""
    distinct = sorted(set(values))
    try:
        keys = {v: _number(v) for v in distinct}
    except ValueError:
        return distinct
    return sorted(distinct, key=lambda v: (keys[v], v))


def krippendorff_alpha(
    answers: Iterable[tuple[Hashable, Hashable, str]],
    level: Level = "nominal",
    *,
    order: Sequence[str] | None = None,
) -> float | None:
    """Krippendorff's alpha: ``1 - D_o / D_e``, from the coincidence matrix.

    Follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability". Only pairable
    values count: units (tasks) with at least two values. A unit with ``m_u`` values adds
    ``count_c * count_k / (m_u - 1)`` to the coincidence ``o_ck`` (``count_c * (count_c - 1)
    / (m_u - 1)`` on the diagonal); ``n_c`` are its marginals, ``n`` their total, and

        alpha = 1 - (n - 1) * sum(o_ck * d_ck) / sum(n_c * n_k * d_ck)

    with the squared difference ``d_ck`` of the level:

    * ``"nominal"``: 0 if ``c == k`` else 1.
    * ``"ordinal"``: ``(sum of n_g for g from c to k - (n_c + n_k) / 2) ** 2``, with the
      categories ranked by ``order`` (default: numeric if all values are numbers, else
      lexicographic; every value must appear in ``order``).
    * ``"interval"``: ``(c - k) ** 2`` of the numeric values.

    Only values matter, not who gave them, so alpha does not change when coders are renamed.
    Returns None when alpha is undefined: fewer than two pairable values, or no variation
    among them (expected disagreement 0). 1 is perfect agreement, 0 agreement at chance.
    """
    if level not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"unknown level: {level!r}")
    if order is not None and level != "ordinal":
        raise ValueError("order only applies to level='ordinal'")
    units = [Counter(values) for values in _by_task(answers).values() if len(values) >= 2]
    marginals: Counter[str] = Counter()
    coincidences: defaultdict[tuple[str, str], float] = defaultdict(float)
    for counts in units:
        pairs = sum(counts.values()) - 1
        marginals.update(counts)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                coincidences[c, k] += (n_c * (n_c - 1) if c == k else n_c * n_k) / pairs
    n = sum(marginals.values())
    if n < 2:
        return None

    categories = sorted(marginals)
    if level == "nominal":

        def delta(c: str, k: str) -> float:
            return 0.0 if c == k else 1.0

    elif level == "interval":
        numbers = {c: _number(c) for c in categories}

        def delta(c: str, k: str) -> float:
            return (numbers[c] - numbers[k]) ** 2

    else:
        ranked = list(order) if order is not None else _default_order(categories)
        rank = {c: i for i, c in enumerate(ranked)}
        if len(rank) != len(ranked):
            raise ValueError(f"order repeats a value: {ranked!r}")
        missing = [c for c in categories if c not in rank]
        if missing:
            raise ValueError(f"values not in order: {missing!r}")
        # cumulative[i] = sum of n_g over the first i ranked categories.
        cumulative = [0]
        for c in ranked:
            cumulative.append(cumulative[-1] + marginals[c])

        def delta(c: str, k: str) -> float:
            low, high = sorted((rank[c], rank[k]))
            between = cumulative[high + 1] - cumulative[low]
            return (between - (marginals[c] + marginals[k]) / 2) ** 2

    observed = math.fsum(o * delta(c, k) for (c, k), o in coincidences.items())
    expected = math.fsum(
        marginals[c] * marginals[k] * delta(c, k) for c in categories for k in categories
    )
    if expected == 0:
        return None
    return 1.0 - (n - 1) * observed / expected


def gold_accuracy(
    answers: Iterable[tuple[T, Hashable, str]], gold: dict[T, str]
) -> tuple[int, int]:
    """``(correct, total)`` over the answers to tasks that have a gold label.

    Answers to tasks without a gold label are ignored. To rate one worker, pass only theirs.
    """
    correct = total = 0
    for task, _worker, value in answers:
        if task in gold:
            total += 1
            correct += value == gold[task]
    return correct, total
