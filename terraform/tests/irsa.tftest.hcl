# IAM roles for service accounts: each role trusts exactly one service account of this cluster;
# the Argo executor reads the data bucket (never writes it) and writes the artifacts bucket.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment                   = "dev"
  argo_namespace                = "training"
  argo_executor_service_account = "workflow-runner"
}

run "irsa_roles" {
  assert {
    condition = alltrue([for k, r in aws_iam_role.irsa :
      jsondecode(r.assume_role_policy).Statement[0].Principal.Federated == aws_iam_openid_connect_provider.eks.arn &&
      jsondecode(r.assume_role_policy).Statement[0].Action == "sts:AssumeRoleWithWebIdentity" &&
      jsondecode(r.assume_role_policy).Statement[0].Condition.StringEquals["oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE0123456789:aud"] == "sts.amazonaws.com" &&
      length(jsondecode(r.assume_role_policy).Statement) == 1
    ])
    error_message = "Every IRSA role must trust only the cluster's OIDC provider, for the STS audience."
  }

  assert {
    condition     = jsondecode(aws_iam_role.irsa["argo_executor"].assume_role_policy).Statement[0].Condition.StringEquals["oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE0123456789:sub"] == "system:serviceaccount:training:workflow-runner"
    error_message = "The executor role must trust exactly argo_namespace/argo_executor_service_account."
  }

  assert {
    condition = (
      jsondecode(aws_iam_role.irsa["ebs_csi"].assume_role_policy).Statement[0].Condition.StringEquals["oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE0123456789:sub"] == "system:serviceaccount:kube-system:ebs-csi-controller-sa" &&
      jsondecode(aws_iam_role.irsa["cluster_autoscaler"].assume_role_policy).Statement[0].Condition.StringEquals["oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE0123456789:sub"] == "system:serviceaccount:kube-system:cluster-autoscaler"
    )
    error_message = "The EBS CSI and cluster-autoscaler roles must trust their kube-system service accounts."
  }

  assert {
    condition     = aws_iam_role_policy.argo_executor.role == aws_iam_role.irsa["argo_executor"].id && output.argo_executor_role_arn == aws_iam_role.irsa["argo_executor"].arn
    error_message = "The executor policy must be attached to the executor role, whose ARN is exported."
  }

  # Every (action, resource) pair the executor policy allows.
  assert {
    condition = contains(flatten([for s in jsondecode(aws_iam_role_policy.argo_executor.policy).Statement : [
      for a in s.Action : [for r in s.Resource : "${a} ${r}"]
    ] if s.Effect == "Allow"]), "s3:GetObjectVersion arn:aws:s3:::mock-data/*")
    error_message = "The executor must read dataset versions from the data bucket."
  }

  assert {
    condition = contains(flatten([for s in jsondecode(aws_iam_role_policy.argo_executor.policy).Statement : [
      for a in s.Action : [for r in s.Resource : "${a} ${r}"]
    ] if s.Effect == "Allow"]), "s3:PutObject arn:aws:s3:::mock-artifacts/*")
    error_message = "The executor must write to the artifacts bucket."
  }

  assert {
    condition = length([for p in flatten([for s in jsondecode(aws_iam_role_policy.argo_executor.policy).Statement : [
      for a in s.Action : [for r in s.Resource : { action = a, resource = r }]
    ]]) : p if startswith(p.resource, "arn:aws:s3:::mock-data") && (startswith(p.action, "s3:Put") || startswith(p.action, "s3:Delete")) && p.resource != "arn:aws:s3:::mock-data/mlops-glue/counts/*"]) == 0
    error_message = "The executor must not write or delete training data (it may only create counts under mlops-glue/counts/)."
  }

  assert {
    condition = length([for p in flatten([for s in jsondecode(aws_iam_role_policy.argo_executor.policy).Statement : [
      for a in s.Action : [for r in s.Resource : { action = a, resource = r }]
    ]]) : p if startswith(p.action, "s3:Delete")]) == 0
    error_message = "The executor deletes nothing in either bucket."
  }

  assert {
    condition = contains(flatten([for s in jsondecode(aws_iam_role_policy.argo_executor.policy).Statement : [
      for a in s.Action : [for r in s.Resource : "${a} ${r}"]
    ] if s.Effect == "Allow"]), "s3:PutObject arn:aws:s3:::mock-data/mlops-glue/counts/*")
    error_message = "The drift-count step must be able to write its counts to the glue's workspace."
  }

  assert {
    condition = alltrue(flatten([for s in jsondecode(aws_iam_role_policy.argo_executor.policy).Statement : [
      for r in s.Resource : contains(["arn:aws:s3:::mock-data", "arn:aws:s3:::mock-data/*", "arn:aws:s3:::mock-data/mlops-glue/counts/*", "arn:aws:s3:::mock-artifacts", "arn:aws:s3:::mock-artifacts/*", aws_kms_key.s3.arn], r)
    ]]))
    error_message = "The executor policy must name only the two buckets and their key (no wildcards)."
  }

  assert {
    condition = anytrue([for s in jsondecode(aws_iam_role_policy.cluster_autoscaler.policy).Statement :
      contains(s.Action, "autoscaling:SetDesiredCapacity") &&
      try(s.Condition.StringEquals["aws:ResourceTag/k8s.io/cluster-autoscaler/mlops-glue-dev"], "") == "owned"
    ])
    error_message = "The cluster-autoscaler may resize only this cluster's node groups."
  }
}
