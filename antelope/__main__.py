"""`python -m antelope k=v ...` is `ml k=v ...`."""

import sys

from .cli import main

sys.exit(main())
