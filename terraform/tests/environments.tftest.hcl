# Every environment's .tfvars plans. A run block cannot load a var-file, so the helper module
# in tests/tfvars decodes the three files and each run passes every variable on (the helper
# fails if a file sets a variable missing from the lists below).

mock_provider "aws" {
  source = "./tests/mocks"
}

run "read_environment_files" {
  module {
    source = "./tests/tfvars"
  }

  variables {
    files = {
      dev     = "environments/dev.tfvars"
      staging = "environments/staging.tfvars"
      prod    = "environments/prod.tfvars"
    }
    expected_keys = [
      "environment",
      "region",
      "vpc_cidr",
      "single_nat_gateway",
      "cluster_version",
      "endpoint_public_access",
      "endpoint_public_access_cidrs",
      "cluster_admin_arns",
      "log_retention_days",
      "system_node_group",
      "gpu_node_group",
      "data_noncurrent_version_days",
      "artifacts_noncurrent_version_days",
      "force_destroy_buckets",
    ]
  }
}

run "plan_dev" {
  command = plan

  variables {
    environment                       = run.read_environment_files.values.dev.environment
    region                            = run.read_environment_files.values.dev.region
    vpc_cidr                          = run.read_environment_files.values.dev.vpc_cidr
    single_nat_gateway                = run.read_environment_files.values.dev.single_nat_gateway
    cluster_version                   = run.read_environment_files.values.dev.cluster_version
    endpoint_public_access            = run.read_environment_files.values.dev.endpoint_public_access
    endpoint_public_access_cidrs      = run.read_environment_files.values.dev.endpoint_public_access_cidrs
    cluster_admin_arns                = run.read_environment_files.values.dev.cluster_admin_arns
    log_retention_days                = run.read_environment_files.values.dev.log_retention_days
    system_node_group                 = run.read_environment_files.values.dev.system_node_group
    gpu_node_group                    = run.read_environment_files.values.dev.gpu_node_group
    data_noncurrent_version_days      = run.read_environment_files.values.dev.data_noncurrent_version_days
    artifacts_noncurrent_version_days = run.read_environment_files.values.dev.artifacts_noncurrent_version_days
    force_destroy_buckets             = run.read_environment_files.values.dev.force_destroy_buckets
  }

  assert {
    condition     = aws_eks_cluster.this.name == "mlops-glue-dev" && aws_s3_bucket.this["data"].bucket == "mlops-glue-dev-data-123456789012"
    error_message = "dev: cluster and buckets must carry the environment's name."
  }

  assert {
    condition     = aws_eks_node_group.gpu.scaling_config[0].min_size == 0 && one(aws_eks_node_group.gpu.taint).key == "nvidia.com/gpu"
    error_message = "dev: the GPU group must scale to zero and stay tainted."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && aws_eks_cluster.this.vpc_config[0].endpoint_public_access
    error_message = "dev: one NAT gateway and a public API endpoint."
  }

  assert {
    condition     = aws_eks_node_group.gpu.capacity_type == "SPOT" && alltrue([for b in aws_s3_bucket.this : b.force_destroy])
    error_message = "dev: spot GPUs and destroyable buckets."
  }
}

run "plan_staging" {
  command = plan

  variables {
    environment                       = run.read_environment_files.values.staging.environment
    region                            = run.read_environment_files.values.staging.region
    vpc_cidr                          = run.read_environment_files.values.staging.vpc_cidr
    single_nat_gateway                = run.read_environment_files.values.staging.single_nat_gateway
    cluster_version                   = run.read_environment_files.values.staging.cluster_version
    endpoint_public_access            = run.read_environment_files.values.staging.endpoint_public_access
    endpoint_public_access_cidrs      = run.read_environment_files.values.staging.endpoint_public_access_cidrs
    cluster_admin_arns                = run.read_environment_files.values.staging.cluster_admin_arns
    log_retention_days                = run.read_environment_files.values.staging.log_retention_days
    system_node_group                 = run.read_environment_files.values.staging.system_node_group
    gpu_node_group                    = run.read_environment_files.values.staging.gpu_node_group
    data_noncurrent_version_days      = run.read_environment_files.values.staging.data_noncurrent_version_days
    artifacts_noncurrent_version_days = run.read_environment_files.values.staging.artifacts_noncurrent_version_days
    force_destroy_buckets             = run.read_environment_files.values.staging.force_destroy_buckets
  }

  assert {
    condition     = aws_eks_cluster.this.name == "mlops-glue-staging" && aws_s3_bucket.this["data"].bucket == "mlops-glue-staging-data-123456789012"
    error_message = "staging: cluster and buckets must carry the environment's name."
  }

  assert {
    condition     = aws_eks_node_group.gpu.scaling_config[0].min_size == 0 && one(aws_eks_node_group.gpu.taint).key == "nvidia.com/gpu"
    error_message = "staging: the GPU group must scale to zero and stay tainted."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && !aws_eks_cluster.this.vpc_config[0].endpoint_public_access
    error_message = "staging: one NAT gateway and a private API endpoint."
  }
}

run "plan_prod" {
  command = plan

  variables {
    environment                       = run.read_environment_files.values.prod.environment
    region                            = run.read_environment_files.values.prod.region
    vpc_cidr                          = run.read_environment_files.values.prod.vpc_cidr
    single_nat_gateway                = run.read_environment_files.values.prod.single_nat_gateway
    cluster_version                   = run.read_environment_files.values.prod.cluster_version
    endpoint_public_access            = run.read_environment_files.values.prod.endpoint_public_access
    endpoint_public_access_cidrs      = run.read_environment_files.values.prod.endpoint_public_access_cidrs
    cluster_admin_arns                = run.read_environment_files.values.prod.cluster_admin_arns
    log_retention_days                = run.read_environment_files.values.prod.log_retention_days
    system_node_group                 = run.read_environment_files.values.prod.system_node_group
    gpu_node_group                    = run.read_environment_files.values.prod.gpu_node_group
    data_noncurrent_version_days      = run.read_environment_files.values.prod.data_noncurrent_version_days
    artifacts_noncurrent_version_days = run.read_environment_files.values.prod.artifacts_noncurrent_version_days
    force_destroy_buckets             = run.read_environment_files.values.prod.force_destroy_buckets
  }

  assert {
    condition     = aws_eks_cluster.this.name == "mlops-glue-prod" && aws_s3_bucket.this["data"].bucket == "mlops-glue-prod-data-123456789012"
    error_message = "prod: cluster and buckets must carry the environment's name."
  }

  assert {
    condition     = aws_eks_node_group.gpu.scaling_config[0].min_size == 0 && one(aws_eks_node_group.gpu.taint).key == "nvidia.com/gpu"
    error_message = "prod: the GPU group must scale to zero and stay tainted."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && !aws_eks_cluster.this.vpc_config[0].endpoint_public_access
    error_message = "prod: a NAT gateway per zone and a private API endpoint only."
  }

  assert {
    condition     = aws_eks_node_group.gpu.capacity_type == "ON_DEMAND" && !anytrue([for b in aws_s3_bucket.this : b.force_destroy]) && !aws_s3_bucket.logs.force_destroy
    error_message = "prod: on-demand GPUs and buckets that terraform destroy cannot empty."
  }
}
