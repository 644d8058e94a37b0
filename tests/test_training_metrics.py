from kaizen.training import metrics as m
from kaizen.training.gate import GatePolicy, decide


def test_scores() -> None:
    assert m.exact_match("The Quellmoor.", "quellmoor") == 1.0
    assert m.exact_match("reasoning... <ANSWER>: Quellmoor", "Quellmoor") == 1.0
    assert m.exact_match("Quellmoor city", "Quellmoor") == 0.0
    assert m.token_f1("Quellmoor city", "Quellmoor") == 2 / 3
    assert m.token_f1("", "x") == 0.0
    assert m.contains_answer("It is Quellmoor, I think", "quellmoor") == 1.0
    assert m.contains_answer("It is Karsk", "quellmoor") == 0.0


def test_joining_marks_separate_words_instead_of_gluing_them() -> None:
    # Deleting the hyphen made "12-month" into "12month", which no answer saying "12 months" contains.
    assert m.contains_answer("The warranty is **12 months**.", "12-month") == 1.0
    assert m.contains_answer("about 0.7 m/s [3]", "0.7 m/s") == 1.0
    assert m.exact_match("Ashworth-Mbeki", "Ashworth Mbeki") == 1.0
    assert m.contains_answer("IP6 5", "IP65") == 0.0


def test_citation_must_quote_the_oracle() -> None:
    oracle = ["Site 4 is in Quellmoor. It was built in 1801."]
    good = "##begin_quote## It was built in 1801 ##end_quote## so <ANSWER>: 1801"
    wrong = "##begin_quote##It was built in 1901##end_quote##"
    assert m.cites_oracle(good, oracle) == 1.0
    assert m.cites_oracle(wrong, oracle) == 0.0
    assert m.cites_oracle("no quote at all", oracle) == 0.0
    assert m.quotes("##begin_quote## ##end_quote##") == []


def scores(f1: float, n: float = 10.0) -> dict[str, float]:
    return {"token_f1": f1, "contains": f1, "n": n}


def test_gate_refuses_a_worse_adapter() -> None:
    d = decide(
        GatePolicy(margin=0.02),
        candidate_heldout=scores(0.40),
        baseline_heldout=scores(0.55),
        candidate_regression=scores(0.5),
        baseline_regression=scores(0.5),
    )
    assert not d.passed and "0.400 < 0.550" in d.reasons[0]


def test_gate_needs_the_margin_and_no_regression() -> None:
    policy = GatePolicy(margin=0.05, regression_tolerance=0.01)
    short = decide(
        policy,
        candidate_heldout=scores(0.58),
        baseline_heldout=scores(0.55),
        candidate_regression=scores(0.5),
        baseline_regression=scores(0.5),
    )
    assert not short.passed
    regressed = decide(
        policy,
        candidate_heldout=scores(0.9),
        baseline_heldout=scores(0.55),
        candidate_regression=scores(0.2),
        baseline_regression=scores(0.5),
    )
    assert not regressed.passed and "fell" in regressed.reasons[1]
    passed = decide(
        policy,
        candidate_heldout=scores(0.9),
        baseline_heldout=scores(0.55),
        candidate_regression=scores(0.495),
        baseline_regression=scores(0.5),
    )
    assert passed.passed


def test_regression_allowance_shrinks_with_the_regression_set() -> None:
    """A 0.1 drop on 10 examples is within noise (0.5/sqrt(10) = 0.16); on 400 examples (0.025) it is not."""
    policy = GatePolicy(margin=0.05)
    small = decide(
        policy,
        candidate_heldout=scores(0.9),
        baseline_heldout=scores(0.5),
        candidate_regression=scores(0.4, n=10),
        baseline_regression=scores(0.5, n=10),
    )
    large = decide(
        policy,
        candidate_heldout=scores(0.9),
        baseline_heldout=scores(0.5),
        candidate_regression=scores(0.4, n=400),
        baseline_regression=scores(0.5, n=400),
    )
    assert small.passed
    assert not large.passed and "n=400" in large.reasons[1]


def test_gate_refuses_without_heldout() -> None:
    d = decide(
        GatePolicy(),
        candidate_heldout={"n": 0.0},
        baseline_heldout={"n": 0.0},
        candidate_regression={},
        baseline_regression={},
    )
    assert not d.passed and "empty" in d.reasons[0]


def test_a_negative_margin_lets_a_worse_candidate_through_for_drills() -> None:
    drill = decide(
        GatePolicy(margin=-1.0, regression_tolerance=1.0),
        candidate_heldout=scores(0.1),
        baseline_heldout=scores(0.4),
        candidate_regression=scores(0.0, n=4),
        baseline_regression=scores(0.9, n=4),
    )
    assert drill.passed
