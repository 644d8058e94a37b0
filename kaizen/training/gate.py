"""The promotion gate: beat the promoted adapter on held-out by a margin, and do not regress on the regression set."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field


class GatePolicy(BaseModel):
    metric: str = "contains"
    # Negative margins admit a candidate that scores up to |margin| below the baseline: for drills of the
    # promote -> hot-swap path (the e2e demo test), never a production default.
    margin: float = Field(0.02, ge=-1.0, le=1.0)
    regression_tolerance: float = Field(0.0, ge=0.0)


class GateDecision(BaseModel):
    passed: bool
    reasons: list[str]
    candidate: float
    baseline: float
    candidate_regression: float | None = None
    baseline_regression: float | None = None


def decide(
    policy: GatePolicy,
    *,
    candidate_heldout: dict[str, float],
    baseline_heldout: dict[str, float],
    candidate_regression: dict[str, float],
    baseline_regression: dict[str, float],
) -> GateDecision:
    """Both sets are scored for the candidate and the baseline (promoted adapter, or the base model) side by side."""
    if policy.metric not in candidate_heldout:
        return GateDecision(
            passed=False,
            reasons=[f"no held-out {policy.metric!r} for the candidate: the held-out split is empty"],
            candidate=float("nan"),
            baseline=baseline_heldout.get(policy.metric, float("nan")),
        )
    cand, base = candidate_heldout[policy.metric], baseline_heldout.get(policy.metric, 0.0)
    reasons: list[str] = []
    passed = True
    if cand >= base + policy.margin:
        reasons.append(f"held-out {policy.metric} {cand:.3f} >= {base:.3f} + margin {policy.margin}")
    else:
        passed = False
        reasons.append(f"held-out {policy.metric} {cand:.3f} < {base:.3f} + margin {policy.margin}")
    cand_reg = candidate_regression.get(policy.metric)
    base_reg = baseline_regression.get(policy.metric)
    # A small regression set is noisy: a drop within the standard error of its mean (at most 0.5/sqrt(n) for
    # scores in [0, 1]) is not evidence of a regression. Large sets make the allowance small.
    n = candidate_regression.get("n", 0.0)
    allowed = policy.regression_tolerance + (0.5 / math.sqrt(n) if n else 0.0)
    if cand_reg is None or base_reg is None:
        reasons.append("regression set empty: nothing to regress on")
    elif cand_reg + allowed < base_reg:
        passed = False
        reasons.append(
            f"regression {policy.metric} fell {base_reg:.3f} -> {cand_reg:.3f} "
            f"(allowed {allowed:.3f}: tolerance {policy.regression_tolerance} + noise at n={n:.0f})"
        )
    else:
        reasons.append(f"regression {policy.metric} {cand_reg:.3f} vs {base_reg:.3f}: no regression")
    return GateDecision(
        passed=passed,
        reasons=reasons,
        candidate=cand,
        baseline=base,
        candidate_regression=cand_reg,
        baseline_regression=base_reg,
    )
