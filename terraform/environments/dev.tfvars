# dev: cheap and reachable. One NAT gateway, spot GPUs, public API endpoint limited to the office,
# buckets that `terraform destroy` may empty.
environment = "dev"
region      = "eu-west-1"

vpc_cidr           = "10.10.0.0/16"
single_nat_gateway = true

cluster_version        = "1.32"
endpoint_public_access = true
# Replace with your office / VPN egress CIDRs (198.51.100.0/24 is a documentation range).
endpoint_public_access_cidrs = ["198.51.100.0/24"]
# IAM roles that get cluster-admin, e.g. "arn:aws:iam::<account>:role/PlatformAdmin".
cluster_admin_arns = []
log_retention_days = 90

system_node_group = {
  instance_types = ["t3.large"]
  min_size       = 1
  desired_size   = 1
  max_size       = 3
}

gpu_node_group = {
  instance_types = ["g5.xlarge", "g6.xlarge", "g4dn.xlarge"]
  capacity_type  = "SPOT"
  max_size       = 2
}

data_noncurrent_version_days      = 90
artifacts_noncurrent_version_days = 31
force_destroy_buckets             = true
