"""mlops-glue: event-driven serverless glue for MLOps on AWS and Kubernetes.

Modules:
    config      the one configuration file (pydantic), loaded from a file or SSM
    records     the decision record shared by every flow
    drift       reference profiles, streaming counts and drift statistics (numpy/pyarrow/scipy)
    decisions   pure decision rules (no I/O)
    adapters    one module per outside system (S3, DynamoDB, Argo, GitOps, MLflow, Slack, secrets)
    services    one per flow: decide -> act -> notify
    cli         the ``mlops-glue`` command
"""

__version__ = "0.1.0"
