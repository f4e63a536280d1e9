"""`python -m tinygrad_sm ...` is the `tinygrad-sm` command."""
import sys

from .cli import main

sys.exit(main())
