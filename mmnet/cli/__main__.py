"""`python -m mmnet.cli ...`: the same as the `mmnet` console script."""
import sys

from mmnet.cli import main

sys.exit(main())
