################################################################################
# What samconfig.toml, the Argo WorkflowTemplate and kubectl need (see README.md).
################################################################################

output "region" {
  description = "Region of the cluster and buckets; deploy the SAM stack there."
  value       = var.region
}

output "data_bucket_name" {
  description = "Data bucket: new data lands here; its EventBridge events feed the data-arrival function."
  value       = aws_s3_bucket.this["data"].bucket
}

output "data_bucket_arn" {
  description = "ARN of the data bucket."
  value       = aws_s3_bucket.this["data"].arn
}

output "artifacts_bucket_name" {
  description = "Artifacts bucket: what training writes (models, evaluation reports, Argo artifacts). Set it as the glue config's argo.artifacts_bucket: the WorkflowTemplate's artifacts-bucket parameter."
  value       = aws_s3_bucket.this["artifacts"].bucket
}

output "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  value       = aws_s3_bucket.this["artifacts"].arn
}

output "buckets_kms_key_arn" {
  description = "KMS key of the data and artifacts buckets. Its policy lets this account use it through S3, so readers and writers need S3 permissions only."
  value       = aws_kms_key.s3.arn
}

output "logs_bucket_name" {
  description = "Bucket of S3 access logs and VPC flow logs."
  value       = aws_s3_bucket.logs.bucket
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint of the cluster."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the cluster API."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_version" {
  description = "Kubernetes version of the control plane."
  value       = aws_eks_cluster.this.version
}

output "cluster_security_group_id" {
  description = "Security group EKS created for the control plane and the managed nodes."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster, for further IRSA roles."
  value       = aws_iam_openid_connect_provider.eks.arn
}

output "cluster_oidc_issuer_url" {
  description = "OIDC issuer URL of the cluster."
  value       = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

output "argo_executor_role_arn" {
  description = "IRSA role to annotate on the Argo executor service account (eks.amazonaws.com/role-arn)."
  value       = aws_iam_role.irsa["argo_executor"].arn
}

output "argo_executor_service_account" {
  description = "Namespace and name of the service account the executor role trusts."
  value       = { namespace = var.argo_namespace, name = var.argo_executor_service_account }
}

output "cluster_autoscaler_role_arn" {
  description = "IRSA role for the cluster-autoscaler service account kube-system/cluster-autoscaler."
  value       = aws_iam_role.irsa["cluster_autoscaler"].arn
}

output "node_role_arn" {
  description = "IAM role of the managed nodes."
  value       = aws_iam_role.node.arn
}

output "gpu_node_selector" {
  description = "nodeSelector that puts a pod on the GPU group (the training WorkflowTemplate uses it)."
  value       = local.gpu_node_labels
}

output "gpu_toleration" {
  description = "Kubernetes toleration for the GPU group's taint."
  value = {
    key      = local.gpu_node_taint.key
    operator = "Equal"
    value    = local.gpu_node_taint.value
    effect   = "NoSchedule"
  }
}

output "vpc_id" {
  description = "VPC of the cluster."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets (nodes, pods, internal load balancers), one per availability zone."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets (NAT gateways, internet-facing load balancers)."
  value       = aws_subnet.public[*].id
}
