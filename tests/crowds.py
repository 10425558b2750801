"""Generated crowds for testing and benchmarking aggregation: standard library only, so the
script that computes reference results with crowd-kit (tests/tools/crowdkit_reference.py)
builds exactly the same answers in its own venv.

A crowd is a list of ``(task, worker, label)`` string tuples. Each task has a hidden true
label drawn from skewed class priors; each of ``overlap`` distinct workers (chosen with a
heavy tail: a few students do most of the work, as in a real project) answers it through
their own confusion matrix: good students, mediocre ones, random spammers and "always the
same answer" spammers, in proportions that match what a project of students looks like.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

Answer = tuple[str, str, str]


@dataclass(frozen=True)
class CrowdSpec:
    """The parameters of one generated crowd."""

    name: str
    tasks: int
    workers: int
    overlap: int
    classes: int
    seed: int
    good: float = 0.5  # share of workers right 85-95 % of the time
    spammers: float = 0.1  # share answering at random (half of them always the same label)
    skew: float = 2.0  # class priors proportional to 1, 1/skew, 1/skew**2, …


def generate(spec: CrowdSpec) -> tuple[list[Answer], dict[str, str]]:
    """The crowd's answers (task by task) and the true label of every task."""
    rng = random.Random(spec.seed)  # a simulation, not crypto
    labels = [f"c{k}" for k in range(spec.classes)]
    weights = [spec.skew**-k for k in range(spec.classes)]

    confusion: list[list[list[float]]] = []
    for _ in range(spec.workers):
        kind = rng.random()
        rows = []
        constant = rng.randrange(spec.classes)
        for true in range(spec.classes):
            if kind < spec.spammers / 2:  # random answers
                row = [1.0] * spec.classes
            elif kind < spec.spammers:  # the same answer whatever the task
                row = [1.0 if k == constant else 0.0 for k in range(spec.classes)]
            else:
                right = (
                    rng.uniform(0.85, 0.95)
                    if kind < spec.spammers + spec.good
                    else rng.uniform(0.5, 0.75)
                )
                # The wrong answers go mostly to one confusable neighbour.
                wrong = [rng.random() ** 3 for _ in range(spec.classes)]
                wrong[true] = 0.0
                total = sum(wrong) or 1.0
                row = [(1 - right) * w / total for w in wrong]
                row[true] = right
            rows.append(row)
        confusion.append(rows)
    # Heavy-tailed activity: worker i is picked with weight 1 / (i + 1) ** 0.8.
    activity = [1 / (i + 1) ** 0.8 for i in range(spec.workers)]

    answers: list[Answer] = []
    truth: dict[str, str] = {}
    for t in range(spec.tasks):
        task = f"t{t}"
        true = rng.choices(range(spec.classes), weights)[0]
        truth[task] = labels[true]
        chosen: set[int] = set()
        while len(chosen) < min(spec.overlap, spec.workers):
            chosen.add(rng.choices(range(spec.workers), activity)[0])
        for w in sorted(chosen):
            answered = rng.choices(range(spec.classes), confusion[w][true])[0]
            answers.append((task, f"w{w}", labels[answered]))
    return answers, truth


# The crowds the tests compare against crowd-kit (tests/data/crowdkit_dawid_skene.json): a
# small easy one, a realistic project, many classes, and a hard one (many weak students and
# spammers) that needs hundreds of EM rounds at the default smoothing and over a thousand
# without it.
REFERENCE_CROWDS = (
    CrowdSpec("easy", tasks=300, workers=15, overlap=5, classes=2, seed=11),
    CrowdSpec("project", tasks=2000, workers=80, overlap=3, classes=3, seed=22),
    CrowdSpec("many_classes", tasks=1500, workers=60, overlap=4, classes=6, seed=13),
    CrowdSpec(
        "hard", tasks=1500, workers=100, overlap=3, classes=4, seed=26, good=0.2, spammers=0.3
    ),
)


def fingerprint(answers: list[Answer]) -> str:
    """A short digest of a crowd's answers, stored with the reference results: a change to
    the generator then fails loudly instead of comparing against another crowd."""
    import hashlib

    digest = hashlib.sha256()
    for task, worker, label in answers:
        digest.update(f"{task}\t{worker}\t{label}\n".encode())
    return digest.hexdigest()[:16]
