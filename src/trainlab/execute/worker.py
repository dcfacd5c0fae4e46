"""`python -m trainlab.studies.worker STORE`: one long-lived study worker (see executor.serve)."""

import sys

from trainlab.studies.executor import serve

if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
