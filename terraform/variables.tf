################################################################################
# General
################################################################################

variable "name" {
  description = "Prefix of every resource name; the cluster is named \"<name>-<environment>\"."
  type        = string
  default     = "mlops-glue"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lowercase letters, digits or hyphens, starting with a letter (it becomes part of bucket names)."
  }
}

variable "environment" {
  description = "Deployment stage; matches the SAM Stage parameter (dev, staging or prod)."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "region" {
  description = "AWS region of the cluster and the buckets (the SAM stack must deploy to the same region)."
  type        = string
  default     = "eu-west-1"
}

variable "tags" {
  description = "Extra tags added to every resource (on top of Project, Environment and ManagedBy)."
  type        = map(string)
  default     = {}
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /20. Three private /19-equivalent subnets (pods take VPC addresses) and three small public subnets are carved from it."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be an IPv4 CIDR with a prefix between /16 and /20."
  }
}

variable "availability_zones" {
  description = "The three availability zones of the VPC, by name; null means <region>a, <region>b, <region>c."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null || length(toset(coalesce(var.availability_zones, []))) == 3
    error_message = "availability_zones must name three distinct zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for the whole VPC (cheaper, one AZ is a single point of failure) instead of one per availability zone."
  type        = bool
  default     = false
}

################################################################################
# EKS cluster
################################################################################

variable "cluster_version" {
  description = "Kubernetes minor version of the EKS control plane and the node groups, e.g. \"1.32\"."
  type        = string
  default     = "1.32"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.cluster_version))
    error_message = "cluster_version must look like \"1.32\"."
  }
}

variable "cluster_support_type" {
  description = "EKS upgrade policy: STANDARD (upgrade when standard support ends) or EXTENDED (paid extended support)."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXTENDED"], var.cluster_support_type)
    error_message = "cluster_support_type must be STANDARD or EXTENDED."
  }
}

variable "endpoint_public_access" {
  description = "Expose the Kubernetes API on a public endpoint as well as the private one (restricted to endpoint_public_access_cidrs)."
  type        = bool
  default     = false
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint when endpoint_public_access is true. Never 0.0.0.0/0."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0)) && !endswith(c, "/0")])
    error_message = "endpoint_public_access_cidrs must be IPv4 CIDRs narrower than /0."
  }

  validation {
    condition     = !var.endpoint_public_access || length(var.endpoint_public_access_cidrs) > 0
    error_message = "endpoint_public_access = true needs at least one CIDR in endpoint_public_access_cidrs."
  }
}

variable "cluster_admin_arns" {
  description = "IAM role or user ARNs granted cluster-admin through EKS access entries (AmazonEKSClusterAdminPolicy)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.cluster_admin_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "cluster_admin_arns must be IAM role or user ARNs."
  }
}

variable "cluster_log_types" {
  description = "Control-plane log types sent to CloudWatch Logs."
  type        = list(string)
  default     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  validation {
    condition     = length(var.cluster_log_types) > 0 && alltrue([for t in var.cluster_log_types : contains(["api", "audit", "authenticator", "controllerManager", "scheduler"], t)])
    error_message = "cluster_log_types must be a non-empty subset of api, audit, authenticator, controllerManager, scheduler."
  }
}

variable "log_retention_days" {
  description = "Retention of the control-plane log group, in days (a CloudWatch Logs retention value)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, 731, ...)."
  }
}

variable "addon_versions" {
  description = "Pinned versions of the core add-ons, by add-on name (vpc-cni, kube-proxy, coredns, aws-ebs-csi-driver). A missing name gets EKS's default version for cluster_version."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.addon_versions) : contains(["vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"], k)])
    error_message = "addon_versions keys must be among vpc-cni, kube-proxy, coredns, aws-ebs-csi-driver."
  }
}

################################################################################
# Node groups
################################################################################

variable "system_node_group" {
  description = "The always-on group for cluster services (CoreDNS, Argo, controllers). Untainted, labelled mlops-glue/node-pool=system."
  type = object({
    instance_types = optional(list(string), ["m6i.large"])
    capacity_type  = optional(string, "ON_DEMAND")
    min_size       = optional(number, 2)
    max_size       = optional(number, 4)
    desired_size   = optional(number, 2)
    disk_size_gib  = optional(number, 50)
  })
  default = {}

  validation {
    condition     = var.system_node_group.min_size >= 1 && var.system_node_group.min_size <= var.system_node_group.desired_size && var.system_node_group.desired_size <= var.system_node_group.max_size
    error_message = "system_node_group needs 1 <= min_size <= desired_size <= max_size."
  }

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.system_node_group.capacity_type)
    error_message = "system_node_group.capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "gpu_node_group" {
  description = "The GPU group for training steps (NVIDIA AL2023 AMI). It always scales from zero (min_size = 0) and is tainted nvidia.com/gpu=true:NoSchedule, so only pods that tolerate it land there."
  type = object({
    instance_types = optional(list(string), ["g5.xlarge", "g5.2xlarge"])
    capacity_type  = optional(string, "ON_DEMAND")
    max_size       = optional(number, 4)
    disk_size_gib  = optional(number, 200)
  })
  default = {}

  validation {
    condition     = var.gpu_node_group.max_size >= 1
    error_message = "gpu_node_group.max_size must be at least 1."
  }

  validation {
    # x86_64 NVIDIA families only: the AL2023_x86_64_NVIDIA AMI cannot boot g5g (Arm) or drive g4ad (AMD).
    condition     = length(var.gpu_node_group.instance_types) > 0 && alltrue([for t in var.gpu_node_group.instance_types : can(regex("^(g4dn|g5|g6e?|gr6|p3(dn)?|p4de?|p5(e|en)?|p6-[a-z0-9]+)\\.", t))])
    error_message = "gpu_node_group.instance_types must be x86_64 NVIDIA GPU types (g4dn, g5, g6, g6e, gr6, p3, p4d, p5, p6 families)."
  }

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.gpu_node_group.capacity_type)
    error_message = "gpu_node_group.capacity_type must be ON_DEMAND or SPOT."
  }
}

################################################################################
# IAM roles for service accounts
################################################################################

variable "argo_namespace" {
  description = "Namespace where Argo Workflows runs the training workflows."
  type        = string
  default     = "ml-pipelines"
}

variable "argo_executor_service_account" {
  description = "Service account of the workflow pods; its IAM role reads the data bucket and writes the artifacts bucket."
  type        = string
  default     = "argo-workflows-executor"
}

################################################################################
# Buckets
################################################################################

variable "data_bucket_name" {
  description = "Name of the data bucket; null gives \"<name>-<environment>-data-<account id>\"."
  type        = string
  default     = null

  validation {
    condition     = var.data_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.data_bucket_name))
    error_message = "data_bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "artifacts_bucket_name" {
  description = "Name of the artifacts bucket; null gives \"<name>-<environment>-artifacts-<account id>\"."
  type        = string
  default     = null

  validation {
    condition     = var.artifacts_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifacts_bucket_name))
    error_message = "artifacts_bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "data_noncurrent_version_days" {
  description = "Days a superseded dataset version (a noncurrent object version) is kept before it expires. Manifests of past trainings pin version ids, so keep this longer than you need to reproduce a training."
  type        = number
  default     = 365

  validation {
    condition     = var.data_noncurrent_version_days >= 31
    error_message = "data_noncurrent_version_days must be at least 31 (noncurrent versions move to STANDARD_IA after 30 days)."
  }
}

variable "artifacts_noncurrent_version_days" {
  description = "Days a superseded artifact version is kept before it expires."
  type        = number
  default     = 90

  validation {
    condition     = var.artifacts_noncurrent_version_days >= 31
    error_message = "artifacts_noncurrent_version_days must be at least 31 (noncurrent versions move to STANDARD_IA after 30 days)."
  }
}

variable "access_log_days" {
  description = "Days S3 access logs and VPC flow logs are kept in the logs bucket."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_days >= 1
    error_message = "access_log_days must be at least 1."
  }
}

variable "force_destroy_buckets" {
  description = "Allow `terraform destroy` to delete non-empty buckets (all object versions). Only for throwaway environments."
  type        = bool
  default     = false
}
