"""``python -m bench``: run the gateway benchmark (see bench/run.py)."""

from bench.run import main

raise SystemExit(main())
