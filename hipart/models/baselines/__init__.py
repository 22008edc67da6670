"""Competing methods written in this codebase, on the same data and metrics (docs/design.md, "Baselines").

Importing this package registers every method in :data:`METHODS`; adding a method is one new module here plus its
import below.
"""

from hipart.models.baselines import densify_gcn, densify_oneshot, diffpose, mixste  # noqa: E402  (registers)
from hipart.models.baselines.registry import (
                                              METHODS,
                                              Context,
                                              Method,
                                              SplitData,
                                              checkpoint_kind,
                                              get_method,
                                              method_settings,
                                              reads_confidence,
                                              register,
                                              registered,
)

__all__ = ["METHODS", "Context", "Method", "SplitData", "checkpoint_kind", "get_method", "method_settings",
           "reads_confidence", "register", "registered",
           "densify_gcn", "densify_oneshot", "diffpose", "mixste"]
