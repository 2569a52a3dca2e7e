"""The live views of the Training lab, one module per tab.

Every view creates its plot and image items once (``build`` when the network
changes) and afterwards only updates them in place (``setData``,
``setImage(..., autoLevels=False)``, ``setText``), so a frame costs little on
the GUI thread. The Qt-free array helpers they use are in
:mod:`gui.labs.training.arrays`.

- :mod:`.curves`: CurvesView, GradNormView (and GrowingCurve, LiveTail)
- :mod:`.maps`: ImageView, KernelMosaicView, LayerMapsView
- :mod:`.validation`: ConfusionView, MisclassifiedView
- :mod:`.probabilities`: ProbabilityView
"""

from gui.labs.training.views.curves import CurvesView, GradNormView, GrowingCurve, LiveTail
from gui.labs.training.views.maps import ImageView, KernelMosaicView, LayerMapsView
from gui.labs.training.views.probabilities import ProbabilityView
from gui.labs.training.views.validation import ConfusionView, MisclassifiedView

__all__ = ["CurvesView", "GradNormView", "GrowingCurve", "LiveTail", "ImageView",
           "KernelMosaicView", "LayerMapsView", "ProbabilityView", "ConfusionView",
           "MisclassifiedView"]
