# The control plane: secrets encrypted with our key, every log type in an encrypted log group,
# private endpoint, access entries, managed core add-ons, OIDC provider for IRSA.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "staging"
  cluster_admin_arns = [
    "arn:aws:iam::123456789012:role/PlatformAdmin",
    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123",
  ]
  addon_versions = { coredns = "v1.11.4-eksbuild.2" }
}

run "control_plane" {
  assert {
    condition     = aws_eks_cluster.this.name == "mlops-glue-staging" && aws_eks_cluster.this.version == "1.32"
    error_message = "The cluster must be named <name>-<environment> and run cluster_version."
  }

  assert {
    condition = (
      length(aws_eks_cluster.this.encryption_config) == 1 &&
      aws_eks_cluster.this.encryption_config[0].resources == toset(["secrets"]) &&
      aws_eks_cluster.this.encryption_config[0].provider[0].key_arn == aws_kms_key.eks.arn
    )
    error_message = "Kubernetes secrets must be envelope-encrypted with the cluster's KMS key."
  }

  assert {
    condition     = aws_kms_key.eks.enable_key_rotation && aws_kms_key.s3.enable_key_rotation
    error_message = "KMS keys must rotate."
  }

  assert {
    condition     = aws_eks_cluster.this.enabled_cluster_log_types == toset(["api", "audit", "authenticator", "controllerManager", "scheduler"])
    error_message = "Every control-plane log type must be enabled by default."
  }

  assert {
    condition = (
      aws_cloudwatch_log_group.cluster.name == "/aws/eks/mlops-glue-staging/cluster" &&
      aws_cloudwatch_log_group.cluster.kms_key_id == aws_kms_key.eks.arn &&
      aws_cloudwatch_log_group.cluster.retention_in_days == 365
    )
    error_message = "Control-plane logs must go to the cluster's log group, encrypted and with a retention."
  }

  assert {
    condition = anytrue([for s in jsondecode(aws_kms_key.eks.policy).Statement :
      s.Principal == { Service = "logs.eu-west-1.amazonaws.com" } &&
      try(s.Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"], "") == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/eks/mlops-glue-staging/cluster"
    ])
    error_message = "The cluster key must let CloudWatch Logs encrypt exactly the cluster's log group."
  }

  assert {
    condition = anytrue([for s in jsondecode(aws_iam_role_policy.cluster_kms.policy).Statement :
      s.Resource == aws_kms_key.eks.arn && contains(s.Action, "kms:Encrypt") && contains(s.Action, "kms:Decrypt")
    ])
    error_message = "The cluster role must be allowed to use the secrets key."
  }

  assert {
    condition = (
      aws_eks_cluster.this.vpc_config[0].endpoint_private_access &&
      !aws_eks_cluster.this.vpc_config[0].endpoint_public_access
    )
    error_message = "The API endpoint must be private unless endpoint_public_access is set."
  }

  assert {
    condition     = aws_eks_cluster.this.access_config[0].authentication_mode == "API"
    error_message = "Access must be managed by access entries (authentication_mode = API)."
  }

  assert {
    condition     = !aws_eks_cluster.this.access_config[0].bootstrap_cluster_creator_admin_permissions
    error_message = "Whoever runs terraform must not become a hidden cluster admin."
  }

  assert {
    condition     = toset([for e in aws_eks_access_entry.admin : e.principal_arn]) == toset(var.cluster_admin_arns)
    error_message = "Every administrator ARN must get an access entry."
  }

  assert {
    condition = alltrue([for a in aws_eks_access_policy_association.admin :
      a.policy_arn == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy" && a.access_scope[0].type == "cluster"
    ]) && length(aws_eks_access_policy_association.admin) == 2
    error_message = "Every administrator must be cluster admin on the whole cluster."
  }

  assert {
    condition     = toset(concat([for a in aws_eks_addon.before_nodes : a.addon_name], [for a in aws_eks_addon.after_nodes : a.addon_name])) == toset(["vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"])
    error_message = "The core add-ons must be vpc-cni, kube-proxy, coredns and the EBS CSI driver."
  }

  assert {
    condition     = !aws_eks_cluster.this.bootstrap_self_managed_addons
    error_message = "The core add-ons must be managed add-ons, not EKS's unmanaged defaults."
  }

  assert {
    condition     = aws_eks_addon.after_nodes["aws-ebs-csi-driver"].service_account_role_arn == aws_iam_role.irsa["ebs_csi"].arn
    error_message = "The EBS CSI driver must use its own IRSA role."
  }

  assert {
    condition     = aws_eks_addon.after_nodes["coredns"].addon_version == "v1.11.4-eksbuild.2"
    error_message = "addon_versions must pin an add-on's version."
  }

  assert {
    condition = (
      aws_iam_openid_connect_provider.eks.url == aws_eks_cluster.this.identity[0].oidc[0].issuer &&
      aws_iam_openid_connect_provider.eks.client_id_list == toset(["sts.amazonaws.com"])
    )
    error_message = "The OIDC provider must be the cluster's issuer with the STS audience."
  }

  assert {
    condition     = output.cluster_endpoint == "https://EXAMPLE0123456789.gr7.eu-west-1.eks.amazonaws.com" && output.cluster_name == "mlops-glue-staging"
    error_message = "cluster_name and cluster_endpoint outputs must come from the cluster."
  }
}

run "public_endpoint_is_restricted_to_cidrs" {
  command = plan

  variables {
    endpoint_public_access       = true
    endpoint_public_access_cidrs = ["198.51.100.0/24"]
  }

  assert {
    condition = (
      aws_eks_cluster.this.vpc_config[0].endpoint_private_access &&
      aws_eks_cluster.this.vpc_config[0].endpoint_public_access &&
      aws_eks_cluster.this.vpc_config[0].public_access_cidrs == toset(["198.51.100.0/24"])
    )
    error_message = "A public endpoint must keep the private one and allow only the given CIDRs."
  }
}
