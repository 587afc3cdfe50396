import sys

from emodemo.cli import main

sys.exit(main())
