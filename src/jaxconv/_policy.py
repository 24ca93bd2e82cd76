"""Which strategy runs a plan, and in which layout.

- ``auto`` walks the rules fitted on measurements of the platform the program is traced for
  (:mod:`jaxconv._rules`; ``jax.default_backend()``). On a platform with no measured rules
  it takes the tuning cache's answer where the cache has one for the plan, and otherwise the
  CPU rules.
- ``tune`` times every strategy on the device when the program is lowered
  (:mod:`jaxconv._tune`).
- Each strategy runs channels-last, except where its rule says it runs well on
  channels-first data as it is (:func:`runs_channels_first`): no layout transposes then.
"""

from __future__ import annotations

from typing import Any

import jax

from . import _rules, _strategies, _tune
from ._plan import ConvPlan


def _features_first(plan: ConvPlan) -> bool:
    dn = plan.dn
    return all(dn.lhs_spec[1] < a for a in dn.lhs_spec[2:]) and all(
        dn.out_spec[1] < a for a in dn.out_spec[2:]
    )


def runs_channels_first(plan: ConvPlan, name: str) -> bool:
    """Whether strategy ``name`` computes ``plan`` in ``(N, C, *spatial)``: where the input
    and output keep their features before the spatial axes (``NCHW``), for Winograd (its
    channels-first GEMMs need no transposes) and for the fused loops of depthwise and
    small-group layers (at most 8 input and 8 output features per group, so that the input
    gradient is one too), which then run along contiguous rows."""
    if plan.padding_mode != "zeros" or not _features_first(plan):
        return False
    cf = plan._replace(channels_first=True)
    if name == "winograd":
        return _strategies.accepts(name, cf)
    if name in ("direct", "depthwise"):
        g = plan.feature_groups
        small = g > 1 and plan.batch_groups == 1 and plan.group_in <= 8
        return small and plan.out_features // g <= 8 and _strategies.accepts(name, cf)
    return False


def in_layout(plan: ConvPlan, name: str) -> ConvPlan:
    """``plan`` (in the user's layout) as strategy ``name`` runs it."""
    return plan._replace(channels_first=runs_channels_first(plan, name))


def platform() -> str:
    """The platform programs are traced for: ``jax.default_backend()``."""
    return jax.default_backend()


def rules_for(name: str | None = None) -> tuple[_rules.Rules | None, str]:
    """The rules ``auto`` uses on platform ``name`` (default :func:`platform`), and a line
    saying where they come from."""
    name = name or platform()
    rules = _rules.measured(name)
    if rules is not None:
        return rules, f"auto: rules measured on {name} ({rules.measured_on})"
    cpu = _rules.measured("cpu")
    note = (
        f"auto: no rules measured on {name}; it uses the tuning cache's entries where present, "
        "else the CPU rules"
    )
    return cpu, note


def choose(
    plan: ConvPlan,
    dtype: Any = None,
    precision: Any = None,
    preferred: Any = None,
    *,
    decide_layout: bool = False,
) -> str:
    """``auto``'s strategy for ``plan``.

    With ``decide_layout`` the plan is in the user's layout and each strategy is considered
    in the layout it would run in (:func:`in_layout`); otherwise only strategies that run
    ``plan`` as it is (its ``channels_first``) are.
    """
    if decide_layout:

        def allowed(s: str) -> bool:
            return _strategies.feasible(s, in_layout(plan, s))
    else:

        def allowed(s: str) -> bool:
            return _strategies.feasible(s, plan)

    rules = _rules.measured(platform())
    if rules is None and dtype is not None:
        try:
            device = jax.devices()[0]
        except RuntimeError:
            device = None
        if device is not None:
            hit = _tune.cached_choice(plan, dtype, precision, preferred, device)
            if hit is not None and allowed(hit):
                return hit
        rules = _rules.measured("cpu")
    if rules is not None:
        name = rules.choose(_rules.features(plan), allowed)
        if name is not None:
            return name
    name = _strategies.hand_choice(plan)
    if allowed(name):
        return name
    return next(s for s in _strategies.STRATEGIES if allowed(s))


def decide(
    plan: ConvPlan, strategy: str, dtype: Any = None, precision: Any = None, preferred: Any = None
) -> ConvPlan:
    """``plan`` (user's layout) in the layout that ``strategy`` (a name, ``'auto'`` or
    ``'tune'``, whose layout is ``auto``'s) computes it in."""
    name = strategy
    if strategy in ("auto", "tune"):
        name = choose(plan, dtype, precision, preferred, decide_layout=True)
    return in_layout(plan, name)
