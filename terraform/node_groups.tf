################################################################################
# Managed node groups: a small always-on system group, and a GPU group that costs nothing
# while idle (min_size = 0) and only accepts pods that tolerate the nvidia.com/gpu taint.
#
# The contract with deploy/argo (the training WorkflowTemplate) is the two locals below,
# also exported as the gpu_node_selector and gpu_toleration outputs.
################################################################################

locals {
  gpu_node_labels = {
    "mlops-glue/node-pool"   = "gpu"
    "nvidia.com/gpu.present" = "true"
  }
  gpu_node_taint = {
    key    = "nvidia.com/gpu"
    value  = "true"
    effect = "NO_SCHEDULE"
  }

  system_node_labels = {
    "mlops-glue/node-pool" = "system"
  }

  node_groups = {
    system = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.system_node_group.instance_types
      capacity_type  = var.system_node_group.capacity_type
      min_size       = var.system_node_group.min_size
      max_size       = var.system_node_group.max_size
      desired_size   = var.system_node_group.desired_size
      disk_size_gib  = var.system_node_group.disk_size_gib
    }
    gpu = {
      # NVIDIA driver and container toolkit are baked in; the device plugin runs in-cluster.
      ami_type       = "AL2023_x86_64_NVIDIA"
      instance_types = var.gpu_node_group.instance_types
      capacity_type  = var.gpu_node_group.capacity_type
      min_size       = 0
      max_size       = var.gpu_node_group.max_size
      desired_size   = 0
      disk_size_gib  = var.gpu_node_group.disk_size_gib
    }
  }
}

# Launch templates only harden what managed node groups leave open: IMDSv2 with a hop limit of 1
# (pods use IRSA, never the node role) and an encrypted gp3 root volume.
resource "aws_launch_template" "node" {
  for_each = local.node_groups

  name_prefix            = "${local.cluster_name}-${each.key}-"
  description            = "${local.cluster_name} ${each.key} nodes"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = each.value.disk_size_gib
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${local.cluster_name}-${each.key}" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${local.cluster_name}-${each.key}" })
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_eks_node_group" "system" {
  cluster_name           = aws_eks_cluster.this.name
  node_group_name_prefix = "system-"
  node_role_arn          = aws_iam_role.node.arn
  subnet_ids             = aws_subnet.private[*].id
  version                = var.cluster_version

  ami_type       = local.node_groups.system.ami_type
  instance_types = local.node_groups.system.instance_types
  capacity_type  = local.node_groups.system.capacity_type

  scaling_config {
    min_size     = local.node_groups.system.min_size
    max_size     = local.node_groups.system.max_size
    desired_size = local.node_groups.system.desired_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.node["system"].id
    version = aws_launch_template.node["system"].latest_version
  }

  labels = local.system_node_labels

  lifecycle {
    create_before_destroy = true
    # The cluster autoscaler owns the current size.
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [
    aws_iam_role_policy_attachment.node,
    aws_eks_addon.before_nodes,
  ]
}

resource "aws_eks_node_group" "gpu" {
  cluster_name           = aws_eks_cluster.this.name
  node_group_name_prefix = "gpu-"
  node_role_arn          = aws_iam_role.node.arn
  subnet_ids             = aws_subnet.private[*].id
  version                = var.cluster_version

  ami_type       = local.node_groups.gpu.ami_type
  instance_types = local.node_groups.gpu.instance_types
  capacity_type  = local.node_groups.gpu.capacity_type

  scaling_config {
    min_size     = local.node_groups.gpu.min_size
    max_size     = local.node_groups.gpu.max_size
    desired_size = local.node_groups.gpu.desired_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.node["gpu"].id
    version = aws_launch_template.node["gpu"].latest_version
  }

  labels = local.gpu_node_labels

  taint {
    key    = local.gpu_node_taint.key
    value  = local.gpu_node_taint.value
    effect = local.gpu_node_taint.effect
  }

  lifecycle {
    create_before_destroy = true
    # The cluster autoscaler scales the group up from zero for a pending training pod and back.
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [
    aws_iam_role_policy_attachment.node,
    aws_eks_addon.before_nodes,
  ]
}
