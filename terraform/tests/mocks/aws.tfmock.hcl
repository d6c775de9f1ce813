# Values the mocked aws provider returns where the configuration reads computed data.
# Everything not listed here gets generated placeholders.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform"
    user_id    = "AIDAEXAMPLE"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition          = "aws"
    dns_suffix         = "amazonaws.com"
    reverse_dns_prefix = "com.amazonaws"
  }
}

mock_data "aws_availability_zones" {
  defaults = {
    names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    zone_ids = ["euw1-az1", "euw1-az2", "euw1-az3"]
  }
}

mock_resource "aws_eks_cluster" {
  defaults = {
    endpoint = "https://EXAMPLE0123456789.gr7.eu-west-1.eks.amazonaws.com"
    identity = [{
      oidc = [{ issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE0123456789" }]
    }]
    certificate_authority = [{ data = "LS0tLS1CRUdJTi1DRVJUSUZJQ0FURS0tLS0t" }]
  }
}

# Providers validate ARNs even when mocked, so ARNs that feed other resources must look real.
mock_resource "aws_iam_role" {
  defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
}

mock_resource "aws_iam_openid_connect_provider" {
  defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE0123456789" }
}

mock_resource "aws_kms_key" {
  defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/mock" }
}

mock_resource "aws_s3_bucket" {
  defaults = { arn = "arn:aws:s3:::mock" }
}

mock_resource "aws_launch_template" {
  defaults = { id = "lt-0000000000mock", latest_version = 1 }
}

# Distinct values where tests check that one resource points at the right other one.

override_resource {
  target = aws_kms_key.eks
  values = { arn = "arn:aws:kms:eu-west-1:123456789012:key/eks", key_id = "eks" }
}

override_resource {
  target = aws_kms_key.s3
  values = { arn = "arn:aws:kms:eu-west-1:123456789012:key/s3", key_id = "s3" }
}

override_resource {
  target = aws_s3_bucket.this["data"]
  values = { arn = "arn:aws:s3:::mock-data", id = "mock-data" }
}

override_resource {
  target = aws_s3_bucket.this["artifacts"]
  values = { arn = "arn:aws:s3:::mock-artifacts", id = "mock-artifacts" }
}

override_resource {
  target = aws_s3_bucket.logs
  values = { arn = "arn:aws:s3:::mock-logs", id = "mock-logs" }
}

override_resource {
  target = aws_launch_template.node["system"]
  values = { id = "lt-0000000000system", latest_version = 3 }
}

override_resource {
  target = aws_launch_template.node["gpu"]
  values = { id = "lt-0000000000gpu", latest_version = 7 }
}

override_resource {
  target = aws_iam_role.irsa["argo_executor"]
  values = { arn = "arn:aws:iam::123456789012:role/argo-executor", id = "argo-executor", name = "argo-executor" }
}

override_resource {
  target = aws_iam_role.irsa["ebs_csi"]
  values = { arn = "arn:aws:iam::123456789012:role/ebs-csi", id = "ebs-csi", name = "ebs-csi" }
}

override_resource {
  target = aws_iam_role.irsa["cluster_autoscaler"]
  values = { arn = "arn:aws:iam::123456789012:role/cluster-autoscaler", id = "cluster-autoscaler", name = "cluster-autoscaler" }
}

