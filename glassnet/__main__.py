import sys

from glassnet.adapters.cli import main

sys.exit(main())
