# prod: a NAT gateway per zone, private API endpoint only, on-demand GPUs, long version history.
environment = "prod"
region      = "eu-west-1"

vpc_cidr           = "10.30.0.0/16"
single_nat_gateway = false

cluster_version              = "1.32"
endpoint_public_access       = false
endpoint_public_access_cidrs = []
# IAM roles that get cluster-admin, e.g. "arn:aws:iam::<account>:role/PlatformAdmin".
cluster_admin_arns = []
log_retention_days = 731

system_node_group = {
  instance_types = ["m6i.large", "m6a.large"]
  min_size       = 2
  desired_size   = 3
  max_size       = 6
}

gpu_node_group = {
  instance_types = ["g5.2xlarge", "g5.4xlarge"]
  capacity_type  = "ON_DEMAND"
  max_size       = 4
  disk_size_gib  = 300
}

data_noncurrent_version_days      = 730
artifacts_noncurrent_version_days = 180
force_destroy_buckets             = false
