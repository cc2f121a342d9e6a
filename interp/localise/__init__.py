"""Where a student loses its teacher's robustness, located from the teacher's side.

One module per job: `streams` (residual streams of a model on a set of examples), `similarity`
(linear CKA and ridge maps between two models' streams), `stitching` (the student run from one
of its layers on the teacher's mapped stream, and the robustness it recovers), `probing`
(linear probes for the label at every layer, against a shuffled-label control), `locate` (the
whole localisation of one teacher-student comparison, with its seed baselines and verdicts).
Every measure is defined whether or not the student has a circuit of its own, and for any
depths and widths.
"""

from interp.localise.locate import LocaliseModels, localise

__all__ = ["LocaliseModels", "localise"]
