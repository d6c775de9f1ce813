# staging: production's shape at a smaller scale.
environment = "staging"
region      = "eu-west-1"

vpc_cidr           = "10.20.0.0/16"
single_nat_gateway = true

cluster_version              = "1.32"
endpoint_public_access       = false
endpoint_public_access_cidrs = []
# IAM roles that get cluster-admin, e.g. "arn:aws:iam::<account>:role/PlatformAdmin".
cluster_admin_arns = []
log_retention_days = 365

system_node_group = {
  instance_types = ["m6i.large"]
  min_size       = 2
  desired_size   = 2
  max_size       = 4
}

gpu_node_group = {
  instance_types = ["g5.xlarge", "g5.2xlarge"]
  capacity_type  = "ON_DEMAND"
  max_size       = 2
}

data_noncurrent_version_days      = 180
artifacts_noncurrent_version_days = 90
force_destroy_buckets             = false
