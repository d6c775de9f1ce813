# Inputs that would make an unsafe or broken cluster are refused at plan time. Each run sets
# several bad inputs at once; expect_failures requires every listed validation to fire.

mock_provider "aws" {
  source = "./tests/mocks"
}

run "unsafe_or_broken_inputs_are_refused" {
  command = plan

  variables {
    environment                  = "qa"
    endpoint_public_access       = true
    endpoint_public_access_cidrs = ["0.0.0.0/0"]
    gpu_node_group               = { instance_types = ["g5g.xlarge"] }
    cluster_admin_arns           = ["arn:aws:s3:::some-bucket"]
    availability_zones           = ["eu-west-1a", "eu-west-1b"]
    system_node_group            = { min_size = 0, desired_size = 0 }
    vpc_cidr                     = "10.0.0.0/24"
    data_bucket_name             = "Data_Bucket"
  }

  expect_failures = [
    var.environment,
    var.endpoint_public_access_cidrs,
    var.gpu_node_group,
    var.cluster_admin_arns,
    var.availability_zones,
    var.system_node_group,
    var.vpc_cidr,
    var.data_bucket_name,
  ]
}

run "public_endpoint_needs_cidrs" {
  command = plan

  variables {
    environment            = "dev"
    endpoint_public_access = true
  }

  expect_failures = [var.endpoint_public_access_cidrs]
}
