"""Regression defaults shared by the solvers (torch) and the scoring and job code (kept importable without torch)."""
import numpy as np

PLS_COMPONENTS = 25                         # Brain-Score's pls_regression; the workflow sets it from neural.pls_components
DEFAULT_ALPHAS = np.logspace(-2, 8, 21)     # ridge grid searched per site (nayebi convention)
