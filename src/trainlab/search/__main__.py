"""`python -m trainlab.search SPEC.json INDEX SHARE`: one search worker process (see worker.py)."""

import sys

from trainlab.search.worker import main

sys.exit(main(sys.argv[1:]))
