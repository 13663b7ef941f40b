#!/usr/bin/env bash
# The Brain-Score venv that tests/test_brainscore_plugin.py runs Brain-Score's own code in (default .venv-brainscore).
#
# brainscore-vision 2.4.2 / brainscore-core 2.5.0 pin numpy<2, pandas<3, xarray 2022.3 and scikit-learn<1.6; the
# project needs xarray>=2024 and runs numpy 2 / pandas 3, so the two cannot share one environment. This venv holds
# Brain-Score with its pins but not its heavy extras (jupyter, decord, torch: brainscore-vision goes in --no-deps).
# torch (with its CUDA libraries, ~5 GB) is not installed twice: a .pth file, written after every pip install (pip
# would otherwise count the project's packages as installed here, and could try to replace them), appends the
# project's src/ and its venv's site-packages to sys.path AFTER this venv's own site-packages, so Brain-Score's
# numpy, pandas, xarray, scipy and scikit-learn win and only what is missing here (torch, safetensors, convrnn) comes
# from the project. pyarrow is installed here because the project's (26) needs numpy>=2; 25 is the last for numpy 1.
# Do not pip install into it afterwards (remove the .pth first). Measured: 35-50 s, 1.1 GB.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${1:-.venv-brainscore}
PROJECT_PYTHON=${PROJECT_PYTHON:-.venv/bin/python}
[ -x "$PROJECT_PYTHON" ] || { echo "error: $PROJECT_PYTHON: the project venv must exist first" >&2; exit 1; }

rm -rf "$VENV"
python3 -m venv "$VENV"
# opencv: brainscore_vision's activation helpers import cv2 (headless: no GUI libraries; 4.12 needs numpy 2);
# pytest-check: its generic plugin tests import it
"$VENV/bin/pip" install -q "brainscore-core==2.5.0" "numpy<2" "pandas<3" "scikit-learn<1.6" "pyarrow<26" scipy tqdm \
  psutil result_caching "opencv-python-headless<4.12" pytest pytest-check
"$VENV/bin/pip" install -q --no-deps "brainscore-vision==2.4.2"

site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
project_site=$("$PROJECT_PYTHON" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
printf '%s\n%s\n' "$PWD/src" "$project_site" > "$site/zz_convrnn_project.pth"

# fails here, not in the test, if the two do not fit together
BS_INSTALL_DEPENDENCIES=no "$VENV/bin/python" -W ignore -c "
import numpy, torch, brainscore_vision, convrnn.export.brainscore_model
import brainscore_vision.benchmarks.majajhong2015, brainscore_vision.model_helpers.generic_plugin_tests
assert numpy.__version__.startswith('1.'), numpy.__version__
print('Brain-Score venv:', '$VENV', 'numpy', numpy.__version__, 'torch', torch.__version__)"
