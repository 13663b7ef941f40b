"""`check_input.py FILE WORD`: fail with an error naming FILE unless it starts with WORD (a corrupt-input stand-in)."""

import sys
from pathlib import Path

path, word = Path(sys.argv[1]), sys.argv[2]
if not path.read_text().startswith(word):
    sys.exit(f"{path}: corrupt input, expected it to start with {word!r}")
