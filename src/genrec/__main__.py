"""``python -m genrec`` (as ``torchrun -m genrec`` will need): the ``genrec`` command."""

import sys

from genrec.cli import main

sys.exit(main())
