data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # One name for the cluster and the prefix of everything else: "mlops-glue-prod".
  cluster_name = "${var.name}-${var.environment}"
  account_id   = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  dns_suffix   = data.aws_partition.current.dns_suffix

  tags = merge(var.tags, {
    Project     = var.name
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}
