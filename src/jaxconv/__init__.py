"""jaxconv: convolutions for JAX written from lax primitives, for every layout."""

from ._conv import chosen_strategy as chosen_strategy
from ._conv import conv as conv
from ._conv import conv1d as conv1d
from ._conv import conv2d as conv2d
from ._conv import conv3d as conv3d
from ._conv import conv_general_dilated as conv_general_dilated
from ._conv import conv_transpose as conv_transpose
from ._doctor import LayoutGuess as LayoutGuess
from ._doctor import guess_layouts as guess_layouts
from ._explain import Explanation as Explanation
from ._explain import explain as explain
from ._explain import explain_conv_general_dilated as explain_conv_general_dilated
from ._explain import explain_conv_transpose as explain_conv_transpose
from ._layout import DimensionNumbers as DimensionNumbers
from ._layout import conv_dimension_numbers as conv_dimension_numbers
from ._layout import convert_kernel as convert_kernel
from ._layout import convert_layout as convert_layout
from ._local import conv_local as conv_local
from ._padding import PADDING_MODES as PADDING_MODES
from ._patches import extract_patches as extract_patches
from ._strategies import STRATEGIES as _STRATEGY_FUNCTIONS
from ._tune import TuneCache as TuneCache
from ._tune import tune_cache as tune_cache

STRATEGIES: tuple[str, ...] = tuple(_STRATEGY_FUNCTIONS)
"""Names of the compute strategies a ``strategy=`` argument accepts besides ``'auto'`` and
``'tune'``."""

__version__ = "0.1.0"
