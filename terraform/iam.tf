################################################################################
# Roles of the cluster and its nodes, and IAM roles for service accounts (IRSA).
# Policies are written with jsonencode (not aws_iam_policy_document data sources) so that their
# content is known at plan time and the tests can assert on it under a mocked provider.
################################################################################

locals {
  managed_policy_prefix = "arn:${local.partition}:iam::aws:policy"
}

# --- Cluster ---------------------------------------------------------------------------------

resource "aws_iam_role" "cluster" {
  name = "${local.cluster_name}-cluster"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.${local.dns_suffix}" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "${local.managed_policy_prefix}/AmazonEKSClusterPolicy"
}

resource "aws_iam_role_policy" "cluster_kms" {
  name = "secrets-encryption"
  role = aws_iam_role.cluster.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
      Resource = aws_kms_key.eks.arn
    }]
  })
}

# --- Nodes -----------------------------------------------------------------------------------

resource "aws_iam_role" "node" {
  name = "${local.cluster_name}-node"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.${local.dns_suffix}" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    # Shell access through Session Manager instead of SSH keys.
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "${local.managed_policy_prefix}/${each.value}"
}

# --- IAM roles for service accounts ----------------------------------------------------------

locals {
  oidc_issuer_host = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")

  irsa = {
    argo_executor = {
      namespace       = var.argo_namespace
      service_account = var.argo_executor_service_account
    }
    ebs_csi = {
      namespace       = "kube-system"
      service_account = "ebs-csi-controller-sa"
    }
    cluster_autoscaler = {
      namespace       = "kube-system"
      service_account = "cluster-autoscaler"
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa

  name = "${local.cluster_name}-${replace(each.key, "_", "-")}"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Federated = aws_iam_openid_connect_provider.eks.arn }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = {
        StringEquals = {
          "${local.oidc_issuer_host}:sub" = "system:serviceaccount:${each.value.namespace}:${each.value.service_account}"
          "${local.oidc_issuer_host}:aud" = "sts.${local.dns_suffix}"
        }
      }
    }]
  })
}

# The training workflow reads datasets (by version: manifests pin version ids) and writes
# models, reports and Argo artifacts. It can neither modify nor delete training data: on the data
# bucket it may only create the drift-count step's counts, under the glue's own workspace prefix
# (deploy/argo/drift-count.yaml; the glue's sweep reads and deletes them there).
resource "aws_iam_role_policy" "argo_executor" {
  name = "data-read-artifacts-write"
  role = aws_iam_role.irsa["argo_executor"].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListBuckets"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"]
        Resource = [aws_s3_bucket.this["data"].arn, aws_s3_bucket.this["artifacts"].arn]
      },
      {
        Sid      = "ReadData"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion"]
        Resource = ["${aws_s3_bucket.this["data"].arn}/*"]
      },
      {
        Sid      = "WriteDriftCounts"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
        Resource = ["${aws_s3_bucket.this["data"].arn}/mlops-glue/counts/*"]
      },
      {
        Sid      = "ReadWriteArtifacts"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload"]
        Resource = ["${aws_s3_bucket.this["artifacts"].arn}/*"]
      },
      {
        Sid      = "UseBucketKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [aws_kms_key.s3.arn]
      },
    ]
  })
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.irsa["ebs_csi"].name
  policy_arn = "${local.managed_policy_prefix}/service-role/AmazonEBSCSIDriverPolicy"
}

# Scaling the GPU group up from zero needs an autoscaler; this is the role of the Kubernetes
# cluster-autoscaler (installed with its Helm chart, see README.md). It may only resize groups
# tagged as this cluster's (EKS tags managed node groups' ASGs that way).
resource "aws_iam_role_policy" "cluster_autoscaler" {
  name = "cluster-autoscaler"
  role = aws_iam_role.irsa["cluster_autoscaler"].id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "Describe"
        Effect = "Allow"
        Action = [
          "autoscaling:DescribeAutoScalingGroups",
          "autoscaling:DescribeAutoScalingInstances",
          "autoscaling:DescribeLaunchConfigurations",
          "autoscaling:DescribeScalingActivities",
          "autoscaling:DescribeTags",
          "ec2:DescribeImages",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplateVersions",
          "ec2:GetInstanceTypesFromInstanceRequirements",
        ]
        Resource = "*"
      },
      {
        # Labels and taints of a group at zero nodes come from the EKS API.
        Sid      = "DescribeNodegroups"
        Effect   = "Allow"
        Action   = ["eks:DescribeNodegroup"]
        Resource = "arn:${local.partition}:eks:${var.region}:${local.account_id}:nodegroup/${local.cluster_name}/*/*"
      },
      {
        Sid      = "ResizeOwnGroups"
        Effect   = "Allow"
        Action   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
        Resource = "arn:${local.partition}:autoscaling:${var.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"
        Condition = {
          StringEquals = {
            "aws:ResourceTag/k8s.io/cluster-autoscaler/${local.cluster_name}" = "owned"
          }
        }
      },
    ]
  })
}
