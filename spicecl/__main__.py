import sys

from spicecl.cli import main

sys.exit(main())
