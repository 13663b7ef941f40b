"""Our models where users already work: a Brain-Score model plugin for any model of a run (``brainscore``; its
``BrainModel`` face, which needs brainscore_vision, in ``brainscore_model``) and features of any image folder
(``images``, the ``convrnn features`` command)."""
