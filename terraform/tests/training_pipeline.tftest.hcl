# The training WorkflowTemplate against the executor's policy: every S3 location the template writes
# or reads (deploy/argo/training-pipeline.yaml), with its artifacts-bucket parameter set to this stack's
# artifacts_bucket_name output as the glue sets it (config argo.artifacts_bucket), is allowed by the
# policy Terraform attaches to the executor's IRSA role; and the dataset manifest the glue passes (in
# the data bucket, under mlops-glue/manifests/) is readable. A hard-coded bucket would fail here.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment = "dev"
}

override_resource {
  target = aws_s3_bucket.this["data"]
  values = { arn = "arn:aws:s3:::mlops-glue-dev-data-123456789012", id = "mlops-glue-dev-data-123456789012" }
}

override_resource {
  target = aws_s3_bucket.this["artifacts"]
  values = { arn = "arn:aws:s3:::mlops-glue-dev-artifacts-123456789012", id = "mlops-glue-dev-artifacts-123456789012" }
}

run "template_locations_are_allowed_by_the_executor_policy" {
  variables {
    # every s3:// location in the template, its parameters filled as a submission would fill them
    locations = [for m in regexall("s3://([^\\s\"']+)", file("../deploy/argo/training-pipeline.yaml")) :
      replace(replace(replace(m[0],
        "{{workflow.parameters.artifacts-bucket}}", "mlops-glue-dev-artifacts-123456789012"),
        "{{workflow.parameters.model}}", "fraud-detection"),
      "{{workflow.name}}", "retrain-d-0123456789abcdef0123")
    ]
  }

  assert {
    condition     = length(var.locations) >= 2 && alltrue([for l in var.locations : length(regexall("[{}]", l)) == 0])
    error_message = "The template's S3 locations must use only the parameters the glue sets (artifacts-bucket, model) and the workflow name."
  }

  assert {
    condition = alltrue([for l in var.locations :
      startswith(l, "${output.artifacts_bucket_name}/") &&
      contains(flatten([for s in jsondecode(aws_iam_role_policy.argo_executor.policy).Statement : [
        for r in s.Resource : [for a in s.Action : a if endswith(r, "/*") && startswith("arn:aws:s3:::${l}/x", trimsuffix(r, "*"))]
      ] if s.Effect == "Allow"]), "s3:PutObject")
    ])
    error_message = "Every S3 location of the WorkflowTemplate must be in the artifacts bucket output and writable by the executor role."
  }

  assert {
    condition = contains(flatten([for s in jsondecode(aws_iam_role_policy.argo_executor.policy).Statement : [
      for r in s.Resource : [for a in s.Action : a if endswith(r, "/*") && startswith("arn:aws:s3:::${output.data_bucket_name}/mlops-glue/manifests/fraud-detection/w000001-abcd1234.json", trimsuffix(r, "*"))]
    ] if s.Effect == "Allow"]), "s3:GetObject")
    error_message = "The executor must read the dataset manifest the glue writes in the data bucket."
  }
}
