"""Which strategy runs a plan, and in which layout: the policy.

- ``auto`` walks the rules fitted on measurements of the platform the program is traced for
  (:mod:`jaxconv._rules`; ``jax.default_backend()``). On a platform with no measured rules
  it takes the tuning cache's answer where the cache has one for the plan (no other rule
  overrides it), and otherwise the CPU rules (on GPUs with ``col2im`` in ``im2col``'s
  place, :func:`_col2im_on_gpu`); where no rule applies, the hand-written rules
  below (:func:`hand_choice`).
  Where a measured cost model says ``fft`` beats that choice (:func:`fft_pays`: long
  kernels), it runs ``fft`` instead.
- ``tune`` times every strategy on the device when the program is lowered
  (:mod:`jaxconv._tune`).
- Each strategy runs channels-last, except where it runs well on channels-first data as it
  is (:func:`runs_channels_first`): no layout transposes then.

:func:`decide` makes the choice once per convolution, for the executor and for
``jaxconv.chosen_strategy`` alike; :func:`run` runs it. Strategies never import this
module: the ones that split a plan into smaller convolutions are handed :func:`choose`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

from . import _rules, _strategies, _taps, _tune
from ._plan import ConvPlan

NAMES = ("auto", "tune", *_strategies.STRATEGIES)
"""What a ``strategy=`` argument may be."""


COL2IM_CHANNELS_FIRST_POSITIONS = 128
"""Fewest input positions per image on which ``col2im`` runs channels-first data as it is.
Measured on CPU (the sweep's 181 NCHW layers it accepts, against its features-last form
with the transposes): 0.61x the time from 128 positions on (131 layers, geomean), 1.25x
below (50 layers, 42 of them slower), where its GEMM's long side is short."""


COL2IM_CHANNELS_FIRST_TAPS = 9
"""Most kernel taps on which ``col2im`` keeps channels-first data as it is (on enough
positions) where it would otherwise stack the last dim's taps channels-last
(:func:`jaxconv._strategies.stacks_rows`), with the transposes. Measured on CPU
(``benchmarks/results/cpu-2core-col2im-rows``): stacked with the transposes took 1.037x the
channels-first time on NCHW layers of at most 9 taps (47, geomean), 0.656x on larger
kernels (85)."""


COL2IM_CHANNELS_FIRST_DILATED_TAPS = 49
"""Most kernel taps on which ``col2im`` keeps channels-first data as it is on an
input-dilated plan (a transposed convolution, a strided layer's input gradient); larger
kernels run channels-last, with the transposes. XLA:CPU's fusion emitters (jaxlib 0.10.2)
took minutes to compile the channels-first form's fused sums on some such plans, 0.3 s with
the emitters off: the input gradient of a 13x13 stride-2 32 -> 8 layer on 2x82x62 (in
pieces), a 9x9 8 -> 32 transposed layer on 2x50x50 (in pieces); channels-last, they
compiled in 0.4-1.6 s. None of the 5x5 to 8x8 plans tried hung. (Channels-last plans can
hang too: a 13x13 layer input-dilated along one dim with no padding there.)"""


def runs_channels_first(plan: ConvPlan, name: str) -> bool:
    """Whether strategy ``name`` computes ``plan`` in ``(N, C, *spatial)``: where the input
    and output keep their features before the spatial axes (``NCHW``), for Winograd (its
    channels-first GEMMs need no transposes), for ``col2im`` on enough positions
    (:data:`COL2IM_CHANNELS_FIRST_POSITIONS`) unless it stacks a large kernel's rows
    (:data:`COL2IM_CHANNELS_FIRST_TAPS`), and for the fused loops of depthwise and
    small-group layers (at most 8 input and 8 output features per group, so that the input
    gradient is one too) and of few-feature dense ones (:func:`primal_channels_first`),
    which then run along contiguous rows."""
    if plan.padding_mode != "zeros" or not plan.features_first:
        return False
    cf = plan._replace(channels_first=True)
    if name == "winograd":
        return _strategies.accepts(name, cf)
    if name == "col2im":
        positions = int(np.prod(plan.in_spatial))
        stacked = plan.taps > COL2IM_CHANNELS_FIRST_TAPS and _strategies.stacks_rows(
            plan._replace(channels_first=False)
        )
        dilated = any(d > 1 for d in plan.lhs_dilation)
        return (
            positions >= COL2IM_CHANNELS_FIRST_POSITIONS
            and not stacked
            and not (dilated and plan.taps > COL2IM_CHANNELS_FIRST_DILATED_TAPS)
            and _strategies.accepts(name, cf)
        )
    if name in ("direct", "depthwise"):
        g = plan.feature_groups
        small = g > 1 and plan.batch_groups == 1 and plan.group_in <= 8
        small = small or primal_channels_first(cf, name)
        return small and plan.out_features // g <= 8 and _strategies.accepts(name, cf)
    return False


def primal_channels_first(plan: ConvPlan, name: str) -> bool:
    """Whether strategy ``name`` computes the channels-first ``plan`` as it is only where it
    is not differentiated (channels-last where it is, see :func:`jaxconv._grad._conv_jvp`):
    ``direct`` on a dense kernel of two or more taps at unit strides, at most 8 input and 8
    output features.

    Measured on CPU (``benchmarks/results/cpu-2core-direct-nchw``, NCHW layers of fresh
    draws where ``auto`` runs ``direct``, against the features-last form with its
    transposes): forward, the fused loop along contiguous rows took 0.638x the time on 30
    programs (1.09x -> 0.70x lax; 0.617x on the 18 of the draws the limits were chosen on).
    Differentiated, it was 1.07-1.26x slower on strided and 1-tap layers and its gradients
    1.09x on the others, and a 1-tap forward 1.09x: hence the limits, and the gradients
    of the features-last form."""
    return (
        name == "direct"
        and plan.feature_groups == plan.batch_groups == 1
        and plan.in_features <= 8
        and plan.out_features <= 8
        and plan.taps >= 2
        and all(s == 1 for s in plan.strides)
    )


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
        "else the CPU rules" + (" with col2im for im2col and winograd" if name == "gpu" else "")
    )
    return cpu, note


def choose(
    plan: ConvPlan,
    dtype: Any = None,
    *,
    decide_layout: bool = False,
    differentiated: bool = False,
    input_gradient: bool = False,
) -> str:
    """``auto``'s strategy for ``plan``.

    With ``decide_layout`` the plan is in the user's layout and each strategy is considered
    in the layout it would run in (:func:`in_layout`); otherwise only strategies that run
    ``plan`` as it is (its ``channels_first``) are. With ``differentiated``, the strategy
    whose forward pass and gradients ``auto`` runs where the convolution is differentiated
    (:func:`differentiated_choice`); with ``input_gradient``, the strategy for a layer's
    input gradient (a backward pass: the overrides measured forward only do not apply).
    """
    # Integers that sum exactly in float32 run there (or, int8 into int32 on CPU, as int8 in
    # int8 GEMMs), by any strategy but winograd (see jaxconv._strategies.in_float32):
    # winograd would stay in int32, the slow path.
    exact = dtype is not None and _strategies.exact_in_float32(plan, dtype)
    skip = ("winograd",) if exact else ()
    if decide_layout:

        def allowed(s: str) -> bool:
            return s not in skip and _strategies.feasible(s, in_layout(plan, s), dtype)
    else:

        def allowed(s: str) -> bool:
            return s not in skip and _strategies.feasible(s, plan, dtype)

    hit = _tuned(plan, dtype)
    if hit is not None and allowed(hit):
        return hit  # measured on this device: no rule overrides it
    if pointwise_too_deep_for_direct(plan):
        gemm_allowed = allowed

        def allowed(s: str) -> bool:
            return s != "direct" and gemm_allowed(s)

    if allowed("im2col") and _strategies.reads_kernel_in_place(plan) is not None:
        # a layer that mostly reads its kernel, read in place (measured on CPU)
        return _col2im_on_gpu(plan, "im2col", allowed)
    strided = any(st > 1 for st in plan.strides)
    # The rules were fitted before col2im took window strides: on strided plans only the
    # measured overrides below run it. Nor on a few features (an outer product).
    skip_col2im = strided or col2im_too_shallow(plan)

    def tree_allowed(s: str) -> bool:
        return allowed(s) and not (skip_col2im and s == "col2im")

    name = _gemm_over_direct(
        plan, _rules_choice(plan, dtype, tree_allowed), tree_allowed, differentiated
    )
    if not differentiated:
        name = _depthwise_taps(plan, name, allowed)
    few = name == "winograd" and plan.in_features <= WINOGRAD_COL2IM_FEATURES
    if (name in STACKED_COL2IM_OVER or few) and allowed("col2im"):
        if stacked_col2im_pays(in_layout(plan, "col2im") if decide_layout else plan):
            name = "col2im"
    if name != "col2im" and strided_col2im_pays(plan) and allowed("col2im"):
        name = "col2im"
    if decide_layout and allowed("col2im"):
        if (name == "banded" and (col2im_over_band(plan) or volume_col2im_over_band(plan))) or (
            name in POINTWISE_COL2IM_OVER and pointwise_col2im_pays(plan)
        ):
            name = "col2im"
    if name != "fft" and allowed("fft") and fft_pays(plan, name):
        if not _windows_over_fft(plan, _windows_over_col2im(plan, name, allowed)):
            name = "col2im" if allowed("col2im") and col2im_by_input_pays(plan) else "fft"
    elif name == "col2im" and decide_layout and not differentiated and allowed("direct"):
        name = "direct" if direct_over_col2im(plan, dtype) else name
    if name == "grouped" and not differentiated and direct_over_grouped(plan) and allowed("direct"):
        name = "direct"  # after fft_pays, which weighs fft against the tree's grouped
    name = _loop_over_col2im(plan, _windows_over_col2im(plan, name, allowed), allowed)
    name = _stack_over_col2im(plan, _strided_over_band(plan, name, allowed), allowed)
    name = _stack_over_channels_first_col2im(plan, name, allowed)
    name = _im2col_over_shrinking_col2im(plan, name, allowed)
    name = _im2col_over_thin_gemms(plan, name, allowed)
    name = _polyphase_over_widening_col2im(plan, name, allowed)
    if not (differentiated or input_gradient):
        name = _winograd_over_col2im(plan, name, allowed)
    name = _col2im_on_gpu(plan, name, allowed)
    patches = name != "direct" and patches_pay(plan) and allowed("space_to_depth")
    if patches:
        return "space_to_depth"
    return _narrow_kernel_patches(plan, name, allowed, differentiated)


NARROW_PATCHES_FEATURES = 5
"""Fewest input features on which :func:`_narrow_kernel_patches` runs ``im2col``."""

NARROW_PATCHES_OVER = ("rows", "direct", "col2im")
"""The choices :func:`_narrow_kernel_patches` replaces, those it was measured against
(``col2im`` where the convolution is not differentiated)."""


def narrow_kernel(plan: ConvPlan) -> bool:
    """Whether ``plan`` is dense and undilated with a kernel no wider than its strides along
    every spatial dim and narrower along one (``kernel <= strides``, not a patch
    embedding): its windows neither overlap nor cover the input."""
    return (
        all(k <= s for k, s in zip(plan.kernel, plan.strides, strict=True))
        and plan.kernel != plan.strides
        and all(d == 1 for d in plan.rhs_dilation + plan.lhs_dilation)
        and _strategies._ungrouped(plan)
    )


def narrow_patches_pay(plan: ConvPlan) -> bool:
    """Whether :func:`_narrow_kernel_patches` may run ``im2col`` on ``plan``: a
    :func:`narrow_kernel` plan of at least :data:`NARROW_PATCHES_FEATURES` input features."""
    return plan.in_features >= NARROW_PATCHES_FEATURES and narrow_kernel(plan)


def _narrow_kernel_patches(plan: ConvPlan, name: str, allowed, differentiated=False) -> str:
    """``im2col`` where ``name`` is one of :data:`NARROW_PATCHES_OVER` and
    :func:`narrow_patches_pay`, else ``name``.

    Each output reads ``K`` inputs that no other output reads, so one patch copy of
    ``prod(K/s)`` of the input and one GEMM do all the work. The fitted rules ran ``rows``
    (``kw`` copies of every input row, then ``K/kw`` GEMMs), ``col2im`` (one GEMM per tap)
    or ``direct`` (slow past a few products per output) there. Measured on CPU
    (``benchmarks/results/cpu-2core-narrow-kernels``): with every strategy forced on 60
    layers of two draws, on 5 or more features ``im2col`` took 0.65x ``auto``'s time where
    it ran ``direct``, 0.76x ``rows``, 0.79x ``col2im``. Held out on 96 fresh layers of four
    draws whose choice changes, against the code before in the same rounds: forward 0.747x
    the time (0.98x -> 0.74x lax; 14 slower by over 5 %, worst 1.73x), forward and backward
    0.875x (35 layers, 3 slower, worst 1.75x).

    Differentiated (``differentiated``), ``col2im`` stays: ``im2col`` in its place ran about
    as fast with its gradients (0.99x on 11 layers), with a 3.9x loss on a 3-d NCDHW layer
    whose gradients ran in the other layout. ``banded`` stays too (7x7/8 layers into 8
    outputs, where :func:`strided_patches_pay` keeps the band: 1.11x and 1.45x). On 1-4
    features ``space_to_depth``'s copy (which keeps only the phases a narrow kernel reaches)
    beat ``im2col``'s (0.60x its time on 8 layers of 1-3 features), but against ``auto``'s
    ``banded`` it was 0.72x on one held-out draw and 1.47x on another (a 5x5x5/7 4 -> 16
    layer: 4.3x), so those layers keep ``name``."""
    if name not in NARROW_PATCHES_OVER or (differentiated and name == "col2im"):
        return name
    return "im2col" if narrow_patches_pay(plan) and allowed("im2col") else name


def patches_pay(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``space_to_depth`` on ``plan`` whatever else it would pick: a
    dense, undilated patch embedding, its kernel equal to its strides along every spatial
    dim and at least one stride above 1 (ViT's 16x16/16, ConvNeXt's 4x4/4). Each window is
    then one block of the input: ``space_to_depth`` reshapes the blocks into features and
    runs one GEMM, while ``col2im`` splits the input into ``prod(strides)`` phases of one tap
    each (256 GEMMs on a 16x16 patch, 32-36x lax's time; 4096 on a 16x16x16 one, whose
    program took 4 minutes to compile) and ``im2col`` or ``banded`` copy the taps first.
    Where ``auto`` runs ``direct`` (a few products per output, no GEMM) it keeps it: on 1-4
    input features the fused loop ran forward up to 3.4x faster."""
    return (
        any(s > 1 for s in plan.strides)
        and plan.kernel == plan.strides
        and all(d == 1 for d in plan.rhs_dilation + plan.lhs_dilation)
        and _strategies._ungrouped(plan)
    )


POINTWISE_DIRECT_FEATURES = 16
"""Fewest input features of a pointwise plan on which ``auto`` never runs ``direct``
(:func:`pointwise_too_deep_for_direct`)."""


def pointwise_too_deep_for_direct(plan: ConvPlan) -> bool:
    """Whether ``plan`` is pointwise (one GEMM on the input as it is) with at least
    :data:`POINTWISE_DIRECT_FEATURES` input features: ``auto`` then picks among the other
    strategies. ``direct``'s fused loop unrolls a product per input feature; the rules
    picked it on channels-first 1x1 layers into 6-8 features, where it runs channels-last
    with the transposes (a fresh draw's 16 -> 8 on 16x62x62: 1.95x lax, ``col2im`` 0.89x).
    Measured on CPU (``benchmarks/results/cpu-2core-pointwise-direct``): on the 155
    forward pointwise programs of the stored sweeps with 16 or more input features,
    ``direct`` took 3.74x the fastest GEMM strategy's time (geomean), faster on 4; below
    16 features, 0.82x (120). Held out on 16 fresh layers where the rules pick it (seed
    9100), 0.344x the time forward (1.88x -> 0.65x lax, none slower), 0.775x forward and
    backward (0.62x -> 0.48x lax; three slower, at most 1.42x)."""
    return plan.is_pointwise and plan.in_features >= POINTWISE_DIRECT_FEATURES


DIRECT_GEMM_PRODUCTS, DIRECT_GEMM_OUTPUTS = 32, 32
"""Fewest multiply-adds per output (taps times input features) and output features of a
dense plan on which ``auto`` runs ``im2col`` where the rules pick ``direct``
(:func:`_gemm_over_direct`)."""


def _gemm_over_direct(plan: ConvPlan, name: str, allowed, differentiated: bool = False) -> str:
    """``im2col`` where ``name`` is ``direct`` on a dense plan without input dilation of at
    least :data:`DIRECT_GEMM_PRODUCTS` multiply-adds per output and
    :data:`DIRECT_GEMM_OUTPUTS` output features (where ``allowed``), forward only
    (:func:`differentiated_choice`); or, differentiated too, where :func:`strided_gemm_pays`.

    ``direct``'s fused loop runs every product as a broadcast multiply-add, one output
    feature at a time; one GEMM over the ``K·C`` stacked taps is faster once it is a few
    dozen deep and 32 columns wide. The tree, fitted before ``im2col``'s present form,
    picks ``direct`` on most layers of at most 8 input features.

    Measured forward on CPU (``benchmarks/results/cpu-2core-gemm-over-direct``). Fit: 194
    dense layers of 1-8 input features drawn like a network's (seeds 7301-7320), every
    strategy timed: regret against the fastest 1.130 -> 1.122 (4 layers change, 0.695x
    their time). Held out, fresh layers whose choice it changes, against the code before in
    the same rounds: 0.586x the time on 12 layers of seeds 7321-7420 (at most 1.04x),
    0.723x on 16 of seeds 7421-7520 (three 3x3 layers of 4 features, channels-last,
    1.28-1.61x). Not adopted: ``im2col`` on 16 output features (0.991x, 24 layers; 2.1x on
    dilated ones), ``col2im`` on 8 (0.884x and 0.967x on 33 and 43 layers, no less time in
    all), and the rule differentiated (its first form: 1.04x forward and backward on 22
    layers, 0.81x on the 2 of them it still covers). Below 32 products (a 3x3 kernel on 3
    features) ``direct`` was the fastest strategy on 19 of the 25 layers of the fit the
    rules gave it."""
    if (
        name != "direct"
        or plan.feature_groups != 1
        or plan.batch_groups != 1
        or any(d > 1 for d in plan.lhs_dilation)
    ):
        return name
    products = plan.taps * plan.in_features
    wide = products >= DIRECT_GEMM_PRODUCTS and plan.out_features >= DIRECT_GEMM_OUTPUTS
    if not ((wide and not differentiated) or strided_gemm_pays(plan)):
        return name
    return "im2col" if allowed("im2col") else name


STRIDED_GEMM_PRODUCTS, STRIDED_GEMM_OUTPUTS = 64, 16
"""Fewest multiply-adds per output (taps times input features) and output features of a
strided channels-last plan on which :func:`strided_gemm_pays`."""


def strided_gemm_pays(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``im2col`` where it would run ``direct``, forward and
    differentiated, on a strided dense 1-d or 2-d channels-last plan without input dilation
    of at least :data:`STRIDED_GEMM_PRODUCTS` multiply-adds per output and
    :data:`STRIDED_GEMM_OUTPUTS` output features (:func:`_gemm_over_direct`, and where
    :func:`strided_direct_pays` puts ``direct`` in place of ``banded``).

    ``direct``'s fused loop grows with the products per output times the output features;
    the stride keeps ``im2col``'s patches small (a quarter of the input's positions in 2-d),
    so from a 3x3 kernel on 8 features into 16 its GEMM is faster.

    Measured forward on CPU (``benchmarks/results/cpu-2core-strided-direct-outputs``,
    ``sweep.py``): 210 strided channels-last layers drawn like a network's (1-32 input, 8-64
    output features, kernels 2-11) where ``auto`` ran ``direct``, every GEMM strategy
    forced. On the 16 2-d layers of at least 64 products per output into 16 or more features
    ``im2col`` took 0.731x ``direct``'s time (1 slower by over 10 %); on the 3 such 1-d
    layers 0.648x. From 48 products (0.899x, 7 of 30 slower) or 8 output features (0.983x, 7
    of 26 slower) the gain does not hold. Differentiated (60 layers where ``auto`` ran
    ``direct`` there), 0.733x on the 10 2-d ones, none slower. Held out on 48 fresh layers
    of strides 2-3 and 1-64 input features whose choice it changes, against the code before
    in the same rounds: forward 0.643x the time (seeds 7864, 7865: 0.699x, 0.591x; 1.59x ->
    1.11x and 1.92x -> 1.14x lax); 3 slower by over 10 %, all 4x4/3 and 5x5/3 layers of 3-4
    features (at most 1.48x). Forward and backward, held out on 48 more (seeds 7866, 7867,
    most into 32 or more features, where :func:`_gemm_over_direct` holds forward only):
    0.826x and 0.835x the time (0.78x -> 0.64x and 0.86x -> 0.72x lax), 1 slower by over
    10 % (1.13x). In the stored held-out draws, the worst were of this kind: a 3x3/2 12 -> 24
    layer on 94x143, ``direct`` 3.04x lax and ``im2col`` 1.17x; 3x3/2 8 -> 16 layers on
    190^2-224^2 maps, ``direct`` 2.0-2.2x lax."""
    return (
        _strided_dense(plan)
        and not plan.features_first
        and plan.num_spatial <= 2
        and plan.taps * plan.in_features >= STRIDED_GEMM_PRODUCTS
        and plan.out_features >= STRIDED_GEMM_OUTPUTS
    )


DIRECT_GROUP_FEATURES, DIRECT_GROUP_PRODUCTS = (5, 8), 72
"""Span of input features per group, and most multiply-adds per output (taps times input
features per group), on which ``auto`` runs ``direct`` where the rules pick ``grouped``
(:func:`direct_over_grouped`)."""


def direct_over_grouped(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``direct`` where the rules pick ``grouped`` on ``plan``: groups
    :data:`DIRECT_GROUP_FEATURES` input features deep, no wider out than in, at most
    :data:`DIRECT_GROUP_PRODUCTS` multiply-adds per output (a 3x3 kernel on 8 features),
    no input dilation.

    ``grouped`` runs one GEMM per group, as deep as the group's ``K·C`` stacked taps: a
    few dozen deep and at most 8 wide, far from peak, with its patches copied.
    ``direct``'s fused loop runs those few products per output where they lie. The fitted
    tree runs ``direct`` on most groups of at most 4 features and ``grouped`` above.
    Forward only, and not on channels-first strided data (see below).

    Measured forward on CPU (``benchmarks/results/cpu-2core-small-groups``). In the stored
    all-strategy draws and sweeps, on the 14 such programs where the tree ran ``grouped``,
    ``direct`` took 0.579x its time (1 slower by 10 % or more). Held out against the code
    before in the same rounds, fresh layers whose choice it changed (seeds 7834, 7836): 51
    layers, 0.584x the time; of them the 11 channels-first strided ones took 0.93x, 6
    slower by up to 2.8x (1-d and 3-d), hence that limit; the other 37 0.484x (0.36x ->
    0.18x lax; 2 slower, at most 1.29x). With the final rule, on 16 layers of a fresh
    draw (seed 7839): 0.504x (0.44x -> 0.22x lax, none slower). Differentiated, on 16
    fresh layers (seed 7835) 0.893x with 5 slower by up to 1.43x: there the tree's
    ``grouped`` stays (:func:`differentiated_choice`)."""
    lo, hi = DIRECT_GROUP_FEATURES
    return (
        plan.feature_groups > 1
        and plan.batch_groups == 1
        and lo <= plan.group_in <= hi
        and plan.out_features // plan.feature_groups <= plan.group_in
        and plan.taps * plan.group_in <= DIRECT_GROUP_PRODUCTS
        and _strategies._undilated(plan)
        and not (plan.features_first and any(s > 1 for s in plan.strides))
    )


DEPTHWISE_TAPS, DEPTHWISE_TAPS_FEATURES = 50, 64
"""Fewest taps and input features of a depthwise plan on which ``auto`` runs ``taps``
rather than ``depthwise``'s fused loop forward (:func:`depthwise_taps_pay`)."""

WIDE_DEPTHWISE_TAPS, WIDE_DEPTHWISE_FEATURES = 10, 1024
"""Fewest taps and input features of a channels-last depthwise plan on which ``auto`` runs
``taps`` forward below :data:`DEPTHWISE_TAPS` (:func:`depthwise_taps_pay`)."""


def depthwise_taps_pay(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``taps`` on a depthwise plan, forward and differentiated, where
    the rules pick ``depthwise`` (:func:`_depthwise_taps`): more than a 7x7 kernel's taps
    (:data:`DEPTHWISE_TAPS`) on at least :data:`DEPTHWISE_TAPS_FEATURES` input features.

    ``depthwise`` fuses every tap's multiply-add into one loop over the output; on long
    kernels over many features XLA:CPU runs that loop several times slower than ``taps``'
    one pass per tap. The fitted tree splits depthwise layers on the kernel's size only: it
    ran ``depthwise`` on every kernel up to 23 wide. Measured forward on CPU, both forced
    in the same rounds (the four sweeps the tree was fitted on,
    ``benchmarks/results/cpu-2core-sweep-2026-12-01``): ``taps`` took 0.358x
    ``depthwise``'s time on the 28 programs of 50+ taps and 64+ features (11x11, 13x13,
    5x5x5, 63 and 127 taps); on 7x7 kernels (49 taps) 0.28-4.99x, no rule in the layer's
    sizes. Held out (``benchmarks/results/cpu-2core-depthwise-taps``), fresh layers drawn
    like a network's whose choice this changes, against the code before: forward 0.383x
    the time on 27 layers of one draw and 0.600x on 11 of another, forward and backward
    0.909x and 0.896x where the forward pass stayed ``depthwise`` (the input gradients,
    depthwise convolutions too, ran ``taps``).

    Differentiated, the forward pass runs ``taps`` too (before 2026-12-07 it ran the
    fused loop). Held out on fresh layers of this rule's three kinds whose differentiated
    choice that changes, forward and backward against the code before in the same rounds
    (``benchmarks/results/cpu-2core-differentiated-taps``): 0.767x and 0.770x the time on
    two draws of 24 (one of 48 slower, 1.03x), 0.622x on 10 channels-first ones (one
    1.05x). The gradients are the same either way (:mod:`jaxconv._grad`): the gain is the
    forward pass's.

    Also channels-last from :data:`WIDE_DEPTHWISE_TAPS` taps (past 3x3) on at least
    :data:`WIDE_DEPTHWISE_FEATURES` features. Both forced, forward, on fresh layers of 512
    or more features and 10-49 taps (seeds 7601-7606 of the random suites,
    ``benchmarks/results/cpu-2core-wide-depthwise-taps``): ``taps`` took 0.637x
    ``depthwise``'s time on the 6 channels-last programs of 1024 features (5x5 and 7x7
    kernels; 0.45-0.85x), and 0.49-0.98x on the 5 of the stored draws; on 512-768 features
    1.126x (63 programs), and channels-first on 1024, 1.74x (4). Held out, every program
    of seeds 7701-7740 whose choice it changes (5x5, 7x7, 3x3x3, 15- and 31-tap kernels,
    their input gradients too), against the code before in the same rounds: forward 0.560x
    the time (121 programs; 6 slower by more than 10 %, at most 1.48x), forward and backward
    0.912x (the input gradients, depthwise too, run ``taps``). And on channels-last volumes
    of :data:`DEEP_VOLUME_TAPS` or more taps whatever the features
    (:func:`_deep_channels_last_volume`)."""
    wide = (
        not plan.features_first
        and plan.taps >= WIDE_DEPTHWISE_TAPS
        and plan.in_features >= WIDE_DEPTHWISE_FEATURES
    )
    long = plan.taps >= DEPTHWISE_TAPS and plan.in_features >= DEPTHWISE_TAPS_FEATURES
    return plan.is_depthwise and (long or wide or _deep_channels_last_volume(plan))


DEEP_VOLUME_TAPS = 125
"""Fewest taps (a 5x5x5 kernel) of a channels-last 3-d depthwise plan on which
:func:`depthwise_taps_pay` holds on any number of features."""


def _deep_channels_last_volume(plan: ConvPlan) -> bool:
    """A channels-last 3-d plan of at least :data:`DEEP_VOLUME_TAPS` taps: where
    :func:`depthwise_taps_pay` on any number of features.

    There ``depthwise``'s fused loop ran several times slower than one pass per tap,
    whatever the features. Measured forward on CPU (``benchmarks/results/
    cpu-2core-deep-volumes``, every strategy forced on 130 2-d and 3-d depthwise layers of
    two sweeps): on the 13 channels-last 5x5x5 layers of 4-48 features at unit strides
    where the tree ran ``depthwise``, ``taps`` took 0.386x its time (0.18-1.07x; the
    fastest strategy, ``fft`` on most, 0.313x). Channels-first, ``taps`` took 1.74x
    (10 layers), so those keep the loop. Held out on fresh
    channels-last layers whose choice it changes, against the code before in the same
    rounds: a first form from 50 taps lost on every 5x5x3 kernel (75 taps: 1.5-4.5x, 10
    layers), hence the bound; the 5x5x5 ones took 0.446x the time (9 layers, none slower),
    and with the final rule a fresh draw 0.508x (10, none slower). Forward and backward
    with the layer keeping the loop (its input gradient ran ``taps``), 0.727x (7, none
    slower); with the layer running ``taps`` too, 0.709x and 0.661x more (13 and 11
    layers, none slower; :func:`depthwise_taps_pay`).
    Strided, a first form left them: the sweeps' 3 strided layers were mixed (0.86-1.37x);
    a sweep of 36 strided ones then put ``taps`` at 0.744x ``depthwise``'s time on the 14
    channels-last 5x5x5 layers of the three sweeps where the tree ran ``depthwise`` (3
    slower). Held out on 16 fresh strided layers, forward 0.782x the time (2 slower, at
    most 1.53x); forward and backward 0.998x (6: the input gradient, input-dilated, does
    not change)."""
    return not plan.features_first and plan.num_spatial == 3 and plan.taps >= DEEP_VOLUME_TAPS


def _thin_depthwise_taps(plan: ConvPlan) -> bool:
    """A 1-d depthwise plan of fewer than :data:`DEPTHWISE_TAPS_FEATURES` input features,
    whose ``taps`` passes are thin: where :func:`depthwise_loop_pays` (on short kernels) and
    :data:`FFT_PAYS_DEPTHWISE_TAPS` (against ``taps``) hold, both measured on 1-d only."""
    return (
        plan.is_depthwise and plan.num_spatial == 1 and plan.in_features < DEPTHWISE_TAPS_FEATURES
    )


LOOP_DEPTHWISE_TAPS = 64
"""Most taps of a 1-d depthwise plan on which :func:`depthwise_loop_pays`."""


def depthwise_loop_pays(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``depthwise`` forward where the rules pick ``taps`` on a 1-d
    depthwise plan: fewer than :data:`DEPTHWISE_TAPS_FEATURES` input features (where
    :func:`depthwise_taps_pay` does not hold) and at most :data:`LOOP_DEPTHWISE_TAPS`
    taps.

    The fitted tree splits depthwise layers on the kernel's size: from about 50 taps it
    runs ``taps``, one pass over the output per tap. On few features each pass is a thin
    multiply-add, and the fused loop does all the taps in one pass. Measured forward on
    CPU (``benchmarks/results/cpu-2core-depthwise-loop``, every strategy forced on 1-d
    and 2-d depthwise layers of 4-63 features): on the 11 1-d layers of 63 taps where the
    tree ran ``taps``, ``depthwise`` took 0.50x its time (0.22-1.11x); on 95- and
    127-tap strided ones 0.34-2.5x (7 layers; ``fft`` 0.33-0.79x there), and on two 2-d
    ones 3.2x and 5.5x, so those keep ``taps``. Held out on 30 fresh 1-d layers of 48-64
    taps whose choice this changes, against the code before in the same rounds: forward
    0.555x the time (3 slower, all strided, at most 1.50x); forward and backward 0.77x
    (12 layers): differentiated, the layer itself runs the tree's ``taps``
    (:func:`differentiated_choice`), but its input gradient, a depthwise convolution too,
    takes the fused loop. With :data:`FFT_PAYS_DEPTHWISE_TAPS` too (differentiated, such
    layers at stride 1 then run ``fft`` over ``taps``), forward and backward 0.678x on 16
    fresh layers (none slower)."""
    return _thin_depthwise_taps(plan) and plan.taps <= LOOP_DEPTHWISE_TAPS


def _depthwise_taps(plan: ConvPlan, name: str, allowed) -> str:
    """``taps`` where ``name`` is ``depthwise`` and :func:`depthwise_taps_pay`;
    ``depthwise`` where ``name`` is ``taps`` and :func:`depthwise_loop_pays`."""
    if name == "depthwise" and depthwise_taps_pay(plan) and allowed("taps"):
        return "taps"
    if name == "taps" and depthwise_loop_pays(plan) and allowed("depthwise"):
        return "depthwise"
    return name


BAND_PATCHES_FEATURES, BAND_PATCHES_OUTPUTS = 5, 64
"""Fewest input features on which :func:`strided_patches_pay`, and fewest output features on
which it holds below that."""

BAND_ROW_TAPS, BAND_ROW_OUTPUTS = 7, 32
"""Fewest taps along the last spatial dim (and their square, along all) and most output
features on which a strided plan keeps ``banded`` whatever its input features
(:func:`strided_patches_pay`)."""

STRIDED_DIRECT_PRODUCTS = 24
"""Most multiply-adds per output (taps times input features) of a channels-first strided
plan on which :func:`strided_direct_pays`."""


def _strided_dense(plan: ConvPlan) -> bool:
    """A strided dense plan without input dilation: where :func:`strided_direct_pays` and
    :func:`strided_patches_pay` may hold."""
    strided = any(s > 1 for s in plan.strides)
    return strided and _strategies._undilated(plan) and _strategies._ungrouped(plan)


def strided_direct_pays(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``direct`` where it would run ``banded`` on a strided dense plan
    (:func:`_strided_over_band`): channels-last, at most ``LOOP_PRODUCTS · LOOP_OUTPUTS``
    multiply-adds per output position (taps times input times output features, the bound
    of :func:`_loop_over_col2im`'s loop); channels-first, where ``direct`` runs between
    transposes, at most :data:`STRIDED_DIRECT_PRODUCTS` per output feature.

    ``banded`` cuts its windows from every input row before the stride skips them, and on
    few features its GEMM stays thin; ``direct``'s fused loop reads only the taps the
    stride keeps. Measured forward on CPU (``benchmarks/results/cpu-2core-strided-few``, 82
    strided dense layers of at most 16 input features drawn like a network's, where
    ``auto`` ran ``banded``, every strategy forced): with :func:`strided_patches_pay`
    regret against the fastest 1.551 -> 1.166, 0.832x -> 0.626x lax, worst 5.28x -> 2.02x
    lax (a 4x4/2 1 -> 16 layer on 32x271x218 NCHW: ``banded`` 1.25x lax, ``direct``
    0.26x). Held out on 39 fresh layers of seed 7001 whose choice changes: forward 0.769x
    the time (0.905x -> 0.696x lax; ``direct`` on 12 of them 0.726x), forward and backward
    0.926x; 7x7/2 layers of 6-8 features, now ``im2col``, ran 1.5x slower."""
    if not _strided_dense(plan):
        return False
    products = plan.taps * plan.in_features
    if plan.features_first:
        return products <= STRIDED_DIRECT_PRODUCTS
    return products * plan.out_features <= LOOP_PRODUCTS * LOOP_OUTPUTS


def strided_patches_pay(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``im2col`` where it would run ``banded``, and ``direct`` does
    not pay (:func:`_strided_over_band`): a strided dense plan of at least
    :data:`BAND_PATCHES_FEATURES` input features and no input dilation.

    ``banded`` widens a thin GEMM (few input features, a wide kernel) by writing ``b``
    shifted copies of the kernel beside each other; its windows are cut from every input
    row before the stride skips them, which costs more than ``im2col``'s patches from a
    few features up. Measured forward on CPU (``benchmarks/results/cpu-2core-strided-band``,
    every GEMM strategy forced on the 117 strided layers of at least 32 features where
    ``auto`` ran ``banded`` in seeds 9000-9019 of the random suites): regret against the
    fastest 1.138 as ``banded``, 1.086 as ``im2col``; on 4-31 features (50 layers), 1.27
    either way. On larger layers the gap shows on fewer features too
    (``benchmarks/results/cpu-2core-strided-few``: of the 62 strided layers of at most 16
    features drawn like a network's where ``direct`` does not pay, ``im2col`` took 0.818x
    ``banded``'s time on the 45 of 6-16 features, 1.001x on 1-4). Held out (32 or more
    features), on 24 layers drawn like a network's (in no suite) whose choice it changes:
    forward 0.791x the time (0.81x -> 0.64x lax, worst 3.79x -> 1.13x), forward and
    backward 0.873x.

    Not on kernels of 7x7 or more (:data:`BAND_ROW_TAPS` along the last dim, its square
    in all) into at most :data:`BAND_ROW_OUTPUTS` output features: ``im2col`` copies each
    input once per tap where the band copies it once per kernel row, and a thin GEMM does
    not pay those copies back. Measured forward on CPU
    (``benchmarks/results/cpu-2core-strided-wide``, ``banded`` and ``im2col`` forced on
    the layers of 25+ taps whose choice the 5-feature threshold changed): ``im2col`` took
    1.52x ``banded``'s time on the 6 such layers of a fresh draw, 1.16x on the 3 of
    ``cpu-2core-strided-few``'s sweep, 0.83x on the rest. Against the code before, on 10
    layers of another draw with rows of 7 taps, the band won on the 7x7 kernels (forward
    0.82x the time, 6 layers) and lost on 1x7 and 7-tap 1-d ones (1.2-3.5x), hence the
    kernel's size.

    Below :data:`BAND_PATCHES_FEATURES` too, on 1-d and 2-d plans of
    :data:`BAND_PATCHES_OUTPUTS` or more output features and a kernel short of 7x7: the
    band's GEMM is then a kernel row times 1-4 features deep, and wide enough for
    ``im2col``'s patches to pay. Measured forward on CPU: on the stored strided-few sweep's
    layers of 1-4 features into 64 or more outputs, ``im2col`` took 0.80x ``banded``'s time
    (13 layers, 1 slower by over 10 %); where ``auto`` ran ``banded`` on 1-d and 2-d ones,
    0.80x (5 layers); on the four such layers of ``cpu-2core-strided-deep``'s sweep (4 -> 64-128,
    3x3 and 4x4), 0.55x. Held out (``benchmarks/results/cpu-2core-strided-few-wide``), 24
    fresh layers drawn like a network's whose choice it changes, against the code before in
    the same rounds: forward 0.874x the time (0.83x -> 0.73x lax; 4 slower, at most 1.39x),
    forward and backward 0.893x (1 slower, 1.11x); all 2-d, so 10 more of 1-d (seed 7825):
    forward 0.912x, forward and backward 0.957x (none slower by over 7 %). Not on 3-d
    plans: a 3-d program of the first held-out draw did not finish its forward and backward
    timing in 14 minutes."""
    wide = plan.taps >= BAND_ROW_TAPS**2 and plan.kernel[-1] >= BAND_ROW_TAPS
    thin = wide and plan.out_features <= BAND_ROW_OUTPUTS
    few = plan.in_features < BAND_PATCHES_FEATURES
    if few and (wide or plan.out_features < BAND_PATCHES_OUTPUTS or plan.num_spatial > 2):
        return False
    return _strided_dense(plan) and not thin


def _strided_over_band(plan: ConvPlan, name: str, allowed) -> str:
    """``direct`` where ``name`` is ``banded`` and :func:`strided_direct_pays` (``im2col``
    where :func:`strided_gemm_pays`), else ``im2col`` where :func:`strided_patches_pay`."""
    if name != "banded":
        return name
    if strided_direct_pays(plan) and allowed("direct"):
        return "im2col" if strided_gemm_pays(plan) and allowed("im2col") else "direct"
    if strided_patches_pay(plan) and allowed("im2col"):
        return "im2col"
    return name


LOOP_FEATURES, LOOP_ROWS, LOOP_PRODUCTS, LOOP_OUTPUTS = 8, 1024, 64, 32
"""Most input features and fewest rows (batch times positions) on which
:func:`_loop_over_col2im` holds, most multiply-adds per output (taps times input
features) on which it runs ``direct`` rather than ``banded``, and most output features
times that over ``LOOP_PRODUCTS`` on which ``direct`` runs (``im2col`` above)."""


def _long_1d_col2im(plan: ConvPlan, name: str) -> bool:
    """Whether ``name`` is ``col2im`` on a 1-d channels-last dense plan of :data:`LOOP_ROWS`
    or more rows and no input dilation: where :func:`_loop_over_col2im` and
    :func:`_stack_over_col2im` apply."""
    return (
        name == "col2im"
        and plan.num_spatial == 1
        and not plan.features_first
        and plan.feature_groups == 1
        and plan.batch * plan.in_spatial[0] >= LOOP_ROWS
        and all(d == 1 for d in plan.lhs_dilation)
    )


def _loop_over_col2im(plan: ConvPlan, name: str, allowed) -> str:
    """``direct`` or ``banded`` where ``name`` is ``col2im`` on a long 1-d channels-last plan
    (:func:`_long_1d_col2im`) of at most :data:`LOOP_FEATURES` input features: ``direct``
    on at most :data:`LOOP_PRODUCTS` multiply-adds per output, ``banded`` on more.

    ``col2im``'s GEMM is then at most 8 deep and writes ``K·O`` columns per position (its
    2-d form stacks a row's taps first, :func:`jaxconv._strategies.stacks_rows`; in 1-d that
    stack is ``im2col``); ``direct``'s fused loop holds none of them, and ``banded``'s GEMM
    is ``L·C`` deep. The rules, fitted on layers cut to fit in cache, still run ``col2im``
    there. Measured forward on CPU (2026-12-04, ``benchmarks/results/cpu-2core-1d-few-features``,
    5-8 input features, 8-32 output, 3-15 taps, every strategy forced): on 40 layers of
    8-66 thousand positions the threshold was chosen on, ``col2im`` took 2.17x the fastest
    strategy's time (1.55x lax); held out on 40 more (0.3-33 thousand positions, some
    dilated), on the 29 where ``auto`` ran ``col2im``: 1.81x the fastest, 1.21x lax; with this
    rule 1.20x, 0.80x lax. That fit had 8-32 output features; ``direct``'s loop grows with
    them at a loop's rate, so above ``K·C·O = LOOP_PRODUCTS · LOOP_OUTPUTS`` it runs
    ``im2col`` (``benchmarks/results/cpu-2core-1d-wide-outputs``: held out on 17 fresh layers
    of 24-192 output features, forward 0.696x the time, 1.50x -> 1.04x lax, forward and
    backward 0.877x)."""
    if not _long_1d_col2im(plan, name) or plan.in_features > LOOP_FEATURES:
        return name
    products = plan.taps * plan.in_features
    if products > LOOP_PRODUCTS:
        loop = "banded"
    elif products * plan.out_features <= LOOP_PRODUCTS * LOOP_OUTPUTS:
        loop = "direct"
    else:
        loop = "im2col"
    return loop if allowed(loop) else name


def _stack_over_col2im(plan: ConvPlan, name: str, allowed) -> str:
    """``im2col`` where ``name`` is ``col2im`` on a long 1-d channels-last plan
    (:func:`_long_1d_col2im`) of more than :data:`LOOP_FEATURES` input features, where
    stacking the taps moves fewer elements per position, ``K·C + O``, than ``col2im``'s
    ``K·O`` by :func:`jaxconv._strategies.stacking_moves_less`: the criterion on which
    ``col2im`` stacks the last dim's taps in 2-d (:func:`jaxconv._strategies.stacks_rows`),
    whose 1-d form is ``im2col``.

    Measured forward on CPU (2026-12-04, ``benchmarks/results/cpu-2core-1d-few-features``,
    ``sweep-wide.jsonl``: 40 layers of 12-48 input features, 8-96 output, 3-15 taps, 1-66
    thousand rows, every GEMM strategy forced): regret against the fastest 1.116 always
    ``col2im``, 1.050 with this rule (1.047-1.056 for thresholds 0.5-0.75, 1.106 at 0.9);
    1.31x -> 1.23x lax, where the fastest strategy of each layer gives 1.17x. Held out, on
    30 fresh layers it changes (9-48 input features, dilations 1-3), against the code before:
    forward 0.629x the time (1.97x -> 1.24x lax; worst 8.3x -> 2.2x), forward and backward
    0.845x (1.11x -> 0.94x)."""
    if (
        not _long_1d_col2im(plan, name)
        or plan.in_features <= LOOP_FEATURES
        or not allowed("im2col")
        or not _strategies.stacking_moves_less(plan)
    ):
        return name
    return "im2col"


CHANNELS_FIRST_STACK_TRAFFIC = 0.5
"""Most elements per position that stacking the taps may move, as a fraction of
``col2im``'s ``K·O`` columns, on which :func:`_stack_over_channels_first_col2im` holds."""


def _stack_over_channels_first_col2im(plan: ConvPlan, name: str, allowed) -> str:
    """``im2col`` where ``name`` is ``col2im`` on a 1-d dense plan of channels-first data
    (``NCW``) at unit strides, without input dilation, where stacking the taps moves fewer
    elements per position, ``K·C + O``, than :data:`CHANNELS_FIRST_STACK_TRAFFIC` times
    ``col2im``'s ``K·O`` (:func:`jaxconv._strategies.stacking_moves_less`): layers that
    widen (``O`` over about twice ``C``). :func:`_stack_over_col2im`'s criterion, at a lower
    threshold: ``im2col`` runs such data channels-last, between two transposes.

    Measured forward on CPU (2026-12-06, ``benchmarks/results/cpu-2core-ncw-widening``,
    seed 8111: 80 ``NCW`` layers where ``auto`` ran ``col2im``, 5-48 input features, 4-128
    output, 3-31 taps, 1-33 thousand positions; ``col2im``, ``im2col`` and ``banded``
    forced): on the 32 below 0.5, ``im2col`` took 0.727x ``col2im``'s time (worst 1.16x);
    over all 80, 0.880x at 0.5, 0.882x at 0.6-0.75, 0.892x at 0.9 (worst 1.49x). Held out
    against the code before on 40 fresh layers it changes (seed 7812, 5-64 input features,
    16-256 output, kernel dilation 1-2): forward 0.708x the time (1.47x -> 1.04x lax; worst
    6.45x -> 2.03x, 5 slower by 1.08-1.49x), forward and backward 0.783x (1.25x -> 0.98x)."""
    if (
        name != "col2im"
        or plan.num_spatial != 1
        or not plan.features_first
        or plan.feature_groups != 1
        or plan.strides != (1,)
        or plan.lhs_dilation != (1,)
        or not allowed("im2col")
        or not _strategies.stacking_moves_less(plan, CHANNELS_FIRST_STACK_TRAFFIC)
    ):
        return name
    return "im2col"


COL2IM_SHRINK = 1.3
"""Fewest input positions per output position on which :func:`_im2col_over_shrinking_col2im`
holds."""
COL2IM_SHRINK_FEATURES = 64
"""Fewest output features on which :func:`_im2col_over_shrinking_col2im` holds."""


def _im2col_over_shrinking_col2im(plan: ConvPlan, name: str, allowed) -> str:
    """``im2col`` where ``name`` is ``col2im`` on a dense 2-d or 3-d plan at unit strides,
    without input dilation, whose output has :data:`COL2IM_SHRINK` times fewer positions
    than its input or fewer (``VALID`` padding of a kernel large for its map: a 5x5 on
    14x11 gives 10x7) and :data:`COL2IM_SHRINK_FEATURES` or more output features.
    ``col2im``'s GEMM multiplies every input position by every tap, ``im2col``'s only the
    output positions: the shrink factor more multiply-adds, and ``K·O`` columns written
    per input position, which outweigh the patches ``im2col`` copies (``K·C`` per output
    position) once ``O`` is wide.

    Measured forward on CPU (2026-12-06, ``benchmarks/results/cpu-2core-shrinking-col2im``,
    seeds 8141-8142: 160 such layers where ``auto`` ran ``col2im``, 16-512 features, 2x2 to
    7x7 kernels, kernel dilation 1-2, batch 1-8, shrink 1.15-3.5; lax and ``col2im``,
    ``rows``, ``taps``, ``im2col``, ``banded`` forced): on the 94 this holds on, ``im2col``
    took 0.706x ``col2im``'s time (8 slower, worst 1.28x); over all 160, 0.815x, flat
    from 48 to 96 output features (``rows`` in its place: 0.84x). Below 64 output features
    ``col2im`` stays (``im2col`` 1.2-1.4x its time at every shrink); at 64 or more,
    ``im2col`` took 1.01x its time at shrinks 1.2-1.3, 0.73x at 1.3-1.45, 0.57x above 2.2,
    and 1.07x on 50 ``SAME`` layers (seed 8143, shrink about 1)."""
    if (
        name != "col2im"
        or plan.num_spatial < 2
        or plan.feature_groups != 1
        or plan.batch_groups != 1
        or any(s != 1 for s in plan.strides)
        or any(d != 1 for d in plan.lhs_dilation)
        or plan.out_features < COL2IM_SHRINK_FEATURES
        or math.prod(plan.in_spatial) < COL2IM_SHRINK * math.prod(plan.out_spatial)
        or not allowed("im2col")
    ):
        return name
    return "im2col"


POLYPHASE_WIDENING = 4
"""Fewest output features per input feature on which :func:`_polyphase_over_widening_col2im`
holds."""


def _polyphase_over_widening_col2im(plan: ConvPlan, name: str, allowed) -> str:
    """``polyphase`` where ``name`` is ``col2im`` on a dense transposed plan (input dilation,
    unit strides and kernel dilation) whose kernel is wider than the dilation along some dim
    (outputs meet several taps) and whose output has :data:`POLYPHASE_WIDENING` times as
    many features as its input or more (a decoder's first layers, from a few features to
    many). ``col2im``'s GEMM writes ``K·O`` columns per input position, every tap's, before
    adding the overlapping ones; each of ``polyphase``'s phases gathers its taps' inputs,
    ``K·C`` per input position in all, and writes its outputs once.

    Measured forward on CPU (2026-12-07, ``benchmarks/results/cpu-2core-polyphase-widening``,
    seed 9846: 400 transposed layers of kernels 1-3 times strides 2-8 (a fifth one less),
    1-3 dims, 1-511 input and 1-362 output features, batch 1-16, both layouts; ``col2im``,
    ``polyphase`` and ``auto`` timed): on the 303 whose kernel overlaps, ``col2im`` took
    0.84-1.01x ``polyphase``'s time (geomean) per band of output over input features below
    4, 1.24x at 4-8 and 1.76x above; on the 86 this holds on, ``polyphase`` took 0.690x
    ``auto``'s time (16 slower by over 10 %, worst 2.59x; thresholds 2, 3, 6, 8: 0.750x,
    0.702x, 0.652x, 0.637x on 106, 93, 67, 58). Held out on fresh widening layers of the
    same draw (seeds 9848, 9849): ``polyphase`` took 0.445x ``col2im``'s time forward on 54
    (7 slower by over 10 %, mostly on 3x3 maps), 0.787x forward and backward on 38. The
    input gradient of a strided layer that narrows is this operation too: on six such
    layers, forward and backward, 0.59-1.03x the time."""
    if (
        name != "col2im"
        or plan.feature_groups != 1
        or plan.batch_groups != 1
        or any(s != 1 for s in plan.strides + plan.rhs_dilation)
        or all(k <= ld for k, ld in zip(plan.kernel, plan.lhs_dilation, strict=True))
        or plan.out_features < POLYPHASE_WIDENING * plan.in_features
        or not allowed("polyphase")
    ):
        return name
    return "polyphase"


WINOGRAD_OVER_COL2IM_TILES = 512
"""Fewest Winograd tiles (:func:`winograd_tiles`) on which :func:`winograd_over_col2im`
holds."""

WINOGRAD_OVER_COL2IM_NARROWING, WINOGRAD_OVER_COL2IM_WIDENING = 4, 2
"""How many times fewer output than input features a channels-last plan may have, and how
many times more a channels-first one needs, for :func:`winograd_over_col2im`."""


def winograd_over_col2im(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``winograd`` where the rules pick ``col2im``, forward: on a
    plan ``winograd`` accepts (a dense 3x3 stride-1 layer) of more than
    :data:`WINOGRAD_COL2IM_FEATURES` input features and at least
    :data:`WINOGRAD_OVER_COL2IM_TILES` tiles whose output features are at least a quarter
    of its input features on channels-last data, or twice them on channels-first data.
    ``col2im``'s GEMM writes ``9·O`` columns per position and multiplies ``9·C·O`` times;
    Winograd's 16 GEMMs write ``4·O`` and multiply ``4·C·O`` times, after a transform that
    reads and writes ``4·C`` per position: a loss only where the output is much narrower
    than the input (where ``col2im``'s GEMM is deep and narrow) or on few tiles.
    Channels-first, both run in ``(N, C, H, W)``, and ``winograd`` pays only on widening
    layers.

    Measured forward on CPU (2026-12-07, ``benchmarks/results/cpu-2core-winograd-tiles``;
    ``col2im``, ``winograd`` and lax timed in the same rounds). Sweep (seed 9850): 70 dense
    3x3 layers of 16-256 features on 24-320 maps, batch 1-16, both layouts; on the 16 of
    the 57 the rules ran as ``col2im`` that this selects, ``winograd`` took 0.634x its time
    channels-last (9 layers, 0.35-0.82x) and 0.748x channels-first (7, one 1.20x); on the
    41 it leaves, 1.078x and 1.095x. Held out: fresh layers whose choice it changes, 0.729x
    the time on 31 (seed 9852, five slower by over 10 %, worst 1.44x; its 9 layers into
    fewer than 16 features, which lost up to 3.1x, set the 16) and 0.642x on 40 (seed 9853,
    one slower by over 10 %, 1.45x); the 31 forward programs it changes in the random
    suites' seed 7895, 0.751x (``auto`` 1.27x -> 0.95x lax). The form of 2026-12-03
    (``../cpu-2core-winograd-over-col2im``), on 64 or more features whatever the output's
    width, differentiated too, lost on narrowing layers and in training steps: here a
    differentiated layer (:func:`differentiated_choice`) and a layer's input gradient
    (``input_gradient`` in :func:`choose`) keep ``col2im``; through the input gradient the
    rule made 5 of seed 7895's 31 forward-and-backward programs slower by over 10 % (0.966x
    in all)."""
    c, o = plan.in_features, plan.out_features
    if plan.features_first:
        enough = o >= WINOGRAD_OVER_COL2IM_WIDENING * c
    else:
        enough = WINOGRAD_OVER_COL2IM_NARROWING * o >= c
    return (
        _strategies.accepts("winograd", plan)
        and c > WINOGRAD_COL2IM_FEATURES
        and o >= WINOGRAD_GEMM_FEATURES
        and winograd_tiles(plan) >= WINOGRAD_OVER_COL2IM_TILES
        and enough
    )


def _winograd_over_col2im(plan: ConvPlan, name: str, allowed) -> str:
    """``winograd`` where ``name`` is ``col2im`` and :func:`winograd_over_col2im`."""
    if name == "col2im" and allowed("winograd") and winograd_over_col2im(plan):
        return "winograd"
    return name


FEW_ROWS_KERNEL_GEMMS = 128
"""Most GEMM rows (batch times output positions) of a kernel-dominated dense plan on which
``auto`` runs ``im2col`` where the rules pick ``rows`` or ``taps``
(:func:`_im2col_over_thin_gemms`)."""


def _im2col_over_thin_gemms(plan: ConvPlan, name: str, allowed) -> str:
    """``im2col`` where ``name`` is ``rows`` or ``taps`` on a channels-last dense plan of
    more than one tap, without input dilation, whose kernel holds
    :data:`jaxconv._strategies.KERNEL_IN_PLACE` times the elements of its patches or more
    (output features at least that many times the GEMM rows), with at most
    :data:`FEW_ROWS_KERNEL_GEMMS` GEMM rows: one GEMM over the whole kernel, where ``rows``
    and ``taps`` run a GEMM of those few rows per kernel row or tap, which XLA:CPU ran up
    to 4x slower in all (a 13x13/2 768 -> 192 layer on one 15x15 map, 4 rows: ``rows``
    30.6 ms, ``im2col`` 7.8, lax 20.4; seed 8185). Channels-first data keep the rules'
    pick: there the kernel is copied whole for ``im2col``.

    Measured forward on CPU (2026-12-07, ``benchmarks/results/cpu-2core-thin-gemms``),
    ``auto`` with and without it in the same rounds on dense layers of 64-1024 features on
    small maps (kernels 2-13, 1-3 spatial dims) whose choice it changes, swept up to 1024
    rows: channels-last, 0.504x the time at 1-32 rows (39 layers, one 1.15x), 0.769x at
    33-64 (11; two slower, at most 1.26x), 0.808x at 65-128 (22; one 1.14x), hence 128;
    channels-first, 2.19x (5 layers). Held out, 24 fresh layers: 0.524x the time, none
    slower (``auto`` 1.03x -> 0.54x lax)."""
    rows = plan.batch * math.prod(plan.out_spatial)
    if (
        name not in ("rows", "taps")
        or plan.taps == 1
        or plan.features_first
        or not _strategies._ungrouped(plan)
        or not _strategies._undilated(plan)
        or rows > FEW_ROWS_KERNEL_GEMMS
        or plan.out_features < _strategies.KERNEL_IN_PLACE * rows
        or not allowed("im2col")
    ):
        return name
    return "im2col"


GPU_COL2IM_OVER = ("im2col", "winograd")
"""The CPU rules' picks that ``auto`` replaces by ``col2im`` on GPUs (:func:`_col2im_on_gpu`)."""


def _col2im_on_gpu(plan: ConvPlan, name: str, allowed) -> str:
    """``col2im`` where ``name`` is one of :data:`GPU_COL2IM_OVER`, on GPUs (no rules are
    measured there: the CPU rules and overrides chose ``name``), unless ``col2im``'s GEMM
    would be an outer product (:func:`col2im_too_shallow`).

    ``im2col`` writes ``K`` copies of the input before its GEMM, and ``winograd`` runs 16
    small GEMMs between its transforms; ``col2im``'s one GEMM reads the input once and its
    shifted sum is one fused pass. ``winograd`` forced took 1.30x ``col2im``'s time on the 8
    layer-layouts of the 2026-11-30 sweep where both ran (geomean; 1.37x on the 15 of the
    held-out draw below, which was measured before ``winograd`` joined the rule: it is not
    held out for that part, and there it moves 2 layers, 1.48x and 1.51x faster). For
    ``im2col``, measured on an NVIDIA H200
    (``benchmarks/results/gpu-h200-2026-12-04``, every strategy timed forward): in the
    2026-11-30 sweep (62 layers of the ``random`` suite) ``im2col`` forced took 2.06x the
    fastest strategy's time (geomean), ``col2im`` 1.04x on the 29 it runs and was fastest on
    21, and this rule took ``auto``'s regret from 1.193 to 1.111 (60 layers); on a fresh
    held-out draw (``random-heldout``, seed 5001, 84 layer-layouts none of it was chosen
    on) from 1.174 to 1.100 (90th percentile 1.64 -> 1.24; dense layers 0.732x -> 0.677x
    cuDNN's time, worst 1.33x either way), the 10 layers it changed all faster
    (0.39-0.86x the time)."""
    # Measured against the CPU rules: rules measured on GPUs themselves would stand alone.
    on_cpu_rules = platform() == "gpu" and _rules.measured("gpu") is None
    if name not in GPU_COL2IM_OVER or not on_cpu_rules or col2im_too_shallow(plan):
        return name
    return "col2im" if allowed("col2im") else name


FFT_WINDOWS_PRODUCTS = 4096
"""Fewest products of input and output features per group on which :func:`_windows_over_fft`
holds."""

FFT_PAYS_WINDOWS, FFT_WINDOWS_SPECTRUM = 3.5, 1024
"""Least cost ratio (:func:`fft_pays`'s) and most kernel-spectrum products per row of the
per-frequency GEMMs (``I·O`` over batch times blocks) on which ``fft`` runs in place of
``im2col`` on windows all the same (:func:`_windows_over_fft`)."""


def _windows_over_fft(plan: ConvPlan, instead: str) -> bool:
    """Whether ``auto`` keeps ``im2col`` (``instead``, its choice without ``fft``) where
    :func:`fft_pays`: ``im2col`` builds its patches as windows
    (:func:`jaxconv._taps.builds_windows`, in the channels-last form it runs) and each group
    has at least :data:`FFT_WINDOWS_PRODUCTS` input-output feature pairs. Its GEMM is then
    wide and runs near the machine's peak, where ``fft``'s cost model counts multiply-adds
    at the rate of the 16-feature layers it was fitted on; ``fft``'s per-frequency products
    are complex GEMMs as deep as the input features, and its kernel spectrum holds ``I·O``
    transforms.

    Measured forward on CPU (2026-12-04, ``benchmarks/results/cpu-2core-fft-over-windows``):
    on the 66 programs of seeds 9100-9159 where ``auto`` ran ``fft`` and would otherwise run
    ``im2col`` on windows, ``fft`` took 1.0-1.7x ``im2col``'s time on 9 of the 12 of 64 x 64
    features and 0.05-1.2x on smaller ones; fitted on seeds 9100-9129 (31 programs: regret
    against the faster of the two 1.044 -> 1.034), held out on seeds 9130-9159 (35: 1.103 ->
    1.070). A 63-tap 256 -> 256 layer on 512 positions: ``fft`` 6.2x lax, ``im2col`` 1.2x;
    on batch 8 of a 128 -> 128 one, though, ``fft`` 0.65x, ``im2col`` 1.27x.

    Those 64 x 64 layers stood at cost ratios of 2.5-3.2. Since 2026-12-06 ``fft`` runs all
    the same from a ratio of :data:`FFT_PAYS_WINDOWS` where its kernel spectrum is reused
    on enough rows of the per-frequency GEMMs (``I·O`` at most :data:`FFT_WINDOWS_SPECTRUM`
    times batch times blocks): measured forward (``benchmarks/results/
    cpu-2core-windows-narrowing``) on 43 such layers of seeds 8121 and 8131 (the second
    wide layers on few rows), regret against the faster of the two 1.465 -> 1.043 (the 23
    it changes 0.530x ``im2col``'s time, none slower); by the ratio alone 1.124, 7 of 35
    slower, wide layers on few rows (192 -> 256, 127 taps, 2 x 534 positions: 1.8x). Held
    out against the code before on 32 fresh layers it changes (seed 7813): forward 0.525x
    the time (1.15x -> 0.61x lax, 2 slower, worst 1.35x), forward and backward 0.509x."""
    plan = plan._replace(channels_first=False)
    pairs = plan.group_in * (plan.out_features // plan.feature_groups)
    if not (instead == "im2col" and _taps.builds_windows(plan) and pairs >= FFT_WINDOWS_PRODUCTS):
        return False
    rows = plan.batch * math.prod(_strategies.fft_blocks(plan).count)
    return not (_fft_pays_at(plan, FFT_PAYS_WINDOWS) and pairs <= FFT_WINDOWS_SPECTRUM * rows)


WINDOWS_IN_FEATURES, WINDOWS_OUT_FEATURES = 16, 8
"""Fewest input and output features on which :func:`_windows_over_col2im` holds."""


def _windows_over_col2im(plan: ConvPlan, name: str, allowed) -> str:
    """``im2col`` where ``name`` is ``col2im`` on channels-last data and ``im2col`` builds
    its patches as windows (a long 1-d kernel, :func:`jaxconv._taps.builds_windows`), with
    :data:`WINDOWS_IN_FEATURES` and :data:`WINDOWS_OUT_FEATURES` or more features and
    ``col2im`` not scattering by input position (fewer input positions than taps: ``col2im``
    there ran 0.05x lax, in windows 2.5x).

    Measured on CPU (2026-12-04, ``benchmarks/results/cpu-2core-window-patches``): forced,
    ``col2im`` ran 2.1-2.4x lax on 63- and 127-tap layers of 32-64 features on 127-300
    positions, ``im2col`` on windows 0.95-1.03x (on stacked taps 1.5-2.1x). Against the
    code before on 40 programs of seeds 9020-9029 that an unrestricted rule changed: the 14
    this one keeps all ran faster; channels-first data (transposed around ``im2col``) 1.22x
    forward, layers of 1-3 output features 1.2-9x, so those stay with ``col2im``. Held out
    (seeds 9030-9044, 40 of the 92 programs this rule changed): forward 18 programs 0.572x
    the time (none slower; 1.63x -> 0.93x lax), forward+backward 22 programs 0.756x (one
    slower: a 12 -> 8 layer, 2.7x, hence the input features)."""
    if name != "col2im" or plan.features_first or not allowed("im2col"):
        return name
    # Channels-last data: both strategies run the plan as it is (runs_channels_first).
    return (
        "im2col"
        if plan.in_features >= WINDOWS_IN_FEATURES
        and plan.out_features >= WINDOWS_OUT_FEATURES
        and _taps.builds_windows(plan)
        and not _strategies.col2im_by_input(plan)
        and not _col2im_narrows(plan)
        else name
    )


def _col2im_narrows(plan: ConvPlan) -> bool:
    """Whether ``col2im`` writes under half the elements per position that ``im2col``'s
    windows copy (``K·O`` against ``K·C``: fewer than half as many output features as input
    ones) on a plan of at least as many output positions as taps, where
    :func:`_windows_over_col2im` leaves ``col2im`` (whose fit had as many outputs as
    inputs).

    Measured forward on CPU (2026-12-06, ``benchmarks/results/cpu-2core-windows-narrowing``,
    seed 8121: 60 channels-last layers of 15-127 taps where ``auto`` ran ``im2col`` on
    windows over ``col2im``; ``col2im``, ``im2col``, ``banded``, ``fft`` forced): on the 18
    of the 41 ``fft`` does not take that this holds on, ``col2im`` took 0.696x ``im2col``'s
    time (2 slower, worst 1.14x); with no limit on positions, 0.718x of 19 and worst 1.24x
    (11 output positions of 41 taps); at half to three quarters as many outputs, ``col2im``
    ran 7-27x ``im2col`` on layers of one or two output positions. Held out against the code
    before on 8 fresh layers it changes (seed 7813): forward 0.358x the time (2.17x -> 0.78x
    lax, none slower), forward and backward 0.934x (2 slower, worst 1.08x)."""
    return 2 * plan.out_features < plan.in_features and plan.out_spatial[0] >= plan.taps


def _tuned(plan: ConvPlan, dtype: Any) -> str | None:
    """The tuning cache's choice for ``plan`` on a platform without measured rules, where it
    has one for the first device (never measures); else ``None``."""
    if dtype is None or _rules.measured(platform()) is not None:
        return None
    try:
        device = jax.devices()[0]
    except RuntimeError:
        return None
    return _tune.cached_choice(plan, dtype, device)


def _rules_choice(plan: ConvPlan, dtype: Any, allowed) -> str:
    """The fitted rules' choice among ``allowed`` strategies (for int8 summed in int32 in
    int8 GEMMs, the platform's int8 rules where measured; the CPU rules on a platform
    without rules), else the hand rules', else the first allowed."""
    if dtype is not None and _strategies.int8_gemms(plan, dtype):
        # int8 into int32 in int8 GEMMs: its own rules, where they were measured.
        rules = _rules.measured(f"{platform()}-int8")
        name = rules.choose(_rules.features(plan), allowed) if rules is not None else None
        if name is not None:
            return name
    rules = _rules.measured(platform()) or _rules.measured("cpu")
    if rules is not None:
        name = rules.choose(_rules.features(plan), allowed)
        if name is not None:
            return name
    name = hand_choice(plan)
    if allowed(name):
        return name
    return next(s for s in _strategies.STRATEGIES if allowed(s))


COL2IM_FEWEST_FEATURES = 5
"""Fewest input features on which the rules may run ``col2im`` on a plan without input
dilation (:func:`col2im_too_shallow`)."""


def col2im_too_shallow(plan: ConvPlan) -> bool:
    """Whether ``col2im``'s GEMM is too shallow for ``auto``'s rules to run it: fewer than
    :data:`COL2IM_FEWEST_FEATURES` input features (per group) and no input dilation. Its
    GEMM is then an outer product, as deep as the input features, writing ``K·O`` columns
    per input position where ``im2col`` writes ``K·C`` (a 127-tap kernel from 1 to 32
    features: 4064 against 127). The rules, fitted on few such layers, still picked it on
    one. Measured on CPU: in the fitting sweeps (``benchmarks/results/
    cpu-2core-sweep-2026-12-01``) ``col2im`` was 2.6-85x the fastest strategy's time on
    all 33 dense layers of at most 4 input features and 9 or more taps; on a fresh
    draw's 1 -> 32 127-tap layer (seed 4001, ``r051``) the rules' ``col2im`` took 16.9x
    lax's time forward, ``banded`` (what they pick without it) 1.13x. In 30 fresh draws of
    each random suite the rule changes three other layers, all 1-d of 3 input features
    and 63 taps: 2.72x -> 0.79x lax forward, 17.0x -> 0.58x, 7.66x -> 0.78x
    (``benchmarks/results/cpu-2core-col2im-few-features``). Input-dilated plans keep it:
    there ``col2im`` skips the zeros the others multiply."""
    return plan.group_in < COL2IM_FEWEST_FEATURES and all(d == 1 for d in plan.lhs_dilation)


DIRECT_OVER_COL2IM_POSITIONS = 256
"""Fewest input positions per image on which :func:`direct_over_col2im`."""


def direct_over_col2im(plan: ConvPlan, dtype: Any) -> bool:
    """Whether ``auto`` runs ``direct`` where the rules pick ``col2im`` on ``plan`` (in the
    user's layout): float32 channels-first data on which both run as it is (``direct``'s
    fused loop along contiguous rows, :func:`primal_channels_first`: a dense kernel of two
    or more taps, unit strides, at most 8 input and 8 output features; ``col2im`` on enough
    positions, :func:`runs_channels_first`), no input dilation, and at least
    :data:`DIRECT_OVER_COL2IM_POSITIONS` input positions per image. ``col2im``'s GEMM is
    then 8 deep and writes ``K·O`` columns per position, which the loop never holds. Only
    where the convolution is not differentiated (:func:`differentiated_choice`).

    Measured on CPU (``benchmarks/results/cpu-2core-direct-over-col2im``), both forced in
    the same rounds on the NCHW layers where the rules ran ``col2im`` in the random suites
    of seeds 9001-9020: forward, ``direct`` took 0.69x ``col2im``'s time on the 18
    programs of seeds 9001-9010 the limit was chosen on (1 slower) and 0.74x on the 34 of
    seeds 9011-9020 (6 slower); below 256 positions, 0.5-2.9x. Differentiated, with its
    gradients' form (channels-last), 0.96x, but 15 of the 34 slower, by up to 1.8x: there
    ``col2im`` stays. Held out (seeds 9021-9040, every program it changes), 0.76x the time
    forward (71 programs, 59 faster, 6 slower; 0.92x -> 0.70x lax, worst 2.28x -> 1.11x)
    and 0.82x forward and backward, where the input gradients run ``direct`` (71; 1.00x ->
    0.82x lax). It follows :func:`fft_pays`, which it was measured without."""
    if dtype is not None and jax.numpy.dtype(dtype) != jax.numpy.float32:
        return False
    cf = plan._replace(channels_first=True)
    return (
        runs_channels_first(plan, "col2im")  # zero padding, channels-first data
        and primal_channels_first(cf, "direct")
        and all(d == 1 for d in plan.lhs_dilation)
        and math.prod(plan.in_spatial) >= DIRECT_OVER_COL2IM_POSITIONS
    )


def differentiated_choice(plan: ConvPlan, name: str, dtype: Any) -> str:
    """The strategy ``auto`` runs on ``plan`` (in its compute layout) where the convolution is
    differentiated, for ``name``, its choice where it is not: ``fft`` where
    :func:`differentiated_fft_pays` or :func:`differentiated_grouped_fft_pays`, ``col2im``
    where it ran ``direct`` only by :func:`direct_over_col2im` or ``winograd`` only by
    :func:`winograd_over_col2im` (whose forward gains do not hold for the forward pass and
    gradients together), the rules' choice where it ran
    ``depthwise`` that :func:`depthwise_loop_pays` may have put in place of ``taps``,
    ``direct`` that :func:`direct_over_grouped` may have put in place of ``grouped``, or a
    GEMM that :func:`_gemm_over_direct` may have put in place of ``direct`` (its gain is the
    forward pass's) or :func:`_narrow_kernel_patches` in place of ``col2im`` (the same),
    ``col2im`` where it ran ``direct`` on a single image's pointwise plan
    (:func:`differentiated_pointwise_col2im_pays`), ``name`` otherwise."""
    if name == "direct" and differentiated_pointwise_col2im_pays(plan):
        return "col2im"
    user = plan._replace(channels_first=False)
    if name != "fft" and not patches_pay(user):
        if differentiated_fft_pays(user, dtype) or differentiated_grouped_fft_pays(user, dtype):
            return "fft"
    gemm = name == "im2col" and (
        _gemm_over_direct(user, "direct", bool) == name or narrow_patches_pay(user)
    )
    if (
        (name == "depthwise" and depthwise_loop_pays(plan))
        or (name == "direct" and direct_over_grouped(plan))
        or gemm
    ):
        # what the rules pick (depthwise's own taps stay: faster differentiated)
        return choose(user, dtype, decide_layout=True, differentiated=True)
    forward_only = (name == "direct" and direct_over_col2im(user, dtype)) or (
        name == "winograd" and winograd_over_col2im(user)
    )
    if not forward_only:
        return name
    # col2im runs this plan's layout too (direct_over_col2im, winograd_over_col2im); any
    # other choice might not.
    return (
        "col2im"
        if choose(user, dtype, decide_layout=True, differentiated=True) == "col2im"
        else name
    )


def differentiated_pointwise_col2im_pays(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``col2im`` where it would run ``direct`` on a differentiated
    single image's dense pointwise (one tap, unit strides) ``plan``: on features-first data
    that ``col2im`` computes as it is (:func:`runs_channels_first`), one ``(O, C) @ (C, S)``
    GEMM, where ``direct`` moves the features last and back around the layer and its
    gradients. :func:`pointwise_col2im_pays` covers batches of images, forward too; forward
    alone on one image, ``col2im`` gained nothing (0.933x, 7 of 30 slower by over 10 %).

    Measured on CPU, forward and backward, with lax in the same rounds
    (``benchmarks/results/cpu-2core-pointwise-one-image``). Forced on the random suites'
    NCHW single-image pointwise layers (seeds 9864-9869), ``col2im`` took 0.819x the time
    of ``auto``'s ``direct`` (19 programs, 3 slower by over 10 %) and 1.134x that of its
    ``im2col`` and ``taps`` (20, none faster): hence ``direct`` only. Held out (seeds
    9870-9877, the 21 programs it changes), 0.761x the time, 16 faster by over 10 % and 2
    slower (an 8 -> 32 layer on 224x224, 1.15x; a 3-d 3 -> 16 one, 1.30x); ``auto``/lax
    0.634 -> 0.483, compiled temp 216 -> 151 MiB in all."""
    return (
        plan.batch == 1
        and plan.taps == 1
        and all(st == 1 for st in plan.strides)
        and _strategies._ungrouped(plan)
        and _strategies._undilated(plan)
        and runs_channels_first(plan, "col2im")
    )


FFT_DIFFERENTIATED, FFT_DIFFERENTIATED_OUTPUTS = 1.0, 8
"""Fewest direct multiply-adds per unit of :func:`jaxconv._strategies.fft_cost`, and most
output features, on which :func:`differentiated_fft_pays` holds."""


def differentiated_fft_pays(plan: ConvPlan, dtype: Any) -> bool:
    """Whether ``auto`` runs ``fft`` where the dense ``plan`` is differentiated, whatever it
    runs forward alone: float32 inputs, at most :data:`FFT_DIFFERENTIATED_OUTPUTS` output
    features, at least as many input positions as taps (on fewer, ``col2im`` scatters by
    input position and ran up to 6x faster), no input dilation, and direct multiply-adds
    at least :data:`FFT_DIFFERENTIATED` times ``fft``'s modelled cost on one or two spatial
    dims, :data:`FFT_DIFFERENTIATED_VOLUME` times on three where ``fft`` runs untiled.

    With few output features every GEMM of the kernel gradient is thin: per tap it reads
    the input and the cotangent to write ``C·O`` numbers, ``K`` passes where ``fft``'s
    kernel gradient (the transpose of its forward, :func:`jaxconv._grad._kernel_grad_fn`)
    makes a few; and ``fft``'s forward shares the input's spectrum with it.

    Measured forward and backward on CPU (2026-12-05,
    ``benchmarks/results/cpu-2core-fft-differentiated``): ``auto``, ``auto`` with its kernel
    gradient by ``fft``, and ``fft`` forced, with lax, in the same rounds, on the dense
    layers of seeds 9400-9405 of the random suites at cost ratios from 0.6 (521 programs).
    On 1-2-d layers of at most 8 outputs from a ratio of 1.0, ``fft`` took 0.623x ``auto``'s
    time (30 programs; the kernel gradient alone 0.759x); at 16 outputs 0.721x (65), on 3-d
    ones and wider layers it lost (16 -> 16 3x3x3: 1.7x). Held out against the code before,
    every program it changes: with 16 outputs (seeds 9430-9439, 150 programs) 0.702x, but
    the 88 of 9-16 outputs 0.807x, 13 slower by up to 2.39x (16 -> 16 5x5, channels-last),
    hence 8; the 62 of at most 8 outputs 0.576x. With 8 (seeds 9440-9449, 98 programs):
    0.575x the time (0.495x -> 0.285x lax), none slower than 1.09x. XLA's temp memory on
    them 0.65x (geomean; at most 1.58x, 3 -> 64 7x7 input gradients). Re-checked with a
    step whose backward pass waits for the output (2026-12-06,
    ``benchmarks/results/cpu-2core-differentiated-dependent``, 30 fresh layers where it
    holds): 0.681x the time of ``auto`` without it, none slower than 1.04x. Volumes of at
    most 8 outputs lost below a ratio of about 1 (3x3x3 kernels) and won from 1.2
    (:data:`FFT_DIFFERENTIATED_VOLUME`)."""
    volume = plan.num_spatial == 3
    threshold = FFT_DIFFERENTIATED_VOLUME if volume else FFT_DIFFERENTIATED
    return (
        _strategies._ungrouped(plan)
        and plan.out_features <= FFT_DIFFERENTIATED_OUTPUTS
        and plan.taps > 1
        and math.prod(plan.in_spatial) >= plan.taps
        and _differentiated_fft_at(plan, dtype, threshold, max_rank=3)
        and not (volume and _strategies.tiles_for("fft", plan, dtype) > 1)
    )


FFT_DIFFERENTIATED_VOLUME = 1.2
""":data:`FFT_DIFFERENTIATED` on volumes (three spatial dims), where ``fft`` also runs
untiled (its modelled temp memory within the output, the padded input and
:data:`jaxconv._strategies.TILE_SLACK_BYTES`).

Measured forward and backward on CPU (2026-12-07, ``benchmarks/results/
cpu-2core-fft-differentiated-volumes``), ``auto`` with and without it in the same rounds
on dense 3-d layers of at most 8 outputs whose choice it changes. Swept from a ratio of
0.4 (80 layers): from 1.2, 0.547x the time on 27, none slower by 10 %; below, 3x3x3
kernels on 8-48 features lost up to 3x. Held out at 1.2: 0.624x on 24 fresh layers and
0.609x on 24 more, 2 slower (1.49x, 1.29x), both among the 7 where ``fft`` runs tiled
(0.82x and 1.12x there, at up to twice the temp memory), hence untiled: 0.591x and
0.558x on the other 20 and 21, none slower. With both conditions, on a third draw: 0.483x
the time on 24 fresh layers, none slower; XLA's temp memory on the 72 held-out programs
1.01x the code before's (geomean; at most 1.59x), none past the memory bound by more than
:data:`jaxconv._strategies.TILE_SLACK_BYTES`."""


def _differentiated_fft_at(plan: ConvPlan, dtype: Any, threshold: float, max_rank: int = 2) -> bool:
    """What :func:`differentiated_fft_pays` and :func:`differentiated_grouped_fft_pays`
    share: float32 inputs ``fft`` accepts, at most ``max_rank`` spatial dims, no input
    dilation, and direct multiply-adds at least ``threshold`` times ``fft``'s modelled
    cost."""
    if dtype is None or jax.numpy.dtype(dtype) != jax.numpy.float32:
        return False
    plan = plan._replace(channels_first=False)
    return (
        plan.num_spatial <= max_rank
        and _strategies._undilated(plan)
        and _strategies.feasible("fft", plan, dtype)
        and _fft_pays_at(plan, threshold)
    )


FFT_DIFFERENTIATED_GROUPED, FFT_DIFFERENTIATED_GROUP_IN = 0.63, (5, 12)
"""Fewest direct multiply-adds per unit of :func:`jaxconv._strategies.fft_cost`, and the
fewest and most input features per group, on which :func:`differentiated_grouped_fft_pays`
holds."""


def differentiated_grouped_fft_pays(plan: ConvPlan, dtype: Any) -> bool:
    """Whether ``auto`` runs ``fft`` where the grouped (not depthwise) ``plan`` is
    differentiated, whatever it runs forward alone: float32 inputs, one or two spatial
    dims, :data:`FFT_DIFFERENTIATED_GROUP_IN` input features per group and at most twice
    as many out, unit strides, no input dilation, and direct multiply-adds at least
    :data:`FFT_DIFFERENTIATED_GROUPED` times ``fft``'s modelled cost.

    Forward alone, ``fft`` pays against the groups' GEMMs only from 1.1 (5-8 deep) or 2.5
    (deeper) (:func:`fft_pays`); differentiated it pays earlier, as on dense layers of few
    outputs (:func:`differentiated_fft_pays`): the kernel gradient of groups this shallow
    is a thin GEMM per tap, where ``fft``'s transpose shares the input's spectrum with
    its forward pass.

    Measured forward and backward on CPU (2026-12-07, ``benchmarks/results/
    cpu-2core-fft-differentiated-grouped``). In sample, on the stored draws of every
    strategy: ``fft`` took 0.647x ``auto``'s time on the 13 grouped programs where this
    holds (none slower); with groups up to 16 deep, 0.772x on 21, the 16-deep ones 1.03x
    (4 slower, up to 1.44x), hence 12. Held out, fresh layers whose differentiated choice
    it changes against the code before in the same rounds: 0.693x the time on 20 (3
    slower, at most 1.19x) and 0.641x on 16 more (2 slower: a 3x3 layer 1.49x, a dilated
    7-tap 1-d one 1.38x); XLA's temp memory 0.89x (geomean of the 36; at most 1.46x)."""
    lo, hi = FFT_DIFFERENTIATED_GROUP_IN
    return (
        plan.feature_groups > 1
        and not plan.is_depthwise
        and lo <= plan.group_in <= hi
        and plan.out_features // plan.feature_groups <= 2 * plan.group_in
        and all(s == 1 for s in plan.strides)
        and _differentiated_fft_at(plan, dtype, FFT_DIFFERENTIATED_GROUPED)
    )


STACKED_COL2IM_OVER = ("rows", "banded", "taps")
"""The fitted rules' picks that ``auto`` replaces by ``col2im`` where it stacks the last
dim's taps (:func:`stacked_col2im_pays`). The rules were fitted before ``col2im`` stacked
them; it is ``rows``' idea without the slices copied per tap, and ``banded``'s without the
band's zeros."""

STACKED_COL2IM_FEATURES = 8
"""Fewest input features on which :func:`stacked_col2im_pays`."""

WINOGRAD_COL2IM_FEATURES = 16
"""Most input features on which ``auto`` runs ``col2im`` where the rules pick ``winograd``
and :func:`stacked_col2im_pays`. Winograd's 16 GEMMs are as deep as the input features: on
16 they run far from peak, and the stacked ``col2im`` (one GEMM of ``3·O`` columns per
row tap) is faster. Measured on CPU (``benchmarks/results/cpu-2core-winograd-col2im``),
both forced in the same rounds on the layers the rules ran as ``winograd`` in four fresh
draws: ``col2im`` took 0.725x winograd's time forward on 16 input features (11 programs,
each 0.63-0.82x), 0.994x on 32 (10), 1.16x on 64 and 1.05x on 96-256 (30)."""


def stacked_col2im_pays(plan: ConvPlan) -> bool:
    """Whether ``col2im`` (``plan`` in the layout it would run in) stacks the last dim's taps
    of channels-last data on at least :data:`STACKED_COL2IM_FEATURES` input features: where
    ``auto`` runs it instead of :data:`STACKED_COL2IM_OVER`. Measured on CPU
    (``benchmarks/results/cpu-2core-col2im-rows``, the layers the rules ran as those):
    0.621x their time forward on three in four (34), 0.588x on the held-out quarter (8);
    on a fresh draw's changed programs 0.736x forward, 0.878x forward+backward (since
    ``col2im`` takes window strides, on strided plans too: three programs of two fresh
    draws, 0.702x and 0.827x). On channels-first data, with the transposes, 0.92x in the
    sweep but 1.07x forward on the fresh draw: not there."""
    return (
        not plan.features_first
        and plan.in_features >= STACKED_COL2IM_FEATURES
        and _strategies.stacks_rows(plan)
    )


STRIDED_COL2IM_FEATURES = (12, 64)
"""Fewest and most input features on which :func:`strided_col2im_pays` at any width."""

STRIDED_COL2IM_NARROWING, STRIDED_COL2IM_KERNEL_SHARE = 2, 10
"""Past :data:`STRIDED_COL2IM_FEATURES`, :func:`strided_col2im_pays` on 2-d plans into at
most ``1 / STRIDED_COL2IM_NARROWING`` as many output features as input ones, whose input
positions (batch included) are at least ``1 / STRIDED_COL2IM_KERNEL_SHARE`` of the
kernel's rows (taps times input features)."""


BAND_COL2IM_OUTPUTS, BAND_COL2IM_POSITIONS = 8, 4096
"""Most output features and fewest input positions per image on which
:func:`col2im_over_band` holds."""


def col2im_over_band(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``col2im`` where the rules pick ``banded`` on ``plan`` (in the
    user's layout): channels-first data on which ``col2im`` runs as it is
    (:func:`runs_channels_first`) with at most :data:`COL2IM_CHANNELS_FIRST_TAPS` taps, a
    dense kernel, no window strides or input dilation, at least
    :data:`COL2IM_FEWEST_FEATURES` input and at most :data:`BAND_COL2IM_OUTPUTS` output
    features, and at least :data:`BAND_COL2IM_POSITIONS` input positions per image.
    ``banded`` moves the features last and back around GEMMs whose band of ``b`` kernel
    copies is mostly zeros; ``col2im``'s GEMM over the positions writes only ``K·O``
    columns, few here.

    Measured on CPU (``benchmarks/results/cpu-2core-col2im-over-band``), both forced in the
    same rounds on the 167 NCHW unit-stride programs where ``auto`` ran ``banded`` in seeds
    8700-8707 of the random suites: on the 14 this rule takes, ``col2im`` took 0.766x
    ``banded``'s time forward (0.77x -> 0.59x lax) and 0.924x forward and backward, none
    slower by over 3 %; on 8 -> 16 and 8 -> 64 layers ``banded`` was up to 1.75x faster.
    Held out (seeds 8715-8744, the 36 layers whose choice it changes, against the code
    before with ``auto``): forward 0.820x the time (0.98x -> 0.80x lax), forward and
    backward 0.847x (0.64x -> 0.54x); one 8 -> 8 3x3 layer on 2x113x91 ran 1.3x slower."""
    return (
        runs_channels_first(plan, "col2im")  # channels-first data
        and plan.taps <= COL2IM_CHANNELS_FIRST_TAPS
        and _narrow_band(plan)
        and math.prod(plan.in_spatial) >= BAND_COL2IM_POSITIONS
    )


def _narrow_band(plan: ConvPlan) -> bool:
    """A dense plan of unit strides, no input dilation, at least
    :data:`COL2IM_FEWEST_FEATURES` input and at most :data:`BAND_COL2IM_OUTPUTS` output
    features: where :func:`col2im_over_band` and :func:`volume_col2im_over_band` may hold."""
    return (
        all(st == 1 for st in plan.strides)
        and _strategies._undilated(plan)
        and _strategies._ungrouped(plan)
        and not col2im_too_shallow(plan)
        and plan.out_features <= BAND_COL2IM_OUTPUTS
    )


VOLUME_COL2IM_TAPS = 27
"""Most taps (a 3x3x3 kernel) on which :func:`volume_col2im_over_band`."""


def volume_col2im_over_band(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``col2im`` where the rules pick ``banded`` on a channels-first
    3-d ``plan`` (in the user's layout) that :func:`col2im_over_band` leaves: zero padding,
    a dense kernel of at most :data:`VOLUME_COL2IM_TAPS` taps, unit strides, no dilation,
    at least :data:`COL2IM_FEWEST_FEATURES` input and at most :data:`BAND_COL2IM_OUTPUTS`
    output features. ``col2im`` then stacks rows channels-last, transposes and all; the
    band's GEMMs are as narrow, and mostly zeros.

    Measured on CPU (``benchmarks/results/cpu-2core-volume-col2im``). In the stored
    all-strategy draws, on the 5 forward programs of 3x3x3 8 -> 8 NCDHW layers where
    ``auto`` ran ``banded``, ``col2im`` took 0.53-0.86x its time (0.69x geomean; on 8 -> 12,
    8 -> 16 and 8 -> 24 layers and 5x5x5 kernels ``banded`` was up to 4.5x the faster).
    Held out against the code before in the same rounds, fresh layers whose choice it
    changes (all 3x3x3 into 4-8 features): forward 0.637x the time (16 layers, seed 7842;
    0.175x -> 0.111x lax, 1 slower, 1.12x), forward and backward 0.860x (10, seed 7843,
    none slower)."""
    return (
        plan.features_first
        and plan.num_spatial == 3
        and plan.padding_mode == "zeros"
        and plan.taps <= VOLUME_COL2IM_TAPS
        and all(d == 1 for d in plan.rhs_dilation)
        and _narrow_band(plan)
    )


POINTWISE_COL2IM_OVER = ("rows", "direct", "taps", "im2col")
"""The fitted rules' picks that ``auto`` replaces by ``col2im`` where
:func:`pointwise_col2im_pays`."""


def pointwise_col2im_pays(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``col2im`` on ``plan`` (in the user's layout) whatever the rules
    pick: a dense pointwise (one-tap) plan without input dilation on which ``col2im`` runs
    channels-first and multiplies each image on its own
    (:func:`jaxconv._strategies.col2im_per_image`): one ``(O, C) @ (C, S)`` GEMM per image
    on the data as it is, where ``rows`` and ``im2col`` move the features last and back and
    ``direct``'s loop runs far from the GEMM's peak.

    Measured on CPU (``benchmarks/results/cpu-2core-pointwise-col2im``), both forced in the
    same rounds on the 165 NCHW pointwise programs of seeds 8750-8755 of the random suites
    where ``auto`` ran another strategy: on the 42 this rule takes (20 ``rows``, 18
    ``direct``, 4 ``taps``), ``col2im`` took 0.549x the time forward (0.59x -> 0.32x lax),
    none slower, and 0.814x forward and backward (one 1.26x). Held out (seeds 8770-8789,
    the 150 layers whose choice it changes, against the code before with ``auto``): forward
    0.580x the time (0.50x -> 0.29x lax), forward and backward 0.749x (0.57x -> 0.43x);
    re-timed, one 8 -> 32 layer's input gradient stays 1.6x slower forward and backward."""
    # col2im_per_image holds only where col2im runs channels-first (in_layout).
    return (
        plan.taps == 1
        and _strategies._ungrouped(plan)
        and _strategies._undilated(plan)
        and _strategies.col2im_per_image(in_layout(plan, "col2im"))
    )


def strided_col2im_pays(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``col2im`` on a strided plan whatever the rules pick: a dense
    kernel of at least two taps, :data:`STRIDED_COL2IM_FEATURES` input features and no
    more output features than input ones, in either layout. ``col2im`` then multiplies each
    input phase with the taps it meets (``_strategies._col2im_strided``), one GEMM of
    ``K·O / prod(strides)`` columns per phase, where the rules (fitted before it took
    strides) pick ``rows``, ``im2col`` or ``banded``. Measured on CPU
    (``benchmarks/results/cpu-2core-strided-col2im``): on the strided dense layers of three
    draws, every strategy timed forward, the regret against the fastest fell from 1.107 /
    1.125 / 1.125 to 1.086 / 1.107 / 1.107 on channels-last data; on two fresh draws the 14
    programs it changes took 0.868x the time forward and 0.954x forward and backward
    (geometric means; 1.16x -> 1.01x lax forward). On channels-first data it first gained
    nothing (23 programs, 1.00x); after ``col2im``'s channels-first form improved, every
    strategy forced on such layers of four draws (``cpu-2core-strided-col2im-nchw``) showed
    ``col2im`` at 0.778x the rules' time on the 58 programs it changes (1.19x -> 0.92x lax);
    held out on 30 layers of sixteen more draws, 0.814x forward (1.09x -> 0.89x lax) and
    0.901x forward and backward.

    Past 64 input features it holds on 2-d plans that narrow at least twofold
    (:data:`STRIDED_COL2IM_NARROWING`) and whose input is not small against the kernel
    (:data:`STRIDED_COL2IM_KERNEL_SHARE`): there the rules' ``rows`` or ``im2col`` copy
    each input once per tap for GEMMs of few columns. Where the kernel outweighs the
    positions (deep layers on small maps), ``col2im``'s product of ``K·O`` columns per
    position and its copy of the kernel lost up to 3.3x
    (``benchmarks/results/cpu-2core-strided-narrowing``). Measured on CPU
    (``benchmarks/results/cpu-2core-strided-deep``): on 44 strided 2-d layers of 96-1024
    input features of two sweeps that it takes, ``col2im`` took 0.604x ``auto``'s time
    forward (6 slower by over 10 %, at most 1.51x); held out on 40 fresh layers whose
    choice it changes, 0.664x forward (1.06x -> 0.70x lax; 11 slower, at most 1.95x) and
    0.849x forward and backward."""
    lo, hi = STRIDED_COL2IM_FEATURES
    c, o = plan.in_features, plan.out_features
    deep = (
        plan.num_spatial == 2
        and c > hi
        and o * STRIDED_COL2IM_NARROWING <= c
        and plan.batch * math.prod(plan.in_spatial) * STRIDED_COL2IM_KERNEL_SHARE >= plan.taps * c
    )
    return (
        any(s > 1 for s in plan.strides)
        and all(d == 1 for d in plan.lhs_dilation)
        and plan.feature_groups == plan.batch_groups == 1
        and plan.taps >= 2
        and (lo <= c <= hi and o <= c or deep)
    )


FFT_PAYS_GEMM = 2.5
"""``fft`` runs where the direct algorithm's multiply-adds are at least this many times
:func:`jaxconv._strategies.fft_cost` and ``auto`` would otherwise run them as GEMMs.
Measured on CPU (``benchmarks/fft_crossover.py``, the table in docs/performance.md):
``fft`` wins from a ratio of 2.1-3.5 on 2-d kernels (11x11 on 16 features) and of 0.9-1.7
on 1-d ones (15 taps); the rule takes the safe side of both."""

FFT_PAYS_FUSED = 0.58
"""The same where ``auto`` would run a fused multiply-accumulate loop (``depthwise``,
``direct``), whose multiply-adds cost several times a GEMM's. Fitted on random layers
(``benchmarks/fft_sweep.py``, ``benchmarks/results/cpu-2core-fft-sweep``: 113 convolutions
of two draws, regret least from 0.54 to 0.58); on 95 of two other draws the forward's
regret against the faster of ``fft`` and the fused loop fell from 1.101 (p90 1.464) with
the grid's 0.75 to 1.086 (p90 1.273)."""


FFT_PAYS_CHANNELS_FIRST_DIRECT = 1.2
"""The same against ``direct`` on a grouped plan of channels-first data, 2-4 features per
group (:func:`fft_pays`; deeper groups never reach it there), which took
:data:`FFT_PAYS_FUSED` before. On ``(N, C, ...)`` data ``direct``'s loop over small groups
runs near a GEMM's speed, and the rules pick ``direct`` there only below a cost ratio of
about 1.2 (beyond, ``grouped``).  Measured forward on CPU (2026-12-07,
``benchmarks/results/cpu-2core-fft-over-direct-groups``), both forced in the same rounds
on layers where the rules pick ``direct`` (``sweep.py``): channels-first, ``direct`` took
0.656x ``fft``'s time on the 59 of cost ratios 0.58-1.2, where ``fft`` ran (7 slower, at
most 1.23x; 1-d ones of 63 taps near 1.1 were the closest); channels-last ``fft`` won
there (1.36x, 13 layers), so those keep the old threshold. Held out on fresh
channels-first layers whose choice it changes, against the code before in the same
rounds: forward 0.425x the time (16 layers, none slower; 0.249x -> 0.106x lax) and 0.528x
(16 more, one 1.19x); forward and backward 0.851x (12, none slower)."""


FFT_PAYS_DEPTHWISE_TAPS = 0.35
"""The same against ``taps`` on a 1-d depthwise plan of fewer than
:data:`DEPTHWISE_TAPS_FEATURES` input features, where each of its passes over the output
(one per tap) is a thin multiply-add: slower than the fused loop that
:data:`FFT_PAYS_FUSED` was fitted against. Measured forward on CPU
(``benchmarks/results/cpu-2core-depthwise-loop``): on the 7 strided 1-d layers of 95 and
127 taps where the tree ran ``taps``, at ratios 0.37-0.51, ``fft`` took 0.33-0.79x its
time (on 63-tap ones at 0.25-0.29, 0.6-1.5x). A first held-out draw with no feature
bound (30 layers whose choice it changed) gave 0.33-0.55x on 4-32 features and 0.69-1.52x
on 48-256, where ``taps`` rows are wide (from 64 features they are ``taps`` by
:func:`depthwise_taps_pay`), hence the bound. Held out with it, on fresh 1-d layers of 89-229
taps at strides 2-3: forward 0.475x the time (30 layers, 1 slower, 1.13x), forward and
backward 0.634x (12, none slower)."""


FFT_PAYS_GROUPS_OF_8 = 1.1
"""The same against a GEMM of groups 5-8 features deep (:func:`fft_pays`), which took
:data:`FFT_PAYS_GEMM` before (a 255-tap layer in groups of 8 ran ``grouped`` at 1.2-2.2x
lax, ``fft`` at 0.18x). Measured on CPU (``benchmarks/results/cpu-2core-fft-groups-of-8``):
on 20 forward programs of fresh draws where :data:`FFT_PAYS_FUSED` would have run ``fft``
instead of ``grouped``, ``fft`` took 0.15-0.69x ``grouped``'s time on 5 of the 6 from a
ratio of 1.1 on and 0.59-2.84x below it. Held out (seeds 8001-8012), the programs it
changes took 0.497x the time forward (45; 0.58x -> 0.29x lax, 5 slower) and 0.381x
forward and backward (43)."""


FFT_PAYS_SHALLOW_1D, FFT_SHALLOW_FEATURES = 1.5, (12, 24)
"""The same against a GEMM strategy (``col2im``, ``im2col``) on a 1-d dense layer of 12-24
input features (``FFT_SHALLOW_FEATURES``, the measured span), which took
:data:`FFT_PAYS_GEMM` before.
``col2im``'s GEMM is then as deep as the input features, and far from peak; ``im2col``'s
patches hold ``K`` copies of each input. Measured forward on CPU
(``benchmarks/results/cpu-2core-fft-shallow-1d``): on the 1-d dense layers of the stored
all-strategy draws and of a sweep of 80 strided long kernels (seed 7801) at ratios 1.5-2.5
where ``auto`` ran a GEMM, ``fft`` took 0.701x ``col2im``'s time on 12-24 features (14
programs, one 2% slower) and 0.845x ``im2col``'s (4), but 1.127x ``col2im``'s on 32-64
(15, 11 slower); from ratio 1.0 on 12-24 features 0.84x with 7 of 21 slower, hence 1.5.
Held out against the code before on drawn layers it changes: on layers of more output
features than input ones it lost (1.124x forward, 15 of seed 7802's 40), hence
:func:`shallow_1d_gemm`'s limit; as it is, on 40 fresh layers (seed 7803) 0.656x the time
forward (1.08x -> 0.71x lax; 3 slower by 10 % or more, at most 1.71x) and 0.865x forward and
backward, XLA's forward temp memory 0.25x."""


def fft_pays(plan: ConvPlan, instead: str) -> bool:
    """Whether ``auto`` runs ``fft`` (which must accept ``plan``) rather than strategy
    ``instead``: the direct algorithm's multiply-adds (input dilation's zeros skipped, as
    ``polyphase`` does) against :func:`jaxconv._strategies.fft_cost` times
    :data:`FFT_PAYS_CHANNELS_FIRST_DIRECT` against ``direct`` on channels-first groups of
    2-4 features, :data:`FFT_PAYS_FUSED` where ``instead`` is another fused loop
    (``depthwise``, ``direct``) or any strategy's GEMM of a group at most 4 deep (as slow:
    ``fft`` wins 7x7 and 13x13 kernels on 2 and 4 features per group, 0.65 -> 0.08 of lax),
    :data:`FFT_PAYS_GROUPS_OF_8` where it is 5-8 deep, :data:`FFT_PAYS_SHALLOW_1D` against a
    GEMM of a shallow 1-d dense layer (:func:`shallow_1d_gemm`), :data:`FFT_PAYS_GEMM`
    otherwise. A measured override after the fitted rules, which were fitted before ``fft``
    existed and never name it."""
    # Any GEMM of a group at most 4 deep is as slow as a fused loop (taps on a depthwise
    # layer in NCW: 1.12x lax forward+backward, fft 0.04x, 255 taps).
    grouped = plan.feature_groups > 1
    # A dense layer's fused loop runs few products per output (the rules give it at most
    # K·C = 64): as fast for them as a GEMM (FFT_PAYS_FUSED's sweep: on all 60 dense layers
    # run `direct`, ratios 0.2-0.53, fft took 1.1-11x its time).
    fused = instead == "depthwise" or (instead == "direct" and grouped)
    if instead == "taps" and _thin_depthwise_taps(plan):
        threshold = FFT_PAYS_DEPTHWISE_TAPS
    elif instead == "direct" and grouped and plan.features_first and plan.group_in > 1:
        threshold = FFT_PAYS_CHANNELS_FIRST_DIRECT
    elif fused or (grouped and plan.group_in <= 4):
        threshold = FFT_PAYS_FUSED
    elif grouped and plan.group_in <= 8:
        threshold = FFT_PAYS_GROUPS_OF_8  # nearly as slow: groups 5-8 deep
    elif shallow_1d_gemm(plan, instead):
        threshold = FFT_PAYS_SHALLOW_1D
    else:
        threshold = FFT_PAYS_GEMM
    return _fft_pays_at(plan, threshold)


def shallow_1d_gemm(plan: ConvPlan, instead: str) -> bool:
    """Whether ``instead`` is a GEMM strategy (``col2im``, ``im2col``) on a 1-d dense
    ``plan`` of :data:`FFT_SHALLOW_FEATURES` input features and no more output features:
    where :func:`fft_pays` takes :data:`FFT_PAYS_SHALLOW_1D`."""
    lo, hi = FFT_SHALLOW_FEATURES
    return (
        instead in ("col2im", "im2col")
        and plan.num_spatial == 1
        and plan.feature_groups == 1
        and lo <= plan.in_features <= hi
        and plan.out_features <= plan.in_features
    )


def _fft_pays_at(plan: ConvPlan, threshold: float) -> bool:
    """Whether the direct algorithm's multiply-adds on ``plan`` (channels-last; input
    dilation's zeros skipped, as ``polyphase`` does) are at least ``threshold`` times
    :func:`jaxconv._strategies.fft_cost`."""
    plan = plan._replace(channels_first=False)
    direct = plan.flops / 2 / int(np.prod(plan.lhs_dilation))
    return direct >= threshold * _strategies.fft_cost(plan, _strategies.fft_blocks(plan))


FFT_KERNEL_GRAD = 0.2
"""Fewest direct multiply-adds per unit of :func:`jaxconv._strategies.fft_cost` on which the
kernel gradient of a depthwise or small-group layer runs by ``fft``
(:func:`fft_kernel_grad_pays`). Measured on CPU (``benchmarks/results/
cpu-2core-fft-kernel-grad``), forward+backward against the per-tap kernel gradient in the
same rounds, on layers of groups 1-4 deep drawn like networks': fitted on 40 (seed 7101;
geomean 0.77x from 0.08 to 0.2, the losses all below 0.2: the safe side), the 17 it
changes took 0.546x the time, none slower; held out (seed 7201, 30 layers), the 13 it
changes 0.483x (two 11x11 depthwise layers 1.12x and 1.28x), all 30 0.729x. XLA's
temp memory grew 1.3x on them (geomean; at most 2.4x, a 3x3x3 layer at the threshold).
Re-checked with a step whose backward pass waits for the output (2026-12-06,
``benchmarks/results/cpu-2core-differentiated-dependent``, 30 fresh layers where it
holds): 0.550x the time of ``auto`` without it, 7 slower by 1.05-1.34x."""


FFT_KERNEL_GRAD_DEPTH = 4
"""Most input features per group on which :func:`fft_kernel_grad_pays` holds. Deeper, the
per-tap gradient is a GEMM per tap and fast: measured as for :data:`FFT_KERNEL_GRAD`
(seed 7301, groups 8 and 16 deep, cost ratios 0.2-2.2), the FFT kernel gradient took
1.28x the time on groups of 8 (9 programs) and 2.31x on groups of 16 (11); on the draws
above, 0.50-0.53x on 1-2 features per group, 0.85x on 4 (2)."""


def fft_kernel_grad_pays(plan: ConvPlan, dtype: Any = None) -> bool:
    """Whether the kernel gradient of ``plan`` (on inputs of ``dtype``) runs by ``fft``
    (the transpose of its forward) whatever ran the forward: real floating inputs, a layer
    of groups at most :data:`FFT_KERNEL_GRAD_DEPTH` features deep (depthwise included),
    without input dilation, whose direct multiply-adds are at least
    :data:`FFT_KERNEL_GRAD` times ``fft``'s modelled cost. Its per-tap kernel gradient
    reads the input and the cotangent once per tap to reduce them to a few numbers each:
    ``K`` passes, where ``fft`` makes a few."""
    plan = plan._replace(channels_first=False)
    if not (
        plan.feature_groups > 1
        and plan.group_in <= FFT_KERNEL_GRAD_DEPTH
        and all(d == 1 for d in plan.lhs_dilation)
        and _strategies.accepts("fft", plan, dtype)  # real floats: fft transforms them
    ):
        return False
    return _fft_pays_at(plan, FFT_KERNEL_GRAD)


FFT_PAYS_COL2IM = 1.2
"""Where ``fft`` pays (:func:`fft_pays`) on a stride-1 plan with fewer input positions than
taps, ``auto`` runs ``col2im`` instead while its GEMM's multiply-adds (every input position
times every tap, scattered per position: :func:`jaxconv._strategies.col2im_by_input`) are
fewer than this many times :func:`jaxconv._strategies.fft_cost`: the direct count there is
mostly the zeros of a long kernel's padding. Measured forward on CPU
(``benchmarks/results/cpu-2core-long-kernels``): on the 16 programs of random layers of
seeds 1000-1018 where ``auto`` ran ``fft``, ``col2im`` took 0.01-0.72x ``fft``'s time at
ratios up to 1.06, 1.4x at 2.0 (1.5 was tried first; a held-out layer at 1.36 lost 1.9x);
on held-out seeds 2000-2029 and 3000-3020 the 32 programs this changes fell from 2.73x lax
in geometric mean (0.13-173x) to 0.18x (0.013-1.55x), none slower."""


def col2im_by_input_pays(plan: ConvPlan) -> bool:
    """Whether ``auto`` runs ``col2im`` where :func:`fft_pays` (see :data:`FFT_PAYS_COL2IM`)."""
    plan = plan._replace(channels_first=False)
    if not _strategies.col2im_by_input(plan):
        return False
    products = math.prod(
        (plan.batch, *plan.in_spatial, plan.taps, plan.in_features, plan.out_features)
    )
    return products < FFT_PAYS_COL2IM * _strategies.fft_cost(plan, _strategies.fft_blocks(plan))


def decide(
    plan: ConvPlan, strategy: Any, dtype: Any = None, *, input_gradient: bool = False
) -> tuple[str, ConvPlan]:
    """The strategy that computes ``plan`` (in the user's layout) and the plan in the layout
    it runs in: a named ``strategy`` as given, ``'auto'``'s choice for ``'auto'`` and for
    ``'tune'`` (whose choice is made when lowering; this is its fallback); with
    ``input_gradient``, ``plan`` is a layer's input gradient (see :func:`choose`)."""
    if strategy not in NAMES:
        raise ValueError(f"`strategy` must be one of {NAMES}, got {strategy!r}.")
    if strategy in ("auto", "tune"):
        name = choose(plan, dtype, decide_layout=True, input_gradient=input_gradient)
    elif _strategies.accepts(strategy, plan, dtype):
        name = strategy
    elif not _strategies.accepts(strategy, plan):
        raise ValueError(
            f"`strategy={strategy!r}` cannot compute this convolution (feature groups "
            f"{plan.feature_groups}, batch groups {plan.batch_groups}, input features "
            f"{plan.in_features}); use 'auto' or another of {NAMES}."
        )
    else:
        raise ValueError(
            f"`strategy={strategy!r}` cannot compute this convolution on "
            f"{jax.numpy.dtype(dtype).name} inputs (`fft` takes floating-point inputs only, "
            "`winograd` integers whose sums stay below 2**29 in 32 bits); use 'auto' or another "
            f"of {NAMES}."
        )
    return name, in_layout(plan, name)


def chosen(plan: ConvPlan, strategy: str, dtype: Any) -> str:
    """The strategy :func:`decide` runs, or for ``'tune'`` the one tuned for the default
    device (measured now if the cache has none, as the first program would)."""
    name, plan = decide(plan, strategy, dtype)
    if strategy == "tune" and not plan.is_empty:
        return _tune.tuned_choice(plan, dtype, jax.devices()[0], choose)
    return name


def lean_choice(plan: ConvPlan, dtype: Any) -> str:
    """The accepted strategy whose memory model holds the least temporary memory on
    ``plan`` (``scan``, one tap at a time, unless another holds as little), ``auto``'s
    choice on a tie, then ``scan``. The ``'lean'`` policy, internal: a spatially sharded
    convolution's shards, forward and gradients, are convolutions too large for one
    device, where memory comes first."""
    name = choose(plan, dtype)
    itemsize = np.dtype(dtype).itemsize
    feasible = [n for n in _strategies.STRATEGIES if _strategies.feasible(n, plan, dtype)]
    return min(
        feasible,
        # ties keep auto's choice, then scan's
        key=lambda n: (_strategies.temp_estimate(n, plan, itemsize), n != name, n != "scan"),
    )


def run(policy: str, name: str, x: jax.Array, w: jax.Array, plan: ConvPlan) -> jax.Array:
    """Strategy ``name`` on the canonical arrays of the non-empty ``plan``; with ``policy``
    ``'tune'``, the strategy measured fastest on the device the program is lowered for
    (``name``, auto's choice, where none can be measured)."""
    if policy == "tune":
        return _tune.tuned_conv(x, w, _tune.Tuned(plan, name, choose))
    return _strategies.run(name, x, w, plan, choose)


# ---------------------------------------------------------------------------------------
# The hand-written rules


def hand_choice(plan: ConvPlan) -> str:
    """The hand-written rules that ``auto`` ran before it was fitted on measurements (see
    :mod:`jaxconv._rules`); now only where no fitted rule applies."""
    accepts = _strategies.accepts
    if plan.channels_first:
        return channels_first_choice(plan) or ("depthwise" if plan.is_depthwise else "direct")
    if any(d > 1 for d in plan.lhs_dilation):
        # Measured on CPU (--suite transposed): one wide GEMM and a scatter win when taps
        # barely overlap or the output is thin; polyphase when many taps overlap.
        phases = int(np.prod(plan.lhs_dilation))
        if accepts("col2im", plan) and (plan.taps <= 3 * phases or plan.out_features < 32):
            return "col2im"
        return "polyphase"
    if plan.is_depthwise:
        return "depthwise"
    if plan.feature_groups > 1 and plan.batch_groups == 1:
        # Measured on CPU (python -m jaxconv bench --suite grouped): the fused
        # multiply-accumulate wins while groups have at most 8 input features.
        return "direct" if plan.group_in <= 8 else "grouped"
    # Dense, measured on CPU (python -m jaxconv bench --suite resnet50,deepbench
    # --strategy NAME): with at most 4 input features and more than 32 products per output,
    # the banded GEMM beats both the fused multiply-accumulate and any per-tap GEMM
    # (DeepSpeech 5x20/2 on one feature: 1.5-2.4 -> 0.9-1.0x lax; the 7x7/2 stem: 1.2-1.6
    # -> 1.0-1.1x); with a handful of products (K·C <= 32) the fused multiply-accumulate
    # ties with it or beats any GEMM, and needs no buffers; from 32 input features on, K
    # GEMMs on the taps beat gathering them into one patch array, and from 16 patches
    # along the last dim only (rows) do.
    if plan.group_in <= 4 and plan.taps * plan.group_in > 32 and accepts("banded", plan):
        return "banded"
    if plan.batch_groups == 1 and plan.taps * plan.group_in <= 32:
        return "direct"
    if accepts("winograd", plan) and _winograd_pays(plan):
        return "winograd"
    if accepts("col2im", plan) and plan.out_features < 8 and max(plan.strides) == 1:
        # A thin output (the input gradient of a layer with few input features): K GEMMs
        # with < 8 columns are matrix-vector products; one GEMM with K·O columns is not.
        # (Measured before col2im took window strides.)
        return "col2im"
    if plan.group_in >= 16:
        # From 32 features on, rows only where the output is much wider than the input (the
        # input gradient of a layer that narrows, 192 -> 32): K products of the output's
        # size then cost more than the taps, and rows' kh deeper GEMMs write kw times fewer.
        wide = plan.out_features > 2 * plan.group_in
        return "rows" if (plan.group_in < 32 or wide) and accepts("rows", plan) else "taps"
    if accepts("space_to_depth", plan):
        # Few features and a large strided kernel (the 7x7/2 stem): blocks of the input
        # make the taps contiguous; worth it while the kernel's zero padding adds <= 1/3.
        if _strategies.space_to_depth_taps(plan) <= 4 / 3 * plan.taps:
            return "space_to_depth"
    return "im2col"


def channels_first_choice(plan: ConvPlan) -> str | None:
    """The strategy ``'auto'`` runs on ``plan`` in ``(N, C, *spatial)``, where that beats
    moving the features last (``None`` elsewhere): Winograd where it pays, and depthwise
    and small-group layers (at most 8 input and 8 output features per group, so that the
    input gradient is one too), whose fused loop then runs along contiguous rows."""
    plan = plan._replace(channels_first=True)
    if _strategies.accepts("winograd", plan) and _winograd_pays(plan):
        return "winograd"
    g = plan.feature_groups
    if g > 1 and plan.batch_groups == 1 and plan.group_in <= 8 and plan.out_features // g <= 8:
        return "depthwise" if plan.is_depthwise else "direct"
    return None


def _winograd_pays(plan: ConvPlan) -> bool:
    """Measured on CPU (the suites' 3x3 layers, forward and backward): Winograd wins by
    1.1-1.7x where the tiles outweigh the kernel (its 16 GEMMs read a kernel 16/9 as large
    and have 4 times fewer rows), with GEMMs at least 16 deep and wide. Data whose
    features come first runs it channels-first (:func:`channels_first_choice`): moved
    features-last, the layout transposes fuse into its strided tile transforms and it
    loses to ``taps``."""
    c, o = plan.in_features, plan.out_features
    tiles = winograd_tiles(plan)
    dn = plan.dn
    features_last = dn.lhs_spec[1] > max(dn.lhs_spec[2:]) and dn.out_spec[1] > max(dn.out_spec[2:])
    layout_ok = plan.channels_first or features_last
    return layout_ok and min(c, o) >= WINOGRAD_GEMM_FEATURES and c * o <= tiles * (c + o) / 2


WINOGRAD_GEMM_FEATURES = 16
"""Fewest input and output features (the depth and width of Winograd's 16 GEMMs) on which
``auto`` runs ``winograd`` (:func:`_winograd_pays`, :func:`winograd_over_col2im`):
narrower GEMMs run far from peak."""


def winograd_tiles(plan: ConvPlan) -> int:
    """Winograd's 2x2 output tiles over the batch: the rows of each of its 16 GEMMs."""
    return plan.batch * math.prod(-(-s // 2) for s in plan.out_spatial)
