# The GPU group costs nothing while idle and only takes pods that ask for it; the Argo
# WorkflowTemplate (deploy/argo/) selects it with exactly these labels and this toleration.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
  gpu_node_group = {
    instance_types = ["g6.xlarge", "g5.2xlarge"]
    max_size       = 3
    disk_size_gib  = 250
  }
}

run "node_groups" {
  # GPU group: scales to zero, NVIDIA AMI, taint and labels of the WorkflowTemplate contract.
  assert {
    condition     = aws_eks_node_group.gpu.scaling_config[0].min_size == 0
    error_message = "The GPU group must scale to zero."
  }

  assert {
    condition     = aws_eks_node_group.gpu.scaling_config[0].desired_size == 0
    error_message = "The GPU group must start with no nodes."
  }

  assert {
    condition     = aws_eks_node_group.gpu.scaling_config[0].max_size == 3
    error_message = "gpu_node_group.max_size must set the group's maximum."
  }

  assert {
    condition     = aws_eks_node_group.gpu.ami_type == "AL2023_x86_64_NVIDIA"
    error_message = "The GPU group must run the NVIDIA AL2023 AMI."
  }

  assert {
    condition     = aws_eks_node_group.gpu.instance_types == tolist(["g6.xlarge", "g5.2xlarge"])
    error_message = "gpu_node_group.instance_types must be the group's instance types."
  }

  assert {
    condition = (
      length(aws_eks_node_group.gpu.taint) == 1 &&
      one([for t in aws_eks_node_group.gpu.taint : t.key == "nvidia.com/gpu" && t.value == "true" && t.effect == "NO_SCHEDULE"])
    )
    error_message = "The GPU group must carry exactly the taint nvidia.com/gpu=true:NoSchedule."
  }

  assert {
    condition = aws_eks_node_group.gpu.labels == tomap({
      "mlops-glue/node-pool"   = "gpu"
      "nvidia.com/gpu.present" = "true"
    })
    error_message = "The GPU group must be labelled mlops-glue/node-pool=gpu and nvidia.com/gpu.present=true."
  }

  assert {
    condition     = tomap(output.gpu_node_selector) == aws_eks_node_group.gpu.labels
    error_message = "The gpu_node_selector output must be the GPU group's labels."
  }

  assert {
    condition = output.gpu_toleration == {
      key      = "nvidia.com/gpu"
      operator = "Equal"
      value    = "true"
      effect   = "NoSchedule"
    }
    error_message = "The gpu_toleration output must tolerate the GPU taint in Kubernetes spelling."
  }


  # The training WorkflowTemplate (deploy/argo/, another owner) must land its GPU steps here:
  # every label it selects is a GPU-group label, and it tolerates the GPU taint.
  assert {
    condition = length([for t in yamldecode(file("../deploy/argo/training-pipeline.yaml")).spec.templates : t
      if try(t.nodeSelector["mlops-glue/node-pool"], "") == aws_eks_node_group.gpu.labels["mlops-glue/node-pool"]
    ]) >= 1
    error_message = "deploy/argo/training-pipeline.yaml has no step selecting mlops-glue/node-pool=gpu."
  }

  assert {
    condition = alltrue([for t in yamldecode(file("../deploy/argo/training-pipeline.yaml")).spec.templates :
      alltrue([for k, v in t.nodeSelector : lookup(aws_eks_node_group.gpu.labels, k, null) == v]) &&
      anytrue([for tol in try(t.tolerations, []) :
        tol.key == "nvidia.com/gpu" && contains(["NoSchedule", ""], try(tol.effect, "")) &&
        (try(tol.operator, "Equal") == "Exists" || try(tol.value, "") == "true")
      ])
      if try(t.nodeSelector["mlops-glue/node-pool"], "") == "gpu"
    ])
    error_message = "A GPU step of deploy/argo/training-pipeline.yaml selects a label the GPU group lacks or does not tolerate nvidia.com/gpu=true:NoSchedule."
  }
  # System group: always on, untainted.
  assert {
    condition     = aws_eks_node_group.system.scaling_config[0].min_size >= 1
    error_message = "The system group must keep at least one node for CoreDNS and controllers."
  }

  assert {
    condition     = length(aws_eks_node_group.system.taint) == 0
    error_message = "The system group must not be tainted."
  }

  assert {
    condition     = aws_eks_node_group.system.labels["mlops-glue/node-pool"] == "system"
    error_message = "The system group must be labelled mlops-glue/node-pool=system."
  }

  assert {
    condition     = aws_eks_node_group.system.ami_type == "AL2023_x86_64_STANDARD"
    error_message = "The system group must run the standard AL2023 AMI."
  }

  # Both: hardened launch templates, private subnets.
  assert {
    condition     = aws_eks_node_group.gpu.launch_template[0].id == "lt-0000000000gpu" && aws_eks_node_group.gpu.launch_template[0].version == "7"
    error_message = "The GPU group must use the latest version of the GPU launch template."
  }

  assert {
    condition     = aws_eks_node_group.system.launch_template[0].id == "lt-0000000000system"
    error_message = "The system group must use the system launch template."
  }

  assert {
    condition     = aws_launch_template.node["gpu"].block_device_mappings[0].ebs[0].volume_size == 250
    error_message = "gpu_node_group.disk_size_gib must size the GPU nodes' root volume."
  }

  assert {
    condition = alltrue([for lt in aws_launch_template.node :
      lt.metadata_options[0].http_tokens == "required" &&
      lt.metadata_options[0].http_put_response_hop_limit == 1 &&
      lt.block_device_mappings[0].ebs[0].encrypted == "true"
    ])
    error_message = "Every node must require IMDSv2 with hop limit 1 (pods use IRSA) and an encrypted root volume."
  }

  assert {
    condition     = alltrue([for ng in [aws_eks_node_group.gpu, aws_eks_node_group.system] : toset(ng.subnet_ids) == toset(aws_subnet.private[*].id)])
    error_message = "Nodes must live in the private subnets only."
  }
}
