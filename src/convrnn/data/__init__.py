"""Stimulus and neural data sources.

Nothing is imported here: import submodules explicitly (``from convrnn.data import stimuli``), so
that importing one source never pulls in another's heavy dependencies.

- ``stimuli``           procedural HvM-like images (V0/V3/V6), ``StimulusDataset``, ImageNet normalisation
- ``synthetic_neural``  hidden ground-truth network -> synthetic V4/IT trials, planted ceilings, I1 and OST
- ``brainscore``        real Brain-Score assemblies and stimulus sets -> the same Parquet schema
  (``brainscore_catalog``: their identifiers and checksums)
- ``imagenet``          ILSVRC2012 loader (class folders, raw ILSVRC2012, Kaggle)
- ``pretrained_catalog`` the released neuroailab/convrnns checkpoints: names, URLs, files
"""
