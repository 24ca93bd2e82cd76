"""``auto``'s rules: a small decision tree over a plan's features, fitted on measurements.

A rules file (``src/jaxconv/rules/<platform>.json``) is data: the features it reads, the
strategies it knows, where it was measured, and the nodes of a tree. Each node splits on one
feature (``x[feature] <= threshold`` goes left) or is a leaf; every node keeps a score for
each strategy it may pick, lower first (``-log`` of the fraction of the plans that reached
it for which that strategy was the choice). ``auto`` walks the tree with a plan's features
and runs the best-scored strategy at the leaf among those that accept the plan (where the
leaf has none of them, the nearest ancestor that has one decides).

The tree is fitted by ``python -m jaxconv rules --fit`` on a sweep (``python -m jaxconv
bench --suite random --strategy all``); ``python -m jaxconv rules`` prints it.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from importlib import resources
from typing import Any, NamedTuple

from ._plan import ConvPlan

RULES_SCHEMA = 1


def _log2(v: float) -> float:
    return math.log2(max(v, 1))


def _winograd_tiles(p: ConvPlan) -> float:
    """log2 of Winograd's tiles over the kernel's size, ``tiles·(c + o) / (2·c·o)`` (where
    its GEMMs outweigh the kernel transform), or -10 where Winograd cannot run."""
    if not (
        p.kernel == (3, 3)
        and p.strides == p.rhs_dilation == p.lhs_dilation == (1, 1)
        and p.feature_groups == p.batch_groups == 1
        and p.in_features * p.out_features > 0
    ):
        return -10.0
    c, o = p.in_features, p.out_features
    tiles = p.batch * math.prod(-(-s // 2) for s in p.out_spatial)
    return math.log2(max(tiles * (c + o) / (2 * c * o), 1e-3))


FEATURES: dict[str, tuple[Callable[[ConvPlan], float], str]] = {
    "rank": (lambda p: p.num_spatial, "spatial dims"),
    "log2_batch": (lambda p: _log2(p.batch), "log2 of the batch"),
    "log2_in_positions": (
        lambda p: _log2(math.prod(p.in_spatial)),
        "log2 of the input positions per image",
    ),
    "log2_out_positions": (
        lambda p: _log2(math.prod(p.out_spatial)),
        "log2 of the output positions per image",
    ),
    "log2_rows": (
        lambda p: _log2(p.batch // p.batch_groups * math.prod(p.out_spatial)),
        "log2 of batch times output positions (a per-tap GEMM's rows)",
    ),
    "log2_in_features": (lambda p: _log2(p.in_features), "log2 of the input features"),
    "log2_out_features": (lambda p: _log2(p.out_features), "log2 of the output features"),
    "log2_group_in": (lambda p: _log2(p.group_in), "log2 of input features per group"),
    "log2_group_out": (
        lambda p: _log2(p.out_features // p.feature_groups),
        "log2 of output features per group",
    ),
    "log2_groups": (lambda p: _log2(p.feature_groups), "log2 of the feature groups"),
    "depthwise": (lambda p: float(p.is_depthwise), "1 for a depthwise layer"),
    "log2_taps": (lambda p: _log2(p.taps), "log2 of the kernel's taps"),
    "kernel_last": (lambda p: p.kernel[-1], "the kernel's last spatial size"),
    "kernel_max": (lambda p: max(p.kernel), "the kernel's largest spatial size"),
    "log2_products": (
        lambda p: _log2(p.taps * p.group_in),
        "log2 of multiply-adds per output and output feature",
    ),
    "stride": (lambda p: math.prod(p.strides), "product of the strides"),
    "dilation": (lambda p: max(p.rhs_dilation), "largest kernel dilation"),
    "phases": (lambda p: math.prod(p.lhs_dilation), "product of the input dilations"),
    "winograd_tiles": (_winograd_tiles, "log2 of Winograd's tiles over its kernel (-10: none)"),
    "channels_first": (lambda p: float(p.features_first), "1 if the data is NCHW-like"),
    "log2_flops": (lambda p: _log2(p.flops), "log2 of the direct algorithm's FLOPs"),
}
"""Feature name -> (function of a plan, meaning). Plans are read in the user's layout."""


def features(plan: ConvPlan) -> list[float]:
    """The :data:`FEATURES` of ``plan``, in order."""
    plan = plan._replace(channels_first=False)
    return [float(f(plan)) for f, _ in FEATURES.values()]


class Rules(NamedTuple):
    """A fitted tree (see the module docstring); ``nodes`` as in the JSON file."""

    platform: str
    measured_on: str
    features: tuple[str, ...]
    strategies: tuple[str, ...]
    nodes: tuple[dict[str, Any], ...]

    def leaf_path(self, x: list[float]) -> list[int]:
        """The nodes from the root to the leaf that ``x`` (feature values) reaches."""
        path, node = [0], self.nodes[0]
        while node.get("feature") is not None:
            i = node["left"] if x[node["feature"]] <= node["threshold"] else node["right"]
            path.append(i)
            node = self.nodes[i]
        return path

    def choose(self, x: list[float], allowed: Callable[[str], bool]) -> str | None:
        """The best-scored strategy at ``x``'s leaf among ``allowed`` ones (from the nearest
        node that scores one), or ``None``."""
        for i in reversed(self.leaf_path(x)):
            scores = {s: v for s, v in self.nodes[i]["score"].items() if allowed(s)}
            if scores:
                return min(scores, key=scores.get)
        return None

    def to_json(self) -> dict[str, Any]:
        return {"jaxconv_rules": RULES_SCHEMA, **self._asdict()}

    def text(self) -> str:
        """The tree as indented text, each leaf with its choice and mean regrets."""
        lines = [f"rules for {self.platform}, measured on {self.measured_on}"]

        def walk(i: int, depth: int) -> None:
            node, pad = self.nodes[i], "    " * depth
            if node.get("feature") is None:
                ranked = sorted(node["score"].items(), key=lambda kv: kv[1])
                then = ", ".join(s for s, _ in ranked[1:3])
                lines.append(f"{pad}-> {ranked[0][0]}" + (f"  (else {then})" if then else ""))
                return
            name = self.features[node["feature"]]
            lines.append(f"{pad}if {name} <= {node['threshold']:.3g}:")
            walk(node["left"], depth + 1)
            lines.append(f"{pad}else:  # {name} > {node['threshold']:.3g}")
            walk(node["right"], depth + 1)

        walk(0, 0)
        return "\n".join(lines)


def from_json(data: dict[str, Any]) -> Rules:
    """A :class:`Rules` from its JSON form; ``ValueError`` if it is not one."""
    if not isinstance(data, dict) or data.get("jaxconv_rules") != RULES_SCHEMA:
        raise ValueError("not a jaxconv rules file")
    rules = Rules(
        data["platform"],
        data["measured_on"],
        tuple(data["features"]),
        tuple(data["strategies"]),
        tuple(data["nodes"]),
    )
    if list(rules.features) != list(FEATURES):
        raise ValueError(f"rules read features {rules.features}, this jaxconv has {list(FEATURES)}")
    return rules


@functools.cache
def measured(platform: str) -> Rules | None:
    """The rules measured on ``platform`` that ship with jaxconv, or ``None``."""
    try:
        text = resources.files(__package__).joinpath("rules", f"{platform}.json").read_text()
    except (FileNotFoundError, OSError):
        return None
    return from_json(json.loads(text))
