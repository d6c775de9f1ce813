# Three availability zones, private and public subnets tagged for EKS load balancers,
# NAT per zone or a single one, flow logs, nothing open by default.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "prod"
}

run "three_zones_with_nat_per_zone" {
  assert {
    condition = (
      aws_subnet.private[*].availability_zone == ["eu-west-1a", "eu-west-1b", "eu-west-1c"] &&
      aws_subnet.public[*].availability_zone == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    )
    error_message = "Private and public subnets must span the three availability zones."
  }

  assert {
    condition = (
      aws_subnet.private[*].cidr_block == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"] &&
      aws_subnet.public[*].cidr_block == ["10.0.96.0/22", "10.0.100.0/22", "10.0.104.0/22"]
    )
    error_message = "Subnets must be carved from vpc_cidr without overlap (large private blocks for pod IPs)."
  }

  assert {
    condition = alltrue([for s in aws_subnet.private :
      s.tags["kubernetes.io/role/internal-elb"] == "1" && s.tags["kubernetes.io/cluster/mlops-glue-prod"] == "shared" && s.vpc_id == aws_vpc.this.id
    ])
    error_message = "Private subnets must carry the internal load balancer and cluster tags."
  }

  assert {
    condition = alltrue([for s in aws_subnet.public :
      s.tags["kubernetes.io/role/elb"] == "1" && !s.map_public_ip_on_launch
    ])
    error_message = "Public subnets must carry the load balancer tag and not hand out public IPs."
  }

  assert {
    condition = (
      length(aws_nat_gateway.this) == 3 &&
      aws_nat_gateway.this[*].subnet_id == aws_subnet.public[*].id &&
      [for rt in aws_route_table.private : one(rt.route).nat_gateway_id] == aws_nat_gateway.this[*].id
    )
    error_message = "By default each zone's private route table must use its own zone's NAT gateway."
  }

  assert {
    condition     = toset(aws_eks_cluster.this.vpc_config[0].subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "The control plane must sit in the private subnets."
  }

  assert {
    condition     = toset(aws_vpc_endpoint.s3.route_table_ids) == toset(aws_route_table.private[*].id) && aws_vpc_endpoint.s3.service_name == "com.amazonaws.eu-west-1.s3"
    error_message = "Private subnets must reach S3 through the gateway endpoint, not the NAT."
  }

  assert {
    condition = (
      aws_flow_log.vpc.vpc_id == aws_vpc.this.id &&
      aws_flow_log.vpc.traffic_type == "ALL" &&
      aws_flow_log.vpc.log_destination == "arn:aws:s3:::mock-logs/vpc-flow-logs/"
    )
    error_message = "VPC flow logs must go to the logs bucket."
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must allow nothing."
  }
}

run "single_nat_gateway" {
  command = plan

  variables {
    single_nat_gateway = true
    vpc_cidr           = "10.40.0.0/16"
    availability_zones = ["eu-west-1c", "eu-west-1a", "eu-west-1b"]
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_eip.nat) == 1 && length(aws_route_table.private) == 3
    error_message = "single_nat_gateway must create one NAT gateway shared by the three private route tables."
  }

  assert {
    condition     = aws_subnet.private[0].cidr_block == "10.40.0.0/19" && aws_subnet.private[0].availability_zone == "eu-west-1c"
    error_message = "vpc_cidr and availability_zones must place the subnets."
  }
}

run "unavailable_zone_stops_the_plan" {
  command = plan

  override_data {
    target = data.aws_availability_zones.selected
    values = { names = ["eu-west-1a", "eu-west-1b"] }
  }

  expect_failures = [data.aws_availability_zones.selected]
}
