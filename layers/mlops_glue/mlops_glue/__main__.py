"""``python -m mlops_glue ...``: the same CLI as the ``mlops-glue`` script."""

from mlops_glue.cli import main

raise SystemExit(main())
