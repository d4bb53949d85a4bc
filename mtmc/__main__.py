import sys

from mtmc.cli.main import main

sys.exit(main())
